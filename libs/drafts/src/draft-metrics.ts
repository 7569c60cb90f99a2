import { Inject, Injectable } from '@nestjs/common';
import { sql } from 'kysely';
import { draftMetricsQuery, TenantId, TicketStatus } from '@hotdash/contracts';
import { TenantDatabase } from '@hotdash/platform-db';
import { parseInput, ProblemException } from '@hotdash/platform-http';

/** How a tenant's operators use the drafts, over the drafts decided in [from, to] (UTC days). */
export interface DraftMetricsDto {
  from: string;
  to: string;
  decided: number;
  approved: number;
  edited: number;
  rejected: number;
  /** Drafts the model could not write in the period. */
  failed: number;
  /** (approved + edited) / decided; null with nothing decided. */
  acceptanceRate: number | null;
  /** edited / (approved + edited): how often an accepted draft needed a change. */
  editRate: number | null;
  /** From the ticket's arrival to its draft's approval, in seconds. */
  timeToApproval: { p50: number; p90: number; mean: number } | null;
  /** Tickets in the queue now, by status. */
  open: Record<Exclude<TicketStatus, 'replied'>, number>;
  /**
   * The approval SLA (sla.ts): tickets flagged as breached in the period; first decisions made in
   * the period on tickets with an SLA, how many of them by the due time and before any breach, and
   * that share (null with none); tickets breached now and still without a decision.
   */
  sla: { breached: number; decided: number; withinSla: number; withinSlaRate: number | null; openBreached: number };
}

const MAX_DAYS = 366;

@Injectable()
export class DraftMetricsService {
  constructor(@Inject(TenantDatabase) private readonly db: TenantDatabase) {}

  async metrics(tenantId: TenantId, query: unknown): Promise<DraftMetricsDto> {
    const q = parseInput(draftMetricsQuery, query);
    const to = q.to ?? new Date().toISOString().slice(0, 10);
    const from = q.from ?? new Date(Date.parse(`${to}T00:00:00Z`) - 29 * 86_400_000).toISOString().slice(0, 10);
    if (Date.parse(to) - Date.parse(from) > MAX_DAYS * 86_400_000) throw new ProblemException(400, 'validation-failed', 'Invalid request', `Ask for at most ${MAX_DAYS} days at a time.`);
    return this.db.withTenant(tenantId, async (tx) => {
      // Drafts decided in the period (approved, edited, rejected) and drafts that failed in it.
      // Percentiles over a filtered aggregate: beyond the query builder, so one sql statement (every value a parameter).
      const {
        rows: [m],
      } = await sql<{ approved: number; edited: number; rejected: number; failed: number; p50: number | null; p90: number | null; mean: number | null }>`
        with period as (
          select d.status, extract(epoch from d.decided_at - t.received_at) as to_approval
          from drafts d join tickets t on t.id = d.ticket_id
          where (d.status in ('approved', 'edited', 'rejected') and d.decided_at >= ${from}::date and d.decided_at < ${to}::date + 1)
             or (d.status = 'failed' and d.created_at >= ${from}::date and d.created_at < ${to}::date + 1))
        select count(*) filter (where status = 'approved')::int as approved,
               count(*) filter (where status = 'edited')::int as edited,
               count(*) filter (where status = 'rejected')::int as rejected,
               count(*) filter (where status = 'failed')::int as failed,
               percentile_cont(0.5) within group (order by to_approval) filter (where status in ('approved', 'edited')) as p50,
               percentile_cont(0.9) within group (order by to_approval) filter (where status in ('approved', 'edited')) as p90,
               avg(to_approval) filter (where status in ('approved', 'edited'))::float8 as mean
        from period`.execute(tx.db);
      const open = { drafting: 0, pending: 0, rejected: 0, draft_failed: 0 };
      const queued = await tx.db.selectFrom('tickets').select(['status', sql<number>`count(*)::int`.as('n')]).where('status', '<>', 'replied').groupBy('status').execute();
      for (const r of queued) open[r.status as keyof typeof open] = r.n;
      // Counts filtered per column over the tenant's SLAs touched in the period: beyond the builder's aggregates, so sql fragments (every value a parameter).
      const inPeriod = (column: 'breached_at' | 'first_decision_at') => sql<boolean>`(${sql.ref(column)} >= ${from}::date and ${sql.ref(column)} < ${to}::date + 1)`;
      const s = await tx.db
        .selectFrom('ticket_slas')
        .select([
          sql<number>`count(*) filter (where ${inPeriod('breached_at')})::int`.as('breached'),
          sql<number>`count(*) filter (where ${inPeriod('first_decision_at')})::int`.as('decided'),
          sql<number>`count(*) filter (where ${inPeriod('first_decision_at')} and first_decision_at <= due_at and breached_at is null)::int`.as('within'),
          sql<number>`count(*) filter (where breached_at is not null and first_decision_at is null)::int`.as('open_breached'),
        ])
        .where((eb) => eb.or([inPeriod('breached_at'), inPeriod('first_decision_at'), eb.and([eb('breached_at', 'is not', null), eb('first_decision_at', 'is', null)])]))
        .executeTakeFirstOrThrow();
      const { approved, edited, rejected, failed } = m!;
      const decided = approved + edited + rejected;
      const ratio = (a: number, b: number) => (b === 0 ? null : Math.round((a / b) * 10_000) / 10_000);
      return {
        from,
        to,
        decided,
        approved,
        edited,
        rejected,
        failed,
        acceptanceRate: ratio(approved + edited, decided),
        editRate: ratio(edited, approved + edited),
        timeToApproval: m!.p50 === null ? null : { p50: round(m!.p50), p90: round(m!.p90!), mean: round(m!.mean!) },
        open,
        sla: { breached: s.breached, decided: s.decided, withinSla: s.within, withinSlaRate: ratio(s.within, s.decided), openBreached: s.open_breached },
      };
    });
  }
}

const round = (s: number) => Math.round(Number(s) * 1000) / 1000;
