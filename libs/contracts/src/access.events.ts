import { z } from 'zod';

export const AccessEvents = {
  /**
   * A request of an authenticated caller read or changed tenant data through the gateway.
   * Produced by: the gateway (batched, through the tenant's outbox). Consumed by: audit (hash chain).
   */
  RECORDED: 'access.recorded',
} as const;

export const AccessActions = ['read', 'create', 'update', 'delete'] as const;
export type AccessAction = (typeof AccessActions)[number];

export const accessRecordedV1 = z
  .object({
    /** `user:<id>` or `api-key:<id>`. */
    actor: z.string().min(1).max(100),
    action: z.enum(AccessActions),
    /** e.g. `api-key`, `user`, `audit-log`, `usage`. */
    resourceType: z.string().min(1).max(50),
    resourceId: z.string().max(100).nullable(),
    method: z.string().max(10),
    /** The route template (`/api-keys/:id`), never the raw URL. */
    route: z.string().max(200),
    status: z.number().int().min(100).max(599),
    ip: z.string().max(100).nullable(),
    at: z.iso.datetime({ offset: true }),
  })
  .strict();
export type AccessRecordedV1 = z.infer<typeof accessRecordedV1>;
