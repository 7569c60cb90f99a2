import { Inject, Injectable } from '@nestjs/common';
import { sql } from 'kysely';
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
/** A `YYYY-MM-DD` day as a date parameter (compared with date columns as the day it names, whatever the time zone). */
const dateOf = (d: string) => sql<Date>`${d}::date`;

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
        await sql`select pg_advisory_xact_lock(hashtextextended(${`quota:${tenantId}:${options.idempotencyKey}`}, 0))`.execute(tx.db);
        const found = await reservations(tx).where('idempotency_key', '=', options.idempotencyKey).executeTakeFirst();
        if (found) return { reservation: found, remaining: limit - (await this.counter(tx, metric, found.period_start)).taken };
      }
      await tx.db.insertInto('quota_counters').values({ tenant_id: tenantId, metric, period_start: period }).onConflict((oc) => oc.doNothing()).execute();
      // Holds that expired give their part back first (under the same row lock as the reservation).
      await tx.db
        .with('expired', (db) =>
          db
            .updateTable('quota_reservations')
            .set({ status: 'released' })
            .where('metric', '=', metric)
            .where('period_start', '=', dateOf(period))
            .where('status', '=', 'held')
            .where('expires_at', '<', sql<Date>`now()`)
            .returning('amount'),
        )
        .updateTable('quota_counters')
        .set((eb) => ({ reserved: eb('reserved', '-', eb.selectFrom('expired').select(sql<string>`coalesce(sum(amount), 0)`.as('n'))) }))
        .where('metric', '=', metric)
        .where('period_start', '=', dateOf(period))
        .execute();
      const taken = await tx.db
        .updateTable('quota_counters')
        .set((eb) => ({ reserved: eb('reserved', '+', String(amount)) }))
        .where('metric', '=', metric)
        .where('period_start', '=', dateOf(period))
        .where((eb) => eb(eb('used', '+', eb.ref('reserved')), '<=', String(limit - amount)))
        .returning(['used', 'reserved'])
        .executeTakeFirst();
      if (!taken) {
        const c = await this.counter(tx, metric, period);
        // quota.exceeded once per period and metric (the first refusal), not on every refused call.
        const first = await tx.db
          .updateTable('quota_counters')
          .set({ exceeded_at: sql<Date>`now()` })
          .where('metric', '=', metric)
          .where('period_start', '=', dateOf(period))
          .where('exceeded_at', 'is', null)
          .executeTakeFirst();
        if (Number(first.numUpdatedRows) > 0)
          await publishInTx(
            tx,
            QuotaEvents.EXCEEDED,
            { metric, limit, used: c.used, reserved: c.reserved, requested: amount, periodStart: period, plan: quotas.plan },
            { tenantId, producer: QUOTA_PRODUCER, correlationId: options.correlationId ?? newId() },
          );
        return { exceeded: c.taken };
      }
      const reservation = await tx.db
        .insertInto('quota_reservations')
        .values({ id: newId(), tenant_id: tenantId, metric, period_start: period, amount: String(amount), status: 'held', idempotency_key: options.idempotencyKey ?? null, expires_at: expiresAt })
        .returning(RESERVATION_COLUMNS)
        .executeTakeFirstOrThrow();
      return { reservation, remaining: limit - Number(taken.used) - Number(taken.reserved) };
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
   * A stored ticket counts against its month exactly once, from its ticket.received (in the
   * transport's transaction, with the inbox row), keyed by the ticket's id: a second event about the
   * same ticket (a replay under a new event id) counts nothing, and gives back a hold it names that
   * is still held. The hold the gateway took for it, if any and still held, becomes the usage;
   * otherwise (no hold: an integration's ticket; or the hold was released, or expired and was given
   * back, before the ticket was counted — a service died mid-request) the ticket is counted as it
   * arrives. Either way the day's usage grows by one and usage.recorded is published once.
   */
  async countTicket(tx: TenantTx, tenantId: TenantId, ticketId: string, reservationId: string | null, at: Date, sourceEventId: string, correlationId: string): Promise<void> {
    const hold = reservationId === null ? undefined : await reservations(tx).where('id', '=', reservationId).where('metric', '=', 'tickets').forUpdate().executeTakeFirst();
    if (!(await this.firstOf(tx, tenantId, 'tickets', ticketId, 1))) {
      // Counted already: a hold still held for it is given back (it was taken for this very ticket).
      if (hold?.status === 'held') {
        await tx.db.updateTable('quota_reservations').set({ status: 'released' }).where('id', '=', hold.id).execute();
        await this.moveCounter(tx, tenantId, 'tickets', hold.period_start, -Number(hold.amount), 0);
      }
      return;
    }
    if (hold?.status === 'committed') return; // settled through the commit endpoint: counted then
    if (hold?.status === 'held') {
      await tx.db.updateTable('quota_reservations').set({ status: 'committed' }).where('id', '=', hold.id).execute();
      await this.moveCounter(tx, tenantId, 'tickets', hold.period_start, -Number(hold.amount), Number(hold.amount));
      await this.meter(tx, tenantId, 'tickets', Number(hold.amount), at, sourceEventId, correlationId);
      return;
    }
    await this.record(tx, tenantId, 'tickets', 1, at, sourceEventId, correlationId);
  }

  /**
   * A draft's model tokens, metered once per draft (keyed by its id, whatever event says so: a
   * second draft.generated of the same draft meters nothing). None for a draft without tokens.
   */
  async meterDraftTokens(tx: TenantTx, tenantId: TenantId, draftId: string, tokens: number, at: Date, sourceEventId: string, correlationId: string): Promise<void> {
    if (tokens <= 0) return;
    if (!(await this.firstOf(tx, tenantId, 'model_tokens', draftId, tokens))) return;
    await this.record(tx, tenantId, 'model_tokens', tokens, at, sourceEventId, correlationId);
  }

  /**
   * Meters usage that needs no reservation (API calls, model tokens, tickets without a hold) or frees
   * storage (negative amount). Tickets and storage also move their quota counter: what arrived
   * through events counts, though only reservations can refuse.
   */
  async record(tx: TenantTx, tenantId: TenantId, metric: UsageMetric, amount: number, at: Date, sourceEventId: string | null, correlationId: string): Promise<void> {
    if (metric === 'storage_bytes') {
      // Storage is a level, not a flow: its counter moves with what is stored (it may go over the
      // quota through events; reservations are what stop new documents).
      await tx.db
        .insertInto('quota_counters')
        .values({ tenant_id: tenantId, metric: 'storage_bytes', period_start: EPOCH, used: String(Math.max(amount, 0)) })
        .onConflict((oc) => oc.columns(['tenant_id', 'metric', 'period_start']).doUpdateSet((eb) => ({ used: sql<string>`greatest(${eb.ref('quota_counters.used')} + ${amount}, 0)` })))
        .execute();
    } else if (metric === 'tickets') {
      await this.moveCounter(tx, tenantId, 'tickets', periodOf('tickets', at), 0, amount);
    }
    await this.meter(tx, tenantId, metric, amount, at, sourceEventId, correlationId);
  }

  /** Usage per day and metric between two days (inclusive), and the current periods' quotas. */
  async usage(tenantId: TenantId, from: string, to: string): Promise<UsageReport> {
    const quotas = await this.quotasOf(tenantId);
    return this.db.withTenant(tenantId, async (tx) => {
      const days = await tx.db
        .selectFrom('usage_daily')
        .select([sql<string>`day::text`.as('day'), 'metric', 'amount'])
        .where('day', '>=', dateOf(from))
        .where('day', '<=', dateOf(to))
        .orderBy('day')
        .orderBy('metric')
        .execute();
      const quotaRows: UsageReport['quotas'] = [];
      for (const metric of ['tickets', 'storage_bytes'] as const) {
        const c = await this.counter(tx, metric, periodOf(metric));
        quotaRows.push({ metric, periodStart: periodOf(metric), limit: quotas[metric], used: c.used, reserved: c.reserved, remaining: Math.max(0, quotas[metric] - c.taken) });
      }
      return { tenantId, plan: quotas.plan, from, to, days: days.map((d) => ({ day: d.day, metric: d.metric as UsageMetric, amount: Number(d.amount) })), quotas: quotaRows };
    });
  }

  private async settle(tenantId: TenantId, reservationId: string, to: 'committed' | 'released', correlationId: string): Promise<Reservation> {
    const quotas = await this.quotasOf(tenantId);
    return this.db.withTenant(tenantId, async (tx) => {
      const r = await reservations(tx).where('id', '=', reservationId).forUpdate().executeTakeFirst();
      // Another tenant's reservation is exactly as missing as one that does not exist (RLS hides it).
      if (!r) throw new ProblemException(404, 'not-found', 'Not found', `reservation ${reservationId}`);
      const metric = r.metric as QuotaMetric;
      if (r.status === 'held') {
        await tx.db.updateTable('quota_reservations').set({ status: to }).where('id', '=', reservationId).execute();
        await this.moveCounter(tx, tenantId, metric, r.period_start, -Number(r.amount), to === 'committed' ? Number(r.amount) : 0);
        if (to === 'committed' && metric === 'tickets') await this.meter(tx, tenantId, 'tickets', Number(r.amount), new Date(), null, correlationId);
        r.status = to;
      } else if (r.status !== to) {
        throw new ProblemException(409, 'reservation-settled', 'Reservation already settled', `reservation ${reservationId} is ${r.status}`);
      }
      const c = await this.counter(tx, metric, r.period_start);
      return toReservation(r, quotas[metric] - c.taken);
    });
  }

  /** Notes that `sourceId` (a ticket, a draft) was metered for `metric`; false when it already was. */
  private async firstOf(tx: TenantTx, tenantId: TenantId, metric: UsageMetric, sourceId: string, amount: number): Promise<boolean> {
    const noted = await tx.db
      .insertInto('usage_sources')
      .values({ tenant_id: tenantId, metric, source_id: sourceId, amount: String(amount) })
      .onConflict((oc) => oc.doNothing())
      .returning('source_id')
      .executeTakeFirst();
    return noted !== undefined;
  }

  /** The period's counter: `reserved` and `used` move by the given amounts (the row made if missing). */
  private async moveCounter(tx: TenantTx, tenantId: TenantId, metric: QuotaMetric, period: string, reserved: number, used: number): Promise<void> {
    await tx.db
      .insertInto('quota_counters')
      .values({ tenant_id: tenantId, metric, period_start: period, used: String(used), reserved: String(Math.max(reserved, 0)) })
      .onConflict((oc) =>
        oc.columns(['tenant_id', 'metric', 'period_start']).doUpdateSet((eb) => ({
          used: eb('quota_counters.used', '+', String(used)),
          reserved: eb('quota_counters.reserved', '+', String(reserved)),
        })),
      )
      .execute();
  }

  /** The day's usage grows by `amount`, and usage.recorded says so. */
  private async meter(tx: TenantTx, tenantId: TenantId, metric: UsageMetric, amount: number, at: Date, sourceEventId: string | null, correlationId: string): Promise<void> {
    await tx.db
      .insertInto('usage_daily')
      .values({ tenant_id: tenantId, day: day(at), metric, amount: String(amount) })
      .onConflict((oc) => oc.columns(['tenant_id', 'day', 'metric']).doUpdateSet((eb) => ({ amount: eb('usage_daily.amount', '+', eb.ref('excluded.amount')), updated_at: sql<Date>`now()` })))
      .execute();
    await publishInTx(tx, QuotaEvents.USAGE_RECORDED, { metric, amount, day: day(at), sourceEventId }, { tenantId, producer: QUOTA_PRODUCER, correlationId, causationId: sourceEventId });
  }

  private async counter(tx: TenantTx, metric: string, period: string): Promise<{ used: number; reserved: number; taken: number }> {
    const c = await tx.db.selectFrom('quota_counters').select(['used', 'reserved']).where('metric', '=', metric).where('period_start', '=', dateOf(period)).executeTakeFirst();
    const used = Number(c?.used ?? 0);
    const reserved = Number(c?.reserved ?? 0);
    return { used, reserved, taken: used + reserved };
  }
}

const RESERVATION_COLUMNS = ['id', 'metric', 'amount', sql<string>`period_start::text`.as('period_start'), sql<Reservation['status']>`status`.as('status'), 'expires_at'] as const;

/** The tenant's reservations, as the service reads them (RLS keeps them the tenant's). */
function reservations(tx: TenantTx) {
  return tx.db.selectFrom('quota_reservations').select(RESERVATION_COLUMNS);
}

interface ReservationRow {
  id: string;
  metric: string;
  amount: string;
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
