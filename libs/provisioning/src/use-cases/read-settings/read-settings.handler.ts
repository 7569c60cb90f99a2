import { Inject, Injectable } from '@nestjs/common';
import { parseTenantId, TenantId, TenantSettingsView } from '@hotdash/contracts';
import { TenantDatabase, TenantDirectory, TenantNotWritableError, TenantRecord } from '@hotdash/platform-db';
import { notFound } from '@hotdash/platform-http';
import { settingsView, TenantSettingsRepository } from '../../settings/tenant-settings.repository';

/**
 * The tenant whose settings are asked for, read fresh from the tenant directory: 404 when unknown,
 * still being provisioned or gone (like any missing resource); for a change also 423 when it is
 * suspended or leaving.
 */
export async function settingsTenant(directory: TenantDirectory, tenantId: TenantId, options: { write?: boolean } = {}): Promise<TenantRecord> {
  const t = await directory.of(tenantId, { maxAgeMs: 0 });
  if (!t || t.status === 'provisioning' || t.status === 'offboarded') throw notFound(`settings of tenant ${tenantId}`);
  if (options.write && (t.status === 'suspended' || t.status === 'offboarding')) throw new TenantNotWritableError(t.id, t.status);
  return t;
}

/** A tenant's settings as its admins and managers see them (GET /settings): never the model's API key, only whether one is set. */
@Injectable()
export class ReadSettingsHandler {
  constructor(
    @Inject(TenantDatabase) private readonly db: TenantDatabase,
    @Inject(TenantDirectory) private readonly directory: TenantDirectory,
    @Inject(TenantSettingsRepository) private readonly settings: TenantSettingsRepository,
  ) {}

  async execute(id: string): Promise<TenantSettingsView> {
    const tenantId = parseTenantId(id);
    const tenant = await settingsTenant(this.directory, tenantId);
    return settingsView(await this.db.withTenant(tenantId, (tx) => this.settings.read(tx, tenantId)), tenant.name);
  }
}
