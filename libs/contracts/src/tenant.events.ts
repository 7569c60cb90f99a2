import { z } from 'zod';
import { ARCHIVE_ID } from './backups.api';
import { uuidSchema } from './envelope';
import { encryptedField } from './support.events';
import { OperatorRoles } from './operator.events';

/** Plans a tenant can be on. */
export const PlanCodes = ['basic', 'enterprise'] as const;
export type PlanCode = (typeof PlanCodes)[number];

export const TenantEvents = {
  /**
   * A tenant record was created in the control plane and placed on a shard.
   * Consumed by: audit (first entry of the tenant's audit chain).
   */
  CREATED: 'tenant.created',
  /** A sign-up started the provisioning saga. Consumed by: audit. */
  PROVISIONING_STARTED: 'tenant.provisioning.started',
  /** One step of the provisioning saga completed. Consumed by: audit; progress UIs. */
  PROVISIONING_STEP_COMPLETED: 'tenant.provisioning.step-completed',
  /** Every provisioning step completed. Consumed by: audit. */
  PROVISIONED: 'tenant.provisioned',
  /** A provisioning step failed for good; what was done is being undone. Consumed by: audit, ops alerts. */
  PROVISIONING_FAILED: 'tenant.provisioning.failed',
  /** The tenant is active: its users can sign in and its traffic is accepted. Consumed by: audit, gateway. */
  ACTIVATED: 'tenant.activated',
  /** The tenant was suspended: writes are refused, reads allowed, consumers skip its new work. Consumed by: audit, gateway. */
  SUSPENDED: 'tenant.suspended',
  /** A suspended tenant was reactivated. Consumed by: audit, gateway. */
  REACTIVATED: 'tenant.reactivated',
  /** The tenant's plan changed; its limits change at once. Consumed by: audit, quota, gateway. */
  PLAN_CHANGED: 'tenant.plan-changed',
  /** Offboarding of the tenant started: it accepts no more writes; its data is being erased. Consumed by: audit, gateway. */
  OFFBOARDING_STARTED: 'tenant.offboarding.started',
  /** The tenant's data is erased from every store and its data key destroyed. Consumed by: every service holding caches. */
  OFFBOARDED: 'tenant.offboarded',
  /**
   * The tenant's drafting profile was set (by the provisioning saga, before the tenant is active) or
   * changed (by whatever changes the company name, brand voice, policies or model settings: the
   * settings API of issue 16 publishes the same event). Carries the complete profile, not a diff,
   * with a version that grows with every change. The one contract for drafting settings.
   * Consumed by: ai-drafting (its drafting_profiles projection).
   */
  SETTINGS_CHANGED: 'tenant.settings-changed',
  /**
   * A tenant's approval workflows were changed by its admin (the settings API, issue 16): the
   * complete list, each queue with who may approve in it and its SLA (minutes to the first decision,
   * escalation to the team lead), under the settings' version of the change (the same counter as
   * tenant.settings-changed; a consumer keeps the highest). The provisioning saga's default workflows
   * (DEFAULT_WORKFLOWS) are not announced: a tenant without this event has those.
   * Consumed by: audit; drafts (its queue_workflows copy: each new ticket's SLA).
   */
  APPROVAL_WORKFLOWS_CHANGED: 'tenant.approval-workflows-changed',
  /**
   * A pilot's tenant was imported (docs/pilot.md) and is served by the platform from here: published
   * with its activation (or suspension). Work its pilot had begun and not finished at the cut-over —
   * jobs in the pilot's own queues, which do not come along — is begun again by the service that owns
   * it, each on its own records. Consumed by: drafts (a ticket still drafting gets its draft asked for
   * again), knowledge (a document still waiting or indexing is queued again), audit.
   */
  IMPORTED: 'tenant.imported',
  /**
   * A tenant's rows were restored from one of its archives (docs/operations.md, "Tenant backups and
   * restores"; a carry from embedded mode ends with one): published in the restore's transaction.
   * An archive holds rows, not the jobs that were working on them; the service that owns work the
   * archive caught half-done begins it again. Consumed by: drafts (a ticket still drafting gets a
   * new draft asked for, as a new attempt), knowledge (a document still waiting or indexing is
   * queued again).
   */
  RESTORED: 'tenant.restored',
} as const;

export const tenantCreatedV1 = z
  .object({
    tenantId: uuidSchema,
    name: z.string().min(1).max(200),
    plan: z.enum(PlanCodes),
    shard: z.string().min(1),
    /** The tenant's region (data residency); absent in events of tenants created before regions. */
    region: z.string().min(1).max(63).optional(),
    createdBy: z.string().min(1).max(200),
  })
  .strict();
export type TenantCreatedV1 = z.infer<typeof tenantCreatedV1>;

export const tenantProvisioningStartedV1 = z
  .object({
    tenantId: uuidSchema,
    sagaId: uuidSchema,
    name: z.string().min(1).max(200),
    plan: z.enum(PlanCodes),
    dedicatedShard: z.boolean(),
    /** The region the sign-up asked for (or the platform's default); absent in events of sign-ups before regions. */
    region: z.string().min(1).max(63).optional(),
  })
  .strict();
export type TenantProvisioningStartedV1 = z.infer<typeof tenantProvisioningStartedV1>;

export const tenantProvisioningStepCompletedV1 = z
  .object({ tenantId: uuidSchema, sagaId: uuidSchema, step: z.string().min(1), index: z.number().int().min(0) })
  .strict();
export type TenantProvisioningStepCompletedV1 = z.infer<typeof tenantProvisioningStepCompletedV1>;

export const tenantProvisionedV1 = z.object({ tenantId: uuidSchema, sagaId: uuidSchema }).strict();
export type TenantProvisionedV1 = z.infer<typeof tenantProvisionedV1>;

export const tenantProvisioningFailedV1 = z
  .object({ tenantId: uuidSchema, sagaId: uuidSchema, step: z.string().min(1), reason: z.string().max(2000) })
  .strict();
export type TenantProvisioningFailedV1 = z.infer<typeof tenantProvisioningFailedV1>;

export const tenantActivatedV1 = z.object({ tenantId: uuidSchema, plan: z.enum(PlanCodes) }).strict();
export type TenantActivatedV1 = z.infer<typeof tenantActivatedV1>;

export const tenantSuspendedV1 = z.object({ tenantId: uuidSchema, reason: z.string().min(1).max(500), by: z.string().min(1).max(200) }).strict();
export type TenantSuspendedV1 = z.infer<typeof tenantSuspendedV1>;

export const tenantReactivatedV1 = z.object({ tenantId: uuidSchema, by: z.string().min(1).max(200) }).strict();
export type TenantReactivatedV1 = z.infer<typeof tenantReactivatedV1>;

export const tenantPlanChangedV1 = z.object({ tenantId: uuidSchema, from: z.enum(PlanCodes), to: z.enum(PlanCodes), by: z.string().min(1).max(200) }).strict();
export type TenantPlanChangedV1 = z.infer<typeof tenantPlanChangedV1>;

export const tenantOffboardingStartedV1 = z.object({ tenantId: uuidSchema, sagaId: uuidSchema, reason: z.string().min(1).max(500), by: z.string().min(1).max(200) }).strict();
export type TenantOffboardingStartedV1 = z.infer<typeof tenantOffboardingStartedV1>;

export const tenantImportedV1 = z
  .object({
    tenantId: uuidSchema,
    /** The import (GET /ops/imports/{importId}). */
    importId: uuidSchema,
    /** The pilot's control database it came from (host:port/database). */
    pilot: z.string().min(1).max(400),
    /** When the pilot's copy was fenced: work begun before it and not finished is begun again. */
    cutOverAt: z.iso.datetime({ offset: true }),
  })
  .strict();
export type TenantImportedV1 = z.infer<typeof tenantImportedV1>;

export const tenantRestoredV1 = z
  .object({
    tenantId: uuidSchema,
    /** The archive restored (`<tenant id>_<YYYYMMDD>T<HHMMSSmmm>Z`, as `backups list` shows it). */
    archiveId: z.string().regex(ARCHIVE_ID),
    /** The restore's run (GET /ops/backup-runs/{runId}). */
    runId: uuidSchema,
    /** The shard the rows are on now. */
    shard: z.string().min(1).max(63),
  })
  .strict();
export type TenantRestoredV1 = z.infer<typeof tenantRestoredV1>;

export const tenantOffboardedV1 = z.object({ tenantId: uuidSchema, sagaId: uuidSchema, erasedRows: z.number().int().min(0) }).strict();
export type TenantOffboardedV1 = z.infer<typeof tenantOffboardedV1>;

/** The most policies (rules every reply must keep) a tenant has. */
export const MAX_TENANT_POLICIES = 250;

/** How a tenant's drafts are written: the platform's model, or the tenant's own OpenAI-compatible endpoint. */
export const DraftingModelModes = ['platform', 'own'] as const;

/**
 * The model settings of a drafting profile. The tenant's own API key travels only as a FieldCipher
 * token under the tenant's data key (field `model_configs.api_key`, MODEL_API_KEY_FIELD of
 * platform/models), never in plaintext; the platform's model has none.
 */
export const draftingModelSettingsV1 = z
  .object({
    mode: z.enum(DraftingModelModes),
    provider: z.string().min(1).max(100),
    /** The model's name at its endpoint (`platform-default` for the platform's model). */
    model: z.string().min(1).max(200),
    /** The endpoint of the tenant's own model; null for the platform's model (its endpoint is the platform's configuration). */
    baseUrl: z.url().max(500).nullable(),
    apiKeyEnc: encryptedField.max(10_000).nullable(),
    /** Sampling temperature; null: the model adapter's default. */
    temperature: z.number().min(0).max(2).nullable(),
    /** Longest reply in tokens; null: the model adapter's default. */
    maxTokens: z.number().int().min(1).max(32_000).nullable(),
  })
  .strict()
  .refine((m) => (m.mode === 'own') === (m.apiKeyEnc !== null), { message: 'an own model carries its encrypted API key, the platform model none', path: ['apiKeyEnc'] });
export type DraftingModelSettingsV1 = z.infer<typeof draftingModelSettingsV1>;

export const tenantSettingsChangedV1 = z
  .object({
    tenantId: uuidSchema,
    /**
     * Grows with every change of the tenant's drafting settings (1: set by the provisioning saga).
     * A consumer keeps the profile of the highest version it has seen and ignores an event whose
     * version is not higher, so an older event arriving late never overwrites a newer profile.
     */
    version: z.number().int().min(1).max(2_147_483_647),
    /** When the change was made. */
    changedAt: z.iso.datetime({ offset: true }),
    /** Who made it: `saga:<id>` at provisioning, `user:<id>`, `ops:<id>`. */
    by: z.string().min(1).max(200),
    companyName: z.string().min(1).max(200),
    /** How the tenant's replies sound; empty when none is set. */
    brandVoice: z.string().max(2_000),
    /** The rules every reply must keep, in the tenant's order; empty when none are set (never a placeholder). */
    policies: z.array(z.string().trim().min(1).max(2_000)).max(MAX_TENANT_POLICIES),
    model: draftingModelSettingsV1,
  })
  .strict();
export type TenantSettingsChangedV1 = z.infer<typeof tenantSettingsChangedV1>;

/** One approval workflow (a queue of drafts): who may approve in it and its SLA. */
export const approvalWorkflowV1 = z
  .object({
    /** Stable within the tenant (`general`, `escalations`, …). */
    key: z.string().min(1).max(40),
    name: z.string().min(1).max(100),
    /** Roles that may approve drafts in this queue. */
    approverRoles: z.array(z.enum(OperatorRoles)).min(1).max(OperatorRoles.length),
    /** The queue new tickets go to when nothing else decides (exactly one per tenant). */
    isDefault: z.boolean(),
    sla: z
      .object({
        /** Minutes from a ticket's arrival to the first decision on its draft. */
        firstDecisionMinutes: z.number().int().min(1).max(43_200),
        /** Past the SLA, the ticket is escalated to the assignee's team lead. */
        escalateToTeamLead: z.boolean(),
      })
      .strict(),
  })
  .strict();
export type ApprovalWorkflowV1 = z.infer<typeof approvalWorkflowV1>;

export const tenantApprovalWorkflowsChangedV1 = z
  .object({
    tenantId: uuidSchema,
    /** The settings' version this change made (the counter tenant.settings-changed carries too). */
    version: z.number().int().min(1).max(2_147_483_647),
    changedAt: z.iso.datetime({ offset: true }),
    /** Who made it: `user:<id>`, `api-key:<id>`. */
    by: z.string().min(1).max(200),
    workflows: z.array(approvalWorkflowV1).min(1).max(20),
  })
  .strict();
export type TenantApprovalWorkflowsChangedV1 = z.infer<typeof tenantApprovalWorkflowsChangedV1>;
