import { z } from 'zod';
import { uuidSchema } from './envelope';

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
} as const;

export const tenantCreatedV1 = z
  .object({
    tenantId: uuidSchema,
    name: z.string().min(1).max(200),
    plan: z.enum(PlanCodes),
    shard: z.string().min(1),
    createdBy: z.string().min(1).max(200),
  })
  .strict();
export type TenantCreatedV1 = z.infer<typeof tenantCreatedV1>;

export const tenantProvisioningStartedV1 = z
  .object({ tenantId: uuidSchema, sagaId: uuidSchema, name: z.string().min(1).max(200), plan: z.enum(PlanCodes), dedicatedShard: z.boolean() })
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

export const tenantOffboardedV1 = z.object({ tenantId: uuidSchema, sagaId: uuidSchema, erasedRows: z.number().int().min(0) }).strict();
export type TenantOffboardedV1 = z.infer<typeof tenantOffboardedV1>;
