// Answers of the tenant's reports (usage and quotas, draft metrics, the audit log): the gateway's
// OpenAPI response schemas, for clients generated from its document (the portal's charts and log).
import { z } from 'zod';
import { UsageMetrics } from './quota.events';

/** Usage per day between from and to, and the plan's quotas for the current period. */
export const usageView = z.object({
  tenantId: z.uuid(),
  plan: z.string(),
  from: z.string(),
  to: z.string(),
  days: z.array(z.object({ day: z.string(), metric: z.enum(UsageMetrics), amount: z.number() })),
  quotas: z.array(z.object({ metric: z.string(), periodStart: z.string(), limit: z.number(), used: z.number(), reserved: z.number(), remaining: z.number() })),
});

/** Acceptance, edits and time to approval of the drafts decided between from and to; the open queue; the SLA. */
export const draftMetricsView = z.object({
  from: z.string(),
  to: z.string(),
  decided: z.number().int(),
  approved: z.number().int(),
  edited: z.number().int(),
  rejected: z.number().int(),
  failed: z.number().int(),
  acceptanceRate: z.number().nullable(),
  editRate: z.number().nullable(),
  timeToApproval: z.object({ p50: z.number(), p90: z.number(), mean: z.number() }).nullable(),
  open: z.record(z.string(), z.number().int()),
  sla: z.object({ breached: z.number().int(), decided: z.number().int(), withinSla: z.number().int(), withinSlaRate: z.number().nullable(), openBreached: z.number().int() }).optional(),
});

/** One page of the tenant's audit log; `next` is the `after` of the next page. */
export const auditPageView = z.object({
  entries: z.array(
    z.object({
      id: z.string(),
      tenantId: z.string(),
      seq: z.number().int(),
      eventId: z.string(),
      eventType: z.string(),
      actorId: z.string().nullable(),
      occurredAt: z.string(),
      recordedAt: z.string(),
      payload: z.unknown(),
      prevHash: z.string(),
      hash: z.string(),
    }),
  ),
  next: z.number().int().nullable(),
});

/** The audit chain's check: ok, entries checked, and the first broken link if any. */
export const auditVerificationView = z.object({
  ok: z.boolean(),
  checked: z.number().int(),
  firstBroken: z.object({ seq: z.number().int(), id: z.string().nullable(), reason: z.string(), expected: z.string(), actual: z.string() }).optional(),
});
