import { Inject, Injectable, Optional } from '@nestjs/common';
import { sql } from 'kysely';
import {
  AccessEvents,
  BackupProblems,
  parseTenantId,
  restoreTenantBody,
  TenantEvents,
  tenantOfArchive,
  type ArchiveManifest,
  type RestorePlan,
  type ShardRecord,
  type TenantArchiveRun,
  type TenantId,
  type TenantRestoreResult,
} from '@hotdash/contracts';
import { TenantKeyring } from '@hotdash/platform-crypto';
import {
  columnsOf,
  ControlDatabase,
  countTenantRows,
  derivedId,
  digestTenantRows,
  insertTenantRows,
  readTenantTables,
  ShardInspector,
  ShardRouter,
  TenantDatabase,
  useCanonicalText,
  type CopiedValue,
  type TenantTable,
  type TenantTableColumn,
  type TenantTx,
} from '@hotdash/platform-db';
import { parseInput, ProblemException } from '@hotdash/platform-http';
import { appendToOutbox, publishInTx, publishOnceInTx, takeUnpublished } from '@hotdash/platform-messaging';
import { VectorStore, type KnowledgeChunk } from '@hotdash/platform-vector';
import { ArchiveStore } from '../../backups/archive-store';
import { parseManifest, readArchiveData, summaryOf, VectorDigest, verifyArchiveData, type ArchiveOpening } from '../../backups/archive-format';
import { archiveKey } from '../../backups/archive-crypto';
import { AUDIT_RESOURCE, EXCLUDED_TABLES } from '../../backups/archive-scope';
import { liveKeyCheck, movePlacement, placedTenant, shardInfoOf, type PlacedTenant } from '../../backups/placed-tenant';
import { TENANT_AUDIT_CHAIN, type TenantAuditChain } from '../../backups/tenant-audit-chain';
import { TenantArchiveRuns, type RunSteps } from '../../backups/tenant-archive-runs';
import { ShardsRepository } from '../../shards.repository';

/** How long the restoring transaction may stay open (a large tenant's rows are inserted and read back in it). */
export const RESTORE_TRANSACTION_TIMEOUT_MS = 30 * 60_000;
const INSERT_BATCH = 500;
const VECTOR_BATCH = 100;

export const RestoreSteps = { VERIFY_ARCHIVE: 'verify archive', ROWS: 'restore rows', CHECK: 'verify rows and audit chain', PLACEMENT: 'placement', VECTORS: 'knowledge vectors' } as const;

interface Target {
  tenant: PlacedTenant;
  manifest: ArchiveManifest;
  /** Opens the archive's data (its key derived from the tenant's live data key; zeroed when the run ends). */
  opening: ArchiveOpening;
  shard: ShardRecord;
  moves: boolean;
  replace: boolean;
}

const problem = (status: number, code: string, title: string, detail: string) => new ProblemException(status, code, title, detail);

/**
 * Restores a tenant from one of its archives (the ops API's POST /ops/tenants/{id}/restore), as an
 * operation followed at /backup-runs/{run}, onto its current shard or another active shard of its
 * region. Refused before anything is done (4xx, stable codes): an archive of another tenant, missing
 * or unreadable; a tenant unknown, not active or suspended; its data key destroyed (crypto-shredded:
 * the archive's ciphertext can never be read again) or not the key the archive was written under
 * (its key check value differs); a target shard unknown, not active, of another region, or older
 * than the archive (it lacks a migration the archive's shard had applied: migrate it first), or one
 * that lacks a table or column of the archive; the tenant's rows or vectors already present there
 * unless `replace`. A dry run stops there and says what would happen. Then:
 *  1. the archive is read whole and checked against its manifest;
 *  2. one transaction on the target, as the application role under the tenant's row-level
 *     security: the audit chain's append lock first (the audit service's appends wait), then, with
 *     `replace`, the tenant's rows are erased (erase_tenant; its outbox events not yet published are
 *     kept and written back), else their absence is checked again; the rows are inserted in dependency
 *     order with their ids and values as archived; each table is read back and its count and checksum
 *     must equal the manifest's; the audit chain is verified as the audit service verifies it; the
 *     restore goes into the tenant's audit log; commit. Any difference rolls everything back;
 *  3. onto another shard, the placement moves there (version bumped; this process's router at once,
 *     others within their cache time: suspend the tenant first); the rows left on the former shard
 *     are counted in the result, not erased;
 *  4. the knowledge vectors are written back into the tenant's namespace (replaced with `replace`)
 *     and read back: count and checksum must equal the manifest's. A failure here leaves the rows
 *     restored and fails the run (vector-store-failed): restore again with `replace`;
 *  5. tenant.restored, on the shard the placement names now: the owners of work the archive caught
 *     half-done (a ticket drafting, a document indexing) begin it again.
 */
@Injectable()
export class RestoreTenantHandler {
  constructor(
    @Inject(ControlDatabase) private readonly control: ControlDatabase,
    @Inject(TenantDatabase) private readonly tenantDb: TenantDatabase,
    @Inject(ShardRouter) private readonly router: ShardRouter,
    @Inject(TenantKeyring) private readonly keyring: TenantKeyring,
    @Inject(VectorStore) private readonly vectors: VectorStore,
    @Inject(ShardInspector) private readonly inspector: ShardInspector,
    @Inject(ShardsRepository) private readonly shards: ShardsRepository,
    @Inject(ArchiveStore) private readonly store: ArchiveStore,
    @Inject(TenantArchiveRuns) private readonly runs: TenantArchiveRuns,
    @Optional() @Inject(TENANT_AUDIT_CHAIN) private readonly chain?: TenantAuditChain,
  ) {}

  /** Checks everything that can be checked up front; a dry run answers what would happen, a real one starts the run (202). */
  async start(tenantIdText: string, body: unknown, actor: string): Promise<RestorePlan | TenantArchiveRun> {
    const tenantId = parseTenantId(tenantIdText);
    const input = parseInput(restoreTenantBody, body ?? {});
    if (tenantOfArchive(input.archive) !== tenantId)
      throw problem(422, BackupProblems.ARCHIVE_OF_ANOTHER_TENANT, 'Archive of another tenant', `archive ${input.archive} is not an archive of tenant ${tenantId}`);
    const target = await this.check(tenantId, input.archive, input.shard, input.replace === true);
    const present = await this.present(target);
    if (present.length && !target.replace)
      throw problem(
        409,
        BackupProblems.ROWS_PRESENT,
        'Tenant data present',
        `tenant ${tenantId} already has data on shard ${target.shard.name} (${present.map((p) => `${p.table}: ${p.rows}`).join(', ')}): restore with replace to erase it first, or restore onto an empty shard`,
      );
    if (input.dryRun)
      return {
        dryRun: true,
        tenantId,
        archive: summaryOf(target.manifest),
        shard: target.shard.name,
        placementMoves: target.moves,
        replace: target.replace,
        present,
        tables: target.manifest.tables.map((t) => ({ name: t.name, rows: t.rows })),
        vectors: target.manifest.vectors.objects,
      };
    const opening = { key: archiveKey(await this.keyring.dataKey(tenantId), input.archive), archiveId: input.archive, sealing: target.manifest.sealing };
    const restoring = { ...target, opening };
    try {
      return await this.runs.start({ tenantId, kind: 'restore', actor, archive: input.archive, shard: target.shard.name, steps: Object.values(RestoreSteps) }, (steps, run) =>
        this.execute(restoring, actor, steps, run).finally(() => opening.key.fill(0)),
      );
    } catch (err) {
      opening.key.fill(0);
      throw err;
    }
  }

  /** The refusals that need nothing written: tenant, archive, key, target shard and its schema. */
  private async check(tenantId: TenantId, archive: string, shardName: string | undefined, replace: boolean): Promise<Omit<Target, 'opening'>> {
    if (!this.chain)
      throw problem(503, BackupProblems.AUDIT_VERIFIER_MISSING, 'Restores unavailable', 'this provisioning instance has no audit chain verifier bound (TENANT_AUDIT_CHAIN): restores are refused');
    const tenant = await placedTenant(this.control, tenantId);
    const raw = await this.store.manifest(archive);
    if (raw === undefined) throw problem(404, BackupProblems.ARCHIVE_NOT_FOUND, 'Archive not found', `no archive ${archive} in the archive store (\`hotdash-ops backups list --tenant ${tenantId}\` lists them)`);
    let manifest: ArchiveManifest;
    try {
      manifest = parseManifest(raw, archive);
    } catch (err) {
      throw problem(422, BackupProblems.ARCHIVE_CORRUPT, 'Archive unreadable', (err as Error).message);
    }
    if (manifest.tenant.id !== tenantId) throw problem(422, BackupProblems.ARCHIVE_OF_ANOTHER_TENANT, 'Archive of another tenant', `archive ${archive} holds tenant ${manifest.tenant.id}`);
    const keyCheck = await liveKeyCheck(this.keyring, tenantId);
    if (keyCheck !== manifest.key.check)
      throw problem(422, BackupProblems.KEY_MISMATCH, 'Tenant key mismatch', `tenant ${tenantId}'s data key is not the key archive ${archive} was written under: its encrypted fields could not be read`);

    const shard = shardName && shardName !== tenant.shard.name ? await this.shards.byName(this.control.db, shardName) : tenant.shard;
    if (!shard) throw problem(404, BackupProblems.SHARD_NOT_FOUND, 'Shard not found', `no shard named ${shardName} (\`hotdash-ops shards list\`)`);
    const moves = shard.id !== tenant.shard.id;
    if (moves && shard.status !== 'active')
      throw problem(409, BackupProblems.SHARD_NOT_ACTIVE, 'Shard not active', `shard ${shard.name} is ${shard.status}: a tenant is restored onto another shard only if it is active`);
    if (!moves && shard.status === 'retired') throw problem(409, BackupProblems.SHARD_NOT_ACTIVE, 'Shard retired', `the tenant's shard ${shard.name} is retired`);
    if (moves && shard.region !== tenant.shard.region)
      throw problem(422, BackupProblems.SHARD_OTHER_REGION, 'Shard in another region', `shard ${shard.name} is in region ${shard.region}, tenant ${tenantId} in ${tenant.shard.region} (its data stays in its region)`);

    const applied = await this.inspector.appliedMigrations(shard).catch((err: Error) => {
      throw problem(503, BackupProblems.SHARD_UNAVAILABLE, 'Shard unavailable', `shard ${shard.name} could not be read: ${err.message}`);
    });
    const have = new Set(applied);
    const missing = manifest.schema.migrations.filter((m) => !have.has(m));
    if (missing.length)
      throw problem(
        409,
        BackupProblems.SCHEMA_OLDER,
        'Shard older than the archive',
        `shard ${shard.name} lacks ${missing.length} migration(s) the archive's shard had applied (${missing.slice(0, 3).join(', ')}${missing.length > 3 ? ', …' : ''}): migrate it first (\`hotdash-ops migrations run\`), then restore`,
      );
    await this.tenantDb.withTenantOnShard(shardInfoOf(shard), tenantId, async (tx) => void this.targetTables(await readTenantTables(tx.db), manifest, shard.name));
    return { tenant, manifest, shard, moves, replace };
  }

  /** The target's table of each archived table (409 restore-schema-incompatible when a table or column is gone). */
  private targetTables(tables: TenantTable[], m: ArchiveManifest, shard: string): Map<string, { table: TenantTable; columns: TenantTableColumn[] }> {
    const byName = new Map(tables.map((t) => [t.name, t]));
    const out = new Map<string, { table: TenantTable; columns: TenantTableColumn[] }>();
    for (const a of m.tables) {
      const table = byName.get(a.name);
      const gone = table ? a.columns.filter((c) => !table.columns.some((x) => x.name === c && !x.generated)) : [];
      if (!table || gone.length)
        throw problem(
          409,
          BackupProblems.SCHEMA_INCOMPATIBLE,
          'Archive does not fit the shard',
          table ? `table ${a.name} of shard ${shard} has no column ${gone.join(', ')} of the archive` : `shard ${shard} has no table ${a.name} of the archive`,
        );
      out.set(a.name, { table, columns: columnsOf(table, a.columns) });
    }
    return out;
  }

  /** The tenant's rows on the target per table that has any (the outbox aside), and its vector objects. */
  private async present(t: Omit<Target, 'opening'>): Promise<{ table: string; rows: number }[]> {
    const rows = await this.tenantDb.withTenantOnShard(shardInfoOf(t.shard), t.tenant.id, async (tx) => {
      const found: { table: string; rows: number }[] = [];
      for (const table of await readTenantTables(tx.db)) {
        if (table.name in EXCLUDED_TABLES) continue;
        const n = await countTenantRows(tx, t.tenant.id, table);
        if (n) found.push({ table: table.name, rows: n });
      }
      return found;
    });
    const objects = (await this.vectors.tenantExists(t.tenant.id)) ? await this.vectors.countObjects(t.tenant.id) : 0;
    if (objects) rows.push({ table: 'knowledge vectors', rows: objects });
    return rows;
  }

  private async execute(t: Target, actor: string, steps: RunSteps, run: TenantArchiveRun): Promise<TenantRestoreResult> {
    const m = t.manifest;
    const id = m.id;
    const totalRows = m.tables.reduce((n, x) => n + x.rows, 0);
    steps.start(RestoreSteps.VERIFY_ARCHIVE, totalRows);
    await verifyArchiveData(await this.store.data(id), m, t.opening.key, (rows) => steps.set(RestoreSteps.VERIFY_ARCHIVE, rows));
    steps.done(RestoreSteps.VERIFY_ARCHIVE, totalRows);

    const { erased, tables, auditChain } = await this.tenantDb.withTenantOnShard(shardInfoOf(t.shard), t.tenant.id, (tx) => this.restoreRows(tx, t, actor, steps, run), { timeoutMs: RESTORE_TRANSACTION_TIMEOUT_MS });

    steps.start(RestoreSteps.PLACEMENT);
    let placementVersion = t.tenant.placementVersion;
    if (t.moves) {
      const moved = await movePlacement(this.control.db, t.tenant.id, t.tenant.shard.id, t.shard.id);
      if (moved === undefined) throw problem(409, BackupProblems.FAILED, 'Placement changed', `tenant ${t.tenant.id} was moved off shard ${t.tenant.shard.name} while it was restored: its rows are restored on ${t.shard.name}, its placement was left as it is now`);
      placementVersion = moved;
      this.router.invalidate(t.tenant.id);
    }
    steps.done(RestoreSteps.PLACEMENT, 1);
    const previousShard = t.moves ? { name: t.tenant.shard.name, rowsLeft: await this.rowsOn(t.tenant.shard, t.tenant.id).catch(() => null) } : null;

    const vectors = await this.restoreVectors(t, steps);
    // Last, once the rows, the placement and the vectors are as archived: the work the archive caught
    // half-done (a ticket drafting, a document indexing) is begun again by its owner, on the shard the
    // placement names now. Once per run (its id derives from the run's): a run resumed after a crash
    // in between publishes it once.
    await this.tenantDb.withTenantOnShard(shardInfoOf(t.shard), t.tenant.id, (tx) =>
      publishOnceInTx(tx, derivedId(run.id, 'tenant.restored'), TenantEvents.RESTORED, { tenantId: t.tenant.id, archiveId: id, runId: run.id, shard: t.shard.name }, { tenantId: t.tenant.id, producer: 'provisioning', correlationId: run.id }),
    );
    return { kind: 'restore', archive: id, shard: t.shard.name, placementMoved: t.moves, placementVersion, previousShard, erased, tables, vectors, auditChain };
  }

  /** The tenant's rows on a shard, over every tenant table but the outbox. */
  private rowsOn(shard: ShardRecord, tenantId: TenantId): Promise<number> {
    return this.tenantDb.withTenantOnShard(shardInfoOf(shard), tenantId, async (tx) => {
      let n = 0;
      for (const table of await readTenantTables(tx.db)) if (!(table.name in EXCLUDED_TABLES)) n += await countTenantRows(tx, tenantId, table);
      return n;
    });
  }

  /** Step 2: everything on the target in one transaction (see the class). */
  private async restoreRows(tx: TenantTx, t: Target, actor: string, steps: RunSteps, run: TenantArchiveRun): Promise<Pick<TenantRestoreResult, 'erased' | 'tables' | 'auditChain'>> {
    const tenantId = t.tenant.id;
    const m = t.manifest;
    // The chain's lock first: from here to the commit no audit entry can be appended for the tenant.
    await this.chain!.lock(tx, tenantId);
    await useCanonicalText(tx);
    const tables = await readTenantTables(tx.db);
    const targets = this.targetTables(tables, m, t.shard.name);
    let erased: TenantRestoreResult['erased'] = [];
    if (t.replace) {
      const waiting = await takeUnpublished(tx, tenantId);
      const r = await sql<{ table_name: string; deleted: string }>`select table_name, deleted from erase_tenant(${tenantId}::uuid)`.execute(tx.db);
      erased = r.rows.map((x) => ({ table: x.table_name, rows: Number(x.deleted) })).filter((x) => x.rows > 0);
      await appendToOutbox(tx, ...waiting);
    } else {
      for (const table of tables)
        if (!(table.name in EXCLUDED_TABLES) && (await countTenantRows(tx, tenantId, table)))
          throw problem(409, BackupProblems.ROWS_PRESENT, 'Tenant data present', `tenant ${tenantId} has rows in ${table.name} on shard ${t.shard.name} (written since the restore was checked): restore with replace`);
    }

    steps.start(RestoreSteps.ROWS, m.tables.reduce((n, x) => n + x.rows, 0));
    let done = 0;
    let current: { table: TenantTable; columns: TenantTableColumn[] } | undefined;
    let batch: CopiedValue[][] = [];
    const flush = async () => {
      if (!current || !batch.length) return;
      await insertTenantRows(tx, current.table, current.columns, batch);
      steps.set(RestoreSteps.ROWS, (done += batch.length));
      batch = [];
    };
    for await (const item of readArchiveData(await this.store.data(m.id), t.opening)) {
      if (item.kind === 'table') {
        await flush();
        current = targets.get(item.name);
        if (!current) throw problem(422, BackupProblems.ARCHIVE_CORRUPT, 'Archive unreadable', `the data holds table ${item.name}, which its manifest does not list`);
      } else if (item.kind === 'row') {
        batch.push(item.values);
        if (batch.length >= INSERT_BATCH) await flush();
      } else if (item.kind === 'vectors') break;
    }
    await flush();
    steps.done(RestoreSteps.ROWS, done);

    steps.start(RestoreSteps.CHECK, m.tables.length + 1);
    const restored: TenantRestoreResult['tables'] = [];
    for (const a of m.tables) {
      const { table, columns } = targets.get(a.name)!;
      const got = await digestTenantRows(tx, tenantId, table, columns);
      if (got.rows !== a.rows || got.sha256 !== a.sha256)
        throw problem(
          500,
          BackupProblems.VERIFICATION_FAILED,
          'Restored rows differ',
          `table ${a.name} read back ${got.rows} rows with checksum ${got.sha256.slice(0, 12)}…, the archive has ${a.rows} with ${a.sha256.slice(0, 12)}…: rolled back`,
        );
      restored.push({ name: a.name, rows: got.rows, sha256: got.sha256 });
      steps.set(RestoreSteps.CHECK, restored.length);
    }
    const chain = await this.chain!.verify(tx, tenantId);
    if (!chain.ok)
      throw problem(
        500,
        BackupProblems.AUDIT_CHAIN_BROKEN,
        'Restored audit chain broken',
        `the restored audit chain of tenant ${tenantId} does not verify at entry ${chain.firstBroken?.seq} (${chain.firstBroken?.reason}): rolled back`,
      );
    steps.done(RestoreSteps.CHECK, m.tables.length + 1);
    // The restore in the tenant's audit log: appended right after the restored chain (the lock is held to the commit).
    await publishInTx(
      tx,
      AccessEvents.RECORDED,
      { actor: actor.slice(0, 100), action: 'update', resourceType: AUDIT_RESOURCE, resourceId: m.id, method: 'POST', route: '/ops/tenants/:tenantId/restore', status: 200, ipEnc: null, at: new Date().toISOString() },
      { tenantId, producer: 'provisioning', correlationId: run.id },
    );
    return { erased, tables: restored, auditChain: { ok: chain.ok, checked: chain.checked } };
  }

  /** Step 4: the vector namespace as archived, read back and checked. */
  private async restoreVectors(t: Target, steps: RunSteps): Promise<TenantRestoreResult['vectors']> {
    const tenantId = t.tenant.id;
    const m = t.manifest;
    steps.start(RestoreSteps.VECTORS, m.vectors.objects);
    if (t.replace) await this.vectors.deleteTenant(tenantId);
    await this.vectors.createTenant(tenantId);
    let batch: KnowledgeChunk[] = [];
    let written = 0;
    const flush = async () => {
      if (!batch.length) return;
      await this.vectors.upsertChunks(tenantId, batch);
      steps.set(RestoreSteps.VECTORS, (written += batch.length));
      batch = [];
    };
    let inVectors = false;
    for await (const item of readArchiveData(await this.store.data(m.id), t.opening)) {
      if (item.kind === 'vectors') inVectors = true;
      else if (inVectors && item.kind === 'chunk') {
        batch.push(item.chunk);
        if (batch.length >= VECTOR_BATCH) await flush();
      }
    }
    await flush();
    const digest = new VectorDigest();
    for await (const page of this.vectors.exportChunks(tenantId)) for (const c of page) digest.add(c);
    const got = digest.digest();
    if (got.objects !== m.vectors.objects || got.sha256 !== m.vectors.sha256)
      throw problem(
        500,
        BackupProblems.VECTOR_STORE_FAILED,
        'Restored vectors differ',
        `the tenant's vector namespace read back ${got.objects} objects with checksum ${got.sha256.slice(0, 12)}…, the archive has ${m.vectors.objects} with ${m.vectors.sha256.slice(0, 12)}…; the rows are restored: restore again with replace`,
      );
    steps.done(RestoreSteps.VECTORS, got.objects);
    return { objects: got.objects, sha256: got.sha256 };
  }
}
