import { Inject, Injectable } from '@nestjs/common';
import { sql } from 'kysely';
import { DedicatedProblems, MoveProblems, parseTenantId, shareBody, type DedicatedPlan, type DedicatedRun, type ShardRecord } from '@hotdash/contracts';
import { ControlDatabase, newId } from '@hotdash/platform-db';
import { SagaEngine } from '@hotdash/platform-jobs';
import { parseInput, ProblemException } from '@hotdash/platform-http';
import { OpsActions, ShardsRepository, toShardRecord } from '../../shards.repository';
import { shardInfoOf } from '../../backups/placed-tenant';
import { TENANT_SHARE_SAGA, type ShareInput } from '../../dedicated/dedicated.sagas';
import { DedicatedRuns, MOVE_STEPS, SHARE_STEPS } from '../../dedicated/dedicated-runs';
import type { MoveShard } from '../../moves/tenant-move.saga';

const problem = (status: number, code: string, title: string, detail: string) => new ProblemException(status, code, title, detail);

const SHARD_COLUMNS = ['id', 'name', 'host', 'port', 'database', 'kind', 'status', 'region', 'created_at'] as const;

const asMoveShard = (s: ShardRecord): MoveShard => ({ id: s.id, name: s.name, host: s.host, port: s.port, database: s.database, kind: s.kind, status: s.status });

/**
 * Moves a tenant from its dedicated shard back to shared infrastructure (the ops API's POST
 * /ops/tenants/{id}/share; the reverse of dedicate, for a downgrade), as the tenant-share saga
 * (dedicated.sagas.ts), followed at /dedicated-runs/{runId}: to the active shared shard of its
 * region with the fewest tenants (or the one named), live; then the freed dedicated shard is
 * drained and retired (its database is kept: dropping it is a separate, manual step, see
 * docs/operations.md), or with `keep` left active as a free dedicated shard for the next dedicate.
 *
 * Refused before anything is done (4xx, stable codes, recorded in ops_actions): an unknown tenant
 * (404); not active or suspended (409); not on a dedicated shard (409); a dedicate, share, move,
 * backup or restore of it running (409); no active shared shard in its region, or the named one is
 * not one (409); the mover's checks of the two shards (409/503, the move's codes). Any plan may be
 * shared back. A dry run stops there (200, what would happen).
 */
@Injectable()
export class ShareTenantHandler {
  constructor(
    @Inject(SagaEngine) private readonly engine: SagaEngine,
    @Inject(ControlDatabase) private readonly control: ControlDatabase,
    @Inject(ShardsRepository) private readonly shards: ShardsRepository,
    @Inject(OpsActions) private readonly actions: OpsActions,
    @Inject(DedicatedRuns) private readonly runs: DedicatedRuns,
  ) {}

  async start(id: string, body: unknown, actor: string): Promise<DedicatedPlan | DedicatedRun> {
    const tenantId = parseTenantId(id);
    const input = parseInput(shareBody, body ?? {});
    const keep = input.keep === true;
    try {
      const tenant = await this.runs.placedTenant(tenantId);
      const source = tenant.shard;
      if (source.kind !== 'dedicated')
        throw problem(409, DedicatedProblems.NOT_DEDICATED, 'Tenant on a shared shard', `tenant ${tenantId} is on shared shard ${source.name}: there is no dedicated database to share back from`);
      await this.runs.refuseRunning(tenantId);
      const target = await this.sharedShard(source.region, input.shard);
      await this.runs.preflight({ tenantId, source: shardInfoOf(source), target: shardInfoOf(target) });
      const view = { shard: target.name, host: target.host, port: target.port, database: target.database, region: source.region, kind: 'shared' as const, mode: null };
      if (input.dryRun) return { dryRun: true, kind: 'share', tenantId, source: source.name, target: view, keep, steps: SHARE_STEPS, moveSteps: MOVE_STEPS };

      const runId = newId();
      const sagaInput: ShareInput = { runId, tenantId, actor, moveId: newId(), keep, source: asMoveShard(source), target: asMoveShard(target), region: source.region };
      await this.control.withControl(async (tx) => {
        await sql`select pg_advisory_xact_lock(hashtext('tenant-move'), hashtext(${tenantId}::text))`.execute(tx.db);
        await this.runs.refuseRunning(tenantId);
        await this.engine.start(TENANT_SHARE_SAGA, sagaInput, { tenantId, sagaId: runId, tx });
        await this.actions.record(tx.db, { actor, action: 'tenant.share', target: tenantId, outcome: 'started', detail: { run: runId, from: source.name, to: target.name, keep } });
      });
      await this.engine.kick(runId);
      return this.runs.view(tenantId, runId);
    } catch (err) {
      if (err instanceof ProblemException && !input.dryRun) await this.actions.record(this.control.db, { actor, action: 'tenant.share', target: tenantId, outcome: err.code, detail: { reason: err.detail ?? err.title } });
      throw err;
    }
  }

  /** The named shard when it is an active shared shard of the region; else the region's active shared shard with the fewest tenants. */
  private async sharedShard(region: string, name?: string): Promise<ShardRecord> {
    if (name) {
      const s = await this.shards.byName(this.control.db, name);
      if (!s) throw problem(404, MoveProblems.SHARD_NOT_FOUND, 'Shard not found', `no shard is named ${name} (\`hotdash-ops shards list\`)`);
      if (s.kind !== 'shared' || s.status !== 'active' || s.region !== region)
        throw problem(409, DedicatedProblems.NO_SHARED_SHARD, 'Not an active shared shard of the region', `shard ${name} is ${s.status}, ${s.kind}, in region ${s.region}: name an active shared shard of region ${region}`);
      return s;
    }
    const row = await this.control.db
      .selectFrom('shards')
      .select(SHARD_COLUMNS)
      .where('kind', '=', 'shared')
      .where('status', '=', 'active')
      .where('region', '=', region)
      .orderBy('tenant_count')
      .orderBy('name')
      .limit(1)
      .executeTakeFirst();
    if (!row) throw problem(409, DedicatedProblems.NO_SHARED_SHARD, 'No shared shard in the region', `region ${region} has no active shared shard: register one (\`hotdash-ops shards register … --kind shared --region ${region}\`)`);
    return toShardRecord(row);
  }
}
