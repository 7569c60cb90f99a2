// Ticket → draft in embedded mode (issue 18): the whole platform in one Node process (apps/embedded:
// PGlite, the in-process bus, the embedded job runner, LanceDB), BENCH_RATE tickets a second
// round-robin over BENCH_TENANTS tenants until BENCH_TICKETS tickets; the same steps on the stack as
// the baseline, in the same run, for a shorter span.
//
//   scripts/run node -r @swc-node/register bench/embedded-ticket-to-draft.bench.ts
//
// Both paths enter where bench/ticket-to-draft.bench.ts enters the stack: POST /internal/tickets on
// the drafts service with an internal token as the gateway mints it (the embedded process serves
// every service on its own loopback port), so the ratio compares the same route; each ticket with an
// externalId, sent again after Retry-After when answered 503 (BENCH_RETRIES, 5), as a customer channel
// would, its latency still counted from its first due time. Latency: from the
// ticket's due time on the arrival schedule (no coordinated omission: a path that keeps the bench
// from sending on time is charged the delay) to the drafts service's commit of the pending draft
// (tickets.updated_at, same host clock).
//
// a  stack (baseline, after b): BENCH_BASELINE_TICKETS (1,000) tickets at the same rate over as many
//    tenants, with the services bench/ticket-to-draft.bench.ts starts (drafts, ai-drafting, relay;
//    here on free ports): tenants from createAccount, 10 passages each in Weaviate, the drafting
//    profile published; PostgreSQL, Kafka, BullMQ on Redis, Weaviate. The services stop after it.
//    Another session's drafts or ai-drafting services would share their Kafka groups and BullMQ
//    queue: the baseline waits for those to end (BENCH_WAIT_OTHERS_S, 1,200 s), or is skipped.
// b  embedded: apps/embedded in a temporary folder on random ports (libs/testing embeddedRun; the
//    stack's stores out of reach), its tenants signed up through the provisioning service (the
//    saga, as the gateway's POST /signup passes it on, without the gateway's per-address limit) with
//    one knowledge document each (10 sections, indexed into LanceDB by the knowledge service). One
//    warm-up ticket per tenant, not counted. Then BENCH_TICKETS tickets; p50/p99 per 1,000 tickets
//    as each block's drafts are in, and the process's memory at every 1,000 tickets sent: VmRSS
//    (/proc/<pid>/status), and the V8 heap and external memory (PGlite's WebAssembly memory is an
//    ArrayBuffer: external) from process.memoryUsage() inside the process, read through
//    bench/lib/memory-probe.cjs (asked through a file); at 1,000 and at BENCH_TICKETS tickets (the
//    growth's two ends) and once idle after the last draft, after a full GC (--expose-gc), so the
//    heap is what the process holds (the collection pauses the process: 0.1–1.3 s seen, which lands in
//    those two blocks' latencies); at the other samples as it is (no pause). Growth: the figure at
//    BENCH_TICKETS over the one at 1,000. The process's CPU (/proc/<pid>/stat, every thread) per
//    ticket between samples, its share of one core, and how much of the time its main thread (the
//    event loop, where PGlite runs) was on a CPU and runnable but waiting for one (/proc/<pid>/schedstat:
//    what the machine's other load takes from it).
//
// Env: BENCH_TENANTS (20), BENCH_RATE (20 tickets/s), BENCH_TICKETS (10,000), BENCH_BLOCK (1,000),
// BENCH_BASELINE_TICKETS (1,000; 0 skips the baseline; BENCH_TICKETS=0 runs the baseline alone),
// BENCH_POLL_MS (2,000: how often the bench reads which drafts are in), BENCH_GC=0 (never a forced GC: the heap as it is, no pause),
// BENCH_OUTPUT=<file>: the embedded process's output (its last 200 kB) written there at the end.
// BENCH_HEAP_SNAPSHOTS=<dir>: heap snapshots of the embedded process written there (after a GC) at
// BENCH_SNAPSHOT_AT tickets (default the first block and the last), to compare (they stay: delete them).
import { Client } from 'pg';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseTenantId, TenantId } from '@hotdash/contracts';
import { loadConfig } from '@hotdash/platform-config';
import { newId } from '@hotdash/platform-db';
import { LocalEmbedder } from '@hotdash/platform-models';
import { WeaviateVectorStore } from '@hotdash/platform-vector';
import { DraftingProfiles } from '@hotdash/ai-drafting';
import {
  ANONYMOUS,
  closedPort,
  type EmbeddedRun,
  embeddedQuery,
  embeddedRun,
  internalAuthorization,
  REPO_ROOT,
  type ServiceProcess,
  startProcess,
  startServices,
  stopEmbedded,
  tenantUser,
  TestWorld,
  waitFor,
} from '@hotdash/testing';
import { makeDraftingTenants, policyText, ticketText, TOPICS } from './lib/drafting-tenants';

const TENANTS = Number(process.env.BENCH_TENANTS ?? 20);
const RATE = Number(process.env.BENCH_RATE ?? 20);
const TICKETS = Number(process.env.BENCH_TICKETS ?? 10_000);
const BLOCK = Number(process.env.BENCH_BLOCK ?? 1_000);
const BASELINE_TICKETS = Number(process.env.BENCH_BASELINE_TICKETS ?? 1_000);
const POLL_MS = Number(process.env.BENCH_POLL_MS ?? 2_000);
const RETRIES = Number(process.env.BENCH_RETRIES ?? 5);
/** BENCH_HEAP_SNAPSHOTS=<dir>: heap snapshots of the embedded process there, at BENCH_SNAPSHOT_AT tickets (default: the first block and the end), to compare. */
const SNAPSHOTS = process.env.BENCH_HEAP_SNAPSHOTS;
const SNAPSHOT_AT = (process.env.BENCH_SNAPSHOT_AT ?? `${BLOCK},${TICKETS}`).split(',').filter(Boolean).map(Number);
const GC = process.env.BENCH_GC !== '0';
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim() || 100);

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] ?? NaN;
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));
const wallClock = (perf: number) => Date.now() - (performance.now() - perf);
const mb = (bytes: number) => (bytes / 1024 / 1024).toFixed(0);

function ticketBody(i: number) {
  const { name, email, subject, body } = ticketText(i);
  return { customer: { name, email }, subject, body };
}

/** The Authorization the gateway would send to `service` for the tenant's admin; internal tokens live 60 s, so each is reused for 30 s at most. */
const tokens = new Map<string, { auth: string; at: number }>();
async function authFor(service: string, t: TenantId): Promise<string> {
  const key = `${service}/${t}`;
  const cached = tokens.get(key);
  if (cached && Date.now() - cached.at < 30_000) return cached.auth;
  const auth = await internalAuthorization(service, tenantUser(t, 'admin'));
  tokens.set(key, { auth, at: Date.now() });
  return auth;
}

/** This run's tickets' externalId prefix (a retry answers with the ticket already made). */
const RUN = newId().slice(-12);

/**
 * Sends a ticket to a drafts service as a customer channel would: with its externalId, and again
 * after Retry-After (at most BENCH_RETRIES times) when the answer is 503 or the connection failed;
 * its id and the retries it took. Refusals are tallied by status and problem code.
 */
async function sendTicket(drafts: string, t: TenantId, i: number, label: string, refusals: Map<string, number>): Promise<{ id: string; retries: number }> {
  for (let attempt = 0; ; attempt++) {
    const res = await fetch(`${drafts}/internal/tickets`, {
      method: 'POST',
      headers: { authorization: await authFor('drafts', t), 'content-type': 'application/json' },
      body: JSON.stringify({ ...ticketBody(i), externalId: `${RUN}-${label}-${i}` }),
    }).catch((e: Error) => e);
    if (!(res instanceof Error) && (res.status === 201 || res.status === 200)) return { id: ((await res.json()) as { id: string }).id, retries: attempt };
    const text = res instanceof Error ? res.message : await res.text();
    const key = res instanceof Error ? `connection: ${res.message}` : `${res.status} ${(/"code":"([^"]+)"/.exec(text)?.[1] ?? text.slice(0, 80))}`;
    refusals.set(key, (refusals.get(key) ?? 0) + 1);
    const retryable = res instanceof Error || res.status === 503;
    if (!retryable || attempt >= RETRIES) throw new Error(`ticket refused: ${key}`);
    await sleep(res instanceof Error ? 1_000 : Number(res.headers.get('retry-after') ?? 2) * 1000);
  }
}

/**
 * One measured run: `total` tickets at `rate` a second, round-robin over `tenants`, sent to `drafts`.
 * `watch` reads which of the outstanding tickets (by tenant) are pending and when they became so.
 * `onSent(n)` is called after the n-th send was started (memory samples), `onBlock` when a block's
 * drafts are all in.
 */
async function measure(opts: {
  label: string;
  drafts: string;
  tenants: TenantId[];
  total: number;
  rate: number;
  watch: (outstanding: Map<TenantId, string[]>) => Promise<Map<string, number>>;
  onSent?: (n: number) => Promise<void> | void;
  onBlock?: (block: number, latencies: number[]) => void;
}): Promise<{ latencies: number[]; refused: number; retried: number; missing: number; lateSends: number }> {
  const { total, rate, tenants } = opts;
  /** ticket id → its index, tenant and due wall-clock time. */
  const sent = new Map<string, { i: number; t: TenantId; at: number }>();
  const outstanding = new Map<TenantId, Set<string>>(tenants.map((t) => [t, new Set()]));
  const latency: number[] = new Array<number>(total).fill(NaN);
  const blockDone = new Array<number>(Math.ceil(total / BLOCK)).fill(0);
  const blockSize = (b: number) => Math.min(BLOCK, total - b * BLOCK);
  let printedBlocks = 0;
  let refused = 0;
  let retried = 0;
  const refusals = new Map<string, number>();
  let lateSends = 0;
  let sending = true;
  let firstError: string | undefined;

  const record = (done: Map<string, number>) => {
    for (const [id, at] of done) {
      const s = sent.get(id);
      if (!s || !Number.isNaN(latency[s.i]!)) continue;
      latency[s.i] = at - s.at;
      outstanding.get(s.t)!.delete(id);
      blockDone[Math.floor(s.i / BLOCK)]!++;
    }
    while (printedBlocks < blockDone.length && blockDone[printedBlocks] === blockSize(printedBlocks)) {
      const b = printedBlocks++;
      opts.onBlock?.(b, latency.slice(b * BLOCK, b * BLOCK + blockSize(b)));
    }
  };
  const poll = async () => {
    const ids = new Map<TenantId, string[]>();
    for (const [t, set] of outstanding) if (set.size > 0) ids.set(t, [...set]);
    if (ids.size > 0) record(await opts.watch(ids));
  };
  // The watcher: every POLL_MS while sending, then until every draft is in (120 s past the last send at most).
  const watcher = (async () => {
    while (sending) {
      await sleep(POLL_MS);
      await poll();
    }
  })();

  const start = performance.now();
  const pending: Promise<void>[] = [];
  // Memory samples run beside the sending, one after another (the loop does not wait for them).
  let sampling: Promise<void> = Promise.resolve();
  for (let i = 0; i < total; i++) {
    const due = start + (i * 1000) / rate;
    await sleep(due - performance.now());
    if (performance.now() - due > 100) lateSends++;
    const t = tenants[i % tenants.length]!;
    pending.push(
      sendTicket(opts.drafts, t, i, opts.label.replace(/\W+/g, '-'), refusals).then(
        ({ id, retries }) => {
          if (retries > 0) retried++;
          sent.set(id, { i, t, at: wallClock(due) });
          outstanding.get(t)!.add(id);
        },
        (e: Error) => {
          refused++;
          firstError ??= e.message;
        },
      ),
    );
    const onSent = opts.onSent;
    if ((i + 1) % BLOCK === 0 && onSent) sampling = sampling.then(() => onSent(i + 1));
  }
  await Promise.all(pending);
  await sampling;
  sending = false;
  await watcher;
  const deadline = Date.now() + 120_000;
  for (;;) {
    await poll();
    if ([...outstanding.values()].every((s) => s.size === 0) || Date.now() > deadline) break;
    await sleep(500);
  }
  if (refusals.size > 0) console.log(`[bench] ${opts.label}: answers other than 201: ${[...refusals].map(([k, n]) => `${n} × ${k}`).join('; ')}; ${retried} ticket(s) taken after a retry, ${refused} refused for good${firstError ? ` (${firstError})` : ''}`);
  const missing = [...outstanding.values()].reduce((n, s) => n + s.size, 0);
  if (missing > 0) console.log(`[bench] ${opts.label}: ${missing} ticket(s) got no draft within 120 s of the last send`);
  return { latencies: latency.filter((x) => !Number.isNaN(x)), refused, retried, missing, lateSends };
}

const blockLine = (label: string) => (b: number, xs: number[]) =>
  console.log(`[bench] ${label} tickets ${String(b * BLOCK + 1).padStart(6)}–${String(b * BLOCK + xs.length).padEnd(6)} p50 ${pct(xs, 50).toFixed(0).padStart(6)} ms   p99 ${pct(xs, 99).toFixed(0).padStart(6)} ms   max ${Math.max(...xs).toFixed(0).padStart(6)} ms`);

// ─── a: the stack (baseline) ──────────────────────────────────────────────────────────────────────

async function stackBaseline(): Promise<number[] | undefined> {
  if (BASELINE_TICKETS <= 0) return undefined;
  // Another drafts or ai-drafting service on the stack (another session's bench or spec) would share
  // the services' Kafka consumer groups and BullMQ queue with the baseline's: each would draft some
  // of the other's tickets. Wait for them to end (BENCH_WAIT_OTHERS_S, 1,200 s); still there, the
  // baseline is skipped (BENCH_TICKETS=0 runs it alone later).
  const waitUntil = Date.now() + Number(process.env.BENCH_WAIT_OTHERS_S ?? 1_200) * 1000;
  for (let others = otherServiceProcesses(), said = false; others.length > 0; others = otherServiceProcesses()) {
    if (Date.now() > waitUntil) {
      console.log(`[bench] a stack: skipped: drafts/ai-drafting processes this bench did not start still run (pids ${others.join(', ')}) and would share the baseline's consumer groups and queue; run it alone later with BENCH_TICKETS=0`);
      return undefined;
    }
    if (!said) console.log(`[bench] a stack: waiting for drafts/ai-drafting processes this bench did not start to end (pids ${others.join(', ')})`);
    said = true;
    await sleep(5_000);
  }
  const world = new TestWorld({ poolSize: 10 });
  const embedder = new LocalEmbedder(384);
  const vectors = WeaviateVectorStore.fromConfig(world.config);
  const profiles = new DraftingProfiles(world.tenantDb);
  const namespaces: TenantId[] = [];
  const tenants: TenantId[] = [];
  const shardDbs: string[] = [];
  let observers: Client[] = [];
  let processes: ServiceProcess[] = [];
  try {
    console.log(`[bench] a stack: ${TENANTS} tenants (createAccount, 10 passages each in Weaviate, the drafting profile published)`);
    const made = await makeDraftingTenants(world, vectors, embedder, TENANTS, namespaces);
    tenants.push(...made.tenants);
    shardDbs.push(...made.shardDbs);
    observers = await Promise.all(shardDbs.map((d) => world.connectSuperuser(d)));
    const [drafts, aiDrafting, relay] = [await closedPort(), await closedPort(), await closedPort()];
    const env = (name: string, port: number) => ({ [`HOTDASH_${name}_PORT`]: String(port), HOTDASH_METRICS_PORT: 'off' });
    processes = await startServices([
      { entry: 'apps/drafts/src/main.ts', env: env('DRAFTS', drafts), url: `http://127.0.0.1:${drafts}` },
      { entry: 'apps/ai-drafting/src/main.ts', env: env('AI_DRAFTING', aiDrafting), url: `http://127.0.0.1:${aiDrafting}` },
      { entry: 'apps/relay/src/main.ts', env: env('RELAY', relay), url: `http://127.0.0.1:${relay}` },
    ]);
    for (const t of tenants) await waitFor(`the drafting profile of ${t}`, async () => (await profiles.of(t)) !== undefined, 120_000, 200);
    const watch = async (outstanding: Map<TenantId, string[]>) => {
      const ids = [...outstanding.values()].flat();
      const done = new Map<string, number>();
      for (const c of observers) {
        const { rows } = await c.query<{ id: string; at: Date }>(`select id::text, updated_at as at from tickets where id = any($1::uuid[]) and status = 'pending'`, [ids]);
        for (const r of rows) done.set(r.id, r.at.getTime());
      }
      return done;
    };
    const url = `http://127.0.0.1:${drafts}`;
    // Warm-up: one ticket per tenant, not counted.
    await measure({ label: 'a stack warm-up', drafts: url, tenants, total: tenants.length, rate: RATE, watch });
    console.log(`[bench] a stack: ${BASELINE_TICKETS} tickets at ${RATE}/s, load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
    const r = await measure({ label: 'a stack', drafts: url, tenants, total: BASELINE_TICKETS, rate: RATE, watch, onBlock: blockLine('a stack   ') });
    const mine = new Set(processes.map((p) => p.child.pid));
    const intruders = otherServiceProcesses().filter((pid) => !mine.has(pid));
    if (intruders.length > 0) console.log(`[bench] a stack: WARNING: drafts/ai-drafting processes this bench did not start appeared during the baseline (pids ${intruders.join(', ')}): they shared its consumer groups and queue`);
    console.log(`[bench] a stack: ${r.latencies.length} drafts, p50 ${pct(r.latencies, 50).toFixed(0)} ms, p99 ${pct(r.latencies, 99).toFixed(0)} ms; retried ${r.retried}, refused ${r.refused}, no draft ${r.missing}, sends > 100 ms late ${r.lateSends}`);
    return r.latencies;
  } finally {
    await Promise.all(processes.map((p) => p.stop()));
    await Promise.all(observers.map((c) => c.end()));
    for (const t of namespaces) await vectors.deleteTenant(t).catch(() => undefined);
    await vectors.close();
    await world.close();
  }
}

/** Pids of drafts or ai-drafting service processes on this machine (called before the bench starts its own). */
function otherServiceProcesses(): number[] {
  const out: number[] = [];
  for (const pid of readdirPids()) {
    let cmd = '';
    try {
      cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    } catch {
      continue;
    }
    if (/apps\/(drafts|ai-drafting)\/src\/main\.ts/.test(cmd)) out.push(pid);
  }
  return out;
}

function readdirPids(): number[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map(Number);
}

// ─── b: embedded ──────────────────────────────────────────────────────────────────────────────────

interface MemorySample {
  tickets: number;
  /** CPU ms of the process so far (every thread). */
  cpuMs: number;
  /** The main thread's time on a CPU and waiting for one (runnable, on a run queue), ms so far (/proc/<pid>/schedstat). */
  mainRunMs: number;
  mainWaitMs: number;
  /** performance.now() of the sample. */
  at: number;
  collected: boolean;
  rssMb: number;
  heapMb: number;
  externalMb: number;
  arrayBuffersMb: number;
  gcMs: number | null;
}

/** VmRSS of the process, and its heap (after a full GC when on) through the memory probe. */
async function memorySample(pid: number, file: string, seq: number, tickets: number, gc: boolean, snapshot?: string): Promise<MemorySample> {
  const rssKb = Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN);
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const cpuMs = ((Number(f[11]) + Number(f[12])) * 1000) / CLK_TCK;
  const [runNs, waitNs] = readFileSync(`/proc/${pid}/schedstat`, 'utf8').trim().split(' ').map(Number);
  const at = performance.now();
  writeFileSync(`${file}.req`, `${seq}${(gc && GC) || snapshot ? ' gc' : ''}${snapshot ? ` ${snapshot}` : ''}`);
  const m = await waitFor('the memory probe', async () => {
    if (!existsSync(file)) return undefined;
    const r = JSON.parse(readFileSync(file, 'utf8')) as { seq: number; before: NodeJS.MemoryUsage; after: NodeJS.MemoryUsage | null; gcMs: number | null };
    return r.seq === seq ? r : undefined;
  }, snapshot ? 300_000 : 30_000, 20);
  const u = m.after ?? m.before;
  return { tickets, cpuMs, mainRunMs: runNs! / 1e6, mainWaitMs: waitNs! / 1e6, at, collected: m.after !== null, rssMb: rssKb / 1024, heapMb: u.heapUsed / 1048576, externalMb: u.external / 1048576, arrayBuffersMb: u.arrayBuffers / 1048576, gcMs: m.gcMs };
}

/** The embedded process on `run`, with the memory probe preloaded; ready when its gateway is. */
async function startMeasuredEmbedded(run: EmbeddedRun, memoryFile: string): Promise<ServiceProcess> {
  // BENCH_EMBEDDED_NODE_ARGS: more Node options for the embedded process (e.g. `--cpu-prof --cpu-prof-dir=<dir>`).
  const nodeArgs = [...(GC ? ['--expose-gc'] : []), '-r', join(REPO_ROOT, 'bench', 'lib', 'memory-probe.cjs'), ...(process.env.BENCH_EMBEDDED_NODE_ARGS ?? '').split(' ').filter(Boolean)];
  const proc = startProcess('apps/embedded/src/main.ts', { ...run.env, BENCH_MEMORY_FILE: memoryFile }, nodeArgs);
  const exited = new Promise<number | null>((resolve) => proc.child.once('exit', (code) => resolve(code)));
  await Promise.race([
    waitFor('the embedded gateway ready', async () => (await fetch(`${run.gateway}/health/ready`).catch(() => undefined))?.ok, 180_000, 200),
    exited.then((code) => {
      throw new Error(`the embedded process exited (${code}) before it was ready\n${proc.output().slice(-6_000)}`);
    }),
  ]);
  return proc;
}

async function embedded(): Promise<number[] | undefined> {
  if (TICKETS <= 0) return undefined;
  const dir = mkdtempSync(join(tmpdir(), 'hotdash-embedded-bench-'));
  const memoryFile = join(dir, 'memory.json');
  let proc: ServiceProcess | undefined;
  let observer: Client | undefined;
  let output: (() => string) | undefined;
  try {
    const run = await embeddedRun(dir);
    const port = (name: string) => `http://127.0.0.1:${run.env[`HOTDASH_${name}_PORT`]}`;
    console.log(`[bench] b embedded: starting apps/embedded in ${dir}`);
    const t0 = Date.now();
    proc = await startMeasuredEmbedded(run, memoryFile);
    output = proc.output;
    const pid = proc.child.pid!;
    console.log(`[bench] b embedded: ready in ${((Date.now() - t0) / 1000).toFixed(1)} s (pid ${pid})`);

    // Tenants: signed up (the provisioning saga), each with a knowledge document.
    const tenants: TenantId[] = [];
    const stamp = Date.now().toString(36);
    for (let i = 0; i < TENANTS; i++) {
      const slug = `bench-${stamp}-${i}`;
      const res = await fetch(`${port('PROVISIONING')}/tenants`, {
        method: 'POST',
        headers: { authorization: await internalAuthorization('provisioning', ANONYMOUS), 'content-type': 'application/json', 'idempotency-key': `signup-${slug}` },
        body: JSON.stringify({ name: `Bench org ${i}`, slug, plan: 'basic', admin: { email: `owner@${slug}.test` } }),
      });
      if (res.status !== 202) throw new Error(`sign-up ${slug}: ${res.status} ${await res.text()}`);
      tenants.push(parseTenantId(((await res.json()) as { tenantId: string }).tenantId));
    }
    await waitFor('every tenant active', async () => {
      const rows = await embeddedQuery<{ n: string }>(run, `select count(*)::text as n from tenants where id = any($1::uuid[]) and status = 'active'`, [tenants]);
      return Number(rows[0]?.n) === tenants.length;
    }, 300_000, 500);
    console.log(`[bench] b embedded: ${TENANTS} tenants active`);
    const docs: { t: TenantId; id: string }[] = [];
    for (const [i, t] of tenants.entries()) {
      const md = [`# Policies of tenant ${i}`, '', ...TOPICS.flatMap((topic, k) => [`## ${topic}`, '', policyText(topic, k, i), ''])].join('\n');
      const res = await fetch(`${port('KNOWLEDGE')}/internal/documents?title=Policies`, { method: 'POST', headers: { authorization: await authFor('knowledge', t), 'content-type': 'text/markdown' }, body: md });
      if (res.status !== 202) throw new Error(`document upload: ${res.status} ${await res.text()}`);
      docs.push({ t, id: ((await res.json()) as { id: string }).id });
    }
    for (const d of docs)
      await waitFor(`document ${d.id} indexed`, async () => {
        const r = await fetch(`${port('KNOWLEDGE')}/internal/documents/${d.id}`, { headers: { authorization: await authFor('knowledge', d.t) } });
        const state = ((await r.json()) as { state?: string }).state;
        if (state === 'failed') throw new Error(`document ${d.id} failed to index`);
        return state === 'indexed';
      }, 300_000, 500);
    console.log(`[bench] b embedded: ${TENANTS} documents indexed`);

    // The bench reads the pending drafts' commit times as the owner, per tenant (forced RLS).
    const shardDb = (await embeddedQuery<{ database: string }>(run, `select s.database from tenant_placements p join shards s on s.id = p.shard_id where p.tenant_id = $1`, [tenants[0]]))[0]!.database;
    const { owner } = loadConfig().db;
    observer = new Client({ host: '127.0.0.1', port: Number(run.env.HOTDASH_EMBEDDED_PG_PORT), user: owner.user, password: owner.password, database: shardDb });
    await observer.connect();
    const obs = observer;
    const watch = async (outstanding: Map<TenantId, string[]>) => {
      const done = new Map<string, number>();
      for (const [t, ids] of outstanding) {
        await obs.query(`select set_config('app.tenant_id', $1, false)`, [t]);
        const { rows } = await obs.query<{ id: string; at: Date }>(`select id::text, updated_at as at from tickets where id = any($1::uuid[]) and status = 'pending'`, [ids]);
        for (const r of rows) done.set(r.id, r.at.getTime());
      }
      return done;
    };
    const drafts = port('DRAFTS');
    await measure({ label: 'b embedded warm-up', drafts, tenants, total: tenants.length, rate: RATE, watch });
    console.log(`[bench] b embedded: warm-up done (one ticket per tenant)`);

    let seq = 0;
    const samples: MemorySample[] = [];
    const sample = async (n: number, gc = n === Math.min(BLOCK, TICKETS) || n === TICKETS, idle = false) => {
      const snapshot = SNAPSHOTS && SNAPSHOT_AT.includes(n) && !idle ? join(SNAPSHOTS, `embedded-${n}-${seq + 1}.heapsnapshot`) : undefined;
      if (snapshot) console.log(`[mem] heap snapshot at ${n} tickets: ${snapshot}`);
      const s = await memorySample(pid, memoryFile, ++seq, n, gc, snapshot).catch((e: Error) => {
      throw new Error(`${e.message}; the process's last output:\n${proc?.output().slice(-3_000)}`);
    });
      const prev = samples.at(-1);
      samples.push(s);
      const cpu = prev && n > prev.tickets ? `; CPU since ${prev.tickets}: ${((s.cpuMs - prev.cpuMs) / (n - prev.tickets)).toFixed(1)} ms/ticket, ${((100 * (s.cpuMs - prev.cpuMs)) / (s.at - prev.at)).toFixed(0)}% of a core; its main thread ran ${((100 * (s.mainRunMs - prev.mainRunMs)) / (s.at - prev.at)).toFixed(0)}% of the time and waited for a CPU ${((100 * (s.mainWaitMs - prev.mainWaitMs)) / (s.at - prev.at)).toFixed(0)}%` : '';
      console.log(`[mem] after ${String(n).padStart(6)} tickets sent: RSS ${mb(s.rssMb * 1048576)} MB, heap ${s.heapMb.toFixed(0)} MB, external ${s.externalMb.toFixed(0)} MB (array buffers ${s.arrayBuffersMb.toFixed(0)} MB)${s.collected ? ` after a GC of ${s.gcMs!.toFixed(0)} ms` : ' (no GC)'}${cpu}`);
    };
    await sample(0, true);
    console.log(`[bench] b embedded: ${TICKETS} tickets at ${RATE}/s over ${TENANTS} tenants (${(TICKETS / RATE / 60).toFixed(1)} min), load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
    const r = await measure({ label: 'b embedded', drafts, tenants, total: TICKETS, rate: RATE, watch, onSent: (n) => sample(n), onBlock: blockLine('b embedded') });
    await sample(TICKETS, true, true); // idle: every draft in
    samples[samples.length - 1]!.tickets = -1;
    console.log(`[bench] b embedded: ${r.latencies.length} drafts, p50 ${pct(r.latencies, 50).toFixed(0)} ms, p99 ${pct(r.latencies, 99).toFixed(0)} ms, max ${Math.max(...r.latencies).toFixed(0)} ms; retried ${r.retried}, refused ${r.refused}, no draft ${r.missing}, sends > 100 ms late ${r.lateSends}; load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);

    const at = (n: number) => samples.find((s) => s.tickets === n);
    const first = at(Math.min(BLOCK, TICKETS));
    const last = at(TICKETS);
    if (first && last && last !== first) {
      const ratio = (k: keyof MemorySample) => ((last[k] as number) / (first[k] as number)).toFixed(2);
      console.log(`[mem] growth ${first.tickets} → ${last.tickets} tickets: RSS ${ratio('rssMb')}× (${first.rssMb.toFixed(0)} → ${last.rssMb.toFixed(0)} MB), heap ${ratio('heapMb')}× (${first.heapMb.toFixed(0)} → ${last.heapMb.toFixed(0)} MB), external ${ratio('externalMb')}× (${first.externalMb.toFixed(0)} → ${last.externalMb.toFixed(0)} MB)`);
    }
    const idle = samples[samples.length - 1]!;
    console.log(`[mem] idle after the last draft: RSS ${idle.rssMb.toFixed(0)} MB, heap ${idle.heapMb.toFixed(0)} MB, external ${idle.externalMb.toFixed(0)} MB`);
    await observer.end();
    observer = undefined;
    const code = await stopEmbedded(proc, 60_000);
    proc = undefined;
    console.log(`[bench] b embedded: stopped (exit ${code})`);
    return r.latencies;
  } finally {
    await observer?.end().catch(() => undefined);
    if (process.env.BENCH_OUTPUT && output) writeFileSync(process.env.BENCH_OUTPUT, output());
    await proc?.kill();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  console.log(`[bench] ticket → draft: ${TENANTS} tenants, ${RATE} tickets/s; a stack ${BASELINE_TICKETS} tickets (baseline), b embedded ${TICKETS} tickets; ${TOPICS.length} passages per tenant; load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  // Embedded first: the baseline may have to wait for another session's drafts services to end.
  const b = await embedded();
  const a = await stackBaseline();
  console.log('');
  console.log('path           drafts   p50 ms   p99 ms   max ms');
  for (const [name, xs] of [
    ['a stack', a],
    ['b embedded', b],
  ] as const)
    if (xs && xs.length > 0) console.log(`${name.padEnd(12)} ${String(xs.length).padStart(8)} ${pct(xs, 50).toFixed(0).padStart(8)} ${pct(xs, 99).toFixed(0).padStart(8)} ${Math.max(...xs).toFixed(0).padStart(8)}`);
  if (a && a.length > 0 && b && b.length > 0) console.log(`\nratio b/a p99 (embedded / stack): ${(pct(b, 99) / pct(a, 99)).toFixed(2)}×`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
