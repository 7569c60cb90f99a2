import { Body, Controller, Get, Headers, Inject, Param, Put, UseGuards, UseInterceptors } from '@nestjs/common';
import type { TenantSettingsView } from '@hotdash/contracts';
import { actorOf, Allow, CallableBy, CurrentCaller, InternalCaller, InternalAuthGuard, TenantContextInterceptor } from '@hotdash/platform-auth';
import { newId } from '@hotdash/platform-db';
import { parseHeader, parseUuidParam } from '@hotdash/platform-http';
import { ReadSettingsHandler } from '../use-cases/read-settings/read-settings.handler';
import { UpdateSettingsCommand } from '../use-cases/update-settings/update-settings.command';
import { UpdateSettingsHandler } from '../use-cases/update-settings/update-settings.handler';

const CORRELATION_HEADER = 'x-correlation-id';

/**
 * A tenant's settings (issue 16): its admins and managers read them (settings:read), its admins
 * change them (settings:write). Tenant callers only, through the gateway's internal token; naming
 * another tenant in the path is 403 tenant_mismatch (the guard), and the tenant context comes from
 * the token.
 */
@Controller('tenants/:tenantId/settings')
@UseGuards(InternalAuthGuard)
@UseInterceptors(TenantContextInterceptor)
@CallableBy('tenant')
export class TenantSettingsController {
  constructor(
    @Inject(ReadSettingsHandler) private readonly reads: ReadSettingsHandler,
    @Inject(UpdateSettingsHandler) private readonly updates: UpdateSettingsHandler,
  ) {}

  @Get()
  @Allow('settings:read')
  get(@Param('tenantId') id: string): Promise<TenantSettingsView> {
    return this.reads.execute(parseUuidParam(id, 'tenantId'));
  }

  /** The whole settings at the version they were read (PUT semantics; the API key may be left out to keep it). */
  @Put()
  @Allow('settings:write')
  put(@Param('tenantId') id: string, @Body() body: unknown, @CurrentCaller() caller: InternalCaller, @Headers(CORRELATION_HEADER) correlation?: string): Promise<TenantSettingsView> {
    const cmd = UpdateSettingsCommand.create(parseUuidParam(id, 'tenantId'), body, actorOf(caller), parseHeader(correlation, CORRELATION_HEADER, newId()));
    return this.updates.execute(cmd);
  }
}
