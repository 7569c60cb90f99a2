import { Inject, Injectable } from '@nestjs/common';
import { AuditEvents, type AuditRecordedV1, Envelope, parseTenantId, TenantId } from '@hotdash/contracts';
import { newId, TenantTx } from '@hotdash/platform-db';
import { type EventMeta, publishInTx, publishManyInTx } from '@hotdash/platform-messaging';
import { AuditLogRepository, AuditRow } from '../../audit-log.repository';
import { chainHash, GENESIS_HASH } from '../../hash-chain';

export const AUDIT_PRODUCER = 'audit';

interface Head {
  seq: number;
  hash: string;
}

/**
 * The chains a transaction holds the lock of, with their heads as it has left them. The event
 * transport applies a tenant's events of a batch in one transaction, one handler call after the
 * other: the first append locks the chain and reads its head, the next ones build on the head kept
 * here. Only a hint: each append checks in the database that it extends the chain as it stands, and
 * re-reads the head when it does not (a savepoint rolled back since, say).
 */
const lockedHeads = new WeakMap<TenantTx, Map<TenantId, Head>>();

/**
 * Appends an event to its tenant's hash chain and announces it with `audit.recorded`, in the
 * transaction the event transport opened (with the inbox row): recorded exactly once.
 */
@Injectable()
export class RecordAuditEntryHandler {
  constructor(@Inject(AuditLogRepository) private readonly log: AuditLogRepository) {}

  async execute(tx: TenantTx, event: Envelope, actorId: string | null): Promise<AuditRow> {
    const tenantId = parseTenantId(event.tenantId);
    let head = lockedHeads.get(tx)?.get(tenantId) ?? (await this.lockHead(tx, tenantId));
    for (let reread = false; ; reread = true) {
      const row = entry(head, tenantId, event, actorId);
      if (await this.log.append(tx, row)) {
        lockedHeads.get(tx)!.set(tenantId, { seq: row.seq, hash: row.hash });
        await publishInTx(tx, AuditEvents.RECORDED, announcement(row), announcementMeta(row, event));
        return row;
      }
      // Not appended. The inbox already makes this exactly-once per consumer; this also keeps a
      // second consumer group (a replay, a renamed group) from recording the same fact twice.
      const existing = await this.log.findByEvent(tx, tenantId, event.id);
      if (existing) return existing;
      if (reread) throw new Error(`the audit chain of tenant ${tenantId} does not end where its locked head says`);
      head = await this.lockHead(tx, tenantId);
    }
  }

  /**
   * The same for several events of one tenant, in order, with one lock, one head read, one look-up
   * of those already recorded, one multi-row insert and one multi-row outbox insert, whatever
   * their number. Returns each event's entry (the recorded one for an event recorded before).
   */
  async executeMany(tx: TenantTx, items: { event: Envelope; actorId: string | null }[]): Promise<AuditRow[]> {
    if (items.length === 0) return [];
    const tenantId = parseTenantId(items[0]!.event.tenantId);
    if (items.some((i) => i.event.tenantId !== tenantId)) throw new Error('executeMany takes the events of one tenant');
    // Read under the lock, not from lockedHeads: the head this call builds on is the chain's own.
    let head = await this.lockHead(tx, tenantId);
    const recorded = new Map((await this.log.findByEvents(tx, tenantId, [...new Set(items.map((i) => i.event.id))])).map((r) => [r.eventId, r]));
    const appended: { row: AuditRow; event: Envelope }[] = [];
    const out: AuditRow[] = [];
    for (const { event, actorId } of items) {
      const done = recorded.get(event.id);
      if (done) {
        out.push(done);
        continue;
      }
      const row = entry(head, tenantId, event, actorId);
      recorded.set(event.id, row);
      appended.push({ row, event });
      out.push(row);
      head = row;
    }
    if (appended.length) {
      await this.log.appendMany(tx, appended.map((a) => a.row));
      lockedHeads.get(tx)!.set(tenantId, { seq: head.seq, hash: head.hash });
      await publishManyInTx(tx, appended.map(({ row, event }) => ({ type: AuditEvents.RECORDED, payload: announcement(row), meta: announcementMeta(row, event) })));
    }
    return out;
  }

  /** Locks the tenant's chain for the rest of the transaction (appends take turns) and reads its head. */
  private async lockHead(tx: TenantTx, tenantId: TenantId): Promise<Head> {
    const head = (await this.log.lockHead(tx, tenantId)) ?? { seq: 0, hash: GENESIS_HASH };
    let heads = lockedHeads.get(tx);
    if (!heads) lockedHeads.set(tx, (heads = new Map()));
    heads.set(tenantId, head);
    return head;
  }
}

/** The entry that records `event` after `head`. */
function entry(head: Head, tenantId: TenantId, event: Envelope, actorId: string | null): AuditRow {
  const content = {
    id: newId(),
    tenantId,
    seq: head.seq + 1,
    eventId: event.id,
    eventType: event.type,
    actorId,
    occurredAt: new Date(event.occurredAt).toISOString(),
    recordedAt: new Date().toISOString(),
    payload: event.payload,
  };
  return { ...content, prevHash: head.hash, hash: chainHash(head.hash, content) };
}

function announcement(row: AuditRow): AuditRecordedV1 {
  return { entryId: row.id, seq: row.seq, sourceEventId: row.eventId, sourceEventType: row.eventType, hash: row.hash };
}

function announcementMeta(row: AuditRow, event: Envelope): EventMeta {
  return { tenantId: parseTenantId(row.tenantId), producer: AUDIT_PRODUCER, correlationId: event.correlationId, causationId: event.id };
}
