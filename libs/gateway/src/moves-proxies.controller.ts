import { Body, Controller, Get, Inject, Param, Post, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { DedicatedProblems, MoveProblems, startMoveBody, tenantMoveRun, tenantMoveRunParams } from '@hotdash/contracts';
import { Audited, CurrentOps, OpsPrincipal, OpsRoute } from '@hotdash/platform-auth';
import { ApiDoc, parseUuidParam } from '@hotdash/platform-http';
import { passThrough, ServiceClient } from './service-client';

/**
 * Live tenant moves for the ops team (served by provisioning; how a move works: docs/tenant-move.md).
 * Under /ops/tenants/{tenantId}, so every call is an entry in that tenant's audit log (the access
 * audit records ops calls on a tenant; the move's outcome is recorded there too). Platform
 * operators' tokens only. Shapes and codes: libs/contracts/src/moves.api.ts.
 */
@Controller('ops/tenants')
@OpsRoute()
@Audited('tenant-move')
export class OpsTenantMovesController {
  constructor(@Inject(ServiceClient) private readonly services: ServiceClient) {}

  @ApiDoc({
    summary:
      'Ops: move a tenant to another active shard of its region while it keeps working: its rows replicated and caught up, a cut-over that pauses that tenant alone (its writes wait, its reads never fail), the placement version bumped so every router follows, both copies verified, then its rows deleted from the source. 202 with the run; follow it at /ops/tenants/{tenantId}/moves/{runId}. A dry run checks everything and answers 200 with the plan. allowRegionChange: true lets ops move it to another region (its region becomes the target’s at the cut-over; recorded in the ops action and the tenant’s audit log)',
    body: startMoveBody,
    status: 202,
    response: tenantMoveRun,
    problems: {
      404: `No tenant or shard of this name (not-found, ${MoveProblems.SHARD_NOT_FOUND})`,
      409: `${MoveProblems.SAME_SHARD}, ${MoveProblems.SHARD_NOT_ACTIVE}, ${MoveProblems.SCHEMA_DIFFERS}, ${MoveProblems.TARGET_HOLDS_ROWS}, ${MoveProblems.REPLICATION_UNAVAILABLE}, ${MoveProblems.REPLICA_IDENTITY_MISSING}, ${MoveProblems.INVALID_TENANT_STATUS}, ${MoveProblems.IN_PROGRESS}, ${DedicatedProblems.RUN_IN_PROGRESS}, ${MoveProblems.ARCHIVE_RUN_IN_PROGRESS}`,
      422: `${MoveProblems.SHARD_OTHER_REGION} (data residency; allowRegionChange forces it)`,
      503: `${MoveProblems.SHARD_UNAVAILABLE}`,
    },
  })
  @Post(':tenantId/move')
  move(@CurrentOps() ops: OpsPrincipal, @Param('tenantId') id: string, @Body() body: unknown, @Res() reply: FastifyReply): Promise<void> {
    return passThrough(reply, this.services.call('provisioning', 'POST', `/tenants/${parseUuidParam(id, 'tenantId')}/move`, ops, { body: body ?? {} }));
  }

  @ApiDoc({
    summary:
      'Ops: a move: status (running, rolling-back, succeeded, rolled-back, failed), the step running, whether its decision was taken (from there it only goes forward), each step with what it reported, the initial copy’s progress while it runs',
    params: tenantMoveRunParams,
    response: tenantMoveRun,
    problems: { 404: 'No move of this id for this tenant (not-found)' },
  })
  @Get(':tenantId/moves/:runId')
  run(@CurrentOps() ops: OpsPrincipal, @Param('tenantId') id: string, @Param('runId') runId: string, @Res() reply: FastifyReply): Promise<void> {
    return passThrough(reply, this.services.get('provisioning', `/tenants/${parseUuidParam(id, 'tenantId')}/moves/${parseUuidParam(runId, 'runId')}`, ops));
  }
}
