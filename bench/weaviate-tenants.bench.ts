/**
 * Weaviate at 10,000 tenants (issue 15, item 5): a tenant's namespace creation and its first query
 * at 1,000, 5,000 and 10,000 tenants (target: at 10,000 within 1.5× of 1,000), Weaviate's open
 * files and idle CPU at each level, against the settings before issue 15, in the same run.
 *
 *   scripts/run node -r @swc-node/register bench/weaviate-tenants.bench.ts
 *   BENCH_LEVELS=500,1000 BENCH_OLD_LEVEL=500 BENCH_SAMPLES=12 BENCH_ROUNDS=3 scripts/run node -r @swc-node/register bench/weaviate-tenants.bench.ts   # quick check
 *
 * Three weaviate-server processes of the bench's own (libs/testing startWeaviate: the binary
 * deploy/local built, its settings, GOMAXPROCS=2 as deploy/local, free loopback ports, scratch data
 * folders removed at the end), so the shared server on 18080 is untouched and nothing else's
 * tenants skew the counts; side by side, so that every level is measured at the same moments of a
 * machine other sessions share (rounds rotate through the servers: the ratios are taken per round):
 *
 *   old   the settings before issue 15, at BENCH_OLD_LEVEL (1,000) tenants: automatic tenant
 *         activation off, tenants created ACTIVE one at a time (what createTenant sent then), each
 *         written to (so loaded: its shard open) and never put to rest. Every loaded tenant keeps
 *         ~11 files open and a server may open 20,000 here: 10,000 cannot be run this way (the
 *         bench extrapolates its open files, labelled so).
 *   base  the project's WeaviateVectorStore at the first level (1,000): ensureCollection (automatic
 *         tenant activation on), namespaces created INACTIVE in batches of 100 (createTenants),
 *         each written to through upsertChunks (Weaviate activates it), and put to rest by the
 *         project's IdleTenantSweep (idle time 1 ms here: every tenant has been used and is idle,
 *         the state the knowledge service's sweep keeps a real server in with its 10 minutes).
 *   big   the same, loaded to each further level in turn (5,000, then 10,000) and measured there.
 *
 * Measured per server at each level of big: open files (entries of /proc/<pid>/fd; sockets among
 * them), RSS, CPU while idle for BENCH_IDLE_S seconds (all servers in the same window: cores of
 * utime+stime per second, /proc/<pid>/stat); then BENCH_ROUNDS rounds, each taking BENCH_SAMPLES /
 * BENCH_ROUNDS samples from every server (order rotating). A sample:
 *   - namespace creation: what the sign-up step calls, ensureCollection() + createTenant() of a new
 *     tenant (old: the pre-issue-15 calls: does the collection exist, its config, create ACTIVE);
 *   - its first write (BENCH_CHUNKS chunks through upsertChunks);
 *   - first query: a hybrid search (retrieval's query) in a random earlier tenant, which is at rest
 *     on base and big (the query waits for Weaviate to load it) and loaded on old;
 *   - a warm query right after, in the same tenant.
 * Reported: p50 / p95 / max per server and level; big vs base: the ratio of the pooled p50s and
 * the median of the per-round p50 ratios (target at 10,000: ≤ 1.5×); base vs old at 1,000.
 *
 * Time bound: BENCH_MAX_MINUTES (20). A level whose loading would end past it (projected from the
 * loading rate so far) is not run, and says so. Ctrl-C stops loading and cleans up. Clean-up (also
 * on failure or Ctrl-C): the servers stopped and their data folders removed (every collection and
 * tenant the bench made is in them; checked and printed).
 *
 * Env: BENCH_LEVELS (1000,5000,10000), BENCH_OLD_LEVEL (1000; 0 skips old), BENCH_SAMPLES (40 per
 * server and level), BENCH_ROUNDS (4), BENCH_CHUNKS (3 per tenant), BENCH_DIMS (64), BENCH_IDLE_S
 * (10), BENCH_LOAD_CONCURRENCY (16 tenants written at once), BENCH_MAX_MINUTES (20).
 */
import { randomUUID } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import weaviate, { type WeaviateClient } from 'weaviate-client';
import { parseTenantId, type TenantId } from '@hotdash/contracts';
import { IdleTenantSweep, type KnowledgeChunk, knowledgeCollectionConfig, MemoryTenantActivityLog, WeaviateVectorStore } from '@hotdash/platform-vector';
import { startWeaviate, type WeaviateProcess } from '@hotdash/testing';

const LEVELS = (process.env.BENCH_LEVELS ?? '1000,5000,10000').split(',').map(Number);
const OLD_LEVEL = Number(process.env.BENCH_OLD_LEVEL ?? 1_000);
const SAMPLES = Number(process.env.BENCH_SAMPLES ?? 40);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 4);
const CHUNKS = Number(process.env.BENCH_CHUNKS ?? 3);
const DIMS = Number(process.env.BENCH_DIMS ?? 64);
const IDLE_S = Number(process.env.BENCH_IDLE_S ?? 10);
const LOAD_CONCURRENCY = Number(process.env.BENCH_LOAD_CONCURRENCY ?? 16);
const MAX_MINUTES = Number(process.env.BENCH_MAX_MINUTES ?? 20);
const COLLECTION = 'KnowledgeChunk';
const CLK_TCK = 100; // USER_HZ on Linux

const started = Date.now();
const deadline = started + MAX_MINUTES * 60_000;
let interrupted = false;
const minutes = () => ((Date.now() - started) / 60_000).toFixed(1);

// ---------------------------------------------------------------- data

let seed = 42;
const random = (): number => {
  // mulberry32: the same data every run
  seed = (seed + 0x6d2b79f5) | 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const WORDS = ['refund', 'shipping', 'warranty', 'invoice', 'password', 'returns', 'delivery', 'exchange', 'order', 'account', 'billing', 'support', 'parcel', 'label', 'store', 'hours'];
const sentence = (n: number) => Array.from({ length: n }, () => WORDS[Math.floor(random() * WORDS.length)]).join(' ');
const vector = () => Array.from({ length: DIMS }, () => random() - 0.5);
const chunksOf = (documentId: string): KnowledgeChunk[] =>
  Array.from({ length: CHUNKS }, (_, i) => ({ id: randomUUID(), vector: vector(), documentId, chunkIndex: i, text: sentence(30), title: sentence(3), sourceVersion: 1 }));
const newTenant = (): TenantId => parseTenantId(randomUUID());

// ---------------------------------------------------------------- a server's process

const openFiles = (pid: number) => readdirSync(`/proc/${pid}/fd`).length;
function sockets(pid: number): number {
  let n = 0;
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      if (readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith('socket:')) n++;
    } catch {
      // closed meanwhile
    }
  }
  return n;
}
function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]); // utime, stime
}
const rssMiB = (pid: number) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? Number.NaN) / 1024;
const nofile = (pid: number) => /Max open files\s+(\S+)/.exec(readFileSync(`/proc/${pid}/limits`, 'utf8'))?.[1] ?? '?';

// ---------------------------------------------------------------- stats

const quantile = (xs: number[], p: number) => {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))]!;
};
const median = (xs: number[]) => {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};
const fmt = (ms: number) => (Number.isNaN(ms) ? '–' : ms >= 100 ? ms.toFixed(0) : ms.toFixed(1));
const summary = (xs: number[]) => `${fmt(quantile(xs, 0.5))} / ${fmt(quantile(xs, 0.95))} / ${fmt(Math.max(...xs))}`;

type Metric = 'create' | 'createTenant' | 'firstWrite' | 'firstQuery' | 'warmQuery';
const METRICS: Metric[] = ['create', 'createTenant', 'firstWrite', 'firstQuery', 'warmQuery'];

// ---------------------------------------------------------------- servers

interface Server {
  label: 'old' | 'base' | 'big';
  w: WeaviateProcess;
  client: WeaviateClient;
  store: WeaviateVectorStore;
  tenants: TenantId[];
  /** Creates `ids` while loading (not timed). */
  createMany(ids: TenantId[]): Promise<void>;
  /** The sign-up step's namespace creation of one tenant (timed); returns the ms of its createTenant call alone. */
  createOne(id: TenantId): Promise<number>;
  /** After writes: what keeps the server's load bounded (the sweep; nothing on old). */
  settle(): Promise<void>;
  /** Samples of the current level, one array per round. */
  samples: Record<Metric, number[][]>;
}

async function startServer(label: Server['label']): Promise<Server> {
  const w = await startWeaviate({ name: `bench-${label}`, env: { GOMAXPROCS: '2' }, readyTimeoutMs: 120_000 });
  try {
    return await prepare(label, w);
  } catch (err) {
    await w.stop();
    throw err;
  }
}

async function prepare(label: Server['label'], w: WeaviateProcess): Promise<Server> {
  const url = new URL(w.url);
  const client = await weaviate.connectToCustom({ httpHost: url.hostname, httpPort: Number(url.port), grpcHost: url.hostname, grpcPort: w.grpcPort, timeout: { init: 30, query: 120, insert: 120 } });
  const activity = new MemoryTenantActivityLog();
  const store = new WeaviateVectorStore({ url: w.url, grpcPort: w.grpcPort, collection: COLLECTION, timeoutMs: 120_000, activity, touchEveryMs: 1 });
  const samples = () => Object.fromEntries(METRICS.map((m) => [m, [] as number[][]])) as Record<Metric, number[][]>;
  if (label !== 'old') {
    await store.ensureCollection();
    const sweep = new IdleTenantSweep(store, activity, { idleMs: 1, minActiveMs: 1, maxActive: 1, maxPerRun: 1_000_000 });
    return {
      label,
      w,
      client,
      store,
      tenants: [],
      samples: samples(),
      createMany: (ids) => store.createTenants(ids),
      createOne: async (id) => {
        await store.ensureCollection();
        const t = performance.now();
        await store.createTenant(id);
        return performance.now() - t;
      },
      settle: async () => {
        await new Promise((r) => setTimeout(r, 20)); // uses are recorded asynchronously
        await sweep.runOnce();
      },
    };
  }
  // Exactly what ensureCollection created before issue 15.
  await client.collections.create(knowledgeCollectionConfig(COLLECTION, { autoTenantActivation: false }));
  const collection = client.collections.use(COLLECTION);
  // The pre-issue-15 createTenant: one tenant per request, ACTIVE (the default).
  const createOld = (id: TenantId) => collection.tenants.create([{ name: id }]).then(() => undefined);
  return {
    label,
    w,
    client,
    store,
    tenants: [],
    samples: samples(),
    createMany: async (ids) => {
      for (const id of ids) await createOld(id);
    },
    createOne: async (id) => {
      // The pre-issue-15 ensureCollection on an existing collection: does it exist, read its config.
      if (!(await client.collections.exists(COLLECTION))) throw new Error('the collection is gone');
      await collection.config.get();
      const t = performance.now();
      await createOld(id);
      return performance.now() - t;
    },
    settle: async () => undefined,
  };
}

/** Creates tenants up to `level` (batches of 100), writes to each, settles every 500 tenants. Returns tenants/s. */
async function load(s: Server, level: number): Promise<number> {
  const t0 = performance.now();
  const before = s.tenants.length;
  while (s.tenants.length < level && !interrupted) {
    const ids = Array.from({ length: Math.min(500, level - s.tenants.length) }, newTenant);
    for (let i = 0; i < ids.length; i += 100) await s.createMany(ids.slice(i, i + 100));
    let next = 0;
    await Promise.all(
      Array.from({ length: LOAD_CONCURRENCY }, async () => {
        while (next < ids.length && !interrupted) {
          const id = ids[next++]!;
          await s.store.upsertChunks(id, chunksOf(`doc-${id}`));
        }
      }),
    );
    s.tenants.push(...ids);
    await s.settle();
  }
  const rate = ((s.tenants.length - before) / (performance.now() - t0)) * 1_000;
  console.log(`  ${s.label}: ${s.tenants.length} tenants loaded (${rate.toFixed(0)} tenants/s, ${minutes()} min)`);
  return rate;
}

async function sample(s: Server, round: number): Promise<void> {
  const push = (m: Metric, v: number) => (s.samples[m][round] ??= []).push(v);
  // A new tenant: the sign-up step, then its first write.
  const id = newTenant();
  let t = performance.now();
  push('createTenant', await s.createOne(id));
  push('create', performance.now() - t);
  t = performance.now();
  await s.store.upsertChunks(id, chunksOf(`doc-${id}`));
  push('firstWrite', performance.now() - t);
  s.tenants.push(id);
  // An earlier tenant, at rest (base, big) or loaded long ago (old): its first query, then a warm one.
  const older = s.tenants[Math.floor(random() * (s.tenants.length - 1))]!;
  const query = { text: sentence(4), vector: vector(), limit: 5 };
  t = performance.now();
  const hits = await s.store.hybridSearch(older, query);
  push('firstQuery', performance.now() - t);
  if (hits.length === 0) throw new Error(`${s.label}: no hits in ${older}: its data is gone`);
  t = performance.now();
  await s.store.hybridSearch(older, { ...query, text: sentence(4) });
  push('warmQuery', performance.now() - t);
  await s.settle();
}

interface Row {
  label: string;
  tenants: number;
  active: number;
  files: number;
  sockets: number;
  rss: number;
  idle: number;
  samples: Record<Metric, number[][]>;
}

async function measureLevel(servers: Server[]): Promise<Row[]> {
  for (const s of servers) {
    await s.settle();
    s.samples = Object.fromEntries(METRICS.map((m) => [m, [] as number[][]])) as Record<Metric, number[][]>;
  }
  const ticks = servers.map((s) => cpuTicks(s.w.pid));
  const w0 = performance.now();
  await new Promise((r) => setTimeout(r, IDLE_S * 1_000));
  const seconds = (performance.now() - w0) / 1_000;
  const rows = await Promise.all(
    servers.map(async (s, i) => ({
      label: s.label,
      tenants: s.tenants.length,
      active: [...(await s.store.tenantStatuses()).values()].filter((x) => x === 'ACTIVE').length,
      files: openFiles(s.w.pid),
      sockets: sockets(s.w.pid),
      rss: rssMiB(s.w.pid),
      idle: (cpuTicks(s.w.pid) - ticks[i]!) / CLK_TCK / seconds,
      samples: s.samples,
    })),
  );
  const perRound = Math.max(1, Math.round(SAMPLES / ROUNDS));
  for (let round = 0; round < ROUNDS && !interrupted; round++) {
    // Rotate the order, so that no server is always first after the pause.
    const order = servers.map((_, i) => servers[(i + round) % servers.length]!);
    for (const s of order) for (let k = 0; k < perRound && !interrupted; k++) await sample(s, round);
  }
  return rows;
}

function printLevel(rows: Row[]): void {
  console.log('\n| server | tenants | active | open files (sockets) | RSS (MiB) | idle CPU (cores) | namespace creation p50 / p95 / max (ms) | first write | first query (tenant at rest) | warm query |');
  console.log('|---|---:|---:|---:|---:|---:|---|---|---|---|');
  for (const r of rows) {
    const all = (m: Metric) => r.samples[m].flat();
    console.log(
      `| ${r.label} | ${r.tenants.toLocaleString('en')} | ${r.active.toLocaleString('en')} | ${r.files.toLocaleString('en')} (${r.sockets}) | ${r.rss.toFixed(0)} | ${r.idle.toFixed(2)} | ${summary(all('create'))} | ${summary(all('firstWrite'))} | ${summary(all('firstQuery'))} | ${summary(all('warmQuery'))} |`,
    );
  }
  const by = (label: string) => rows.find((r) => r.label === label);
  const ratio = (a: Row, b: Row, m: Metric) => {
    const pooled = median(a.samples[m].flat()) / median(b.samples[m].flat());
    const rounds = a.samples[m].map((xs, i) => median(xs) / median(b.samples[m][i] ?? [])).filter((x) => Number.isFinite(x));
    return { pooled, perRound: median(rounds), rounds };
  };
  const big = by('big');
  const base = by('base');
  if (big && base) {
    const parts = (['create', 'firstQuery'] as const).map((m) => {
      const r = ratio(big, base, m);
      return `${m === 'create' ? 'creation' : 'first query'} p50 ${r.pooled.toFixed(2)}× (median of rounds ${r.perRound.toFixed(2)}×: ${r.rounds.map((x) => x.toFixed(2)).join(', ')}; target ≤ 1.5×: ${r.pooled <= 1.5 ? 'met' : 'MISSED'})`;
    });
    console.log(`big ${big.tenants.toLocaleString('en')} vs base ${base.tenants.toLocaleString('en')}: ${parts.join('; ')}; p95 creation ${(quantile(big.samples.create.flat(), 0.95) / quantile(base.samples.create.flat(), 0.95)).toFixed(2)}×, first query ${(quantile(big.samples.firstQuery.flat(), 0.95) / quantile(base.samples.firstQuery.flat(), 0.95)).toFixed(2)}×; of the creation, the createTenant request alone p50 ${fmt(median(big.samples.createTenant.flat()))} vs ${fmt(median(base.samples.createTenant.flat()))} ms (${ratio(big, base, 'createTenant').pooled.toFixed(2)}×)`);
  }
  const old = by('old');
  if (old && base) {
    const c = ratio(base, old, 'create');
    const f = ratio(base, old, 'firstQuery');
    console.log(`base vs old at ${old.tenants.toLocaleString('en')}: open files ${base.files} vs ${old.files} (${(base.files / old.files).toFixed(2)}×), idle CPU ${base.idle.toFixed(2)} vs ${old.idle.toFixed(2)} cores, creation p50 ${c.pooled.toFixed(2)}×, first query p50 ${f.pooled.toFixed(2)}× (a query that loads the tenant vs one already loaded)`);
  }
}

async function main(servers: Server[]): Promise<void> {
  const [old, base, big] = [servers.find((s) => s.label === 'old'), servers.find((s) => s.label === 'base')!, servers.find((s) => s.label === 'big')!];
  const filesAtStart = openFiles(base.w.pid);
  console.log(
    `servers: ${servers.map((s) => `${s.label} pid ${s.w.pid} (open-files limit ${nofile(s.w.pid)})`).join(', ')}; levels ${LEVELS.join(', ')}, old at ${OLD_LEVEL || 'none'}; ${SAMPLES} samples per server and level in ${ROUNDS} rounds; ${CHUNKS} chunks of ${DIMS} dims a tenant; bound ${MAX_MINUTES} min`,
  );
  if (old) await load(old, OLD_LEVEL);
  await load(base, LEVELS[0]!);
  let rate = Number.NaN;
  for (const level of LEVELS.slice(1)) {
    if (interrupted) break;
    const projected = Number.isNaN(rate) ? 0 : ((level - big.tenants.length) / rate) * 1_000 + IDLE_S * 1_000 + SAMPLES * servers.length * 150;
    if (Date.now() + projected > deadline) {
      console.log(`level ${level} not run: ~${Math.ceil(projected / 60_000)} min more at ${rate.toFixed(0)} tenants/s would pass the ${MAX_MINUTES}-minute bound`);
      break;
    }
    rate = await load(big, level);
    printLevel(await measureLevel(servers));
    console.log(`(level ${level} measured at ${minutes()} min)`);
  }
  if (old) {
    const perTenant = (openFiles(old.w.pid) - filesAtStart) / old.tenants.length;
    console.log(`old: ${perTenant.toFixed(1)} open files per loaded tenant → 10,000 loaded tenants would hold ~${Math.round(filesAtStart + perTenant * 10_000).toLocaleString('en')} files (extrapolated, not run: the limit here is ${nofile(old.w.pid)})`);
  }
  console.log(`total ${minutes()} min`);
}

async function start(): Promise<void> {
  const interrupt = () => {
    console.error('interrupted: stopping, then removing the bench servers and their data');
    interrupted = true;
  };
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);
  const servers: Server[] = [];
  let code = 0;
  try {
    for (const label of [...(OLD_LEVEL > 0 ? (['old'] as const) : []), 'base', 'big'] as const) servers.push(await startServer(label));
    await main(servers);
  } catch (err) {
    console.error(err);
    code = 1;
  } finally {
    await Promise.all(
      servers.map(async (s) => {
        const t = performance.now();
        await s.store.close().catch(() => undefined);
        await s.client.close().catch(() => undefined);
        await s.w.stop(); // the data folder (every collection and tenant of the run) goes with it
        console.log(`${s.label}: server stopped, data folder ${existsSync(s.w.dataDir) ? `STILL THERE: ${s.w.dataDir}` : 'removed'} (${((performance.now() - t) / 1_000).toFixed(1)} s)`);
      }),
    );
  }
  process.exit(code);
}

void start();
