// Tenant backup and restore of the ops API (issue 14, item 7), against the real PostgreSQL shards,
// the control plane and Weaviate, with the audit service's own chain code bound as the provisioning
// app binds it. A tenant with rows in every tenant table that matters (users and their sessions,
// invitations, resets and API keys, settings and drafting profile, tickets and drafts with encrypted
// fields, knowledge documents with bytes and their vectors, a valid audit chain, quota and usage,
// mail, more inbox rows than one page of the copy) is backed up, its rows and vectors erased
// (its key kept), restored, and every table compared row for row (and every vector object) with the
// state before the backup; then restored again with `replace` over its live rows, and onto the other
// shard, which moves its placement. Refusals change nothing: a shredded key, a key that is not the
// archive's, an older target schema, a target of another region or not active, rows already
// present, an unknown tenant or archive, an archive of another tenant, a run already in progress; a
// corrupt archive fails its run and restores nothing. Every archive, Weaviate tenant, row, run and
// scratch shard the spec makes is removed in afterAll.
import { createDecipheriv, createHash, randomUUID } from 'node:crypto';
import { createReadStream, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { AccessEvents, type ArchiveManifest, parseTenantId, type TenantArchiveRun, type TenantId, type TenantRestoreResult } from '@hotdash/contracts';
import { AuditLogRepository, RecordAuditEntryHandler } from '@hotdash/audit';
import { FieldCipher, LocalKms, TenantKeyring } from '@hotdash/platform-crypto';
import { newId, readTenantRows, readTenantTables, ShardInfo, ShardInspector, useCanonicalText } from '@hotdash/platform-db';
import { buildEnvelope } from '@hotdash/platform-messaging';
import { type KnowledgeChunk, WeaviateVectorStore } from '@hotdash/platform-vector';
import {
  archiveKey,
  ArchiveWriter,
  BackUpTenantHandler,
  EXCLUDED_TABLES,
  ListBackupsHandler,
  LocalArchiveStore,
  readArchiveData,
  RestoreTenantHandler,
  ShardsRepository,
  TenantArchiveRuns,
  TenantArchiveRunsRepository,
} from '@hotdash/provisioning';
import { createAccount, problemOf, TestWorld, waitFor } from '@hotdash/testing';
import { auditChainOfLibrary } from './tenant-audit-chain';

jest.setTimeout(120_000);

const world = new TestWorld();
const run = newId().replace(/-/g, '').slice(-10);
const actor = `ops:spec-backup-${run}`;
const backupDir = mkdtempSync(join(tmpdir(), 'hotdash-backups-spec-'));
const keyring = new TenantKeyring(world.dbs, LocalKms.fromEnv());
const cipher = new FieldCipher(keyring);
const vectors = WeaviateVectorStore.fromConfig(world.config);
const store = new LocalArchiveStore(backupDir);
const inspector = new ShardInspector(world.config);
const runs = new TenantArchiveRuns(world.control, new TenantArchiveRunsRepository());
const backups = new BackUpTenantHandler(world.control, world.tenantDb, keyring, vectors, inspector, store, runs);
const restores = new RestoreTenantHandler(world.control, world.tenantDb, world.router, keyring, vectors, inspector, new ShardsRepository(), store, runs, auditChainOfLibrary());

const tenants: TenantId[] = [];
const scratchShards: string[] = [];
const scratchDatabases: string[] = [];
let shard1: ShardInfo;
let shard2: ShardInfo;
let main: TenantId;
let plainName: string;

type Client = Awaited<ReturnType<TestWorld['connect']>>;
async function asOwner<T>(location: { host: string; port: number; database: string }, fn: (c: Client) => Promise<T>): Promise<T> {
  const c = await world.connect(location, 'owner');
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/** Every archived table's rows of the tenant on a shard (text forms, key order), by table: what "row for row" compares. */
async function rowsOf(tenantId: TenantId, shard: ShardInfo): Promise<Record<string, unknown[][]>> {
  return world.tenantDb.withTenantOnShard(shard, tenantId, async (tx) => {
    await useCanonicalText(tx);
    const out: Record<string, unknown[][]> = {};
    for (const table of await readTenantTables(tx.db)) {
      if (table.name in EXCLUDED_TABLES) continue;
      out[table.name] = [];
      for await (const page of readTenantRows(tx, tenantId, table)) out[table.name]!.push(...page);
    }
    return out;
  });
}

async function vectorsOf(tenantId: TenantId): Promise<KnowledgeChunk[]> {
  if (!(await vectors.tenantExists(tenantId))) return [];
  const out: KnowledgeChunk[] = [];
  for await (const page of vectors.exportChunks(tenantId)) out.push(...page);
  return out;
}

const eraseRows = (tenantId: TenantId, shard: ShardInfo) => world.tenantDb.withTenantOnShard(shard, tenantId, (tx) => tx.db.selectFrom((eb) => eb.fn<{ table_name: string }>('erase_tenant', [eb.val(tenantId)]).as('e')).selectAll().execute());

const placementOf = (tenantId: TenantId) =>
  world.control.db.selectFrom('tenant_placements as p').innerJoin('shards as s', 's.id', 'p.shard_id').select(['s.name', 'p.version']).where('p.tenant_id', '=', tenantId).executeTakeFirstOrThrow();

/** Follows a run (as the CLI does, by polling) until it has finished. */
async function finished(started: TenantArchiveRun): Promise<TenantArchiveRun> {
  expect(started).toMatchObject({ status: 'running', actor, result: null, error: null });
  return waitFor(`${started.kind} run ${started.id}`, async () => {
    const r = await runs.get(started.tenantId, started.id);
    return r.status !== 'running' && r;
  }, 90_000, 50);
}

async function backUp(tenantId: TenantId): Promise<{ run: TenantArchiveRun; archive: string }> {
  const done = await finished(await backups.start(tenantId, {}, actor));
  expect([done.status, done.error]).toEqual(['succeeded', null]);
  expect(done.steps.every((s) => s.state === 'done')).toBe(true);
  return { run: done, archive: done.archive };
}

async function restore(tenantId: TenantId, body: Record<string, unknown>): Promise<TenantArchiveRun> {
  const started = await restores.start(tenantId, body, actor);
  if ('dryRun' in started) throw new Error('a dry run');
  return finished(started);
}

/**
 * A copy of an archive under another id with one row changed by `change`, its checksums and file
 * hash recomputed so the archive itself verifies: what only the restore's own checks can catch.
 */
async function forge(archive: string, as: string, change: (table: string, columns: string[], row: (string | null)[]) => (string | null)[]): Promise<void> {
  const tenant = parseTenantId(archive.slice(0, 36));
  const m = (await store.manifest(archive)) as ArchiveManifest;
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on('data', (c: Buffer) => chunks.push(c));
  const writer = new ArchiveWriter(out, archiveKey(await keyring.dataKey(tenant), as), as);
  let table = { name: '', columns: [] as string[] };
  const opening = { key: archiveKey(await keyring.dataKey(tenant), archive), archiveId: archive, sealing: m.sealing };
  for await (const item of readArchiveData(createReadStream(join(backupDir, tenant, `${archive}.data.jsonl.gz.enc`)), opening)) {
    if (item.kind === 'table') {
      table = item;
      await writer.beginTable(item.name, item.columns, m.tables.find((t) => t.name === item.name)!.primaryKey);
    } else if (item.kind === 'row') await writer.rows([change(table.name, table.columns, item.values)]);
    else if (item.kind === 'vectors') await writer.beginVectors();
    else if (item.kind === 'chunk') await writer.chunks([item.chunk]);
  }
  const { tables, vectors: v, sealing } = await writer.end();
  const data = Buffer.concat(chunks);
  writeFileSync(join(backupDir, tenant, `${as}.data.jsonl.gz.enc`), data);
  const forged = { ...m, id: as, tables, vectors: v, sealing, data: { file: `${as}.data.jsonl.gz.enc`, bytes: data.length, sha256: createHash('sha256').update(data).digest('hex') } };
  writeFileSync(join(backupDir, tenant, `${as}.manifest.json`), JSON.stringify(forged));
}

/** A tenant with a row in every tenant table that matters, on shard-1; its vectors in Weaviate. */
async function populatedTenant(): Promise<{ tenantId: TenantId; customerName: string }> {
  const account = await createAccount(world, 'admin');
  const tenantId = account.tenantId;
  tenants.push(tenantId);
  const customerName = `Grace Hopper ${run}`;
  const enc = (field: string, text: string) => cipher.encrypt(tenantId, field, text);
  const [nameEnc, emailEnc, bodyEnc, draftEnc, apiKeyEnc, toEnc] = await Promise.all([
    enc('tickets.customer_name', customerName),
    enc('tickets.customer_email', `grace-${run}@example.test`),
    enc('tickets.body', 'My order has not arrived.'),
    enc('drafts.body', 'Sorry, it ships today.'),
    enc('model_configs.api_key', 'sk-spec'),
    enc('mail_outbox.to', `ada-${run}@example.test`),
  ]);
  await world.tenantDb.withTenant(tenantId, async (tx) => {
    const t = tenantId;
    const now = new Date();
    const later = new Date(Date.now() + 86_400_000);
    const sessionId = newId();
    await tx.db.insertInto('invitations').values({ id: newId(), tenant_id: t, user_id: account.userId, token_hash: `inv-${newId()}`, expires_at: later }).execute();
    await tx.db.insertInto('auth_sessions').values({ id: sessionId, tenant_id: t, user_id: account.userId, expires_at: later, ip: '127.0.0.1', user_agent: 'spec' }).execute();
    await tx.db.insertInto('refresh_tokens').values({ id: newId(), tenant_id: t, session_id: sessionId, token_hash: `rt-${newId()}`, status: 'active', expires_at: later }).execute();
    await tx.db.insertInto('password_resets').values({ id: newId(), tenant_id: t, user_id: account.userId, token_hash: `pr-${newId()}`, expires_at: later }).execute();
    await tx.db.insertInto('api_keys').values({ id: newId(), tenant_id: t, name: 'integration', prefix: 'hdk_spec', key_hash: `kh-${newId()}`, role: 'operator', scopes: ['tickets:write', 'drafts:read'], created_by: account.userId }).execute();
    await tx.db.insertInto('tenant_settings').values({ tenant_id: t, brand_voice: 'warm', policies: 'refunds in 30 days', sla: JSON.stringify({ firstReplyMinutes: 60, ratio: 0.125, tiers: ['gold', 'silver'] }) }).execute();
    await tx.db.insertInto('approval_workflows').values({ id: newId(), tenant_id: t, key: 'default', name: 'Default', approver_roles: ['team_lead', 'admin'], sla_minutes: 30, is_default: true }).execute();
    await tx.db.insertInto('model_configs').values({ tenant_id: t, mode: 'own', provider: 'openai', model: 'gpt-spec', base_url: 'https://models.example.test/v1', api_key_enc: apiKeyEnc }).execute();
    await tx.db
      .insertInto('drafting_profiles')
      .values({ tenant_id: t, version: 3, changed_at: now, company_name: 'Spec Co', brand_voice: 'warm', policies: ['one', 'two'], model_mode: 'platform', model_provider: 'offline', model_name: 'offline-extractive', model_temperature: 0.3, model_max_tokens: 512 })
      .execute();
    for (let i = 0; i < 3; i++)
      await tx.db
        .insertInto('kb_documents')
        .values({ id: newId(), tenant_id: t, title: `Doc ${i}`, content: `content ${i} ü ☃`, bytes: '12', status: 'indexed', content_type: 'text/plain', source: Buffer.from([0, 1, 2, 250 + i, 10, 13]), sha256: 'ab'.repeat(32), version: 1 + i, progress: 100, chunk_count: 2, embedding_model: 'offline', indexed_at: now })
        .execute();
    for (let i = 0; i < 12; i++) {
      const ticketId = newId();
      await tx.db
        .insertInto('tickets')
        .values({ id: ticketId, tenant_id: t, channel: 'api', customer_name_enc: nameEnc, customer_email_enc: emailEnc, body_enc: bodyEnc, status: 'pending', assignee_id: account.userId, received_at: now, external_id: `ext-${i}` })
        .execute();
      await tx.db.insertInto('drafts').values({ id: newId(), tenant_id: t, ticket_id: ticketId, attempt: 1, status: 'pending', body_enc: draftEnc, citations: JSON.stringify([{ chunk: i, score: 0.5 }]), model: 'offline', prompt_tokens: 10 + i }).execute();
    }
    await tx.db.insertInto('usage_daily').values({ tenant_id: t, day: '2026-12-01', metric: 'api_calls', amount: '42' }).execute();
    await tx.db.insertInto('quota_counters').values({ tenant_id: t, metric: 'tickets', period_start: '2026-12-01', used: '12', reserved: '1' }).execute();
    await tx.db.insertInto('quota_reservations').values({ id: newId(), tenant_id: t, metric: 'tickets', period_start: '2026-12-01', amount: '1', status: 'held', idempotency_key: `k-${run}`, expires_at: later }).execute();
    await tx.db.insertInto('mail_outbox').values({ id: newId(), tenant_id: t, to_enc: toEnc, subject: 'Welcome', body: 'Hello', kind: 'invitation', sent_at: now }).execute();
    // More inbox rows than one page of the copy (1,000) and than one insert batch (500).
    const inbox = Array.from({ length: 1_234 }, (_, i) => ({ tenant_id: t, consumer: i % 2 ? 'quota' : 'drafts', event_id: newId() }));
    await tx.db.insertInto('inbox').values(inbox).execute();
    // A valid audit chain of 25 entries, appended by the audit service's own handler.
    const events = Array.from({ length: 25 }, (_, i) =>
      buildEnvelope(AccessEvents.RECORDED, { actor: `user:${account.userId}`, action: 'read', resourceType: 'ticket', resourceId: null, method: 'GET', route: '/tickets', status: 200, ipEnc: null, at: new Date(Date.now() + i).toISOString() }, { tenantId: t, producer: 'gateway', correlationId: newId() }),
    );
    await new RecordAuditEntryHandler(new AuditLogRepository()).executeMany(tx, events.map((event) => ({ event, actorId: event.payload.actor })));
  });
  await vectors.createTenant(tenantId);
  const v = (i: number) => Array.from({ length: 8 }, (_, j) => (j === i % 8 ? 1 : 0.01 * (i + j)));
  await vectors.upsertChunks(
    tenantId,
    Array.from({ length: 7 }, (_, i) => ({ id: randomUUID(), vector: v(i), documentId: `doc-${i % 3}`, chunkIndex: i, text: `passage ${i} about refunds`, title: `Doc ${i % 3}`, sourceVersion: 1 + (i % 3) })),
  );
  return { tenantId, customerName };
}

beforeAll(async () => {
  const shards = await world.shards();
  shard1 = shards.find((s) => s.name === 'shard-1')!;
  shard2 = shards.find((s) => s.name === 'shard-2')!;
  expect([shard1?.name, shard2?.name]).toEqual(['shard-1', 'shard-2']);
  await vectors.ensureCollection();
  ({ tenantId: main, customerName: plainName } = await populatedTenant());
}, 60_000);

afterAll(async () => {
  await runs.onApplicationShutdown();
  for (const t of tenants) {
    for (const shard of [shard1, shard2]) await eraseRows(t, shard).catch(() => undefined);
    await vectors.deleteTenant(t).catch(() => undefined);
  }
  await asOwner(world.dbs.controlLocation, async (c) => {
    await c.query('delete from tenant_archive_runs where tenant_id = any($1)', [tenants]);
    await c.query('delete from tenant_placements where tenant_id = any($1)', [tenants]);
    await c.query('delete from tenant_keys where tenant_id = any($1)', [tenants]);
    await c.query('delete from tenants where id = any($1)', [tenants]);
    await c.query('delete from shards where name = any($1)', [scratchShards]);
  });
  for (const d of scratchDatabases) await world.dropScratchDatabase(d);
  await vectors.close();
  await world.close();
  rmSync(backupDir, { recursive: true, force: true });
}, 60_000);

describe('backup, erase, restore: equal row for row', () => {
  let before: Record<string, unknown[][]>;
  let beforeVectors: KnowledgeChunk[];
  let archive: string;
  let manifest: ArchiveManifest;

  it('backs the tenant up into one verified archive: every tenant table but the outbox, its vectors, ciphertext only, no key', async () => {
    before = await rowsOf(main, shard1);
    beforeVectors = await vectorsOf(main);
    // Every table that matters holds rows.
    const tables = ['users', 'queue_members', 'invitations', 'auth_sessions', 'refresh_tokens', 'password_resets', 'api_keys', 'tenant_settings', 'approval_workflows', 'model_configs', 'drafting_profiles', 'kb_documents', 'tickets', 'drafts', 'audit_log', 'audit_heads', 'usage_daily', 'quota_counters', 'quota_reservations', 'mail_outbox', 'inbox'];
    expect(tables.filter((t) => !before[t]?.length)).toEqual([]);
    expect(before.inbox).toHaveLength(1_234);
    expect(beforeVectors).toHaveLength(7);

    ({ archive } = await backUp(main));
    manifest = (await store.manifest(archive)) as ArchiveManifest;
    expect(archive.startsWith(`${main}_`)).toBe(true);
    expect(manifest).toMatchObject({
      sealing: { algorithm: 'aes-256-gcm', keyDerivation: 'hkdf-sha256' },
      format: 'hotdash-tenant-archive',
      formatVersion: 1,
      id: archive,
      createdBy: actor,
      tenant: { id: main, shard: 'shard-1', region: 'local', status: 'active', plan: 'basic' },
      key: { algorithm: 'hmac-sha256', check: await keyring.keyCheck(main) },
      vectors: { objects: 7, dimensions: 8 },
      excludedTables: [{ name: 'outbox', reason: expect.any(String) }],
    });
    expect(manifest.schema.migrations).toEqual(await inspector.appliedMigrations(shard1));
    expect(Object.fromEntries(manifest.tables.map((t) => [t.name, t.rows]))).toEqual(Object.fromEntries(Object.entries(before).map(([t, rows]) => [t, rows.length])));
    // Parents first: users before their sessions, sessions before refresh tokens, tickets before drafts.
    const order = manifest.tables.map((t) => t.name);
    for (const [parent, child] of [['users', 'auth_sessions'], ['auth_sessions', 'refresh_tokens'], ['queue_members', 'tickets'], ['tickets', 'drafts']]) expect(order.indexOf(parent!)).toBeLessThan(order.indexOf(child!));

    // The whole data file is sealed under a key derived from the tenant's data key: not even the
    // columns the database keeps in plain text (document contents) can be read without it.
    const sealed = readFileSync(join(backupDir, main, `${archive}.data.jsonl.gz.enc`));
    expect(() => gunzipSync(sealed)).toThrow();
    expect(sealed.includes(Buffer.from('content 0'))).toBe(false);
    const decipher = createDecipheriv('aes-256-gcm', archiveKey(await keyring.dataKey(main), archive), Buffer.from(manifest.sealing.iv, 'base64'));
    decipher.setAAD(Buffer.from(archive));
    decipher.setAuthTag(Buffer.from(manifest.sealing.tag, 'base64'));
    const data = gunzipSync(Buffer.concat([decipher.update(sealed), decipher.final()])).toString('utf8');
    expect(data).toContain('content 0 ü ☃');
    // Encrypted fields are in the archive as the ciphertext they are; the plaintext and the key are not.
    expect(data).not.toContain(plainName);
    expect(data).not.toContain('sk-spec');
    const ticketColumns = manifest.tables.find((t) => t.name === 'tickets')!.columns;
    expect(data).toContain(String(before.tickets![0]![ticketColumns.indexOf('customer_name_enc')]));
    const wrapped = await world.control.db.selectFrom('tenant_keys').select(['wrapped_key']).where('tenant_id', '=', main).executeTakeFirstOrThrow();
    const raw = readFileSync(join(backupDir, main, `${archive}.manifest.json`), 'utf8') + data;
    expect(raw).not.toContain(Buffer.from(wrapped.wrapped_key!).toString('base64'));
    expect(raw).not.toContain(Buffer.from(wrapped.wrapped_key!).toString('hex'));
    // bytea as base64.
    const docColumns = manifest.tables.find((t) => t.name === 'kb_documents')!.columns;
    expect(before.kb_documents!.map((r) => r[docColumns.indexOf('source')])).toContain(Buffer.from([0, 1, 2, 250, 10, 13]).toString('base64'));
  });

  it('lists the archive; a dry run says what a restore would do and changes nothing', async () => {
    const { archives } = await new ListBackupsHandler(store).execute(main);
    expect(archives.map((a) => a.id)).toEqual([archive]);
    expect(archives[0]).toMatchObject({ tenantId: main, shard: 'shard-1', vectors: 7, rows: Object.values(before).reduce((n, r) => n + r.length, 0) });
    expect(await problemOf(restores.start(main, { archive, dryRun: true }, actor))).toEqual({ status: 409, code: 'tenant-rows-present' });
    const plan = await restores.start(main, { archive, dryRun: true, replace: true }, actor);
    expect(plan).toMatchObject({ dryRun: true, shard: 'shard-1', placementMoves: false, replace: true, vectors: 7 });
    expect((plan as { present: { table: string }[] }).present.map((p) => p.table)).toEqual(expect.arrayContaining(['users', 'tickets', 'audit_log', 'knowledge vectors']));
    expect(await rowsOf(main, shard1)).toEqual(before);
  });

  it('restores the erased tenant on its shard: every row and vector object as before, counts and checksums read back, audit chain verified', async () => {
    await eraseRows(main, shard1);
    await vectors.deleteTenant(main);
    const erased = await rowsOf(main, shard1);
    expect(Object.values(erased).every((rows) => rows.length === 0)).toBe(true);

    const done = await restore(main, { archive });
    expect([done.status, done.error]).toEqual(['succeeded', null]);
    const result = done.result as TenantRestoreResult;
    expect(result).toMatchObject({ kind: 'restore', archive, shard: 'shard-1', placementMoved: false, previousShard: null, erased: [], vectors: { objects: 7, sha256: manifest.vectors.sha256 } });
    expect(result.tables).toEqual(manifest.tables.map((t) => ({ name: t.name, rows: t.rows, sha256: t.sha256 })));
    expect(result.auditChain).toEqual({ ok: true, checked: 25 });
    expect(await rowsOf(main, shard1)).toEqual(before);
    expect(await vectorsOf(main)).toEqual(beforeVectors);
    // The encrypted fields still decrypt with the tenant's key.
    const ticket = await world.tenantDb.withTenant(main, (tx) => tx.db.selectFrom('tickets').select(['customer_name_enc']).limit(1).executeTakeFirstOrThrow());
    expect(await cipher.decrypt(main, 'tickets.customer_name', ticket.customer_name_enc)).toBe(plainName);
  });

  it('refuses a second restore over the live rows, and with replace erases them first and restores the archive again', async () => {
    expect(await problemOf(restores.start(main, { archive }, actor))).toEqual({ status: 409, code: 'tenant-rows-present' });
    // A change after the backup: replace puts the archive's state back.
    await world.tenantDb.withTenant(main, (tx) => tx.db.updateTable('tenant_settings').set({ brand_voice: 'changed' }).where('tenant_id', '=', main).execute());
    await vectors.deleteByDocument(main, 'doc-0');
    const done = await restore(main, { archive, replace: true });
    expect([done.status, done.error]).toEqual(['succeeded', null]);
    expect((done.result as TenantRestoreResult).erased).toEqual(expect.arrayContaining([{ table: 'users', rows: before.users!.length }, { table: 'audit_log', rows: 25 }]));
    expect(await rowsOf(main, shard1)).toEqual(before);
    expect(await vectorsOf(main)).toEqual(beforeVectors);
  });

  it('restores onto the other shard and moves the placement there (version bumped); the former shard’s rows are counted, not erased', async () => {
    const placed = await placementOf(main);
    expect(placed.name).toBe('shard-1');
    const done = await restore(main, { archive, shard: 'shard-2', replace: true });
    expect([done.status, done.error, done.shard]).toEqual(['succeeded', null, 'shard-2']);
    const result = done.result as TenantRestoreResult;
    const total = Object.values(before).reduce((n, r) => n + r.length, 0);
    expect(result).toMatchObject({ placementMoved: true, placementVersion: placed.version + 1, previousShard: { name: 'shard-1', rowsLeft: total }, erased: [] });
    expect(await placementOf(main)).toEqual({ name: 'shard-2', version: placed.version + 1 });
    expect((await world.router.shardOf(main)).name).toBe('shard-2');
    expect(await rowsOf(main, shard2)).toEqual(before);
    expect(await vectorsOf(main)).toEqual(beforeVectors);
    await eraseRows(main, shard1);
  });

  it('rolls back a restore whose archive verifies but whose audit chain does not (an entry changed): nothing of it stays', async () => {
    const forged = `${main}_20000101T000000000Z`;
    await forge(archive, forged, (table, columns, row) => (table === 'audit_log' && row[columns.indexOf('seq')] === '7' ? row.map((v, i) => (i === columns.indexOf('actor_id') ? 'user:someone-else' : v)) : row));
    const live = await rowsOf(main, shard2);
    const done = await restore(main, { archive: forged, replace: true });
    expect([done.status, done.error?.code, done.error?.message]).toEqual(['failed', 'audit-chain-broken', expect.stringContaining('at entry 7 (hash-mismatch)')]);
    expect(done.steps.find((s) => s.name === 'knowledge vectors')?.state).toBe('waiting');
    expect(await rowsOf(main, shard2)).toEqual(live);
    expect(live).toEqual(before);
    await store.delete(forged);
  });
});

describe('refusals change nothing', () => {
  let other: TenantId;
  let otherArchive: string;
  let mainArchive: string;

  beforeAll(async () => {
    const account = await createAccount(world, 'admin');
    other = account.tenantId;
    tenants.push(other);
    ({ archive: otherArchive } = await backUp(other));
    mainArchive = (await store.list(main))[0]!.id;
  });

  it('refuses an unknown tenant, an unknown archive, and an archive of another tenant', async () => {
    const nobody = parseTenantId(newId());
    expect(await problemOf(backups.start(nobody, {}, actor))).toEqual({ status: 404, code: 'not-found' });
    expect(await problemOf(restores.start(nobody, { archive: `${nobody}_20261213T101530123Z` }, actor))).toEqual({ status: 404, code: 'not-found' });
    expect(await problemOf(restores.start(other, { archive: `${other}_20000101T000000000Z` }, actor))).toEqual({ status: 404, code: 'archive-not-found' });
    expect(await problemOf(restores.start(other, { archive: mainArchive }, actor))).toEqual({ status: 422, code: 'archive-of-another-tenant' });
    expect(await problemOf(restores.start(other, { archive: 'not-an-archive' }, actor))).toEqual({ status: 400, code: 'validation-failed' });
  });

  it('refuses a target of another region, one that is not active, an unknown one, and one older than the archive', async () => {
    const older = `hotdash_spec_bkold_${run}`;
    scratchDatabases.push(older);
    // A database migrated to all but the latest tenant migration, registered as an active shard.
    await world.createScratchShardDatabase(older);
    const latest = (await inspector.appliedMigrations(shard1)).at(-1)!;
    await asOwner({ ...shard1, database: older }, (c) => c.query('delete from hotdash_migrations where name = $1', [latest]));
    const { host, port } = shard1;
    const names = { older: `spec-bk-old-${run}`, region: `spec-bk-eu-${run}`, draining: `spec-bk-dr-${run}` };
    scratchShards.push(...Object.values(names));
    await asOwner(world.dbs.controlLocation, async (c) => {
      const insert = `insert into shards (id, name, host, port, database, kind, status, region) values ($1, $2, $3, $4, $5, 'dedicated', $6, $7)`;
      await c.query(insert, [newId(), names.older, host, port, older, 'active', 'local']);
      await c.query(insert, [newId(), names.region, host, port, `hotdash_spec_bkeu_${run}`, 'active', 'eu-spec-1']);
      await c.query(insert, [newId(), names.draining, host, port, `hotdash_spec_bkdr_${run}`, 'draining', 'local']);
    });
    await eraseRows(other, shard1);
    expect(await problemOf(restores.start(other, { archive: otherArchive, shard: names.region }, actor))).toEqual({ status: 422, code: 'restore-shard-other-region' });
    expect(await problemOf(restores.start(other, { archive: otherArchive, shard: names.draining }, actor))).toEqual({ status: 409, code: 'restore-shard-not-active' });
    expect(await problemOf(restores.start(other, { archive: otherArchive, shard: `spec-bk-none-${run}` }, actor))).toEqual({ status: 404, code: 'shard-not-found' });
    expect(await problemOf(restores.start(other, { archive: otherArchive, shard: names.older }, actor))).toEqual({ status: 409, code: 'restore-schema-older' });
    expect((await placementOf(other)).name).toBe('shard-1');
  });

  it('refuses while a run of the tenant is in progress', async () => {
    const id = newId();
    await world.control.db.insertInto('tenant_archive_runs').values({ id, tenant_id: other, kind: 'backup', actor, archive: otherArchive, shard: 'shard-1' }).execute();
    expect(await problemOf(backups.start(other, {}, actor))).toEqual({ status: 409, code: 'tenant-archive-run-in-progress' });
    expect(await problemOf(restores.start(other, { archive: otherArchive }, actor))).toEqual({ status: 409, code: 'tenant-archive-run-in-progress' });
    await world.control.db.updateTable('tenant_archive_runs').set({ status: 'failed', finished_at: new Date() }).where('id', '=', id).execute();
  });

  it('fails the run of a corrupt archive and restores nothing', async () => {
    const file = join(backupDir, other, `${otherArchive}.data.jsonl.gz.enc`);
    const good = readFileSync(file);
    const bad = Buffer.from(good);
    bad[bad.length - 12] = bad[bad.length - 12]! ^ 0xff;
    writeFileSync(file, bad);
    const done = await restore(other, { archive: otherArchive });
    expect([done.status, done.error?.code]).toEqual(['failed', 'archive-corrupt']);
    expect(Object.values(await rowsOf(other, shard1)).every((r) => r.length === 0)).toBe(true);
    writeFileSync(file, good);
  });

  it('refuses an archive whose key check is not the tenant key’s', async () => {
    const path = join(backupDir, other, `${otherArchive}.manifest.json`);
    const good = readFileSync(path, 'utf8');
    const m = JSON.parse(good) as ArchiveManifest;
    writeFileSync(path, JSON.stringify({ ...m, key: { ...m.key, check: 'ab'.repeat(32) } }));
    expect(await problemOf(restores.start(other, { archive: otherArchive }, actor))).toEqual({ status: 422, code: 'tenant-key-mismatch' });
    writeFileSync(path, good);
  });

  it('refuses to restore or back up a tenant whose key was destroyed (crypto-shredded)', async () => {
    await keyring.destroyKey(other);
    expect(await problemOf(restores.start(other, { archive: otherArchive }, actor))).toEqual({ status: 422, code: 'tenant-key-destroyed' });
    expect(await problemOf(backups.start(other, {}, actor))).toEqual({ status: 422, code: 'tenant-key-destroyed' });
    expect(Object.values(await rowsOf(other, shard1)).every((r) => r.length === 0)).toBe(true);
  });
});
