import { Inject, Injectable } from '@nestjs/common';
import { sql } from 'kysely';
import { DedicatedProblems, MoveProblems, parseTenantId, startMoveBody, type MoveStatus, type ShardRecord, type TenantMovePlan, type TenantMoveRun } from '@hotdash/contracts';
import { ControlDatabase, newId, TenantMove, TenantMoveError, TenantMover } from '@hotdash/platform-db';
import { SagaEngine, type SagaStatus } from '@hotdash/platform-jobs';
import { notFound, parseInput, ProblemException } from '@hotdash/platform-http';
import { TenantArchiveRunsRepository } from '../../backups/tenant-archive-runs.repository';
import { OpsActions, ShardsRepository, toShardRecord } from '../../shards.repository';
import { MoveSteps, regionChangeOf, TENANT_MOVE_SAGA, tenantMoveSaga, type MoveShard, type TenantMoveInput } from '../../moves/tenant-move.saga';
import { TENANT_DEDICATE_SAGA, TENANT_SHARE_SAGA } from '../../dedicated/dedicated.sagas';

const problem = (status: number, code: string, title: string, detail: string) => new ProblemException(status, code, title, detail);

/** Statuses whose tenant may be moved: it exists and is not being created or erased. */
const MOVABLE = ['active', 'suspended'];

/** The mover's preflight codes as the API's problems. */
const PREFLIGHT: Record<string, { status: number; code: string; title: string }> = {
  'replication-unavailable': { status: 409, code: MoveProblems.REPLICATION_UNAVAILABLE, title: 'Logical replication unavailable' },
  'schema-differs': { status: 409, code: MoveProblems.SCHEMA_DIFFERS, title: 'Shards at different schema versions' },
  'mover-role-unavailable': { status: 503, code: MoveProblems.SHARD_UNAVAILABLE, title: 'Mover role cannot connect' },
  'target-holds-rows': { status: 409, code: MoveProblems.TARGET_HOLDS_ROWS, title: 'Tenant rows on the target' },
  'replica-identity-missing': { status: 409, code: MoveProblems.REPLICA_IDENTITY_MISSING, title: 'Replica identity missing' },
};

/** The step descriptions of the saga, for dry runs (the definition is built without dependencies: only its steps' ids and descriptions are read). */
const STEPS = tenantMoveSaga({} as Parameters<typeof tenantMoveSaga>[0]).steps.map((s) => ({ id: s.id, description: s.description }));

const shardOfRecord = (s: ShardRecord): MoveShard => ({ id: s.id, name: s.name, host: s.host, port: s.port, database: s.database, kind: s.kind, status: s.status });

/**
 * Moves a tenant to another shard live (the ops API's POST /ops/tenants/{id}/move), as the
 * tenant-move saga, followed at /moves/{runId}. Refused before anything is done (4xx, stable codes,
 * nothing changed): an unknown tenant or shard; a tenant not active or suspended; the shard it is on;
 * a target draining or retired, or in another region (data residency) unless ops force it with
 * `allowRegionChange` (the tenant's region then becomes the target's at the cut-over); a move of the
 * tenant already running (one at a time per tenant), a dedicate or share run of it, or a backup or restore of it; shards at
 * different schema versions; a source without logical decoding; a target that holds rows of the
 * tenant. A dry run stops there (200, what would happen). A started move is an ops action
 * (`tenant.move`, with the region change if any) and, once finished, an entry in the tenant's audit
 * log (the saga's last step; a region change is a second entry, `tenant-region`).
 */
@Injectable()
export class MoveTenantHandler {
  constructor(
    @Inject(SagaEngine) private readonly engine: SagaEngine,
    @Inject(ControlDatabase) private readonly control: ControlDatabase,
    @Inject(ShardsRepository) private readonly shards: ShardsRepository,
    @Inject(TenantArchiveRunsRepository) private readonly archiveRuns: TenantArchiveRunsRepository,
    @Inject(TenantMover) private readonly mover: TenantMover,
    // Last and defaulted: callers outside Nest (benchmarks) construct the handler with the five above.
    @Inject(OpsActions) private readonly actions: OpsActions = new OpsActions(),
  ) {}

  /** `origin`: what started the move when not an ops call of its own (a rebalance run), for the ops action. */
  async start(id: string, body: unknown, actor: string, origin?: { rebalanceRun: string }): Promise<TenantMovePlan | TenantMoveRun> {
    const tenantId = parseTenantId(id);
    const { shard: targetName, dryRun, allowRegionChange } = parseInput(startMoveBody, body);
    const placed = await this.control.db
      .selectFrom('tenants as t')
      .leftJoin('tenant_placements as p', 'p.tenant_id', 't.id')
      .leftJoin('shards as s', 's.id', 'p.shard_id')
      .select(['t.status', 't.region as tenant_region', 'p.version', 's.id as shard_id', 's.name', 's.host', 's.port', 's.database', 's.kind', 's.status as shard_status', 's.region', 's.created_at'])
      .where('t.id', '=', tenantId)
      .executeTakeFirst();
    if (!placed) throw notFound(`tenant ${tenantId}`);
    if (!MOVABLE.includes(placed.status) || placed.shard_id === null)
      throw problem(409, MoveProblems.INVALID_TENANT_STATUS, 'Tenant not movable', `tenant ${tenantId} is ${placed.status}${placed.shard_id === null ? ' and not placed' : ''}; only an active or suspended tenant is moved`);
    const source = toShardRecord({ id: placed.shard_id, name: placed.name!, host: placed.host!, port: placed.port!, database: placed.database!, kind: placed.kind!, status: placed.shard_status!, region: placed.region!, created_at: placed.created_at! });
    const target = await this.shards.byName(this.control.db, targetName);
    if (!target) throw problem(404, MoveProblems.SHARD_NOT_FOUND, 'Shard not found', `no shard is named ${targetName} (\`hotdash-ops shards list\`)`);
    if (target.id === source.id) throw problem(409, MoveProblems.SAME_SHARD, 'Already on that shard', `tenant ${tenantId} is on shard ${source.name} already`);
    if (target.status !== 'active') throw problem(409, MoveProblems.SHARD_NOT_ACTIVE, 'Shard not active', `shard ${target.name} is ${target.status}: it takes no tenant (activate it first: \`hotdash-ops shards activate ${target.name}\`)`);
    // The tenant's region is its source shard's (the control plane holds them equal).
    const regionChange = target.region !== placed.tenant_region ? { from: placed.tenant_region, to: target.region } : null;
    if (regionChange && allowRegionChange !== true)
      throw problem(
        422,
        MoveProblems.SHARD_OTHER_REGION,
        'Shard in another region',
        `shard ${target.name} is in region ${target.region}, tenant ${tenantId} in ${regionChange.from}: its data stays in its region (only a move that ops force with allowRegionChange leaves it, and makes the tenant's region ${target.region})`,
      );
    await this.refuseRunning(tenantId);
    const m: TenantMove = { moveId: newId(), tenantId, source: shardInfo(source), target: shardInfo(target) };
    await this.preflight(m);
    const fromVersion = placed.version ?? 1;
    if (dryRun) return { dryRun: true, tenantId, source: source.name, target: target.name, fromVersion, regionChange, steps: STEPS };

    const input: TenantMoveInput = { moveId: m.moveId, tenantId, source: shardOfRecord(source), target: shardOfRecord(target), fromVersion, actor, regionChange };
    // One move per tenant: the check and the start under a lock of the tenant's moves, in one control
    // transaction, with its ops action (a started move is always recorded, an unrecorded one never starts).
    await this.control.withControl(async (tx) => {
      await sql`select pg_advisory_xact_lock(hashtext('tenant-move'), hashtext(${tenantId}::text))`.execute(tx.db);
      await this.refuseRunning(tenantId);
      await this.engine.start(TENANT_MOVE_SAGA, input, { tenantId, sagaId: m.moveId, tx });
      await this.actions.record(tx.db, {
        actor,
        action: 'tenant.move',
        target: tenantId,
        outcome: 'started',
        detail: { run: m.moveId, from: source.name, to: target.name, regionChange, ...(origin ?? {}) },
      });
    });
    await this.engine.kick(m.moveId);
    return this.run(tenantId, m.moveId);
  }

  /** A move of the tenant: its steps, what each reported, and its outcome once finished (404 for another tenant's or unknown run). */
  async run(tenantIdRaw: string, runId: string): Promise<TenantMoveRun> {
    const tenantId = parseTenantId(tenantIdRaw);
    const saga = await this.engine.status(runId);
    if (!saga || saga.type !== TENANT_MOVE_SAGA || saga.tenantId !== tenantId) throw notFound(`move ${runId} of tenant ${tenantId}`);
    const input = saga.input as TenantMoveInput;
    const decided = saga.steps.some((s) => s.id === MoveSteps.CUT_OVER && s.status === 'completed');
    const status = statusOf(saga);
    const phase = status === 'succeeded' || status === 'rolled-back' ? null : (saga.failedStep ?? saga.steps.find((s) => s.status === 'running' || s.status === 'compensating')?.id ?? null);
    let progress: TenantMoveRun['progress'] = null;
    if (phase === MoveSteps.INITIAL_COPY) {
      const m: TenantMove = { moveId: input.moveId, tenantId, source: shardInfo(input.source), target: shardInfo(input.target) };
      progress = await this.mover.copyState(m).then((s) => ({ tablesReady: s.ready, tables: s.tables }), () => null);
    }
    return {
      id: saga.id,
      tenantId,
      source: input.source.name,
      target: input.target.name,
      status,
      phase,
      decided,
      fromVersion: input.fromVersion,
      regionChange: regionChangeOf(input),
      actor: input.actor,
      progress,
      steps: stepViews(saga),
      error: saga.lastError,
      startedAt: saga.createdAt,
      finishedAt: saga.finishedAt,
    };
  }

  /** 409 while a move, a dedicate or share run, a backup or a restore of the tenant runs. */
  private async refuseRunning(tenantId: string): Promise<void> {
    const latest = await this.engine.latestOf(TENANT_MOVE_SAGA, parseTenantId(tenantId));
    const status = latest ? (await this.engine.status(latest))?.status : undefined;
    if (latest && (status === 'running' || status === 'compensating'))
      throw problem(409, MoveProblems.IN_PROGRESS, 'Move in progress', `tenant ${tenantId} is being moved (run ${latest}): follow it (\`hotdash-ops moves watch ${tenantId} ${latest}\`)`);
    // A dedicate or share run starts its own move later (dedicated.sagas.ts): a move by hand (or a rebalance's) meanwhile would race it.
    for (const type of [TENANT_DEDICATE_SAGA, TENANT_SHARE_SAGA]) {
      const run = await this.engine.latestOf(type, parseTenantId(tenantId));
      const runStatus = run ? (await this.engine.status(run))?.status : undefined;
      if (run && (runStatus === 'running' || runStatus === 'compensating'))
        throw problem(409, DedicatedProblems.RUN_IN_PROGRESS, 'Dedicate or share run in progress', `tenant ${tenantId} is being moved by a dedicate or share run (run ${run}): follow it (\`hotdash-ops dedicated watch ${tenantId} ${run}\`)`);
    }
    const archive = await this.archiveRuns.running(this.control.db, tenantId);
    if (archive) throw problem(409, MoveProblems.ARCHIVE_RUN_IN_PROGRESS, 'Backup or restore in progress', `a ${archive.kind} of tenant ${tenantId} is running (run ${archive.id}): move it once it finished`);
  }

  /** The mover's checks of the two shards; the first problem is the answer (also the dedicate and share runs' checks). */
  async preflight(m: Pick<TenantMove, 'tenantId' | 'source' | 'target'>): Promise<void> {
    let problems: { code: string; message: string }[];
    try {
      problems = await this.mover.preflight(m);
    } catch (err) {
      if (err instanceof TenantMoveError) throw problem(503, MoveProblems.SHARD_UNAVAILABLE, 'Shard unavailable', err.message);
      throw err;
    }
    const first = problems[0];
    if (!first) return;
    const p = PREFLIGHT[first.code] ?? { status: 409, code: first.code, title: 'Move refused' };
    throw problem(p.status, p.code, p.title, problems.map((x) => x.message).join('; '));
  }
}

function shardInfo(s: Pick<ShardRecord, 'id' | 'name' | 'host' | 'port' | 'database' | 'kind' | 'status'> | MoveShard): TenantMove['source'] {
  return { id: s.id, name: s.name, host: s.host, port: s.port, database: s.database, kind: s.kind as TenantMove['source']['kind'], status: s.status as TenantMove['source']['status'] };
}

/** A saga's steps as the ops API shows them of a move (and of the runs and imports made of one): each with what it recorded. */
export function stepViews(saga: Pick<SagaStatus, 'steps' | 'state'>) {
  return saga.steps.map((s) => ({
    id: s.id,
    description: s.description,
    status: s.status,
    attempts: s.attempts,
    lastError: s.lastError,
    startedAt: s.startedAt,
    completedAt: s.completedAt,
    compensatedAt: s.compensatedAt,
    detail: saga.state[s.id] ?? null,
  }));
}

/** A saga's status as the ops API says it of a move (and of the runs and imports made of one). */
export function statusOf(saga: Pick<SagaStatus, 'status'>): MoveStatus {
  switch (saga.status) {
    case 'running':
      return 'running';
    case 'compensating':
      return 'rolling-back';
    case 'completed':
      return 'succeeded';
    case 'compensated':
      return 'rolled-back';
    default:
      return 'failed';
  }
}
