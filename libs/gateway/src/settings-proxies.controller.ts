import { Body, Controller, Get, Headers, Inject, Put, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { SETTINGS_BODY_LIMIT, SettingsProblems, tenantSettingsBody, tenantSettingsView } from '@hotdash/contracts';
import { Allow, Audited, CurrentPrincipal, Principal } from '@hotdash/platform-auth';
import { ApiDoc } from '@hotdash/platform-http';
import { passThrough, ServiceClient } from './service-client';

/**
 * The tenant's settings (served by provisioning): company name, brand voice, policies, approval
 * workflows with their SLAs, and the model drafts are written with. Admins and managers read them,
 * admins change them; a change takes effect on the next draft. The model's API key is write-only.
 */
@Controller('settings')
@Audited('settings')
export class SettingsProxyController {
  constructor(@Inject(ServiceClient) private readonly services: ServiceClient) {}

  @ApiDoc({ summary: "The tenant's settings, with their version (the model's API key is never answered: apiKeySet says whether one is stored)", response: tenantSettingsView })
  @Get()
  @Allow('settings:read')
  get(@CurrentPrincipal() p: Principal, @Res() reply: FastifyReply): Promise<void> {
    return passThrough(reply, this.services.get('provisioning', `/tenants/${p.tenantId}/settings`, p));
  }

  @ApiDoc({
    summary:
      'Replace the tenant’s settings (send the version they were read at; leave model.apiKey out to keep the stored key for the same endpoint). Takes effect on the next draft; announced by tenant.settings-changed',
    body: tenantSettingsBody,
    bodyLimitBytes: SETTINGS_BODY_LIMIT,
    response: tenantSettingsView,
    problems: {
      400: `Invalid settings: ${Object.values(SettingsProblems)
        .filter((c) => c !== SettingsProblems.VERSION_CONFLICT)
        .join(', ')}; unknown-field`,
      409: `The settings changed since they were read (${SettingsProblems.VERSION_CONFLICT}): read them again and redo the change`,
      423: 'The tenant is suspended (tenant-suspended)',
    },
  })
  @Put()
  @Allow('settings:write')
  put(@CurrentPrincipal() p: Principal, @Body() body: unknown, @Headers('x-correlation-id') correlation: string | undefined, @Res() reply: FastifyReply): Promise<void> {
    return passThrough(reply, this.services.call('provisioning', 'PUT', `/tenants/${p.tenantId}/settings`, p, { body: body ?? {}, headers: { 'x-correlation-id': correlation } }));
  }
}
