import { sql } from 'kysely';
import type { ApprovalWorkflowInput, DraftingModelSettingsV1, TenantId, TenantSettingsView } from '@hotdash/contracts';
import type { TenantTx } from '@hotdash/platform-db';
import { newId } from '@hotdash/platform-db';
import { DEFAULT_WORKFLOWS } from '../saga/provisioning.saga';

/** Where the tenant's own model is called when its configuration names no endpoint (sign-ups before endpoints were required): what the drafting worker uses then. */
export const DEFAULT_OWN_MODEL_BASE_URL = 'https://api.openai.com/v1';

/** The provider of a tenant's own endpoint: any OpenAI-compatible server. */
export const OWN_MODEL_PROVIDER = 'openai';

/** The model settings as stored (model_configs): the key only as its FieldCipher token. */
export type StoredModel =
  | { mode: 'platform' }
  | { mode: 'own'; provider: string; baseUrl: string; model: string; apiKeyEnc: string | null; temperature: number | null; maxTokens: number | null };

/** A tenant's settings as its shard holds them (provisioning's tables: tenant_settings, approval_workflows, model_configs). */
export interface StoredSettings {
  /** 0: never written (a tenant the provisioning saga did not make). */
  version: number;
  /** Null: none stored; the tenant's name in the control plane stands in. */
  companyName: string | null;
  brandVoice: string;
  policies: string[];
  /** As created (the default first); the saga's defaults when none are stored. */
  workflows: ApprovalWorkflowInput[];
  model: StoredModel;
  updatedAt: Date | null;
}

/**
 * tenant_settings.policies (one rule a line, in order) as the list: lines trimmed, empty ones
 * dropped. The settings API refuses a rule with a line break, so what it writes reads back exactly.
 */
export function policiesOf(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '');
}

/** The list as tenant_settings.policies stores it. */
export const policiesText = (policies: readonly string[]): string => policies.join('\n');

const defaultWorkflows = (): ApprovalWorkflowInput[] =>
  DEFAULT_WORKFLOWS.map((w) => ({ key: w.key, name: w.name, approverRoles: [...w.approverRoles] as ApprovalWorkflowInput['approverRoles'], isDefault: w.isDefault, sla: { firstDecisionMinutes: w.slaMinutes, escalateToTeamLead: false } }));

/**
 * Provisioning's settings tables of one tenant, inside its transaction (withTenant: row-level
 * security shows this tenant's rows only). The settings are one unit under tenant_settings.version:
 * a writer locks that row first (read(…, { lock: true })), so two changes never interleave.
 */
export class TenantSettingsRepository {
  async read(tx: TenantTx, tenantId: TenantId, options: { lock?: boolean } = {}): Promise<StoredSettings> {
    const settingsQuery = tx.db.selectFrom('tenant_settings').select(['version', 'company_name', 'brand_voice', 'policies', 'updated_at']).where('tenant_id', '=', tenantId);
    const settings = await (options.lock ? settingsQuery.forUpdate() : settingsQuery).executeTakeFirst();
    const workflows = await tx.db
      .selectFrom('approval_workflows')
      .select(['key', 'name', 'approver_roles', 'is_default', 'sla_minutes', 'escalate_to_team_lead'])
      .where('tenant_id', '=', tenantId)
      .orderBy('is_default', 'desc')
      .orderBy('created_at')
      .orderBy('key')
      .execute();
    const m = await tx.db.selectFrom('model_configs').select(['mode', 'provider', 'model', 'base_url', 'api_key_enc', 'temperature', 'max_tokens', 'updated_at']).where('tenant_id', '=', tenantId).executeTakeFirst();
    const model: StoredModel =
      m?.mode === 'own'
        ? { mode: 'own', provider: m.provider, baseUrl: m.base_url ?? DEFAULT_OWN_MODEL_BASE_URL, model: m.model, apiKeyEnc: m.api_key_enc, temperature: m.temperature, maxTokens: m.max_tokens }
        : { mode: 'platform' };
    return {
      version: settings?.version ?? 0,
      companyName: settings?.company_name ?? null,
      brandVoice: settings?.brand_voice ?? '',
      policies: policiesOf(settings?.policies ?? ''),
      workflows: workflows.length
        ? workflows.map((w) => ({
            key: w.key,
            name: w.name,
            approverRoles: w.approver_roles as ApprovalWorkflowInput['approverRoles'],
            isDefault: w.is_default,
            sla: { firstDecisionMinutes: w.sla_minutes, escalateToTeamLead: w.escalate_to_team_lead },
          }))
        : defaultWorkflows(),
      model,
      updatedAt: settings?.updated_at ?? null,
    };
  }

  /**
   * Writes the tenant's settings at `next.version` over what `prev` read (under its lock). Returns
   * when they were changed (the transaction's time), or undefined when the row was not where `prev`
   * found it: a first write raced by another (the caller answers 409 and rolls back). Only the parts
   * that changed are written; tenant_settings always (its version).
   */
  async write(
    tx: TenantTx,
    tenantId: TenantId,
    prev: StoredSettings,
    next: Omit<StoredSettings, 'updatedAt' | 'companyName'> & { companyName: string },
    changed: { model: boolean; workflows: boolean },
  ): Promise<Date | undefined> {
    const row = { company_name: next.companyName, brand_voice: next.brandVoice, policies: policiesText(next.policies), version: next.version, updated_at: sql<Date>`now()` };
    const written =
      prev.version === 0
        ? await tx.db
            .insertInto('tenant_settings')
            // sla (jsonb, as its text): the sign-up's tenant-wide SLA note, which the workflows' SLAs replace
            .values({ tenant_id: tenantId, ...row, sla: JSON.stringify({}) })
            .onConflict((oc) => oc.column('tenant_id').doNothing())
            .returning('updated_at')
            .executeTakeFirst()
        : await tx.db.updateTable('tenant_settings').set(row).where('tenant_id', '=', tenantId).where('version', '=', prev.version).returning('updated_at').executeTakeFirst();
    if (!written) return undefined;
    if (changed.model) {
      const m = next.model;
      const values =
        m.mode === 'own'
          ? { mode: 'own', provider: m.provider, model: m.model, base_url: m.baseUrl, api_key_enc: m.apiKeyEnc, temperature: m.temperature, max_tokens: m.maxTokens }
          : { mode: 'platform', provider: 'platform', model: 'platform-default', base_url: null, api_key_enc: null, temperature: null, max_tokens: null };
      await tx.db
        .insertInto('model_configs')
        .values({ tenant_id: tenantId, ...values })
        .onConflict((oc) => oc.column('tenant_id').doUpdateSet({ ...values, updated_at: sql<Date>`now()` }))
        .execute();
    }
    if (changed.workflows) {
      const keys = next.workflows.map((w) => w.key);
      await tx.db.deleteFrom('approval_workflows').where('tenant_id', '=', tenantId).where('key', 'not in', keys).execute();
      for (const w of next.workflows) {
        const values = { name: w.name, approver_roles: w.approverRoles, sla_minutes: w.sla.firstDecisionMinutes, is_default: w.isDefault, escalate_to_team_lead: w.sla.escalateToTeamLead };
        await tx.db
          .insertInto('approval_workflows')
          .values({ id: newId(), tenant_id: tenantId, key: w.key, ...values })
          .onConflict((oc) => oc.columns(['tenant_id', 'key']).doUpdateSet(values))
          .execute();
      }
    }
    return written.updated_at;
  }
}

/** The settings as the API answers them: the company name resolved, the key never, only whether one is set. */
export function settingsView(s: StoredSettings, tenantName: string): TenantSettingsView {
  const m = s.model;
  return {
    version: s.version,
    companyName: s.companyName ?? tenantName,
    brandVoice: s.brandVoice,
    policies: s.policies,
    approvalWorkflows: s.workflows,
    model: m.mode === 'own' ? { mode: 'own', baseUrl: m.baseUrl, model: m.model, temperature: m.temperature, maxTokens: m.maxTokens, apiKeySet: m.apiKeyEnc !== null } : { mode: 'platform' },
    updatedAt: s.updatedAt?.toISOString() ?? null,
  };
}

/** The model settings of a drafting profile (tenant.settings-changed), as the provisioning saga announces them. */
export function draftingModelOf(m: StoredModel): DraftingModelSettingsV1 {
  return m.mode === 'own'
    ? { mode: 'own', provider: m.provider, model: m.model, baseUrl: m.baseUrl, apiKeyEnc: m.apiKeyEnc, temperature: m.temperature, maxTokens: m.maxTokens }
    : { mode: 'platform', provider: 'platform', model: 'platform-default', baseUrl: null, apiKeyEnc: null, temperature: null, maxTokens: null };
}
