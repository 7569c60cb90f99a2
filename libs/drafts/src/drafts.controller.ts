import { Body, Controller, Get, Headers, HttpCode, Inject, Param, Post, Put, Query, Res, UseGuards, UseInterceptors } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { Allow, CurrentPrincipal, InternalAuthGuard, Principal, TenantContextInterceptor } from '@hotdash/platform-auth';
import { parseUuidParam } from '@hotdash/platform-http';
import { QUOTA_RESERVATION_HEADER } from '@hotdash/contracts';
import { DecisionsService } from './decisions.service';
import { DraftMetricsDto, DraftMetricsService } from './draft-metrics';
import type { TicketDto, TicketSummaryDto } from './ticket-records';
import { TicketsService } from './tickets.service';

/**
 * The drafts service's API behind the gateway (internal tokens only; the tenant is the caller's).
 * Every role works its queue (drafts:read, drafts:review) within what it may see; tickets come in
 * with tickets:create (managers, admins, integration keys); team leads, managers and admins assign.
 */
@Controller('internal')
@UseGuards(InternalAuthGuard)
@UseInterceptors(TenantContextInterceptor)
export class DraftsController {
  constructor(
    @Inject(TicketsService) private readonly tickets: TicketsService,
    @Inject(DecisionsService) private readonly decisions: DecisionsService,
    @Inject(DraftMetricsService) private readonly drafts: DraftMetricsService,
  ) {}

  @Post('tickets')
  @Allow('tickets:create')
  async create(
    @CurrentPrincipal() p: Principal,
    @Body() body: unknown,
    @Headers(QUOTA_RESERVATION_HEADER) reservation: string | undefined,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<TicketDto> {
    const { ticket, created } = await this.tickets.create(p, body, reservation === undefined ? null : parseUuidParam(reservation, QUOTA_RESERVATION_HEADER));
    void reply.status(created ? 201 : 200);
    return ticket;
  }

  @Get('tickets')
  @Allow('drafts:read')
  list(@CurrentPrincipal() p: Principal, @Query() query: unknown): Promise<{ tickets: TicketSummaryDto[]; next: string | null }> {
    return this.tickets.list(p, query);
  }

  @Get('tickets/:id')
  @Allow('drafts:read')
  get(@CurrentPrincipal() p: Principal, @Param('id') id: string): Promise<TicketDto> {
    return this.tickets.get(p, parseUuidParam(id));
  }

  @Put('tickets/:id/assignee')
  @Allow('tickets:assign')
  assign(@CurrentPrincipal() p: Principal, @Param('id') id: string, @Body() body: unknown): Promise<TicketDto> {
    return this.tickets.assign(p, parseUuidParam(id), body);
  }

  @Post('tickets/:id/regenerate')
  @HttpCode(202)
  @Allow('drafts:review')
  regenerate(@CurrentPrincipal() p: Principal, @Param('id') id: string): Promise<TicketDto> {
    return this.decisions.regenerate(p, parseUuidParam(id));
  }

  @Post('tickets/:id/reply')
  @HttpCode(200)
  @Allow('drafts:review')
  reply(@CurrentPrincipal() p: Principal, @Param('id') id: string, @Body() body: unknown): Promise<TicketDto> {
    return this.decisions.reply(p, parseUuidParam(id), body);
  }

  @Post('drafts/:id/approve')
  @HttpCode(200)
  @Allow('drafts:review')
  approve(@CurrentPrincipal() p: Principal, @Param('id') id: string): Promise<TicketDto> {
    return this.decisions.approve(p, parseUuidParam(id));
  }

  @Post('drafts/:id/edit')
  @HttpCode(200)
  @Allow('drafts:review')
  edit(@CurrentPrincipal() p: Principal, @Param('id') id: string, @Body() body: unknown): Promise<TicketDto> {
    return this.decisions.edit(p, parseUuidParam(id), body);
  }

  @Post('drafts/:id/reject')
  @HttpCode(200)
  @Allow('drafts:review')
  reject(@CurrentPrincipal() p: Principal, @Param('id') id: string, @Body() body: unknown): Promise<TicketDto> {
    return this.decisions.reject(p, parseUuidParam(id), body);
  }

  @Get('draft-metrics')
  @Allow('usage:read')
  metrics(@CurrentPrincipal() p: Principal, @Query() query: unknown): Promise<DraftMetricsDto> {
    return this.drafts.metrics(p.tenantId, query);
  }
}
