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
