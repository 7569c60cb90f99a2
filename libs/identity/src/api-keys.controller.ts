import { Body, Controller, Delete, Get, Header, Headers, HttpCode, Inject, Param, Post } from '@nestjs/common';
import { Allow, Audited, CurrentPrincipal, Principal } from '@hotdash/platform-auth';
import { ApiDoc, parseHeader, parseUuidParam } from '@hotdash/platform-http';
import { ApiKeyDto, ApiKeysService, createApiKeyBody } from './api-keys.service';

/** API keys of the caller's tenant (admins). The key itself is in the creation answer only. */
@Controller('api-keys')
@Allow('api-keys:manage')
@Audited('api-key')
export class ApiKeysController {
  constructor(@Inject(ApiKeysService) private readonly keys: ApiKeysService) {}

  @ApiDoc({ summary: 'Create an API key (the key is in this answer only; Idempotency-Key makes retries safe)', body: createApiKeyBody, status: 201 })
  @Post()
  @HttpCode(201)
  @Header('Cache-Control', 'no-store')
  async create(
    @CurrentPrincipal() p: Principal,
    @Body() body: unknown,
    @Headers('idempotency-key') idempotencyKey: string | undefined,
  ): Promise<ApiKeyDto & { key: string | null; replayed: boolean }> {
    // A replay answers as the first call did (201), with replayed: true and without the secret.
    return this.keys.create(p, body, parseHeader(idempotencyKey, 'idempotency-key'));
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
