// The ops queue dashboard's JSON beside @bull-board's screens (gateway: GET /ops/queues/backlog; the
// dashboard itself at /ops/queues/, docs/operations.md "Queue dashboard"): each BullMQ queue's backlog
// per tenant, counts only. No job's data, return value or error is ever part of an answer.
import { z } from 'zod';

/** Job states the backlog counts per tenant (a paused queue's jobs are `waiting` since BullMQ 6). */
export const BACKLOG_STATES = ['waiting', 'prioritized', 'active', 'delayed', 'failed'] as const;
export type BacklogState = (typeof BACKLOG_STATES)[number];

/** Jobs read per queue and state to attribute them to tenants; beyond it the queue's entry says `truncated`. */
export const BACKLOG_SCAN_LIMIT = 10_000;

export const queueBacklogQuery = z.object({ queue: z.string().min(1).max(100).optional() }).strict();

const stateCounts = z.object(Object.fromEntries(BACKLOG_STATES.map((s) => [s, z.number().int().nonnegative()])) as Record<BacklogState, z.ZodNumber>);

export const queueBacklog = z.object({
  /** When the counts were read (they are read state by state, page by page: a moving queue's totals are approximate). */
  at: z.string(),
  queues: z.array(
    z.object({
      name: z.string(),
      /** The queue's totals per state (BullMQ's counts). */
      counts: stateCounts,
      /** Per tenant (the job data's tenantId; null for a job without one), largest backlog first. */
      tenants: z.array(stateCounts.extend({ tenantId: z.string().nullable() })),
      /** More than BACKLOG_SCAN_LIMIT jobs in a state: the per-tenant counts cover the first ones only. */
      truncated: z.boolean(),
    }),
  ),
});
export type QueueBacklog = z.infer<typeof queueBacklog>;

/** Stable codes of the dashboard's problems (RFC 9457 `code`). */
export const QueueDashboardProblems = {
  /** 404: `queue` names none of the platform's queues. */
  UNKNOWN_QUEUE: 'unknown-queue',
  /** 403: the dashboard is read-only: only GET (and HEAD) reach it. */
  READ_ONLY: 'queue-dashboard-read-only',
} as const;
