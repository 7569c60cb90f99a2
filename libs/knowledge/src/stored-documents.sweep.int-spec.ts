// The stored-documents sweep against the real shards, Redis (BullMQ) and Weaviate: a document
// committed but never queued (the process died between the commit and the queueing) is found by the
// running sweep, queued and indexed; one younger than the grace period is left to its own queueing.
// A restore (tenant.restored) queues again what its archive caught indexing.
// The shard function the sweep reads through works across tenants, so what it gives the
// application role is checked too: ids and versions only, and no way to reach another tenant's rows.
import { INestApplication, Module } from '@nestjs/common';
import type { JobQueue } from '@hotdash/platform-jobs';
import { parseTenantId, TenantEvents, TenantId } from '@hotdash/contracts';
import { DecryptionFailedError, FieldCipher } from '@hotdash/platform-crypto';
import { DatabaseModule, newId } from '@hotdash/platform-db';
import { createHttpApp } from '@hotdash/platform-http';
import { buildEnvelope } from '@hotdash/platform-messaging';
import { VectorStore } from '@hotdash/platform-vector';
import { TestWorld, VectorNamespaces, waitFor } from '@hotdash/testing';

/** The namespaces this spec makes, deleted at its end. */
let namespaces: VectorNamespaces;
import { DocumentsService, KB_SOURCE_FIELD, KNOWLEDGE_QUEUE } from './documents.service';
import { IngestionWorker } from './ingestion/ingestion.worker';
import { KnowledgeEventsHandler } from './knowledge.events-handler';
import { KnowledgeModule } from './knowledge.module';
import { StoredDocumentsSweep } from './stored-documents.sweep';

jest.setTimeout(120_000);

@Module({ imports: [DatabaseModule.forRoot(), KnowledgeModule] })
class TestAppModule {}

const world = new TestWorld();
let app: INestApplication;
let queue: JobQueue<unknown>;
let a: TenantId;
let b: TenantId;
// A grace of 6 hours, and this spec's own left-behind document aged 12: the shard is shared with
// every other spec, and documents they left waiting minutes ago must not be queued (and indexed,
// loading the machine under later specs) by this spec's sweep. The spec's documents show the rule.
const GRACE_MS = 6 * 3_600_000;
const env = { HOTDASH_KNOWLEDGE_SWEEP_MS: '300', HOTDASH_KNOWLEDGE_SWEEP_DELAY_MS: '100', HOTDASH_KNOWLEDGE_SWEEP_GRACE_MS: String(GRACE_MS) };
const saved: Record<string, string | undefined> = {};

/** Stores a document as a submission is stored, in its own committed transaction, and queues nothing (as if the process died right after the commit). */
async function storedWithoutJob(t: TenantId, title: string, text: string, ageMs = 0): Promise<string> {
  const documentId = newId();
  await world.tenantDb.withTenant(t, async (tx) => {
    await app.get(DocumentsService).storeSubmitted(tx, t, { documentId, title, contentType: 'text/plain', text, by: 'spec', correlationId: newId(), causationId: newId() });
    if (ageMs) await tx.db.updateTable('kb_documents').set({ updated_at: new Date(Date.now() - ageMs) }).where('id', '=', documentId).execute();
  });
  return documentId;
}

beforeAll(async () => {
  for (const [k, v] of Object.entries(env)) {
    saved[k] = process.env[k];
    process.env[k] = v;
  }
  app = await createHttpApp(TestAppModule, { logger: false });
  const vectors = app.get(VectorStore);
  await vectors.ensureCollection();
  a = parseTenantId((await world.createTenant('Sweep A')).id);
  b = parseTenantId((await world.createTenant('Sweep B')).id);
  await Promise.all([world.createKey(a), world.createKey(b)]);
  namespaces = new VectorNamespaces(vectors);
  await namespaces.create(a);
  queue = app.get<JobQueue<unknown>>(KNOWLEDGE_QUEUE);
  app.get(IngestionWorker).start();
  await app.init(); // starts the sweep
});

afterAll(async () => {
  await namespaces?.deleteAll();
  await app?.close();
  await world.close();
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
});

it('queues and indexes a document left stored with no job, once it is older than the grace period', async () => {
  expect(app.get(StoredDocumentsSweep).options).toMatchObject({ intervalMs: 300, firstRunMs: 100, graceMs: GRACE_MS });
  const fresh = await storedWithoutJob(a, 'Fresh', 'Just stored: its own queueing is still due.');
  const left = await storedWithoutJob(a, 'Left behind', 'Parcels lost in transit are refunded after ten business days.', 2 * GRACE_MS);
  expect(await queue.get(`${left}-v1`)).toBeUndefined();

  await waitFor(`document ${left} indexed by the sweep`, async () => {
    const r = await world.tenantDb.withTenant(a, (tx) => tx.db.selectFrom('kb_documents').select(['status', 'error']).where('id', '=', left).executeTakeFirstOrThrow());
    if (r.status === 'failed') throw new Error(`failed: ${r.error}`);
    return r.status === 'indexed';
  }, 60_000, 100);
  expect((await queue.get(`${left}-v1`))?.data).toMatchObject({ tenantId: a, documentId: left, version: 1 });

  // Several sweeps have run meanwhile: the fresh document is still its own queueing's to do.
  expect(await queue.get(`${fresh}-v1`)).toBeUndefined();
  expect(await world.tenantDb.withTenant(a, (tx) => tx.db.selectFrom('kb_documents').select('status').where('id', '=', fresh).executeTakeFirstOrThrow())).toEqual({ status: 'queued' });
  await world.tenantDb.withTenant(a, (tx) => tx.db.deleteFrom('kb_documents').where('id', '=', fresh).execute());
});

it('gives the application role ids and versions of waiting documents, and no way to another tenant’s rows', async () => {
  const secret = `B's secret ${newId()}`;
  // Younger than the running sweep's grace period: it stays waiting while this runs.
  const theirs = await storedWithoutJob(b, 'Secret title', secret);
  const shard = await world.router.shardOf(b);
  const c = await world.connect(shard, 'app');
  try {
    const { rows, fields } = await c.query(`select * from stored_documents_sweep(interval '0', 1000)`);
    expect(fields.map((f) => f.name)).toEqual(['tenant_id', 'id', 'version']);
    expect(rows).toContainEqual({ tenant_id: b, id: theirs, version: 1 });
    expect(JSON.stringify(rows)).not.toMatch(/secret/i);
    // Paged after a cursor: nothing at or before it comes back.
    const { rows: after } = await c.query<{ tenant_id: string; id: string }>(`select * from stored_documents_sweep(interval '0', 1000, $1, $2)`, [b, theirs]);
    expect(after.every((r) => r.tenant_id > b || (r.tenant_id === b && r.id > theirs))).toBe(true);
    // A grace longer than the document's age hides it.
    const { rows: young } = await c.query(`select id from stored_documents_sweep(interval '2 minutes', 1000) where id = $1`, [theirs]);
    expect(young).toEqual([]);

    // Without a tenant the role sees no document, in the transaction that called the function too,
    // and setting the sweep's switch itself changes nothing (the policy is the owner's).
    await c.query('begin');
    await c.query(`select * from stored_documents_sweep(interval '0', 10)`);
    expect((await c.query('select count(*)::int as n from kb_documents')).rows).toEqual([{ n: 0 }]);
    await c.query(`select set_config('hotdash.kb_sweep', 'on', true)`);
    expect((await c.query('select count(*)::int as n from kb_documents')).rows).toEqual([{ n: 0 }]);
    // In tenant A's context, B's document stays invisible.
    await c.query(`select set_config('app.tenant_id', $1, true)`, [a]);
    expect((await c.query('select id from kb_documents where id = $1', [theirs])).rows).toEqual([]);
    await c.query('rollback');
    // And the role cannot widen the function or read what it reads with the owner's rights.
    await expect(c.query(`create or replace function stored_documents_sweep(p_grace interval, p_limit integer, p_after_tenant uuid default null, p_after_id uuid default null)
      returns table (tenant_id uuid, id uuid, version integer) language sql as 'select tenant_id, id, version from kb_documents'`)).rejects.toThrow(/must be owner|permission denied/);
  } finally {
    await c.end();
  }
  await world.tenantDb.withTenant(b, (tx) => tx.db.deleteFrom('kb_documents').where('id', '=', theirs).execute());
});

it('stores sources sealed under the tenant’s key, and seals those stored in the clear before (the running sweep), giving the role ids only', async () => {
  const cipher = app.get(FieldCipher);
  // A submission now: sealed, nothing of it in the clear columns.
  const text = `Returns are accepted within 30 days ${newId()}.`;
  const fresh = await storedWithoutJob(b, 'Returns', text);
  const stored = await world.tenantDb.withTenant(b, (tx) => tx.db.selectFrom('kb_documents').select(['source', 'content', 'source_enc']).where('id', '=', fresh).executeTakeFirstOrThrow());
  expect([stored.source, stored.content]).toEqual([null, '']);
  expect(stored.source_enc!.includes(Buffer.from('Returns are accepted'))).toBe(false);
  expect((await cipher.decryptBytes(b, KB_SOURCE_FIELD, stored.source_enc!)).toString()).toBe(text);
  // Another tenant's key does not open it.
  await expect(cipher.decryptBytes(a, KB_SOURCE_FIELD, stored.source_enc!)).rejects.toBeInstanceOf(DecryptionFailedError);

  // Rows as they were before sources were sealed: a clear source (A), a clear text content (B); both indexed (nothing to queue).
  const legacy = { a: { id: newId(), bytes: Buffer.from(`# Warranty\n\nTwo years on every machine ${newId()}.`) }, b: { id: newId(), text: `Shipping takes three days ${newId()}.` } };
  await world.tenantDb.withTenant(a, (tx) =>
    tx.db.insertInto('kb_documents').values({ id: legacy.a.id, tenant_id: a, title: 'Warranty', content: '', bytes: String(legacy.a.bytes.length), status: 'indexed', content_type: 'text/markdown', source: legacy.a.bytes, version: 1 }).execute(),
  );
  await world.tenantDb.withTenant(b, (tx) =>
    tx.db.insertInto('kb_documents').values({ id: legacy.b.id, tenant_id: b, title: 'Shipping', content: legacy.b.text, bytes: String(legacy.b.text.length), status: 'indexed', content_type: 'text/plain', version: 1 }).execute(),
  );
  // The application role: ids of clear documents across tenants, nothing of their content.
  const c = await world.connect(await world.router.shardOf(a), 'app');
  try {
    const { rows, fields } = await c.query(`select * from clear_document_sources_sweep(1000)`);
    expect(fields.map((f) => f.name)).toEqual(['tenant_id', 'id']);
    expect(JSON.stringify(rows)).not.toMatch(/Warranty|Shipping/);
    await c.query('begin');
    await c.query(`select set_config('hotdash.kb_seal_sweep', 'on', true)`);
    expect((await c.query('select count(*)::int as n from kb_documents')).rows).toEqual([{ n: 0 }]);
    await c.query('rollback');
  } finally {
    await c.end();
  }
  // The running sweep seals both.
  const row = (t: TenantId, id: string) => world.tenantDb.withTenant(t, (tx) => tx.db.selectFrom('kb_documents').select(['source', 'content', 'source_enc']).where('id', '=', id).executeTakeFirstOrThrow());
  const sealedA = await waitFor('the clear source sealed', async () => ((await row(a, legacy.a.id)).source_enc ? row(a, legacy.a.id) : undefined), 30_000, 100);
  const sealedB = await waitFor('the clear content sealed', async () => ((await row(b, legacy.b.id)).source_enc ? row(b, legacy.b.id) : undefined), 30_000, 100);
  expect([sealedA.source, sealedA.content, sealedB.source, sealedB.content]).toEqual([null, '', null, '']);
  expect((await cipher.decryptBytes(a, KB_SOURCE_FIELD, sealedA.source_enc!)).equals(legacy.a.bytes)).toBe(true);
  expect((await cipher.decryptBytes(b, KB_SOURCE_FIELD, sealedB.source_enc!)).toString()).toBe(legacy.b.text);
  // Sealed once: a sealing pass now finds nothing of these.
  expect(await app.get(DocumentsService).sealSource(a, legacy.a.id)).toBe(false);
  await world.tenantDb.withTenant(a, (tx) => tx.db.deleteFrom('kb_documents').where('id', '=', legacy.a.id).execute());
  await world.tenantDb.withTenant(b, (tx) => tx.db.deleteFrom('kb_documents').where('id', 'in', [legacy.b.id, fresh]).execute());
});

it('after a restore, queues again a document the archive caught indexing, under a job id of the restore’s own (its version’s job is kept as done), and indexes it', async () => {
  const documentId = await storedWithoutJob(a, 'Restored', 'Exchanges are free within 14 days of delivery.');
  const documents = app.get(DocumentsService);
  const status = () => world.tenantDb.withTenant(a, (tx) => tx.db.selectFrom('kb_documents').select(['status', 'error']).where('id', '=', documentId).executeTakeFirstOrThrow());
  const indexed = (what: string) =>
    waitFor(what, async () => {
      const r = await status();
      if (r.status === 'failed') throw new Error(`failed: ${r.error}`);
      return r.status === 'indexed';
    }, 60_000, 100);
  expect(await documents.enqueue({ tenantId: a, documentId, version: 1, correlationId: newId() })).toBe(true);
  await indexed(`document ${documentId} indexed`);
  // The archive was taken while it was indexing: that is the row restored. Its version's job is
  // kept as done, so queueing the version again as usual does nothing.
  await world.tenantDb.withTenant(a, (tx) => tx.db.updateTable('kb_documents').set({ status: 'indexing', progress: 40 }).where('id', '=', documentId).execute());
  await documents.enqueue({ tenantId: a, documentId, version: 1, correlationId: newId() });
  expect((await queue.get(`${documentId}-v1`))?.state).toBe('completed');
  expect(await status()).toMatchObject({ status: 'indexing' });

  const runId = newId();
  const restored = buildEnvelope(TenantEvents.RESTORED, { tenantId: a, archiveId: `${a}_20261206T101500123Z`, runId, shard: 'shard-1' }, { tenantId: a, producer: 'provisioning', correlationId: runId });
  const after: (() => Promise<void> | void)[] = [];
  await world.tenantDb.withTenant(a, (tx) => app.get(KnowledgeEventsHandler).onTenantRestored(restored, { tx, afterCommit: (fn: () => Promise<void> | void) => after.push(fn) } as never));
  expect(await status()).toMatchObject({ status: 'queued' });
  for (const fn of after) await fn();
  await indexed(`document ${documentId} indexed again after the restore`);
  expect((await queue.get(`${documentId}-v1-restore-${runId}`))?.data).toMatchObject({ tenantId: a, documentId, version: 1 });

  // Had the restore's queueing failed (Redis away), the running sweep would find the document
  // waiting past its grace period with its version's job kept as done: it queues it under an id of its own.
  await world.tenantDb.withTenant(a, (tx) => tx.db.updateTable('kb_documents').set({ status: 'queued', progress: 0, updated_at: new Date(Date.now() - 2 * GRACE_MS) }).where('id', '=', documentId).execute());
  await indexed(`document ${documentId} indexed again by the sweep`);
  expect((await queue.get(`${documentId}-v1`))?.state).toBe('completed');
  await world.tenantDb.withTenant(a, (tx) => tx.db.deleteFrom('kb_documents').where('id', '=', documentId).execute());
});
