/**
 * Per-tenant retrieval through Weaviate multi-tenancy (the project's store) against one shared
 * collection filtered by a tenant property, same data, same run.
 *
 *   scripts/run node -r @swc-node/register bench/retrieval.bench.ts
 *   BENCH_TENANTS=50 BENCH_CHUNKS=200 scripts/run node -r @swc-node/register bench/retrieval.bench.ts   # quick check
 *
 * a  project path: a WeaviateVectorStore on its own multi-tenant collection (ensureCollection: one
 *    Weaviate tenant per platform tenant, HNSW, cosine), chunks written with upsertChunks, queried
 *    with retrievePassages (what drafting calls: embed the question, then hybridSearch, 5 passages).
 * b  baseline: ONE collection without multi-tenancy holding every tenant's chunks, the same
 *    properties plus `tenantId` (text, `field` tokenization, filterable, not searchable), same vector
 *    index (self-provided vectors, HNSW defaults, cosine), written with the raw client's insertMany
 *    and queried with the same hybrid query (alpha 0.5, relative score fusion, text and title,
 *    limit 5) plus a filter tenantId = the tenant. Same weaviate-client as the store.
 *
 * Data: BENCH_TENANTS × BENCH_CHUNKS chunks of ~40 words drawn from a seeded Zipf distribution over
 * a generated 5,000-word vocabulary (so BM25 sees common and rare words), regenerated identically
 * for a and b (same ids, texts and vectors), vectors from LocalEmbedder at BENCH_DIMS dimensions.
 * Weaviate tenants of a are created in batches of BENCH_TENANT_BATCH with the client's
 * tenants.create(array), timed; createTenant (the store's, one at a time, what provisioning calls)
 * is also timed on the empty and on the full collection. Loading prints objects/s as it goes.
 *
 * Queries: BENCH_ROUNDS rounds of BENCH_QUERIES pairs; each pair picks a random tenant and a random
 * 3–6-word question and runs a and b back to back (order alternating), one request in flight, after
 * a warm-up of BENCH_QUERIES / 2 pairs. A diagnostic pass does the same with vector-only search
 * (store.search vs nearVector + filter). Reported: p50 / p99 over all timed queries and per round,
 * ratio a/b of the p99 (target ≤ 1.0×), and how often a and b return the same top-5 ids.
 * Both collections are deleted at the end, also on failure or Ctrl-C.
 *
 * Env: BENCH_TENANTS (1000), BENCH_CHUNKS (per tenant, 1000), BENCH_DIMS (64), BENCH_QUERIES (per
 * path per round, 200), BENCH_ROUNDS (3), BENCH_TENANT_BATCH (100), BENCH_LOAD_BATCH (objects per
 * insert request of b, 500; a writes through upsertChunks, one object per request, 32 in flight), BENCH_SETTLE_S (pause between loading and querying, 75), BENCH_LOAD_CONCURRENCY (tenants written at once, 16: weaviate-client 3.14's
 * insertMany serializes one object per timer tick and polls for the end every 500 ms, so one
 * writer tops out near 1,000 objects/s whatever the server does; writers in parallel overlap that).
 */
import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import weaviate, { type Collection, type WeaviateClient } from 'weaviate-client';
import { parseTenantId, type TenantId } from '@hotdash/contracts';
import { loadConfig } from '@hotdash/platform-config';
import { LocalEmbedder } from '@hotdash/platform-models';
import { type KnowledgeChunk, retrievePassages, WeaviateVectorStore } from '@hotdash/platform-vector';

const TENANTS = Number(process.env.BENCH_TENANTS ?? 1_000);
const CHUNKS = Number(process.env.BENCH_CHUNKS ?? 1_000);
const DIMS = Number(process.env.BENCH_DIMS ?? 64);
const QUERIES = Number(process.env.BENCH_QUERIES ?? 200);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const TENANT_BATCH = Number(process.env.BENCH_TENANT_BATCH ?? 100);
const LOAD_BATCH = Number(process.env.BENCH_LOAD_BATCH ?? 500);
const LOAD_CONCURRENCY = Number(process.env.BENCH_LOAD_CONCURRENCY ?? 16);
const SETTLE_S = Number(process.env.BENCH_SETTLE_S ?? 75);
const LIMIT = 5;
const WORDS_PER_CHUNK = 40;

const config = loadConfig();
/** Set by Ctrl-C / SIGTERM: loaders and query loops stop, in-flight writes settle, then the collections are deleted. */
let interrupted = false;
const checkInterrupted = () => {
  if (interrupted) throw new Error('interrupted');
};
const embedder = new LocalEmbedder(DIMS);
const run = Date.now().toString(36);
const MT_COLLECTION = `BenchRetrievalMt_${run}`;
const FLAT_COLLECTION = `BenchRetrievalFlat_${run}`;

// ------------------------------------------------------------------ deterministic data

/** mulberry32: a small seeded PRNG (same sequence for the same seed). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const SYLLABLES = ['ka', 're', 'mo', 'ti', 'lu', 'sa', 'ne', 'po', 'vi', 'da', 'ro', 'fe', 'gu', 'ha', 'zi', 'be', 'no', 'cha', 'st', 'el'];
const VOCAB: string[] = (() => {
  const r = rng(7);
  const words = new Set<string>();
  while (words.size < 5_000) {
    const n = 2 + Math.floor(r() * 3);
    words.add(Array.from({ length: n }, () => SYLLABLES[Math.floor(r() * SYLLABLES.length)]).join(''));
  }
  return [...words];
})();
/** Zipf (s = 1) over the vocabulary: cumulative weights, sampled by binary search. */
const CUMULATIVE = (() => {
  const c: number[] = [];
  let sum = 0;
  for (let i = 0; i < VOCAB.length; i++) c.push((sum += 1 / (i + 1)));
  return c.map((x) => x / sum);
})();
function word(r: () => number): string {
  const x = r();
  let lo = 0;
  let hi = CUMULATIVE.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (CUMULATIVE[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return VOCAB[lo]!;
}
const words = (r: () => number, n: number) => Array.from({ length: n }, () => word(r)).join(' ');

function uuidOf(...parts: (string | number)[]): string {
  const h = createHash('sha256').update(parts.join('\n')).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
}
const tenantIds: TenantId[] = Array.from({ length: TENANTS }, (_, t) => parseTenantId(uuidOf('tenant', run, t)));

/** Tenant t's chunks: the same ids, texts and vectors every time (a and b load the same data). */
function chunksOf(t: number): KnowledgeChunk[] {
  const r = rng(1_000_003 * (t + 1));
  const chunks: KnowledgeChunk[] = [];
  for (let c = 0; c < CHUNKS; c++) {
    const documentId = uuidOf('doc', t, Math.floor(c / 20));
    const title = words(r, 4);
    const text = `${words(r, WORDS_PER_CHUNK)}.`;
    chunks.push({ id: uuidOf('chunk', run, t, c), vector: embedder.vector(`${title}\n\n${text}`), documentId, chunkIndex: c % 20, text, title, sourceVersion: 1 });
  }
  return chunks;
}

// ------------------------------------------------------------------ stats

function quantile(xs: readonly number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]!;
}
const median = (xs: readonly number[]) => quantile(xs, 0.5);
const ms = (x: number) => x.toFixed(2);

// ------------------------------------------------------------------ loading

/** Runs `work` for tenants 0..TENANTS-1, LOAD_CONCURRENCY at once, printing objects/s every ~10 s. */
async function loadAll(label: string, work: (t: number, chunks: KnowledgeChunk[]) => Promise<void>): Promise<{ seconds: number; rate: number; generateSeconds: number }> {
  const t0 = performance.now();
  let next = 0;
  let objects = 0;
  let generateMs = 0;
  let lastPrint = t0;
  // allSettled, not all: on a failure every writer finishes its request before the collections are
  // deleted (a write landing after the delete would re-create the collection through auto-schema).
  const settled = await Promise.allSettled(
    Array.from({ length: LOAD_CONCURRENCY }, async () => {
      for (let t = next++; t < TENANTS; t = next++) {
        checkInterrupted();
        const g0 = performance.now();
        const chunks = chunksOf(t);
        generateMs += performance.now() - g0;
        await work(t, chunks);
        objects += chunks.length;
        const now = performance.now();
        if (now - lastPrint > 10_000) {
          lastPrint = now;
          console.log(`  ${label}: ${objects.toLocaleString('en')} / ${(TENANTS * CHUNKS).toLocaleString('en')} objects, ${((objects / (now - t0)) * 1000).toFixed(0)} objects/s`);
        }
      }
    }),
  );
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) throw failed.reason;
  const seconds = (performance.now() - t0) / 1000;
  return { seconds, rate: objects / seconds, generateSeconds: generateMs / 1000 };
}

function checkInsert(result: { hasErrors: boolean; errors: Record<number, { message: string }> }, what: string): void {
  if (result.hasErrors) throw new Error(`${what}: ${Object.values(result.errors).length} objects not written, e.g. ${Object.values(result.errors)[0]?.message}`);
}

// ------------------------------------------------------------------ main

type FlatProperties = { tenantId: string; documentId: string; chunkIndex: number; text: string; title: string; sourceVersion: number };

async function main(client: WeaviateClient, store: WeaviateVectorStore): Promise<void> {
  console.log(`${TENANTS} tenants × ${CHUNKS} chunks, ${DIMS} dimensions (LocalEmbedder), collections ${MT_COLLECTION} (a) and ${FLAT_COLLECTION} (b)`);

  // a: the store's collection and tenants.
  await store.ensureCollection();
  const mt = client.collections.use(MT_COLLECTION);
  const single = Math.min(10, TENANTS);
  const c0 = performance.now();
  for (let t = 0; t < single; t++) await store.createTenant(tenantIds[t]!);
  const createEmptyMs = (performance.now() - c0) / single;
  const batchMs: number[] = [];
  for (let t = single; t < TENANTS; t += TENANT_BATCH) {
    const b0 = performance.now();
    await mt.tenants.create(tenantIds.slice(t, t + TENANT_BATCH).map((name) => ({ name })));
    batchMs.push(performance.now() - b0);
  }
  const tenantsMs = (performance.now() - c0) / 1000;
  console.log(
    `tenants: ${TENANTS} in ${tenantsMs.toFixed(1)} s; store.createTenant one at a time ${ms(createEmptyMs)} ms each (first ${single}); ` +
      `tenants.create batches of ${TENANT_BATCH}: ${batchMs.map((x) => x.toFixed(0)).join(', ')} ms`,
  );

  // b: one collection, no multi-tenancy, tenantId as a filterable property.
  await client.collections.create<FlatProperties>({
    name: FLAT_COLLECTION,
    vectorizers: weaviate.configure.vectors.selfProvided({ vectorIndexConfig: weaviate.configure.vectorIndex.hnsw({ distanceMetric: 'cosine' }) }),
    properties: [
      { name: 'tenantId', dataType: 'text', tokenization: 'field', indexFilterable: true, indexSearchable: false },
      { name: 'documentId', dataType: 'text', tokenization: 'field', indexFilterable: true, indexSearchable: false },
      { name: 'chunkIndex', dataType: 'int' },
      { name: 'text', dataType: 'text', tokenization: 'word' },
      { name: 'title', dataType: 'text', tokenization: 'word' },
      { name: 'sourceVersion', dataType: 'int' },
    ],
  });
  const flat: Collection<FlatProperties> = client.collections.use<string, FlatProperties>(FLAT_COLLECTION);

  console.log('loading a (store.upsertChunks, multi-tenant)');
  const loadA = await loadAll('a', (t, chunks) => store.upsertChunks(tenantIds[t]!, chunks));
  console.log(`a loaded: ${loadA.seconds.toFixed(0)} s, ${loadA.rate.toFixed(0)} objects/s (of which generating and embedding ${loadA.generateSeconds.toFixed(0)} s)`);
  console.log('loading b (insertMany, one collection)');
  const loadB = await loadAll('b', async (t, chunks) => {
    for (let i = 0; i < chunks.length; i += LOAD_BATCH) {
      const slice = chunks.slice(i, i + LOAD_BATCH);
      const tenantId = tenantIds[t]!;
      checkInsert(
        await flat.data.insertMany(
          slice.map((c) => ({
            id: c.id,
            vectors: c.vector as number[],
            properties: { tenantId, documentId: c.documentId, chunkIndex: c.chunkIndex, text: c.text, title: c.title, sourceVersion: c.sourceVersion },
          })),
        ),
        `b insert tenant ${t}`,
      );
    }
  });
  console.log(`b loaded: ${loadB.seconds.toFixed(0)} s, ${loadB.rate.toFixed(0)} objects/s (of which generating and embedding ${loadB.generateSeconds.toFixed(0)} s)`);

  const full = Math.min(10, TENANTS);
  const f0 = performance.now();
  const extra = Array.from({ length: full }, (_, i) => parseTenantId(uuidOf('extra', run, i)));
  for (const id of extra) await store.createTenant(id);
  const createFullMs = (performance.now() - f0) / full;
  console.log(`store.createTenant with ${TENANTS} loaded tenants: ${ms(createFullMs)} ms each (${full} tenants)`);
  const [countA, countB] = [await store.countObjects(tenantIds[0]!), (await flat.aggregate.overAll()).totalCount];
  console.log(`count check: a tenant 0 holds ${countA}, b holds ${countB} (expected ${CHUNKS} and ${TENANTS * CHUNKS})`);

  // ---------------------------------------------------------------- queries
  // Weaviate flushes a memtable after 60 s without writes; until then b's one big memtable answers
  // BM25 far more slowly than flushed segments (a first run saw b's hybrid p50 drop from ~75 to ~5 ms
  // in its third round). Both paths are queried in their settled state.
  console.log(`waiting ${SETTLE_S} s for Weaviate to flush the memtables`);
  for (let s = 0; s < SETTLE_S; s++) {
    checkInterrupted();
    await new Promise((resolve) => setTimeout(resolve, 1_000));
  }
  const returnProperties = ['documentId', 'chunkIndex', 'text', 'title'] as const;
  const byTenant = (t: number) => flat.filter.byProperty('tenantId').equal(tenantIds[t]!);
  const paths = {
    hybrid: {
      a: async (t: number, q: string) => (await retrievePassages(tenantIds[t]!, q, LIMIT, { embedder, vectors: store })).hits.map((h) => h.id),
      b: async (t: number, q: string) => {
        const { vectors } = await embedder.embed([q]);
        const r = await flat.query.hybrid(q, {
          vector: vectors[0]!,
          alpha: 0.5,
          fusionType: 'RelativeScore',
          queryProperties: ['text', 'title'],
          limit: LIMIT,
          filters: byTenant(t),
          returnMetadata: ['score'],
          returnProperties: [...returnProperties],
        });
        return r.objects.map((o) => o.uuid);
      },
    },
    vector: {
      a: async (t: number, q: string) => (await store.search(tenantIds[t]!, embedder.vector(q), LIMIT)).map((h) => h.id),
      b: async (t: number, q: string) => {
        const r = await flat.query.nearVector(embedder.vector(q), { limit: LIMIT, filters: byTenant(t), returnMetadata: ['distance'], returnProperties: [...returnProperties] });
        return r.objects.map((o) => o.uuid);
      },
    },
  };

  const r = rng(42);
  const results: Record<string, { a: number[][]; b: number[][]; same: number; pairs: number }> = {};
  for (const [kind, path] of Object.entries(paths)) {
    const res = (results[kind] = { a: [] as number[][], b: [] as number[][], same: 0, pairs: 0 });
    for (let round = -1; round < ROUNDS; round++) {
      const n = round < 0 ? Math.ceil(QUERIES / 2) : QUERIES;
      const lat = { a: [] as number[], b: [] as number[] };
      for (let i = 0; i < n; i++) {
        checkInterrupted();
        const t = Math.floor(r() * TENANTS);
        const q = words(r, 3 + Math.floor(r() * 4));
        const ids: Record<'a' | 'b', string[]> = { a: [], b: [] };
        for (const which of (i % 2 ? ['b', 'a'] : ['a', 'b']) as ('a' | 'b')[]) {
          const q0 = performance.now();
          ids[which] = await path[which](t, q);
          lat[which].push(performance.now() - q0);
        }
        if (round >= 0) {
          res.pairs++;
          if (ids.a.join() === ids.b.join()) res.same++;
        }
      }
      if (round < 0) continue;
      res.a.push(lat.a);
      res.b.push(lat.b);
      console.log(
        `${kind} round ${round + 1}: a p50 ${ms(median(lat.a))} p99 ${ms(quantile(lat.a, 0.99))} ms | b p50 ${ms(median(lat.b))} p99 ${ms(quantile(lat.b, 0.99))} ms`,
      );
    }
  }

  console.log(`\n${TENANTS} tenants × ${CHUNKS} chunks, ${DIMS} dims; ${ROUNDS} rounds × ${QUERIES} queries per path, one in flight, limit ${LIMIT}`);
  console.log(`tenant creation: ${tenantsMs.toFixed(1)} s for ${TENANTS}; createTenant ${ms(createEmptyMs)} ms (empty collection) → ${ms(createFullMs)} ms (${TENANTS} tenants); batch of ${TENANT_BATCH}: median ${ms(median(batchMs.length ? batchMs : [0]))} ms`);
  console.log(`load: a ${loadA.rate.toFixed(0)} objects/s (${loadA.seconds.toFixed(0)} s), b ${loadB.rate.toFixed(0)} objects/s (${loadB.seconds.toFixed(0)} s)`);
  console.log('\n| query | path | p50 (ms) | p99 (ms) | p99 per round (ms) | same top-5 as the other path |\n|---|---|---:|---:|---|---:|');
  for (const [kind, res] of Object.entries(results)) {
    for (const which of ['a', 'b'] as const) {
      const all = res[which].flat();
      const label = which === 'a' ? 'a multi-tenant (store)' : 'b one collection + tenantId filter';
      console.log(
        `| ${kind} | ${label} | ${ms(median(all))} | ${ms(quantile(all, 0.99))} | ${res[which].map((x) => ms(quantile(x, 0.99))).join(', ')} | ${((100 * res.same) / res.pairs).toFixed(0)}% |`,
      );
    }
  }
  for (const [kind, res] of Object.entries(results)) {
    const ratio = quantile(res.a.flat(), 0.99) / quantile(res.b.flat(), 0.99);
    const p50 = median(res.a.flat()) / median(res.b.flat());
    console.log(`${kind}: p99 a/b ${ratio.toFixed(2)}× (target ≤ 1.0×: ${ratio <= 1 ? 'MET' : 'MISSED'}); p50 a/b ${p50.toFixed(2)}×`);
  }
}

async function cleanup(client: WeaviateClient): Promise<void> {
  // Twice: a write still in flight at the first delete would bring a collection back (auto-schema).
  for (const name of [MT_COLLECTION, FLAT_COLLECTION, MT_COLLECTION, FLAT_COLLECTION]) {
    try {
      if (await client.collections.exists(name)) {
        const d0 = performance.now();
        await client.collections.delete(name);
        console.log(`deleted ${name} (${((performance.now() - d0) / 1000).toFixed(1)} s)`);
      }
    } catch (err) {
      console.error(`could not delete ${name}: ${(err as Error).message}`);
    }
  }
}

async function start(): Promise<void> {
  const url = new URL(config.weaviate.url);
  const client = await weaviate.connectToCustom({
    httpHost: url.hostname,
    httpPort: Number(url.port),
    grpcHost: url.hostname,
    grpcPort: config.weaviate.grpcPort,
    timeout: { init: 30, query: 60, insert: 120 },
  });
  const store = WeaviateVectorStore.fromConfig(config, { collection: MT_COLLECTION, timeoutMs: 120_000 });
  const interrupt = () => {
    console.error('interrupted: stopping, then deleting the bench collections');
    interrupted = true;
  };
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);
  let code = 0;
  try {
    await main(client, store);
  } catch (err) {
    console.error(err);
    code = 1;
  } finally {
    await cleanup(client);
    await store.close();
    await client.close();
  }
  process.exit(code);
}

void start();
