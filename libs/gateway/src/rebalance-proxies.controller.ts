import { Body, Controller, Get, HttpCode, Inject, Param, Post, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { RebalanceProblems, rebalanceRun, rebalanceRunParams, startRebalanceBody } from '@hotdash/contracts';
import { CurrentOps, OpsPrincipal, OpsRoute } from '@hotdash/platform-auth';
import { ApiDoc, parseUuidParam } from '@hotdash/platform-http';
import { passThrough, ServiceClient } from './service-client';

/**
 * Rebalancing a region's shared shards for the ops team (served by provisioning): a plan of tenant
 * moves that empties the region's draining shared shards and evens out its active ones in tenant
 * count and bytes, shown by a dry run and carried out one move at a time by default (each move is
 * the live tenant move, with its own ops action and audit entries). Platform operators' tokens
 * only. Shapes and codes: libs/contracts/src/rebalance.api.ts.
 */
@Controller('ops/rebalance')
@OpsRoute()
export class OpsRebalanceController {
  constructor(@Inject(ServiceClient) private readonly services: ServiceClient) {}

  @ApiDoc({
    summary:
      'Ops: plan (dryRun: true, 200 with the plan: the moves with tenant, from, to and bytes, each shard before and after, the spread of tenants and bytes before and after, the tenants left where they are and why) or start (dryRun: false, 202 with the run; follow it at /ops/rebalance/runs/{id}) the rebalance of a region’s shared shards. A move refused before it started is skipped; one that rolled back or failed stops the run',
    body: startRebalanceBody,
    status: 202,
    response: rebalanceRun,
    problems: {
      409: `A rebalance of the region is running (${RebalanceProblems.RUNNING}): follow it (its id is in the detail)`,
      422: `${RebalanceProblems.REGION_UNKNOWN} (no shard in the region), ${RebalanceProblems.TOO_FEW_SHARDS} (no active shared shard, or one shared shard and none draining)`,
      503: `A shard of the region could not be read (${RebalanceProblems.SHARD_UNAVAILABLE})`,
    },
  })
  @Post()
  @HttpCode(202)
  start(@CurrentOps() ops: OpsPrincipal, @Body() body: unknown, @Res() reply: FastifyReply): Promise<void> {
    return passThrough(reply, this.services.call('provisioning', 'POST', '/rebalance', ops, { body: body ?? {} }));
  }

  @ApiDoc({
    summary:
      'Ops: a rebalance run: status (running, succeeded, failed, interrupted), the plan it carries out, each move’s state (waiting, running with its move’s run id, succeeded, skipped with the refusal’s code, failed, not-run) and why it stopped',
    params: rebalanceRunParams,
    response: rebalanceRun,
    problems: { 404: 'No rebalance run of this id (not-found)' },
  })
  @Get('runs/:id')
  runById(@CurrentOps() ops: OpsPrincipal, @Param('id') id: string, @Res() reply: FastifyReply): Promise<void> {
    return passThrough(reply, this.services.get('provisioning', `/rebalance/runs/${parseUuidParam(id, 'id')}`, ops));
  }
}
