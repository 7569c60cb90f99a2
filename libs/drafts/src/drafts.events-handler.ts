import { Controller, Inject } from '@nestjs/common';
import { Ctx, EventPattern, Payload } from '@nestjs/microservices';
import { DraftEvents, DraftFailedV1, DraftGeneratedV1, Envelope, OperatorEvents, OperatorRemovedV1, TicketEvents, TicketReceivedV1 } from '@hotdash/contracts';
import type { EventContext } from '@hotdash/platform-messaging';
import { TicketsService } from './tickets.service';

/** The approval queue fed by events, each applied once (in the transport's transaction, with its inbox row). */
@Controller()
export class DraftsEventsHandler {
  constructor(@Inject(TicketsService) private readonly tickets: TicketsService) {}

  /** Tickets from integrations (the service's own API tickets are already stored: a no-op). */
  @EventPattern(TicketEvents.RECEIVED)
  async onTicket(@Payload() event: Envelope<typeof TicketEvents.RECEIVED, TicketReceivedV1>, @Ctx() ctx: EventContext): Promise<void> {
    await this.tickets.ingest(ctx.tx, event.payload);
  }

  @EventPattern(DraftEvents.GENERATED)
  async onGenerated(@Payload() event: Envelope<typeof DraftEvents.GENERATED, DraftGeneratedV1>, @Ctx() ctx: EventContext): Promise<void> {
    await this.tickets.onGenerated(ctx.tx, event.payload);
  }

  @EventPattern(DraftEvents.FAILED)
  async onFailed(@Payload() event: Envelope<typeof DraftEvents.FAILED, DraftFailedV1>, @Ctx() ctx: EventContext): Promise<void> {
    await this.tickets.onFailed(ctx.tx, event.payload);
  }

  /** A removed operator's open tickets go to the other operators. */
  @EventPattern(OperatorEvents.REMOVED)
  async onOperatorRemoved(@Payload() event: Envelope<typeof OperatorEvents.REMOVED, OperatorRemovedV1>, @Ctx() ctx: EventContext): Promise<void> {
    await this.tickets.reassignFrom(ctx.tx, event.payload.userId);
  }
}
