// The shard registry and migrations as an ops API (gateway: /ops/shards, /ops/migrations; served by
// provisioning): request bodies, the answers' shapes and the stable problem codes, one definition
// for the service, the gateway's OpenAPI document and the ops command line that calls them.
import { z } from 'zod';
import { uuidSchema } from './envelope';

export const ShardKinds = ['shared', 'dedicated'] as const;
export type ShardKind = (typeof ShardKinds)[number];

/** active: takes new tenants; draining: keeps its tenants, takes no new one; retired: holds no tenant, not relayed or migrated. */
export const ShardStatuses = ['active', 'draining', 'retired'] as const;
export type ShardStatus = (typeof ShardStatuses)[number];

/** A shard's name: 1 to 63 lower-case letters, digits and dashes, starting and ending with a letter or digit. */
export const SHARD_NAME = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
/** A region: same form as a shard name (`eu-west-1`, `local`). */
export const REGION = SHARD_NAME;
/** The region of shards registered before regions existed (and of the bootstrap shards `npm run db:migrate` registers). */
export const DEFAULT_REGION = 'local';

/**
 * Stable codes of the shard registry's problems (RFC 9457 `code`). Every refusal leaves the
 * control plane as it was.
 */
export const ShardProblems = {
  /** 409: the name, or the location (host, port, database), is registered with other details. */
  EXISTS: 'shard-exists',
  /** 422: the shard's server cannot be reached, or refuses one of the platform's roles (owner, application, relay). */
  UNREACHABLE: 'shard-unreachable',
  /** 422: the application or relay role is a superuser, has BYPASSRLS, or can become a role that has. */
  ROLE_BYPASSES_RLS: 'shard-role-bypasses-rls',
  /** 422: the database is not prepared for the platform's roles (schema `public` usage, no CREATE for them). */
  NOT_PREPARED: 'shard-not-prepared',
  /** 422: migrating the shard to the current version failed (migrations applied before the failure stay applied). */
  MIGRATION_FAILED: 'shard-migration-failed',
  /** 422: after migrating, the catalogue guard found tables or roles that break tenant isolation. */
  CATALOGUE_MISMATCH: 'shard-catalogue-mismatch',
  /** 409: the shard still holds tenants (not offboarded): move them first. */
  NOT_EMPTY: 'shard-not-empty',
  /** 409: the shard is retired: register it again (POST /ops/shards) to bring it back. */
  RETIRED: 'shard-retired',
  /** 400: a shard name in the path that is not a shard name. */
  INVALID_NAME: 'invalid-shard-name',
} as const;
export type ShardProblemCode = (typeof ShardProblems)[keyof typeof ShardProblems];

const shardName = z.string().regex(SHARD_NAME, 'name must be 1 to 63 lower-case letters, digits and dashes, starting and ending with a letter or digit');

/**
 * Body of POST /ops/shards: where the database is and what it is for. No credentials: the platform
 * connects with its own owner, application and relay roles (its configuration), which must exist on
 * the shard's server with the same passwords.
 */
export const registerShardBody = z
  .object({
    name: shardName,
    host: z
      .string()
      .min(1)
      .max(253)
      .regex(/^[A-Za-z0-9.:-]+$/, 'host must be a host name or an IP address'),
    port: z.number().int().min(1).max(65_535),
    database: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,62}$/, 'database must be a PostgreSQL identifier: letters, digits and underscores, at most 63'),
    kind: z.enum(ShardKinds, { message: `kind must be one of: ${ShardKinds.join(', ')}` }),
    region: z.string().regex(REGION, 'region must be 1 to 63 lower-case letters, digits and dashes (e.g. eu-west-1)'),
  })
  .strict();
export type RegisterShardBody = z.infer<typeof registerShardBody>;

/** Path parameters of /ops/shards/{name}/…. */
export const shardNameParams = z.object({ name: shardName }).strict();

/**
 * Body of POST /ops/migrations. `dryRun` is required: a call that migrates every database says so
 * (true: only report what would be applied). Either way the call answers 202 with the run, followed
 * at GET /ops/migrations/runs/{id}.
 */
export const runMigrationsBody = z.object({ dryRun: z.boolean({ message: 'dryRun must be true or false' }) }).strict();
export type RunMigrationsBody = z.infer<typeof runMigrationsBody>;

/** A registered shard as the control plane records it. */
export const shardRecord = z.object({
  id: uuidSchema,
  name: z.string(),
  host: z.string(),
  port: z.number().int(),
  database: z.string(),
  kind: z.enum(ShardKinds),
  status: z.enum(ShardStatuses),
  region: z.string(),
  createdAt: z.iso.datetime({ offset: true }),
});
export type ShardRecord = z.infer<typeof shardRecord>;

/** Why a live figure is missing: the shard could not be reached, or reading it failed. */
export const shardError = z.object({ code: z.enum(['shard-unreachable', 'shard-inspection-failed']), message: z.string() });
export type ShardError = z.infer<typeof shardError>;

/** A shard's schema version: the tenant migrations applied to it (the runner's hotdash_migrations) and those not yet applied. */
export const schemaVersion = z.object({ applied: z.number().int(), latest: z.string().nullable(), pending: z.array(z.string()) });
export type SchemaVersion = z.infer<typeof schemaVersion>;

/** How far the relay is behind on a shard's outbox: rows waiting to be published (rows set aside as unpublishable not counted). */
export const relayLag = z.object({
  unpublished: z.number().int(),
  /** Age in seconds of the oldest unpublished row; null when there is none. */
  oldestUnpublishedSeconds: z.number().nullable(),
});
export type RelayLag = z.infer<typeof relayLag>;

/**
 * One shard of GET /ops/shards. Live figures (size, schema, relay lag) are read from the shard
 * itself: null with `error` set when it cannot be reached, null without error for a retired shard
 * (not read).
 */
export const shardView = shardRecord.extend({
  /** Tenants it holds: placements of tenants that are not offboarded. */
  tenantCount: z.number().int(),
  databaseSizeBytes: z.number().int().nullable(),
  schema: schemaVersion.nullable(),
  relayLag: relayLag.nullable(),
  error: shardError.nullable(),
});
export type ShardView = z.infer<typeof shardView>;

export const shardList = z.object({ shards: z.array(shardView) });
export type ShardList = z.infer<typeof shardList>;

/**
 * Answer of POST /ops/shards: `registered` (new, 201), `reregistered` (a retired shard brought back
 * as active) or `unchanged` (the same registration again: checked and migrated again, status kept).
 */
export const shardRegistration = z.object({
  shard: shardRecord,
  outcome: z.enum(['registered', 'reregistered', 'unchanged']),
  migrations: z.object({ applied: z.array(z.string()), alreadyApplied: z.number().int() }),
});
export type ShardRegistration = z.infer<typeof shardRegistration>;

/** Answer of drain, activate and retire: the shard as it is now, and whether this call changed it. */
export const shardStatusChange = z.object({ shard: shardRecord, changed: z.boolean() });
export type ShardStatusChange = z.infer<typeof shardStatusChange>;

/** A database's migrations: `control` (the control plane) or a shard by name; `target` is host:port/database. */
const databaseRef = { database: z.string(), role: z.enum(['control', 'shard']), target: z.string() };

/**
 * Why a database's migrations could not be read or applied: it cannot be reached as the owner; a
 * migration failed (it was rolled back; those before it stay applied); an applied migration's file
 * has changed since (the runner refuses to go on: add a new migration instead); after migrating, the
 * catalogue guard found a shard table or role that breaks tenant isolation.
 */
export const MigrationErrorCodes = ['database-unreachable', 'migration-failed', 'migration-changed', 'catalogue-mismatch', 'inspection-failed'] as const;
export type MigrationErrorCode = (typeof MigrationErrorCodes)[number];
const migrationError = z.object({ code: z.enum(MigrationErrorCodes), message: z.string() });

/** GET /ops/migrations: per database, what is applied and what is pending; `error` when it could not be read. */
export const databaseMigrationStatus = z.object({
  ...databaseRef,
  applied: z.number().int().nullable(),
  latest: z.string().nullable(),
  pending: z.array(z.string()),
  error: migrationError.nullable(),
});
export const migrationStatus = z.object({ databases: z.array(databaseMigrationStatus) });
export type DatabaseMigrationStatus = z.infer<typeof databaseMigrationStatus>;
export type MigrationStatus = z.infer<typeof migrationStatus>;

export const MigrationOutcomes = ['migrated', 'up-to-date', 'would-migrate', 'failed'] as const;
/**
 * A finished migration run (the `result` of GET /ops/migrations/runs/{id}), per database: `applied`
 * lists what was applied (or, in a dry run, what would be); `failed` carries the error (a failed
 * database never stops the others). `ok` is false when any database failed.
 */
export const databaseMigrationOutcome = z.object({
  ...databaseRef,
  outcome: z.enum(MigrationOutcomes),
  applied: z.array(z.string()),
  alreadyApplied: z.number().int(),
  error: migrationError.nullable(),
});
export const migrationRun = z.object({ dryRun: z.boolean(), ok: z.boolean(), databases: z.array(databaseMigrationOutcome) });
export type DatabaseMigrationOutcome = z.infer<typeof databaseMigrationOutcome>;
export type MigrationRun = z.infer<typeof migrationRun>;

/** Stable codes of a migration run's problems (RFC 9457 `code`). */
export const MigrationProblems = {
  /** 409: a migration run (not a dry run) is in progress; follow it (GET /ops/migrations/runs/{id}, named in the detail) instead of starting another. */
  RUNNING: 'migrations-running',
} as const;

/**
 * A migration run's state: `running` (its process reports progress), `succeeded` (every database
 * migrated or up to date; a dry run: every database could be read), `failed` (at least one
 * database failed; the others went on), `interrupted` (the process running it stopped before it
 * finished: run it again; what was applied stays applied, the runner skips it).
 */
export const MigrationRunStatuses = ['running', 'succeeded', 'failed', 'interrupted'] as const;
export type MigrationRunStatus = (typeof MigrationRunStatuses)[number];

/** One database's progress in a run: waiting for its turn, running (checking, migrating, guarding), done with its outcome. */
export const databaseMigrationProgress = z.object({
  ...databaseRef,
  state: z.enum(['waiting', 'running', 'done']),
  /** Migrations this run has to apply on it (in a dry run: would apply); null until the database was read. */
  total: z.number().int().nullable(),
  /** Applied so far by this run (a dry run: would apply). */
  applied: z.array(z.string()),
  /** The migration being applied now. */
  current: z.string().nullable(),
  /** Set once done. */
  outcome: z.enum(MigrationOutcomes).nullable(),
  error: migrationError.nullable(),
});
export type DatabaseMigrationProgress = z.infer<typeof databaseMigrationProgress>;

/**
 * A migration run as an operation (POST /ops/migrations answers 202 with it; GET
 * /ops/migrations/runs/{id} follows it): per-database progress while it runs, and `result` (the
 * outcome of every database, `ok` false when any failed) once finished. Kept in the control
 * database, so any provisioning instance answers for it and it outlives a restart.
 */
export const migrationRunOperation = z.object({
  id: uuidSchema,
  dryRun: z.boolean(),
  status: z.enum(MigrationRunStatuses),
  /** Who started it: `ops:<operator id>`. */
  actor: z.string(),
  startedAt: z.iso.datetime({ offset: true }),
  /** The last sign of life of the process running it (it reports at least every few seconds while running). */
  updatedAt: z.iso.datetime({ offset: true }),
  finishedAt: z.iso.datetime({ offset: true }).nullable(),
  databases: z.array(databaseMigrationProgress),
  result: migrationRun.nullable(),
});
export type MigrationRunOperation = z.infer<typeof migrationRunOperation>;

/** Path parameters of /ops/migrations/runs/{id}. */
export const migrationRunParams = z.object({ id: uuidSchema }).strict();
