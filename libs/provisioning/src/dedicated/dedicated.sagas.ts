import { Inject, Injectable } from '@nestjs/common';
import { sql } from 'kysely';
import { AccessEvents, DedicatedProblems, parseTenantId, type DedicatedTargetMode } from '@hotdash/contracts';
import { ControlDatabase, type ShardInfo, ShardRouter, TenantDatabase, TenantMove, TenantMoveError, TenantMover } from '@hotdash/platform-db';
import { Json, NonRetryableStepError, SagaDefinition, SagaEngine, SagaStep, SagaStepContext, StepPendingError } from '@hotdash/platform-jobs';
import { ProblemException } from '@hotdash/platform-http';
import { publishInTx } from '@hotdash/platform-messaging';
import { OpsActions, ShardsRepository } from '../shards.repository';
import { RegisterShardHandler } from '../use-cases/register-shard/register-shard.handler';
import { ChangeShardStatusHandler } from '../use-cases/change-shard-status/change-shard-status.handler';
import { TENANT_MOVE_SAGA, type MoveShard, type TenantMoveInput } from '../moves/tenant-move.saga';
import { DedicatedDatabases } from './dedicated-database';

export const TENANT_DEDICATE_SAGA = 'tenant-dedicate';
export const TENANT_SHARE_SAGA = 'tenant-share';

/** What the runs' outcomes name as the resource in the tenant's audit log (access.recorded). */
export const DEDICATED_AUDIT_RESOURCE = 'tenant-dedicated-database';

/** Step ids: persisted, never renamed. */
export const DedicateSteps = { CREATE_DATABASE: 'create-database', REGISTER: 'register', MOVE: 'move', AWAIT_MOVE: 'await-move', FINISH: 'finish' } as const;
export const ShareSteps = { RESERVE_SHARD: 'reserve-shard', MOVE: 'move', AWAIT_MOVE: 'await-move', FREE_SHARD: 'free-shard', FINISH: 'finish' } as const;

/** Where a dedicate puts the tenant (its shard's id is known once registered, or from the start for a reused shard). */
export interface DedicatedTargetInput {
  [key: string]: Json;
  shard: string;
  shardId: string | null;
  host: string;
  port: number;
  database: string;
  region: string;
}

export interface DedicateInput {
  [key: string]: Json;
  runId: string;
  tenantId: string;
  actor: string;
  /** The live move's saga id, chosen at the start: a resumed step finds the move it started. */
  moveId: string;
  mode: DedicatedTargetMode;
  /** The shard the tenant was on at the start (its name, for the run's view). */
  source: string;
  target: DedicatedTargetInput;
}

export interface ShareInput {
  [key: string]: Json;
  runId: string;
  tenantId: string;
  actor: string;
  moveId: string;
  keep: boolean;
  /** The dedicated shard the tenant leaves. */
  source: MoveShard;
  /** The shared shard it goes to. */
  target: MoveShard;
  region: string;
}

/** What the saga definitions need; gathered by Nest (the engine itself comes later: it is built with these sagas). */
@Injectable()
export class DedicatedSagaDependencies {
  constructor(
    @Inject(ControlDatabase) readonly control: ControlDatabase,
    @Inject(TenantDatabase) readonly tenantDb: TenantDatabase,
    @Inject(ShardRouter) readonly router: ShardRouter,
    @Inject(TenantMover) readonly mover: TenantMover,
    @Inject(DedicatedDatabases) readonly databases: DedicatedDatabases,
    @Inject(RegisterShardHandler) readonly registration: RegisterShardHandler,
    @Inject(ChangeShardStatusHandler) readonly statuses: ChangeShardStatusHandler,
    @Inject(ShardsRepository) readonly shards: ShardsRepository,
    @Inject(OpsActions) readonly actions: OpsActions,
  ) {}

  /** Registers both sagas on the engine (they start and follow tenant moves on it); returns it. */
  registerOn(engine: SagaEngine): SagaEngine {
    const deps = { ...this.parts(), engine: () => engine };
    return engine.register(tenantDedicateSaga(deps)).register(tenantShareSaga(deps));
  }

  private parts(): Omit<DedicatedSagaDeps, 'engine'> {
    const { control, tenantDb, router, mover, databases, registration, statuses, shards, actions } = this;
    return { control, tenantDb, router, mover, databases, registration, statuses, shards, actions };
  }
}

export interface DedicatedSagaDeps {
  engine: () => SagaEngine;
  control: ControlDatabase;
  tenantDb: TenantDatabase;
  router: ShardRouter;
  mover: TenantMover;
  databases: DedicatedDatabases;
  registration: RegisterShardHandler;
  statuses: ChangeShardStatusHandler;
  shards: ShardsRepository;
  actions: OpsActions;
  /** How often the await-move step looks at its move (default 1 s). */
  pollMs?: number;
  /** How long the await-move step waits for its move before it reports it stuck and gives up (default 6 h). */
  moveWaitLimitMs?: number;
}

/** The await-move step looks again this often by default (between two looks it holds no worker slot). */
const MOVE_POLL_MS = 1_000;
/** A move not finished after this long is reported stuck: the run stops waiting for it (default of moveWaitLimitMs). */
export const MOVE_WAIT_LIMIT_MS = 6 * 60 * 60_000;
/** While waiting, the move's pending job is kicked every this many looks (a move whose job was lost is picked up again). */
const KICK_EVERY_WAITS = 30;
/** The await-move step's tries for errors of its own (the control database away): its waits are no tries. */
const AWAIT_MOVE_TRIES = 20;
/** Steps after the tenant moved only go forward: they retry rather than fail. */
const FORWARD_TRIES = 20;

const json = (v: unknown): Json => JSON.parse(JSON.stringify(v)) as Json;
const shardInfo = (s: MoveShard): ShardInfo => ({ id: s.id, name: s.name, host: s.host, port: s.port, database: s.database, kind: s.kind as ShardInfo['kind'], status: s.status as ShardInfo['status'] });

/** A registry refusal as a step failure: one that retrying cannot fix fails the step at once (the server being away can). */
async function registry<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof ProblemException && err.code !== 'shard-unreachable') throw new NonRetryableStepError(`${err.code}: ${err.detail ?? err.title}`, err.code);
    throw err;
  }
}

/** What the move step records: the move it started (null when the tenant was on the target already) and when. */
interface MoveStarted {
  moveId: string | null;
  startedAt: string;
  note?: string;
}

const FINISHED_MOVE = ['completed', 'compensated', 'failed'];

/**
 * The move step: starts the run's live move (the tenant-move saga, with the id chosen at the run's
 * start) unless it was started before (a resumed step), and returns at once; the await-move step
 * follows it. Refused for good when the mover's checks fail or another move of the tenant started.
 */
async function startMove(deps: DedicatedSagaDeps, input: { moveId: string; tenantId: string; actor: string }, target: MoveShard): Promise<Json> {
  const engine = deps.engine();
  const tenantId = parseTenantId(input.tenantId);
  const existing = await engine.status(input.moveId);
  if (existing) {
    await engine.kick(input.moveId);
    return json({ moveId: input.moveId, startedAt: existing.createdAt } satisfies MoveStarted);
  }
  const placed = await deps.control.db
    .selectFrom('tenant_placements as p')
    .innerJoin('shards as s', 's.id', 'p.shard_id')
    .select(['p.version', 's.id', 's.name', 's.host', 's.port', 's.database', 's.kind', 's.status'])
    .where('p.tenant_id', '=', tenantId)
    .executeTakeFirst();
  if (!placed) throw new NonRetryableStepError(`tenant ${tenantId} has no placement`, 'not-placed');
  if (placed.id === target.id) return json({ moveId: null, startedAt: new Date().toISOString(), note: `tenant ${tenantId} was on ${target.name} already` } satisfies MoveStarted);
  const source: MoveShard = { id: placed.id, name: placed.name, host: placed.host, port: placed.port, database: placed.database, kind: placed.kind, status: placed.status };
  const m: TenantMove = { moveId: input.moveId, tenantId, source: shardInfo(source), target: shardInfo(target) };
  let problems: { code: string; message: string }[];
  try {
    problems = await deps.mover.preflight(m);
  } catch (err) {
    if (err instanceof TenantMoveError && !err.retryable) throw new NonRetryableStepError(err.message, err.code);
    throw err;
  }
  if (problems.length) throw new NonRetryableStepError(`the move cannot start: ${problems.map((p) => `${p.code}: ${p.message}`).join('; ')}`, problems[0]!.code);
  const moveInput: TenantMoveInput = { moveId: input.moveId, tenantId, source, target, fromVersion: placed.version, actor: input.actor, regionChange: null };
  await deps.control.withControl(async (tx) => {
    // The lock of the tenant's moves (move-tenant.handler.ts): one move of a tenant at a time.
    await sql`select pg_advisory_xact_lock(hashtext('tenant-move'), hashtext(${tenantId}::text))`.execute(tx.db);
    const latest = await engine.latestOf(TENANT_MOVE_SAGA, tenantId);
    const status = latest && latest !== input.moveId ? (await engine.status(latest))?.status : undefined;
    if (status === 'running' || status === 'compensating') throw new NonRetryableStepError(`another move of tenant ${tenantId} (run ${latest}) started meanwhile`, 'tenant-move-in-progress');
    if (!(await engine.status(input.moveId))) await engine.start(TENANT_MOVE_SAGA, moveInput, { tenantId, sagaId: input.moveId, tx });
  });
  await engine.kick(input.moveId);
  return json({ moveId: input.moveId, startedAt: (await engine.status(input.moveId))?.createdAt ?? new Date().toISOString() } satisfies MoveStarted);
}

/**
 * The await-move step: looks at the move once and says "not yet" (StepPendingError: the engine runs
 * the step again after pollMs, holding no worker slot meanwhile, so runs waiting for their moves
 * never starve the moves' own steps, nor sign-ups). Succeeded is the step's success; rolled back or
 * failed fails the step for good (the run's compensations then undo what it made, each refusing to
 * touch a shard or database that holds the tenant). A move still unfinished after moveWaitLimitMs is
 * reported stuck: the step fails for good, and the run's undoing stops at the live move (undoMove):
 * the run ends failed, for ops.
 */
async function awaitMove(deps: DedicatedSagaDeps, ctx: SagaStepContext<{ moveId: string; tenantId: string }>, moveStep: string): Promise<Json> {
  const engine = deps.engine();
  const started = ctx.state[moveStep] as MoveStarted | undefined;
  if (!started) throw new Error(`the ${moveStep} step recorded no move`);
  if (started.moveId === null) return json({ moveId: null, placementVersion: null, pauseMs: null, note: started.note ?? null });
  const move = await engine.status(started.moveId);
  if (!move) throw new Error(`move ${started.moveId} not found`);
  if (move.status === 'completed') {
    const cut = move.state['cut-over'] as { pauseMs?: number; placementVersion?: number } | undefined;
    return json({ moveId: started.moveId, placementVersion: cut?.placementVersion ?? null, pauseMs: cut?.pauseMs ?? null });
  }
  if (move.status === 'compensated') throw new NonRetryableStepError(`move ${started.moveId} rolled back (${move.lastError ?? 'no error recorded'}): the tenant is whole on its source`, 'move-rolled-back');
  if (move.status === 'failed')
    throw new NonRetryableStepError(`move ${started.moveId} failed (${move.lastError ?? 'no error recorded'}): follow it with \`hotdash-ops moves watch ${ctx.input.tenantId} ${started.moveId}\``, 'move-failed');
  const waited = Date.now() - Date.parse(started.startedAt);
  const limit = deps.moveWaitLimitMs ?? MOVE_WAIT_LIMIT_MS;
  const phase = (move.status === 'running' ? move.steps[move.currentStep]?.id : move.steps.find((s) => s.status === 'compensating')?.id) ?? move.status;
  if (waited > limit)
    throw new NonRetryableStepError(
      `move ${started.moveId} has not finished after ${Math.round(waited / 60_000)} min (limit ${Math.round(limit / 60_000)} min; it is ${move.status}, at ${phase}): the run stops waiting for it and ends failed, nothing it made undone under a live move. Follow the move (\`hotdash-ops moves watch ${ctx.input.tenantId} ${started.moveId}\`) and finish the run's work by hand`,
      'move-stuck',
    );
  // Now and then, the move's job looked for (a move whose job was lost is picked up again).
  if ((ctx.waits ?? 0) % KICK_EVERY_WAITS === 0) await engine.kick(started.moveId);
  throw new StepPendingError(`move ${started.moveId} is ${move.status}, at ${phase}`, deps.pollMs ?? MOVE_POLL_MS);
}

/**
 * The move step's compensation: the run is undone only once its move has ended. A move still
 * running (the await-move step gave up on a stuck move) fails this compensation, which the engine
 * retries a few times and then marks the run failed, for ops: nothing the run made is taken away
 * under a live move. A move that succeeded cannot be undone by the run (the tenant is on the
 * target): the run is marked failed the same way.
 */
async function undoMove(deps: DedicatedSagaDeps, ctx: SagaStepContext<{ tenantId: string }>, moveStep: string): Promise<void> {
  const started = ctx.state[moveStep] as MoveStarted | undefined;
  if (!started?.moveId) return;
  const move = await deps.engine().status(started.moveId);
  if (!move || move.status === 'compensated') return;
  if (!FINISHED_MOVE.includes(move.status))
    throw new Error(`move ${started.moveId} is still ${move.status}: the run is undone only once it has ended (\`hotdash-ops moves watch ${ctx.input.tenantId} ${started.moveId}\`)`);
  if (move.status === 'completed')
    throw new Error(`move ${started.moveId} succeeded: tenant ${ctx.input.tenantId} is on the run's target now; the run cannot be undone (finish it by hand: activate the target shard)`);
  throw new Error(`move ${started.moveId} failed (${move.lastError ?? 'no error recorded'}): look at it before the run is undone (\`hotdash-ops moves watch ${ctx.input.tenantId} ${started.moveId}\`)`);
}

/** The run's outcome in the tenant's audit log (the gateway's entry records the request). */
async function audit(deps: DedicatedSagaDeps, input: { runId: string; tenantId: string; actor: string }, route: string): Promise<void> {
  const tenantId = parseTenantId(input.tenantId);
  deps.router.invalidate(tenantId);
  await deps.tenantDb.withTenant(tenantId, (tx) =>
    publishInTx(
      tx,
      AccessEvents.RECORDED,
      { actor: input.actor.slice(0, 100), action: 'update', resourceType: DEDICATED_AUDIT_RESOURCE, resourceId: input.runId, method: 'POST', route, status: 200, ipEnc: null, at: new Date().toISOString() },
      { tenantId, producer: 'provisioning', correlationId: input.runId },
    ),
  );
}

type DCtx = SagaStepContext<DedicateInput>;

/** A free dedicated shard a run reserved (drained), given back to the free ones: active again, unless a tenant is on it (then it stays, for ops). */
async function giveBackFreeShard(deps: DedicatedSagaDeps, name: string, actor: string): Promise<void> {
  const shard = await deps.shards.byName(deps.control.db, name);
  if (!shard || shard.status !== 'draining') return;
  const held = await deps.shards.tenantsHeld(deps.control.db, shard.id);
  if (held > 0) throw new Error(`shard ${shard.name} holds ${held} tenant(s): it is not given back to the free dedicated shards; look at the run's move`);
  await deps.statuses.activate(shard.name, actor);
}

/** Whether a dedicate run reserved (drained) this shard, once active (its shard.drain ops action names the run). */
async function reservedBy(deps: DedicatedSagaDeps, shard: string, runId: string): Promise<boolean> {
  const row = await deps.control.db
    .selectFrom('ops_actions')
    .select('id')
    .where('action', '=', 'shard.drain')
    .where('target', '=', shard)
    .where(sql<boolean>`detail->>'run' = ${runId}`)
    .limit(1)
    .executeTakeFirst();
  return row !== undefined;
}

const serverOf = (t: DedicatedTargetInput) => ({ host: t.host, port: t.port });
const locationOfTarget = (t: DedicatedTargetInput) => ({ host: t.host, port: t.port, database: t.database });

/** The registered dedicated shard of a run (from its register step, or from the start for a reused one). */
function targetShard(ctx: DCtx): MoveShard {
  const reg = ctx.state[DedicateSteps.REGISTER] as { shard?: MoveShard } | undefined;
  if (!reg?.shard) throw new Error('the register step recorded no shard');
  return reg.shard;
}

/**
 * Gives an Enterprise tenant a dedicated database, live (docs/operations.md "Dedicated databases"):
 *  1. create-database: the database created on the server (as the owner role) and marked as this
 *     run's, or one the platform made for this tenant before adopted, then prepared for the service
 *     roles; a reused free dedicated shard skips it (reserved at the start: draining, so no sign-up
 *     takes it). Undone by dropping the database, only when this run created it and the tenant has
 *     no row there (a reused shard is given back: active again);
 *  2. register: the register-shard path (owner, application and relay roles checked, migrated,
 *     catalogue guard, relayed), as a dedicated shard of the tenant's region, reserved (draining)
 *     until the tenant is on it. Undone by retiring the shard (refused while it holds a tenant);
 *  3. move: the live tenant move onto it started (the tenant-move saga, under the move id chosen at
 *     the run's start: a resumed step finds it). Undone only once the move has ended (rolled back);
 *  4. await-move: the move followed to its end without holding a worker (StepPendingError), for at
 *     most moveWaitLimitMs;
 *  5. finish: the shard activated (it holds its tenant, so the placement policy never gives it to
 *     another), the outcome in ops_actions and the tenant's audit log.
 */
export function tenantDedicateSaga(deps: DedicatedSagaDeps): SagaDefinition<DedicateInput> {
  const createDatabase: SagaStep<DedicateInput> = {
    id: DedicateSteps.CREATE_DATABASE,
    description: 'the database created on the server and marked as this run’s (or the platform’s earlier one for this tenant adopted), prepared for the service roles; skipped for a reused shard',
    async run(ctx) {
      const { target, mode, tenantId, runId } = ctx.input;
      if (mode === 'reuse') return json({ reused: target.shard });
      const marker = { tenantId, runId };
      const facts = await deps.databases.facts(serverOf(target), target.database);
      let created: boolean;
      if (!facts.exists) {
        await deps.databases.create(serverOf(target), target.database, marker);
        created = true;
      } else if (facts.marker?.tenantId === tenantId) {
        created = facts.marker.runId === runId;
      } else if (!facts.marker && facts.owner === deps.databases.ownerRole && ctx.attempt > 1 && (await deps.databases.isEmpty(locationOfTarget(target)))) {
        // This step's earlier try created it and stopped before marking it (the database did not exist when the run started).
        await deps.databases.mark(serverOf(target), target.database, marker);
        created = true;
      } else {
        throw new NonRetryableStepError(`database ${target.database} on ${target.host}:${target.port} exists and was not made by the platform for tenant ${tenantId}`, DedicatedProblems.DATABASE_EXISTS);
      }
      await deps.databases.prepare(locationOfTarget(target));
      return json({ database: target.database, created });
    },
    async compensate(ctx) {
      const { target, mode, tenantId, runId, actor } = ctx.input;
      if (mode === 'reuse') return giveBackFreeShard(deps, target.shard, actor);
      const out = ctx.state[DedicateSteps.CREATE_DATABASE] as { created?: boolean } | undefined;
      if (!out?.created) return; // not this run's database: it stays
      const registered = await deps.control.db
        .selectFrom('shards')
        .select(['name', 'status'])
        .where('host', '=', target.host)
        .where('port', '=', target.port)
        .where('database', '=', target.database)
        .executeTakeFirst();
      if (registered && registered.status !== 'retired') throw new Error(`database ${target.database} is shard ${registered.name} (${registered.status}): retire it before its database is dropped`);
      const facts = await deps.databases.facts(serverOf(target), target.database);
      if (!facts.exists) return;
      if (facts.marker?.runId !== runId) return;
      const rows = await deps.mover.tenantRowsOn({ host: target.host, port: target.port, database: target.database }, parseTenantId(tenantId));
      if (rows.length) throw new Error(`database ${target.database} holds rows of tenant ${tenantId} (${rows.slice(0, 3).join(', ')}): it is not dropped`);
      await deps.databases.drop(serverOf(target), target.database);
      await deps.actions.record(deps.control.db, { actor, action: 'dedicated.drop-database', target: target.database, outcome: 'done', detail: { run: runId, tenant: tenantId, host: target.host, port: target.port, reason: 'the dedicate run was undone' } });
    },
  };

  const register: SagaStep<DedicateInput> = {
    id: DedicateSteps.REGISTER,
    description: 'registered as a dedicated shard of the tenant’s region (owner, application and relay roles checked, migrated, catalogue guard, relayed), reserved until the tenant is on it',
    async run(ctx) {
      const { target, actor, mode } = ctx.input;
      const body = { name: target.shard, host: target.host, port: target.port, database: target.database, kind: 'dedicated', region: target.region };
      const reg = await registry(() => deps.registration.execute(body, actor, { reserve: true }));
      let shard = reg.shard;
      // Adopted: registered and active before this run (a free dedicated shard named by a create or
      // adopt run), reserved by it: given back, not retired, when the run is undone. Found by this
      // try's reservation, or by an earlier try's (its ops action names the run).
      let adopted = mode !== 'reuse' && reg.outcome === 'unchanged' && shard.status === 'draining' && (await reservedBy(deps, shard.name, ctx.input.runId));
      if (shard.status === 'active') {
        // Registered before (a free dedicated shard, or this step's earlier try): reserve it now, under its row lock, if nobody is on it.
        shard = await deps.control.withControl(async (tx) => {
          const s = await deps.shards.byName(tx.db, target.shard, true);
          if (!s) throw new Error(`shard ${target.shard} vanished`);
          const held = await deps.shards.tenantsHeld(tx.db, s.id);
          if (held > 0) throw new NonRetryableStepError(`shard ${s.name} holds ${held} tenant(s) already: it is not free`, DedicatedProblems.NO_FREE_SHARD);
          if (s.status !== 'active') return s;
          const drained = await deps.shards.setStatus(tx.db, s.id, 'draining');
          await deps.actions.record(tx.db, { actor, action: 'shard.drain', target: s.name, outcome: 'done', detail: { from: 'active', to: 'draining', reason: `reserved for dedicate run ${ctx.input.runId}`, run: ctx.input.runId } });
          adopted = true;
          return drained;
        });
      }
      const moveShard: MoveShard = { id: shard.id, name: shard.name, host: shard.host, port: shard.port, database: shard.database, kind: shard.kind, status: shard.status };
      return json({ shard: moveShard, outcome: reg.outcome, mode, adopted, migrations: reg.migrations });
    },
    async compensate(ctx) {
      // A reused shard is given back by create-database's compensation, an adopted one (a free
      // dedicated shard before the run) here; one this run registered is retired (refused while it holds a tenant).
      if (ctx.input.mode === 'reuse') return;
      const out = ctx.state[DedicateSteps.REGISTER] as { adopted?: boolean } | undefined;
      if (out?.adopted) return giveBackFreeShard(deps, ctx.input.target.shard, ctx.input.actor);
      await deps.statuses.retire(ctx.input.target.shard, ctx.input.actor);
    },
  };

  const move: SagaStep<DedicateInput> = {
    id: DedicateSteps.MOVE,
    description: 'the live move of the tenant onto the dedicated shard started (the tenant-move saga, under the run’s move id)',
    run: (ctx) => startMove(deps, ctx.input, targetShard(ctx)),
    compensate: (ctx) => undoMove(deps, ctx, DedicateSteps.MOVE),
  };

  const awaitMoveStep: SagaStep<DedicateInput> = {
    id: DedicateSteps.AWAIT_MOVE,
    description: 'the live move followed to its end (looked at every second, no worker held in between; reported stuck after the wait limit)',
    maxAttempts: AWAIT_MOVE_TRIES,
    run: (ctx) => awaitMove(deps, ctx, DedicateSteps.MOVE),
  };

  const finish: SagaStep<DedicateInput> = {
    id: DedicateSteps.FINISH,
    description: 'the dedicated shard activated (it holds its tenant), the outcome in ops_actions and the tenant’s audit log',
    maxAttempts: FORWARD_TRIES,
    async run(ctx) {
      const { actor, tenantId, runId, target } = ctx.input;
      const shard = await deps.statuses.activate(target.shard, actor);
      await audit(deps, ctx.input, '/ops/tenants/:tenantId/dedicate');
      await deps.actions.record(deps.control.db, { actor, action: 'tenant.dedicate', target: tenantId, outcome: 'done', detail: { run: runId, shard: target.shard, database: target.database, mode: ctx.input.mode } });
      return json({ shard: shard.shard.name, status: shard.shard.status });
    },
  };

  return {
    type: TENANT_DEDICATE_SAGA,
    steps: [createDatabase, register, move, awaitMoveStep, finish],
    hooks: {
      async onCompensated(tx, saga) {
        const input = saga.input as DedicateInput;
        await deps.actions.record(tx.db, { actor: input.actor, action: 'tenant.dedicate', target: input.tenantId, outcome: 'rolled-back', detail: { run: input.runId, failedStep: saga.failedStep, error: saga.lastError } });
      },
    },
  };
}

type SCtx = SagaStepContext<ShareInput>;

/**
 * Moves a tenant from its dedicated shard back to a shared shard of its region, live:
 *  1. reserve-shard: the dedicated shard drained (nothing is placed on it once its tenant left).
 *     Undone by activating it again;
 *  2. move: the live tenant move to the shared shard started; a move that rolls back leaves the
 *     tenant whole on its dedicated shard, which is activated again;
 *  3. await-move: the move followed to its end without holding a worker, as for a dedicate;
 *  4. free-shard: the freed shard retired (its database is kept: dropping it is a separate, manual
 *     step), or, with keep, activated again as a free dedicated shard for the next dedicate (or a
 *     dedicated sign-up);
 *  5. finish: the outcome in ops_actions and the tenant's audit log.
 */
export function tenantShareSaga(deps: DedicatedSagaDeps): SagaDefinition<ShareInput> {
  const reserve: SagaStep<ShareInput> = {
    id: ShareSteps.RESERVE_SHARD,
    description: 'the dedicated shard drained: nothing is placed on it once its tenant left',
    async run(ctx: SCtx) {
      const r = await registry(() => deps.statuses.drain(ctx.input.source.name, ctx.input.actor));
      return json({ shard: r.shard.name, changed: r.changed });
    },
    async compensate(ctx: SCtx) {
      // Only a drain this run made is undone (a shard ops had drained before stays so).
      const out = ctx.state[ShareSteps.RESERVE_SHARD] as { changed?: boolean } | undefined;
      if (!out?.changed) return;
      const s = await deps.shards.byName(deps.control.db, ctx.input.source.name);
      if (s?.status === 'draining') await deps.statuses.activate(s.name, ctx.input.actor);
    },
  };

  const move: SagaStep<ShareInput> = {
    id: ShareSteps.MOVE,
    description: 'the live move of the tenant to the shared shard started (the tenant-move saga, under the run’s move id)',
    run: (ctx: SCtx) => startMove(deps, ctx.input, ctx.input.target),
    compensate: (ctx: SCtx) => undoMove(deps, ctx, ShareSteps.MOVE),
  };

  const awaitMoveStep: SagaStep<ShareInput> = {
    id: ShareSteps.AWAIT_MOVE,
    description: 'the live move followed to its end (looked at every second, no worker held in between; reported stuck after the wait limit)',
    maxAttempts: AWAIT_MOVE_TRIES,
    run: (ctx: SCtx) => awaitMove(deps, ctx, ShareSteps.MOVE),
  };

  const free: SagaStep<ShareInput> = {
    id: ShareSteps.FREE_SHARD,
    description: 'the freed dedicated shard retired (its database kept), or with keep activated again as a free dedicated shard',
    maxAttempts: FORWARD_TRIES,
    async run(ctx: SCtx) {
      const { source, actor, keep } = ctx.input;
      if (keep) {
        const r = await deps.statuses.activate(source.name, actor);
        return json({ shard: source.name, status: r.shard.status, kept: true });
      }
      try {
        const r = await deps.statuses.retire(source.name, actor);
        return json({ shard: source.name, status: r.shard.status, kept: false, database: { host: source.host, port: source.port, database: source.database, dropped: false } });
      } catch (err) {
        // Another tenant is on it (placed there by hand): it stays draining, for ops.
        if (err instanceof ProblemException && err.code === 'shard-not-empty') return json({ shard: source.name, status: 'draining', kept: true, note: err.detail ?? err.title });
        throw err;
      }
    },
  };

  const finish: SagaStep<ShareInput> = {
    id: ShareSteps.FINISH,
    description: 'the outcome in ops_actions and the tenant’s audit log',
    maxAttempts: FORWARD_TRIES,
    async run(ctx: SCtx) {
      const { actor, tenantId, runId, source, target, keep } = ctx.input;
      await audit(deps, ctx.input, '/ops/tenants/:tenantId/share');
      await deps.actions.record(deps.control.db, { actor, action: 'tenant.share', target: tenantId, outcome: 'done', detail: { run: runId, from: source.name, to: target.name, keep } });
      return null;
    },
  };

  return {
    type: TENANT_SHARE_SAGA,
    steps: [reserve, move, awaitMoveStep, free, finish],
    hooks: {
      async onCompensated(tx, saga) {
        const input = saga.input as ShareInput;
        await deps.actions.record(tx.db, { actor: input.actor, action: 'tenant.share', target: input.tenantId, outcome: 'rolled-back', detail: { run: input.runId, failedStep: saga.failedStep, error: saga.lastError } });
      },
    },
  };
}
