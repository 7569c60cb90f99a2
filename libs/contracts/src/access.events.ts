import { z } from 'zod';
import { encryptedField } from './support.events';

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

/**
 * Version 2: the caller's IP address is personal data, stored only under the tenant's data key
 * (`ipEnc`, a FieldCipher token of field {@link ACCESS_IP_FIELD}; null when there was none): the audit
 * log, the outbox and archives hold the token, and destroying the tenant's key erases it. The gateway
 * seals it when it writes the entry to the outbox.
 */
export const accessRecordedV2 = accessRecordedV1
  .omit({ ip: true })
  .extend({ ipEnc: encryptedField.nullable() })
  .strict();
export type AccessRecordedV2 = z.infer<typeof accessRecordedV2>;

/** FieldCipher's field of an access entry's IP address (access.recorded v2 `ipEnc`). */
export const ACCESS_IP_FIELD = 'access.ip';
