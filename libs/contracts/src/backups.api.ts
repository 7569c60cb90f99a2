// Tenant backups and restores as an ops API (gateway: /ops/tenants/{tenantId}/backups, /restore,
// /backup-runs/{runId} and /ops/backups; served by provisioning): request bodies, the archive's
// manifest, the answers' shapes and the stable problem codes, one definition for the service, the
// gateway's OpenAPI document and the ops command line.
import { z } from 'zod';
import { uuidSchema } from './envelope';
import { SHARD_NAME } from './shards.api';

/** The archive format this build writes and reads. */
export const ARCHIVE_FORMAT = 'hotdash-tenant-archive';
export const ARCHIVE_FORMAT_VERSION = 1;

/**
 * An archive's id: the tenant's id and the UTC instant it was taken to the millisecond,
 * `<tenant id>_<YYYYMMDD>T<HHMMSSmmm>Z` (sorts by tenant, then time).
 */
export const ARCHIVE_ID = /^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})_(\d{8}T\d{9}Z)$/;

/** The archive id of a tenant's backup taken at `at`. */
export function archiveIdOf(tenantId: string, at: Date): string {
  const iso = at.toISOString(); // 2026-12-13T10:15:30.123Z
  return `${tenantId.toLowerCase()}_${iso.slice(0, 10).replace(/-/g, '')}T${iso.slice(11, 23).replace(/[:.]/g, '')}Z`;
}

/** The tenant an archive id names, or undefined when it is not an archive id. */
export function tenantOfArchive(id: string): string | undefined {
  return ARCHIVE_ID.exec(id)?.[1];
}

const archiveId = z.string().regex(ARCHIVE_ID, 'archive must be an archive id: <tenant id>_<YYYYMMDD>T<HHMMSSmmm>Z, as `backups list` shows it');
const sha256 = z.string().regex(/^[0-9a-f]{64}$/);

/**
 * Stable codes of the backup and restore problems (RFC 9457 `code`); also the codes of a run's
 * `error`. Every refusal changes nothing.
 */
export const BackupProblems = {
  /** 409: a backup or restore of this tenant is running: follow it (its run id is in the detail). */
  RUN_IN_PROGRESS: 'tenant-archive-run-in-progress',
  /** 409: the tenant is not in a state that allows it (provisioning, offboarding, offboarded). */
  INVALID_TENANT_STATUS: 'invalid-tenant-status',
  /** 404: no archive of this id in the store. */
  ARCHIVE_NOT_FOUND: 'archive-not-found',
  /** 422: the archive belongs to another tenant than the one in the path. */
  ARCHIVE_OF_ANOTHER_TENANT: 'archive-of-another-tenant',
  /** 422: the archive cannot be read, is of an unknown format, or its contents do not match its manifest. */
  ARCHIVE_CORRUPT: 'archive-corrupt',
  /** 422: the tenant's data key was destroyed (crypto-shredded): its archives can never be read again, and none is made. */
  KEY_DESTROYED: 'tenant-key-destroyed',
  /** 422: the tenant has no data key. */
  KEY_MISSING: 'tenant-key-missing',
  /** 422: the tenant's live data key is not the key the archive's encrypted fields were written under. */
  KEY_MISMATCH: 'tenant-key-mismatch',
  /** 404: no shard of the name given. */
  SHARD_NOT_FOUND: 'shard-not-found',
  /** 409: the shard named is not active (draining or retired): it takes no tenant. */
  SHARD_NOT_ACTIVE: 'restore-shard-not-active',
  /** 422: the shard named is in another region than the tenant (data residency). */
  SHARD_OTHER_REGION: 'restore-shard-other-region',
  /** 503: the shard cannot be reached. */
  SHARD_UNAVAILABLE: 'shard-unavailable',
  /** 409: the target shard lacks migrations the archive's shard had applied: migrate it first (`hotdash-ops migrations run`). */
  SCHEMA_OLDER: 'restore-schema-older',
  /** 409: a table or column of the archive no longer exists on the target shard (a later migration removed it). */
  SCHEMA_INCOMPATIBLE: 'restore-schema-incompatible',
  /** 409: the tenant already has rows on the target shard: restore with `replace` (erases them first) or erase them. */
  ROWS_PRESENT: 'tenant-rows-present',
  /** 409: restoring onto another shard while the tenant's current shard still holds its rows (two copies): erase them there, or move the tenant live instead. */
  ROWS_ON_CURRENT_SHARD: 'tenant-rows-on-current-shard',
  /** 503: this provisioning instance cannot verify audit chains (no audit library bound): restores are refused. */
  AUDIT_VERIFIER_MISSING: 'audit-verification-unavailable',
  /** Run error: the restored rows' counts or checksums differ from the manifest (rolled back). */
  VERIFICATION_FAILED: 'restore-verification-failed',
  /** Run error: the restored audit chain does not verify (rolled back). */
  AUDIT_CHAIN_BROKEN: 'audit-chain-broken',
  /** Run error: the knowledge vectors could not be read or written. */
  VECTOR_STORE_FAILED: 'vector-store-failed',
  /** Run error: anything else (the message says what). */
  FAILED: 'archive-run-failed',
} as const;
export type BackupProblemCode = (typeof BackupProblems)[keyof typeof BackupProblems];

/** Body of POST /ops/tenants/{tenantId}/backups: nothing to choose (the tenant's whole data is archived). */
export const startBackupBody = z.object({}).strict();

/**
 * Body of POST /ops/tenants/{tenantId}/restore. `shard`: where to restore (default: the tenant's
 * current shard; another one must be active and in the tenant's region, and the placement moves to
 * it). `replace`: the tenant's rows on the target are erased first (`erase_tenant`), in the same
 * transaction; without it a target holding any of the tenant's rows is refused. `dryRun`: only
 * check, and say what would happen (200, nothing changed).
 */
export const restoreTenantBody = z
  .object({
    archive: archiveId,
    shard: z.string().regex(SHARD_NAME, 'shard must be a shard name').optional(),
    replace: z.boolean().optional(),
    dryRun: z.boolean().optional(),
  })
  .strict();
export type RestoreTenantBody = z.infer<typeof restoreTenantBody>;

/** Path parameters of /ops/tenants/{tenantId}/backup-runs/{runId}. */
export const tenantArchiveRunParams = z.object({ tenantId: uuidSchema, runId: uuidSchema }).strict();

/** Query of GET /ops/backups: only one tenant's archives. */
export const listBackupsQuery = z.object({ tenant: uuidSchema.optional() }).strict();

/** One table of an archive: its columns (in the order of the archived values), key, row count and checksum. */
export const archiveTable = z.object({
  name: z.string(),
  columns: z.array(z.string()),
  primaryKey: z.array(z.string()),
  rows: z.number().int(),
  /** sha256 over the rows in key order, each a JSON array of its values plus a newline. */
  sha256,
});
export type ArchiveTable = z.infer<typeof archiveTable>;

/**
 * An archive's manifest: what it holds and how to check it. Encrypted fields are archived as the
 * ciphertext they are, and the whole data file is encrypted under a key derived from the tenant's
 * data key; the data key is not in the archive in any form, only its key check value (`key.check`):
 * a restore needs the tenant's live key to give the same value, so destroying the key (offboarding,
 * crypto-shredding) makes every archive of the tenant unreadable too.
 */
export const archiveManifest = z.object({
  format: z.literal(ARCHIVE_FORMAT),
  formatVersion: z.literal(ARCHIVE_FORMAT_VERSION),
  id: archiveId,
  createdAt: z.iso.datetime({ offset: true }),
  /** Who took it: `ops:<operator id>`. */
  createdBy: z.string(),
  tenant: z.object({ id: uuidSchema, slug: z.string(), name: z.string(), plan: z.string(), status: z.string(), region: z.string(), shard: z.string() }),
  /** The source shard's schema version: the tenant migrations applied to it, in order. */
  schema: z.object({ migrations: z.array(z.string()), latest: z.string().nullable() }),
  /** HMAC-SHA256 key check value of the tenant's data key (TenantKeyring.keyCheck), never the key. */
  key: z.object({ algorithm: z.literal('hmac-sha256'), check: sha256 }),
  /** Every tenant table archived, in dependency order (parents first). */
  tables: z.array(archiveTable),
  /** Tenant tables left out, and why. */
  excludedTables: z.array(z.object({ name: z.string(), reason: z.string() })),
  /** The tenant's knowledge-base vector namespace (its Weaviate tenant): objects with their vectors. */
  vectors: z.object({ objects: z.number().int(), dimensions: z.number().int().nullable(), sha256 }),
  /** The data file: gzip of JSON lines (rows per table, then the vector objects), encrypted; size and sha256 of the file as stored. */
  data: z.object({ file: z.string(), bytes: z.number().int(), sha256 }),
  /**
   * How the data file is encrypted: AES-256-GCM under a key derived (HKDF-SHA256, the archive id as
   * salt) from the tenant's data key, the archive id as additional data. Readable only while that key
   * lives: destroying it erases the whole archive, plain columns included.
   */
  sealing: z.object({ algorithm: z.literal('aes-256-gcm'), keyDerivation: z.literal('hkdf-sha256'), iv: z.string().min(1), tag: z.string().min(1) }),
});
export type ArchiveManifest = z.infer<typeof archiveManifest>;

/** An archive as GET /ops/backups lists it. */
export const archiveSummary = z.object({
  id: archiveId,
  tenantId: uuidSchema,
  tenantSlug: z.string(),
  createdAt: z.iso.datetime({ offset: true }),
  createdBy: z.string(),
  /** The source shard and its latest migration. */
  shard: z.string(),
  schemaLatest: z.string().nullable(),
  /** Rows over every table, and vector objects. */
  rows: z.number().int(),
  vectors: z.number().int(),
  bytes: z.number().int(),
});
export type ArchiveSummary = z.infer<typeof archiveSummary>;

export const archiveList = z.object({ archives: z.array(archiveSummary) });
export type ArchiveList = z.infer<typeof archiveList>;

/** One step of a run (a table, the vectors, writing or verifying): waiting, running, done; `done` of `total` units (rows, objects). */
export const tenantArchiveStep = z.object({
  name: z.string(),
  state: z.enum(['waiting', 'running', 'done']),
  done: z.number().int(),
  total: z.number().int().nullable(),
});
export type TenantArchiveStep = z.infer<typeof tenantArchiveStep>;

/** The outcome of a finished backup: the archive written (and verified after writing). */
export const tenantBackupResult = z.object({ kind: z.literal('backup'), archive: archiveSummary });

/** The outcome of a finished restore. */
export const tenantRestoreResult = z.object({
  kind: z.literal('restore'),
  archive: z.string(),
  shard: z.string(),
  /** The placement moved to `shard` (version bumped). */
  placementMoved: z.boolean(),
  placementVersion: z.number().int(),
  /**
   * When the placement moved: the shard the tenant was on, and how many of its rows are still there
   * (null when it could not be read). They are not erased by the restore.
   */
  previousShard: z.object({ name: z.string(), rowsLeft: z.number().int().nullable() }).nullable(),
  /** Rows erased first (`replace`), per table. */
  erased: z.array(z.object({ table: z.string(), rows: z.number().int() })),
  /** Rows restored per table: counts and checksums read back equal the manifest's. */
  tables: z.array(z.object({ name: z.string(), rows: z.number().int(), sha256 })),
  vectors: z.object({ objects: z.number().int(), sha256 }),
  /** The restored audit chain, as the audit service verifies it. */
  auditChain: z.object({ ok: z.boolean(), checked: z.number().int() }),
});
export type TenantRestoreResult = z.infer<typeof tenantRestoreResult>;

export const TenantArchiveRunStatuses = ['running', 'succeeded', 'failed', 'interrupted'] as const;
export type TenantArchiveRunStatus = (typeof TenantArchiveRunStatuses)[number];

/**
 * A backup or restore as an operation (POST …/backups and …/restore answer 202 with it; GET
 * /ops/tenants/{tenantId}/backup-runs/{runId} follows it): steps while it runs; `result` once
 * succeeded, `error` once failed. `interrupted`: the provisioning instance running it stopped
 * (a backup left no archive; a restore rolled back): start it again.
 */
export const tenantArchiveRun = z.object({
  id: uuidSchema,
  kind: z.enum(['backup', 'restore']),
  tenantId: uuidSchema,
  status: z.enum(TenantArchiveRunStatuses),
  actor: z.string(),
  archive: z.string(),
  shard: z.string(),
  startedAt: z.iso.datetime({ offset: true }),
  updatedAt: z.iso.datetime({ offset: true }),
  finishedAt: z.iso.datetime({ offset: true }).nullable(),
  steps: z.array(tenantArchiveStep),
  result: z.union([tenantBackupResult, tenantRestoreResult]).nullable(),
  error: z.object({ code: z.string(), message: z.string() }).nullable(),
});
export type TenantArchiveRun = z.infer<typeof tenantArchiveRun>;

/** Answer of a restore's dry run (200): what a real one would do; nothing changed. */
export const restorePlan = z.object({
  dryRun: z.literal(true),
  tenantId: uuidSchema,
  archive: archiveSummary,
  shard: z.string(),
  placementMoves: z.boolean(),
  replace: z.boolean(),
  /** The tenant's rows on the target now, per table with any (erased first with `replace`). */
  present: z.array(z.object({ table: z.string(), rows: z.number().int() })),
  tables: z.array(z.object({ name: z.string(), rows: z.number().int() })),
  vectors: z.number().int(),
});
export type RestorePlan = z.infer<typeof restorePlan>;
