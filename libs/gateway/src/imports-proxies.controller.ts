import { Body, Controller, Get, Inject, Param, Post, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { ImportProblems, importRun, importRunParams, MoveProblems, startImportBody } from '@hotdash/contracts';
import { CurrentOps, OpsPrincipal, OpsRoute } from '@hotdash/platform-auth';
import { ApiDoc, parseUuidParam } from '@hotdash/platform-http';
import { passThrough, ServiceClient } from './service-client';

/**
 * Pilot imports for the ops team (served by provisioning; what a pilot is and the runbook:
 * docs/pilot.md). The tenant does not exist here before its import, so these routes are not under
 * /ops/tenants/{id}: every call is an ops action (ops_actions), and the import's outcome is an entry
 * in the imported tenant's audit log. Platform operators' tokens only. The request carries the
 * pilot's key-encryption keys: nothing here logs or keeps a body. Shapes and codes:
 * libs/contracts/src/imports.api.ts.
 */
@Controller('ops/imports')
@OpsRoute()
export class OpsImportsController {
  constructor(@Inject(ServiceClient) private readonly services: ServiceClient) {}

  @ApiDoc({
    summary:
      "Ops: import a single-tenant pilot deployment's tenant: its control records (same id, slug, plan), its data key re-wrapped under the platform's key-encryption key, every tenant row moved live from the pilot's database (the pilot serves until the cut-over, which fences it), its knowledge vectors, then verified (counts and checksums, the audit chain, the key) and activated. 202 with the run; follow it at /ops/imports/{importId}. A dry run connects and checks everything and answers 200 with what would be imported",
    body: startImportBody,
    status: 202,
    response: importRun,
    problems: {
      404: `No shard of this name (${ImportProblems.SHARD_NOT_FOUND})`,
      409: `${ImportProblems.PILOT_SCHEMA_NEWER}, ${ImportProblems.PILOT_SCHEMA_OLDER}, ${ImportProblems.TENANT_EXISTS}, ${ImportProblems.IN_PROGRESS}, ${ImportProblems.PILOT_TENANT_NOT_READY}, ${ImportProblems.PILOT_BUSY}, ${ImportProblems.PLAN_UNKNOWN}, ${ImportProblems.SHARD_NOT_ACTIVE}, ${MoveProblems.REPLICATION_UNAVAILABLE}, ${MoveProblems.SCHEMA_DIFFERS}, ${MoveProblems.REPLICA_IDENTITY_MISSING}`,
      422: `${ImportProblems.PILOT_UNREACHABLE}, ${ImportProblems.PILOT_CREDENTIALS_MISSING}, ${ImportProblems.PILOT_AUTH_FAILED}, ${ImportProblems.PILOT_PRIVILEGE_MISSING}, ${ImportProblems.PILOT_NOT_SINGLE_TENANT}, ${ImportProblems.PILOT_KEY_INVALID}, ${ImportProblems.PILOT_KEY_UNUSABLE}`,
      503: `${ImportProblems.AUDIT_VERIFIER_MISSING}`,
    },
  })
  @Post()
  start(@CurrentOps() ops: OpsPrincipal, @Body() body: unknown, @Res() reply: FastifyReply): Promise<void> {
    return passThrough(reply, this.services.call('provisioning', 'POST', '/imports', ops, { body: body ?? {} }));
  }

  @ApiDoc({
    summary:
      'Ops: an import: status (running, rolling-back, succeeded, rolled-back, failed), the step running and its progress (tables copied, vectors copied), whether the cut-over was decided (from there the pilot refuses the tenant and the import only goes forward), each step with what it reported',
    params: importRunParams,
    response: importRun,
    problems: { 404: 'No import of this id (not-found)' },
  })
  @Get(':importId')
  run(@CurrentOps() ops: OpsPrincipal, @Param('importId') id: string, @Res() reply: FastifyReply): Promise<void> {
    return passThrough(reply, this.services.get('provisioning', `/imports/${parseUuidParam(id, 'importId')}`, ops));
  }
}
