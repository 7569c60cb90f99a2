// The knowledge service's API and ingestion against the real shards, Redis (BullMQ) and Weaviate,
// called as the gateway calls it (internal tokens): upload → queued → indexed with progress,
// replace (old passages gone), delete, an unreadable document failing with its reason, the plan's
// knowledge-base size enforced exactly under concurrency, roles, bad input, and tenant B probing
// tenant A's documents.
import { INestApplication, Module } from '@nestjs/common';
import { KNOWLEDGE_UPLOAD_TYPES, MAX_DOCUMENT_BYTES, parseTenantId, TenantId } from '@hotdash/contracts';
import type { InternalCaller } from '@hotdash/platform-auth';
import { DatabaseModule, newId } from '@hotdash/platform-db';
import { createHttpApp } from '@hotdash/platform-http';
import { Embedder } from '@hotdash/platform-models';
import { retrievePassages, VectorStore } from '@hotdash/platform-vector';
import { internalAuthorization, tenantUser, TestWorld, VectorNamespaces, waitFor } from '@hotdash/testing';

/** The namespaces this spec makes, deleted at its end. */
let namespaces: VectorNamespaces;
import { DocumentDto } from './documents.service';
import { IngestionWorker } from './ingestion/ingestion.worker';
import { KnowledgeModule } from './knowledge.module';
import { makePdf } from './testing/pdf';

jest.setTimeout(120_000);

@Module({ imports: [DatabaseModule.forRoot(), KnowledgeModule] })
class TestAppModule {}

const world = new TestWorld();
let app: INestApplication;
let base: string;
let vectors: VectorStore;
let a: TenantId;
let b: TenantId;

async function call(method: string, path: string, caller: InternalCaller, body?: Uint8Array | string, contentType?: string) {
  const res = await fetch(`${base}/internal${path}`, {
    method,
    headers: { authorization: await internalAuthorization('knowledge', caller), ...(contentType ? { 'content-type': contentType } : {}) },
    body: body as RequestInit['body'],
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as (DocumentDto & { code?: string; detail?: string; documents?: DocumentDto[] }) | undefined };
}

const indexed = (t: TenantId, id: string, version = 1) =>
  waitFor(`document ${id} v${version} indexed`, async () => {
    const r = await call('GET', `/documents/${id}`, tenantUser(t, 'operator'));
    if (r.body?.state === 'failed') throw new Error(`failed: ${r.body.error}`);
    return r.body?.state === 'indexed' && r.body.version === version ? r.body : undefined;
  }, 60_000, 100);

async function events(t: TenantId): Promise<string[]> {
  const rows = await world.tenantDb.withTenant(t, (tx) => tx.db.selectFrom('outbox').select('type').where('type', 'like', 'knowledge.%').orderBy('seq').execute());
  return rows.map((r) => r.type);
}

beforeAll(async () => {
  app = await createHttpApp(TestAppModule, { logger: false, raw: { types: KNOWLEDGE_UPLOAD_TYPES, limit: MAX_DOCUMENT_BYTES } });
  vectors = app.get(VectorStore);
  await vectors.ensureCollection();
  app.get(IngestionWorker).start();
  await app.listen(0, '127.0.0.1');
  base = `http://127.0.0.1:${app.getHttpServer().address().port}`;
  a = parseTenantId((await world.createTenant('Knowledge A')).id);
  b = parseTenantId((await world.createTenant('Knowledge B')).id);
  await Promise.all([world.createKey(a), world.createKey(b)]);
  namespaces = new VectorNamespaces(vectors);
  await namespaces.create(a, b);
});

afterAll(async () => {
  await namespaces?.deleteAll();
  await app.close();
  await world.close();
});

const md = (marker: string) => `# Returns\n\n${marker}: items may be returned within 30 days.\n\n## Shipping\n\n${marker}: orders ship within 2 business days.`;

it('indexes an upload: 202 queued, then indexed at 100% with its passages searchable', async () => {
  const r = await call('POST', '/documents?title=Policies', tenantUser(a, 'manager'), md('ALPHA'), 'text/markdown; charset=utf-8');
  expect(r.status).toBe(202);
  expect(r.body).toMatchObject({ title: 'Policies', contentType: 'text/markdown', version: 1, state: 'queued', progress: 0, bytes: Buffer.byteLength(md('ALPHA')) });
  const doc = await indexed(a, r.body!.id);
  expect(doc).toMatchObject({ state: 'indexed', progress: 100, chunks: 1, error: null, indexedAt: expect.any(String) });
  const { hits } = await retrievePassages(a, 'how long do returns take', 3, { embedder: app.get(Embedder), vectors });
  expect(hits[0]).toMatchObject({ documentId: r.body!.id, text: expect.stringContaining('ALPHA: items may be returned within 30 days') });
  expect(await events(a)).toEqual(['knowledge.documents-stored', 'knowledge.document-indexed']);
  // The indexing job ran in the upload's correlation: the event it published carries it.
  const correlations = await world.tenantDb.withTenant(a, (tx) =>
    tx.db.selectFrom('outbox').select(['type', 'envelope']).where('type', 'like', 'knowledge.%').orderBy('seq').execute(),
  );
  expect(new Set(correlations.map((c) => (c.envelope as { correlationId: string }).correlationId)).size).toBe(1);
});

it('replaces a document with a new version (another type too): indexed at once, the old passages gone', async () => {
  const up = await call('POST', '/documents?title=Warranty', tenantUser(a), 'ALPHA warranty: one year on every device.', 'text/plain');
  await indexed(a, up.body!.id);
  const pdf = makePdf([['ALPHA warranty: two years on every device, parts and labour.']]);
  const r = await call('PUT', `/documents/${up.body!.id}`, tenantUser(a), pdf, 'application/pdf');
  expect(r.status).toBe(202);
  expect(r.body).toMatchObject({ version: 2, contentType: 'application/pdf', title: 'Warranty', state: 'queued' });
  await indexed(a, up.body!.id, 2);
  const query = (await app.get(Embedder).embed(['warranty device'])).vectors[0]!;
  const hits = (await vectors.search(a, query, 20)).filter((h) => h.documentId === up.body!.id);
  expect(hits.map((h) => h.text)).toEqual([expect.stringContaining('two years')]);
  expect(await events(a)).toEqual(expect.arrayContaining(['knowledge.document-removed']));
});

it('deletes a document and its passages', async () => {
  const up = await call('POST', '/documents?title=Temp', tenantUser(a), 'ALPHA temporary notice about holidays.', 'text/plain');
  await indexed(a, up.body!.id);
  expect((await call('DELETE', `/documents/${up.body!.id}`, tenantUser(a))).status).toBe(204);
  expect((await call('GET', `/documents/${up.body!.id}`, tenantUser(a))).status).toBe(404);
  expect(await vectors.deleteByDocument(a, up.body!.id)).toBe(0);
});

it('fails an unreadable document with its reason, at once', async () => {
  const r = await call('POST', '/documents?title=Scan', tenantUser(a), makePdf([[]]), 'application/pdf');
  const failed = await waitFor('the scan failed', async () => {
    const d = (await call('GET', `/documents/${r.body!.id}`, tenantUser(a))).body!;
    return d.state === 'failed' ? d : undefined;
  }, 30_000, 100);
  expect(failed.error).toMatch(/no text layer/);
  expect(await events(a)).toContain('knowledge.document-failed');
});

it('holds the plan’s knowledge-base size exactly: 10 concurrent uploads with room for 3', async () => {
  const t = parseTenantId((await world.createTenant('Knowledge tiny')).id);
  await world.createKey(t);
  await namespaces.create(t);
  const plan = `kb-test-${newId().slice(-8)}`;
  const su = await world.connectSuperuser(world.config.db.controlDatabase);
  try {
    await su.query(`insert into plans (code, name, monthly_ticket_quota, rate_limit_per_minute, concurrency_limit, knowledge_base_bytes) values ($1, 'KB test', 10, 100, 50, 1000)`, [plan]);
    await su.query('update tenants set plan_code = $1 where id = $2', [plan, t]);
    const doc = 'x'.repeat(300);
    const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => call('POST', `/documents?title=D${i}`, tenantUser(t), doc, 'text/plain')));
    expect(answers.filter((r) => r.status === 202)).toHaveLength(3);
    const refused = answers.filter((r) => r.status === 422);
    expect(refused).toHaveLength(7);
    expect(refused[0]!.body).toMatchObject({ code: 'knowledge-base-full', detail: expect.stringMatching(/holds 900 of the plan's 1000 bytes/) });
    const stored = await world.tenantDb.withTenant(t, (tx) =>
      tx.db.selectFrom('kb_documents').select((eb) => [eb.fn.countAll<string>().as('n'), eb.fn.sum<string>('bytes').as('sum')]).executeTakeFirstOrThrow(),
    );
    expect({ n: Number(stored.n), sum: Number(stored.sum) }).toEqual({ n: 3, sum: 900 });
  } finally {
    await su.query(`update tenants set plan_code = 'basic' where id = $1`, [t]);
    await su.query('delete from plans where code = $1', [plan]);
    await su.end();
  }
});

it('lets every role read, and only managers and admins write', async () => {
  for (const role of ['operator', 'team_lead'] as const) {
    expect((await call('GET', '/documents', tenantUser(a, role))).status).toBe(200);
    const r = await call('POST', '/documents?title=Nope', tenantUser(a, role), 'text', 'text/plain');
    expect([role, r.status, r.body?.code]).toEqual([role, 403, 'forbidden']);
  }
});

describe('bad input: 4xx problem+json with a stable code, nothing written', () => {
  const cases: [string, () => Promise<{ status: number; body?: { code?: string } }>, number, string][] = [
    ['an unsupported type', () => call('POST', '/documents?title=x', tenantUser(a), 'x', 'application/msword'), 415, 'unsupported-media-type'],
    ['JSON instead of a document', () => call('POST', '/documents?title=x', tenantUser(a), '{"content":"x"}', 'application/json'), 415, 'unsupported-media-type'],
    ['no body', () => call('POST', '/documents?title=x', tenantUser(a), undefined, 'text/plain'), 400, 'empty-document'],
    ['no title', () => call('POST', '/documents', tenantUser(a), 'x', 'text/plain'), 400, 'validation-failed'],
    ['a title with a newline', () => call('POST', '/documents?title=a%0Ab', tenantUser(a), 'x', 'text/plain'), 400, 'validation-failed'],
    ['an unknown query parameter', () => call('POST', '/documents?title=x&tenant=y', tenantUser(a), 'x', 'text/plain'), 400, 'unknown-field'],
    ['a document over 20 MB', () => call('POST', '/documents?title=x', tenantUser(a), 'x'.repeat(21 * 1024 * 1024), 'text/plain'), 413, 'payload-too-large'],
    ['an invalid id', () => call('GET', '/documents/nope', tenantUser(a)), 400, 'invalid-uuid'],
  ];
  it.each(cases)('%s', async (_l, send, status, code) => {
    const count = () => world.tenantDb.withTenant(a, (tx) => tx.db.selectFrom('kb_documents').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow());
    const before = await count();
    const r = await send();
    expect([r.status, r.body?.code]).toEqual([status, code]);
    expect(await count()).toEqual(before);
  });
});

it("as tenant B, reaches none of tenant A's documents: each is as missing as an unknown id", async () => {
  const up = await call('POST', '/documents?title=Secret', tenantUser(a), 'ALPHA secret pricing sheet', 'text/plain');
  await indexed(a, up.body!.id);
  const adminB = tenantUser(b);
  for (const id of [up.body!.id, newId()]) {
    expect((await call('GET', `/documents/${id}`, adminB)).body).toMatchObject({ status: 404, code: 'not-found' });
    expect((await call('PUT', `/documents/${id}`, adminB, 'BRAVO overwrite', 'text/plain')).status).toBe(404);
    expect((await call('DELETE', `/documents/${id}`, adminB)).status).toBe(404);
  }
  const listB = await call('GET', '/documents', adminB);
  expect(listB.body!.documents!.some((d) => d.id === up.body!.id)).toBe(false);
  expect((await call('GET', `/documents/${up.body!.id}`, tenantUser(a))).body).toMatchObject({ state: 'indexed', version: 1, title: 'Secret' });
  expect(await vectors.countObjects(b)).toBe(0);
});
