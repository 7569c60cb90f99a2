import { Body, Controller, Get, Inject, Param, Post, Res, UseGuards } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import type { TenantMovePlan, TenantMoveRun } from '@hotdash/contracts';
import { actorOf, CallableBy, CurrentCaller, InternalAuthGuard, InternalCaller } from '@hotdash/platform-auth';
import { parseUuidParam } from '@hotdash/platform-http';
import { MoveTenantHandler } from './use-cases/move-tenant/move-tenant.handler';

/**
 * Live tenant moves, for the ops team only (the gateway's /ops/tenants/{id}/move and
 * /ops/tenants/{id}/moves/{run}). Shapes and problem codes: libs/contracts/src/moves.api.ts.
 */
@Controller()
@UseGuards(InternalAuthGuard)
@CallableBy('platform')
export class MovesController {
  constructor(@Inject(MoveTenantHandler) private readonly moves: MoveTenantHandler) {}

  /** Starts a move (202 with the run, which goes on as a saga; follow it at moves/:runId), or answers a dry run (200 with the plan). */
  @Post('tenants/:tenantId/move')
  async move(@Param('tenantId') id: string, @Body() body: unknown, @CurrentCaller() caller: InternalCaller, @Res({ passthrough: true }) reply: FastifyReply): Promise<TenantMovePlan | TenantMoveRun> {
    const answer = await this.moves.start(parseUuidParam(id, 'tenantId'), body, actorOf(caller));
    void reply.status('dryRun' in answer ? 200 : 202);
    return answer;
  }

  /** A move: its status, phase, steps (with what each reported) and error. */
  @Get('tenants/:tenantId/moves/:runId')
  run(@Param('tenantId') id: string, @Param('runId') runId: string): Promise<TenantMoveRun> {
    return this.moves.run(parseUuidParam(id, 'tenantId'), parseUuidParam(runId, 'runId'));
  }
}
