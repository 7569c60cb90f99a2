import { Body, Controller, Get, HttpCode, Inject, Param, Post, Query, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { archiveList, BackupProblems, listBackupsQuery, restoreTenantBody, startBackupBody, tenantArchiveRun, tenantArchiveRunParams } from '@hotdash/contracts';
import { Audited, CurrentOps, OpsPrincipal, OpsRoute } from '@hotdash/platform-auth';
import { ApiDoc, parseUuidParam } from '@hotdash/platform-http';
import { passThrough, plainQuery, ServiceClient } from './service-client';

const TENANT = { 404: 'No tenant of this id (not-found)', 409: `The tenant is not active or suspended (${BackupProblems.INVALID_TENANT_STATUS}), or a backup or restore of it is running (${BackupProblems.RUN_IN_PROGRESS})` };

/**
 * Tenant backups and restores for the ops team (served by provisioning). Under
 * /ops/tenants/{tenantId}, so every call is an entry in that tenant's audit log (the access audit
 * records ops calls on a tenant; the run's outcome is recorded there too). Platform operators'
 * tokens only. Shapes and codes: libs/contracts/src/backups.api.ts.
 */
@Controller('ops/tenants')
@OpsRoute()
@Audited('tenant-archive')
export class OpsTenantBackupsController {
  constructor(@Inject(ServiceClient) private readonly services: ServiceClient) {}

  @ApiDoc({
    summary:
      'Ops: back a tenant up: every tenant table read in one consistent snapshot, its knowledge vectors, its schema version and its key check value (never its key: destroying the key erases every archive) into one archive, verified after writing. 202 with the run; follow it at /ops/tenants/{tenantId}/backup-runs/{runId}',
    body: startBackupBody,
    status: 202,
    response: tenantArchiveRun,
    problems: { ...TENANT, 422: `The tenant's data key is destroyed or missing (${BackupProblems.KEY_DESTROYED}, ${BackupProblems.KEY_MISSING})` },
  })
  @Post(':tenantId/backups')
  @HttpCode(202)
  backUp(@CurrentOps() ops: OpsPrincipal, @Param('tenantId') id: string, @Body() body: unknown, @Res() reply: FastifyReply): Promise<void> {
    return passThrough(reply, this.services.call('provisioning', 'POST', `/tenants/${parseUuidParam(id, 'tenantId')}/backups`, ops, { body: body ?? {} }));
  }

  @ApiDoc({ summary: 'Ops: the tenant’s archives, oldest first', response: archiveList })
  @Get(':tenantId/backups')
  list(@CurrentOps() ops: OpsPrincipal, @Param('tenantId') id: string, @Res() reply: FastifyReply): Promise<void> {
    return passThrough(reply, this.services.get('provisioning', `/tenants/${parseUuidParam(id, 'tenantId')}/backups`, ops));
  }

  @ApiDoc({
    summary:
      'Ops: restore a tenant from one of its archives onto its shard or another active shard of its region (the placement moves there), of the same or a newer schema version; with replace, its rows there are erased first. Rows are inserted and read back in one transaction (counts and checksums must equal the archive’s, the audit chain must verify), then its knowledge vectors. 202 with the run; a dry run answers 200 with what would happen',
    body: restoreTenantBody,
    status: 202,
    response: tenantArchiveRun,
    problems: {
      404: `No tenant, archive or shard of this name (not-found, ${BackupProblems.ARCHIVE_NOT_FOUND}, ${BackupProblems.SHARD_NOT_FOUND})`,
      409: `${BackupProblems.ROWS_PRESENT}, ${BackupProblems.SCHEMA_OLDER}, ${BackupProblems.SCHEMA_INCOMPATIBLE}, ${BackupProblems.SHARD_NOT_ACTIVE}, ${BackupProblems.RUN_IN_PROGRESS}, ${BackupProblems.INVALID_TENANT_STATUS}`,
      422: `${BackupProblems.KEY_DESTROYED} (a shredded tenant cannot be restored), ${BackupProblems.KEY_MISMATCH}, ${BackupProblems.KEY_MISSING}, ${BackupProblems.ARCHIVE_OF_ANOTHER_TENANT}, ${BackupProblems.ARCHIVE_CORRUPT}, ${BackupProblems.SHARD_OTHER_REGION}`,
      503: `${BackupProblems.SHARD_UNAVAILABLE}, ${BackupProblems.AUDIT_VERIFIER_MISSING}`,
    },
  })
  @Post(':tenantId/restore')
  restore(@CurrentOps() ops: OpsPrincipal, @Param('tenantId') id: string, @Body() body: unknown, @Res() reply: FastifyReply): Promise<void> {
    return passThrough(reply, this.services.call('provisioning', 'POST', `/tenants/${parseUuidParam(id, 'tenantId')}/restore`, ops, { body: body ?? {} }));
  }

  @ApiDoc({
    summary:
      'Ops: a backup or restore run: status (running, succeeded, failed, interrupted), its steps, and the result or the error once finished. An interrupted run left no archive (backup) or was rolled back (restore): start it again',
    params: tenantArchiveRunParams,
    response: tenantArchiveRun,
    problems: { 404: 'No run of this id for this tenant (not-found)' },
  })
  @Get(':tenantId/backup-runs/:runId')
  run(@CurrentOps() ops: OpsPrincipal, @Param('tenantId') id: string, @Param('runId') runId: string, @Res() reply: FastifyReply): Promise<void> {
    return passThrough(reply, this.services.get('provisioning', `/tenants/${parseUuidParam(id, 'tenantId')}/backup-runs/${parseUuidParam(runId, 'runId')}`, ops));
  }
}

/** Every tenant archive in the platform's archive store, for the ops team (served by provisioning). */
@Controller('ops/backups')
@OpsRoute()
export class OpsBackupsController {
  constructor(@Inject(ServiceClient) private readonly services: ServiceClient) {}

  @ApiDoc({ summary: 'Ops: every tenant archive (only one tenant’s with ?tenant=), by tenant and time', query: listBackupsQuery, response: archiveList })
  @Get()
  list(@CurrentOps() ops: OpsPrincipal, @Query() query: unknown, @Res() reply: FastifyReply): Promise<void> {
    return passThrough(reply, this.services.get('provisioning', '/backups', ops, plainQuery(query)));
  }
}
