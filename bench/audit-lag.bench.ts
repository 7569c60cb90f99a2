/**
 * The audit log keeps up: the audit service's append throughput over BENCH_TENANTS (10) tenants
 * against the gateway's maximum authenticated request rate, in one run, and the lag from an access
 * entry's commit to its audit entry while entries arrive at that rate.
 *
 *   scripts/run node -r @swc-node/register bench/audit-lag.bench.ts
 *
 * a  gateway's maximum rate: apps/gateway as shipped, a child process (port 3270); closed-loop
 *    clients in this process (BENCH_CONCURRENCY in flight, keep-alive) read GET /api-keys with the
 *    tenants' admins' access tokens (5 keys each, limits raised; bench/lib/gateway-load.ts, as
 *    bench/gateway-read.bench.ts) for BENCH_GATEWAY_SECONDS after a 2 s warm-up. Each request
 *    leaves an access entry (the gateway's AccessLog): the gateway is stopped (it flushes the log)
 *    and those entries are deleted unpublished from the tenants' outboxes and counted, so phase b
 *    starts with nothing queued. Neither relay nor audit runs during a.
 * b  audit as shipped: apps/relay and apps/audit, child processes (ports 3271, 3272); audit with a
 *    consumer group of its own (HOTDASH_AUDIT_CONSUMER=bench-audit-<run>, HOTDASH_CONSUMER_START=
 *    latest), pinged through an outbox until it records, then a warm-up of 500 entries.
 *    b1 paced: `access.recorded` entries offered at a's rate (or BENCH_RATE) for BENCH_SECONDS: every
 *       100 ms, per tenant, one withTenant transaction with one multi-row outbox insert
 *       (publishManyInTx) of the entries due, the shape the gateway's AccessLog writes. Appended
 *       while offered = entries in audit_log by the end of the offer ÷ its duration; what is left
 *       then is drained, and its rate printed. Lag = the moment this process first saw the entry in
 *       audit_log − the moment its withTenant resolved (same process, same clock); audit_log is
 *       polled every BENCH_POLL_MS over all the tenants' chains in one query (superuser), so the
 *       lag is exact to that interval. Also printed: recorded_at (the audit process's clock, taken
 *       before its insert) − commit, the p99 lag per 5 s of the offer (growing = falling behind),
 *       and where the time goes, from the database's clock: commit → the relay's transaction that
 *       published the entry began (outbox.published_at) → audit's transaction that appended it
 *       began (its inbox row's processed_at) → seen; with the number of audit transactions.
 *    b2 capacity: BENCH_BURST entries (default 5 s of a's rate, at least 2,000) written at once
 *       (100 per transaction, the tenants' writers concurrently); append throughput = BENCH_BURST ÷
 *       (first commit → last entry seen), with when the last entry was relayed and when audit's last
 *       transaction began.
 * Prints audit append throughput (b2) ÷ the gateway's rate (target ≥ 1×), whether b1 kept up, b1's
 * p99 lag against 5 s, and per phase the CPU of each child process, of PostgreSQL, of Kafka and of
 * the machine (cores, from /proc). BENCH_RATE, when set, replaces a's rate as the offered rate (for
 * small runs); BENCH_GATEWAY_SECONDS=0 skips a (then BENCH_RATE is needed).
 *
 * Cleanup: the child processes are stopped (SIGTERM to their pids); the consumer group is deleted;
 * the bench tenants are erased on their shard (erase_tenant(): outbox, inbox, audit_log,
 * audit_heads, users, keys) and marked offboarded, so audit consumers that read hotdash.access later
 * skip their entries; the bench consumer's inbox rows are deleted on every shard; the raised limits
 * are deleted from Redis. The tenants' control-plane rows stay (like every spec's).
 *
 * Env: BENCH_TENANTS (10), BENCH_CONCURRENCY (16), BENCH_GATEWAY_SECONDS (10), BENCH_SECONDS (20),
 * BENCH_RATE (a's rate), BENCH_BURST, BENCH_POLL_MS (100), BENCH_DRAIN_TIMEOUT_S (180).
 */
import 'reflect-metadata';
process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1';

import { readdirSync, readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { Kafka, logLevel } from 'kafkajs';
import { sql } from 'kysely';
import type { Client } from 'pg';
import { AccessEvents, AccessRecordedV2 } from '@hotdash/contracts';
import { AuthKeys, TokenService } from '@hotdash/platform-auth';
import { newId } from '@hotdash/platform-db';
import { publishManyInTx } from '@hotdash/platform-messaging';
import { ServiceProcess, startServices, TestWorld } from '@hotdash/testing';
import { ClosedLoop, dropReaderLimits, prepareReaders, Reader } from './lib/gateway-load';

const TENANTS = Number(process.env.BENCH_TENANTS ?? 10);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 16);
const GATEWAY_SECONDS = Number(process.env.BENCH_GATEWAY_SECONDS ?? 10);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 20);
const RATE = process.env.BENCH_RATE ? Number(process.env.BENCH_RATE) : undefined;
const POLL_MS = Number(process.env.BENCH_POLL_MS ?? 100);
const DRAIN_TIMEOUT_MS = Number(process.env.BENCH_DRAIN_TIMEOUT_S ?? 180) * 1000;
const TICK_MS = 100; // the gateway's AccessLog flushes every 100 ms
const MAX_PER_TX = 500; // and writes at most 500 entries of a tenant per transaction
const BURST_PER_TX = 100;
const LAG_TARGET_MS = 5_000;
const WINDOW_MS = 5_000;

const GATEWAY_PORT = 3270;
const RELAY_PORT = 3271;
const AUDIT_PORT = 3272;
const RUN_ID = newId().slice(-12);
const CONSUMER = `bench-audit-${RUN_ID}`;

/** Epoch milliseconds, sub-millisecond, monotonic within this process. */
const now = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------- CPU

const TICKS_PER_S = 100; // USER_HZ on Linux

/** utime + stime of a process in seconds (0 once it is gone). */
function cpuSecondsOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / TICKS_PER_S;
  } catch {
    return 0;
  }
}

/** utime + stime of every process whose command name matches, per pid, in seconds. */
function cpuSecondsOfNamed(name: RegExp): Map<number, number> {
  const byPid = new Map<number, number>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      if (!name.test(stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')))) continue;
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      byPid.set(Number(d), (Number(f[11]) + Number(f[12])) / TICKS_PER_S);
    } catch {
      // gone meanwhile
    }
  }
  return byPid;
}

/** CPU seconds used between two per-pid samples (a process started meanwhile counts whole; one that ended is missed). */
function namedDelta(a: Map<number, number>, b: Map<number, number>): number {
  let total = 0;
  for (const [pid, t] of b) total += t - (a.get(pid) ?? 0);
  return total;
}

/** The whole machine's busy time (all cores) in seconds. */
function machineBusySeconds(): number {
  const [, ...v] = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/);
  const n = v.map(Number);
  const idle = n[3]! + n[4]!;
  return (n.reduce((a, b) => a + b, 0) - idle) / TICKS_PER_S;
}

type CpuSample = { at: number; own: number; children: Record<string, number>; postgres: Map<number, number>; kafka: Map<number, number>; machine: number };

function sampleCpu(children: Record<string, ServiceProcess | undefined>): CpuSample {
  const own = process.cpuUsage();
  return {
    at: now(),
    own: (own.user + own.system) / 1e6,
    children: Object.fromEntries(Object.entries(children).filter(([, p]) => p?.child.pid).map(([k, p]) => [k, cpuSecondsOf(p!.child.pid!)])),
    postgres: cpuSecondsOfNamed(/^postgres$|^postmaster$/),
    kafka: cpuSecondsOfNamed(/^java$/),
    machine: machineBusySeconds(),
  };
}

/** Cores used between two samples, per process group. */
function cpuBetween(a: CpuSample, b: CpuSample): string {
  const s = (b.at - a.at) / 1000;
  const c = (x: number, y: number) => ((y - x) / s).toFixed(2);
  const kids = Object.keys(b.children).map((k) => `${k} ${c(a.children[k] ?? 0, b.children[k]!)}`);
  return [`bench ${c(a.own, b.own)}`, ...kids, `postgres ${c(0, namedDelta(a.postgres, b.postgres))}`, `kafka ${c(0, namedDelta(a.kafka, b.kafka))}`, `machine ${c(a.machine, b.machine)}`].join(', ');
}

// ------------------------------------------------------------------------------- statistics

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}
const fmt = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '–');
const sec = (ms: number) => (Number.isFinite(ms) ? (ms / 1000).toFixed(2) : '–');

// ------------------------------------------------------------------------ the audit chains

/**
 * Polls the tenants' audit_log (superuser, one query per shard over all their chains, rows after
 * the last seq seen per tenant) and notes when each event's entry was first seen. Appends to a
 * chain take turns under its lock, so a tenant's entries become visible in seq order.
 */
class ChainWatcher {
  readonly seen = new Map<string, number>();
  readonly recordedAt = new Map<string, number>();
  private readonly lastSeq = new Map<string, number>();
  private running = false;
  private loop?: Promise<void>;
  polls = 0;

  constructor(private readonly shards: { client: Client; tenants: string[] }[]) {
    for (const s of shards) for (const t of s.tenants) this.lastSeq.set(t, 0);
  }

  start(): void {
    this.running = true;
    this.loop = (async () => {
      while (this.running) {
        const t0 = now();
        await this.poll(t0).catch((e: Error) => console.error(`polling audit_log: ${e.message}`));
        await sleep(Math.max(0, POLL_MS - (now() - t0)));
      }
    })();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }

  /** Rows visible to a snapshot taken after t0 were committed before it: t0 is the time they are seen. */
  private async poll(t0: number): Promise<void> {
    this.polls++;
    for (const s of this.shards) {
      const r = await s.client.query<{ tenant_id: string; seq: string; event_id: string; recorded_at: Date }>(
        `select a.tenant_id::text as tenant_id, a.seq, a.event_id::text as event_id, a.recorded_at
           from unnest($1::uuid[], $2::int8[]) as h(t, s) join audit_log a on a.tenant_id = h.t and a.seq > h.s`,
        [s.tenants, s.tenants.map((t) => this.lastSeq.get(t)!)],
      );
      for (const row of r.rows) {
        if (!this.seen.has(row.event_id)) this.seen.set(row.event_id, t0);
        this.recordedAt.set(row.event_id, row.recorded_at.getTime());
        this.lastSeq.set(row.tenant_id, Math.max(this.lastSeq.get(row.tenant_id)!, Number(row.seq)));
      }
    }
  }

  /** True once every id has been seen; false after timeoutMs. */
  async waitFor(ids: string[], timeoutMs: number): Promise<boolean> {
    const deadline = now() + timeoutMs;
    let next = 0;
    for (;;) {
      while (next < ids.length && this.seen.has(ids[next]!)) next++;
      if (next === ids.length) return true;
      if (now() > deadline) return false;
      await sleep(Math.min(50, POLL_MS));
    }
  }
}

// ------------------------------------------------------------------------------- the writers

const world = new TestWorld();

/** An access entry as the gateway's interceptor makes it for GET /api-keys. */
function accessEntry(r: Reader): AccessRecordedV2 {
  return { actor: `user:${r.userId}`, action: 'read', resourceType: 'api-key', resourceId: null, method: 'GET', route: '/api-keys', status: 200, ipEnc: null, at: new Date().toISOString() };
}

/** The tenant of each entry written. */
const tenantOf = new Map<string, string>();

/** k access entries of one tenant in one transaction (one multi-row outbox insert); their ids and the moment it committed. */
async function writeEntries(r: Reader, k: number): Promise<{ ids: string[]; at: number }> {
  const envelopes = await world.tenantDb.withTenant(r.tenantId, (tx) =>
    publishManyInTx(
      tx,
      Array.from({ length: k }, () => ({ type: AccessEvents.RECORDED, payload: accessEntry(r), meta: { tenantId: r.tenantId, producer: 'gateway', correlationId: newId() } })),
    ),
  );
  for (const e of envelopes) tenantOf.set(e.id, r.tenantId);
  return { ids: envelopes.map((e) => e.id), at: now() };
}

interface Offer {
  committed: Map<string, number>;
  start: number;
  end: number;
}

/** b1: `rate` entries a second for `seconds`, spread over the tenants, written every TICK_MS per tenant as AccessLog writes them. */
async function offer(readers: Reader[], rate: number, seconds: number): Promise<Offer> {
  const committed = new Map<string, number>();
  const target = Math.round(rate * seconds);
  let issued = 0;
  const start = now();
  for (let tick = 1; issued < target; tick++) {
    await sleep(Math.max(0, start + tick * TICK_MS - now()));
    const due = Math.min(target, Math.floor(((now() - start) / 1000) * rate));
    if (due <= issued) continue;
    const per = readers.map(() => 0);
    for (let i = issued; i < due; i++) per[i % readers.length]!++;
    issued = due;
    // Like AccessLog, the next flush waits for this one: when writes slow down, batches grow.
    await Promise.all(
      per.map(async (k, t) => {
        for (let done = 0; done < k; done += MAX_PER_TX) {
          const b = await writeEntries(readers[t]!, Math.min(MAX_PER_TX, k - done));
          for (const id of b.ids) committed.set(id, b.at);
        }
      }),
    );
  }
  return { committed, start, end: now() };
}

/** b2: n entries at once, BURST_PER_TX per transaction, each tenant's writer in turn, the tenants concurrently. */
async function burst(readers: Reader[], n: number): Promise<{ committed: Map<string, number>; start: number; end: number }> {
  const committed = new Map<string, number>();
  const start = now();
  await Promise.all(
    readers.map(async (r, t) => {
      const share = Math.floor(n / readers.length) + (t < n % readers.length ? 1 : 0);
      for (let done = 0; done < share; done += BURST_PER_TX) {
        const b = await writeEntries(r, Math.min(BURST_PER_TX, share - done));
        for (const id of b.ids) committed.set(id, b.at);
      }
    }),
  );
  return { committed, start, end: now() };
}

// ------------------------------------------------------------------------------- the path

/**
 * Where each entry was on its way, from the database's clock (the same host's): when the relay's
 * transaction that published it began (outbox.published_at) and when the audit consumer's
 * transaction that appended it began (its inbox row's processed_at).
 */
async function pathTimes(shards: { client: Client; tenants: string[] }[], ids: string[]): Promise<{ published: Map<string, number>; consumed: Map<string, number> }> {
  const published = new Map<string, number>();
  const consumed = new Map<string, number>();
  for (const s of shards) {
    const p = await s.client.query<{ id: string; at: Date }>('select id::text as id, published_at as at from outbox where id = any($1::uuid[]) and published_at is not null', [ids]);
    for (const r of p.rows) published.set(r.id, r.at.getTime());
    const c = await s.client.query<{ id: string; at: Date }>(
      'select event_id::text as id, processed_at as at from inbox where tenant_id = any($1::uuid[]) and consumer = $2 and event_id = any($3::uuid[])',
      [s.tenants, CONSUMER, ids],
    );
    for (const r of c.rows) consumed.set(r.id, r.at.getTime());
  }
  return { published, consumed };
}

/** How many audit transactions appended these entries (one per tenant and processed_at), and the mean entries per transaction. */
function transactions(consumed: Map<string, number>): string {
  const txs = new Set([...consumed].map(([id, at]) => `${tenantOf.get(id)}@${at}`));
  return `${fmt(txs.size)} audit transactions, ${(consumed.size / txs.size).toFixed(1)} entries each`;
}

/** p50 / p99 of b − a over the ids present in both, in seconds. */
function split(ids: Iterable<[string, number]>, b: Map<string, number>): string {
  const d = [...ids].filter(([id]) => b.has(id)).map(([id, a]) => b.get(id)! - a).sort((x, y) => x - y);
  return `${sec(percentile(d, 50))} / ${sec(percentile(d, 99))}`;
}

// ------------------------------------------------------------------------------------ report

interface Results {
  gatewayRate?: number;
  gatewayRequests?: number;
  gatewayWarmUp?: number;
  accessEntriesOfA?: number;
  offeredRate?: number;
  paced?: {
    written: number;
    achievedRate: number;
    appendedWhileOffered: number;
    appendRate: number;
    backlogAtEnd: number;
    drainMs: number;
    unseen: number;
    lag: number[];
    recordedLag: number[];
    windows: string[];
    cpu: string;
    path?: string;
  };
  capacity?: { n: number; writeMs: number; totalMs: number; rate: number; unseen: number; cpu: string; path?: string };
  cpuA?: string;
}

function pacedResult(o: Offer, w: ChainWatcher, cpu: string): NonNullable<Results['paced']> {
  const lag: number[] = [];
  const recordedLag: number[] = [];
  const byWindow = new Map<number, number[]>();
  let appendedWhileOffered = 0;
  let lastSeen = o.end;
  let unseen = 0;
  const firstCommit = [...o.committed.values()].reduce((m, c) => Math.min(m, c), Infinity);
  for (const [id, c] of o.committed) {
    const s = w.seen.get(id);
    if (s === undefined) {
      unseen++;
      continue;
    }
    if (s <= o.end) appendedWhileOffered++;
    lastSeen = Math.max(lastSeen, s);
    lag.push(s - c);
    const rec = w.recordedAt.get(id);
    if (rec !== undefined) recordedLag.push(rec - c);
    const k = Math.floor((c - o.start) / WINDOW_MS);
    const inWindow = byWindow.get(k);
    if (inWindow) inWindow.push(s - c);
    else byWindow.set(k, [s - c]);
  }
  const asc = (x: number[]) => x.sort((p, q) => p - q);
  const offeredMs = o.end - firstCommit;
  return {
    written: o.committed.size,
    achievedRate: (o.committed.size / (o.end - o.start)) * 1000,
    appendedWhileOffered,
    appendRate: (appendedWhileOffered / offeredMs) * 1000,
    backlogAtEnd: o.committed.size - appendedWhileOffered,
    drainMs: lastSeen - o.end,
    unseen,
    lag: asc(lag),
    recordedLag: asc(recordedLag),
    windows: [...byWindow.keys()].sort((p, q) => p - q).map((k) => sec(percentile(asc(byWindow.get(k)!), 99))),
    cpu,
  };
}

function report(r: Results): void {
  console.log(`\naudit lag, run ${RUN_ID}: ${TENANTS} tenants, ${CONCURRENCY} requests in flight, audit_log polled every ${POLL_MS} ms`);
  console.log('| measure | value |\n|---|---:|');
  if (r.gatewayRate !== undefined) console.log(`| a gateway GET /api-keys, max (${GATEWAY_SECONDS} s closed loop) | ${fmt(r.gatewayRate)} req/s (${fmt(r.gatewayRequests ?? NaN)} requests; with the warm-up's ${fmt((r.gatewayRequests ?? NaN) + (r.gatewayWarmUp ?? NaN))}, and ${fmt(r.accessEntriesOfA ?? NaN)} access entries left in the outboxes) |`);
  const p = r.paced;
  if (p) {
    console.log(`| b1 offered (${RATE !== undefined ? 'BENCH_RATE' : "a's rate"}) for ${SECONDS} s | ${fmt(r.offeredRate ?? NaN)}/s asked, ${fmt(p.achievedRate)}/s written (${fmt(p.written)}) |`);
    console.log(`| b1 appended while offered | ${fmt(p.appendRate)} entries/s (${fmt(p.appendedWhileOffered)}) |`);
    console.log(`| b1 backlog at the end of the offer, drained in | ${fmt(p.backlogAtEnd)} entries, ${sec(p.drainMs)} s${p.backlogAtEnd >= Math.max(100, (r.offeredRate ?? 0) / 2) ? ` (${fmt((p.backlogAtEnd / p.drainMs) * 1000)} entries/s)` : ''} |`);
    console.log(`| b1 commit → entry seen p50 / p95 / p99 / max | ${sec(percentile(p.lag, 50))} / ${sec(percentile(p.lag, 95))} / ${sec(percentile(p.lag, 99))} / ${sec(p.lag.at(-1) ?? NaN)} s |`);
    console.log(`| b1 commit → recorded_at p50 / p99 | ${sec(percentile(p.recordedLag, 50))} / ${sec(percentile(p.recordedLag, 99))} s |`);
    console.log(`| b1 p99 lag per ${WINDOW_MS / 1000} s of the offer | ${p.windows.join(', ')} s |`);
    if (p.path) console.log(`| b1 split p50 / p99: commit → relayed, relayed → audit's transaction began, began → seen | ${p.path} |`);
    if (p.unseen) console.log(`| b1 entries never seen (timed out) | ${fmt(p.unseen)} |`);
  }
  const c = r.capacity;
  if (c) {
    console.log(`| b2 capacity: ${fmt(c.n)} entries at once | ${fmt(c.rate)} entries/s (written in ${sec(c.writeMs)} s, all appended after ${sec(c.totalMs)} s)${c.unseen ? `, ${fmt(c.unseen)} never seen` : ''} |`);
    if (c.path) console.log(`| b2 after the first commit: last relayed, last audit transaction began, last seen | ${c.path} |`);
  }
  console.log('\nCPU (cores):');
  if (r.cpuA) console.log(`  a:  ${r.cpuA}`);
  if (p) console.log(`  b1: ${p.cpu}`);
  if (c) console.log(`  b2: ${c.cpu}`);
  if (r.gatewayRate !== undefined && c) {
    const ratio = c.rate / r.gatewayRate;
    console.log(`\naudit append throughput / gateway max rate: ${fmt(c.rate)} / ${fmt(r.gatewayRate)} = ${ratio.toFixed(2)}× (target ≥ 1×: ${ratio >= 1 ? 'MET' : 'MISSED'})`);
  }
  if (p && r.offeredRate !== undefined) {
    const kept = p.appendRate / r.offeredRate;
    const p99 = percentile(p.lag, 99);
    const atGateway = RATE === undefined;
    console.log(`b1 appended/offered while offered: ${kept.toFixed(2)}×; backlog at the end ${fmt(p.backlogAtEnd)}`);
    console.log(
      `b1 p99 commit → audit entry ${sec(p99)} s at ${fmt(r.offeredRate)}/s (target < 5 s at the gateway's rate: ${p.unseen ? 'MISSED (entries never appended)' : p99 < LAG_TARGET_MS ? 'MET' : 'MISSED'}${atGateway ? '' : '; offered rate set by BENCH_RATE, not the gateway\'s'})` +
        (kept < 0.95 ? `; falling behind (appended ${kept.toFixed(2)}× of the offer): the lag grows with the length of the offer` : ''),
    );
  }
}

// -------------------------------------------------------------------------------------- main

async function main(): Promise<void> {
  if (GATEWAY_SECONDS <= 0 && RATE === undefined) throw new Error('BENCH_GATEWAY_SECONDS=0 needs BENCH_RATE');
  const results: Results = {};
  const admin = new Kafka({ clientId: 'bench-audit-lag-admin', brokers: world.config.kafka.brokers, logLevel: logLevel.NOTHING }).admin();
  const procs: Record<string, ServiceProcess | undefined> = {};
  let readers: Reader[] = [];
  let limitKeys: string[] = [];
  let gatewayClients: ClosedLoop | undefined;
  let watcher: ChainWatcher | undefined;
  const suClients: Client[] = [];
  try {
    // (kafkajs's admin is connected only while used: idle, it warns of negative timeouts on Node 24)
    await admin.connect();
    const others = await admin.describeGroups(['audit']).then((d) => d.groups[0]?.members.length ?? 0, () => 0);
    await admin.disconnect();
    if (others) console.warn(`warning: ${others} consumer(s) of the group "audit" are running; they append to the same chains and share the machine`);

    ({ readers, limitKeys } = await prepareReaders(world, TENANTS, new TokenService(AuthKeys.fromEnv())));
    const tenantIds = readers.map((r) => r.tenantId);
    const shardOf = new Map<string, string[]>();
    for (const id of tenantIds) {
      const db = (await world.router.shardOf(id)).database;
      shardOf.set(db, [...(shardOf.get(db) ?? []), id]);
    }
    const shards: { client: Client; tenants: string[] }[] = [];
    for (const [db, tenants] of shardOf) {
      const client = await world.connectSuperuser(db);
      suClients.push(client);
      shards.push({ client, tenants });
    }
    console.log(`run ${RUN_ID}: ${TENANTS} tenants on ${[...shardOf.keys()].join(', ')}; consumer ${CONSUMER}`);

    // ---- a: the gateway's maximum rate
    if (GATEWAY_SECONDS > 0) {
      [procs.gateway] = await startServices([{ entry: 'apps/gateway/src/main.ts', env: { HOTDASH_GATEWAY_PORT: String(GATEWAY_PORT) }, url: `http://127.0.0.1:${GATEWAY_PORT}` }]);
      gatewayClients = new ClosedLoop(GATEWAY_PORT, CONCURRENCY);
      const target = (i: number) => ({ path: '/api-keys', headers: { authorization: `Bearer ${readers[i % readers.length]!.token}` } });
      const warm = await gatewayClients.run(target, { seconds: 2 });
      const c0 = sampleCpu(procs);
      const a = await gatewayClients.run(target, { seconds: GATEWAY_SECONDS });
      results.cpuA = cpuBetween(c0, sampleCpu(procs));
      results.gatewayRate = a.rate;
      results.gatewayRequests = a.requests;
      results.gatewayWarmUp = warm.requests;
      console.log(`a gateway: ${fmt(a.rate)} req/s (${fmt(a.requests)} requests in ${a.seconds.toFixed(1)} s); CPU ${results.cpuA}`);
      gatewayClients.close();
      gatewayClients = undefined;
      await procs.gateway!.stop();
      procs.gateway = undefined;
      // The access entries of a (and of its warm-up) are taken out of the outboxes before anything relays them.
      let deleted = 0;
      let published = 0;
      for (const s of shards) {
        const d = await s.client.query(`delete from outbox where tenant_id = any($1::uuid[]) and type = 'access.recorded' and published_at is null`, [s.tenants]);
        deleted += d.rowCount ?? 0;
        const p = await s.client.query<{ n: number }>(`select count(*)::int as n from outbox where tenant_id = any($1::uuid[]) and published_at is not null`, [s.tenants]);
        published += p.rows[0]!.n;
      }
      results.accessEntriesOfA = deleted;
      console.log(`a left ${fmt(deleted)} access entries in the outboxes (deleted unpublished)${published ? `; ${published} were already published by a relay running elsewhere` : ''}`);
    }
    const rate = RATE ?? results.gatewayRate!;
    results.offeredRate = rate;

    // ---- b: relay and audit as shipped
    [procs.relay, procs.audit] = await startServices([
      { entry: 'apps/relay/src/main.ts', env: { HOTDASH_RELAY_PORT: String(RELAY_PORT) }, url: `http://127.0.0.1:${RELAY_PORT}` },
      { entry: 'apps/audit/src/main.ts', env: { HOTDASH_AUDIT_PORT: String(AUDIT_PORT), HOTDASH_AUDIT_CONSUMER: CONSUMER, HOTDASH_CONSUMER_START: 'latest' }, url: `http://127.0.0.1:${AUDIT_PORT}` },
    ]);
    watcher = new ChainWatcher(shards);
    watcher.start();
    // A new group starting at "latest" sees only what is produced after it joined: ping until it records.
    const joinStart = now();
    for (;;) {
      const ping = await writeEntries(readers[0]!, 1);
      if (await watcher.waitFor(ping.ids, 2_000)) break;
      if (now() - joinStart > 120_000) throw new Error(`audit did not record a ping within 120 s\n--- audit ---\n${procs.audit!.output().slice(-3000)}\n--- relay ---\n${procs.relay!.output().slice(-3000)}`);
    }
    console.log(`b audit recording after ${sec(now() - joinStart)} s; warm-up 500 entries`);
    const warmUp = await burst(readers, 500);
    if (!(await watcher.waitFor([...warmUp.committed.keys()], 60_000))) throw new Error('the warm-up entries were not all appended within 60 s');

    // ---- b1: paced at the gateway's rate
    console.log(`b1 offering ${fmt(rate)} entries/s for ${SECONDS} s…`);
    let c0 = sampleCpu(procs);
    const o = await offer(readers, rate, SECONDS);
    const cpuOffer = cpuBetween(c0, sampleCpu(procs));
    const drained = await watcher.waitFor([...o.committed.keys()], DRAIN_TIMEOUT_MS);
    if (!drained) console.error(`b1: not every entry was appended within ${DRAIN_TIMEOUT_MS / 1000} s of the end of the offer`);
    results.paced = pacedResult(o, watcher, cpuOffer);
    {
      const t = await pathTimes(shards, [...o.committed.keys()]);
      const began = new Map([...t.consumed].filter(([id]) => watcher!.seen.has(id)));
      results.paced.path = `${split(o.committed, t.published)}, ${split(t.published, t.consumed)}, ${split(began, watcher.seen)} s (${transactions(t.consumed)})`;
    }
    console.log(`b1 done: appended ${fmt(results.paced.appendRate)}/s while offered, p99 lag ${sec(percentile(results.paced.lag, 99))} s; CPU while offered ${cpuOffer}`);

    // ---- b2: capacity
    if (drained) {
      const n = Number(process.env.BENCH_BURST ?? Math.max(2_000, Math.round(rate * 5)));
      console.log(`b2 writing ${fmt(n)} entries at once…`);
      c0 = sampleCpu(procs);
      const b = await burst(readers, n);
      const ids = [...b.committed.keys()];
      const all = await watcher.waitFor(ids, DRAIN_TIMEOUT_MS);
      const cpu = cpuBetween(c0, sampleCpu(procs));
      const firstCommit = [...b.committed.values()].reduce((m, c) => Math.min(m, c), Infinity);
      const last = ids.reduce((m, id) => Math.max(m, watcher!.seen.get(id) ?? 0), 0);
      const unseen = ids.filter((id) => !watcher!.seen.has(id)).length;
      const t = await pathTimes(shards, ids);
      const latest = (m: Map<string, number>) => [...m.values()].reduce((x, y) => Math.max(x, y), 0) - firstCommit;
      const path = `${sec(latest(t.published))}, ${sec(latest(t.consumed))}, ${sec(last - firstCommit)} s (${transactions(t.consumed)})`;
      results.capacity = { n, writeMs: b.end - b.start, totalMs: last - b.start, rate: ((n - unseen) / (last - firstCommit)) * 1000, unseen, cpu, path };
      if (!all) console.error(`b2: ${unseen} entries were not appended within ${DRAIN_TIMEOUT_MS / 1000} s`);
      console.log(`b2 done: ${fmt(results.capacity.rate)} entries/s; CPU ${cpu}`);
    } else {
      console.error('b2 skipped: b1 did not drain');
    }
    report(results);
  } finally {
    gatewayClients?.close();
    await watcher?.stop().catch(() => undefined);
    await Promise.all(Object.values(procs).map((p) => p?.stop().catch((e: Error) => console.error(`stopping a child: ${e.message}`))));
    await admin
      .connect()
      .then(() => admin.deleteGroups([CONSUMER]))
      .catch((e: Error) => console.error(`deleting the consumer group ${CONSUMER}: ${e.message}`));
    await admin.disconnect().catch(() => undefined);
    for (const c of suClients) await c.end().catch(() => undefined);
    try {
      for (const s of await world.shards()) {
        const su = await world.connectSuperuser(s.database);
        try {
          await su.query('delete from inbox where consumer = $1', [CONSUMER]);
        } finally {
          await su.end();
        }
      }
      for (const r of readers) {
        await world.tenantDb.withTenant(r.tenantId, (tx) => sql`select * from erase_tenant(${r.tenantId}::uuid)`.execute(tx.db));
        await world.control.client.tenant.update({ where: { id: r.tenantId }, data: { status: 'offboarded' } });
      }
      await dropReaderLimits(world, limitKeys);
    } catch (err) {
      console.error(`cleanup failed: ${(err as Error).message}`);
    }
    await world.close();
  }
}

main().then(
  () => setTimeout(() => process.exit(0), 2_000).unref(),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
