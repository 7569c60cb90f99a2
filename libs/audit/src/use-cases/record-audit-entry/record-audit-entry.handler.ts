import { Inject, Injectable } from '@nestjs/common';
import { AuditEvents, type AuditRecordedV1, Envelope, parseTenantId, TenantId } from '@hotdash/contracts';
import { newId, TenantTx } from '@hotdash/platform-db';
import { type EventMeta, publishManyInTx } from '@hotdash/platform-messaging';
import { AuditLogRepository, AuditRow } from '../../audit-log.repository';
import { chainHash, GENESIS_HASH } from '../../hash-chain';

export const AUDIT_PRODUCER = 'audit';

interface Head {
  seq: number;
  hash: string;
}

/**
 * Appends an event to its tenant's hash chain and announces it with `audit.recorded`, in the
 * transaction the event transport opened (with the inbox row): recorded exactly once.
 */
@Injectable()
export class RecordAuditEntryHandler {
  constructor(@Inject(AuditLogRepository) private readonly log: AuditLogRepository) {}

  async execute(tx: TenantTx, event: Envelope, actorId: string | null): Promise<AuditRow> {
    return (await this.executeMany(tx, [{ event, actorId }]))[0]!;
  }

  /**
   * The same for several events of one tenant, in order, with one lock, one head read, one look-up
   * of those already recorded, one multi-row insert and one multi-row outbox insert, whatever
   * their number. Returns each event's entry (the recorded one for an event recorded before: the
   * inbox already makes this exactly-once per consumer; this also keeps a second consumer group, a
   * replay or a renamed group, from recording the same fact twice). The head is read under the lock
   * on every call, so a savepoint rolled back since an earlier call leaves no gap.
   */
  async executeMany(tx: TenantTx, items: { event: Envelope; actorId: string | null }[]): Promise<AuditRow[]> {
    if (items.length === 0) return [];
    const tenantId = parseTenantId(items[0]!.event.tenantId);
    if (items.some((i) => i.event.tenantId !== tenantId)) throw new Error('executeMany takes the events of one tenant');
    let head: Head = (await this.log.lockHead(tx, tenantId)) ?? { seq: 0, hash: GENESIS_HASH };
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
      await publishManyInTx(tx, appended.map(({ row, event }) => ({ type: AuditEvents.RECORDED, payload: announcement(row), meta: announcementMeta(row, event) })));
    }
    return out;
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
