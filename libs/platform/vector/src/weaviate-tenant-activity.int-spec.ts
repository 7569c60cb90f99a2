// Per-tenant cost of WeaviateVectorStore (issue 15): namespaces are created cold (INACTIVE) and in
// batches, come back on their first read or write (the collection's automatic tenant activation)
// with their data, a collection made before that is switched over in place, and the idle sweep
// puts to rest only the namespaces nobody used. A Weaviate of the spec's own (deploy/local's binary
// and settings, startWeaviate: deactivating tenants races requests in Weaviate 1.35, which must
// never reach the shared server), and the local Redis; every key the spec makes is removed.
import { randomUUID } from 'node:crypto';
import Redis from 'ioredis';
import weaviate from 'weaviate-client';
import { parseTenantId, type TenantId } from '@hotdash/contracts';
import { loadConfig } from '@hotdash/platform-config';
import { startWeaviate, type WeaviateProcess } from '@hotdash/testing';
import { IdleTenantSweep, knowledgeCollectionConfig, MemoryTenantActivityLog, RedisTenantActivityLog, TENANTS_PER_REQUEST, WeaviateVectorStore, type NamespaceStatus } from './index';
import { chunk, vec } from './vector-store.contract';

jest.setTimeout(30_000);

const base = loadConfig();
let weaviateProcess: WeaviateProcess;
/** The platform configuration, pointed at the spec's own Weaviate once it runs. */
const config = { ...base, weaviate: { ...base.weaviate } };
const suffix = randomUUID().replace(/-/g, '').slice(0, 12);
const collection = `ActivityTest${suffix}`;
const oldCollection = `ActivityOldTest${suffix}`;
const activity = new MemoryTenantActivityLog();
let store: WeaviateVectorStore;
const newTenant = (): TenantId => parseTenantId(randomUUID());
const MIN = 60_000;

type ClassSchema = { multiTenancyConfig: unknown; properties: { name: string }[] };

async function raw<T = unknown>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
  const res = await fetch(`${config.weaviate.url}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  return { status: res.status, body: (text === '' ? undefined : JSON.parse(text)) as T };
}

/** The namespaces' statuses as Weaviate reports them (REST: HOT / COLD). */
async function statusOf(coll: string, ...tenants: TenantId[]): Promise<string[]> {
  const all = (await raw<{ name: string; activityStatus: string }[]>('GET', `/v1/schema/${coll}/tenants`)).body;
  const by = new Map(all.map((t) => [t.name, t.activityStatus]));
  return tenants.map((t) => by.get(t) ?? 'MISSING');
}

beforeAll(async () => {
  weaviateProcess = await startWeaviate({ name: `activity-spec-${process.pid}` });
  config.weaviate = { ...config.weaviate, url: weaviateProcess.url, grpcPort: weaviateProcess.grpcPort };
  store = WeaviateVectorStore.fromConfig(config, { collection, activity, touchEveryMs: 1 });
  await store.ensureCollection();
});

afterAll(async () => {
  await store?.close();
  await weaviateProcess?.stop(); // its data folder, every collection and tenant of the spec, goes with it
});

describe('cold namespaces', () => {
  it('are created INACTIVE, served on their first write and query, and come back with their data after being put to rest', async () => {
    const t = newTenant();
    await store.createTenant(t);
    expect(await statusOf(collection, t)).toEqual(['COLD']);
    expect((await raw<ClassSchema>('GET', `/v1/schema/${collection}`)).body.multiTenancyConfig).toEqual({ enabled: true, autoTenantCreation: false, autoTenantActivation: true });

    const doc = `doc-${randomUUID()}`;
    const chunks = [chunk(doc, 0, 0, 'refunds within 30 days'), chunk(doc, 1, 1, 'shipping to the EU takes 5 days')];
    await store.upsertChunks(t, chunks); // first write: Weaviate activates it
    expect(await statusOf(collection, t)).toEqual(['HOT']);

    expect(await store.deactivateTenants([t])).toEqual({ deactivated: [t], inUse: [] });
    expect(await statusOf(collection, t)).toEqual(['COLD']);
    const hits = await store.hybridSearch(t, { text: 'refunds', vector: vec(0), limit: 5 }); // first query after: activates it
    expect(hits.map((h) => h.id)).toContain(chunks[0]!.id);
    expect(await statusOf(collection, t)).toEqual(['HOT']);

    await store.deactivateTenants([t]);
    await store.upsertChunks(t, [chunk(doc, 2, 2, 'warranty two years')]); // a write to a cold one
    await store.deactivateTenants([t]);
    expect(await store.countObjects(t)).toBe(3);
    await store.deactivateTenants([t]);
    const exported = [];
    for await (const page of store.exportChunks(t)) exported.push(...page);
    expect(exported.map((c) => c.id).sort()).toEqual(expect.arrayContaining(chunks.map((c) => c.id)));
    expect(exported.find((c) => c.id === chunks[1]!.id)).toMatchObject({ text: chunks[1]!.text, vector: chunks[1]!.vector.map(Math.fround), sourceVersion: 1 }); // float32 in Weaviate
    await store.deactivateTenants([t]);
    expect(await store.deleteByDocument(t, doc)).toBe(3);
  });

  it('a collection made before auto-activation is switched over in place by ensureCollection, its data and settings kept', async () => {
    // What ensureCollection created before issue 15 (autoTenantActivation off), with a tenant in it.
    const client = await weaviate.connectToCustom({
      httpHost: new URL(config.weaviate.url).hostname,
      httpPort: Number(new URL(config.weaviate.url).port),
      grpcHost: new URL(config.weaviate.url).hostname,
      grpcPort: config.weaviate.grpcPort,
    });
    try {
      await client.collections.create(knowledgeCollectionConfig(oldCollection, { autoTenantActivation: false }));
      const old = WeaviateVectorStore.fromConfig(config, { collection: oldCollection });
      const t = newTenant();
      const doc = `doc-${randomUUID()}`;
      const c = chunk(doc, 0, 3, 'opening hours of the helpdesk');
      try {
        // Before the switch: a cold namespace is not served by Weaviate (the raw client is refused)…
        await old.createTenant(t);
        await expect(client.collections.use(oldCollection).withTenant(t).query.fetchObjects({ limit: 1 })).rejects.toThrow(/tenant not active/);
        // …but the store activates it itself and writes.
        await old.upsertChunks(t, [c]);
        expect(await statusOf(oldCollection, t)).toEqual(['HOT']);
        await old.deactivateTenants([t]);
        const before = (await raw<ClassSchema>('GET', `/v1/schema/${oldCollection}`)).body;

        await old.ensureCollection();

        const after = (await raw<ClassSchema>('GET', `/v1/schema/${oldCollection}`)).body;
        expect(after.multiTenancyConfig).toEqual({ enabled: true, autoTenantCreation: false, autoTenantActivation: true });
        // Everything else as it was (Weaviate lists the properties in another order after an update).
        const rest = (c: ClassSchema) => ({ ...c, multiTenancyConfig: undefined, properties: [...c.properties].sort((x, y) => x.name.localeCompare(y.name)) });
        expect(rest(after)).toEqual(rest(before));
        // Weaviate itself now serves the cold namespace (the raw client, no store in between), data intact.
        expect(await statusOf(oldCollection, t)).toEqual(['COLD']);
        const r = await client.collections.use(oldCollection).withTenant(t).query.fetchObjects({ limit: 5, returnProperties: ['text'] });
        expect(r.objects.map((o) => [o.uuid, o.properties.text])).toEqual([[c.id, c.text]]);
        expect(await statusOf(oldCollection, t)).toEqual(['HOT']);
      } finally {
        await old.close();
      }
    } finally {
      await client.close();
    }
  });
});

describe('batched creation', () => {
  it(`creates and deletes many namespaces ${TENANTS_PER_REQUEST} to a request, cold, idempotently`, async () => {
    const ids = Array.from({ length: 2 * TENANTS_PER_REQUEST + 50 }, newTenant);
    const existing = ids[7]!;
    await store.createTenant(existing);
    await store.upsertChunks(existing, [chunk('kept', 0, 0, 'kept')]);
    // Count the requests the client sends (it calls the global fetch).
    const requests: string[] = [];
    const realFetch = globalThis.fetch;
    globalThis.fetch = ((input: Parameters<typeof fetch>[0], init?: RequestInit) => {
      requests.push(`${init?.method ?? 'GET'} ${String(input instanceof Request ? input.url : input)}`);
      return realFetch(input, init);
    }) as typeof fetch;
    try {
      await store.createTenants([...ids, ids[0]!]); // an existing one and a repeat inside the batch
    } finally {
      globalThis.fetch = realFetch;
    }
    expect(requests.filter((r) => r.startsWith(`POST `) && r.endsWith(`/v1/schema/${collection}/tenants`))).toHaveLength(3);
    const statuses = await store.tenantStatuses();
    const mine = ids.map((id) => statuses.get(id));
    expect(mine.filter((s) => s === 'INACTIVE')).toHaveLength(ids.length - 1);
    expect(statuses.get(existing)).toBe<NamespaceStatus>('ACTIVE'); // an existing namespace keeps its status and data
    expect(await store.countObjects(existing)).toBe(1);

    await store.deleteTenants(ids);
    const left = await store.tenantStatuses();
    expect(ids.filter((id) => left.has(id))).toEqual([]);
  });
});

describe('the idle sweep', () => {
  /** Namespaces written to (so ACTIVE), with their recorded last use set to `ago` ms before now (undefined: no record). */
  async function used(ago: (number | undefined)[]): Promise<TenantId[]> {
    const ids = ago.map(newTenant);
    await store.createTenants(ids);
    await Promise.all(ids.map((id, i) => store.upsertChunks(id, [chunk(`d${i}`, 0, i, `text ${i}`)])));
    await activity.forget(ids);
    const now = Date.now();
    for (const [i, a] of ago.entries()) if (a !== undefined) await activity.touch([ids[i]!], now - a);
    return ids;
  }
  const sweepOf = (options: ConstructorParameters<typeof IdleTenantSweep>[2] = {}) => new IdleTenantSweep(store, activity, { idleMs: 10 * MIN, ...options });
  const deactivatedOf = (ids: TenantId[], report: { deactivated: TenantId[] }) => report.deactivated.filter((d) => ids.includes(d));

  it('puts to rest only the namespaces unused for the idle time; one never recorded is timed from its first sight', async () => {
    const [busy, idleA, idleB, unrecorded] = await used([5_000, 11 * MIN, 30 * MIN, undefined]);
    const neverUsed = newTenant();
    await store.createTenant(neverUsed);
    const all = [busy!, idleA!, idleB!, unrecorded!, neverUsed];

    const report = await sweepOf().runOnce();
    expect(deactivatedOf(all, report).sort()).toEqual([idleA, idleB].sort());
    expect(await statusOf(collection, busy!, idleA!, idleB!, unrecorded!, neverUsed)).toEqual(['HOT', 'COLD', 'COLD', 'HOT', 'COLD']);
    const [seenAt] = await activity.lastUsed([unrecorded!]);
    expect(seenAt).toBeGreaterThan(Date.now() - MIN); // recorded as seen by this run

    // A put-to-rest namespace is served on its next use, data intact, and is recorded as used again.
    expect((await store.search(idleA!, vec(1), 5)).map((h) => h.text)).toEqual(['text 1']);
    expect(await statusOf(collection, idleA!)).toEqual(['HOT']);
    expect((await activity.lastUsed([idleA!]))[0]).toBeGreaterThan(Date.now() - MIN);

    // 11 minutes later, with no use: the busy one and the one first seen by the last run go too.
    const later = await sweepOf({ now: () => Date.now() + 11 * MIN }).runOnce();
    expect(deactivatedOf(all, later).sort()).toEqual([busy!, idleA!, unrecorded!].sort());
    expect(await statusOf(collection, ...all)).toEqual(['COLD', 'COLD', 'COLD', 'COLD', 'COLD']);
  });

  it('beyond maxActive, puts the least recently used to rest before they are idle, never one used within minActiveMs; at most maxPerRun a run', async () => {
    // Every other ACTIVE namespace of this collection goes first (they are idle): only these stay active.
    await sweepOf({ idleMs: 1, minActiveMs: 1 }).runOnce();
    const [five, three, two, recent] = await used([5 * MIN, 3 * MIN, 2 * MIN, 10_000]);
    const mine = [five!, three!, two!, recent!];

    const capped = await sweepOf({ maxActive: 1, minActiveMs: MIN, maxPerRun: 2 }).runOnce();
    expect(capped.active).toBe(4);
    expect(deactivatedOf(mine, capped)).toEqual([five!, three!].sort()); // the two oldest: maxPerRun
    expect(capped.deferred).toBe(1);
    const next = await sweepOf({ maxActive: 1, minActiveMs: MIN, maxPerRun: 2 }).runOnce();
    expect(deactivatedOf(mine, next)).toEqual([two]); // the recent one is within minActiveMs: it stays, beyond the cap
    expect(next.deferred).toBe(0);
    expect(await statusOf(collection, ...mine)).toEqual(['COLD', 'COLD', 'COLD', 'HOT']);
  });

  it('runs on its interval until stopped', async () => {
    const [idle] = await used([20 * MIN]);
    const lines: string[] = [];
    const sweep = sweepOf({ intervalMs: 50, log: (l) => lines.push(l) });
    sweep.start();
    try {
      const deadline = Date.now() + 15_000;
      while ((await statusOf(collection, idle!))[0] !== 'COLD' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    } finally {
      await sweep.stop();
    }
    expect(await statusOf(collection, idle!)).toEqual(['COLD']);
    expect(lines.join('\n')).toMatch(/vector namespaces: \d+ of \d+ active put to rest \(idle 600 s\)/);
  });
});

describe('recording uses', () => {
  it('the store records each namespace’s use, at most once per touchEveryMs per process', async () => {
    const log = new MemoryTenantActivityLog();
    const s = WeaviateVectorStore.fromConfig(config, { collection, activity: log, touchEveryMs: 60_000 });
    try {
      const t = newTenant();
      await s.createTenant(t);
      expect(await log.lastUsed([t])).toEqual([undefined]); // creating is not a use
      const before = Date.now();
      await s.upsertChunks(t, [chunk('r', 0, 0, 'recorded')]);
      const [first] = await log.lastUsed([t]);
      expect(first).toBeGreaterThanOrEqual(before);
      await log.forget([t]);
      await s.countObjects(t); // within touchEveryMs: not written again
      expect(await log.lastUsed([t])).toEqual([undefined]);
      await s.deleteTenant(t);
    } finally {
      await s.close();
    }
  });

  it('in Redis: the latest use wins whatever the order, a first sight never overwrites a use, deleted namespaces are forgotten', async () => {
    const redis = new Redis({ host: config.redis.host, port: config.redis.port });
    const log = new RedisTenantActivityLog(redis, `Spec${suffix}`);
    try {
      expect(log.key).toBe(`hotdash:vector-activity:Spec${suffix}`);
      await log.touch(['a', 'b'], 2_000);
      await log.touch(['a'], 1_000); // older: ignored
      await log.seen(['a', 'c'], 500); // only c had no record
      expect(await log.lastUsed(['c', 'a', 'b', 'x'])).toEqual([500, 2_000, 2_000, undefined]);
      const many = Array.from({ length: 2_500 }, (_, i) => `n${i}`);
      await log.touch(many, 3_000);
      expect(new Set(await log.lastUsed(many))).toEqual(new Set([3_000]));
      await log.forget(['a', ...many]);
      expect(await log.lastUsed(['a', 'b', 'n1'])).toEqual([undefined, 2_000, undefined]);
    } finally {
      await redis.del(log.key);
      await redis.quit();
    }
  });
});
