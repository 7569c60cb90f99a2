import { Inject, Injectable } from '@nestjs/common';
import { sql } from 'kysely';
import {
  dedicateBody,
  DedicatedProblems,
  MoveProblems,
  parseTenantId,
  ShardProblems,
  type DedicateBody,
  type DedicatedPlan,
  type DedicatedRun,
  type DedicatedTargetMode,
  type ShardRecord,
} from '@hotdash/contracts';
import { ControlDatabase, newId, ShardInspector, ShardUnreachableError } from '@hotdash/platform-db';
import { SagaEngine } from '@hotdash/platform-jobs';
import { parseInput, ProblemException } from '@hotdash/platform-http';
import { OpsActions, ShardsRepository, toShardRecord } from '../../shards.repository';
import { shardInfoOf } from '../../backups/placed-tenant';
import { DedicatedDatabases, type DatabaseFacts } from '../../dedicated/dedicated-database';
import { TENANT_DEDICATE_SAGA, type DedicateInput, type DedicatedTargetInput } from '../../dedicated/dedicated.sagas';
import type { PlacedTenant } from '../../backups/placed-tenant';
import { DEDICATE_STEPS, DedicatedRuns, MOVE_STEPS } from '../../dedicated/dedicated-runs';

const problem = (status: number, code: string, title: string, detail: string) => new ProblemException(status, code, title, detail);

/** The name parts made from a tenant id: its 32 hex digits. */
const hexOf = (tenantId: string) => tenantId.replace(/-/g, '');
/** Default database and shard names of a tenant's dedicated database (deterministic: a retry finds its own). */
export const defaultDedicatedDatabase = (tenantId: string) => `hotdash_dedicated_${hexOf(tenantId)}`;
export const defaultDedicatedShard = (tenantId: string) => `dedicated-${hexOf(tenantId)}`;

const SHARD_COLUMNS = ['id', 'name', 'host', 'port', 'database', 'kind', 'status', 'region', 'created_at'] as const;


interface ChosenTarget {
  mode: DedicatedTargetMode;
  target: DedicatedTargetInput;
}

/**
 * Gives an Enterprise tenant a dedicated database (the ops API's POST
 * /ops/tenants/{id}/dedicate), as the tenant-dedicate saga (dedicated.sagas.ts), followed at
 * /dedicated-runs/{runId}: a database created on its shard's server (or at the location given) and
 * registered as a dedicated shard of its region, or a free dedicated shard of its region reused
 * (the default when one exists and no location is given), then the tenant moved onto it live.
 *
 * Refused before anything is done (4xx, stable codes, nothing changed, recorded in ops_actions):
 * an unknown tenant (404); a tenant not active or suspended (409); not on the Enterprise plan (422);
 * on a dedicated shard already (409); a dedicate, share, move, backup or restore of it running
 * (409); a database of that name on that server the platform did not make for this tenant, or a
 * name or location registered otherwise (409); the owner role unable to create databases there
 * (422); reuse asked for and no free dedicated shard in the region (409); the server unreachable
 * (422); the tenant's shard without logical decoding or behind on migrations (409). A dry run
 * stops there (200, what would happen).
 */
@Injectable()
export class DedicateTenantHandler {
  constructor(
    @Inject(SagaEngine) private readonly engine: SagaEngine,
    @Inject(ControlDatabase) private readonly control: ControlDatabase,
    @Inject(ShardsRepository) private readonly shards: ShardsRepository,
    @Inject(OpsActions) private readonly actions: OpsActions,
    @Inject(ShardInspector) private readonly inspector: ShardInspector,
    @Inject(DedicatedDatabases) private readonly databases: DedicatedDatabases,
    @Inject(DedicatedRuns) private readonly runs: DedicatedRuns,
  ) {}

  async start(id: string, body: unknown, actor: string): Promise<DedicatedPlan | DedicatedRun> {
    const tenantId = parseTenantId(id);
    const input = parseInput(dedicateBody, body ?? {});
    try {
      const tenant = await this.runs.placedTenant(tenantId);
      this.refuseTenant(tenant);
      await this.runs.refuseRunning(tenantId);
      await this.checkSource(tenant.shard);
      const chosen = await this.choose(tenant, input);
      if (input.dryRun)
        return { dryRun: true, kind: 'dedicate', tenantId, source: tenant.shard.name, target: { ...targetView(chosen.target), mode: chosen.mode }, keep: null, steps: DEDICATE_STEPS, moveSteps: MOVE_STEPS };

      const runId = newId();
      const sagaInput: DedicateInput = { runId, tenantId, actor, moveId: newId(), mode: chosen.mode, source: tenant.shard.name, target: chosen.target };
      await this.control.withControl(async (tx) => {
        // The lock of the tenant's moves, and its row (a plan change waits, then sees this run).
        await sql`select pg_advisory_xact_lock(hashtext('tenant-move'), hashtext(${tenantId}::text))`.execute(tx.db);
        const t = await tx.db.selectFrom('tenants').select(['plan_code', 'status']).where('id', '=', tenantId).forShare().executeTakeFirstOrThrow();
        this.refuseTenant({ ...tenant, plan: t.plan_code, status: t.status });
        await this.runs.refuseRunning(tenantId);
        if (chosen.mode === 'reuse') {
          // The free shard reserved with the start: draining, so no sign-up or other run takes it.
          const s = await this.shards.byName(tx.db, chosen.target.shard, true);
          if (!s || s.status !== 'active' || s.kind !== 'dedicated' || (await this.shards.tenantsHeld(tx.db, s.id)) > 0)
            throw problem(409, DedicatedProblems.NO_FREE_SHARD, 'No free dedicated shard', `shard ${chosen.target.shard} was taken meanwhile: run the command again`);
          await this.shards.setStatus(tx.db, s.id, 'draining');
          await this.actions.record(tx.db, { actor, action: 'shard.drain', target: s.name, outcome: 'done', detail: { from: 'active', to: 'draining', reason: `reserved for dedicate run ${runId}` } });
        }
        await this.engine.start(TENANT_DEDICATE_SAGA, sagaInput, { tenantId, sagaId: runId, tx });
        await this.actions.record(tx.db, { actor, action: 'tenant.dedicate', target: tenantId, outcome: 'started', detail: { run: runId, mode: chosen.mode, from: tenant.shard.name, ...chosen.target } });
      });
      await this.engine.kick(runId);
      return this.runs.view(tenantId, runId);
    } catch (err) {
      if (err instanceof ProblemException && !input.dryRun) await this.actions.record(this.control.db, { actor, action: 'tenant.dedicate', target: tenantId, outcome: err.code, detail: { reason: err.detail ?? err.title } });
      throw err;
    }
  }

  private refuseTenant(t: Pick<PlacedTenant, 'id' | 'plan' | 'status' | 'shard'>): void {
    if (!['active', 'suspended'].includes(t.status)) throw problem(409, MoveProblems.INVALID_TENANT_STATUS, 'Tenant not movable', `tenant ${t.id} is ${t.status}; only an active or suspended tenant is moved`);
    if (t.plan !== 'enterprise')
      throw problem(422, DedicatedProblems.NOT_ENTERPRISE, 'Not an Enterprise tenant', `tenant ${t.id} is on the ${t.plan} plan; only Enterprise tenants get a dedicated database (\`hotdash-ops tenants plan ${t.id} enterprise\` first)`);
    if (t.shard.kind === 'dedicated')
      throw problem(409, DedicatedProblems.ALREADY_DEDICATED, 'Tenant on a dedicated shard already', `tenant ${t.id} is on dedicated shard ${t.shard.name} already (\`hotdash-ops tenants share ${t.id}\` moves it back to a shared one)`);
  }

  /** The tenant's shard must decode logical replication and be at this build's schema (the new database is migrated to it). */
  private async checkSource(source: ShardRecord): Promise<void> {
    let state: { walLevel: string; pending: string[] };
    try {
      const walLevel = await this.inspector.as(source, 'owner', async (c) => (await c.query<{ w: string }>(`select current_setting('wal_level') as w`)).rows[0]!.w);
      state = { walLevel, pending: (await this.inspector.migrationState(source, 'tenant')).pending };
    } catch (err) {
      throw problem(503, MoveProblems.SHARD_UNAVAILABLE, 'Shard unavailable', `shard ${source.name} could not be read: ${(err as Error).message}`);
    }
    if (state.walLevel !== 'logical')
      throw problem(409, MoveProblems.REPLICATION_UNAVAILABLE, 'Logical replication unavailable', `shard ${source.name} runs with wal_level=${state.walLevel}: a move needs wal_level=logical`);
    if (state.pending.length)
      throw problem(409, MoveProblems.SCHEMA_DIFFERS, 'Shard behind on migrations', `shard ${source.name} lacks ${state.pending.slice(0, 3).join(', ')}: migrate it first (\`hotdash-ops migrations run\`); a new dedicated database is migrated to this build's version`);
  }

  /** Where the tenant goes: a free dedicated shard reused, or a database to create (or to adopt: one the platform made for this tenant before). */
  private async choose(tenant: PlacedTenant, b: DedicateBody): Promise<ChosenTarget> {
    const region = tenant.shard.region;
    const located = b.host !== undefined || b.port !== undefined || b.database !== undefined;
    if (b.reuse === true || (b.reuse === undefined && !located)) {
      const free = await this.freeShard(region, b.shard);
      if (free) {
        await this.runs.preflight({ tenantId: tenant.id, source: shardInfoOf(tenant.shard), target: shardInfoOf(free) });
        return { mode: 'reuse', target: { shard: free.name, shardId: free.id, host: free.host, port: free.port, database: free.database, region } };
      }
      if (b.reuse === true)
        throw problem(
          409,
          DedicatedProblems.NO_FREE_SHARD,
          'No free dedicated shard',
          b.shard
            ? `shard ${b.shard} is not a free dedicated shard of region ${region} (active, kind dedicated, no tenant)`
            : `region ${region} has no free dedicated shard (active, kind dedicated, no tenant): leave reuse out to create a database`,
        );
    }
    const target: DedicatedTargetInput = {
      shard: b.shard ?? defaultDedicatedShard(tenant.id),
      shardId: null,
      host: b.host ?? tenant.shard.host,
      port: b.port ?? tenant.shard.port,
      database: b.database ?? defaultDedicatedDatabase(tenant.id),
      region,
    };
    // Registered already: only as this same dedicated shard of the region, retired or holding no tenant (a retry, or a second dedicate after a share).
    for (const s of await this.shards.byNameOrLocation(this.control.db, target.shard, target)) {
      const same = s.name === target.shard && s.host === target.host && s.port === target.port && s.database === target.database && s.kind === 'dedicated' && s.region === region;
      if (!same && s.name === target.shard)
        throw problem(409, ShardProblems.EXISTS, 'Shard exists', `shard ${s.name} is registered as ${s.kind} in region ${s.region} at ${s.host}:${s.port}/${s.database}: name another shard (shard)`);
      if (!same) throw problem(409, DedicatedProblems.DATABASE_EXISTS, 'Database is another shard', `${target.host}:${target.port}/${target.database} is shard ${s.name}: name another database (database)`);
      if (s.status !== 'retired' && (await this.shards.tenantsHeld(this.control.db, s.id)) > 0)
        throw problem(409, DedicatedProblems.DATABASE_EXISTS, 'Database holds a tenant', `${target.host}:${target.port}/${target.database} is shard ${s.name}, which holds a tenant: name another database (database)`);
    }
    let facts: DatabaseFacts;
    try {
      facts = await this.databases.facts(target, target.database);
    } catch (err) {
      const reason = err instanceof ShardUnreachableError ? err.reason : (err as Error).message;
      throw problem(422, ShardProblems.UNREACHABLE, 'Server unreachable', `${target.host}:${target.port} cannot be reached as the owner role (${reason}). Nothing was created.`);
    }
    if (facts.exists) {
      if (facts.marker?.tenantId !== tenant.id)
        throw problem(
          409,
          DedicatedProblems.DATABASE_EXISTS,
          'Database exists',
          `database ${target.database} exists on ${target.host}:${target.port} and was not made by the platform for tenant ${tenant.id}${facts.marker ? ` (it was for tenant ${facts.marker.tenantId})` : ''}: name another database, or drop that one if it is yours and unused`,
        );
      return { mode: 'adopt', target };
    }
    if (!(await this.databases.canCreate(target)))
      throw problem(
        422,
        DedicatedProblems.CANNOT_CREATE_DATABASE,
        'Owner role cannot create databases',
        `the owner role ${this.databases.ownerRole} has no CREATEDB on ${target.host}:${target.port}: grant it (ALTER ROLE ${this.databases.ownerRole} CREATEDB), or create the database yourself and register it as a dedicated shard (\`hotdash-ops shards register … --kind dedicated\`), then dedicate with --reuse`,
      );
    return { mode: 'create', target };
  }

  /** A free dedicated shard of the region (active, kind dedicated, no tenant): the named one, else the first by name. */
  private async freeShard(region: string, name?: string): Promise<ShardRecord | undefined> {
    let q = this.control.db.selectFrom('shards').select(SHARD_COLUMNS).where('kind', '=', 'dedicated').where('status', '=', 'active').where('region', '=', region).where('tenant_count', '=', 0);
    if (name) q = q.where('name', '=', name);
    for (const row of await q.orderBy('name').execute()) {
      const s = toShardRecord(row);
      // tenant_count is kept at commit; the placements say it for sure (an offboarded tenant's record does not count).
      if ((await this.shards.tenantsHeld(this.control.db, s.id)) === 0) return s;
    }
    return undefined;
  }
}

function targetView(t: DedicatedTargetInput) {
  return { shard: t.shard, host: t.host, port: t.port, database: t.database, region: t.region, kind: 'dedicated' as const };
}
