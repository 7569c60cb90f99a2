// WeaviateVectorStore (weaviate-client v3: HTTP for schema and tenants, gRPC for data and queries)
// against the real local Weaviate (npm run infra:up). Each run works in its own collection, dropped
// at the end. The adapter keeps the VectorStore contract (vector-store.contract.ts); here also what
// is Weaviate's own: the collection's definition, a request that names no tenant refused by
// Weaviate itself (sent raw, bypassing the store), and how failures are reported.
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseTenantId } from '@hotdash/contracts';
import { loadConfig } from '@hotdash/platform-config';
import {
  VectorBatchError,
  VectorStoreConfigError,
  VectorStoreRequestError,
  VectorStoreTimeoutError,
  VectorStoreUnavailableError,
  WeaviateVectorStore,
  weaviateTenantName,
} from './index';
import { chunk, vec, vectorStoreContract } from './vector-store.contract';

const config = loadConfig();
const suffix = randomUUID().replace(/-/g, '').slice(0, 12);
const collection = `KnowledgeChunkTest${suffix}`;
const plainCollection = `PlainChunkTest${suffix}`; // not multi-tenant: the store must refuse it
const store = WeaviateVectorStore.fromConfig(config, { collection });
const others: WeaviateVectorStore[] = [];

/** A request straight to Weaviate's REST API, without the store. */
async function raw(method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`${config.weaviate.url}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  return { status: res.status, body: text === '' ? undefined : JSON.parse(text) };
}

afterAll(async () => {
  await raw('DELETE', `/v1/schema/${collection}`);
  await raw('DELETE', `/v1/schema/${plainCollection}`);
  await Promise.all([store, ...others].map((s) => s.close()));
});

describe('collection', () => {
  it('is created once, however many callers race to create it, and again is a no-op', async () => {
    expect((await raw('GET', `/v1/schema/${collection}`)).status).toBe(404);
    others.push(...Array.from({ length: 4 }, () => WeaviateVectorStore.fromConfig(config, { collection })));
    const racers = [store, ...others];
    await expect(Promise.all(racers.map((s) => s.ensureCollection()))).resolves.toHaveLength(5);
    await expect(store.ensureCollection()).resolves.toBeUndefined();
    await expect(store.ensureCollection()).resolves.toBeUndefined();

    const schema = await raw('GET', `/v1/schema/${collection}`);
    expect(schema.status).toBe(200);
    expect(schema.body).toMatchObject({
      class: collection,
      multiTenancyConfig: { enabled: true, autoTenantCreation: false, autoTenantActivation: true },
      vectorConfig: { default: { vectorizer: { none: {} }, vectorIndexConfig: { distance: 'cosine' } } },
    });
    const props = Object.fromEntries((schema.body as { properties: { name: string; dataType: string[]; tokenization?: string }[] }).properties.map((p) => [p.name, p]));
    expect(Object.keys(props).sort()).toEqual(['chunkIndex', 'documentId', 'sourceVersion', 'text', 'title']);
    expect(props['documentId']).toMatchObject({ dataType: ['text'], tokenization: 'field' });
    expect(props['chunkIndex']!.dataType).toEqual(['int']);
    expect(props['sourceVersion']!.dataType).toEqual(['int']);
  });

  it('refuses an existing collection of that name that is not multi-tenant', async () => {
    const created = await raw('POST', '/v1/schema', { class: plainCollection, vectorizer: 'none' });
    expect(created.status).toBe(200);
    const plain = WeaviateVectorStore.fromConfig(config, { collection: plainCollection });
    others.push(plain);
    await expect(plain.ensureCollection()).rejects.toThrow(VectorStoreConfigError);
    await expect(plain.ensureCollection()).rejects.toThrow(/multi-tenancy is not enabled/);
  });

  it('answers no tenant, and lists none, before its collection exists (a fresh Weaviate)', async () => {
    const fresh = WeaviateVectorStore.fromConfig(config, { collection: `NeverCreated${suffix}` });
    others.push(fresh);
    expect(await fresh.tenantExists(parseTenantId(randomUUID()))).toBe(false);
    expect(await fresh.listTenants()).toEqual([]);
    expect((await raw('GET', `/v1/schema/NeverCreated${suffix}`)).status).toBe(404); // asking created nothing
  });

  it('rejects a collection name that is not a Weaviate class name', () => {
    expect(() => new WeaviateVectorStore({ url: config.weaviate.url, collection: 'lowercase' })).toThrow(VectorStoreConfigError);
    expect(() => new WeaviateVectorStore({ url: config.weaviate.url, collection: 'Bad) { x }' })).toThrow(VectorStoreConfigError);
  });
});

describe('tenant names', () => {
  it('are the TenantId itself, deterministically', () => {
    const upper = randomUUID().toUpperCase();
    expect(weaviateTenantName(parseTenantId(upper))).toBe(upper.toLowerCase());
  });
});

vectorStoreContract(() => store);

describe('a request that names no tenant is refused by Weaviate itself', () => {
  const tenantA = parseTenantId(randomUUID());
  const tenantB = parseTenantId(randomUUID());
  const aDoc = `doc-${randomUUID()}`;
  const aChunks = [chunk(aDoc, 0, 0, 'refunds within 30 days'), chunk(aDoc, 1, 1, 'shipping to EU')];

  beforeAll(async () => {
    await store.createTenant(tenantA);
    await store.createTenant(tenantB);
    await store.upsertChunks(tenantA, aChunks);
  });

  it('listing objects', async () => {
    const r = await raw('GET', `/v1/objects?class=${collection}&limit=100`);
    expect(r.status).toBe(422);
    expect(JSON.stringify(r.body)).toMatch(/multi-tenancy enabled, but request was without tenant/);
  });

  it('reading one of A’s objects by id', async () => {
    const r = await raw('GET', `/v1/objects/${collection}/${aChunks[0]!.id}`);
    expect(r.status).toBe(422);
    expect(JSON.stringify(r.body)).toMatch(/without tenant/);
    // …and naming B instead of A answers "not found".
    expect((await raw('GET', `/v1/objects/${collection}/${aChunks[0]!.id}?tenant=${tenantB}`)).status).toBe(404);
    expect((await raw('GET', `/v1/objects/${collection}/${aChunks[0]!.id}?tenant=${tenantA}`)).status).toBe(200);
  });

  it('nearVector search and aggregate over GraphQL', async () => {
    const get = await raw('POST', '/v1/graphql', {
      query: `{ Get { ${collection}(nearVector: {vector: [${vec(0).join(',')}]}, limit: 10) { documentId _additional { id } } } }`,
    });
    expect(get.body).toMatchObject({ errors: [{ message: expect.stringMatching(/multi-tenancy enabled, but request was without tenant/) }] });
    const agg = await raw('POST', '/v1/graphql', { query: `{ Aggregate { ${collection} { meta { count } } } }` });
    expect(agg.body).toMatchObject({ errors: [{ message: expect.stringMatching(/without tenant/) }] });
  });

  it('batch delete and batch insert', async () => {
    const del = await raw('DELETE', '/v1/batch/objects', {
      match: { class: collection, where: { path: ['documentId'], operator: 'Equal', valueText: aDoc } },
    });
    expect(del.status).toBe(422);
    expect(JSON.stringify(del.body)).toMatch(/without tenant/);
    const ins = await raw('POST', '/v1/batch/objects', {
      objects: [{ class: collection, id: randomUUID(), vectors: { default: vec(0) }, properties: { documentId: 'intruder', chunkIndex: 0, text: 'x', title: 'x', sourceVersion: 1 } }],
    });
    expect(ins.body).toMatchObject([{ result: { status: 'FAILED', errors: { error: [{ message: expect.stringMatching(/without tenant/) }] } } }]);
    expect(await store.countObjects(tenantA)).toBe(2);
    expect(await store.countObjects(tenantB)).toBe(0);
  });
});

describe('errors', () => {
  const tenant = parseTenantId(randomUUID());
  beforeAll(() => store.createTenant(tenant));

  it('a batch names each object Weaviate did not write', async () => {
    const good = chunk('dims', 0, 0, 'ok');
    const wrong = { ...chunk('dims', 1, 0, 'wrong dimensions'), vector: [1, 0, 0] };
    const err = await store.upsertChunks(tenant, [good]).then(() => store.upsertChunks(tenant, [wrong])).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VectorBatchError);
    expect((err as VectorBatchError).failures).toEqual([{ id: wrong.id, message: expect.stringMatching(/length|dimension/i) }]);
    expect((err as Error).message).toContain(wrong.id);
    expect(await store.countObjects(tenant)).toBe(1);
    expect(await store.deleteByDocument(tenant, 'dims')).toBe(1);
    expect(await store.countObjects(tenant)).toBe(0);
  });

  it('carry Weaviate’s message', async () => {
    const missing = WeaviateVectorStore.fromConfig(config, { collection: `Missing${suffix}` });
    others.push(missing);
    const err = await missing.countObjects(tenant).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VectorStoreRequestError);
    expect((err as VectorStoreRequestError).weaviateMessage).toMatch(new RegExp(`Missing${suffix}|could not find class`, 'i'));
  });

  it('an unreachable Weaviate is named, with how to start it', async () => {
    // A port that was just free: nothing listens on it.
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const { port } = probe.address() as AddressInfo;
    await new Promise((resolve) => probe.close(resolve));
    const down = new WeaviateVectorStore({ url: `http://127.0.0.1:${port}`, grpcPort: port, collection, timeoutMs: 2_000 });
    others.push(down);
    const err = await down.countObjects(tenant).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VectorStoreUnavailableError);
    expect((err as Error).message).toMatch(new RegExp(`^Weaviate at http://127.0.0.1:${port} is unreachable \\(.+\\): is Weaviate running \\(HTTP and gRPC ports\\)\\? npm run infra:up$`));
  });

  it('a request that gets no answer times out', async () => {
    const server: Server = createServer(() => undefined); // never answers
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const slow = new WeaviateVectorStore({ url: `http://127.0.0.1:${port}`, grpcPort: port, collection, timeoutMs: 1_000 });
      others.push(slow);
      const err = await slow.search(tenant, vec(0), 1).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(VectorStoreTimeoutError);
      expect((err as Error).message).toMatch(/search timed out after 1000 ms/);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
