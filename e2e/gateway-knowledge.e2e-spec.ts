// The knowledge base through the gateway (gateway and knowledge service as separate processes,
// real shards, Redis, Weaviate): a manager uploads Markdown and follows its indexing to 100%,
// replaces it with a PDF, lists and deletes; a retried upload with the same Idempotency-Key is one
// document; operators read but cannot write; tenant B gets 404 for tenant A's document, exactly as
// for one that does not exist; and every call is an access entry of the tenant.
import { sql } from 'kysely';
import { newId } from '@hotdash/platform-db';
import { WeaviateVectorStore } from '@hotdash/platform-vector';
import { makePdf } from '@hotdash/knowledge/src/testing/pdf';
import { createAccount, ServiceProcess, startServices, TEST_PASSWORD, TestAccount, TestWorld, VectorNamespaces, waitFor } from '@hotdash/testing';

jest.setTimeout(120_000);

const GATEWAY = 'http://127.0.0.1:3190';
const KNOWLEDGE = 'http://127.0.0.1:3214';
const world = new TestWorld();
const vectors = WeaviateVectorStore.fromConfig(world.config);
const namespaces = new VectorNamespaces(vectors);
let processes: ServiceProcess[] = [];

beforeAll(async () => {
  processes = await startServices([
    { entry: 'apps/gateway/src/main.ts', env: { HOTDASH_GATEWAY_PORT: '3190', HOTDASH_KNOWLEDGE_URL: KNOWLEDGE }, url: GATEWAY },
    { entry: 'apps/knowledge/src/main.ts', env: { HOTDASH_KNOWLEDGE_PORT: '3214' }, url: KNOWLEDGE },
  ]);
}, 90_000);

afterAll(async () => {
  await Promise.all(processes.map((p) => p.stop()));
  await namespaces.deleteAll();
  await vectors.close();
  await world.close();
}, 30_000);

/** An account whose tenant has its vector namespace, as provisioning leaves it. */
async function account(role: 'operator' | 'manager' | 'admin'): Promise<TestAccount & { token: string }> {
  const acc = await createAccount(world, role);
  await namespaces.create(acc.tenantId);
  const res = await fetch(`${GATEWAY}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ tenant: acc.slug, email: acc.email, password: TEST_PASSWORD }) });
  return { ...acc, token: ((await res.json()) as { accessToken: string }).accessToken };
}

async function call(method: string, path: string, token: string, body?: Uint8Array | string, headers: Record<string, string> = {}) {
  const res = await fetch(`${GATEWAY}${path}`, { method, headers: { authorization: `Bearer ${token}`, ...headers }, body: body as RequestInit['body'] });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: (text ? JSON.parse(text) : undefined) as Record<string, unknown> | undefined };
}

const indexed = (token: string, id: string, version: number) =>
  waitFor(`document ${id} v${version} indexed`, async () => {
    const r = await call('GET', `/documents/${id}`, token);
    if (r.body?.state === 'failed') throw new Error(`failed: ${String(r.body.error)}`);
    return r.body?.state === 'indexed' && r.body.version === version ? r.body : undefined;
  }, 60_000, 100);

it('uploads, follows indexing to 100%, replaces with a PDF, lists and deletes through the gateway', async () => {
  const manager = await account('manager');
  const up = await call('POST', '/documents?title=Returns', manager.token, '# Returns\n\nItems may be returned within **30 days**.', { 'content-type': 'text/markdown' });
  expect(up.status).toBe(202);
  expect(up.body).toMatchObject({ title: 'Returns', contentType: 'text/markdown', state: 'queued', version: 1 });
  const id = up.body!.id as string;
  expect(await indexed(manager.token, id, 1)).toMatchObject({ progress: 100, chunks: 1 });

  const replaced = await call('PUT', `/documents/${id}?title=Returns%20and%20refunds`, manager.token, makePdf([['Items may be returned within 60 days.']]), { 'content-type': 'application/pdf' });
  expect([replaced.status, replaced.body?.version, replaced.body?.title]).toEqual([202, 2, 'Returns and refunds']);
  await indexed(manager.token, id, 2);
  expect(await vectors.countObjects(manager.tenantId)).toBe(1);

  const list = await call('GET', '/documents', manager.token);
  expect((list.body!.documents as { id: string }[]).map((d) => d.id)).toEqual([id]);
  expect((await call('DELETE', `/documents/${id}`, manager.token)).status).toBe(204);
  expect((await call('GET', `/documents/${id}`, manager.token)).status).toBe(404);
  expect(await vectors.countObjects(manager.tenantId)).toBe(0);

  // Every call above is an access entry of this tenant, about documents.
  await waitFor('document access entries', async () => {
    const rows = await world.tenantDb.withTenant(manager.tenantId, (tx) =>
      sql<{ n: number }>`select count(*)::int as n from outbox where type = 'access.recorded' and envelope->'payload'->>'resourceType' = 'document'`.execute(tx.db).then((r) => r.rows),
    );
    return rows[0]!.n >= 7;
  }, 15_000, 100);
});

it('makes a retried upload with the same Idempotency-Key one document, and refuses the key for another one', async () => {
  const admin = await account('admin');
  const key = `upload-${newId()}`;
  const first = await call('POST', '/documents?title=FAQ', admin.token, 'Shipping is free above 50 EUR.', { 'content-type': 'text/plain', 'idempotency-key': key });
  const again = await call('POST', '/documents?title=FAQ', admin.token, 'Shipping is free above 50 EUR.', { 'content-type': 'text/plain', 'idempotency-key': key });
  expect([first.status, again.status, again.headers.get('idempotent-replayed'), again.body?.id]).toEqual([202, 202, 'true', first.body!.id]);
  const other = await call('POST', '/documents?title=FAQ', admin.token, 'Something else entirely.', { 'content-type': 'text/plain', 'idempotency-key': key });
  expect([other.status, other.body?.code]).toEqual([422, 'idempotency-key-reused']);
  const n = await world.tenantDb.withTenant(admin.tenantId, (tx) => sql<{ n: number }>`select count(*)::int as n from kb_documents`.execute(tx.db).then((r) => r.rows));
  expect(n[0]!.n).toBe(1);
});

it('lets operators read but not write, refuses unsupported types, and gives tenant B a 404 for A’s document', async () => {
  const a = await account('admin');
  const b = await account('admin');
  const operator = await account('operator');
  const doc = await call('POST', '/documents?title=Secret', a.token, 'Tenant A internal pricing.', { 'content-type': 'text/plain' });
  expect(doc.status).toBe(202);
  const refused = await call('POST', '/documents?title=Nope', operator.token, 'x', { 'content-type': 'text/plain' });
  expect([refused.status, refused.body?.code]).toEqual([403, 'forbidden']);
  expect((await call('GET', '/documents', operator.token)).status).toBe(200);
  const word = await call('POST', '/documents?title=Doc', a.token, 'x', { 'content-type': 'application/msword' });
  expect([word.status, word.body?.code]).toEqual([415, 'unsupported-media-type']);

  const foreign = await call('GET', `/documents/${String(doc.body!.id)}`, b.token);
  const missing = await call('GET', `/documents/${newId()}`, b.token);
  expect([foreign.status, foreign.body?.code, missing.status, missing.body?.code]).toEqual([404, 'not-found', 404, 'not-found']);
});
