import type { DraftingModelSettingsV1, TenantId, TenantSettingsChangedV1 } from '@hotdash/contracts';
import { TenantDatabase, TenantTx } from '@hotdash/platform-db';

/** What a tenant's drafts are written with: ai-drafting's own copy, kept from tenant.settings-changed. */
export interface DraftingProfile {
  /** The last settings event applied (0: backfilled when the projection was created, before any event). */
  version: number;
  changedAt: Date;
  /** Null only in a backfilled profile: the company name reaches ai-drafting with the next settings event. */
  companyName: string | null;
  brandVoice: string;
  /** In the tenant's order; empty when it has none. */
  policies: string[];
  model: DraftingModelSettingsV1;
}

/** The tenant has no drafting profile here yet: its settings event is still on its way. */
export class DraftingProfileMissingError extends Error {
  readonly code = 'drafting-profile-missing';

  constructor(tenantId: TenantId) {
    super(`no drafting profile for tenant ${tenantId} yet`);
    this.name = 'DraftingProfileMissingError';
  }
}

/**
 * The drafting profiles (table drafting_profiles, owned by ai-drafting): written only from
 * tenant.settings-changed events, in the event transport's transaction (so once, through the
 * inbox), read by the drafting worker. A newer version replaces the profile; an event whose version
 * is not higher than the one applied is ignored, whatever order events arrive in.
 */
export class DraftingProfiles {
  constructor(private readonly db: TenantDatabase) {}

  /**
   * Applies a settings event of `tenantId` in the caller's transaction (the tenant's, with row-level
   * security). Returns false when the profile already has this version or a newer one.
   */
  static async apply(tx: TenantTx, tenantId: TenantId, p: TenantSettingsChangedV1, eventId: string): Promise<boolean> {
    const row = {
      tenant_id: tenantId,
      version: p.version,
      changed_at: new Date(p.changedAt),
      company_name: p.companyName,
      brand_voice: p.brandVoice,
      policies: p.policies,
      model_mode: p.model.mode,
      model_provider: p.model.provider,
      model_name: p.model.model,
      model_base_url: p.model.baseUrl,
      model_api_key_enc: p.model.apiKeyEnc,
      model_temperature: p.model.temperature,
      model_max_tokens: p.model.maxTokens,
      event_id: eventId,
      updated_at: new Date(),
    };
    const applied = await tx.db
      .insertInto('drafting_profiles')
      .values(row)
      .onConflict((oc) =>
        oc
          .column('tenant_id')
          .doUpdateSet((eb) => ({
            version: eb.ref('excluded.version'),
            changed_at: eb.ref('excluded.changed_at'),
            company_name: eb.ref('excluded.company_name'),
            brand_voice: eb.ref('excluded.brand_voice'),
            policies: eb.ref('excluded.policies'),
            model_mode: eb.ref('excluded.model_mode'),
            model_provider: eb.ref('excluded.model_provider'),
            model_name: eb.ref('excluded.model_name'),
            model_base_url: eb.ref('excluded.model_base_url'),
            model_api_key_enc: eb.ref('excluded.model_api_key_enc'),
            model_temperature: eb.ref('excluded.model_temperature'),
            model_max_tokens: eb.ref('excluded.model_max_tokens'),
            event_id: eb.ref('excluded.event_id'),
            updated_at: eb.ref('excluded.updated_at'),
          }))
          .whereRef('drafting_profiles.version', '<', 'excluded.version'),
      )
      .returning('version')
      .executeTakeFirst();
    return applied !== undefined;
  }

  /** The tenant's profile, or undefined when none has reached ai-drafting yet. */
  async of(tenantId: TenantId): Promise<DraftingProfile | undefined> {
    const [r] = await this.db.readOnce(tenantId, (db) => db.selectFrom('drafting_profiles').selectAll().where('tenant_id', '=', tenantId));
    if (!r) return undefined;
    return {
      version: r.version,
      changedAt: r.changed_at,
      companyName: r.company_name,
      brandVoice: r.brand_voice,
      policies: r.policies,
      model: {
        mode: r.model_mode === 'own' ? 'own' : 'platform',
        provider: r.model_provider,
        model: r.model_name,
        baseUrl: r.model_base_url,
        apiKeyEnc: r.model_api_key_enc,
        temperature: r.model_temperature,
        maxTokens: r.model_max_tokens,
      },
    };
  }

  /** The tenant's profile; throws DraftingProfileMissingError when there is none yet. */
  async require(tenantId: TenantId): Promise<DraftingProfile> {
    const profile = await this.of(tenantId);
    if (!profile) throw new DraftingProfileMissingError(tenantId);
    return profile;
  }
}
