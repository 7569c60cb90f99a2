import { Body, Controller, Get, Inject, Param, Post, Res, UseGuards } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import type { RebalanceDryRun, RebalanceRun } from '@hotdash/contracts';
import { actorOf, CallableBy, CurrentCaller, InternalAuthGuard, InternalCaller } from '@hotdash/platform-auth';
import { parseUuidParam } from '@hotdash/platform-http';
import { RebalanceRegionHandler } from './use-cases/rebalance-region/rebalance-region.handler';

/**
 * Rebalancing a region's shared shards, for the ops team only (the gateway's /ops/rebalance and
 * /ops/rebalance/runs/{id}). Shapes and problem codes: libs/contracts/src/rebalance.api.ts.
 */
@Controller('rebalance')
@UseGuards(InternalAuthGuard)
@CallableBy('platform')
export class RebalanceController {
  constructor(@Inject(RebalanceRegionHandler) private readonly rebalance: RebalanceRegionHandler) {}

  /** A dry run answers 200 with the plan; a real run 202 with the run, which goes on in the background (follow it at runs/:id). */
  @Post()
  async start(@Body() body: unknown, @CurrentCaller() caller: InternalCaller, @Res({ passthrough: true }) reply: FastifyReply): Promise<RebalanceDryRun | RebalanceRun> {
    const answer = await this.rebalance.start(body, actorOf(caller));
    void reply.status('dryRun' in answer ? 200 : 202);
    return answer;
  }

  /** A run: each planned move's progress, and how it ended. */
  @Get('runs/:id')
  run(@Param('id') id: string): Promise<RebalanceRun> {
    return this.rebalance.get(parseUuidParam(id, 'id'));
  }
}
