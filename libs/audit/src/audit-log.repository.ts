import { Injectable } from '@nestjs/common';
import { sql } from 'kysely';
import type { TenantId } from '@hotdash/contracts';
import type { TenantTx } from '@hotdash/platform-db';
import type { AuditEntryContent } from './hash-chain';

export interface AuditRow extends AuditEntryContent {
  prevHash: string;
  hash: string;
}

/** An audit_log row as Kysely reads it (the driver's types: int8 as a string, timestamptz as a Date, jsonb parsed). */
interface RawRow {
  id: string;
  tenant_id: string;
  seq: string;
  event_id: string;
  event_type: string;
  actor_id: string | null;
  occurred_at: Date;
  recorded_at: Date;
  payload: unknown;
  prev_hash: string;
  hash: string;
}

/** Every column of an entry: what its hash covers and the hashes. */
const COLUMNS = ['id', 'tenant_id', 'seq', 'event_id', 'event_type', 'actor_id', 'occurred_at', 'recorded_at', 'payload', 'prev_hash', 'hash'] as const;

/** The entry as the chain hashes it: the same values whichever way it was read (seq a number, times ISO strings). */
function toRow(r: RawRow): AuditRow {
  return {
    id: r.id,
    tenantId: r.tenant_id,
    seq: Number(r.seq),
    eventId: r.event_id,
    eventType: r.event_type,
    actorId: r.actor_id,
    occurredAt: r.occurred_at.toISOString(),
    recordedAt: r.recorded_at.toISOString(),
    payload: r.payload,
    prevHash: r.prev_hash,
    hash: r.hash,
  };
}

/** The tenant's audit_log (audit service's own table). Every method runs in the caller's withTenant() transaction. */
@Injectable()
export class AuditLogRepository {
  /**
   * Locks the tenant's chain for the rest of the transaction, so concurrent appends take turns,
   * and returns its last entry. Two statements: the read must take its snapshot after the lock is held.
   */
  async lockHead(tx: TenantTx, tenantId: TenantId): Promise<{ seq: number; hash: string } | undefined> {
    await tx.db.selectNoFrom((eb) => eb.fn('pg_advisory_xact_lock', [eb.fn('hashtextextended', [eb.val(`audit:${tenantId}`), eb.lit(0)])]).as('locked')).execute();
    const r = await tx.db.selectFrom('audit_log').select(['seq', 'hash']).where('tenant_id', '=', tenantId).orderBy('seq', 'desc').limit(1).executeTakeFirst();
    return r ? { seq: Number(r.seq), hash: r.hash } : undefined;
  }

  /** The recorded head of the tenant's chain (seq and hash of its last entry). */
  async head(tx: TenantTx, tenantId: TenantId): Promise<{ seq: number; hash: string } | undefined> {
    const r = await tx.db.selectFrom('audit_heads').select(['seq', 'hash']).where('tenant_id', '=', tenantId).executeTakeFirst();
    return r ? { seq: Number(r.seq), hash: r.hash } : undefined;
  }

  /**
   * Appends entries that continue the chain from the head the caller read under the chain's lock
   * (the first one's prev_hash is that head's hash, each next one's the previous one's) and moves
   * the head to the last: one statement whatever their number.
   */
  async appendMany(tx: TenantTx, rows: AuditRow[]): Promise<void> {
    if (rows.length === 0) return;
    await tx.db
      .with('entries', (db) =>
        db
          .insertInto('audit_log')
          .values(
            rows.map((row) => ({
              id: row.id,
              tenant_id: row.tenantId,
              seq: String(row.seq),
              event_id: row.eventId,
              event_type: row.eventType,
              actor_id: row.actorId,
              occurred_at: row.occurredAt,
              recorded_at: row.recordedAt,
              // As JSON text: the driver would send an array as a PostgreSQL array, and a string unquoted.
              payload: JSON.stringify(row.payload),
              prev_hash: row.prevHash,
              hash: row.hash,
            })),
          )
          .returning(['tenant_id', 'seq', 'hash']),
      )
      .insertInto('audit_heads')
      .columns(['tenant_id', 'seq', 'hash'])
      .expression((eb) => eb.selectFrom('entries').select(['tenant_id', 'seq', 'hash']).orderBy('seq', 'desc').limit(1))
      .onConflict((oc) => oc.column('tenant_id').doUpdateSet((eb) => ({ seq: eb.ref('excluded.seq'), hash: eb.ref('excluded.hash'), updated_at: sql`now()` })))
      .execute();
  }

  /** A page of the tenant's chain in order, after `afterSeq`. */
  async page(tx: TenantTx, tenantId: TenantId, afterSeq: number, limit: number): Promise<AuditRow[]> {
    const rows = await tx.db.selectFrom('audit_log').select(COLUMNS).where('tenant_id', '=', tenantId).where('seq', '>', String(afterSeq)).orderBy('seq').limit(limit).execute();
    return rows.map(toRow);
  }

  /** Entries after a seq, filtered by event type, actor and time (occurred_at, ISO 8601 with an offset), oldest first. */
  async search(
    tx: TenantTx,
    tenantId: TenantId,
    f: { after?: number; limit: number; eventType?: string; actor?: string; from?: string; to?: string },
  ): Promise<AuditRow[]> {
    let q = tx.db.selectFrom('audit_log').select(COLUMNS).where('tenant_id', '=', tenantId).where('seq', '>', String(f.after ?? 0));
    // A filter left out (undefined or null) does not filter.
    if (f.eventType != null) q = q.where('event_type', '=', f.eventType);
    if (f.actor != null) q = q.where('actor_id', '=', f.actor);
    // Compared as timestamptz in the database, to the microsecond the caller gave.
    const from = f.from;
    const to = f.to;
    if (from != null) q = q.where((eb) => eb('occurred_at', '>=', eb.cast<Date>(eb.val(from), 'timestamptz')));
    if (to != null) q = q.where((eb) => eb('occurred_at', '<', eb.cast<Date>(eb.val(to), 'timestamptz')));
    const rows = await q.orderBy('seq').limit(f.limit).execute();
    return rows.map(toRow);
  }

  /** The entries of those of these events that are recorded. */
  async findByEvents(tx: TenantTx, tenantId: TenantId, eventIds: string[]): Promise<AuditRow[]> {
    if (eventIds.length === 0) return [];
    const rows = await tx.db
      .selectFrom('audit_log')
      .select(COLUMNS)
      .where('tenant_id', '=', tenantId)
      .where((eb) => eb('event_id', '=', eb.fn.any(eb.val(eventIds))))
      .execute();
    return rows.map(toRow);
  }

  async findByEvent(tx: TenantTx, tenantId: TenantId, eventId: string): Promise<AuditRow | undefined> {
    const r = await tx.db.selectFrom('audit_log').select(COLUMNS).where('tenant_id', '=', tenantId).where('event_id', '=', eventId).executeTakeFirst();
    return r ? toRow(r) : undefined;
  }
}
