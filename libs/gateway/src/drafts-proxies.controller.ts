import { Body, Controller, Get, Headers, Inject, Logger, Param, Post, Put, Query, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { assignTicketBody, createTicketBody, QUOTA_RESERVATION_HEADER, draftMetricsQuery, editDraftBody, manualReplyBody, rejectDraftBody, ticketListQuery, ticketListView, ticketView, draftMetricsView } from '@hotdash/contracts';
import { Allow, Audited, CurrentPrincipal, Principal } from '@hotdash/platform-auth';
import { ApiDoc, parseInput, parseUuidParam } from '@hotdash/platform-http';
import { IdempotentReplies, StoredReply, storedReply } from './idempotency';
import { passThrough, plainQuery, sendStored, ServiceClient } from './service-client';

/**
 * Tickets and the approval queue (served by the drafts service). Tickets come in from the tenant's
 * tools and integrations; each role sees its own queue (operators their tickets, team leads their
 * team's, managers and admins all); a ticket outside it answers 404 like one that does not exist.
 * Every call is an access entry of the tenant.
 */
@Controller('tickets')
@Audited('ticket')
export class TicketsProxyController {
  private readonly logger = new Logger('tickets');

  constructor(
    @Inject(ServiceClient) private readonly services: ServiceClient,
    @Inject(IdempotentReplies) private readonly idempotency: IdempotentReplies,
  ) {}

  @ApiDoc({
    summary: "A customer ticket in (201; drafted in the background, follow GET /tickets/{id}); counts against the plan's monthly tickets (429 quota-exceeded when used up); the same externalId or Idempotency-Key answers with the ticket already made",
    body: createTicketBody,
    status: 201,
    response: ticketView,
  })
  @Post()
  @Allow('tickets:create')
  async create(@CurrentPrincipal() p: Principal, @Body() body: unknown, @Headers('idempotency-key') key: string | undefined, @Res() reply: FastifyReply): Promise<void> {
    // Bad input is a 400 before any quota is held.
    parseInput(createTicketBody, body);
    const r = await this.idempotency.once({ tenantId: p.tenantId, route: 'POST /tickets' }, key, body, () => this.createMetered(p, body));
    await sendStored(reply, r);
  }

  /**
   * The plan's monthly ticket quota, exact under concurrency: one ticket is held with the quota
   * service before the drafts service stores it. The hold travels with the ticket (its
   * ticket.received names it) and the quota service settles it when it counts the ticket, so a
   * stored ticket counts exactly once whatever happens to this process afterwards. The hold is
   * released here when no ticket was made (an externalId already known, an error answer); when the
   * drafts service cannot be reached the hold is released too, and should the ticket have been
   * stored after all, quota still counts it from its ticket.received. The quota service unreachable
   * refuses the ticket (502; the caller retries) rather than take tickets nobody counts.
   */
  private async createMetered(p: Principal, body: unknown): Promise<StoredReply> {
    const held = await this.services.call('quota', 'POST', '/internal/reservations', p, { body: { metric: 'tickets', amount: 1, ttlSeconds: 300 } });
    if (!held.ok) return storedReply(held);
    const { reservationId } = (await held.json()) as { reservationId: string };
    const release = async () => {
      const r = await this.services.call('quota', 'POST', `/internal/reservations/${reservationId}/release`, p).catch((e: Error) => e);
      // An unreleased hold expires and gives the ticket back to the quota (5 minutes).
      if (r instanceof Error || !r.ok) this.logger.warn(`ticket reservation ${reservationId} of tenant ${p.tenantId}: release failed (${r instanceof Error ? r.message : r.status})`);
    };
    let res: Response;
    try {
      res = await this.services.call('drafts', 'POST', '/internal/tickets', p, { body: body ?? {}, headers: { [QUOTA_RESERVATION_HEADER]: reservationId } });
    } catch (err) {
      await release();
      throw err;
    }
    if (res.status !== 201) await release();
    return storedReply(res);
  }

  @ApiDoc({ summary: "The caller's queue, newest first (status, limit, before)", query: ticketListQuery, response: ticketListView })
  @Get()
  @Allow('drafts:read')
  list(@CurrentPrincipal() p: Principal, @Query() query: unknown, @Res() reply: FastifyReply): Promise<void> {
    return passThrough(reply, this.services.get('drafts', '/internal/tickets', p, plainQuery(query)));
  }

  @ApiDoc({ summary: 'A ticket with its drafts (pending, decided, failed) and its reply', resource: 'ticket', response: ticketView })
  @Get(':id')
  @Allow('drafts:read')
  get(@CurrentPrincipal() p: Principal, @Param('id') id: string, @Res() reply: FastifyReply): Promise<void> {
    return passThrough(reply, this.services.get('drafts', `/internal/tickets/${parseUuidParam(id)}`, p));
  }

  @ApiDoc({ summary: 'Give the ticket to an operator (team leads: within their team), or null to unassign (managers, admins)', body: assignTicketBody, resource: 'ticket', response: ticketView })
  @Put(':id/assignee')
  @Allow('tickets:assign')
  assign(@CurrentPrincipal() p: Principal, @Param('id') id: string, @Body() body: unknown, @Res() reply: FastifyReply): Promise<void> {
    return passThrough(reply, this.services.call('drafts', 'PUT', `/internal/tickets/${parseUuidParam(id)}/assignee`, p, { body: body ?? {} }));
  }

  @ApiDoc({ summary: 'Ask for a new draft after a rejected or failed one (202)', status: 202, resource: 'ticket' })
  @Post(':id/regenerate')
  @Allow('drafts:review')
  regenerate(@CurrentPrincipal() p: Principal, @Param('id') id: string, @Res() reply: FastifyReply): Promise<void> {
    return passThrough(reply, this.services.call('drafts', 'POST', `/internal/tickets/${parseUuidParam(id)}/regenerate`, p));
  }

  @ApiDoc({ summary: 'Reply by hand (a pending draft is set aside); reply.sent', body: manualReplyBody, resource: 'ticket', response: ticketView })
  @Post(':id/reply')
  @Allow('drafts:review')
  reply(@CurrentPrincipal() p: Principal, @Param('id') id: string, @Body() body: unknown, @Res() reply: FastifyReply): Promise<void> {
    return passThrough(reply, this.services.call('drafts', 'POST', `/internal/tickets/${parseUuidParam(id)}/reply`, p, { body: body ?? {} }));
  }
}

/** Decisions on a pending draft: approve (the reply goes out), edit then approve (the change kept), reject with a reason. */
@Controller('drafts')
@Allow('drafts:review')
@Audited('draft')
export class DraftsProxyController {
  constructor(@Inject(ServiceClient) private readonly services: ServiceClient) {}

  @ApiDoc({ summary: 'Approve the draft: it is sent as the reply (draft.approved, reply.sent)', resource: 'draft', response: ticketView })
  @Post(':id/approve')
  approve(@CurrentPrincipal() p: Principal, @Param('id') id: string, @Res() reply: FastifyReply): Promise<void> {
    return passThrough(reply, this.services.call('drafts', 'POST', `/internal/drafts/${parseUuidParam(id)}/approve`, p));
  }

  @ApiDoc({ summary: 'Edit the draft and approve it: the edited text is sent, the change kept as a diff (draft.edited, reply.sent)', body: editDraftBody, resource: 'draft', response: ticketView })
  @Post(':id/edit')
  edit(@CurrentPrincipal() p: Principal, @Param('id') id: string, @Body() body: unknown, @Res() reply: FastifyReply): Promise<void> {
    return passThrough(reply, this.services.call('drafts', 'POST', `/internal/drafts/${parseUuidParam(id)}/edit`, p, { body: body ?? {} }));
  }

  @ApiDoc({ summary: 'Reject the draft with a reason (then ask for a new one, or reply by hand)', body: rejectDraftBody, resource: 'draft', response: ticketView })
  @Post(':id/reject')
  reject(@CurrentPrincipal() p: Principal, @Param('id') id: string, @Body() body: unknown, @Res() reply: FastifyReply): Promise<void> {
    return passThrough(reply, this.services.call('drafts', 'POST', `/internal/drafts/${parseUuidParam(id)}/reject`, p, { body: body ?? {} }));
  }
}

/** Acceptance rate, edit rate and time to approval of the tenant's drafts, for managers and admins. */
@Controller('draft-metrics')
@Allow('usage:read')
@Audited('draft-metrics', 'read')
export class DraftMetricsProxyController {
  constructor(@Inject(ServiceClient) private readonly services: ServiceClient) {}

  @ApiDoc({ summary: 'Acceptance rate, edit rate, time to approval (from, to) and the open queue by status', query: draftMetricsQuery, response: draftMetricsView })
  @Get()
  metrics(@CurrentPrincipal() p: Principal, @Query() query: unknown, @Res() reply: FastifyReply): Promise<void> {
    return passThrough(reply, this.services.get('drafts', '/internal/draft-metrics', p, plainQuery(query)));
  }
}
