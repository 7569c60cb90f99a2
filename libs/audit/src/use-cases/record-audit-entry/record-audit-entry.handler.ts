import { Inject, Injectable } from '@nestjs/common';
import { AuditEvents, Envelope, parseTenantId } from '@hotdash/contracts';
import { newId, TenantTx } from '@hotdash/platform-db';
import { publishInTx } from '@hotdash/platform-messaging';
import { AuditLogRepository, AuditRow } from '../../audit-log.repository';
import { chainHash, GENESIS_HASH } from '../../hash-chain';

export const AUDIT_PRODUCER = 'audit';

/**
 * Appends an event to its tenant's hash chain and announces it with `audit.recorded`, in the
 * transaction the event transport opened (with the inbox row): recorded exactly once.
 */
@Injectable()
export class RecordAuditEntryHandler {
  constructor(@Inject(AuditLogRepository) private readonly log: AuditLogRepository) {}

  async execute(tx: TenantTx, event: Envelope, actorId: string | null): Promise<AuditRow> {
    const tenantId = parseTenantId(event.tenantId);
    const head = await this.log.lockHead(tx, tenantId);
    // The inbox already makes this exactly-once per consumer; this also keeps a second consumer
    // group (a replay, a renamed group) from recording the same fact twice.
    const existing = await this.log.findByEvent(tx, tenantId, event.id);
    if (existing) return existing;
    const content = {
      id: newId(),
      tenantId,
      seq: (head?.seq ?? 0) + 1,
      eventId: event.id,
      eventType: event.type,
      actorId,
      occurredAt: new Date(event.occurredAt).toISOString(),
      recordedAt: new Date().toISOString(),
      payload: event.payload,
    };
    const prevHash = head?.hash ?? GENESIS_HASH;
    const row: AuditRow = { ...content, prevHash, hash: chainHash(prevHash, content) };
    await this.log.insert(tx, row);
    await publishInTx(
      tx,
      AuditEvents.RECORDED,
      { entryId: row.id, seq: row.seq, sourceEventId: event.id, sourceEventType: event.type, hash: row.hash },
      { tenantId, producer: AUDIT_PRODUCER, correlationId: event.correlationId, causationId: event.id },
    );
    return row;
  }
}
