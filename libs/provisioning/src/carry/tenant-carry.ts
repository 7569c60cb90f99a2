import { createSecretKey } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { link, open, rm, stat } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { BackupProblems, type ArchiveManifest, type TenantId } from '@hotdash/contracts';
import type { PlatformConfig } from '@hotdash/platform-config';
import { CryptoError, keyCheckOf, kmsFromEnv, SubjectKeyring, TenantKeyDestroyedError, TenantKeyMissingError, TenantKeyring, type KmsPort } from '@hotdash/platform-crypto';
import { countTenantRows, Databases, newId, readTenantTables, ShardInspector, ShardRouter, TenantDatabase } from '@hotdash/platform-db';
import { embedderFromEnv } from '@hotdash/platform-models';
import { vectorStoreFromEnv } from '@hotdash/platform-vector';
import { archiveKey } from '../backups/archive-crypto';
import { ArchiveCorruptError, parseManifest, summaryOf, verifyArchiveData } from '../backups/archive-format';
import { EXCLUDED_TABLES } from '../backups/archive-scope';
import { LocalArchiveStore } from '../backups/archive-store';
import { shardInfoOf } from '../backups/placed-tenant';
import { ShardsRepository } from '../shards.repository';
import { CarryError, CarryProblems, carryData, headerLines, openHeaderKey, readCarryHeader, sealHeader, type CarryHeader } from './carry-bundle';

/** A step of an export or import as it advances (one progress row per change). */
export type CarryProgress = (step: string, state: 'running' | 'done', detail?: string) => void;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const SETTLED = ['active', 'suspended'];

const corrupt = (err: unknown) => (err instanceof ArchiveCorruptError ? new CarryError(422, BackupProblems.ARCHIVE_CORRUPT, 'Archive unreadable', err.message) : err);

async function liveDataKey(keyring: TenantKeyring, tenantId: TenantId): Promise<Buffer> {
  try {
    return (await keyring.dataKey(tenantId)).export();
  } catch (err) {
    if (err instanceof TenantKeyDestroyedError)
      throw new CarryError(422, BackupProblems.KEY_DESTROYED, 'Tenant key destroyed', `the data key of tenant ${tenantId} was destroyed (crypto-shredded): its archives can never be read again, and it cannot be carried`);
    if (err instanceof TenantKeyMissingError) throw new CarryError(422, BackupProblems.KEY_MISSING, 'Tenant key missing', `tenant ${tenantId} has no data key`);
    throw err;
  }
}

export interface CarryExportOptions {
  /** The source's configuration (its control database: embedded mode's PGlite, or a stack). */
  config: PlatformConfig;
  env?: NodeJS.ProcessEnv;
  mode: 'embedded' | 'stack';
  /** The archive to carry; or `tenant` (id or slug): its newest archive. */
  archive?: string;
  tenant?: string;
  out: string;
  passphrase: string;
  actor: string;
  progress?: CarryProgress;
  /** For specs: the KMS (default: the environment's, kmsFromEnv). */
  kms?: KmsPort;
}

export interface CarryExportResult {
  bundle: string;
  bytes: number;
  tenant: CarryHeader['tenant'];
  archive: ReturnType<typeof summaryOf>;
  subjectKeys: number;
  embedder: CarryHeader['source']['embedder'];
}

/**
 * Writes a carry bundle (carry-bundle.ts) of one of a tenant's archives, at the source deployment:
 * the archive (made before by `hotdash-ops tenants backup`, in the source's HOTDASH_BACKUP_DIR) is
 * read back whole and checked against its manifest under the tenant's live data key (its key check
 * value must be the archive's: tenant-key-mismatch), then written with the tenant's control record,
 * its data subject keys and its data key sealed under the passphrase. Nothing at the source changes.
 */
export async function exportCarry(o: CarryExportOptions): Promise<CarryExportResult> {
  const progress = o.progress ?? (() => undefined);
  const env = o.env ?? process.env;
  const dbs = new Databases(o.config, { max: 2 });
  const store = new LocalArchiveStore(o.config.backup.dir);
  let dataKey: Buffer | undefined;
  try {
    progress('tenant', 'running');
    const db = dbs.controlDb('app');
    const ref = o.tenant ?? (o.archive ? o.archive.slice(0, 36) : undefined);
    if (!ref) throw new CarryError(400, 'invalid-input', 'Nothing to carry', 'give an archive id or a tenant (id or slug)');
    const row = await db
      .selectFrom('tenants')
      .select(['id', 'slug', 'name', 'plan_code', 'status', 'region', 'created_at'])
      .where(UUID.test(ref) ? 'id' : 'slug', '=', UUID.test(ref) ? ref.toLowerCase() : ref)
      .executeTakeFirst();
    if (!row) throw new CarryError(404, CarryProblems.TENANT_NOT_FOUND, 'Tenant not found', `no tenant ${ref} at the source`);
    const tenantId = row.id as TenantId;
    if (!SETTLED.includes(row.status))
      throw new CarryError(409, CarryProblems.TENANT_NOT_CARRIABLE, 'Tenant not carriable', `tenant ${row.slug} is ${row.status}: only an active or suspended tenant is carried`);
    progress('tenant', 'done', row.slug);

    progress('archive', 'running');
    let archiveId = o.archive;
    if (!archiveId) {
      const all = await store.list(tenantId);
      archiveId = all.at(-1)?.id;
      if (!archiveId)
        throw new CarryError(404, BackupProblems.ARCHIVE_NOT_FOUND, 'No archive', `tenant ${row.slug} has no archive in ${o.config.backup.dir}: back it up first (\`hotdash-ops tenants backup ${tenantId}\`)`);
    }
    const raw = await store.manifest(archiveId).catch(() => undefined);
    if (raw === undefined) throw new CarryError(404, BackupProblems.ARCHIVE_NOT_FOUND, 'Archive not found', `no archive ${archiveId} in ${o.config.backup.dir}`);
    let manifest: ArchiveManifest;
    try {
      manifest = parseManifest(raw, archiveId);
    } catch (err) {
      throw corrupt(err);
    }
    if (manifest.tenant.id !== tenantId) throw new CarryError(422, BackupProblems.ARCHIVE_OF_ANOTHER_TENANT, 'Archive of another tenant', `archive ${archiveId} holds tenant ${manifest.tenant.id}, not ${row.slug}`);

    const keyring = new TenantKeyring(dbs, o.kms ?? (await kmsFromEnv(env)), { cacheTtlMs: 0 });
    dataKey = await liveDataKey(keyring, tenantId);
    const check = keyCheckOf(tenantId, createSecretKey(dataKey));
    if (check !== manifest.key.check)
      throw new CarryError(422, BackupProblems.KEY_MISMATCH, 'Tenant key mismatch', `tenant ${row.slug}'s data key is not the key archive ${archiveId} was written under`);
    const key = archiveKey(createSecretKey(dataKey), archiveId);
    try {
      await verifyArchiveData(await store.data(archiveId), manifest, key).catch((err) => {
        throw corrupt(err);
      });
    } finally {
      key.fill(0);
    }
    progress('archive', 'done', `${archiveId}: ${manifest.tables.reduce((n, t) => n + t.rows, 0)} rows, ${manifest.vectors.objects} vectors, verified`);

    progress('keys', 'running');
    const subjects = await SubjectKeyring.readTenant(db, tenantId);
    const embedder = embedderFromEnv(env);
    const header = sealHeader(
      {
        format: 'hotdash-tenant-carry',
        formatVersion: 1,
        createdAt: new Date().toISOString(),
        createdBy: o.actor.slice(0, 200),
        source: { mode: o.mode, embedder: { model: embedder.model, dimensions: embedder.dimensions } },
        tenant: { id: tenantId, slug: row.slug, name: row.name, plan: row.plan_code, status: row.status as 'active' | 'suspended', region: row.region, createdAt: new Date(row.created_at).toISOString() },
        manifest: raw as Record<string, unknown>,
        key: { check },
        subjectKeys: subjects.map((s) => ({
          id: s.id,
          subjectRef: s.subject_ref,
          wrappedKey: s.wrapped_key ? Buffer.from(s.wrapped_key).toString('base64') : null,
          createdAt: new Date(s.created_at).toISOString(),
          destroyedAt: s.destroyed_at ? new Date(s.destroyed_at).toISOString() : null,
        })),
      },
      dataKey,
      o.passphrase,
    );
    progress('keys', 'done', `data key sealed, ${subjects.length} data subject key(s)`);

    progress('write bundle', 'running');
    const bytes = await writeBundle(o.out, header, await store.data(archiveId));
    progress('write bundle', 'done', `${o.out} (${bytes} bytes)`);
    return { bundle: o.out, bytes, tenant: header.tenant, archive: summaryOf(manifest), subjectKeys: subjects.length, embedder: header.source.embedder };
  } finally {
    dataKey?.fill(0);
    await dbs.close();
  }
}

/** Writes the bundle to a temporary file next to `out`, flushed, then linked into place (never over an existing file). */
async function writeBundle(out: string, header: CarryHeader, data: NodeJS.ReadableStream): Promise<number> {
  if (await stat(out).then(() => true, () => false)) throw new CarryError(409, CarryProblems.OUTPUT_EXISTS, 'Output exists', `${out} exists already: give another path`);
  const tmp = `${out}.tmp-${process.pid}`;
  try {
    const file = createWriteStream(tmp, { flags: 'wx', mode: 0o600 });
    file.write(headerLines(header));
    await pipeline(data, file);
    const fh = await open(tmp, 'r');
    let size: number;
    try {
      await fh.sync();
      size = (await fh.stat()).size;
    } finally {
      await fh.close();
    }
    await link(tmp, out).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'EEXIST') throw new CarryError(409, CarryProblems.OUTPUT_EXISTS, 'Output exists', `${out} exists already: give another path`);
      throw err;
    });
    return size;
  } finally {
    await rm(tmp, { force: true });
  }
}

export interface CarryImportOptions {
  /** The target stack's configuration. */
  config: PlatformConfig;
  env?: NodeJS.ProcessEnv;
  bundle: string;
  shard: string;
  passphrase: string;
  dryRun: boolean;
  actor: string;
  progress?: CarryProgress;
  kms?: KmsPort;
}

export interface CarryImportResult {
  dryRun: boolean;
  tenantId: string;
  slug: string;
  name: string;
  plan: string;
  /** The tenant's status at the source: what it gets once restored (`hotdash-ops tenants reactivate` for active). */
  sourceStatus: string;
  shard: string;
  region: string;
  archive: ReturnType<typeof summaryOf>;
  tables: { name: string; rows: number }[];
  vectors: number;
  subjectKeys: number;
  /** What the operator runs next. */
  next: string[];
}

/**
 * Takes a carry bundle in at the target stack. Refused before anything changes (stable codes): a
 * file that is no bundle, or changed (carry-bundle-corrupt); a wrong passphrase; an archive that
 * does not verify under the key (archive-corrupt) or a key that is not the archive's
 * (tenant-key-mismatch); the tenant's id known here (carry-tenant-exists) or its slug taken
 * (carry-slug-taken); its plan unknown here (carry-plan-unknown); the shard unknown or not active;
 * the shard lacking a migration the archive's shard had applied (restore-schema-older); the tenant's
 * rows or vectors on the shard (tenant-rows-present); vectors of another embedder than the stack's
 * (carry-embedder-mismatch). A dry run stops there. Otherwise: the archive goes into the stack's
 * archive store (HOTDASH_BACKUP_DIR, as `hotdash-ops tenants backup` would have written it), then
 * ONE control transaction writes the tenant (status suspended, its region the shard's), its
 * placement on the shard, its data key wrapped under this stack's KMS (the key itself unchanged,
 * so every encrypted field stays readable), its data subject keys and an ops action. The rows and
 * the vectors then come in by the existing restore (`hotdash-ops tenants restore <archive> --replace
 * --yes`: the ops calls' own audit entries are there by then), which verifies every table and the
 * audit chain and writes the vectors into Weaviate.
 */
export async function importCarry(o: CarryImportOptions): Promise<CarryImportResult> {
  const progress = o.progress ?? (() => undefined);
  const env = o.env ?? process.env;
  progress('read bundle', 'running');
  const { header, dataOffset, fileBytes } = await readCarryHeader(o.bundle);
  const dataKey = openHeaderKey(header, o.passphrase);
  const dbs = new Databases(o.config, { max: 3 });
  const vectors = vectorStoreFromEnv(o.config, embedderFromEnv(env).dimensions, env);
  const t = header.tenant;
  const tenantId = t.id as TenantId;
  try {
    let manifest: ArchiveManifest;
    try {
      manifest = parseManifest(header.manifest, String(header.manifest.id));
    } catch (err) {
      throw corrupt(err);
    }
    if (manifest.tenant.id !== t.id) throw new CarryError(422, CarryProblems.BUNDLE_CORRUPT, 'Carry bundle inconsistent', `the bundle names tenant ${t.id}, its archive ${manifest.tenant.id}`);
    const check = keyCheckOf(tenantId, createSecretKey(dataKey));
    if (check !== manifest.key.check || check !== header.key.check)
      throw new CarryError(422, BackupProblems.KEY_MISMATCH, 'Tenant key mismatch', `the data key in the bundle is not the key archive ${manifest.id} was written under`);
    if (fileBytes - dataOffset !== manifest.data.bytes)
      throw new CarryError(422, BackupProblems.ARCHIVE_CORRUPT, 'Archive unreadable', `the bundle holds ${fileBytes - dataOffset} bytes of archive data, its manifest names ${manifest.data.bytes} (truncated?)`);
    progress('read bundle', 'done', `tenant ${t.slug}, archive ${manifest.id}`);

    progress('verify archive', 'running');
    const key = archiveKey(createSecretKey(dataKey), manifest.id);
    try {
      await verifyArchiveData(carryData(o.bundle, dataOffset), manifest, key).catch((err) => {
        throw corrupt(err);
      });
    } finally {
      key.fill(0);
    }
    progress('verify archive', 'done', `${manifest.tables.reduce((n, x) => n + x.rows, 0)} rows, ${manifest.vectors.objects} vectors`);

    progress('check target', 'running');
    const db = dbs.controlDb('app');
    const found = await db.selectFrom('tenants').select(['id', 'slug', 'status']).where((eb) => eb.or([eb('id', '=', tenantId), eb('slug', '=', t.slug)])).execute();
    const same = found.find((x) => x.id === tenantId);
    const keyring = new TenantKeyring(dbs, o.kms ?? (await kmsFromEnv(env)), { cacheTtlMs: 0 });
    // A key record without the tenant: this stack had the tenant (offboarded and shredded, or a carry undone by hand).
    const keyRow = await keyring.keyCheck(tenantId, { fresh: true }).then(
      () => true,
      (err: unknown) => {
        if (err instanceof TenantKeyMissingError) return false;
        // Destroyed, or wrapped under a key-encryption key this KMS does not have: a key record is there.
        if (err instanceof CryptoError) return true;
        throw err;
      },
    );
    if (same || keyRow)
      throw new CarryError(
        409,
        CarryProblems.TENANT_EXISTS,
        'Tenant exists',
        same
          ? `tenant ${tenantId} exists on this stack (${same.slug}, ${same.status}): it was carried here already (restore its archive with \`hotdash-ops tenants restore ${manifest.id}\`) or is another copy of it`
          : `this stack had a tenant ${tenantId} (its key record is there): it cannot be taken in again`,
      );
    const other = found.find((x) => x.slug === t.slug);
    if (other) throw new CarryError(409, CarryProblems.SLUG_TAKEN, 'Slug taken', `tenant ${other.id} of this stack has the slug ${t.slug}: the carried tenant keeps its slug (its users log in with it)`);
    const plan = await db.selectFrom('plans').select(['code']).where('code', '=', t.plan).executeTakeFirst();
    if (!plan) throw new CarryError(422, CarryProblems.PLAN_UNKNOWN, 'Plan unknown', `this stack has no plan ${t.plan}`);
    const shard = await new ShardsRepository().byName(db, o.shard);
    if (!shard) throw new CarryError(404, BackupProblems.SHARD_NOT_FOUND, 'Shard not found', `no shard named ${o.shard} (\`hotdash-ops shards list\`)`);
    if (shard.status !== 'active') throw new CarryError(409, BackupProblems.SHARD_NOT_ACTIVE, 'Shard not active', `shard ${shard.name} is ${shard.status}: a carried tenant goes onto an active shard`);
    const applied = new Set(
      await new ShardInspector(o.config).appliedMigrations(shard).catch((err: Error) => {
        throw new CarryError(503, BackupProblems.SHARD_UNAVAILABLE, 'Shard unavailable', `shard ${shard.name} could not be read: ${err.message}`);
      }),
    );
    const missing = manifest.schema.migrations.filter((m) => !applied.has(m));
    if (missing.length)
      throw new CarryError(409, BackupProblems.SCHEMA_OLDER, 'Shard older than the archive', `shard ${shard.name} lacks ${missing.length} migration(s) the source had applied (${missing.slice(0, 3).join(', ')}): migrate it first (\`hotdash-ops migrations run\`)`);
    const tenantDb = new TenantDatabase(dbs, new ShardRouter(dbs));
    const present = await tenantDb.withTenantOnShard(shardInfoOf(shard), tenantId, async (tx) => {
      const out: string[] = [];
      for (const table of await readTenantTables(tx.db)) if (!(table.name in EXCLUDED_TABLES) && (await countTenantRows(tx, tenantId, table))) out.push(table.name);
      return out;
    });
    if ((await vectors.tenantExists(tenantId)) && (await vectors.countObjects(tenantId)) > 0) present.push('knowledge vectors');
    if (present.length)
      throw new CarryError(409, BackupProblems.ROWS_PRESENT, 'Tenant data present', `shard ${shard.name} holds rows of tenant ${tenantId} (${present.join(', ')}): erase them there first (erase_tenant) or choose another shard`);
    const target = embedderFromEnv(env);
    const src = header.source.embedder;
    if (manifest.vectors.objects > 0 && (src.model !== target.model || src.dimensions !== target.dimensions || (manifest.vectors.dimensions ?? target.dimensions) !== target.dimensions))
      throw new CarryError(
        422,
        CarryProblems.EMBEDDER_MISMATCH,
        'Embedder mismatch',
        `the tenant's ${manifest.vectors.objects} knowledge vectors were made by ${src.model} (${src.dimensions} dimensions), this stack embeds with ${target.model} (${target.dimensions}): they cannot be searched together. Carry it onto a stack with the same HOTDASH_EMBEDDER and HOTDASH_EMBEDDING_DIMENSIONS`,
      );
    progress('check target', 'done', `shard ${shard.name} (${shard.region})`);

    const result: CarryImportResult = {
      dryRun: o.dryRun,
      tenantId,
      slug: t.slug,
      name: t.name,
      plan: t.plan,
      sourceStatus: t.status,
      shard: shard.name,
      region: shard.region,
      archive: summaryOf(manifest),
      tables: manifest.tables.map((x) => ({ name: x.name, rows: x.rows })),
      vectors: manifest.vectors.objects,
      subjectKeys: header.subjectKeys.length,
      // --replace: the gateway records every ops call on the tenant (the dry run too) in the tenant's
      // audit log, so by the restore the tenant has a few audit rows on the shard; the restore erases
      // them and writes the archive's chain back (the calls' entries not yet recorded follow it).
      next: [`hotdash-ops tenants restore ${manifest.id} --dry-run --replace`, `hotdash-ops tenants restore ${manifest.id} --replace --yes`, ...(t.status === 'active' ? [`hotdash-ops tenants reactivate ${tenantId}`] : [])],
    };
    if (o.dryRun) return result;

    progress('archive into the store', 'running');
    const store = new LocalArchiveStore(o.config.backup.dir);
    const stored = await store.manifest(manifest.id);
    let copied = false;
    if (stored === undefined) {
      const draft = await store.create(manifest.id);
      try {
        await pipeline(carryData(o.bundle, dataOffset), draft.data);
        const info = await draft.commit(() => header.manifest);
        if (info.sha256 !== manifest.data.sha256) {
          await store.delete(manifest.id);
          throw new CarryError(422, BackupProblems.ARCHIVE_CORRUPT, 'Archive unreadable', 'the archive data changed while it was copied');
        }
        copied = true;
      } catch (err) {
        await draft.abort();
        throw err;
      }
    } else if (JSON.stringify(stored) !== JSON.stringify(header.manifest)) {
      throw new CarryError(409, CarryProblems.TENANT_EXISTS, 'Archive exists', `the archive store holds another archive ${manifest.id}`);
    }
    progress('archive into the store', 'done', `${o.config.backup.dir}`);

    progress('control records', 'running');
    try {
      await dbs.withControl(async (tx) => {
        await tx.db
          .insertInto('tenants')
          .values({ id: tenantId, name: t.name, slug: t.slug, plan_code: t.plan, status: 'suspended', region: shard.region, created_at: new Date(t.createdAt) })
          .execute();
        await tx.db.insertInto('tenant_placements').values({ tenant_id: tenantId, shard_id: shard.id, version: 1 }).execute();
        const carried = await keyring.importKey(tx, tenantId, { dataKey: () => Promise.resolve(createSecretKey(dataKey)) });
        if (carried.check !== manifest.key.check) throw new Error('the carried data key changed while it was wrapped');
        await SubjectKeyring.writeTenant(
          tx.db,
          header.subjectKeys.map((k) => ({
            id: k.id,
            tenant_id: tenantId,
            subject_ref: k.subjectRef,
            wrapped_key: k.wrappedKey === null ? null : Buffer.from(k.wrappedKey, 'base64'),
            created_at: new Date(k.createdAt),
            destroyed_at: k.destroyedAt === null ? null : new Date(k.destroyedAt),
          })),
        );
        // The carry in the ops history (written here, not through OpsActions: its log line would go to the tool's stdout).
        await tx.db
          .insertInto('ops_actions')
          .values({
            id: newId(),
            actor: o.actor.slice(0, 200),
            action: 'tenant.carry-import',
            target: tenantId,
            outcome: 'done',
            detail: JSON.stringify({ archive: manifest.id, slug: t.slug, shard: shard.name, source: header.source.mode, exportedAt: header.createdAt, exportedBy: header.createdBy, subjectKeys: header.subjectKeys.length }),
          })
          .execute();
      });
    } catch (err) {
      if (copied) await store.delete(manifest.id).catch(() => undefined);
      if ((err as { code?: string }).code === '23505')
        throw new CarryError(409, CarryProblems.TENANT_EXISTS, 'Tenant exists', `a tenant with id ${tenantId} or slug ${t.slug} was created on this stack meanwhile: nothing was written`);
      throw err;
    }
    progress('control records', 'done', `tenant ${t.slug} suspended on ${shard.name}, data key wrapped by this stack's KMS`);
    return result;
  } finally {
    dataKey.fill(0);
    await vectors.close().catch(() => undefined);
    await dbs.close();
  }
}
