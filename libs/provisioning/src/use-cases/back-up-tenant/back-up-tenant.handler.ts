import { Inject, Injectable } from '@nestjs/common';
import {
  AccessEvents,
  ARCHIVE_FORMAT,
  ARCHIVE_FORMAT_VERSION,
  archiveIdOf,
  BackupProblems,
  parseTenantId,
  startBackupBody,
  type ArchiveManifest,
  type ArchiveSummary,
  type TenantArchiveRun,
} from '@hotdash/contracts';
import { TenantKeyring } from '@hotdash/platform-crypto';
import { ControlDatabase, readTenantRows, readTenantTables, ShardInspector, TenantDatabase, useCanonicalText } from '@hotdash/platform-db';
import { parseInput, ProblemException } from '@hotdash/platform-http';
import { publishInTx } from '@hotdash/platform-messaging';
import { VectorStore } from '@hotdash/platform-vector';
import { ArchiveStore } from '../../backups/archive-store';
import { ArchiveWriter, parseManifest, summaryOf, verifyArchiveData } from '../../backups/archive-format';
import { archiveKey } from '../../backups/archive-crypto';
import { AUDIT_RESOURCE, EXCLUDED_TABLES } from '../../backups/archive-scope';
import { liveKeyCheck, placedTenant, shardInfoOf, type PlacedTenant } from '../../backups/placed-tenant';
import { TenantArchiveRuns, type RunSteps } from '../../backups/tenant-archive-runs';

/** How long the snapshot transaction may stay open (a large tenant's rows and vectors are read in it). */
export const BACKUP_SNAPSHOT_TIMEOUT_MS = 30 * 60_000;

export const BackupSteps = { ROWS: 'rows', VECTORS: 'knowledge vectors', WRITE: 'write archive', VERIFY: 'verify archive' } as const;

/**
 * Backs a tenant up into one archive (the ops API's POST /ops/tenants/{id}/backups), as an operation
 * followed at /backup-runs/{run}:
 *  - every tenant table of its shard (platform/db readTenantTables: every table with a tenant_id,
 *    parents first; the outbox left out, see archive-scope.ts) is read in ONE repeatable-read,
 *    read-only transaction as the application role under the tenant's row-level security
 *    (withTenantOnShard, isolation `snapshot`): the archive is one consistent point in time. Values
 *    are copied in PostgreSQL's text forms (exact), encrypted fields as the ciphertext they are;
 *  - its knowledge vectors (its Weaviate namespace, objects with their vectors) are read while that
 *    snapshot is open: the vector index is derived from kb_documents and is not part of the database
 *    snapshot (a document re-indexed during the backup may have chunks of its newer version);
 *  - the manifest names the tenant, the shard's schema version (its applied migrations, read before
 *    and after: a migration in between fails the backup), each table's count and checksum, and the
 *    key check value of the tenant's data key, never the key: destroying the key erases every archive;
 *  - the data file is encrypted under a key derived from the tenant's data key (archive-crypto.ts),
 *    so the columns the database keeps plain do not outlive the key in the archive either;
 *  - the archive is written through the archive store (atomic: temporary file, then linked into
 *    place) and then read back whole and checked against its manifest; one that does not verify is
 *    deleted and the run fails.
 */
@Injectable()
export class BackUpTenantHandler {
  constructor(
    @Inject(ControlDatabase) private readonly control: ControlDatabase,
    @Inject(TenantDatabase) private readonly tenantDb: TenantDatabase,
    @Inject(TenantKeyring) private readonly keyring: TenantKeyring,
    @Inject(VectorStore) private readonly vectors: VectorStore,
    @Inject(ShardInspector) private readonly inspector: ShardInspector,
    @Inject(ArchiveStore) private readonly store: ArchiveStore,
    @Inject(TenantArchiveRuns) private readonly runs: TenantArchiveRuns,
  ) {}

  /** Checks the tenant can be backed up (known, active or suspended, its key live) and starts the run: 202 with it. */
  async start(tenantIdText: string, body: unknown, actor: string): Promise<TenantArchiveRun> {
    const tenantId = parseTenantId(tenantIdText);
    parseInput(startBackupBody, body ?? {});
    const tenant = await placedTenant(this.control, tenantId);
    const keyCheck = await liveKeyCheck(this.keyring, tenantId);
    const at = new Date();
    const archive = archiveIdOf(tenantId, at);
    return this.runs.start({ tenantId, kind: 'backup', actor, archive, shard: tenant.shard.name, steps: Object.values(BackupSteps) }, async (steps, run) => ({
      kind: 'backup' as const,
      archive: await this.execute(tenant, { id: archive, at }, keyCheck, actor, steps, run),
    }));
  }

  private async execute(tenant: PlacedTenant, { id, at }: { id: string; at: Date }, keyCheck: string, actor: string, steps: RunSteps, run: TenantArchiveRun): Promise<ArchiveSummary> {
    const location = tenant.shard;
    const migrations = await this.inspector.appliedMigrations(location).catch((err: Error) => {
      throw new ProblemException(503, BackupProblems.SHARD_UNAVAILABLE, 'Shard unavailable', `shard ${location.name} could not be read: ${err.message}`);
    });
    const key = archiveKey(await this.keyring.dataKey(tenant.id), id);
    try {
      return await this.write(tenant, { id, at }, key, keyCheck, migrations, actor, steps, run);
    } finally {
      key.fill(0);
    }
  }

  private async write(tenant: PlacedTenant, { id, at }: { id: string; at: Date }, key: Buffer, keyCheck: string, migrations: string[], actor: string, steps: RunSteps, run: TenantArchiveRun): Promise<ArchiveSummary> {
    const location = tenant.shard;
    const draft = await this.store.create(id);
    let manifest: ArchiveManifest;
    try {
      const writer = new ArchiveWriter(draft.data, key, id);
      await this.snapshot(tenant, writer, steps);
      steps.start(BackupSteps.WRITE);
      const { tables, vectors, sealing } = await writer.end();
      const after = await this.inspector.appliedMigrations(location);
      if (after.join() !== migrations.join())
        throw new ProblemException(409, BackupProblems.FAILED, 'Shard migrated during the backup', `shard ${location.name} was migrated while the backup ran: take it again`);
      const createdAt = at.toISOString();
      const info = await draft.commit((data) => {
        manifest = {
          format: ARCHIVE_FORMAT,
          formatVersion: ARCHIVE_FORMAT_VERSION,
          id,
          createdAt,
          createdBy: actor,
          tenant: { id: tenant.id, slug: tenant.slug, name: tenant.name, plan: tenant.plan, status: tenant.status, region: tenant.shard.region, shard: tenant.shard.name },
          schema: { migrations, latest: migrations.at(-1) ?? null },
          key: { algorithm: 'hmac-sha256', check: keyCheck },
          tables,
          excludedTables: Object.entries(EXCLUDED_TABLES).map(([name, reason]) => ({ name, reason })),
          vectors,
          data,
          sealing,
        };
        return manifest;
      });
      steps.done(BackupSteps.WRITE, info.bytes);
    } catch (err) {
      await draft.abort();
      throw err;
    }
    await this.verify(id, key, steps);
    // The outcome in the tenant's audit log (the gateway's entry records the request).
    await this.tenantDb.withTenant(tenant.id, (tx) =>
      publishInTx(
        tx,
        AccessEvents.RECORDED,
        { actor: actor.slice(0, 100), action: 'create', resourceType: AUDIT_RESOURCE, resourceId: id, method: 'POST', route: '/ops/tenants/:tenantId/backups', status: 201, ipEnc: null, at: new Date().toISOString() },
        { tenantId: tenant.id, producer: 'provisioning', correlationId: run.id },
      ),
    );
    return summaryOf(manifest!);
  }

  /** Every archived table's rows and then the vectors, in one read-only repeatable-read transaction of the tenant. */
  private async snapshot(tenant: PlacedTenant, writer: ArchiveWriter, steps: RunSteps): Promise<void> {
    steps.start(BackupSteps.ROWS);
    let rows = 0;
    await this.tenantDb.withTenantOnShard(
      shardInfoOf(tenant.shard),
      tenant.id,
      async (tx) => {
        await useCanonicalText(tx);
        const tables = (await readTenantTables(tx.db)).filter((t) => !(t.name in EXCLUDED_TABLES));
        for (const table of tables) {
          const columns = table.columns.filter((c) => !c.generated);
          await writer.beginTable(
            table.name,
            columns.map((c) => c.name),
            table.primaryKey,
          );
          for await (const page of readTenantRows(tx, tenant.id, table, columns)) {
            await writer.rows(page);
            steps.set(BackupSteps.ROWS, (rows += page.length));
          }
        }
        steps.done(BackupSteps.ROWS, rows);
        // Inside the window of the snapshot (not in it: the vector store has no transactions).
        steps.start(BackupSteps.VECTORS);
        await writer.beginVectors();
        let objects = 0;
        if (await this.vectors.tenantExists(tenant.id))
          for await (const page of this.vectors.exportChunks(tenant.id)) {
            await writer.chunks(page);
            steps.set(BackupSteps.VECTORS, (objects += page.length));
          }
        steps.done(BackupSteps.VECTORS, objects);
      },
      { isolation: 'snapshot', timeoutMs: BACKUP_SNAPSHOT_TIMEOUT_MS },
    );
  }

  /** Reads the stored archive back whole and checks it against its stored manifest; deletes it when it does not verify. */
  private async verify(id: string, key: Buffer, steps: RunSteps): Promise<void> {
    const stored = parseManifest(await this.store.manifest(id), id);
    const total = stored.tables.reduce((n, t) => n + t.rows, 0);
    steps.start(BackupSteps.VERIFY, total);
    try {
      await verifyArchiveData(await this.store.data(id), stored, key, (rows) => steps.set(BackupSteps.VERIFY, rows));
    } catch (err) {
      await this.store.delete(id);
      throw err;
    }
    steps.done(BackupSteps.VERIFY, total);
  }
}

