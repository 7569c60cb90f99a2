import { Controller, Inject } from '@nestjs/common';
import { EventPattern, Payload } from '@nestjs/microservices';
import { DraftEvents, DraftRequestedV1, Envelope, TicketEvents, TicketReceivedV1 } from '@hotdash/contracts';
import { newId } from '@hotdash/platform-db';
import { DraftingQueue } from './drafting.job';

/**
 * Queues a draft for every ticket received (its first draft) and every regeneration an operator
 * asks for. A job already queued for the same ticket and attempt is not queued again; a failure to
 * queue throws, so the transport retries the event.
 */
@Controller()
export class DraftingEventsHandler {
  constructor(@Inject(DraftingQueue) private readonly queue: DraftingQueue) {}

  @EventPattern(TicketEvents.RECEIVED)
  async onTicketReceived(@Payload() event: Envelope<typeof TicketEvents.RECEIVED, TicketReceivedV1>): Promise<void> {
    await this.enqueue(event, event.payload, newId(), 1);
  }

  @EventPattern(DraftEvents.REQUESTED)
  async onDraftRequested(@Payload() event: Envelope<typeof DraftEvents.REQUESTED, DraftRequestedV1>): Promise<void> {
    await this.enqueue(event, event.payload, event.payload.draftId, event.payload.attempt);
  }

  private enqueue(event: Envelope, t: TicketReceivedV1 | DraftRequestedV1, draftId: string, attempt: number): Promise<void> {
    return this.queue.enqueue({
      tenantId: event.tenantId,
      ticketId: t.ticketId,
      draftId,
      attempt,
      customerNameEnc: t.customerNameEnc,
      subjectEnc: t.subjectEnc,
      bodyEnc: t.bodyEnc,
      correlationId: event.correlationId,
      causationId: event.id,
    });
  }
}
