import { Controller, Inject } from '@nestjs/common';
import { Ctx, Payload } from '@nestjs/microservices';
import { EventPattern } from '@hotdash/platform-messaging';
import { AccessEvents, AccessRecordedV2, DraftEvents, Envelope, KnowledgeEvents, OperatorEvents, SlaEvents, TenantCreatedV1, TenantEvents, TicketEvents } from '@hotdash/contracts';
import type { EventContext } from '@hotdash/platform-messaging';
import { RecordAuditEntryHandler } from './use-cases/record-audit-entry/record-audit-entry.handler';

/** Events waiting for their entries, per transaction of the transport. */
type Pending = { event: Envelope; actorId: string | null }[];

/**
 * The audit service's event handlers: every state change it hears of becomes an audit entry. The
 * entries of one transaction of the transport (a tenant's group of a batch, or one event replayed
 * alone) are appended together just before it commits: one lock, one head read and one multi-row
 * insert for the whole group, so audit keeps up with the gateway's access entries
 * (bench/audit-lag.bench.ts).
 */
@Controller()
export class AuditEventsHandler {
  private readonly pending = new WeakMap<EventContext['tx'], Pending>();

  constructor(@Inject(RecordAuditEntryHandler) private readonly record: RecordAuditEntryHandler) {}

  private append(ctx: EventContext, event: Envelope, actorId: string | null): void {
    let list = this.pending.get(ctx.tx);
    if (!list) {
      const items: Pending = (list = []);
      this.pending.set(ctx.tx, items);
      ctx.beforeCommit(async () => {
        this.pending.delete(ctx.tx);
        await this.record.executeMany(ctx.tx, items);
      });
    }
    list.push({ event, actorId });
  }

  @EventPattern(TenantEvents.CREATED)
  onTenantCreated(@Payload() event: Envelope<typeof TenantEvents.CREATED, TenantCreatedV1>, @Ctx() ctx: EventContext): void {
    this.append(ctx, event, event.payload.createdBy);
  }

  /** Reads and changes of tenant data through the gateway, by the caller who made them. */
  @EventPattern(AccessEvents.RECORDED)
  onAccess(@Payload() event: Envelope<typeof AccessEvents.RECORDED, AccessRecordedV2>, @Ctx() ctx: EventContext): void {
    this.append(ctx, event, event.payload.actor);
  }

  @EventPattern([
    TenantEvents.PROVISIONING_STARTED,
    TenantEvents.PROVISIONING_STEP_COMPLETED,
    TenantEvents.PROVISIONED,
    TenantEvents.PROVISIONING_FAILED,
    TenantEvents.ACTIVATED,
    TenantEvents.SUSPENDED,
    TenantEvents.REACTIVATED,
    TenantEvents.PLAN_CHANGED,
    TenantEvents.OFFBOARDING_STARTED,
    TenantEvents.SETTINGS_CHANGED,
    TenantEvents.APPROVAL_WORKFLOWS_CHANGED,
    TenantEvents.IMPORTED,
    KnowledgeEvents.DOCUMENTS_STORED,
    KnowledgeEvents.DOCUMENT_INDEXED,
    KnowledgeEvents.DOCUMENT_FAILED,
    KnowledgeEvents.DOCUMENT_REMOVED,
    OperatorEvents.INVITED,
    OperatorEvents.JOINED,
    OperatorEvents.ROLE_CHANGED,
    OperatorEvents.REMOVED,
    OperatorEvents.TEAM_CHANGED,
  ])
  onStateChange(@Payload() event: Envelope, @Ctx() ctx: EventContext): void {
    this.append(ctx, event, `service:${event.producer}`);
  }

  /** The support workflow: tickets in, SLA breaches, drafts written and decided, replies out; by the operator who decided, where one did. */
  @EventPattern([
    TicketEvents.RECEIVED,
    TicketEvents.REPLY_SENT,
    SlaEvents.BREACHED,
    DraftEvents.REQUESTED,
    DraftEvents.GENERATED,
    DraftEvents.FAILED,
    DraftEvents.APPROVED,
    DraftEvents.EDITED,
    DraftEvents.REJECTED,
  ])
  onSupport(@Payload() event: Envelope, @Ctx() ctx: EventContext): void {
    const by = (event.payload as { by?: unknown }).by;
    this.append(ctx, event, typeof by === 'string' ? by : `service:${event.producer}`);
  }
}
