import { Controller, Inject } from '@nestjs/common';
import { Ctx, Payload } from '@nestjs/microservices';
import { EventPattern } from '@hotdash/platform-messaging';
import { DraftEvents, DraftFailedV1, DraftGeneratedV1, DraftGeneratedV2, Envelope, OperatorEvents, OperatorRemovedV1, parseTenantId, TenantEvents, TenantImportedV1, TenantRestoredV1, TicketEvents, TicketSubmittedV1 } from '@hotdash/contracts';
import type { EventContext } from '@hotdash/platform-messaging';
import type { OperatorInvitedV1, OperatorJoinedV1, OperatorRoleChangedV1, OperatorTeamChangedV1, TenantApprovalWorkflowsChangedV1 } from '@hotdash/contracts';
import { projectOperator } from './queue-members';
import { projectApprovalWorkflows } from './sla';
import { TicketsService } from './tickets.service';

/** The approval queue fed by events, each applied once (in the transport's transaction, with its inbox row). */
@Controller()
export class DraftsEventsHandler {
  constructor(@Inject(TicketsService) private readonly tickets: TicketsService) {}

  /** Tickets integrations submit: stored once and announced as ticket.received (this service never consumes its own events). */
  @EventPattern(TicketEvents.SUBMITTED)
  async onSubmitted(@Payload() event: Envelope<typeof TicketEvents.SUBMITTED, TicketSubmittedV1>, @Ctx() ctx: EventContext): Promise<void> {
    await this.tickets.onSubmitted(ctx.tx, event.payload, { correlationId: event.correlationId, causationId: event.id });
  }

  @EventPattern(DraftEvents.GENERATED)
  async onGenerated(@Payload() event: Envelope<typeof DraftEvents.GENERATED, DraftGeneratedV1 | DraftGeneratedV2>, @Ctx() ctx: EventContext): Promise<void> {
    await this.tickets.onGenerated(ctx.tx, event.payload);
  }

  @EventPattern(DraftEvents.FAILED)
  async onFailed(@Payload() event: Envelope<typeof DraftEvents.FAILED, DraftFailedV1>, @Ctx() ctx: EventContext): Promise<void> {
    await this.tickets.onFailed(ctx.tx, event.payload);
  }

  /** A pilot's tenant imported: its tickets still drafting have their drafts asked for again (their jobs stayed on the pilot). */
  @EventPattern(TenantEvents.IMPORTED)
  async onTenantImported(@Payload() event: Envelope<typeof TenantEvents.IMPORTED, TenantImportedV1>, @Ctx() ctx: EventContext): Promise<void> {
    await this.tickets.resumeAfterImport(ctx.tx, parseTenantId(event.tenantId), event.payload, { correlationId: event.correlationId, causationId: event.id });
  }

  /** A tenant restored from an archive: its tickets the archive caught drafting have new drafts asked for (their jobs were not in the archive). */
  @EventPattern(TenantEvents.RESTORED)
  async onTenantRestored(@Payload() event: Envelope<typeof TenantEvents.RESTORED, TenantRestoredV1>, @Ctx() ctx: EventContext): Promise<void> {
    await this.tickets.resumeAfterRestore(ctx.tx, parseTenantId(event.tenantId), event.payload, { correlationId: event.correlationId, causationId: event.id });
  }

  /** The tenant's approval workflows and their SLAs (sla.ts): new tickets take their SLA from the kept default workflow. */
  @EventPattern(TenantEvents.APPROVAL_WORKFLOWS_CHANGED)
  async onApprovalWorkflowsChanged(@Payload() event: Envelope<typeof TenantEvents.APPROVAL_WORKFLOWS_CHANGED, TenantApprovalWorkflowsChangedV1>, @Ctx() ctx: EventContext): Promise<void> {
    await projectApprovalWorkflows(ctx.tx, event);
  }

  /** The queue members (queue-members.ts): who is given tickets, which team a team lead sees. */
  @EventPattern(OperatorEvents.INVITED)
  async onOperatorInvited(@Payload() event: Envelope<typeof OperatorEvents.INVITED, OperatorInvitedV1>, @Ctx() ctx: EventContext): Promise<void> {
    await projectOperator(ctx.tx, event);
  }

  @EventPattern(OperatorEvents.JOINED)
  async onOperatorJoined(@Payload() event: Envelope<typeof OperatorEvents.JOINED, OperatorJoinedV1>, @Ctx() ctx: EventContext): Promise<void> {
    await projectOperator(ctx.tx, event);
  }

  @EventPattern(OperatorEvents.ROLE_CHANGED)
  async onOperatorRoleChanged(@Payload() event: Envelope<typeof OperatorEvents.ROLE_CHANGED, OperatorRoleChangedV1>, @Ctx() ctx: EventContext): Promise<void> {
    await projectOperator(ctx.tx, event);
  }

  @EventPattern(OperatorEvents.TEAM_CHANGED)
  async onOperatorTeamChanged(@Payload() event: Envelope<typeof OperatorEvents.TEAM_CHANGED, OperatorTeamChangedV1>, @Ctx() ctx: EventContext): Promise<void> {
    await projectOperator(ctx.tx, event);
  }

  /** A removed operator is given no more tickets, and their open tickets go to the other operators. */
  @EventPattern(OperatorEvents.REMOVED)
  async onOperatorRemoved(@Payload() event: Envelope<typeof OperatorEvents.REMOVED, OperatorRemovedV1>, @Ctx() ctx: EventContext): Promise<void> {
    await projectOperator(ctx.tx, event);
    await this.tickets.reassignFrom(ctx.tx, event.payload.userId);
  }
}
