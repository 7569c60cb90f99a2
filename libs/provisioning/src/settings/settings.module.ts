import { DynamicModule, Module } from '@nestjs/common';
import { InternalAuthModule } from '@hotdash/platform-auth';
import { cryptoProviders } from '@hotdash/platform-crypto';
import { createEgressUrlCheck, type EgressOptions } from '@hotdash/platform-models';
import { SETTINGS_ENDPOINT_CHECK } from '../provisioning.tokens';
import { ReadSettingsHandler } from '../use-cases/read-settings/read-settings.handler';
import { UpdateSettingsHandler } from '../use-cases/update-settings/update-settings.handler';
import { TenantSettingsController } from './settings.controller';
import { TenantSettingsRepository } from './tenant-settings.repository';

/**
 * The tenant settings API (GET and PUT /tenants/:tenantId/settings), served by the provisioning
 * service, which owns the settings' tables. Needs DatabaseModule in the app. `egress`: how a
 * tenant's own model endpoint is checked (default: HOTDASH_EGRESS_ALLOW, as ai-drafting's guard).
 */
@Module({})
export class TenantSettingsModule {
  static register(options: { egress?: EgressOptions } = {}): DynamicModule {
    return {
      module: TenantSettingsModule,
      // Every route needs the gateway's internal token (audience hotdash-internal:provisioning).
      imports: [InternalAuthModule.forService('provisioning')],
      controllers: [TenantSettingsController],
      providers: [
        TenantSettingsRepository,
        ReadSettingsHandler,
        UpdateSettingsHandler,
        ...cryptoProviders(),
        { provide: SETTINGS_ENDPOINT_CHECK, useFactory: () => createEgressUrlCheck(options.egress) },
      ],
    };
  }
}
