// Documents other services hand to knowledge (knowledge.document-submitted: provisioning's initial
// documents), against the real shards, Redis (BullMQ) and Weaviate, through knowledge's own event
// handlers as the transport calls them (in the consumer's tenant transaction, after-commit callbacks
// run once it committed): stored as an upload is stored (version 1, queued, the bytes, their hash,
// the plan's size) and announced with knowledge.documents-stored (for quota and audit; knowledge
// does not consume it), once per document id however often it is asked; its indexing is queued
// after the commit and the document ends indexed and searchable. What can never be stored is
// refused for good (dead-lettered at once), not retried.
import { INestApplication, Module } from '@nestjs/common';
import type { JobQueue } from '@hotdash/platform-jobs';
import { createHash } from 'node:crypto';
import { Envelope, KnowledgeEvents, parseTenantId, SUBMITTED_DOCUMENT_CONTENT_FIELD, TenantId } from '@hotdash/contracts';
import { FieldCipher, TenantKeyring } from '@hotdash/platform-crypto';
import { DatabaseModule, newId } from '@hotdash/platform-db';
import { createHttpApp } from '@hotdash/platform-http';
import { buildEnvelope, type EventContext, NonRetryableError } from '@hotdash/platform-messaging';
import { Embedder } from '@hotdash/platform-models';
import { retrievePassages, VectorStore } from '@hotdash/platform-vector';
import { TestWorld, VectorNamespaces, waitFor } from '@hotdash/testing';
import { KB_SOURCE_FIELD, KNOWLEDGE_QUEUE } from './documents.service';
import { IngestionWorker } from './ingestion/ingestion.worker';
import { KnowledgeEventsHandler } from './knowledge.events-handler';
import { KnowledgeModule } from './knowledge.module';

jest.setTimeout(120_000);

@Module({ imports: [DatabaseModule.forRoot(), KnowledgeModule] })
class TestAppModule {}

const world = new TestWorld();
let app: INestApplication;
let handler: KnowledgeEventsHandler;
let cipher: FieldCipher;
let vectors: VectorStore;
/** The namespaces this spec makes, deleted at its end. */
let namespaces: VectorNamespaces;
let a: TenantId;
let b: TenantId;

async function tenantWithKey(name: string): Promise<TenantId> {
  const t = parseTenantId((await world.createTenant(name)).id);
  await world.dbs.withControl((tx) => app.get(TenantKeyring).createKey(tx, t));
  await namespaces.create(t);
  return t;
}

/** A submission as provisioning writes it (the text encrypted with the tenant's key). */
async function submission(t: TenantId, documentId: string, text: string, title = 'Returns policy') {
  return buildEnvelope(
    KnowledgeEvents.DOCUMENT_SUBMITTED,
    { tenantId: t, documentId, title, contentType: 'text/markdown', content: await cipher.encrypt(t, SUBMITTED_DOCUMENT_CONTENT_FIELD, text), by: 'saga:spec' },
    { tenantId: t, producer: 'provisioning', correlationId: newId(), causationId: null },
  );
}

/**
 * Runs a handler as the event transport does: in the tenant's transaction (with the inbox row, left
 * out here), then its after-commit callbacks once that committed; resolves to how many ran.
 */
async function deliver(t: TenantId, run: (ctx: EventContext) => Promise<void>): Promise<number> {
  const after: (() => unknown)[] = [];
  await world.tenantDb.withTenant(t, (tx, shard) => run({ tx, shard, afterCommit: (fn) => void after.push(fn) } as EventContext));
  for (const fn of after) await fn();
  return after.length;
}

const storedEvents = (t: TenantId) =>
  world.tenantDb.withTenant(t, (tx) => tx.db.selectFrom('outbox').select(['envelope']).where('type', '=', KnowledgeEvents.DOCUMENTS_STORED).orderBy('seq').execute()).then((rows) => rows.map((r) => r.envelope as Envelope));

beforeAll(async () => {
  app = await createHttpApp(TestAppModule, { logger: false });
  handler = app.get(KnowledgeEventsHandler);
  cipher = app.get(FieldCipher);
  vectors = app.get(VectorStore);
  namespaces = new VectorNamespaces(vectors);
  await vectors.ensureCollection();
  app.get(IngestionWorker).start();
  await app.init();
  a = await tenantWithKey('Submitted A');
  b = await tenantWithKey('Submitted B');
});

afterAll(async () => {
  await namespaces?.deleteAll();
  await app.close();
  await world.close();
});

it('stores a submitted document as an upload, once per id, queues it after the commit and gets it indexed', async () => {
  const documentId = newId();
  const text = '# Returns\n\nItems may be returned within 30 days of delivery, unused and in their box.';
  const first = await submission(a, documentId, text);
  expect(await deliver(a, (ctx) => handler.onSubmitted(first, ctx))).toBe(1);
  // Queued by its after-commit callback, with the submission's correlation (not by knowledge's own documents-stored event).
  const job = await app.get<JobQueue<unknown>>(KNOWLEDGE_QUEUE).get(`${documentId}-v1`);
  expect(job?.data).toMatchObject({ tenantId: a, documentId, version: 1, correlationId: first.correlationId, causationId: first.id });

  const row = await world.tenantDb.withTenant(a, (tx) => tx.db.selectFrom('kb_documents').selectAll().where('id', '=', documentId).executeTakeFirstOrThrow());
  expect(row).toMatchObject({ tenant_id: a, title: 'Returns policy', status: 'queued', version: 1, content_type: 'text/markdown', created_by: 'saga:spec', bytes: String(Buffer.byteLength(text)) });
  // Sealed under the tenant's key: nothing of it in the clear columns.
  expect([row.source, row.content]).toEqual([null, '']);
  expect((await app.get(FieldCipher).decryptBytes(a, KB_SOURCE_FIELD, Buffer.from(row.source_enc!))).toString('utf8')).toBe(text);
  expect(row.sha256).toBe(createHash('sha256').update(text).digest('hex'));
  const [stored, ...more] = await storedEvents(a);
  expect(more).toEqual([]);
  expect(stored).toMatchObject({ producer: 'knowledge', correlationId: first.correlationId, causationId: first.id, payload: { tenantId: a, documents: [{ documentId, title: 'Returns policy', bytes: Buffer.byteLength(text) }] } });

  // Asked again (a provisioning step run again after a crash): nothing changes, nothing is announced twice.
  const again1 = await submission(a, documentId, 'another text entirely', 'Other title');
  expect(await deliver(a, (ctx) => handler.onSubmitted(again1, ctx))).toBe(0);
  const again = await world.tenantDb.withTenant(a, (tx) => tx.db.selectFrom('kb_documents').select(['title', 'sha256', 'version']).where('id', '=', documentId).execute());
  expect(again).toEqual([{ title: 'Returns policy', sha256: row.sha256, version: 1 }]);
  expect(await storedEvents(a)).toHaveLength(1);

  await waitFor(`document ${documentId} indexed`, async () => {
    const r = await world.tenantDb.withTenant(a, (tx) => tx.db.selectFrom('kb_documents').select(['status', 'error', 'chunk_count']).where('id', '=', documentId).executeTakeFirstOrThrow());
    if (r.status === 'failed') throw new Error(`failed: ${r.error}`);
    return r.status === 'indexed' ? r : undefined;
  }, 60_000, 100);
  const { hits } = await retrievePassages(a, 'how many days to return items', 3, { embedder: app.get(Embedder), vectors });
  expect(hits.map((h) => h.documentId)).toContain(documentId);
  // Tenant B has none of it.
  expect(await world.tenantDb.withTenant(b, (tx) => tx.db.selectFrom('kb_documents').select('id').where('id', '=', documentId).execute())).toEqual([]);
});

it('refuses for good what it can never store: content sealed for another tenant, or past the plan’s size', async () => {
  // The text never travels in the clear: the contract refuses it.
  expect(() =>
    buildEnvelope(
      KnowledgeEvents.DOCUMENT_SUBMITTED,
      { tenantId: a, documentId: newId(), title: 'Plain', contentType: 'text/plain', content: 'Items may be returned within 30 days.', by: 'saga:spec' },
      { tenantId: a, producer: 'provisioning', correlationId: newId() },
    ),
  ).toThrow(/encrypted with the tenant data key/);
  // Encrypted with tenant B's key, handed in for A: unreadable, whatever the retries.
  const foreign = await submission(b, newId(), 'B’s text');
  const misdirected = { ...foreign, tenantId: a, payload: { ...foreign.payload, tenantId: a } };
  await expect(deliver(a, (ctx) => handler.onSubmitted(misdirected, ctx))).rejects.toBeInstanceOf(NonRetryableError);

  const t = await tenantWithKey('Submitted tiny');
  const plan = `kb-sub-${newId().slice(-8)}`;
  const su = await world.connectSuperuser(world.config.db.controlDatabase);
  try {
    await su.query(`insert into plans (code, name, monthly_ticket_quota, rate_limit_per_minute, concurrency_limit, knowledge_base_bytes) values ($1, 'KB test', 10, 100, 50, 100)`, [plan]);
    await su.query('update tenants set plan_code = $1 where id = $2', [plan, t]);
    const tooBig = await submission(t, newId(), 'x'.repeat(101));
    const err = await deliver(t, (ctx) => handler.onSubmitted(tooBig, ctx)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NonRetryableError);
    expect(err).toMatchObject({ code: 'knowledge-base-full' });
    expect(await world.tenantDb.withTenant(t, (tx) => tx.db.selectFrom('kb_documents').select('id').execute())).toEqual([]);
  } finally {
    await su.query(`update tenants set plan_code = 'basic' where id = $1`, [t]);
    await su.query('delete from plans where code = $1', [plan]);
    await su.end();
  }
});
