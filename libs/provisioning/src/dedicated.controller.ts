import { Body, Controller, Get, Inject, Param, Post, Res, UseGuards } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import type { DedicatedPlan, DedicatedRun } from '@hotdash/contracts';
import { actorOf, CallableBy, CurrentCaller, InternalAuthGuard, InternalCaller } from '@hotdash/platform-auth';
import { parseUuidParam } from '@hotdash/platform-http';
import { DedicateTenantHandler } from './use-cases/dedicate-tenant/dedicate-tenant.handler';
import { ShareTenantHandler } from './use-cases/share-tenant/share-tenant.handler';
import { DedicatedRuns } from './dedicated/dedicated-runs';

/**
 * Dedicated databases for Enterprise tenants, for the ops team only (the gateway's
 * /ops/tenants/{id}/dedicate, /share and /dedicated-runs/{run}). Shapes and problem codes:
 * libs/contracts/src/dedicated.api.ts.
 */
@Controller()
@UseGuards(InternalAuthGuard)
@CallableBy('platform')
export class DedicatedController {
  constructor(
    @Inject(DedicateTenantHandler) private readonly dedications: DedicateTenantHandler,
    @Inject(ShareTenantHandler) private readonly shares: ShareTenantHandler,
    @Inject(DedicatedRuns) private readonly runs: DedicatedRuns,
  ) {}

  /** Starts a dedicate run (202 with it; follow it at dedicated-runs/:runId), or answers a dry run (200 with the plan). */
  @Post('tenants/:tenantId/dedicate')
  async dedicate(@Param('tenantId') id: string, @Body() body: unknown, @CurrentCaller() caller: InternalCaller, @Res({ passthrough: true }) reply: FastifyReply): Promise<DedicatedPlan | DedicatedRun> {
    const answer = await this.dedications.start(parseUuidParam(id, 'tenantId'), body, actorOf(caller));
    void reply.status('dryRun' in answer ? 200 : 202);
    return answer;
  }

  /** Starts a share run (202 with it), or answers a dry run (200 with the plan). */
  @Post('tenants/:tenantId/share')
  async share(@Param('tenantId') id: string, @Body() body: unknown, @CurrentCaller() caller: InternalCaller, @Res({ passthrough: true }) reply: FastifyReply): Promise<DedicatedPlan | DedicatedRun> {
    const answer = await this.shares.start(parseUuidParam(id, 'tenantId'), body, actorOf(caller));
    void reply.status('dryRun' in answer ? 200 : 202);
    return answer;
  }

  /** A dedicate or share run: its status, phase, steps, the move it started, its error. */
  @Get('tenants/:tenantId/dedicated-runs/:runId')
  run(@Param('tenantId') id: string, @Param('runId') runId: string): Promise<DedicatedRun> {
    return this.runs.view(parseUuidParam(id, 'tenantId'), parseUuidParam(runId, 'runId'));
  }
}
