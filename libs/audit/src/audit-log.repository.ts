import { Injectable } from '@nestjs/common';
import type { TenantId } from '@hotdash/contracts';
import type { TenantTx } from '@hotdash/platform-db';
import type { AuditEntryContent } from './hash-chain';

export interface AuditRow extends AuditEntryContent {
  prevHash: string;
  hash: string;
}

interface RawRow {
  id: string;
  tenant_id: string;
  seq: bigint | number;
  event_id: string;
  event_type: string;
  actor_id: string | null;
  occurred_at: Date;
  recorded_at: Date;
  payload: unknown;
  prev_hash: string;
  hash: string;
}

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
   * and returns its last entry.
   */
  async lockHead(tx: TenantTx, tenantId: TenantId): Promise<{ seq: number; hash: string } | undefined> {
    await tx.$executeRaw`select pg_advisory_xact_lock(hashtextextended(${`audit:${tenantId}`}, 0))`;
    const rows = await tx.$queryRaw<{ seq: bigint; hash: string }[]>`
      select seq, hash from audit_log where tenant_id = ${tenantId}::uuid order by seq desc limit 1`;
    const r = rows[0];
    return r ? { seq: Number(r.seq), hash: r.hash } : undefined;
  }

  /** The recorded head of the tenant's chain (seq and hash of its last entry). */
  async head(tx: TenantTx, tenantId: TenantId): Promise<{ seq: number; hash: string } | undefined> {
    const rows = await tx.$queryRaw<{ seq: bigint; hash: string }[]>`select seq, hash from audit_heads where tenant_id = ${tenantId}::uuid`;
    return rows[0] ? { seq: Number(rows[0].seq), hash: rows[0].hash } : undefined;
  }

  async insert(tx: TenantTx, row: AuditRow): Promise<void> {
    await tx.$executeRaw`insert into audit_log
      (id, tenant_id, seq, event_id, event_type, actor_id, occurred_at, recorded_at, payload, prev_hash, hash)
      values (${row.id}::uuid, ${row.tenantId}::uuid, ${row.seq}, ${row.eventId}::uuid, ${row.eventType}, ${row.actorId},
              ${row.occurredAt}::timestamptz, ${row.recordedAt}::timestamptz, ${JSON.stringify(row.payload)}::jsonb, ${row.prevHash}, ${row.hash})`;
    await tx.$executeRaw`insert into audit_heads (tenant_id, seq, hash) values (${row.tenantId}::uuid, ${row.seq}, ${row.hash})
      on conflict (tenant_id) do update set seq = excluded.seq, hash = excluded.hash, updated_at = now()`;
  }

  /** A page of the tenant's chain in order, after `afterSeq`. */
  async page(tx: TenantTx, tenantId: TenantId, afterSeq: number, limit: number): Promise<AuditRow[]> {
    const rows = await tx.$queryRaw<RawRow[]>`
      select id::text, tenant_id::text, seq, event_id::text, event_type, actor_id, occurred_at, recorded_at, payload, prev_hash, hash
      from audit_log where tenant_id = ${tenantId}::uuid and seq > ${afterSeq} order by seq limit ${limit}`;
    return rows.map(toRow);
  }

  /** Entries after a seq, filtered by event type, actor and time (occurred_at), oldest first. */
  async search(
    tx: TenantTx,
    tenantId: TenantId,
    f: { after?: number; limit: number; eventType?: string; actor?: string; from?: string; to?: string },
  ): Promise<AuditRow[]> {
    const rows = await tx.$queryRaw<RawRow[]>`
      select id::text, tenant_id::text, seq, event_id::text, event_type, actor_id, occurred_at, recorded_at, payload, prev_hash, hash
      from audit_log where tenant_id = ${tenantId}::uuid and seq > ${f.after ?? 0}
        and (${f.eventType ?? null}::text is null or event_type = ${f.eventType ?? null})
        and (${f.actor ?? null}::text is null or actor_id = ${f.actor ?? null})
        and (${f.from ?? null}::timestamptz is null or occurred_at >= ${f.from ?? null}::timestamptz)
        and (${f.to ?? null}::timestamptz is null or occurred_at < ${f.to ?? null}::timestamptz)
      order by seq limit ${f.limit}`;
    return rows.map(toRow);
  }

  async findByEvent(tx: TenantTx, tenantId: TenantId, eventId: string): Promise<AuditRow | undefined> {
    const rows = await tx.$queryRaw<RawRow[]>`
      select id::text, tenant_id::text, seq, event_id::text, event_type, actor_id, occurred_at, recorded_at, payload, prev_hash, hash
      from audit_log where tenant_id = ${tenantId}::uuid and event_id = ${eventId}::uuid`;
    return rows[0] ? toRow(rows[0]) : undefined;
  }
}
