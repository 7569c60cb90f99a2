import { Body, Controller, Delete, Get, Header, HttpCode, Inject, Param, Post } from '@nestjs/common';
import { Allow, Audited, CurrentPrincipal, Principal } from '@hotdash/platform-auth';
import { ApiDoc, parseUuidParam } from '@hotdash/platform-http';
import { ApiKeyDto, ApiKeysService, createApiKeyBody } from './api-keys.service';

/** API keys of the caller's tenant (admins). The key itself is in the creation answer only. */
@Controller('api-keys')
@Allow('api-keys:manage')
@Audited('api-key')
export class ApiKeysController {
  constructor(@Inject(ApiKeysService) private readonly keys: ApiKeysService) {}

  @ApiDoc({ summary: 'Create an API key (the key is in this answer only)', body: createApiKeyBody, status: 201 })
  @Post()
  @HttpCode(201)
  @Header('Cache-Control', 'no-store')
  create(@CurrentPrincipal() p: Principal, @Body() body: unknown): Promise<ApiKeyDto & { key: string }> {
    return this.keys.create(p, body);
  }

  @ApiDoc({ summary: "The tenant's API keys (never the keys themselves)" })
  @Get()
  list(@CurrentPrincipal() p: Principal): Promise<ApiKeyDto[]> {
    return this.keys.list(p);
  }

  @ApiDoc({ summary: 'Revoke an API key (refused from the next request on)', resource: 'api-key', status: 204 })
  @Delete(':id')
  @HttpCode(204)
  revoke(@CurrentPrincipal() p: Principal, @Param('id') id: string): Promise<void> {
    return this.keys.revoke(p, parseUuidParam(id));
  }
}
