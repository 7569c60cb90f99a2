import { Body, Controller, Get, HttpCode, Inject, Param, Post, Query, Res, UseGuards } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { listBackupsQuery, type ArchiveList, type RestorePlan, type TenantArchiveRun } from '@hotdash/contracts';
import { actorOf, CallableBy, CurrentCaller, InternalAuthGuard, InternalCaller } from '@hotdash/platform-auth';
import { parseInput, parseUuidParam } from '@hotdash/platform-http';
import { BackUpTenantHandler } from './use-cases/back-up-tenant/back-up-tenant.handler';
import { RestoreTenantHandler } from './use-cases/restore-tenant/restore-tenant.handler';
import { ListBackupsHandler } from './use-cases/list-backups/list-backups.handler';
import { TenantArchiveRuns } from './backups/tenant-archive-runs';

/**
 * Tenant backups and restores, for the ops team only (the gateway's /ops/tenants/{id}/backups,
 * /restore, /backup-runs/{run} and /ops/backups). Shapes and problem codes:
 * libs/contracts/src/backups.api.ts.
 */
@Controller()
@UseGuards(InternalAuthGuard)
@CallableBy('platform')
export class BackupsController {
  constructor(
    @Inject(BackUpTenantHandler) private readonly backups: BackUpTenantHandler,
    @Inject(RestoreTenantHandler) private readonly restores: RestoreTenantHandler,
    @Inject(ListBackupsHandler) private readonly listing: ListBackupsHandler,
    @Inject(TenantArchiveRuns) private readonly runs: TenantArchiveRuns,
  ) {}

  /** Starts a backup: 202 with the run, which goes on in the background; follow it at backup-runs/:runId. */
  @Post('tenants/:tenantId/backups')
  @HttpCode(202)
  backUp(@Param('tenantId') id: string, @Body() body: unknown, @CurrentCaller() caller: InternalCaller): Promise<TenantArchiveRun> {
    return this.backups.start(parseUuidParam(id, 'tenantId'), body, actorOf(caller));
  }

  /** The tenant's archives, oldest first. */
  @Get('tenants/:tenantId/backups')
  tenantBackups(@Param('tenantId') id: string): Promise<ArchiveList> {
    return this.listing.execute(parseUuidParam(id, 'tenantId'));
  }

  /** Starts a restore (202 with the run), or answers a dry run (200 with what would happen). */
  @Post('tenants/:tenantId/restore')
  async restore(@Param('tenantId') id: string, @Body() body: unknown, @CurrentCaller() caller: InternalCaller, @Res({ passthrough: true }) reply: FastifyReply): Promise<RestorePlan | TenantArchiveRun> {
    const answer = await this.restores.start(parseUuidParam(id, 'tenantId'), body, actorOf(caller));
    void reply.status('dryRun' in answer ? 200 : 202);
    return answer;
  }

  /** A backup or restore run: its steps and, once finished, its result or error. */
  @Get('tenants/:tenantId/backup-runs/:runId')
  run(@Param('tenantId') id: string, @Param('runId') runId: string): Promise<TenantArchiveRun> {
    return this.runs.get(parseUuidParam(id, 'tenantId'), parseUuidParam(runId, 'runId'));
  }

  /** Every archive in the store (of one tenant with ?tenant=), oldest first. */
  @Get('backups')
  list(@Query() query: unknown): Promise<ArchiveList> {
    return this.listing.execute(parseInput(listBackupsQuery, query ?? {}).tenant);
  }
}
