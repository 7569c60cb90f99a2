import { Controller, Inject } from '@nestjs/common';
import { Ctx, Payload } from '@nestjs/microservices';
import { EventPattern } from '@hotdash/platform-messaging';
import { AccessEvents, AccessRecordedV2, DraftEvents, DraftGeneratedV1, Envelope, TicketEvents, TicketReceivedV2, KnowledgeDocumentIndexedV1, KnowledgeDocumentRemovedV1, KnowledgeDocumentsStoredV1, KnowledgeEvents, parseTenantId } from '@hotdash/contracts';
import type { EventContext } from '@hotdash/platform-messaging';
import { QuotaService } from './quota.service';

/** Usage metered from the events that imply it, in the transport's transaction (with the inbox row): exactly once. */
@Controller()
export class QuotaEventsHandler {
  constructor(@Inject(QuotaService) private readonly quota: QuotaService) {}

  /** Every request through the gateway that reached tenant data is an API call. */
  @EventPattern(AccessEvents.RECORDED)
  async onAccess(@Payload() event: Envelope<typeof AccessEvents.RECORDED, AccessRecordedV2>, @Ctx() ctx: EventContext): Promise<void> {
    await this.quota.record(ctx.tx, parseTenantId(event.tenantId), 'api_calls', 1, new Date(event.payload.at), event.id, event.correlationId);
  }

  /** Stored knowledge-base documents take storage. */
  @EventPattern(KnowledgeEvents.DOCUMENTS_STORED)
  async onDocumentsStored(@Payload() event: Envelope<typeof KnowledgeEvents.DOCUMENTS_STORED, KnowledgeDocumentsStoredV1>, @Ctx() ctx: EventContext): Promise<void> {
    const bytes = event.payload.documents.reduce((n, d) => n + d.bytes, 0);
    await this.quota.record(ctx.tx, parseTenantId(event.tenantId), 'storage_bytes', bytes, new Date(event.occurredAt), event.id, event.correlationId);
  }

  /** A document version deleted or replaced frees its storage. */
  @EventPattern(KnowledgeEvents.DOCUMENT_REMOVED)
  async onDocumentRemoved(@Payload() event: Envelope<typeof KnowledgeEvents.DOCUMENT_REMOVED, KnowledgeDocumentRemovedV1>, @Ctx() ctx: EventContext): Promise<void> {
    await this.quota.record(ctx.tx, parseTenantId(event.tenantId), 'storage_bytes', -event.payload.bytes, new Date(event.occurredAt), event.id, event.correlationId);
  }

  /** The embedding model's tokens for indexing a document (none for the offline embedder). */
  @EventPattern(KnowledgeEvents.DOCUMENT_INDEXED)
  async onDocumentIndexed(@Payload() event: Envelope<typeof KnowledgeEvents.DOCUMENT_INDEXED, KnowledgeDocumentIndexedV1>, @Ctx() ctx: EventContext): Promise<void> {
    if (event.payload.tokens === 0) return;
    await this.quota.record(ctx.tx, parseTenantId(event.tenantId), 'model_tokens', event.payload.tokens, new Date(event.occurredAt), event.id, event.correlationId);
  }

  /**
   * The drafting model's tokens for a draft, the retrieval query's embedding included (none for the
   * offline drafter), once per draft: keyed by the draft's id, not by the event's.
   */
  @EventPattern(DraftEvents.GENERATED)
  async onDraftGenerated(@Payload() event: Envelope<typeof DraftEvents.GENERATED, DraftGeneratedV1>, @Ctx() ctx: EventContext): Promise<void> {
    const tokens = event.payload.usage.promptTokens + event.payload.usage.completionTokens;
    await this.quota.meterDraftTokens(ctx.tx, parseTenantId(event.tenantId), event.payload.draftId, tokens, new Date(event.occurredAt), event.id, event.correlationId);
  }

  /**
   * Every stored ticket counts against the month's tickets, once per ticket, from its
   * ticket.received: the gateway's hold on the quota (API tickets) becomes the usage, a ticket
   * without one (or whose hold was given back first) is counted as it arrives.
   */
  @EventPattern(TicketEvents.RECEIVED)
  async onTicketReceived(@Payload() event: Envelope<typeof TicketEvents.RECEIVED, TicketReceivedV2>, @Ctx() ctx: EventContext): Promise<void> {
    const t = event.payload;
    await this.quota.countTicket(ctx.tx, parseTenantId(event.tenantId), t.ticketId, t.quotaReservationId, new Date(t.receivedAt), event.id, event.correlationId);
  }
}
