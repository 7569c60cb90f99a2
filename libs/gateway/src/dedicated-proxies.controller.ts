import { Body, Controller, Get, Inject, Param, Post, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { dedicateBody, DedicatedProblems, dedicatedRun, dedicatedRunParams, MoveProblems, shareBody, ShardProblems } from '@hotdash/contracts';
import { Audited, CurrentOps, OpsPrincipal, OpsRoute } from '@hotdash/platform-auth';
import { ApiDoc, parseUuidParam } from '@hotdash/platform-http';
import { passThrough, ServiceClient } from './service-client';

/**
 * Dedicated databases for Enterprise tenants, for the ops team (served by provisioning; how it
 * works: docs/operations.md, "Dedicated databases"). Under /ops/tenants/{tenantId}, so every call is
 * an entry in that tenant's audit log (the run's outcome is recorded there too). Platform
 * operators' tokens only. Shapes and codes: libs/contracts/src/dedicated.api.ts.
 */
@Controller('ops/tenants')
@OpsRoute()
@Audited('tenant-dedicated-database')
export class OpsTenantDedicatedController {
  constructor(@Inject(ServiceClient) private readonly services: ServiceClient) {}

  @ApiDoc({
    summary:
      'Ops: give an Enterprise tenant a dedicated database, live: a free dedicated shard of its region reused, or a database created (on its shard’s server or the host/port given, by the platform’s owner role) and registered as a dedicated shard (checked, migrated, catalogue guard, relayed), then the tenant moved onto it while it keeps working. 202 with the run; follow it at /ops/tenants/{tenantId}/dedicated-runs/{runId}. A dry run checks everything and answers 200 with the plan',
    body: dedicateBody,
    status: 202,
    response: dedicatedRun,
    problems: {
      404: 'No tenant of this id (not-found)',
      409: `${DedicatedProblems.ALREADY_DEDICATED}, ${DedicatedProblems.RUN_IN_PROGRESS}, ${MoveProblems.IN_PROGRESS}, ${MoveProblems.ARCHIVE_RUN_IN_PROGRESS}, ${MoveProblems.INVALID_TENANT_STATUS}, ${DedicatedProblems.DATABASE_EXISTS}, ${ShardProblems.EXISTS}, ${DedicatedProblems.NO_FREE_SHARD}, ${MoveProblems.SCHEMA_DIFFERS}, ${MoveProblems.REPLICATION_UNAVAILABLE}, ${MoveProblems.TARGET_HOLDS_ROWS}`,
      422: `${DedicatedProblems.NOT_ENTERPRISE}, ${DedicatedProblems.CANNOT_CREATE_DATABASE}, ${ShardProblems.UNREACHABLE}`,
      503: `${MoveProblems.SHARD_UNAVAILABLE}`,
    },
  })
  @Post(':tenantId/dedicate')
  dedicate(@CurrentOps() ops: OpsPrincipal, @Param('tenantId') id: string, @Body() body: unknown, @Res() reply: FastifyReply): Promise<void> {
    return passThrough(reply, this.services.call('provisioning', 'POST', `/tenants/${parseUuidParam(id, 'tenantId')}/dedicate`, ops, { body: body ?? {} }));
  }

  @ApiDoc({
    summary:
      'Ops: move a tenant from its dedicated shard back to the active shared shard of its region with the fewest tenants (or the one named), live; the freed dedicated shard is then drained and retired (its database is kept), or with keep left active as a free dedicated shard for reuse. 202 with the run; a dry run answers 200 with the plan',
    body: shareBody,
    status: 202,
    response: dedicatedRun,
    problems: {
      404: `No tenant of this id, or no shard of the name given (not-found, ${MoveProblems.SHARD_NOT_FOUND})`,
      409: `${DedicatedProblems.NOT_DEDICATED}, ${DedicatedProblems.NO_SHARED_SHARD}, ${DedicatedProblems.RUN_IN_PROGRESS}, ${MoveProblems.IN_PROGRESS}, ${MoveProblems.ARCHIVE_RUN_IN_PROGRESS}, ${MoveProblems.INVALID_TENANT_STATUS}, ${MoveProblems.SCHEMA_DIFFERS}, ${MoveProblems.REPLICATION_UNAVAILABLE}, ${MoveProblems.TARGET_HOLDS_ROWS}`,
      503: `${MoveProblems.SHARD_UNAVAILABLE}`,
    },
  })
  @Post(':tenantId/share')
  share(@CurrentOps() ops: OpsPrincipal, @Param('tenantId') id: string, @Body() body: unknown, @Res() reply: FastifyReply): Promise<void> {
    return passThrough(reply, this.services.call('provisioning', 'POST', `/tenants/${parseUuidParam(id, 'tenantId')}/share`, ops, { body: body ?? {} }));
  }

  @ApiDoc({
    summary:
      'Ops: a dedicate or share run: status (running, rolling-back, succeeded, rolled-back, failed), the step running (create-database, register, move, finish; or reserve-shard, move, free-shard, finish), each step with what it reported, the live move it started with its phase and copy progress',
    params: dedicatedRunParams,
    response: dedicatedRun,
    problems: { 404: 'No dedicate or share run of this id for this tenant (not-found)' },
  })
  @Get(':tenantId/dedicated-runs/:runId')
  run(@CurrentOps() ops: OpsPrincipal, @Param('tenantId') id: string, @Param('runId') runId: string, @Res() reply: FastifyReply): Promise<void> {
    return passThrough(reply, this.services.get('provisioning', `/tenants/${parseUuidParam(id, 'tenantId')}/dedicated-runs/${parseUuidParam(runId, 'runId')}`, ops));
  }
}
