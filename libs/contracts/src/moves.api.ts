// Live tenant moves as an ops API (gateway: POST /ops/tenants/{tenantId}/move, GET
// /ops/tenants/{tenantId}/moves/{runId}; served by provisioning): the request body, the answers'
// shapes and the stable problem codes, one definition for the service, the gateway's OpenAPI
// document and the ops command line. How a move works: docs/tenant-move.md.
import { z } from 'zod';
import { uuidSchema } from './envelope';
import { SHARD_NAME } from './shards.api';

/**
 * Stable codes of a move's problems (RFC 9457 `code`). Every refusal changes nothing.
 */
export const MoveProblems = {
  /** 404: no shard of the name given. */
  SHARD_NOT_FOUND: 'shard-not-found',
  /** 409: the tenant is already on that shard. */
  SAME_SHARD: 'move-same-shard',
  /** 409: the target shard is draining or retired: it takes no tenant. */
  SHARD_NOT_ACTIVE: 'move-shard-not-active',
  /** 422: the target shard is in another region than the tenant (data residency); only a move with `allowRegionChange` may leave it. */
  SHARD_OTHER_REGION: 'move-shard-other-region',
  /** 409: the two shards are at different schema versions: migrate both first (`hotdash-ops migrations run`). */
  SCHEMA_DIFFERS: 'move-schema-differs',
  /** 409: the target already holds rows of the tenant: erase them there first. */
  TARGET_HOLDS_ROWS: 'move-target-holds-rows',
  /** 409: the source's server does not decode logical replication (wal_level is not logical): configure and restart it. */
  REPLICATION_UNAVAILABLE: 'move-replication-unavailable',
  /** 409: a table of the source has no replica identity holding tenant_id: fix the schema (enable_tenant_rls sets it). */
  REPLICA_IDENTITY_MISSING: 'move-replica-identity-missing',
  /** 409: the tenant is not active or suspended. */
  INVALID_TENANT_STATUS: 'invalid-tenant-status',
  /** 409: a move of this tenant is running: follow it (its run id is in the detail). */
  IN_PROGRESS: 'tenant-move-in-progress',
  /** 409: a backup or restore of this tenant is running: wait for it. */
  ARCHIVE_RUN_IN_PROGRESS: 'tenant-archive-run-in-progress',
  /** 503: a shard cannot be reached, or the mover's roles cannot connect to it. */
  SHARD_UNAVAILABLE: 'shard-unavailable',
} as const;
export type MoveProblemCode = (typeof MoveProblems)[keyof typeof MoveProblems];

/**
 * Body of POST /ops/tenants/{tenantId}/move: the target shard's name; a dry run checks everything
 * and starts nothing. `allowRegionChange` lets ops move the tenant to a shard of another region
 * (data residency: the tenant's data then lives there, and its region becomes the target's at the
 * cut-over); without it such a move is refused (422 move-shard-other-region). It is recorded in the
 * ops action and in the tenant's audit log.
 */
export const startMoveBody = z
  .object({
    shard: z.string().regex(SHARD_NAME, 'shard must be a shard name (`hotdash-ops shards list`)'),
    dryRun: z.boolean({ message: 'dryRun must be true or false' }).optional(),
    allowRegionChange: z.boolean({ message: 'allowRegionChange must be true or false' }).optional(),
  })
  .strict();
export type StartMoveBody = z.infer<typeof startMoveBody>;

/** Path parameters of GET /ops/tenants/{tenantId}/moves/{runId}. */
export const tenantMoveRunParams = z.object({ tenantId: uuidSchema, runId: uuidSchema }).strict();

/**
 * A move's state: `running`; `rolling-back` (a step failed before the decision: the tenant stays on
 * its source, what the move made is being removed); `succeeded`; `rolled-back` (the tenant is whole
 * on its source, nothing of the move is left); `failed` (an undo could not finish, or a step after
 * the decision stopped: the detail says what; the tenant is served by one of the two shards, never
 * by both).
 */
export const MoveStatuses = ['running', 'rolling-back', 'succeeded', 'rolled-back', 'failed'] as const;
export type MoveStatus = (typeof MoveStatuses)[number];

/** One step of a move: its id (fence-target, publish, slot, subscribe, initial-copy, catch-up, cut-over, drop-replication, post-verify, cleanup-source, finish). */
export const tenantMoveStep = z.object({
  id: z.string(),
  description: z.string(),
  status: z.string(),
  attempts: z.number().int(),
  lastError: z.string().nullable(),
  startedAt: z.string().nullable(),
  completedAt: z.string().nullable(),
  compensatedAt: z.string().nullable(),
  /** What the step reported (rows, timings, the cut-over's pause), once completed. */
  detail: z.unknown().nullable(),
});
export type TenantMoveStep = z.infer<typeof tenantMoveStep>;

/** The tenant's region before and after a move to another region. */
export const regionChange = z.object({ from: z.string(), to: z.string() });

/** A move (answer of POST …/move, 202; GET …/moves/{runId}). */
export const tenantMoveRun = z.object({
  id: uuidSchema,
  tenantId: uuidSchema,
  source: z.string(),
  target: z.string(),
  status: z.enum(MoveStatuses),
  /** The step running (or that failed); null once finished. */
  phase: z.string().nullable(),
  /** Whether the cut-over's decision was taken: from there the move only goes forward. */
  decided: z.boolean(),
  /** The placement version before the move (the move makes it one more). */
  fromVersion: z.number().int(),
  /** A move to another region that ops forced (allowRegionChange): the tenant's region before and after; null for a move within its region. */
  regionChange: regionChange.nullable(),
  actor: z.string(),
  /** The initial copy's progress (tables copied and streaming of all), while it runs. */
  progress: z.object({ tablesReady: z.number().int(), tables: z.number().int() }).nullable(),
  steps: z.array(tenantMoveStep),
  error: z.string().nullable(),
  startedAt: z.string(),
  finishedAt: z.string().nullable(),
});
export type TenantMoveRun = z.infer<typeof tenantMoveRun>;

/** Answer of a dry run (200): every check passed; what the move would do. */
export const tenantMovePlan = z.object({
  dryRun: z.literal(true),
  tenantId: uuidSchema,
  source: z.string(),
  target: z.string(),
  fromVersion: z.number().int(),
  /** Set when the move would change the tenant's region (allowRegionChange given). */
  regionChange: regionChange.nullable(),
  /** The steps the move would run, in order. */
  steps: z.array(z.object({ id: z.string(), description: z.string() })),
});
export type TenantMovePlan = z.infer<typeof tenantMovePlan>;
