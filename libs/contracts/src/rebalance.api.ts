// Rebalancing a region's shared shards as an ops API (gateway: POST /ops/rebalance, GET
// /ops/rebalance/runs/{id}; served by provisioning): the request body, the plan, the run and the
// stable problem codes, one definition for the service, the gateway's OpenAPI document and the ops
// command line. How a plan is made: docs/operations.md ("Rebalancing a region").
import { z } from 'zod';
import { uuidSchema } from './envelope';
import { SignUpProblems } from './provisioning.api';
import { REGION } from './shards.api';

/** Stable codes of a rebalance's problems (RFC 9457 `code`). Every refusal changes nothing. */
export const RebalanceProblems = {
  /** 422: no shard is registered in that region. */
  REGION_UNKNOWN: SignUpProblems.REGION_UNKNOWN,
  /** 422: nothing to even out: the region has no active shared shard to move tenants to, or a single shared shard and none draining. */
  TOO_FEW_SHARDS: 'rebalance-too-few-shards',
  /** 409: a rebalance of the region is running: follow it (its run id is in the detail). */
  RUNNING: 'rebalance-running',
  /** 503: a shard of the region could not be read to measure its tenants. */
  SHARD_UNAVAILABLE: 'shard-unavailable',
} as const;
export type RebalanceProblemCode = (typeof RebalanceProblems)[keyof typeof RebalanceProblems];

/** Moves a rebalance carries out at once, at most (each holds a replication slot and a subscription). */
export const MAX_REBALANCE_CONCURRENCY = 4;
/** Moves one plan may hold, at most. */
export const MAX_REBALANCE_MOVES = 1_000;

/**
 * Body of POST /ops/rebalance. `dryRun` is required (a call that moves tenants says so): true only
 * plans (200 with the plan), false plans and starts the run (202). `maxMoves` cuts the plan after so
 * many moves (the drain's first); `concurrency` (default 1: one move at a time) moves that many
 * tenants at once.
 */
export const startRebalanceBody = z
  .object({
    region: z.string().regex(REGION, 'region must be 1 to 63 lower-case letters, digits and dashes (e.g. eu-west-1)'),
    dryRun: z.boolean({ message: 'dryRun must be true or false' }),
    maxMoves: z.number().int().min(1).max(MAX_REBALANCE_MOVES).optional(),
    concurrency: z.number().int().min(1).max(MAX_REBALANCE_CONCURRENCY).optional(),
  })
  .strict();
export type StartRebalanceBody = z.infer<typeof startRebalanceBody>;

/** A shard's load: the tenants it holds and their bytes (each tenant's share of the shard's tenant tables on disk). */
export const shardLoad = z.object({ tenants: z.number().int(), bytes: z.number().int() });
export type ShardLoad = z.infer<typeof shardLoad>;

/** A shared shard of the region in a plan: its load now and once the plan has run. */
export const rebalanceShard = z.object({ name: z.string(), status: z.enum(['active', 'draining']), before: shardLoad, after: shardLoad });
export type RebalanceShard = z.infer<typeof rebalanceShard>;

/** How far apart the region's active shared shards are: fewest and most tenants, smallest, largest and mean bytes. */
export const rebalanceSpread = z.object({
  tenants: z.object({ min: z.number().int(), max: z.number().int() }),
  bytes: z.object({ min: z.number().int(), max: z.number().int(), mean: z.number().int() }),
});
export type RebalanceSpread = z.infer<typeof rebalanceSpread>;

/** Why a move is in the plan: its shard is draining (moved first), or it evens the active shards out. */
export const RebalanceReasons = ['drain', 'balance'] as const;

/** One move of a plan. */
export const plannedMove = z.object({
  tenantId: uuidSchema,
  slug: z.string(),
  from: z.string(),
  to: z.string(),
  bytes: z.number().int(),
  reason: z.enum(RebalanceReasons),
});
export type PlannedMove = z.infer<typeof plannedMove>;

/**
 * Why a tenant of the region's shared shards is left where it is (its load still counts): a move of
 * it is running; a dedicate or share run of it is running (it starts its own move); a pilot import of
 * it is running; it is suspended; it is not active (being provisioned or offboarded); a backup or
 * restore of it is running; its shard refused to be read for it (being moved, fenced).
 */
export const PinReasons = ['moving', 'dedicated-run', 'import-run', 'suspended', 'not-active', 'archive-running', 'unmeasured'] as const;
export type PinReason = (typeof PinReasons)[number];
export const pinnedTenant = z.object({ tenantId: uuidSchema, slug: z.string(), shard: z.string(), reason: z.enum(PinReasons) });
export type PinnedTenant = z.infer<typeof pinnedTenant>;

/**
 * A rebalance plan of one region: the tenants of its draining shared shards moved to its active ones
 * first, then the moves that even out the active shards' tenant counts and bytes, each the one that
 * evens them most, until counts are within one and bytes within the tolerance (or no move helps, or
 * `maxMoves` is reached: `truncated`). Dedicated shards and their tenants are never part of it.
 */
export const rebalancePlan = z.object({
  region: z.string(),
  measuredAt: z.iso.datetime({ offset: true }),
  shards: z.array(rebalanceShard),
  moves: z.array(plannedMove),
  pinned: z.array(pinnedTenant),
  before: rebalanceSpread,
  after: rebalanceSpread,
  truncated: z.boolean(),
});
export type RebalancePlan = z.infer<typeof rebalancePlan>;

/** Answer of a dry run (200): the plan; nothing was changed. */
export const rebalanceDryRun = z.object({ dryRun: z.literal(true), plan: rebalancePlan });
export type RebalanceDryRun = z.infer<typeof rebalanceDryRun>;

/**
 * A planned move's progress in a run: `waiting`; `running` (its move's run id set); `succeeded`;
 * `skipped` (the platform refused it before anything changed: `code` says why, e.g. the tenant was
 * suspended or another move of it started meanwhile; the run goes on); `failed` (the move started
 * and rolled back or failed: the run stops there); `not-run` (the run stopped before it).
 */
export const RebalanceMoveStates = ['waiting', 'running', 'succeeded', 'skipped', 'failed', 'not-run'] as const;
export type RebalanceMoveState = (typeof RebalanceMoveStates)[number];
export const rebalanceMoveProgress = plannedMove.extend({
  state: z.enum(RebalanceMoveStates),
  /** The move's run once started (GET /ops/tenants/{tenantId}/moves/{runId}). */
  runId: uuidSchema.nullable(),
  /** A refusal's problem code (skipped) or how the move ended (failed: rolled-back, failed). */
  code: z.string().nullable(),
  error: z.string().nullable(),
  startedAt: z.iso.datetime({ offset: true }).nullable(),
  finishedAt: z.iso.datetime({ offset: true }).nullable(),
});
export type RebalanceMoveProgress = z.infer<typeof rebalanceMoveProgress>;

/**
 * A run's state: `running`; `succeeded` (every move succeeded or was skipped); `failed` (a move
 * failed or rolled back: the run stopped, later moves not run); `interrupted` (the process running
 * it stopped: a move it had started goes on as its own saga; plan again, the moving tenant is left
 * out).
 */
export const RebalanceRunStatuses = ['running', 'succeeded', 'failed', 'interrupted'] as const;
export type RebalanceRunStatus = (typeof RebalanceRunStatuses)[number];

/** A rebalance run (answer of POST /ops/rebalance, 202; GET /ops/rebalance/runs/{id}). */
export const rebalanceRun = z.object({
  id: uuidSchema,
  region: z.string(),
  status: z.enum(RebalanceRunStatuses),
  /** Who started it: `ops:<operator id>`. */
  actor: z.string(),
  concurrency: z.number().int(),
  plan: rebalancePlan,
  moves: z.array(rebalanceMoveProgress),
  /** Why it stopped, when it failed. */
  error: z.string().nullable(),
  startedAt: z.iso.datetime({ offset: true }),
  /** The last sign of life of the process running it. */
  updatedAt: z.iso.datetime({ offset: true }),
  finishedAt: z.iso.datetime({ offset: true }).nullable(),
});
export type RebalanceRun = z.infer<typeof rebalanceRun>;

/** Path parameters of /ops/rebalance/runs/{id}. */
export const rebalanceRunParams = z.object({ id: uuidSchema }).strict();
