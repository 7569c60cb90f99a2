// Pilot imports as an ops API (gateway: POST /ops/imports, GET /ops/imports/{importId}; served by
// provisioning): the request body, the answers' shapes and the stable problem codes, one definition
// for the service, the gateway's OpenAPI document and the ops command line. What a pilot is and the
// runbook: docs/pilot.md.
import { z } from 'zod';
import { uuidSchema } from './envelope';
import { SHARD_NAME } from './shards.api';

/**
 * Stable codes of an import's problems (RFC 9457 `code`). Every refusal changes nothing, on the
 * platform and on the pilot. The mover's own refusals keep their codes (MoveProblems:
 * move-replication-unavailable, move-replica-identity-missing, move-schema-differs, shard-unavailable).
 */
export const ImportProblems = {
  /** 422: the pilot's control database, its shard or its Weaviate cannot be reached: nothing was changed. */
  PILOT_UNREACHABLE: 'pilot-unreachable',
  /** 422: the request carries no credentials of the pilot's import role (`pilot.credentials`): the platform never connects to a pilot with its own roles. */
  PILOT_CREDENTIALS_MISSING: 'pilot-credentials-missing',
  /** 422: the pilot's PostgreSQL refused the import role's user and password (or its pg_hba.conf does not let it in). */
  PILOT_AUTH_FAILED: 'pilot-auth-failed',
  /** 422: the import role connects but lacks a privilege the import needs on the pilot (the detail names it and the SQL that grants it). */
  PILOT_PRIVILEGE_MISSING: 'pilot-privilege-missing',
  /** 409: the pilot carries migrations this platform does not know: upgrade the platform first. */
  PILOT_SCHEMA_NEWER: 'pilot-schema-newer',
  /** 409: the pilot lacks migrations of this platform: migrate the pilot first (`npm run db:migrate` with the pilot's env file). */
  PILOT_SCHEMA_OLDER: 'pilot-schema-older',
  /** 422: the pilot's control database holds no tenant or more than one: it is not a pilot. */
  PILOT_NOT_SINGLE_TENANT: 'pilot-not-single-tenant',
  /** 409: the pilot's tenant is not active or suspended (still provisioning, being offboarded). */
  PILOT_TENANT_NOT_READY: 'pilot-tenant-not-ready',
  /** 422: the pilot key-encryption keys given do not unwrap the pilot tenant's data key (malformed, another key id, or the wrong key). */
  PILOT_KEY_INVALID: 'pilot-key-invalid',
  /** 422: the pilot tenant has no live data key (missing, or destroyed: its data is unreadable for good). */
  PILOT_KEY_UNUSABLE: 'pilot-key-unusable',
  /** 409: the pilot is busy with its tenant: a saga of it runs there, or control events of it wait for the pilot's relay. */
  PILOT_BUSY: 'pilot-busy',
  /** 409: the platform has a tenant of the pilot tenant's id or slug already (or vectors in its namespace). */
  TENANT_EXISTS: 'import-tenant-exists',
  /** 409: the platform has no plan of the pilot tenant's plan code. */
  PLAN_UNKNOWN: 'import-plan-unknown',
  /** 404: no shard of the name given. */
  SHARD_NOT_FOUND: 'shard-not-found',
  /** 409: the target shard is draining or retired: it takes no tenant. */
  SHARD_NOT_ACTIVE: 'import-shard-not-active',
  /** 409: an import of this pilot's tenant is running: follow it (its id is in the detail). */
  IN_PROGRESS: 'import-in-progress',
  /** 503: this provisioning instance cannot verify audit chains (no audit library bound): imports are refused. */
  AUDIT_VERIFIER_MISSING: 'audit-verification-unavailable',
} as const;
export type ImportProblemCode = (typeof ImportProblems)[keyof typeof ImportProblems];

/** A PostgreSQL database's location (no credentials here: a pilot's are `pilot.credentials` of the import, sealed apart from its record). */
export const databaseLocation = z
  .object({
    host: z
      .string()
      .min(1)
      .max(253)
      .regex(/^[A-Za-z0-9.:-]+$/, 'host must be a host name or an IP address'),
    port: z.number().int().min(1).max(65_535),
    database: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,62}$/, 'database must be a PostgreSQL identifier: letters, digits and underscores, at most 63'),
  })
  .strict();
export type DatabaseLocation = z.infer<typeof databaseLocation>;

/** A Weaviate deployment: its HTTP URL, gRPC port (same host) and the knowledge collection (default KnowledgeChunk). */
export const weaviateLocation = z
  .object({
    // No user:password@ in it: the URL is kept in the import's record and ops actions, and shown back.
    url: z
      .url({ protocol: /^https?$/, message: 'url must be an http(s) URL' })
      .max(2_000)
      .refine((u) => !/^[a-z]+:\/\/[^/?#]*@/i.test(u), 'url must not carry credentials (user:password@): the import keeps and shows its pilot’s URL'),
    grpcPort: z.number().int().min(1).max(65_535),
    collection: z
      .string()
      .regex(/^[A-Z][A-Za-z0-9_]{0,254}$/, 'collection must start with a capital letter, then letters, digits or _')
      .optional(),
  })
  .strict();

/**
 * The pilot's import role (docs/pilot.md, "The import role"): a PostgreSQL role the pilot's ops made
 * on the pilot's server for the import alone, with a password of its own. The platform connects to
 * the pilot's databases as this role only, never with its own roles. The password is never logged,
 * never shown back (not by GET /ops/imports/{id}, not in ops actions); while the import runs it is
 * kept sealed under the platform's key-encryption key in the import's record, and removed from it
 * when the import ends.
 */
export const pilotCredentials = z
  .object({
    user: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_.@$-]{0,62}$/, 'user must be a PostgreSQL role name: a letter or _, then letters, digits, _ . @ $ or -, at most 63'),
    password: z.string().min(1, 'password must not be empty').max(1_024, 'password must be at most 1024 characters'),
  })
  .strict();
export type PilotCredentials = z.infer<typeof pilotCredentials>;

/**
 * Body of POST /ops/imports. `pilot`: where the pilot runs, as its own configuration says (its env
 * file): its control database, its Weaviate and its key-encryption keys; its shard is the one its
 * control database places the tenant on unless `pilot.shard` gives the address the platform reaches
 * it at. `pilot.credentials`: the pilot's import role ({@link pilotCredentials}); required (absent:
 * 422 pilot-credentials-missing). `pilot.kmsMasterKeys`: the pilot's HOTDASH_KMS_MASTER_KEYS
 * (`id:base64,…`), used once to unwrap the tenant's data key and re-wrap it under the platform's
 * key-encryption key; never stored, never logged, never echoed. `shard`: the platform shard to
 * import onto. `dryRun`: connect and check everything, say what would be imported, change nothing (200).
 */
export const startImportBody = z
  .object({
    pilot: z
      .object({
        control: databaseLocation,
        shard: databaseLocation.optional(),
        weaviate: weaviateLocation,
        credentials: pilotCredentials.optional(),
        kmsMasterKeys: z.string().min(1, 'kmsMasterKeys must be the pilot’s HOTDASH_KMS_MASTER_KEYS (id:base64,…)').max(4_096),
      })
      .strict(),
    shard: z.string().regex(SHARD_NAME, 'shard must be a shard name (`hotdash-ops shards list`)'),
    /**
     * Events the pilot published in this many minutes before the cut-over are published again on the
     * platform, under their own ids: the pilot's consumers may not have applied them all, and its
     * Kafka does not come along. The platform's consumers skip what their inbox (carried with the
     * tenant) says their pilot counterparts applied. Default {@link DEFAULT_REPLAY_WINDOW_MINUTES};
     * 0 replays nothing; at most a week.
     */
    replayWindowMinutes: z
      .number({ message: 'replayWindowMinutes must be a whole number of minutes from 0 to 10080' })
      .int('replayWindowMinutes must be a whole number of minutes from 0 to 10080')
      .min(0, 'replayWindowMinutes must be a whole number of minutes from 0 to 10080')
      .max(10_080, 'replayWindowMinutes must be a whole number of minutes from 0 to 10080')
      .optional(),
    dryRun: z.boolean({ message: 'dryRun must be true or false' }).optional(),
  })
  .strict();
/** Minutes of the pilot's published events an import publishes again on the platform unless told otherwise (startImportBody.replayWindowMinutes). */
export const DEFAULT_REPLAY_WINDOW_MINUTES = 60;
export type StartImportBody = z.infer<typeof startImportBody>;

/** Path parameters of GET /ops/imports/{importId}. */
export const importRunParams = z.object({ importId: uuidSchema }).strict();

/** The pilot's tenant as its control database records it (carried as is: id, slug, name, plan). */
export const importedTenant = z.object({
  id: uuidSchema,
  slug: z.string(),
  name: z.string(),
  plan: z.string(),
  /** The pilot's status (active or suspended): the tenant's status on the platform once imported. */
  status: z.string(),
  createdAt: z.string(),
});

/** A control-plane table and what the import does with the tenant's rows in it. */
export const importControlTable = z.object({ table: z.string(), carried: z.boolean(), how: z.string() });

/**
 * Answer of a dry run (200): every check passed; what the import would bring over and how. The
 * pilot's keys are only named by their ids (never shown).
 */
export const importPlan = z.object({
  dryRun: z.literal(true),
  tenant: importedTenant,
  pilot: z.object({
    control: z.string(),
    shard: z.string(),
    weaviate: z.string(),
    /** The latest migration applied on each pilot database (equal to the platform's). */
    schema: z.object({ control: z.string().nullable(), tenant: z.string().nullable() }),
  }),
  target: z.object({ shard: z.string(), region: z.string() }),
  /** The data key: unwrapped with the pilot's keys given (their ids), re-wrapped under the platform's current key-encryption key; the key itself (every token) unchanged. */
  key: z.object({ pilotKekIds: z.array(z.string()), platformKekId: z.string() }),
  /** The plan: the platform's plan of the same code applies; where its limits differ from the pilot's, they are listed. */
  plan: z.object({ code: z.string(), differences: z.array(z.object({ limit: z.string(), pilot: z.string(), platform: z.string() })) }),
  /** The tenant's rows on the pilot's shard per table that has any (moved live; the pilot serves until the cut-over). */
  rows: z.array(z.object({ table: z.string(), rows: z.number().int() })),
  /** Objects in the tenant's namespace of the pilot's Weaviate (copied with their vectors). */
  vectors: z.number().int(),
  /** Work in flight at the cut-over (docs/pilot.md): the pilot's events of the last `windowMinutes` before it published again on the platform; the tenant's unfinished drafts and documents started again. */
  replay: z.object({ windowMinutes: z.number().int() }),
  /** Every control-plane table: whether the tenant's rows in it are carried, and how or why not. */
  control: z.array(importControlTable),
  steps: z.array(z.object({ id: z.string(), description: z.string() })),
});
export type ImportPlan = z.infer<typeof importPlan>;

/**
 * An import's state: `running`; `rolling-back` (a step failed before the cut-over: what the import
 * made on the platform is being removed, the pilot serves on); `succeeded`; `rolled-back` (nothing of
 * the import is left; the pilot serves as before); `failed` (an undo could not finish, or a step after
 * the cut-over stopped: the detail says what; the tenant is fenced on the pilot and on the platform
 * not yet active).
 */
export const ImportStatuses = ['running', 'rolling-back', 'succeeded', 'rolled-back', 'failed'] as const;
export type ImportStatus = (typeof ImportStatuses)[number];

/** One step of an import (control-records, knowledge-namespace, the move's steps, copy-vectors, sync-vectors, end-sessions, verify, activate). */
export const importStep = z.object({
  id: z.string(),
  description: z.string(),
  status: z.string(),
  attempts: z.number().int(),
  lastError: z.string().nullable(),
  startedAt: z.string().nullable(),
  completedAt: z.string().nullable(),
  compensatedAt: z.string().nullable(),
  /** What the step reported (rows, checksums, the cut-over's pause, vectors), once completed. */
  detail: z.unknown().nullable(),
});

/** An import (answer of POST /ops/imports, 202; GET /ops/imports/{importId}). */
export const importRun = z.object({
  id: uuidSchema,
  tenant: importedTenant.pick({ id: true, slug: true, name: true, plan: true }),
  pilot: z.object({ control: z.string(), shard: z.string(), weaviate: z.string() }),
  target: z.string(),
  status: z.enum(ImportStatuses),
  /** The step running (or that failed); null once finished. */
  phase: z.string().nullable(),
  /** Whether the cut-over was decided: from there the pilot refuses the tenant and the import only goes forward. */
  cutOver: z.boolean(),
  actor: z.string(),
  /** Progress of the step running: the initial copy's tables (copied and streaming of all), or the vectors copied of the pilot's. */
  progress: z.object({ done: z.number().int(), total: z.number().int(), unit: z.enum(['tables', 'vectors']) }).nullable(),
  steps: z.array(importStep),
  error: z.string().nullable(),
  startedAt: z.string(),
  finishedAt: z.string().nullable(),
});
export type ImportRun = z.infer<typeof importRun>;
