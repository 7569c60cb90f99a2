// Ticket to draft with the offline model: the platform's path across processes vs the same steps
// called directly in one function, same run, same arrival schedule (BENCH_RATE tickets a second
// spread over BENCH_TENANTS tenants, each with its own knowledge-base passages).
//
//   scripts/run node -r @swc-node/register bench/ticket-to-draft.bench.ts
//
// a  platform: POST /internal/tickets to the drafts service (internal token, as the gateway sends
//    it) → ticket row + ticket.received in the outbox → relay (apps/relay) → Kafka → ai-drafting
//    consumer → BullMQ job → worker: retrieval (Weaviate hybrid, the tenant's namespace) + offline
//    drafter → draft.generated in the outbox → relay → Kafka → drafts consumer → the ticket is
//    pending in its queue. Latency: from the ticket's due time on the arrival schedule to the drafts
//    service's commit of the pending draft (tickets.updated_at, same host clock). Both paths count
//    from the due time, so a path that keeps the bench's event loop too busy to send on schedule is
//    charged the delay.
// b  direct: one function per ticket: encrypt the customer fields, insert the ticket, retrieve and
//    draft (DraftComposer + OfflineDrafter, the same retrieval), encrypt the draft, insert it and
//    mark the ticket pending. No outbox, Kafka, BullMQ or HTTP.
//
// Rounds alternate a and b. Env: BENCH_TENANTS (100), BENCH_RATE (50 tickets/s), BENCH_SECONDS
// (10 per round and path), BENCH_ROUNDS (2).
//
// Then the highest sustained rate of each path: BENCH_RATES (25,50,100,150,200 tickets/s, ascending)
// for BENCH_SECONDS each, a and b alternating; a path sustains a rate when every ticket got its
// draft and p99 stayed under 1 s; once a path misses a rate it is not tried higher. Printed: p99 per
// rate and path, the highest rate each sustained, and their ratio (target ≥ 0.5×). BENCH_RATES=''
// skips the search.
//
// CPU apportioning (bench/cpu-meter.ts; on unless BENCH_CPU=0): after every round, the CPU
// milliseconds per drafted ticket of each process — the bench, each service child, PostgreSQL's
// backends serving these processes' connections and its background processes (this repository's
// cluster only), Kafka, Redis, Weaviate — their sum (the processes the path uses) and the CPU-bound
// ceiling it implies on this machine's cores. BENCH_CPU_PROFILE=<dir> starts the services with
// --cpu-prof writing there (profiles are written when they stop); BENCH_SERVICE_NODE_ARGS adds Node
// options to the services (e.g. --perf-basic-prof, for `perf record -p <pid>`).
import { sql } from 'kysely';
import type { Client } from 'pg';
import { performance } from 'node:perf_hooks';
import { SupportFields, TenantId } from '@hotdash/contracts';
import { FieldCipher, LocalKms, TenantKeyring } from '@hotdash/platform-crypto';
import { newId } from '@hotdash/platform-db';
import { LocalEmbedder, OfflineDrafter } from '@hotdash/platform-models';
import { WeaviateVectorStore } from '@hotdash/platform-vector';
import { DraftComposer, DraftingProfiles } from '@hotdash/ai-drafting';
import { internalAuthorization, ServiceProcess, startServices, tenantUser, TestWorld, waitFor } from '@hotdash/testing';
import { loadavg } from 'node:os';
import { CpuMeter, CpuReport, formatCpuReport } from './cpu-meter';
import { otlpSink, type OtlpSink, settingsList, tracedSetting } from './lib/otlp-sink';
import { makeDraftingTenants, ticketText } from './lib/drafting-tenants';
import { median, percentile } from './lib/stats';

const TENANTS = Number(process.env.BENCH_TENANTS ?? 100);
const RATE = Number(process.env.BENCH_RATE ?? 50);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const RATES = (process.env.BENCH_RATES ?? '25,50,100,150,200').split(',').filter(Boolean).map(Number);
const DRAFTS = 'http://127.0.0.1:3241';
const CPU = process.env.BENCH_CPU !== '0';
const PROFILE_DIR = process.env.BENCH_CPU_PROFILE;
const TRACING = process.env.BENCH_TRACING === '1';
const WARMUP_SECONDS = Number(process.env.BENCH_WARMUP_SECONDS ?? 10);
/** The service children, by name, once started (for the CPU apportioning). */
let services: { name: string; pid: number }[] = [];
/** Superuser connections to the shards the bench's tenants live on: the bench watches for the drafts through them. */
let observers: Client[] = [];
/** What the platform path runs on; the direct path is the bench, PostgreSQL and Weaviate only. */
const PLATFORM_ONLY = ['drafts', 'ai-drafting', 'relay', 'kafka', 'redis'];

const world = new TestWorld({ poolSize: 20 });
const cipher = new FieldCipher(new TenantKeyring(world.dbs, LocalKms.fromEnv()));
// The services' defaults: the local embedder at 384 dimensions, the KnowledgeChunk collection.
const embedder = new LocalEmbedder(384);
const vectors = WeaviateVectorStore.fromConfig(world.config);
const composer = new DraftComposer(embedder, vectors);
const profiles = new DraftingProfiles(world.tenantDb);
const model = new OfflineDrafter();

const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));


/**
 * Sends `rate` tickets a second for `seconds` seconds, round-robin over the tenants; `send` resolves
 * when its ticket is accepted. `due` is when the ticket was due on the schedule (performance.now()
 * time): latencies count from it, so a path that keeps the bench's event loop too busy to send on
 * time is charged the delay (no coordinated omission).
 */
async function schedule(tenants: TenantId[], send: (t: TenantId, i: number, due: number) => Promise<void>, seconds = SECONDS, rate = RATE): Promise<void> {
  const total = rate * seconds;
  const start = performance.now();
  const pending: Promise<void>[] = [];
  for (let i = 0; i < total; i++) {
    const due = start + (i * 1000) / rate;
    await sleep(due - performance.now());
    pending.push(send(tenants[i % tenants.length]!, i, due));
  }
  await Promise.all(pending);
}

/** A performance.now() time as a wall-clock time (ms since the epoch), to compare with the database's timestamps. */
const wallClock = (perf: number) => Date.now() - (performance.now() - perf);

/** Runs a round under the CPU meter (when on) and prints where the CPU went per drafted ticket. */
async function metered(label: string, path: 'a' | 'b', round: (start: () => void) => Promise<number[]>): Promise<number[]> {
  if (!CPU) return round(() => undefined);
  const meter = new CpuMeter({ nodes: [{ name: 'bench', pid: process.pid }, ...services], pgData: '.local/pg/data', pgPort: 54329, redisPort: 63790 });
  const xs = await round(() => meter.start());
  console.log(formatCpuReport(label, meter.stop(), xs.length, path === 'b' ? PLATFORM_ONLY : []));
  return xs;
}

async function platformRound(tenants: TenantId[], seconds = SECONDS, rate = RATE, start: () => void = () => undefined): Promise<number[]> {
  const auth = new Map<TenantId, string>();
  for (const t of tenants) auth.set(t, await internalAuthorization('drafts', tenantUser(t, 'admin')));
  start();
  const sentAt = new Map<string, { tenant: TenantId; at: number }>();
  await schedule(tenants, async (t, i, due) => {
    const x = ticketText(i);
    const at = wallClock(due);
    const res = await fetch(`${DRAFTS}/internal/tickets`, {
      method: 'POST',
      headers: { authorization: auth.get(t)!, 'content-type': 'application/json' },
      body: JSON.stringify({ customer: { name: x.name, email: x.email }, subject: x.subject, body: x.body }),
    });
    if (res.status !== 201) throw new Error(`ticket refused: ${res.status} ${await res.text()}`);
    sentAt.set(((await res.json()) as { id: string }).id, { tenant: t, at });
  }, seconds, rate);
  // Wait for every draft to be in its queue, then read when each got there (the commit time, so how
  // often this looks does not change the latencies). The bench only observes here: one query per
  // shard over a superuser connection (the measured path's tenant transactions are the services'),
  // so that watching 100 tenants costs little CPU next to what is measured.
  const deadline = Date.now() + 120_000;
  const done = new Map<string, number>();
  while (done.size < sentAt.size && Date.now() < deadline) {
    const ids = [...sentAt.keys()].filter((id) => !done.has(id));
    for (const c of observers) {
      const { rows } = await c.query<{ id: string; at: Date }>(`select id::text, updated_at as at from tickets where id = any($1::uuid[]) and status = 'pending'`, [ids]);
      for (const r of rows) done.set(r.id, r.at.getTime());
    }
    if (done.size < sentAt.size) await sleep(250);
  }
  if (done.size < sentAt.size) throw new Error(`${sentAt.size - done.size} of ${sentAt.size} tickets got no draft within 120 s`);
  return [...done].map(([id, at]) => at - sentAt.get(id)!.at);
}

async function directRound(tenants: TenantId[], rate = RATE, start: () => void = () => undefined): Promise<number[]> {
  const latencies: number[] = [];
  start();
  await schedule(tenants, async (t, i, due) => {
    const x = ticketText(i);
    const t0 = due;
    const ticketId = newId();
    const [nameEnc, emailEnc, subjectEnc, bodyEnc] = await Promise.all([
      cipher.encrypt(t, SupportFields.CUSTOMER_NAME, x.name),
      cipher.encrypt(t, SupportFields.CUSTOMER_EMAIL, x.email),
      cipher.encrypt(t, SupportFields.SUBJECT, x.subject),
      cipher.encrypt(t, SupportFields.BODY, x.body),
    ]);
    await world.tenantDb.withTenant(t, (tx) => sql`insert into tickets (id, tenant_id, channel, customer_name_enc, customer_email_enc, subject_enc, body_enc, status, received_at)
      values (${ticketId}::uuid, ${t}::uuid, 'api', ${nameEnc}, ${emailEnc}, ${subjectEnc}, ${bodyEnc}, 'drafting', now())`.execute(tx.db).then((r) => Number(r.numAffectedRows ?? 0)));
    const { result } = await composer.compose(t, await profiles.require(t), { customerName: x.name, subject: x.subject, body: x.body }, model);
    const draftEnc = await cipher.encrypt(t, SupportFields.DRAFT_BODY, result.text);
    const draftId = newId();
    await world.tenantDb.withTenant(t, async (tx) => {
      await sql`insert into drafts (id, tenant_id, ticket_id, attempt, status, body_enc, model) values (${draftId}::uuid, ${t}::uuid, ${ticketId}::uuid, 1, 'pending', ${draftEnc}, ${result.model})`.execute(tx.db).then((r) => Number(r.numAffectedRows ?? 0));
      await sql`update tickets set status = 'pending', current_draft_id = ${draftId}::uuid, updated_at = now() where id = ${ticketId}::uuid`.execute(tx.db).then((r) => Number(r.numAffectedRows ?? 0));
    });
    latencies.push(performance.now() - t0);
  }, SECONDS, rate);
  return latencies;
}

/** The highest rate each path sustains (every ticket drafted, p99 < 1 s), rates tried in ascending order. */
async function rateSearch(tenants: TenantId[]): Promise<void> {
  const best = { a: 0, b: 0 };
  const alive = { a: true, b: true };
  console.log('\nrate/s   a platform p99 ms   b direct p99 ms');
  for (const rate of RATES) {
    if (!alive.a && !alive.b) break;
    const cells: string[] = [];
    for (const path of ['a', 'b'] as const) {
      if (!alive[path]) {
        cells.push('—');
        continue;
      }
      const label = `${path === 'a' ? 'a platform' : 'b direct'} at ${rate}/s`;
      const xs = await metered(label, path, (start) => (path === 'a' ? platformRound(tenants, SECONDS, rate, start) : directRound(tenants, rate, start))).catch((e: Error) => {
        console.log(`[bench] ${path} at ${rate}/s: ${e.message}`);
        return undefined;
      });
      const p99 = xs ? percentile(xs, 99) : Infinity;
      if (p99 < 1000) best[path] = rate;
      else alive[path] = false;
      cells.push(Number.isFinite(p99) ? p99.toFixed(0) : 'fell behind');
    }
    console.log(`${String(rate).padStart(6)} ${cells[0]!.padStart(19)} ${cells[1]!.padStart(17)}`);
  }
  const ratio = best.b === 0 ? NaN : best.a / best.b;
  const capped = alive.b ? ` (b still sustained the highest rate tried, ${RATES[RATES.length - 1]}/s: the ratio is an upper bound)` : '';
  console.log(`\nhighest sustained rate (p99 < 1 s): a ${best.a}/s, b ${best.b}/s → a/b ${ratio.toFixed(2)}×${capped}   target ≥ 0.5× → ${ratio >= 0.5 ? 'met' : 'missed'}`);
}

const nodeArgs = (name: string) => [
  ...(PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${PROFILE_DIR}`, `--cpu-prof-name=${name}.${Date.now()}.cpuprofile`] : []),
  ...(process.env.BENCH_SERVICE_NODE_ARGS ?? '').split(' ').filter(Boolean),
];

/** The platform path's services (drafts, ai-drafting, the relay), with `env` added to each; `services` names their pids for the CPU meter. */
async function startPlatform(env: Record<string, string> = {}, tag = 'platform'): Promise<ServiceProcess[]> {
  const processes = await startServices([
    { entry: 'apps/drafts/src/main.ts', env: { ...env, HOTDASH_DRAFTS_PORT: '3241' }, url: DRAFTS, nodeArgs: nodeArgs(`drafts.${tag}`) },
    { entry: 'apps/ai-drafting/src/main.ts', env: { ...env, HOTDASH_AI_DRAFTING_PORT: '3242' }, url: 'http://127.0.0.1:3242', nodeArgs: nodeArgs(`ai-drafting.${tag}`) },
    // The outbox relays.
    { entry: 'apps/relay/src/main.ts', env: { ...env, HOTDASH_RELAY_PORT: '3243' }, url: 'http://127.0.0.1:3243', nodeArgs: nodeArgs(`relay.${tag}`) },
  ]);
  services = ['drafts', 'ai-drafting', 'relay'].map((name, i) => ({ name, pid: processes[i]!.child.pid! }));
  return processes;
}

/** BENCH_TRACING=1: the services started off, at 100% and at 10% sampling in turn, round by round (see the header). */
async function tracingRounds(tenants: TenantId[], sinks: Record<'all' | 'tenth', OtlpSink>): Promise<void> {
  const names = ['off', 'all', 'tenth'] as const;
  type Name = (typeof names)[number];
  // BENCH_ALL_RATIO / BENCH_TENTH_RATIO change a setting's ratio, BENCH_ALL_ENV / BENCH_TENTH_ENV add
  // OTEL_* variables to it (`K=V,K=V`): two variants of one setting compared in one run.
  const setting = (name: 'ALL' | 'TENTH', sink: OtlpSink, ratio: number) =>
    tracedSetting(sink, Number(process.env[`BENCH_${name}_RATIO`] ?? ratio), settingsList(process.env[`BENCH_${name}_ENV`]));
  const settings = { all: setting('ALL', sinks.all, 1), tenth: setting('TENTH', sinks.tenth, 0.1) };
  const label: Record<Name, string> = { off: 'tracing off', all: settings.all.label, tenth: settings.tenth.label };
  const env: Record<Name, Record<string, string>> = { off: {}, all: settings.all.env, tenth: settings.tenth.env };
  const SERVICES = ['drafts', 'ai-drafting', 'relay'];
  const results: Record<Name, { p50: number; p99: number; services: number; path: number }[]> = { off: [], all: [], tenth: [] };
  for (let r = 0; r < ROUNDS; r++) {
    const order = [...names.slice(r % 3), ...names.slice(0, r % 3)];
    for (const n of order) {
      const processes = await startPlatform(env[n], n);
      try {
        await platformRound(tenants, WARMUP_SECONDS);
        const meter = new CpuMeter({ nodes: services, pgData: '.local/pg/data', pgPort: 54329, redisPort: 63790 });
        const xs = await platformRound(tenants, SECONDS, RATE, () => meter.start());
        const report: CpuReport = meter.stop();
        const ms = (group: (name: string) => boolean) => report.groups.filter((g) => g.counted && group(g.name)).reduce((a, g) => a + g.ms, 0) / xs.length;
        const row = { p50: percentile(xs, 50), p99: percentile(xs, 99), services: ms((g) => SERVICES.includes(g)), path: ms(() => true) };
        results[n].push(row);
        console.log(
          `round ${r + 1} ${label[n].padEnd(Math.max(...names.map((x) => label[x].length)))}: ${xs.length} drafts, p50 ${row.p50.toFixed(0)} ms, p99 ${row.p99.toFixed(0)} ms; CPU per ticket: services ${row.services.toFixed(2)} ms, whole path ${row.path.toFixed(2)} ms; load ${loadavg()[0]!.toFixed(1)}`,
        );
      } finally {
        await Promise.all(processes.map((p) => p.stop()));
      }
    }
  }
  const signed = (x: number) => `${x >= 0 ? '+' : ''}${(x * 100).toFixed(1)}%`;
  const of = (n: Name, k: 'p50' | 'p99' | 'services' | 'path') => results[n].map((x) => x[k]);
  const paired = (n: Name, k: 'services' | 'path') => median(results[n].map((x, r) => x[k] / results.off[r]![k] - 1));
  console.log(`\n${RATE} tickets/s over ${tenants.length} tenants, ${SECONDS} s measured per start after ${WARMUP_SECONDS} s of warm-up, ${ROUNDS} rounds; medians; load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  console.log('| services | p50 ms | p99 ms | services CPU ms/ticket | vs off (per-round) | whole path CPU ms/ticket | vs off (per-round) |\n|---|---:|---:|---:|---:|---:|---:|');
  for (const n of names) {
    const vs = (k: 'services' | 'path') => (n === 'off' ? '' : `${signed(median(of(n, k)) / median(of('off', k)) - 1)} (${signed(paired(n, k))})`);
    console.log(`| ${label[n]} | ${median(of(n, 'p50')).toFixed(0)} | ${median(of(n, 'p99')).toFixed(0)} | ${median(of(n, 'services')).toFixed(2)} | ${vs('services')} | ${median(of(n, 'path')).toFixed(2)} | ${vs('path')} |`);
  }
  console.log(`exported: ${label.all} ${sinks.all.exports()} batches, ${(sinks.all.bytes() / 1024).toFixed(0)} KiB; ${label.tenth} ${sinks.tenth.exports()} batches, ${(sinks.tenth.bytes() / 1024).toFixed(0)} KiB`);
  const overhead = median(of('tenth', 'services')) / median(of('off', 'services')) - 1;
  console.log(`\noverhead ${label.tenth}: services' CPU per ticket ${signed(overhead)} (per-round ${signed(paired('tenth', 'services'))}), whole path ${signed(median(of('tenth', 'path')) / median(of('off', 'path')) - 1)} (target ≤ 5%: ${overhead <= 0.05 ? 'MET' : 'MISSED'}); ${label.all}: services ${signed(median(of('all', 'services')) / median(of('off', 'services')) - 1)}`);
}

async function main(): Promise<void> {
  console.log(`[bench] ${TENANTS} tenants, ${RATE} tickets/s for ${SECONDS} s per round and path, ${ROUNDS} rounds`);
  const tenants: TenantId[] = [];
  /** Every tenant given a vector namespace, deleted at the end whatever happens (a failed setup included). */
  const namespaces: TenantId[] = [];
  const shardDbs: string[] = [];
  let processes: ServiceProcess[] = [];
  try {
    const made = await makeDraftingTenants(world, vectors, embedder, TENANTS, namespaces, (n) => n % 20 === 0 && console.log(`[bench] ${n}/${TENANTS} tenants ready`));
    tenants.push(...made.tenants);
    shardDbs.push(...made.shardDbs);
    observers = await Promise.all(shardDbs.map((d) => world.connectSuperuser(d)));
    if (TRACING) {
      // The bench's own environment must not trace the "off" services.
      for (const k of Object.keys(process.env)) if (k.startsWith('OTEL_')) delete process.env[k];
      // The drafting profiles arrive through the ai-drafting service: once, before the rounds.
      processes = await startPlatform();
      for (const t of tenants) await waitFor(`the drafting profile of ${t}`, async () => (await profiles.of(t)) !== undefined, 120_000, 200);
      await Promise.all(processes.map((p) => p.stop()));
      processes = [];
      const sinks = { all: await otlpSink(), tenth: await otlpSink() };
      try {
        await tracingRounds(tenants, sinks);
      } finally {
        for (const s of Object.values(sinks)) s.server.close();
      }
      return;
    }
    processes = await startPlatform();
    for (const t of tenants) await waitFor(`the drafting profile of ${t}`, async () => (await profiles.of(t)) !== undefined, 120_000, 200);
    // Warm-up: a few tickets through each path, not counted.
    await platformRound(tenants, 3).catch((e: Error) => console.log(`[bench] warm-up: ${e.message}`));
    const a: number[] = [];
    const b: number[] = [];
    for (let r = 1; r <= ROUNDS; r++) {
      const pa = await metered(`round ${r} a platform at ${RATE}/s`, 'a', (start) => platformRound(tenants, SECONDS, RATE, start));
      console.log(`[bench] round ${r} a platform: ${pa.length} drafts, p50 ${percentile(pa, 50).toFixed(0)} ms, p99 ${percentile(pa, 99).toFixed(0)} ms`);
      const pb = await metered(`round ${r} b direct at ${RATE}/s`, 'b', (start) => directRound(tenants, RATE, start));
      console.log(`[bench] round ${r} b direct:   ${pb.length} drafts, p50 ${percentile(pb, 50).toFixed(0)} ms, p99 ${percentile(pb, 99).toFixed(0)} ms`);
      a.push(...pa);
      b.push(...pb);
    }
    console.log('');
    console.log('path        drafts   p50 ms   p99 ms   max ms');
    for (const [name, xs] of [
      ['a platform', a],
      ['b direct', b],
    ] as const)
      console.log(`${name.padEnd(10)} ${String(xs.length).padStart(7)} ${percentile(xs, 50).toFixed(0).padStart(8)} ${percentile(xs, 99).toFixed(0).padStart(8)} ${Math.max(...xs).toFixed(0).padStart(8)}`);
    console.log(`\nratio a/b p99: ${(percentile(a, 99) / percentile(b, 99)).toFixed(2)}×   target: a p99 < 500 ms at ${RATE}/s → ${percentile(a, 99) < 500 ? 'met' : 'missed'}`);
    if (RATES.length > 0) await rateSearch(tenants);
  } finally {
    await Promise.all(processes.map((p) => p.stop()));
    await Promise.all(observers.map((c) => c.end()));
    for (const t of namespaces) await vectors.deleteTenant(t).catch(() => undefined);
    await vectors.close();
    await world.close();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
