import { Inject, Injectable } from '@nestjs/common';
import { QuotaEvents, TenantId, UsageMetric } from '@hotdash/contracts';
import { newId, TenantDatabase, TenantDirectory, TenantTx } from '@hotdash/platform-db';
import { ProblemException } from '@hotdash/platform-http';
import { publishInTx } from '@hotdash/platform-messaging';

export const QUOTA_PRODUCER = 'quota';

/** Metrics with a quota, and the plan column that sets it. */
export type QuotaMetric = 'tickets' | 'storage_bytes';
const EPOCH = '1970-01-01';

export interface PlanQuotas {
  plan: string;
  tickets: number;
  storage_bytes: number;
}

export interface Reservation {
  reservationId: string;
  metric: QuotaMetric;
  amount: number;
  periodStart: string;
  status: 'held' | 'committed' | 'released';
  expiresAt: string;
  /** What is left of the period's quota after this reservation. */
  remaining: number;
}

export class QuotaExceededError extends ProblemException {
  constructor(
    readonly metric: QuotaMetric,
    readonly limit: number,
    readonly used: number,
  ) {
    super(429, 'quota-exceeded', 'Quota exceeded', `The ${metric.replace('_', ' ')} quota of this period (${limit}) is used up (${used} used or reserved); upgrade the plan or wait for the next period.`);
  }
}

/** The period a metric's quota counts in at `at`: the calendar month (UTC) for tickets, forever for storage. */
export function periodOf(metric: QuotaMetric, at = new Date()): string {
  return metric === 'tickets' ? `${at.toISOString().slice(0, 7)}-01` : EPOCH;
}

const day = (at: Date) => at.toISOString().slice(0, 10);

/**
 * Plans' quotas, metered usage and reservations.
 *
 * A reservation holds part of the period's quota for a while (a ticket being created, a document
 * being stored); committing turns it into usage, releasing (or its expiry) gives it back. It takes
 * the counter row's lock, so concurrent reservations are exact: with 100 left, exactly 100 of any
 * number of concurrent single reservations succeed. Limits are read from the tenant's current plan
 * on every reservation, so an upgrade or a downgrade applies to the next one.
 */
@Injectable()
export class QuotaService {
  constructor(
    @Inject(TenantDatabase) private readonly db: TenantDatabase,
    @Inject(TenantDirectory) private readonly directory: TenantDirectory,
  ) {}

  async quotasOf(tenantId: TenantId): Promise<PlanQuotas> {
    // Fresh, never cached: a plan change applies to the very next reservation.
    const t = await this.directory.of(tenantId, { maxAgeMs: 0 });
    if (!t) throw new ProblemException(404, 'not-found', 'Not found', `tenant ${tenantId}`);
    return { plan: t.plan.code, tickets: t.plan.monthlyTicketQuota, storage_bytes: t.plan.knowledgeBaseBytes };
  }

  async reserve(tenantId: TenantId, metric: QuotaMetric, amount: number, options: { idempotencyKey?: string; ttlMs?: number; correlationId?: string } = {}): Promise<Reservation> {
    if (!Number.isInteger(amount) || amount <= 0) throw new ProblemException(400, 'validation-failed', 'Invalid request', 'amount must be a positive whole number');
    const quotas = await this.quotasOf(tenantId);
    const limit = quotas[metric];
    const period = periodOf(metric);
    const expiresAt = new Date(Date.now() + (options.ttlMs ?? 10 * 60_000));
    type Outcome = { exceeded: number } | { reservation: ReservationRow; remaining: number };
    const outcome = await this.db.withTenant(tenantId, async (tx): Promise<Outcome> => {
      if (options.idempotencyKey) {
        // Retries with one key take turns, so the second finds the first's reservation instead of colliding with it.
        await tx.$executeRaw`select pg_advisory_xact_lock(hashtextextended(${`quota:${tenantId}:${options.idempotencyKey}`}, 0))`;
        const [found] = await tx.$queryRaw<ReservationRow[]>`select id::text, metric, amount, period_start::text, status, expires_at from quota_reservations where idempotency_key = ${options.idempotencyKey}`;
        if (found) return { reservation: found, remaining: limit - (await this.counter(tx, tenantId, metric, found.period_start)).taken };
      }
      await tx.$executeRaw`insert into quota_counters (tenant_id, metric, period_start) values (${tenantId}::uuid, ${metric}, ${period}::date) on conflict do nothing`;
      // Holds that expired give their part back first (under the same row lock as the reservation).
      await tx.$executeRaw`with expired as (
          update quota_reservations set status = 'released'
          where metric = ${metric} and period_start = ${period}::date and status = 'held' and expires_at < now() returning amount)
        update quota_counters set reserved = reserved - (select coalesce(sum(amount), 0) from expired)
        where tenant_id = ${tenantId}::uuid and metric = ${metric} and period_start = ${period}::date`;
      const [taken] = await tx.$queryRaw<{ used: bigint; reserved: bigint }[]>`
        update quota_counters set reserved = reserved + ${amount}
        where tenant_id = ${tenantId}::uuid and metric = ${metric} and period_start = ${period}::date and used + reserved + ${amount} <= ${limit}
        returning used, reserved`;
      if (!taken) {
        const c = await this.counter(tx, tenantId, metric, period);
        // quota.exceeded once per period and metric (the first refusal), not on every refused call.
        const first = await tx.$executeRaw`update quota_counters set exceeded_at = now()
          where tenant_id = ${tenantId}::uuid and metric = ${metric} and period_start = ${period}::date and exceeded_at is null`;
        if (first)
          await publishInTx(
            tx,
            QuotaEvents.EXCEEDED,
            { metric, limit, used: c.used, reserved: c.reserved, requested: amount, periodStart: period, plan: quotas.plan },
            { tenantId, producer: QUOTA_PRODUCER, correlationId: options.correlationId ?? newId() },
          );
        return { exceeded: c.taken };
      }
      const id = newId();
      const [reservation] = await tx.$queryRaw<ReservationRow[]>`
        insert into quota_reservations (id, tenant_id, metric, period_start, amount, status, idempotency_key, expires_at)
        values (${id}::uuid, ${tenantId}::uuid, ${metric}, ${period}::date, ${amount}, 'held', ${options.idempotencyKey ?? null}, ${expiresAt})
        returning id::text, metric, amount, period_start::text, status, expires_at`;
      return { reservation: reservation!, remaining: limit - Number(taken.used) - Number(taken.reserved) };
    });
    if ('exceeded' in outcome) throw new QuotaExceededError(metric, limit, outcome.exceeded);
    return toReservation(outcome.reservation, outcome.remaining);
  }

  /** The reserved amount becomes usage (and is metered for the day). Committing twice is a no-op. */
  async commit(tenantId: TenantId, reservationId: string, correlationId = newId()): Promise<Reservation> {
    return this.settle(tenantId, reservationId, 'committed', correlationId);
  }

  /** The reserved amount goes back to the quota. Releasing twice is a no-op. */
  async release(tenantId: TenantId, reservationId: string): Promise<Reservation> {
    return this.settle(tenantId, reservationId, 'released', newId());
  }

  /**
   * Meters usage that needs no reservation (API calls, model tokens, tickets an integration
   * delivered on Kafka) or frees storage (negative amount). Tickets and storage also move their
   * quota counter: what arrived through events counts, though only reservations can refuse.
   */
  async record(tx: TenantTx, tenantId: TenantId, metric: UsageMetric, amount: number, at: Date, sourceEventId: string | null, correlationId: string): Promise<void> {
    await tx.$executeRaw`insert into usage_daily (tenant_id, day, metric, amount) values (${tenantId}::uuid, ${day(at)}::date, ${metric}, ${amount})
      on conflict (tenant_id, day, metric) do update set amount = usage_daily.amount + excluded.amount, updated_at = now()`;
    if (metric === 'storage_bytes') {
      // Storage is a level, not a flow: its counter moves with what is stored (it may go over the
      // quota through events; reservations are what stop new documents).
      await tx.$executeRaw`insert into quota_counters (tenant_id, metric, period_start, used) values (${tenantId}::uuid, 'storage_bytes', ${EPOCH}::date, greatest(${amount}, 0))
        on conflict (tenant_id, metric, period_start) do update set used = greatest(quota_counters.used + ${amount}, 0)`;
    } else if (metric === 'tickets') {
      const period = periodOf('tickets', at);
      await tx.$executeRaw`insert into quota_counters (tenant_id, metric, period_start, used) values (${tenantId}::uuid, 'tickets', ${period}::date, ${amount})
        on conflict (tenant_id, metric, period_start) do update set used = quota_counters.used + ${amount}`;
    }
    await publishInTx(tx, QuotaEvents.USAGE_RECORDED, { metric, amount, day: day(at), sourceEventId }, { tenantId, producer: QUOTA_PRODUCER, correlationId, causationId: sourceEventId });
  }

  /** Usage per day and metric between two days (inclusive), and the current periods' quotas. */
  async usage(tenantId: TenantId, from: string, to: string): Promise<UsageReport> {
    const quotas = await this.quotasOf(tenantId);
    return this.db.withTenant(tenantId, async (tx) => {
      const days = await tx.$queryRaw<{ day: string; metric: UsageMetric; amount: bigint }[]>`
        select day::text, metric, amount from usage_daily where day between ${from}::date and ${to}::date order by day, metric`;
      const quotaRows: UsageReport['quotas'] = [];
      for (const metric of ['tickets', 'storage_bytes'] as const) {
        const c = await this.counter(tx, tenantId, metric, periodOf(metric));
        quotaRows.push({ metric, periodStart: periodOf(metric), limit: quotas[metric], used: c.used, reserved: c.reserved, remaining: Math.max(0, quotas[metric] - c.taken) });
      }
      return { tenantId, plan: quotas.plan, from, to, days: days.map((d) => ({ day: d.day, metric: d.metric, amount: Number(d.amount) })), quotas: quotaRows };
    });
  }

  private async settle(tenantId: TenantId, reservationId: string, to: 'committed' | 'released', correlationId: string): Promise<Reservation> {
    const quotas = await this.quotasOf(tenantId);
    return this.db.withTenant(tenantId, async (tx) => {
      const [r] = await tx.$queryRaw<ReservationRow[]>`select id::text, metric, amount, period_start::text, status, expires_at from quota_reservations where id = ${reservationId}::uuid for update`;
      // Another tenant's reservation is exactly as missing as one that does not exist (RLS hides it).
      if (!r) throw new ProblemException(404, 'not-found', 'Not found', `reservation ${reservationId}`);
      const metric = r.metric as QuotaMetric;
      if (r.status === 'held') {
        await tx.$executeRaw`update quota_reservations set status = ${to} where id = ${reservationId}::uuid`;
        await tx.$executeRaw`update quota_counters set reserved = reserved - ${r.amount}, used = used + ${to === 'committed' ? r.amount : 0}
          where tenant_id = ${tenantId}::uuid and metric = ${metric} and period_start = ${r.period_start}::date`;
        if (to === 'committed' && metric === 'tickets') {
          await tx.$executeRaw`insert into usage_daily (tenant_id, day, metric, amount) values (${tenantId}::uuid, ${day(new Date())}::date, 'tickets', ${r.amount})
            on conflict (tenant_id, day, metric) do update set amount = usage_daily.amount + excluded.amount, updated_at = now()`;
          await publishInTx(tx, QuotaEvents.USAGE_RECORDED, { metric, amount: Number(r.amount), day: day(new Date()), sourceEventId: null }, { tenantId, producer: QUOTA_PRODUCER, correlationId });
        }
        r.status = to;
      } else if (r.status !== to) {
        throw new ProblemException(409, 'reservation-settled', 'Reservation already settled', `reservation ${reservationId} is ${r.status}`);
      }
      const c = await this.counter(tx, tenantId, metric, r.period_start);
      return toReservation(r, quotas[metric] - c.taken);
    });
  }

  private async counter(tx: TenantTx, tenantId: TenantId, metric: string, period: string): Promise<{ used: number; reserved: number; taken: number }> {
    const [c] = await tx.$queryRaw<{ used: bigint; reserved: bigint }[]>`select used, reserved from quota_counters
      where tenant_id = ${tenantId}::uuid and metric = ${metric} and period_start = ${period}::date`;
    const used = Number(c?.used ?? 0);
    const reserved = Number(c?.reserved ?? 0);
    return { used, reserved, taken: used + reserved };
  }
}

interface ReservationRow {
  id: string;
  metric: string;
  amount: bigint | number;
  period_start: string;
  status: Reservation['status'];
  expires_at: Date;
}

function toReservation(r: ReservationRow, remaining: number): Reservation {
  return { reservationId: r.id, metric: r.metric as QuotaMetric, amount: Number(r.amount), periodStart: r.period_start, status: r.status, expiresAt: r.expires_at.toISOString(), remaining: Math.max(0, remaining) };
}

export interface UsageReport {
  tenantId: string;
  plan: string;
  from: string;
  to: string;
  days: { day: string; metric: UsageMetric; amount: number }[];
  quotas: { metric: QuotaMetric; periodStart: string; limit: number; used: number; reserved: number; remaining: number }[];
}
