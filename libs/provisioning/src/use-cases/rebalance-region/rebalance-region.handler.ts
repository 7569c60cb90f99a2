import { Inject, Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import {
  parseTenantId,
  RebalanceProblems,
  startRebalanceBody,
  type PinReason,
  type RebalanceDryRun,
  type RebalanceMoveProgress,
  type RebalancePlan,
  type RebalanceRun,
  type TenantId,
  type TenantMoveRun,
} from '@hotdash/contracts';
import { ControlDatabase, measureTenantSizes, newId, TenantDatabase, type ShardInfo, type ShardTenantSizes } from '@hotdash/platform-db';
import { SagaEngine } from '@hotdash/platform-jobs';
import { notFound, parseInput, ProblemException } from '@hotdash/platform-http';
import { OpsActions } from '../../shards.repository';
import { TENANT_MOVE_SAGA } from '../../moves/tenant-move.saga';
import { TENANT_DEDICATE_SAGA, TENANT_SHARE_SAGA } from '../../dedicated/dedicated.sagas';
import { PILOT_IMPORT_SAGA } from '../../imports/pilot-import.saga';
import { MoveTenantHandler } from '../move-tenant/move-tenant.handler';
import { planRebalance, type PlannerShard } from '../../rebalance/rebalance-planner';
import { RebalanceRunsRepository } from '../../rebalance/rebalance-runs.repository';

/** A running run writes its progress at least this often (a heartbeat while a move runs). */
export const REBALANCE_RUN_HEARTBEAT_MS = 5_000;
/** A running run not heard of for this long lost its process: it is recorded as interrupted. */
export const REBALANCE_RUN_STALE_MS = 30_000;
/** Between two looks at a running move. */
const MOVE_POLL_MS = 500;
const FINISHED_MOVE = ['succeeded', 'rolled-back', 'failed'];

const problem = (status: number, code: string, title: string, detail: string) => new ProblemException(status, code, title, detail);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Rebalancing a region's shared shards (POST /ops/rebalance): measures every tenant of the region's
 * active and draining shared shards (measureTenantSizes: rows per table times the table's bytes per
 * row), plans the moves that empty the draining shards and even out the active ones in tenant count
 * and bytes (planRebalance), and answers a dry run with the plan. A real run answers at once with
 * the run and carries the moves out in the background, each through the move use-case (its checks,
 * the tenant-move saga, its ops action and audit entries), one at a time by default, writing each
 * move's progress to rebalance_runs (GET /ops/rebalance/runs/{id} from any instance).
 *
 * The rule when a move does not happen: a refusal before anything changed (a 4xx of the move
 * use-case: the tenant was suspended or began moving meanwhile, its placement changed, the target
 * stopped taking tenants) skips that move and the run goes on; a move that started and rolled back
 * or failed, or a shard that could not be reached, stops the run (the moves after it are not run):
 * something needs a look before more tenants move. One running rebalance per region (409
 * rebalance-running); a run whose process stopped is interrupted (the move it had started goes on
 * as its own saga; plan again). A run recorded as interrupted while its process still runs it (its
 * heartbeat went stale: a stalled event loop, a partition) is no longer that process's: it reads its
 * run's status before each move, stops at the first that is not `running`, and leaves the record as
 * it is (its ops action says `interrupted`). Tenants a dedicate, share or pilot-import run holds
 * are pinned, as are tenants being moved.
 */
@Injectable()
export class RebalanceRegionHandler implements OnApplicationShutdown {
  private readonly logger = new Logger('rebalance');
  private readonly inFlight = new Map<string, Promise<void>>();
  private closing = false;

  constructor(
    @Inject(ControlDatabase) private readonly control: ControlDatabase,
    @Inject(TenantDatabase) private readonly tenantDb: TenantDatabase,
    @Inject(SagaEngine) private readonly engine: SagaEngine,
    @Inject(MoveTenantHandler) private readonly moves: MoveTenantHandler,
    @Inject(OpsActions) private readonly actions: OpsActions,
    @Inject(RebalanceRunsRepository) private readonly runs: RebalanceRunsRepository,
  ) {}

  /** A dry run's plan (the controller's 200), or a started run (202); follow it with `get`. */
  async start(body: unknown, actor: string): Promise<RebalanceDryRun | RebalanceRun> {
    const { region, dryRun, maxMoves, concurrency } = parseInput(startRebalanceBody, body);
    // Before measuring anything: a region being rebalanced is refused at once.
    if (!dryRun) await this.refuseRunning(region, actor);
    const plan = await this.plan(region, maxMoves);
    if (dryRun) return { dryRun: true, plan };

    const id = newId();
    const moves = plan.moves.map((m): RebalanceMoveProgress => ({ ...m, state: 'waiting', runId: null, code: null, error: null, startedAt: null, finishedAt: null }));
    const run = await this.control.withControl(async (tx) => {
      await this.runs.interruptStale(tx.db, REBALANCE_RUN_STALE_MS);
      return this.runs.insert(tx.db, { id, region, actor, concurrency: concurrency ?? 1, plan, moves });
    });
    if (!run) {
      // Another start of the region won the unique index meanwhile.
      await this.refuseRunning(region, actor);
      throw problem(409, RebalanceProblems.RUNNING, 'Rebalance already running', `Another rebalance of region ${region} started while this one was planned: plan again.`);
    }
    await this.actions.record(this.control.db, { actor, action: 'rebalance.run', target: region, outcome: 'started', detail: { run: id, moves: moves.length, truncated: plan.truncated } });
    const work = this.execute(run)
      .catch((err: Error) => this.logger.error(`rebalance run ${id} could not be recorded: ${err.message}`))
      .finally(() => this.inFlight.delete(id));
    this.inFlight.set(id, work);
    return run;
  }

  /** A run by id, with each move's progress. */
  async get(id: string): Promise<RebalanceRun> {
    await this.runs.interruptStale(this.control.db, REBALANCE_RUN_STALE_MS);
    const run = await this.runs.byId(this.control.db, id);
    if (!run) throw notFound(`rebalance run ${id}`);
    return run;
  }

  /** Runs this process will not finish are recorded as interrupted at once (the moves they started go on as sagas). */
  async onApplicationShutdown(): Promise<void> {
    this.closing = true;
    await this.runs.interrupt(this.control.db, [...this.inFlight.keys()]).catch(() => undefined);
  }

  /** 409 rebalance-running (recorded as a refused ops action) while the region has a running run. */
  private async refuseRunning(region: string, actor: string): Promise<void> {
    await this.runs.interruptStale(this.control.db, REBALANCE_RUN_STALE_MS);
    const other = await this.runs.running(this.control.db, region);
    if (!other) return;
    await this.actions.record(this.control.db, { actor, action: 'rebalance.run', target: region, outcome: RebalanceProblems.RUNNING, detail: { running: other.id } });
    throw problem(
      409,
      RebalanceProblems.RUNNING,
      'Rebalance already running',
      `Rebalance run ${other.id} of region ${region}, started at ${other.startedAt} by ${other.actor}, is still in progress: follow it (GET /ops/rebalance/runs/${other.id}) and plan again once it has finished.`,
    );
  }

  /** The region's plan, from its shared shards as they are now. */
  async plan(region: string, maxMoves?: number): Promise<RebalancePlan> {
    const shards = await this.control.db
      .selectFrom('shards')
      .select(['id', 'name', 'host', 'port', 'database', 'kind', 'status'])
      .where('region', '=', region)
      .where('status', '<>', 'retired')
      .orderBy('name')
      .execute();
    if (!shards.length) throw problem(422, RebalanceProblems.REGION_UNKNOWN, 'Region unknown', `No shard is registered in region ${region} (\`hotdash-ops shards list\` shows each shard's region).`);
    const shared = shards.filter((s) => s.kind === 'shared');
    const active = shared.filter((s) => s.status === 'active');
    if (!active.length)
      throw problem(422, RebalanceProblems.TOO_FEW_SHARDS, 'No shard to move tenants to', `Region ${region} has no active shared shard: register one (\`hotdash-ops shards register … --kind shared --region ${region}\`) or activate one.`);
    if (shared.length < 2)
      throw problem(
        422,
        RebalanceProblems.TOO_FEW_SHARDS,
        'Nothing to even out',
        `Region ${region} has one shared shard (${shared[0]!.name}) and none draining: there is nothing to even out. Register another shared shard in the region first.`,
      );

    const placed = await this.control.db
      .selectFrom('tenant_placements as p')
      .innerJoin('tenants as t', 't.id', 'p.tenant_id')
      .select(['t.id', 't.slug', 't.status', 'p.shard_id'])
      .where(
        'p.shard_id',
        'in',
        shared.map((s) => s.id),
      )
      .where('t.status', '<>', 'offboarded')
      .orderBy('t.id')
      .execute();
    const tenantsOf = async (...types: string[]) => new Set((await Promise.all(types.map((type) => this.engine.unfinished(type)))).flat().map((s) => s.tenantId as string | null));
    const moving = await tenantsOf(TENANT_MOVE_SAGA);
    // A dedicate or share run, or a pilot import, moves its tenant itself (its own move, started later): a rebalance's move would race it.
    const dedicating = await tenantsOf(TENANT_DEDICATE_SAGA, TENANT_SHARE_SAGA);
    const importing = await tenantsOf(PILOT_IMPORT_SAGA);
    const archiving = new Set((await this.control.db.selectFrom('tenant_archive_runs').select('tenant_id').where('status', '=', 'running').execute()).map((r) => r.tenant_id));

    const measuredAt = new Date().toISOString();
    const input: PlannerShard[] = [];
    for (const s of shared) {
      const tenants = placed.filter((p) => p.shard_id === s.id);
      const info: ShardInfo = { id: s.id, name: s.name, host: s.host, port: s.port, database: s.database, kind: 'shared', status: s.status as ShardInfo['status'] };
      let sizes: ShardTenantSizes;
      try {
        sizes = await measureTenantSizes(
          this.tenantDb,
          info,
          tenants.map((t) => parseTenantId(t.id)),
        );
      } catch (err) {
        throw problem(503, RebalanceProblems.SHARD_UNAVAILABLE, 'Shard unavailable', `shard ${s.name} could not be read to measure its tenants: ${(err as Error).message}`);
      }
      input.push({
        name: s.name,
        status: s.status as PlannerShard['status'],
        tenants: tenants.map((t) => {
          const size = sizes.tenants.get(t.id as TenantId) ?? null;
          const pinned: PinReason | undefined = moving.has(t.id)
            ? 'moving'
            : dedicating.has(t.id)
              ? 'dedicated-run'
              : importing.has(t.id)
                ? 'import-run'
                : archiving.has(t.id)
                  ? 'archive-running'
                  : t.status === 'suspended'
                    ? 'suspended'
                    : t.status !== 'active'
                      ? 'not-active'
                      : size === null
                        ? 'unmeasured'
                        : undefined;
          return { id: t.id, slug: t.slug, bytes: size?.bytes ?? 0, ...(pinned ? { pinned } : {}) };
        }),
      });
    }
    return { region, measuredAt, ...planRebalance(input, { maxMoves }) };
  }

  /** Carries a run out: its moves in plan order, `concurrency` at once; progress written as it goes. */
  private async execute(run: RebalanceRun): Promise<void> {
    const progress = run.moves.map((m) => ({ ...m }));
    let writes: Promise<void> = Promise.resolve();
    const write = (): Promise<void> =>
      (writes = writes.then(() => this.runs.progress(this.control.db, run.id, progress)).catch((err: Error) => this.logger.warn(`rebalance run ${run.id}: progress not written: ${err.message}`)));
    const heartbeat = setInterval(() => void write(), REBALANCE_RUN_HEARTBEAT_MS);
    heartbeat.unref();
    let stopped: string | null = null;
    /** Set once the run is found no longer running (recorded as interrupted: its heartbeat went stale): no more moves, and its record is not this process's to finish. */
    let lost = false;
    try {
      let next = 0;
      const worker = async () => {
        while (next < progress.length && stopped === null && !lost && !this.closing) {
          // The run's own status, read again before each move: a run recorded as interrupted meanwhile moves nobody more.
          const status = await this.runs.status(this.control.db, run.id).catch((err: Error) => {
            stopped ??= `the run's status could not be read before its next move: ${err.message}`;
            return 'unread' as const;
          });
          if (status !== 'running') {
            if (status !== 'unread') lost = true;
            break;
          }
          const p = progress[next++]!;
          // Whatever goes wrong around a move (the control database away) fails that move, and so stops the run.
          await this.moveOne(run, p, write).catch((err: Error) => Object.assign(p, { state: 'failed', code: 'internal-error', error: err.message, finishedAt: new Date().toISOString() }));
          if (p.state === 'failed') stopped ??= `the move of tenant ${p.tenantId} (${p.slug}) from ${p.from} to ${p.to} ${p.code === 'rolled-back' ? 'rolled back' : 'failed'}: ${p.error ?? p.code ?? 'see its run'}`;
        }
      };
      await Promise.all(Array.from({ length: Math.max(1, Math.min(run.concurrency, progress.length)) }, worker));
      if (this.closing) return; // interrupted by the shutdown (recorded there)
      for (const p of progress) if (p.state === 'waiting') p.state = 'not-run';
      clearInterval(heartbeat);
      await writes;
      const owned = !lost && (await this.runs.finish(this.control.db, run.id, stopped ? 'failed' : 'succeeded', progress, stopped));
      if (!owned) {
        stopped = `the run was recorded as interrupted while this process still ran it (its heartbeat went stale): it stopped before its next move${stopped ? `; ${stopped}` : ''}`;
        this.logger.warn(`rebalance run ${run.id}: ${stopped}`);
      }
      const count = (state: string) => progress.filter((p) => p.state === state).length;
      await this.actions.record(this.control.db, {
        actor: run.actor,
        action: 'rebalance.run',
        target: run.region,
        outcome: !owned ? 'interrupted' : stopped ? 'failed' : 'done',
        detail: { run: run.id, succeeded: count('succeeded'), skipped: count('skipped'), failed: count('failed'), notRun: count('not-run'), error: stopped },
      });
    } finally {
      clearInterval(heartbeat);
    }
  }

  /** One planned move: started through the move use-case, followed until it has finished. */
  private async moveOne(run: RebalanceRun, p: RebalanceMoveProgress, write: () => Promise<void>): Promise<void> {
    const done = (state: RebalanceMoveProgress['state'], code: string | null, error: string | null) => {
      Object.assign(p, { state, code, error, finishedAt: new Date().toISOString() });
      void write();
    };
    Object.assign(p, { state: 'running', startedAt: new Date().toISOString() });
    void write();
    // The plan's source must still be the tenant's shard: a tenant moved since is not moved again on a stale plan.
    const now = await this.control.db
      .selectFrom('tenant_placements as p')
      .innerJoin('shards as s', 's.id', 'p.shard_id')
      .select('s.name')
      .where('p.tenant_id', '=', p.tenantId)
      .executeTakeFirst();
    if (now?.name !== p.from) return done('skipped', 'placement-changed', `tenant ${p.tenantId} is on ${now?.name ?? 'no shard'} now, not ${p.from}: plan again`);
    let started: TenantMoveRun;
    try {
      started = (await this.moves.start(p.tenantId, { shard: p.to }, run.actor, { rebalanceRun: run.id })) as TenantMoveRun;
    } catch (err) {
      if (err instanceof ProblemException && err.status < 500) return done('skipped', err.code, err.detail ?? err.title);
      return done('failed', err instanceof ProblemException ? err.code : 'move-not-started', (err as Error).message);
    }
    p.runId = started.id;
    void write();
    let last = started;
    while (!FINISHED_MOVE.includes(last.status)) {
      if (this.closing) return;
      await sleep(MOVE_POLL_MS);
      try {
        last = await this.moves.run(p.tenantId, started.id);
      } catch (err) {
        // The control database away for a moment: look again (the move goes on regardless).
        this.logger.warn(`rebalance run ${run.id}: move ${started.id} not read: ${(err as Error).message}`);
      }
    }
    if (last.status === 'succeeded') done('succeeded', null, null);
    else done('failed', last.status, last.error);
  }
}
