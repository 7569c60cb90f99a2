import { sql } from 'kysely';
import { AccessEvents, parseTenantId } from '@hotdash/contracts';
import type { DbRoleCredentials } from '@hotdash/platform-config';
import { ControlDatabase, type ShardInfo, ShardRouter, TenantDatabase, TenantMove, TenantMoveError, TenantMover } from '@hotdash/platform-db';
import { Json, NonRetryableStepError, SagaDefinition, SagaStep, SagaStepContext } from '@hotdash/platform-jobs';
import { publishInTx } from '@hotdash/platform-messaging';

export const TENANT_MOVE_SAGA = 'tenant-move';

/**
 * Injection token of an optional test seam (TenantMoveDeps.checkpoint): a function called at named
 * points of a move's steps. Specs provide it (a global module) to fail or kill a move at a point.
 */
export const TENANT_MOVE_CHECKPOINT = Symbol('TENANT_MOVE_CHECKPOINT');

/** The tenant's region before and after a move to another region that ops forced. The cut-over changes the tenant's region in the placement's transaction. */
export interface RegionChange {
  [key: string]: Json;
  from: string;
  to: string;
}

/** A move's region change, if ops forced one (see TenantMoveInput). */
export function regionChangeOf(input: TenantMoveInput): RegionChange | null {
  const c = input['regionChange'] as Partial<RegionChange> | null | undefined;
  return c && typeof c.from === 'string' && typeof c.to === 'string' ? { from: c.from, to: c.to } : null;
}

/** What a move's audit entries name as the resource (access.recorded), besides the gateway's entry of the request. */
export const MOVE_AUDIT_RESOURCE = 'tenant-move';
/** The audit entry of a forced move's region change (its resource id: the tenant's new region). */
export const REGION_AUDIT_RESOURCE = 'tenant-region';

/** A shard as the saga keeps it (its input is jsonb). */
export interface MoveShard {
  [key: string]: Json;
  id: string;
  name: string;
  host: string;
  port: number;
  database: string;
  kind: string;
  status: string;
}

/**
 * A move's input. A move to another region that ops forced (allowRegionChange) also carries
 * `regionChange` ({@link RegionChange}, read with {@link regionChangeOf}); a move within the region,
 * and every move started before regions, has none. Kept out of the declared fields so that inputs
 * made before it (and types extending this one) stay valid.
 */
export interface TenantMoveInput {
  [key: string]: Json;
  moveId: string;
  tenantId: string;
  source: MoveShard;
  target: MoveShard;
  /** The placement version the move starts from; the cut-over makes it one more. */
  fromVersion: number;
  actor: string;
}

/** Step ids: persisted, never renamed. */
export const MoveSteps = {
  FENCE_TARGET: 'fence-target',
  PUBLISH: 'publish',
  SLOT: 'slot',
  SUBSCRIBE: 'subscribe',
  INITIAL_COPY: 'initial-copy',
  CATCH_UP: 'catch-up',
  CUT_OVER: 'cut-over',
  DROP_REPLICATION: 'drop-replication',
  POST_VERIFY: 'post-verify',
  CLEANUP_SOURCE: 'cleanup-source',
  FINISH: 'finish',
} as const;

export interface TenantMoveDeps {
  mover: TenantMover;
  control: ControlDatabase;
  tenantDb: TenantDatabase;
  router: ShardRouter;
  /** How long the initial copy may take (default 1 h: a big tenant copies for minutes). */
  copyTimeoutMs?: number;
  /** Catch-up: markers must come back within this (default 200 ms) before the verification pause, waited for at most catchUpTimeoutMs (default 5 min). */
  catchUpLagMs?: number;
  catchUpTimeoutMs?: number;
  /** Pause attempts per cut-over try (each refused one changes nothing; default 10). */
  pauseAttempts?: number;
  /** Test seam: called at named points of the steps (the SIGKILL drills kill the process there). */
  checkpoint?: (point: string) => void | Promise<void>;
  /**
   * The cut-over's placement, when it is not the control plane's row moved from the source to the
   * target (the default): a pilot import's source is no shard of this platform, and its tenant is
   * placed on the target (fenced there until the cut-over) from the start.
   */
  placement?: MovePlacement;
}

/** How a move's cut-over checks (before its pause) and sets (after the target opened; idempotent) the tenant's placement. */
export interface MovePlacement {
  /** The placement is what the move started from; a NonRetryableStepError otherwise. */
  check(m: TenantMove, fromVersion: number): Promise<void>;
  /** The placement names the target at fromVersion + 1 (run again on a resumed cut-over). */
  move(m: TenantMove, fromVersion: number): Promise<void>;
}

/** Steps after the decision only go forward: they retry (with the engine's growing backoff) rather than fail. */
const FORWARD_TRIES = 20;

type Ctx = SagaStepContext<TenantMoveInput>;
type Step = SagaStep<TenantMoveInput>;

/**
 * A shard of the input as the mover takes it. A source's own role (`credentials`: a pilot import's,
 * unsealed in memory for one step by the import saga, never stored in the input) is passed on.
 */
const shardOf = (s: MoveShard): ShardInfo & { credentials?: DbRoleCredentials } => {
  const credentials = s['credentials'] as DbRoleCredentials | undefined;
  return { id: s.id, name: s.name, host: s.host, port: s.port, database: s.database, kind: s.kind as ShardInfo['kind'], status: s.status as ShardInfo['status'], ...(credentials ? { credentials } : {}) };
};
const moveOf = (ctx: Ctx): TenantMove => ({
  moveId: ctx.input.moveId,
  tenantId: parseTenantId(ctx.input.tenantId),
  source: shardOf(ctx.input.source),
  target: shardOf(ctx.input.target),
  // A pilot import's replay window (PilotImportInput); a move between the platform's shards has none.
  ...(typeof ctx.input['replayPublishedWithinMs'] === 'number' && ctx.input['replayPublishedWithinMs'] > 0 ? { replayPublishedWithinMs: ctx.input['replayPublishedWithinMs'] } : {}),
});
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A mover's refusal that retrying cannot fix fails the step at once (compensations run, or, after the decision, the saga stops for ops). */
async function moving<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof TenantMoveError && !err.retryable) throw new NonRetryableStepError(err.message, err.code);
    throw err;
  }
}

/** What the saga keeps of a step's output, as jsonb. */
const json = (v: unknown): Json => JSON.parse(JSON.stringify(v)) as Json;

/**
 * A live tenant move between shards (docs/tenant-move.md §8): the target fenced, the tenant's rows
 * replicated (publication row-filtered on the tenant, slot, subscription), caught up, verified, cut
 * over under a pause of that tenant alone (its queues moved by the mover, the decision = the
 * source's fence, the target opened, the placement version bumped and announced), then replication
 * dropped, verified again and the source's rows deleted (its fence stays, a tombstone).
 *
 * Before the decision every step has its compensation (the tenant stays whole on its source: the
 * compensations remove replication and what the target got). The decision is recorded on the source
 * itself, so a resumed cut-over finishes it however the saga's own record stands; from there the
 * steps only go forward (retried, never undone: the compensation of fence-target refuses a decided
 * move, and the saga stops as failed for ops rather than remove the only live copy).
 */
export function tenantMoveSaga(deps: TenantMoveDeps): SagaDefinition<TenantMoveInput> {
  const { mover, control, tenantDb, router } = deps;
  const checkpoint = async (point: string) => deps.checkpoint?.(point);

  const fenceTarget: Step = {
    id: MoveSteps.FENCE_TARGET,
    description: 'fence the tenant on the target (it refuses the tenant until the cut-over opens it)',
    run: (ctx) => moving(async () => void (await mover.fenceTarget(moveOf(ctx)))),
    async compensate(ctx) {
      const m = moveOf(ctx);
      await moving(() => mover.abortTarget(m));
      await mover.removeMarkers(m);
    },
  };

  const publish: Step = {
    id: MoveSteps.PUBLISH,
    description: "publication of the tenant's rows on the source (every tenant table but the queues, row-filtered on the tenant)",
    run: (ctx) => moving(async () => json(await mover.publish(moveOf(ctx)))),
    compensate: (ctx) => mover.dropPublication(moveOf(ctx)),
  };

  const slot: Step = {
    id: MoveSteps.SLOT,
    description: 'logical replication slot on the source',
    run: (ctx) => moving(async () => json(await mover.createSlot(moveOf(ctx)))),
    compensate: (ctx) => mover.dropSlots(moveOf(ctx), subscriptionOf(ctx)),
  };

  const subscribe: Step = {
    id: MoveSteps.SUBSCRIBE,
    description: 'subscription on the target: copies the rows, then streams the changes',
    run: (ctx) => moving(async () => json(await mover.subscribe(moveOf(ctx)))),
    compensate: (ctx) => mover.dropSubscription(moveOf(ctx)),
  };

  const initialCopy: Step = {
    id: MoveSteps.INITIAL_COPY,
    description: "initial copy of every table done and streaming; the queues' finished rows copied (pass 1)",
    async run(ctx) {
      const m = moveOf(ctx);
      await checkpoint('initial-copy');
      const copied = await moving(() => mover.waitForCopy(m, deps.copyTimeoutMs ?? 60 * 60_000));
      const pass = await moving(() => mover.copyQueueHistory(m));
      return json({ tables: copied.tables, queues: pass.copied });
    },
  };

  const catchUp: Step = {
    id: MoveSteps.CATCH_UP,
    description: "target caught up (markers); the queues' finished rows copied again (pass 2); both copies verified on snapshots taken in a short pause",
    async run(ctx) {
      const m = moveOf(ctx);
      await checkpoint('catch-up');
      const lag = await moving(() => mover.catchUp(m, deps.catchUpLagMs ?? 200, deps.catchUpTimeoutMs ?? 5 * 60_000));
      const pass = await moving(() => mover.copyQueueHistory(m));
      const verified = await moving(() => mover.verify(m));
      return json({ markerMs: lag.markerMs, horizon: pass.horizon, queues: pass.copied, verified });
    },
  };

  const cutOver: Step = {
    id: MoveSteps.CUT_OVER,
    description: 'cut-over under a pause of the tenant alone: queues moved, the decision (source fenced), target opened, placement version bumped and announced',
    maxAttempts: FORWARD_TRIES,
    async run(ctx) {
      const m = moveOf(ctx);
      const from = ctx.input.fromVersion;
      const toRegion = regionChangeOf(ctx.input)?.to;
      const place = async (db: ControlDatabase['db']) => {
        const moved = await db
          .updateTable('tenant_placements')
          .set({ shard_id: m.target.id, version: from + 1, placed_at: sql<Date>`now()` })
          .where('tenant_id', '=', m.tenantId)
          .where('shard_id', '=', m.source.id)
          .where('version', '=', from)
          .executeTakeFirst();
        if (moved.numUpdatedRows === 0n) {
          const now = await db.selectFrom('tenant_placements').select(['shard_id', 'version']).where('tenant_id', '=', m.tenantId).executeTakeFirst();
          if (now?.shard_id !== m.target.id || now.version !== from + 1)
            throw new NonRetryableStepError(`the placement of tenant ${m.tenantId} changed during the move (now ${now?.shard_id}:${now?.version}); it is served by ${m.target.name} (fenced on ${m.source.name})`, 'placement-changed');
        }
        // A move to another region that ops forced: the tenant's region follows its data in the
        // placement's own transaction (the control plane checks at commit that the two agree).
        if (toRegion) await db.updateTable('tenants').set({ region: toRegion, updated_at: sql<Date>`now()` }).where('id', '=', m.tenantId).execute();
      };
      const movePlacement = async () => {
        await checkpoint('cut-over:target-open');
        if (deps.placement) await deps.placement.move(m, from);
        else if (toRegion) await control.withControl((tx) => place(tx.db));
        else await place(control.db);
        router.invalidate(m.tenantId);
      };
      // Resumed after the decision: finish it (both idempotent).
      if (await mover.decided(m)) {
        await mover.openTarget(m);
        await movePlacement();
        return json({ resumedAfterDecision: true, placementVersion: from + 1 });
      }
      if (deps.placement) await deps.placement.check(m, from);
      else {
        const placed = await control.db.selectFrom('tenant_placements').select(['shard_id', 'version']).where('tenant_id', '=', m.tenantId).executeTakeFirst();
        if (placed?.shard_id !== m.source.id || placed.version !== from)
          throw new NonRetryableStepError(`the placement of tenant ${m.tenantId} changed since the move started (now ${placed?.shard_id}:${placed?.version})`, 'placement-changed');
      }
      const horizon = String((ctx.state[MoveSteps.CATCH_UP] as { horizon: string }).horizon);
      await checkpoint('cut-over');
      const attempts = deps.pauseAttempts ?? 10;
      for (let attempt = 1; attempt <= attempts; attempt++) {
        const r = await moving(() => mover.cutOver(m, horizon, from, movePlacement, (point) => checkpoint(`cut-over:${point}`)));
        if (r !== 'refused') return json({ attempt, ...r });
        await sleep(100 * attempt);
      }
      throw new TenantMoveError(`tenant ${m.tenantId} could not be paused in ${attempts} attempts (its transactions kept running past the lock timeout)`, 'pause-refused', true);
    },
  };

  const dropReplication: Step = {
    id: MoveSteps.DROP_REPLICATION,
    description: 'subscription, slots and publication dropped',
    maxAttempts: FORWARD_TRIES,
    run: async (ctx) => {
      await checkpoint('drop-replication');
      await mover.dropReplication(moveOf(ctx), subscriptionOf(ctx));
      return null;
    },
  };

  const postVerify: Step = {
    id: MoveSteps.POST_VERIFY,
    description: "the frozen source against the target as it was at the decision (skipped when the process that took that snapshot stopped)",
    maxAttempts: FORWARD_TRIES,
    run: (ctx) => moving(async () => json((await mover.verifyAfterCutOver(moveOf(ctx))) ?? { skipped: 'the snapshot taken at the decision is gone (the mover restarted); the verification before the cut-over stands' })),
  };

  const cleanupSource: Step = {
    id: MoveSteps.CLEANUP_SOURCE,
    description: "the tenant's rows deleted on the source in batches (its fence stays)",
    maxAttempts: FORWARD_TRIES,
    async run(ctx) {
      await checkpoint('cleanup-source');
      return json(await mover.cleanupSource(moveOf(ctx)));
    },
  };

  const finish: Step = {
    id: MoveSteps.FINISH,
    description: "the move's outcome in the tenant's audit log",
    maxAttempts: FORWARD_TRIES,
    async run(ctx) {
      const m = moveOf(ctx);
      router.invalidate(m.tenantId);
      const entry = (resourceType: string, resourceId: string) => ({
        actor: ctx.input.actor.slice(0, 100),
        action: 'update' as const,
        resourceType,
        resourceId,
        method: 'POST',
        route: '/ops/tenants/:tenantId/move',
        status: 200,
        ipEnc: null,
        at: new Date().toISOString(),
      });
      const toRegion = regionChangeOf(ctx.input)?.to;
      await tenantDb.withTenant(m.tenantId, async (tx) => {
        const meta = { tenantId: m.tenantId, producer: 'provisioning', correlationId: m.moveId };
        await publishInTx(tx, AccessEvents.RECORDED, entry(MOVE_AUDIT_RESOURCE, m.moveId), meta);
        // The region change of a forced move, on its own: who moved the tenant's data to which region.
        if (toRegion) await publishInTx(tx, AccessEvents.RECORDED, entry(REGION_AUDIT_RESOURCE, toRegion), meta);
      });
      return null;
    },
  };

  return { type: TENANT_MOVE_SAGA, steps: [fenceTarget, publish, slot, subscribe, initialCopy, catchUp, cutOver, dropReplication, postVerify, cleanupSource, finish] };
}

/** The subscription's oid once the subscribe step completed (its table-sync slots on the source are named after it). */
function subscriptionOf(ctx: Ctx): string | undefined {
  const out = ctx.state[MoveSteps.SUBSCRIBE] as { subscriptionOid?: string } | undefined;
  return out?.subscriptionOid;
}
