import { Controller, Inject } from '@nestjs/common';
import { Ctx, EventPattern, Payload } from '@nestjs/microservices';
import { AccessEvents, AccessRecordedV1, DraftEvents, Envelope, KnowledgeEvents, OperatorEvents, TenantCreatedV1, TenantEvents, TicketEvents } from '@hotdash/contracts';
import type { EventContext } from '@hotdash/platform-messaging';
import { RecordAuditEntryHandler } from './use-cases/record-audit-entry/record-audit-entry.handler';

/** The audit service's event handlers: every state change it hears of becomes an audit entry. */
@Controller()
export class AuditEventsHandler {
  constructor(@Inject(RecordAuditEntryHandler) private readonly record: RecordAuditEntryHandler) {}

  @EventPattern(TenantEvents.CREATED)
  async onTenantCreated(@Payload() event: Envelope<typeof TenantEvents.CREATED, TenantCreatedV1>, @Ctx() ctx: EventContext): Promise<void> {
    await this.record.execute(ctx.tx, event, event.payload.createdBy);
  }

  /** Reads and changes of tenant data through the gateway, by the caller who made them. */
  @EventPattern(AccessEvents.RECORDED)
  async onAccess(@Payload() event: Envelope<typeof AccessEvents.RECORDED, AccessRecordedV1>, @Ctx() ctx: EventContext): Promise<void> {
    await this.record.execute(ctx.tx, event, event.payload.actor);
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
  async onStateChange(@Payload() event: Envelope, @Ctx() ctx: EventContext): Promise<void> {
    await this.record.execute(ctx.tx, event, `service:${event.producer}`);
  }

  /** The support workflow: tickets in, drafts written and decided, replies out; by the operator who decided, where one did. */
  @EventPattern([
    TicketEvents.RECEIVED,
    TicketEvents.REPLY_SENT,
    DraftEvents.REQUESTED,
    DraftEvents.GENERATED,
    DraftEvents.FAILED,
    DraftEvents.APPROVED,
    DraftEvents.EDITED,
    DraftEvents.REJECTED,
  ])
  async onSupport(@Payload() event: Envelope, @Ctx() ctx: EventContext): Promise<void> {
    const by = (event.payload as { by?: unknown }).by;
    await this.record.execute(ctx.tx, event, typeof by === 'string' ? by : `service:${event.producer}`);
  }
}
