import { z } from 'zod';
import { uuidSchema } from './envelope';

export const AuditEvents = {
  /**
   * An entry was appended to a tenant's hash-chained audit log.
   * Consumed by: nothing yet; compliance exports and SIEM forwarding will.
   */
  RECORDED: 'audit.recorded',
} as const;

export const auditRecordedV1 = z
  .object({
    entryId: uuidSchema,
    seq: z.number().int().positive(),
    sourceEventId: uuidSchema,
    sourceEventType: z.string().min(1),
    hash: z.string().regex(/^[0-9a-f]{64}$/),
  })
  .strict();
export type AuditRecordedV1 = z.infer<typeof auditRecordedV1>;
