// Dedicated databases for Enterprise tenants as an ops API (gateway: POST
// /ops/tenants/{tenantId}/dedicate, POST /ops/tenants/{tenantId}/share, GET
// /ops/tenants/{tenantId}/dedicated-runs/{runId}; served by provisioning): the request bodies, the
// answers' shapes and the stable problem codes, one definition for the service, the gateway's
// OpenAPI document and the ops command line. How it works: docs/operations.md ("Dedicated
// databases"); the move it runs: docs/tenant-move.md.
import { z } from 'zod';
import { uuidSchema } from './envelope';
import { SHARD_NAME } from './shards.api';
import { MoveStatuses } from './moves.api';

/**
 * Stable codes of the dedicated-database problems (RFC 9457 `code`). Every refusal changes
 * nothing. A move running, a backup or restore running, a tenant not active or suspended, the
 * mover's checks of the two shards answer with the move's codes (moves.api.ts MoveProblems).
 */
export const DedicatedProblems = {
  /** 422: only an Enterprise tenant gets a dedicated database (change its plan first). */
  NOT_ENTERPRISE: 'tenant-not-enterprise',
  /** 409: the tenant is on a dedicated shard already. */
  ALREADY_DEDICATED: 'tenant-already-dedicated',
  /** 409: the tenant is on a shared shard (share: there is nothing to share back). */
  NOT_DEDICATED: 'tenant-not-dedicated',
  /** 409: a dedicate or share run of this tenant is running: follow it (its run id is in the detail). */
  RUN_IN_PROGRESS: 'dedicated-run-in-progress',
  /** 409: a database of that name exists on that server and was not made by the platform for this tenant (or it is another shard). */
  DATABASE_EXISTS: 'dedicated-database-exists',
  /** 409: reuse was asked for and no free dedicated shard (active, no tenant) is in the tenant's region, or the named shard is not one. */
  NO_FREE_SHARD: 'no-free-dedicated-shard',
  /** 409: no active shared shard in the tenant's region to share it back to, or the named shard is not one. */
  NO_SHARED_SHARD: 'no-shared-shard',
  /** 422: the platform's owner role may not create databases on that server (it needs CREATEDB there). */
  CANNOT_CREATE_DATABASE: 'owner-cannot-create-database',
  /** 409 (plan change): an Enterprise tenant on a dedicated shard is shared back first (`hotdash-ops tenants share`), then downgraded. */
  DOWNGRADE_ON_DEDICATED: 'tenant-on-dedicated-shard',
} as const;
export type DedicatedProblemCode = (typeof DedicatedProblems)[keyof typeof DedicatedProblems];

/** A database name the platform creates: a lower-case PostgreSQL identifier (letters, digits, underscores; at most 63). */
export const DEDICATED_DATABASE_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

const shardName = z.string().regex(SHARD_NAME, 'shard must be 1 to 63 lower-case letters, digits and dashes, starting and ending with a letter or digit');

/**
 * Body of POST /ops/tenants/{tenantId}/dedicate. Everything is optional:
 *  - without a location and without `reuse: false`, a free dedicated shard of the tenant's region
 *    (kind dedicated, active, no tenant: one kept by `share --keep`, or registered ahead) is reused
 *    when there is one; otherwise a database is created;
 *  - a database is created on the server of the tenant's current shard unless `host`/`port` say
 *    another, named `database` (default `hotdash_dedicated_<tenant id without dashes>`), and
 *    registered as shard `shard` (default `dedicated-<tenant id without dashes>`);
 *  - `reuse: true` insists on a free dedicated shard (`shard` names which one), `reuse: false` always
 *    creates a database.
 * A dry run checks everything and starts nothing.
 */
export const dedicateBody = z
  .object({
    host: z
      .string()
      .min(1)
      .max(253)
      .regex(/^[A-Za-z0-9.:-]+$/, 'host must be a host name or an IP address')
      .optional(),
    port: z.number().int().min(1).max(65_535).optional(),
    database: z.string().regex(DEDICATED_DATABASE_NAME, 'database must be a lower-case PostgreSQL identifier: letters, digits and underscores, at most 63').optional(),
    shard: shardName.optional(),
    reuse: z.boolean({ message: 'reuse must be true or false' }).optional(),
    dryRun: z.boolean({ message: 'dryRun must be true or false' }).optional(),
  })
  .strict()
  .refine((b) => !(b.reuse === true && (b.host !== undefined || b.port !== undefined || b.database !== undefined)), {
    message: 'reuse takes a free dedicated shard as it is: give no host, port or database with it (only shard, to name which one)',
    path: ['reuse'],
  });
export type DedicateBody = z.infer<typeof dedicateBody>;

/**
 * Body of POST /ops/tenants/{tenantId}/share: move the tenant from its dedicated shard back to the
 * active shared shard of its region with the fewest tenants (or `shard`). The freed dedicated shard
 * is drained and retired (its database is kept: dropping it is a separate, manual step), or, with
 * `keep`, stays an active dedicated shard with no tenant for the next dedicate (or a dedicated sign-up).
 */
export const shareBody = z
  .object({
    keep: z.boolean({ message: 'keep must be true or false' }).optional(),
    shard: shardName.optional(),
    dryRun: z.boolean({ message: 'dryRun must be true or false' }).optional(),
  })
  .strict();
export type ShareBody = z.infer<typeof shareBody>;

/** Path parameters of GET /ops/tenants/{tenantId}/dedicated-runs/{runId}. */
export const dedicatedRunParams = z.object({ tenantId: uuidSchema, runId: uuidSchema }).strict();

export const DedicatedRunKinds = ['dedicate', 'share'] as const;
export type DedicatedRunKind = (typeof DedicatedRunKinds)[number];

/** How a dedicate gets its shard: a database created, one the platform made for this tenant before (adopted), or a free dedicated shard reused. */
export const DedicatedTargetModes = ['create', 'adopt', 'reuse'] as const;
export type DedicatedTargetMode = (typeof DedicatedTargetModes)[number];

/** Where the tenant goes. */
export const dedicatedTarget = z.object({
  shard: z.string(),
  host: z.string(),
  port: z.number().int(),
  database: z.string(),
  region: z.string(),
  kind: z.enum(['shared', 'dedicated']),
  /** dedicate only: how the shard is had; null for share. */
  mode: z.enum(DedicatedTargetModes).nullable(),
});
export type DedicatedTarget = z.infer<typeof dedicatedTarget>;

/** One step of a run: dedicate: create-database, register, move, finish; share: reserve-shard, move, free-shard, finish. */
export const dedicatedRunStep = z.object({
  id: z.string(),
  description: z.string(),
  status: z.string(),
  attempts: z.number().int(),
  lastError: z.string().nullable(),
  startedAt: z.string().nullable(),
  completedAt: z.string().nullable(),
  compensatedAt: z.string().nullable(),
  /** What the step reported, once completed. */
  detail: z.unknown().nullable(),
});
export type DedicatedRunStep = z.infer<typeof dedicatedRunStep>;

/** The live move a run started (its own run: GET /ops/tenants/{tenantId}/moves/{id}). */
export const dedicatedRunMove = z.object({
  id: uuidSchema,
  status: z.enum(MoveStatuses),
  phase: z.string().nullable(),
  decided: z.boolean(),
  progress: z.object({ tablesReady: z.number().int(), tables: z.number().int() }).nullable(),
});
export type DedicatedRunMove = z.infer<typeof dedicatedRunMove>;

/**
 * A dedicate or share run (answer of POST …/dedicate or …/share, 202; GET …/dedicated-runs/{runId}).
 * Status as a move's: running, rolling-back (a step failed: what the run made is being undone, the
 * tenant stays on its source), succeeded, rolled-back (nothing of the run is left but a database the
 * run did not create, or a retired shard record), failed (an undo could not finish, or the move
 * failed after its decision: the detail says what; the tenant is served by one shard, never two).
 */
export const dedicatedRun = z.object({
  id: uuidSchema,
  kind: z.enum(DedicatedRunKinds),
  tenantId: uuidSchema,
  status: z.enum(MoveStatuses),
  /** The step running (or that failed); null once finished. */
  phase: z.string().nullable(),
  actor: z.string(),
  /** The shard the tenant was on when the run started. */
  source: z.string(),
  target: dedicatedTarget,
  /** share only: whether the freed dedicated shard is kept for reuse (else retired); null for dedicate. */
  keep: z.boolean().nullable(),
  /** The live move, once started. */
  move: dedicatedRunMove.nullable(),
  steps: z.array(dedicatedRunStep),
  error: z.string().nullable(),
  startedAt: z.string(),
  finishedAt: z.string().nullable(),
});
export type DedicatedRun = z.infer<typeof dedicatedRun>;

/** Answer of a dry run (200): every check passed; what the run would do. */
export const dedicatedPlan = z.object({
  dryRun: z.literal(true),
  kind: z.enum(DedicatedRunKinds),
  tenantId: uuidSchema,
  source: z.string(),
  target: dedicatedTarget,
  keep: z.boolean().nullable(),
  /** The run's steps, in order. */
  steps: z.array(z.object({ id: z.string(), description: z.string() })),
  /** The steps of the live move it would run. */
  moveSteps: z.array(z.object({ id: z.string(), description: z.string() })),
});
export type DedicatedPlan = z.infer<typeof dedicatedPlan>;
