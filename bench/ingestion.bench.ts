/**
 * Knowledge ingestion throughput (chunks embedded and indexed per second) with the local embedder:
 * the project's indexDocument into WeaviateVectorStore against the same chunks written with a raw
 * weaviate-client batch insert, same collection kind, same run.
 *
 *   scripts/run node -r @swc-node/register bench/ingestion.bench.ts
 *
 * a  project path: libs/knowledge's indexDocument (extract the Markdown's text, chunkText, embed in
 *    batches of 32 with LocalEmbedder, store.upsertChunks, progress callback, then
 *    deleteByDocument of older versions) into a WeaviateVectorStore tenant.
 * b  baseline: the same extraction and chunker, the document's chunks embedded in one call with
 *    LocalEmbedder and written with ONE insertMany of the raw client (weaviate-client, the store's
 *    version) into another tenant of the same multi-tenant collection (the store's): no validation,
 *    no progress, no version bookkeeping.
 * c  diagnostic floor: extraction, chunking and embedding only, nothing written.
 *
 * Documents: BENCH_DOCS generated Markdown documents of ~BENCH_DOC_KB KB (headings, paragraphs,
 * lists; seeded, the same every run), BENCH_CONCURRENCY documents in flight on each path (the
 * ingestion worker's default concurrency is 4). Each round gives each path a fresh tenant; rounds
 * alternate the order (a b c, c b a, …); medians. The collection is deleted at the end, also on
 * failure or Ctrl-C.
 *
 * Env: BENCH_DOCS (200), BENCH_DOC_KB (20), BENCH_ROUNDS (3), BENCH_CONCURRENCY (4),
 * BENCH_DIMS (HOTDASH_EMBEDDING_DIMENSIONS or 384, the project's default).
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import weaviate, { type WeaviateClient } from 'weaviate-client';
import { parseTenantId, type TenantId } from '@hotdash/contracts';
import { loadConfig } from '@hotdash/platform-config';
import { LocalEmbedder } from '@hotdash/platform-models';
import { WeaviateVectorStore } from '@hotdash/platform-vector';
import { chunkId, chunkText, extractText, indexDocument } from '@hotdash/knowledge';

const DOCS = Number(process.env.BENCH_DOCS ?? 200);
const DOC_KB = Number(process.env.BENCH_DOC_KB ?? 20);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 4);
const DIMS = Number(process.env.BENCH_DIMS ?? process.env.HOTDASH_EMBEDDING_DIMENSIONS ?? 384);

const config = loadConfig();
const embedder = new LocalEmbedder(DIMS);
const COLLECTION = `BenchIngest_${Date.now().toString(36)}`;
let interrupted = false;

// ------------------------------------------------------------------ documents

const TOPICS = ['refund', 'shipping', 'warranty', 'invoice', 'account', 'password', 'delivery', 'return', 'exchange', 'subscription', 'discount', 'payment'];
const WORDS = (
  'the a customer order our we you can will must within days business policy item items product store online support team request ' +
  'label receipt tracking number address email phone card bank transfer credit balance fee free standard express carrier parcel ' +
  'damaged missing wrong size colour replacement repair original packaging unused condition proof purchase date period eligible ' +
  'contact form chat hours weekday weekend holiday region country tax duty customs plan monthly yearly cancel renew upgrade'
).split(' ');

/** Document d: ~DOC_KB KB of Markdown, the same every run (a linear congruential sequence seeded by d). */
function markdown(d: number): { title: string; text: string } {
  let s = (d + 1) * 2_654_435_761;
  const next = (n: number) => {
    s = (Math.imul(s, 1_103_515_245) + 12_345) >>> 0;
    return (s >>> 8) % n;
  };
  const sentence = () => {
    const w = Array.from({ length: 8 + next(14) }, () => WORDS[next(WORDS.length)]!);
    return `${w[0]!.charAt(0).toUpperCase()}${w.join(' ').slice(1)}.`;
  };
  const topic = TOPICS[d % TOPICS.length]!;
  const title = `${topic.charAt(0).toUpperCase()}${topic.slice(1)} guide ${d}`;
  const parts = [`# ${title}`];
  for (let section = 1; parts.join('\n\n').length < DOC_KB * 1024; section++) {
    parts.push(`## ${topic} ${section}`);
    parts.push(Array.from({ length: 3 + next(5) }, sentence).join(' '));
    if (next(3) === 0) parts.push(Array.from({ length: 3 + next(4) }, () => `- ${sentence()}`).join('\n'));
    parts.push(Array.from({ length: 2 + next(4) }, sentence).join(' '));
  }
  return { title, text: parts.join('\n\n') };
}

// ------------------------------------------------------------------ paths

const median = (xs: readonly number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
const bytes = (s: string) => new TextEncoder().encode(s);

type Path = 'a' | 'b' | 'c';

async function main(client: WeaviateClient, store: WeaviateVectorStore): Promise<void> {
  const docs = Array.from({ length: DOCS }, (_, d) => ({ id: randomUUID(), ...markdown(d) }));
  const sizes = docs.map((d) => d.text.length);
  console.log(`${DOCS} Markdown documents, ${(sizes.reduce((x, y) => x + y, 0) / DOCS / 1024).toFixed(1)} KB on average; ${DIMS} dimensions; collection ${COLLECTION}`);
  await store.ensureCollection();
  const collection = client.collections.use(COLLECTION);
  const serverSeconds: number[] = [];
  const callSeconds: number[] = [];

  const paths: Record<Path, (tenantId: TenantId, doc: (typeof docs)[number]) => Promise<number>> = {
    a: async (tenantId, doc) =>
      (await indexDocument({ tenantId, documentId: doc.id, version: 1, title: doc.title, type: 'text/markdown', bytes: bytes(doc.text) }, { embedder, vectors: store }, () => undefined)).chunks,
    b: async (tenantId, doc) => {
      const passages = chunkText((await extractText('text/markdown', bytes(doc.text))).text);
      const { vectors } = await embedder.embed(passages.map((p) => `${doc.title}\n\n${p}`));
      const c0 = performance.now();
      const result = await collection.withTenant(tenantId).data.insertMany(
        passages.map((text, i) => ({
          id: chunkId(tenantId, doc.id, 1, i),
          vectors: vectors[i]!,
          properties: { documentId: doc.id, chunkIndex: i, text, title: doc.title, sourceVersion: 1 },
        })),
      );
      callSeconds.push((performance.now() - c0) / 1000);
      serverSeconds.push(result.elapsedSeconds);
      if (result.hasErrors) throw new Error(`b: ${Object.keys(result.errors).length} chunks not written: ${Object.values(result.errors)[0]?.message}`);
      return passages.length;
    },
    c: async (_tenantId, doc) => {
      const passages = chunkText((await extractText('text/markdown', bytes(doc.text))).text);
      await embedder.embed(passages.map((p) => `${doc.title}\n\n${p}`));
      return passages.length;
    },
  };

  /** All documents through one path into a fresh tenant, CONCURRENCY at once: chunks/s. */
  async function runPath(path: Path, round: number): Promise<{ rate: number; chunks: number; seconds: number }> {
    const tenantId = parseTenantId(randomUUID());
    if (path === 'a') await store.createTenant(tenantId);
    if (path === 'b') await collection.tenants.create([{ name: tenantId }]);
    let next = 0;
    let chunks = 0;
    const t0 = performance.now();
    const settled = await Promise.allSettled(
      Array.from({ length: CONCURRENCY }, async () => {
        for (let d = next++; d < DOCS && !interrupted; d = next++) {
          const n = await paths[path](tenantId, docs[d]!);
          chunks += n;
        }
      }),
    );
    const seconds = (performance.now() - t0) / 1000;
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) throw failed.reason;
    if (interrupted) throw new Error('interrupted');
    if (path !== 'c') {
      const stored = await store.countObjects(tenantId);
      if (stored !== chunks) throw new Error(`${path}: ${stored} chunks stored, ${chunks} expected`);
    }
    console.log(`round ${round + 1} ${path}: ${chunks} chunks in ${seconds.toFixed(1)} s, ${(chunks / seconds).toFixed(0)} chunks/s`);
    return { rate: chunks / seconds, chunks, seconds };
  }

  await runPath('c', -1); // warm-up: JIT, marked, the embedder
  const rates: Record<Path, number[]> = { a: [], b: [], c: [] };
  let chunksPerRun = 0;
  for (let round = 0; round < ROUNDS; round++) {
    for (const path of (round % 2 ? ['c', 'b', 'a'] : ['a', 'b', 'c']) as Path[]) {
      const r = await runPath(path, round);
      rates[path].push(r.rate);
      chunksPerRun = r.chunks;
    }
  }

  console.log(`\n${DOCS} documents (${chunksPerRun} chunks) per path per round, ${ROUNDS} rounds, ${CONCURRENCY} documents in flight, ${DIMS} dims; medians`);
  console.log('| path | chunks/s (median) | min | max |\n|---|---:|---:|---:|');
  const label: Record<Path, string> = { a: 'a indexDocument → WeaviateVectorStore', b: 'b chunk + embed + raw insertMany', c: 'c chunk + embed only (no writes)' };
  for (const p of ['a', 'b', 'c'] as Path[]) console.log(`| ${label[p]} | ${median(rates[p]).toFixed(0)} | ${Math.min(...rates[p]).toFixed(0)} | ${Math.max(...rates[p]).toFixed(0)} |`);
  console.log(
    `b's insertMany: median ${(median(callSeconds) * 1000).toFixed(0)} ms per call as the caller sees it, ${(median(serverSeconds) * 1000).toFixed(0)} ms in the gRPC request (the client's elapsedSeconds)`,
  );
  console.log(`a/b ${(median(rates.a) / median(rates.b)).toFixed(2)}×`);
}

async function start(): Promise<void> {
  const url = new URL(config.weaviate.url);
  const client = await weaviate.connectToCustom({ httpHost: url.hostname, httpPort: Number(url.port), grpcHost: url.hostname, grpcPort: config.weaviate.grpcPort, timeout: { insert: 60 } });
  const store = WeaviateVectorStore.fromConfig(config, { collection: COLLECTION });
  // Ctrl-C: the paths stop taking documents, their writes settle, then the collection goes.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => (interrupted = true));
  const code = await main(client, store).then(
    () => 0,
    (err: unknown) => (console.error(err), 1),
  );
  const removed = await client.collections.delete(COLLECTION).then(
    () => `deleted ${COLLECTION}`,
    (err: Error) => `could not delete ${COLLECTION}: ${err.message}`,
  );
  console.log(removed);
  await Promise.all([store.close(), client.close()]);
  process.exit(code);
}

void start();
