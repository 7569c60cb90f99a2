import { Controller, Inject } from '@nestjs/common';
import { Ctx, Payload } from '@nestjs/microservices';
import { EventPattern } from '@hotdash/platform-messaging';
import { DraftEvents, DraftRequestedV1, DraftRequestedV2, Envelope, parseTenantId, TicketEvents, TicketReceivedV2 } from '@hotdash/contracts';
import { TenantStatusCache } from '@hotdash/platform-db';
import type { EventContext } from '@hotdash/platform-messaging';
import { DraftingQueue, publishDraftFailed } from './drafting.job';

/**
 * Queues a draft for every ticket received (its first draft) and every regeneration an operator
 * asks for, each under the draft id the drafts service minted (ticket.received, draft.requested;
 * a regeneration's earlier drafts, reasons and edits go into the job as they came, encrypted;
 * version 1 of draft.requested has none). A job already queued for the same ticket and attempt is not queued again; a failure to
 * queue throws, so the transport retries the event. A suspended tenant's tickets get no model call
 * (no new work while suspended): their draft fails at once with `tenant-suspended`, so the ticket
 * waits for a hand-written reply or a regeneration after reactivation.
 */
@Controller()
export class DraftingEventsHandler {
  constructor(
    @Inject(DraftingQueue) private readonly queue: DraftingQueue,
    @Inject(TenantStatusCache) private readonly statuses: TenantStatusCache,
  ) {}

  @EventPattern(TicketEvents.RECEIVED)
  async onTicketReceived(@Payload() event: Envelope<typeof TicketEvents.RECEIVED, TicketReceivedV2>, @Ctx() ctx: EventContext): Promise<void> {
    await this.enqueue(event, event.payload, event.payload.draftId, 1, ctx);
  }

  @EventPattern(DraftEvents.REQUESTED)
  async onDraftRequested(@Payload() event: Envelope<typeof DraftEvents.REQUESTED, DraftRequestedV2 | DraftRequestedV1>, @Ctx() ctx: EventContext): Promise<void> {
    await this.enqueue(event, event.payload, event.payload.draftId, event.payload.attempt, ctx);
  }

  private async enqueue(event: Envelope, t: TicketReceivedV2 | DraftRequestedV1 | DraftRequestedV2, draftId: string, attempt: number, ctx: EventContext): Promise<void> {
    const job = { tenantId: event.tenantId, ticketId: t.ticketId, draftId, attempt, correlationId: event.correlationId, causationId: event.id };
    if (await this.statuses.isSuspended(parseTenantId(event.tenantId))) {
      await publishDraftFailed(ctx.tx, job, 'tenant-suspended', 'The organisation is suspended: no drafts are written until it is reactivated.');
      return;
    }
    const earlierDrafts = 'earlierDrafts' in t ? t.earlierDrafts : [];
    // A restore's request (by `restore:<run>`) runs even if its attempt's job is kept as done: the
    // archive may predate a regeneration whose job used that attempt (and it is gone with the restore).
    const restore = 'by' in t && t.by.startsWith('restore:') ? `restore-${t.by.slice('restore:'.length)}` : undefined;
    await this.queue.enqueue({ ...job, customerNameEnc: t.customerNameEnc, subjectEnc: t.subjectEnc, bodyEnc: t.bodyEnc, ...(earlierDrafts.length ? { earlierDrafts } : {}) }, restore);
  }
}
