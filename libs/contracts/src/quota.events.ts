import { z } from 'zod';

export const QuotaEvents = {
  /** Usage was metered for a tenant (from the events that imply it). Consumed by: billing exports, audit. */
  USAGE_RECORDED: 'usage.recorded',
  /** A reservation was refused because the tenant's quota for the period is used up. Consumed by: notifications, audit. */
  EXCEEDED: 'quota.exceeded',
} as const;

export const UsageMetrics = ['tickets', 'model_tokens', 'api_calls', 'storage_bytes'] as const;
export type UsageMetric = (typeof UsageMetrics)[number];

export const usageRecordedV1 = z
  .object({
    metric: z.enum(UsageMetrics),
    amount: z.number().int(),
    day: z.iso.date(),
    sourceEventId: z.string().max(100).nullable(),
  })
  .strict();
export type UsageRecordedV1 = z.infer<typeof usageRecordedV1>;

export const quotaExceededV1 = z
  .object({
    metric: z.enum(UsageMetrics),
    limit: z.number().int().min(0),
    used: z.number().int().min(0),
    reserved: z.number().int().min(0),
    requested: z.number().int().positive(),
    periodStart: z.iso.date(),
    plan: z.string().min(1),
  })
  .strict();
export type QuotaExceededV1 = z.infer<typeof quotaExceededV1>;
