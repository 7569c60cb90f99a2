// WeaviateVectorStore against the real local Weaviate (npm run infra:up). Each run works in its own
// collection, dropped at the end. Tenant isolation is proven from the attacker's side: tenant B
// aims every call at tenant A's data and gets nothing, changes nothing; and a request that names no
// tenant is refused by Weaviate itself (sent raw, bypassing the store).
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseTenantId, type TenantId } from '@hotdash/contracts';
import { loadConfig } from '@hotdash/platform-config';
import {
  KnowledgeChunk,
  VectorBatchError,
  VectorStoreConfigError,
  VectorStoreRequestError,
  VectorStoreTimeoutError,
  VectorStoreUnavailableError,
  VectorTenantNotFoundError,
  WeaviateVectorStore,
  weaviateTenantName,
} from './index';

const config = loadConfig();
const suffix = randomUUID().replace(/-/g, '').slice(0, 12);
const collection = `KnowledgeChunkTest${suffix}`;
const plainCollection = `PlainChunkTest${suffix}`; // not multi-tenant: the store must refuse it
const store = WeaviateVectorStore.fromConfig(config, { collection });

const tenantA = parseTenantId(randomUUID());
const tenantB = parseTenantId(randomUUID());
const DIMS = 8;

/** A unit vector along axis `axis`, nudged a little towards axis+1 by `tilt`. */
function vec(axis: number, tilt = 0): number[] {
  const v = new Array<number>(DIMS).fill(0);
  v[axis % DIMS] = 1;
  v[(axis + 1) % DIMS] = tilt;
  return v;
}

function chunk(documentId: string, chunkIndex: number, axis: number, text: string): KnowledgeChunk {
  return { id: randomUUID(), vector: vec(axis, chunkIndex * 0.01), documentId, chunkIndex, text, title: `Title of ${documentId}`, sourceVersion: 1 };
}

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
});

describe('collection', () => {
  it('is created once, however many callers race to create it, and again is a no-op', async () => {
    expect((await raw('GET', `/v1/schema/${collection}`)).status).toBe(404);
    const racers = [store, ...Array.from({ length: 4 }, () => WeaviateVectorStore.fromConfig(config, { collection }))];
    await expect(Promise.all(racers.map((s) => s.ensureCollection()))).resolves.toHaveLength(5);
    await expect(store.ensureCollection()).resolves.toBeUndefined();
    await expect(store.ensureCollection()).resolves.toBeUndefined();

    const schema = await raw('GET', `/v1/schema/${collection}`);
    expect(schema.status).toBe(200);
    expect(schema.body).toMatchObject({
      class: collection,
      vectorizer: 'none',
      multiTenancyConfig: { enabled: true, autoTenantCreation: false },
      vectorIndexConfig: { distance: 'cosine' },
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
    await expect(plain.ensureCollection()).rejects.toThrow(VectorStoreConfigError);
    await expect(plain.ensureCollection()).rejects.toThrow(/multi-tenancy is not enabled/);
  });

  it('rejects a collection name that is not a Weaviate class name', () => {
    expect(() => new WeaviateVectorStore({ url: config.weaviate.url, collection: 'lowercase' })).toThrow(VectorStoreConfigError);
    expect(() => new WeaviateVectorStore({ url: config.weaviate.url, collection: 'Bad) { x }' })).toThrow(VectorStoreConfigError);
  });
});

describe('tenants', () => {
  it('derive their Weaviate name from the TenantId, deterministically', () => {
    const upper = randomUUID().toUpperCase();
    expect(weaviateTenantName(parseTenantId(upper))).toBe(upper.toLowerCase());
    expect(weaviateTenantName(tenantA)).toBe(tenantA);
  });

  it('are created and deleted idempotently', async () => {
    const t = parseTenantId(randomUUID());
    expect(await store.tenantExists(t)).toBe(false);
    await store.createTenant(t);
    await store.createTenant(t);
    expect(await store.tenantExists(t)).toBe(true);
    expect(await store.listTenants()).toContain(t);
    await store.deleteTenant(t);
    await store.deleteTenant(t);
    expect(await store.tenantExists(t)).toBe(false);
    expect(await store.listTenants()).not.toContain(t);
  });

  it('A and B get their namespaces', async () => {
    await Promise.all([store.createTenant(tenantA), store.createTenant(tenantB)]);
    expect(await store.listTenants()).toEqual([tenantA, tenantB].sort());
  });
});

describe('two tenants', () => {
  const aDoc = `doc-${randomUUID()}`;
  const aOther = `doc-${randomUUID()}`;
  const bDoc = `doc-${randomUUID()}`;
  const aChunks = [chunk(aDoc, 0, 0, 'refunds within 30 days'), chunk(aDoc, 1, 1, 'shipping to EU'), chunk(aDoc, 2, 2, 'warranty two years')];
  const aOtherChunk = chunk(aOther, 0, 3, 'opening hours');
  const bChunks = [chunk(bDoc, 0, 4, 'B pricing'), chunk(bDoc, 1, 5, 'B returns')];

  it('A writes chunks and finds them by search, nearest first', async () => {
    await store.upsertChunks(tenantA, [...aChunks, aOtherChunk]);
    await store.upsertChunks(tenantB, bChunks);
    expect(await store.countObjects(tenantA)).toBe(4);
    expect(await store.countObjects(tenantB)).toBe(2);

    const hits = await store.search(tenantA, vec(1), 2);
    expect(hits).toHaveLength(2);
    expect(hits[0]).toEqual({ id: aChunks[1]!.id, documentId: aDoc, chunkIndex: 1, text: 'shipping to EU', title: `Title of ${aDoc}`, distance: expect.any(Number) });
    expect(hits[0]!.distance).toBeLessThan(0.001);
    expect(hits[1]!.distance).toBeGreaterThan(hits[0]!.distance);
    // A sees only A's chunks, whatever it asks for.
    const all = await store.search(tenantA, vec(4), 100);
    expect(all.map((h) => h.id).sort()).toEqual([...aChunks, aOtherChunk].map((c) => c.id).sort());
  });

  it('writing the same id again replaces the chunk', async () => {
    await store.upsertChunks(tenantA, [{ ...aChunks[0]!, text: 'refunds within 60 days', sourceVersion: 2 }]);
    expect(await store.countObjects(tenantA)).toBe(4);
    const [hit] = await store.search(tenantA, vec(0), 1);
    expect(hit).toMatchObject({ id: aChunks[0]!.id, text: 'refunds within 60 days' });
  });

  describe('as tenant B, attacking A', () => {
    it('search with the exact vector of A’s chunk finds only B’s chunks', async () => {
      const hits = await store.search(tenantB, aChunks[0]!.vector, 100);
      expect(hits.map((h) => h.id).sort()).toEqual(bChunks.map((c) => c.id).sort());
      expect(hits.some((h) => h.documentId === aDoc)).toBe(false);
    });

    it('count sees only B’s chunks', async () => {
      expect(await store.countObjects(tenantB)).toBe(2);
    });

    it('deleteByDocument of A’s document deletes nothing, in A or in B', async () => {
      expect(await store.deleteByDocument(tenantB, aDoc)).toBe(0);
      expect(await store.countObjects(tenantA)).toBe(4);
      expect(await store.countObjects(tenantB)).toBe(2);
      expect((await store.search(tenantA, vec(0), 1))[0]!.id).toBe(aChunks[0]!.id);
    });

    it('writing a chunk with the id of A’s chunk creates B’s own copy and leaves A’s untouched', async () => {
      await store.upsertChunks(tenantB, [{ ...aChunks[2]!, documentId: aDoc, text: 'overwritten by B' }]);
      const [aHit] = await store.search(tenantA, aChunks[2]!.vector, 1);
      expect(aHit).toMatchObject({ id: aChunks[2]!.id, text: 'warranty two years' });
      expect(await store.countObjects(tenantA)).toBe(4);
      expect(await store.countObjects(tenantB)).toBe(3);
      // B deletes its own copy: A's original is still there.
      expect(await store.deleteByDocument(tenantB, aDoc)).toBe(1);
      expect(await store.countObjects(tenantB)).toBe(2);
      expect(await store.countObjects(tenantA)).toBe(4);
    });
  });

  describe('a request that names no tenant is refused by Weaviate itself', () => {
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
      expect(get.body).toMatchObject({
        data: { Get: { [collection]: null } },
        errors: [{ message: expect.stringMatching(/multi-tenancy enabled, but request was without tenant/) }],
      });
      const agg = await raw('POST', '/v1/graphql', { query: `{ Aggregate { ${collection} { meta { count } } } }` });
      expect(agg.body).toMatchObject({ data: { Aggregate: { [collection]: null } }, errors: [{ message: expect.stringMatching(/without tenant/) }] });
    });

    it('batch delete and batch insert', async () => {
      const del = await raw('DELETE', '/v1/batch/objects', {
        match: { class: collection, where: { path: ['documentId'], operator: 'Equal', valueText: aDoc } },
      });
      expect(del.status).toBe(422);
      expect(JSON.stringify(del.body)).toMatch(/without tenant/);
      const ins = await raw('POST', '/v1/batch/objects', {
        objects: [{ class: collection, id: randomUUID(), vector: vec(0), properties: { documentId: 'intruder', chunkIndex: 0, text: 'x', title: 'x', sourceVersion: 1 } }],
      });
      expect(ins.body).toMatchObject([{ result: { status: 'FAILED', errors: { error: [{ message: expect.stringMatching(/without tenant/) }] } } }]);
      expect(await store.countObjects(tenantA)).toBe(4);
      expect(await store.countObjects(tenantB)).toBe(2);
    });
  });

  it('deleteByDocument deletes exactly that document’s chunks (ids match whole, not by token)', async () => {
    expect(await store.deleteByDocument(tenantA, 'doc')).toBe(0);
    expect(await store.deleteByDocument(tenantA, aDoc.split('-')[1]!)).toBe(0);
    expect(await store.deleteByDocument(tenantA, aDoc)).toBe(3);
    expect(await store.deleteByDocument(tenantA, aDoc)).toBe(0);
    expect(await store.countObjects(tenantA)).toBe(1);
    expect((await store.search(tenantA, vec(0), 10)).map((h) => h.documentId)).toEqual([aOther]);
    await store.upsertChunks(tenantA, aChunks);
    expect(await store.countObjects(tenantA)).toBe(4);
  });

  it('deleteTenant removes A’s objects while B’s remain', async () => {
    const before = { a: await store.countObjects(tenantA), b: await store.countObjects(tenantB) };
    expect(before).toEqual({ a: 4, b: 2 });
    await store.deleteTenant(tenantA);
    expect(await store.tenantExists(tenantA)).toBe(false);
    await expect(store.countObjects(tenantA)).rejects.toThrow(VectorTenantNotFoundError);
    await expect(store.search(tenantA, vec(0), 5)).rejects.toThrow(VectorTenantNotFoundError);
    await expect(store.deleteByDocument(tenantA, aDoc)).rejects.toThrow(VectorTenantNotFoundError);
    await expect(store.upsertChunks(tenantA, [aOtherChunk])).rejects.toThrow(VectorTenantNotFoundError);
    expect(await store.countObjects(tenantB)).toBe(before.b);
    expect((await store.search(tenantB, vec(4), 10)).map((h) => h.documentId)).toEqual([bDoc, bDoc]);
    // A namespace created again under the same tenant id starts empty: the objects are gone, not hidden.
    await store.createTenant(tenantA);
    expect(await store.countObjects(tenantA)).toBe(0);
    expect(await store.search(tenantA, vec(0), 10)).toEqual([]);
  });
});

describe('errors', () => {
  it('every data call needs a real tenant id, checked before anything is sent', async () => {
    const spy = jest.fn<ReturnType<typeof fetch>, Parameters<typeof fetch>>();
    const s = new WeaviateVectorStore({ url: config.weaviate.url, collection, fetch: spy as unknown as typeof fetch });
    const bad = ['', 'not-a-uuid', undefined, `${tenantB}") { x } #`] as unknown as TenantId[];
    for (const t of bad) {
      await expect(s.search(t, vec(0), 1)).rejects.toThrow(TypeError);
      await expect(s.countObjects(t)).rejects.toThrow(TypeError);
      await expect(s.deleteByDocument(t, 'd')).rejects.toThrow(TypeError);
      await expect(s.upsertChunks(t, [chunk('d', 0, 0, 'x')])).rejects.toThrow(TypeError);
      await expect(s.createTenant(t)).rejects.toThrow(TypeError);
      await expect(s.deleteTenant(t)).rejects.toThrow(TypeError);
      await expect(s.tenantExists(t)).rejects.toThrow(TypeError);
    }
    await expect(s.search(tenantB, [0, Number.NaN], 1)).rejects.toThrow(/finite/);
    await expect(s.search(tenantB, vec(0), 0)).rejects.toThrow(RangeError);
    await expect(s.upsertChunks(tenantB, [{ ...chunk('d', 0, 0, 'x'), id: 'nope' }])).rejects.toThrow(/UUID/);
    await expect(s.upsertChunks(tenantB, [chunk('d', 0, 0, 'x'), { ...chunk('d', 1, 0, 'x'), vector: [1, 2] }])).rejects.toThrow(/dimensions/);
    expect(spy).not.toHaveBeenCalled();
  });

  it('a batch names each object Weaviate did not write', async () => {
    const good = chunk('dims', 0, 0, 'ok');
    const wrong = { ...chunk('dims', 1, 0, 'wrong dimensions'), vector: [1, 0, 0] };
    const err = await store.upsertChunks(tenantB, [good]).then(() => store.upsertChunks(tenantB, [wrong])).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VectorBatchError);
    expect((err as VectorBatchError).failures).toEqual([{ id: wrong.id, message: expect.stringMatching(/length 3.*length 8|vector lengths don't match/) }]);
    expect((err as Error).message).toContain(wrong.id);
    expect(await store.countObjects(tenantB)).toBe(3); // B's two chunks and `good`; `wrong` was not kept
    expect(await store.deleteByDocument(tenantB, 'dims')).toBe(1);
    expect(await store.countObjects(tenantB)).toBe(2);
  });

  it('carry the HTTP status and Weaviate’s message', async () => {
    const missing = WeaviateVectorStore.fromConfig(config, { collection: `Missing${suffix}` });
    const err = await missing.tenantExists(tenantB).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VectorStoreRequestError);
    expect(err).toMatchObject({ status: 422, weaviateMessage: expect.stringMatching(/class not found/) });
    expect((err as Error).message).toMatch(/HTTP 422.*class not found/);
    const gql = await missing.countObjects(tenantB).catch((e: unknown) => e);
    expect(gql).toBeInstanceOf(VectorStoreRequestError);
    expect((gql as VectorStoreRequestError).weaviateMessage).toMatch(new RegExp(`Missing${suffix}`));
  });

  it('an unreachable Weaviate is named, with how to start it', async () => {
    // A port that was just free: nothing listens on it.
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const { port } = probe.address() as AddressInfo;
    await new Promise((resolve) => probe.close(resolve));
    const down = new WeaviateVectorStore({ url: `http://127.0.0.1:${port}`, collection });
    const err = await down.countObjects(tenantB).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VectorStoreUnavailableError);
    expect((err as Error).message).toBe(`Weaviate at http://127.0.0.1:${port} is unreachable (ECONNREFUSED): is Weaviate running? npm run infra:up`);
  });

  it('a request that gets no answer times out', async () => {
    const server: Server = createServer(() => undefined); // never answers
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const slow = new WeaviateVectorStore({ url: `http://127.0.0.1:${port}`, collection, timeoutMs: 200 });
      const started = Date.now();
      const err = await slow.search(tenantB, vec(0), 1).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(VectorStoreTimeoutError);
      expect((err as Error).message).toMatch(/search \(POST \/v1\/graphql, tenant .*\) timed out after 200 ms/);
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
