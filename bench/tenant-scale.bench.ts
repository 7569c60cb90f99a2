/**
 * 10,000 tenants over 4 shards (issue 14, Benchmarks): sign-ups per second, and the p99 of a tenant
 * read at 1,000 tenants vs at 10,000 (target ≤ 1.2×).
 *
 *   scripts/run node -r @swc-node/register bench/tenant-scale.bench.ts
 *   BENCH_TENANTS=2000 BENCH_FIRST=500 BENCH_SAGA_SIGNUPS=100 BENCH_READS=1000 scripts/run node -r @swc-node/register bench/tenant-scale.bench.ts   # quick trial
 *
 * Two platforms of the bench's own, side by side, each a control plane (`hotdash_bench_scale_<p>_control`,
 * the control migrations applied by the project's runner as `npm run db:migrate` does) with four
 * shards (`hotdash_bench_scale_<p>_s1…s4`, tenant migrations applied, the schema grants of
 * deploy/local) registered in it as active shared shards `bench-scale-<p>1…4` of region `local`:
 *
 *   - b: BENCH_TENANTS (10,000) tenants, signed up first;
 *   - a: BENCH_FIRST (1,000) tenants.
 *
 * The read is measured on both in alternating rounds (a b, b a, a b, …), so that both figures come
 * from the same moments of a machine other sessions share: the ratio b/a is taken per pair of
 * adjacent rounds and its median printed with the medians of each side. (A first version measured
 * at 1,000 and later at 10,000 tenants of one platform: the load average went 5.4 → 7.9 between the
 * two and the p99 ratio came out 0.30×, the machine's doing.) The real control plane and
 * shard-1/shard-2 are not touched: the placement policy puts a sign-up on the active shared shard
 * with the fewest tenants, so four empty shards registered in the shared control plane would take
 * every sign-up of every other session's specs while the bench runs.
 *
 * Sign-ups, all through the provisioning saga on the saga engine (startProvisioning, the steps as
 * BullMQ jobs on the bench's own queues, BENCH_IN_FLIGHT (20) sign-ups in flight, each a plan
 * `basic` tenant with one initial document; latency = startProvisioning call → the activation step
 * done):
 *
 *   1. b's first BENCH_SAGA_SIGNUPS (500) through the whole saga: tenant record (the placement
 *      policy, pickShard), admin user, **knowledge namespace (a Weaviate tenant)**, default
 *      workflows, model configuration, initial documents, activation. This is the sign-up rate.
 *   2. the rest of b, then all of a, through the same saga definition without its knowledge-namespace
 *      step (a second engine on a second queue; the other six steps unchanged: the same placement
 *      policy, tenant records, data keys, admin users, settings, events). The local Weaviate slows
 *      down with thousands of tenants (~4.3 s a creation at 8,752 tenants) and runs out of its
 *      20,000 file descriptors (issue 15 item 5): at 10,000 tenants the bench would measure Weaviate,
 *      not this issue's placement and records. Its rate is printed, labelled.
 *
 * Tenant read: withTenant on the driver, the read of bench/tenant-read.bench.ts (a tenant's newest
 * 20 audit entries under RLS); every tenant is given 20 audit entries after the sign-ups (bulk
 * INSERT … SELECT as the superuser: no audit consumer runs here), then every database is ANALYZEd.
 * Per platform a fresh Databases (a service process starting: its own pools, an empty placement
 * cache): a cold pass (every tenant read once: the shard router's first lookup of each placement),
 * a warm-up, then BENCH_ROUNDS (7) rounds of BENCH_READS (4,000) reads of random tenants,
 * BENCH_CONCURRENCY (8) in flight.
 *
 * Cleanup (at the start too, for an interrupted run): the Weaviate tenants of the saga's sign-ups
 * (those of the bench's control planes that Weaviate has), the bench's databases
 * (`hotdash_bench_scale_*`), its BullMQ queues (`bench-scale-*`).
 *
 * Env: BENCH_TENANTS (10000), BENCH_FIRST (1000), BENCH_SAGA_SIGNUPS (500), BENCH_IN_FLIGHT (20),
 * BENCH_READS (4000), BENCH_ROUNDS (7), BENCH_CONCURRENCY (8), BENCH_KEEP=1 (leave the databases).
 */
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Queue } from 'bullmq';
import Redis from 'ioredis';
import { parseTenantId, type TenantId } from '@hotdash/contracts';
import type { PlatformConfig } from '@hotdash/platform-config';
import { Databases, newId, ShardRouter, TenantDatabase } from '@hotdash/platform-db';
import { PRISMA_DIR } from '@hotdash/platform-db/src/migrate/migrate-all';
import { migrateDatabase, readMigrations } from '@hotdash/platform-db/src/migrate/runner';
import { redisConnection, SagaEngine, type SagaDefinition } from '@hotdash/platform-jobs';
import { provisioningDeps, provisioningSaga, ProvisioningSteps, startProvisioning, type ProvisionTenantInput, type SignUp } from '@hotdash/provisioning';
import { TestWorld } from '@hotdash/testing';

const TOTAL = Number(process.env.BENCH_TENANTS ?? 10_000);
const FIRST = Math.min(TOTAL, Number(process.env.BENCH_FIRST ?? 1_000));
const SAGA_SIGNUPS = Math.min(TOTAL, Number(process.env.BENCH_SAGA_SIGNUPS ?? 500));
const IN_FLIGHT = Number(process.env.BENCH_IN_FLIGHT ?? 20);
const READS = Number(process.env.BENCH_READS ?? 4_000);
const ROUNDS = Math.max(3, Number(process.env.BENCH_ROUNDS ?? 7));
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 8);
const KEEP = process.env.BENCH_KEEP === '1';
const SHARDS = 4;
const AUDIT_ENTRIES = 20;
const PREFIX = 'hotdash_bench_scale';
const QUEUE_PREFIX = 'bench-scale-';
/** A sign-up not activated within this is counted as failed. */
const SIGNUP_TIMEOUT_MS = 120_000;

const loads = () => loadavg().map((x) => x.toFixed(2)).join(' / ');
const loadLog: string[] = [];
const pct = (xs: number[], p: number) => (xs.length ? [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil((p / 100) * xs.length) - 1)]! : NaN);
const median = (xs: number[]) => pct(xs, 50);
const fmt = (x: number, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : '–');

const world = new TestWorld();

// ------------------------------------------------------------------------------------------ set-up

/** One of the bench's platforms: a control plane and its four shards, and the provisioning saga on them. */
interface Plane {
  label: 'a' | 'b';
  controlDb: string;
  shardDbs: string[];
  config: PlatformConfig;
  dbs: Databases;
  deps: ReturnType<typeof provisioningDeps>;
  full: SagaEngine;
  fast: SagaEngine;
  /** Activated tenants, in sign-up order. */
  tenants: TenantId[];
}

async function databasesOfBench(): Promise<string[]> {
  const su = await world.connectSuperuser('postgres');
  try {
    return (await su.query<{ datname: string }>(`select datname from pg_database where datname like $1 order by 1`, [`${PREFIX}\\_%`])).rows.map((r) => r.datname);
  } finally {
    await su.end();
  }
}

/** An empty database prepared as deploy/local prepares one (owner hotdash_owner, schema grants), migrated with the given migrations. */
async function createMigrated(name: string, migrations: 'control' | 'tenant'): Promise<void> {
  const su = await world.connectSuperuser('postgres');
  try {
    await su.query(`create database ${name} owner ${world.config.db.owner.user}`);
  } finally {
    await su.end();
  }
  const db = await world.connectSuperuser(name);
  try {
    await db.query(
      `revoke all on schema public from public; alter schema public owner to ${world.config.db.owner.user}; ` +
        `grant usage on schema public to ${world.config.db.app.user}, ${world.config.db.relay.user}; grant connect on database ${name} to ${world.config.db.app.user}, ${world.config.db.relay.user}`,
    );
  } finally {
    await db.end();
  }
  const location = { host: world.config.db.controlHost, port: world.config.db.controlPort, database: name };
  const report = await migrateDatabase(location, world.config.db.owner, readMigrations(join(PRISMA_DIR, migrations, 'migrations')));
  if (report.error) throw new Error(`migrating ${name} failed: ${report.error}`);
}

/** Removes what a run leaves: the saga sign-ups' Weaviate tenants, the bench's databases, its queues. */
async function cleanup(config: PlatformConfig, vectors: ReturnType<typeof provisioningDeps>['vectors']): Promise<string> {
  const dbsLeft = await databasesOfBench();
  let weaviate = 0;
  for (const control of dbsLeft.filter((d) => d.endsWith('_control'))) {
    const c = await world.connectSuperuser(control);
    let ids: string[];
    try {
      // Tenants whose saga got to the knowledge-namespace step (only the whole saga's).
      ids = (
        await c.query<{ tenant_id: string }>(
          `select s.tenant_id from sagas s join saga_steps st on st.saga_id = s.id where st.step_id = $1 and st.status <> 'pending' and s.tenant_id is not null`,
          [ProvisioningSteps.KNOWLEDGE_NAMESPACE],
        )
      ).rows.map((r) => r.tenant_id);
    } finally {
      await c.end();
    }
    if (!ids.length) continue;
    const existing = new Set<string>(await vectors.listTenants());
    const mine = ids.filter((id) => existing.has(id));
    let next = 0;
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        for (let i = next++; i < mine.length; i = next++) await vectors.deleteTenant(parseTenantId(mine[i]!)).then(() => weaviate++, () => undefined);
      }),
    );
  }
  for (const d of dbsLeft) await world.dropScratchDatabase(d);
  const redis = new Redis({ host: config.redis.host, port: config.redis.port, maxRetriesPerRequest: 2 });
  const names = new Set<string>();
  try {
    for await (const batch of redis.scanStream({ match: `bull:${QUEUE_PREFIX}*`, count: 1000 })) for (const k of batch as string[]) names.add(k.split(':')[1]!);
  } finally {
    redis.disconnect();
  }
  for (const name of names) {
    const q = new Queue(name, { connection: redisConnection(config) });
    await q.obliterate({ force: true });
    await q.close();
  }
  return `${weaviate} Weaviate tenants, ${dbsLeft.length} databases, ${names.size} queues`;
}

/** Resolved by the activation step (no polling). */
const activated = new Map<string, number>();
const waiting = new Map<string, (at: number) => void>();

/** The provisioning saga with its activation reporting, and the same without its knowledge-namespace step. */
function definitions(deps: Plane['deps']): { full: SagaDefinition<ProvisionTenantInput>; fast: SagaDefinition<ProvisionTenantInput> } {
  const full = provisioningSaga(deps);
  full.steps = full.steps.map((s) =>
    s.id !== ProvisioningSteps.ACTIVATION
      ? s
      : {
          ...s,
          async run(ctx) {
            const out = await s.run(ctx);
            const at = performance.now();
            activated.set(ctx.input.tenantId, at);
            waiting.get(ctx.input.tenantId)?.(at);
            return out;
          },
        },
  );
  return { full, fast: { ...full, steps: full.steps.filter((s) => s.id !== ProvisioningSteps.KNOWLEDGE_NAMESPACE) } };
}

async function createPlane(label: Plane['label']): Promise<Plane> {
  const controlDb = `${PREFIX}_${label}_control`;
  const shardDbs = Array.from({ length: SHARDS }, (_, i) => `${PREFIX}_${label}_s${i + 1}`);
  await createMigrated(controlDb, 'control');
  for (const d of shardDbs) await createMigrated(d, 'tenant');
  const config: PlatformConfig = { ...world.config, db: { ...world.config.db, controlDatabase: controlDb, poolSize: IN_FLIGHT } };
  const owner = await world.connect({ host: config.db.controlHost, port: config.db.controlPort, database: controlDb }, 'owner');
  try {
    for (const [i, database] of shardDbs.entries())
      await owner.query(`insert into shards (id, name, host, port, database, kind, status, region) values ($1, $2, $3, $4, $5, 'shared', 'active', 'local')`, [
        newId(),
        `bench-scale-${label}${i + 1}`,
        config.db.controlHost,
        config.db.controlPort,
        database,
      ]);
  } finally {
    await owner.end();
  }
  const dbs = new Databases(config);
  const router = new ShardRouter(dbs);
  const deps = provisioningDeps(dbs, config, router, new TenantDatabase(dbs, router));
  const { full, fast } = definitions(deps);
  return {
    label,
    controlDb,
    shardDbs,
    config,
    dbs,
    deps,
    full: new SagaEngine(dbs, config, { queueName: `${QUEUE_PREFIX}${label}-saga-${newId()}`, concurrency: IN_FLIGHT }).register(full),
    fast: new SagaEngine(dbs, config, { queueName: `${QUEUE_PREFIX}${label}-fast-${newId()}`, concurrency: IN_FLIGHT }).register(fast),
    tenants: [],
  };
}

// ------------------------------------------------------------------------------------------ sign-ups

const signUp = (p: Plane, i: number): SignUp => ({
  name: `Bench Scale ${p.label} ${i}`,
  plan: 'basic',
  admin: { email: `bench-scale-${p.label}-${i}@example.test` },
  documents: [{ title: 'FAQ', content: 'We ship worldwide within five working days.' }],
});

interface Batch {
  n: number;
  seconds: number;
  latencies: number[];
  failed: string[];
}

/** Sign-ups i = from … to-1 of a platform with IN_FLIGHT in flight through an engine: the wall time and each latency. */
async function signUps(p: Plane, engine: SagaEngine, from: number, to: number): Promise<Batch> {
  const latencies: number[] = [];
  const failed: string[] = [];
  let next = from;
  let done = 0;
  const t0 = performance.now();
  const progress = setInterval(() => console.log(`  … ${done} of ${to - from} (${(done / ((performance.now() - t0) / 1000)).toFixed(1)}/s)`), 20_000);
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      for (let i = next++; i < to; i = next++) {
        const s0 = performance.now();
        const { tenantId, sagaId } = await startProvisioning(engine, p.deps.kms, signUp(p, i));
        const at =
          activated.get(tenantId) ??
          (await new Promise<number | undefined>((resolve) => {
            const timer = setTimeout(() => resolve(undefined), SIGNUP_TIMEOUT_MS);
            waiting.set(tenantId, (x) => {
              clearTimeout(timer);
              resolve(x);
            });
          }));
        waiting.delete(tenantId);
        done++;
        if (at === undefined) {
          const status = await engine.status(sagaId);
          failed.push(`${tenantId}: ${status?.status} at ${status?.failedStep ?? '?'}: ${status?.lastError ?? 'not activated in time'}`);
          continue;
        }
        p.tenants.push(parseTenantId(tenantId));
        latencies.push(at - s0);
      }
    }),
  );
  clearInterval(progress);
  return { n: to - from, seconds: (performance.now() - t0) / 1000, latencies, failed };
}

const rate = (b: Batch) => b.latencies.length / b.seconds;
const batchLine = (label: string, b: Batch) =>
  `| ${label} | ${b.n} | ${b.failed.length} | ${b.seconds.toFixed(1)} | ${rate(b).toFixed(1)} | ${fmt(pct(b.latencies, 50), 0)} | ${fmt(pct(b.latencies, 99), 0)} |`;

/** 20 audit entries for each tenant of a platform, on its shard (superuser, bulk): what the read reads. Then ANALYZE. */
async function seedAudit(p: Plane): Promise<void> {
  const c = await world.connectSuperuser(p.controlDb);
  const placed = (await c.query<{ tenant_id: string; database: string }>('select p.tenant_id, s.database from tenant_placements p join shards s on s.id = p.shard_id where p.tenant_id = any($1::uuid[])', [p.tenants])).rows;
  await c.query('analyze');
  await c.end();
  for (const database of p.shardDbs) {
    const mine = placed.filter((r) => r.database === database).map((r) => r.tenant_id);
    const su = await world.connectSuperuser(database);
    try {
      await su.query(
        `insert into audit_log (id, tenant_id, seq, event_id, event_type, actor_id, occurred_at, recorded_at, payload, prev_hash, hash)
         select gen_random_uuid(), t, s, gen_random_uuid(), 'tenant.created', 'user:bench', now(), now(), jsonb_build_object('entryId', gen_random_uuid(), 'seq', s),
                md5('p' || t || s) || md5('q' || t || s), md5('h' || t || s) || md5('i' || t || s)
           from unnest($1::uuid[]) t, generate_series(1, ${AUDIT_ENTRIES}) s order by t, s`,
        [mine],
      );
      await su.query('analyze');
    } finally {
      await su.end();
    }
  }
}

// ------------------------------------------------------------------------------------------ reads

interface Round {
  p50: number;
  p99: number;
  rate: number;
}

const readOf = (tenantDb: TenantDatabase, t: TenantId) =>
  tenantDb.withTenant(t, (tx) =>
    tx.db.selectFrom('audit_log').select(['id', 'tenant_id', 'seq', 'event_id', 'event_type', 'actor_id', 'occurred_at', 'recorded_at', 'payload', 'prev_hash', 'hash']).orderBy('seq', 'desc').limit(20).execute(),
  );

/** `n` reads of tenants chosen by `pick`, CONCURRENCY in flight. */
async function reads(tenantDb: TenantDatabase, n: number, pick: (i: number) => TenantId): Promise<{ lat: number[]; round: Round }> {
  const lat: number[] = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      for (let i = next++; i < n; i = next++) {
        const t = pick(i);
        const s = performance.now();
        const rows = await readOf(tenantDb, t);
        lat.push(performance.now() - s);
        if (rows.length !== AUDIT_ENTRIES) throw new Error(`read ${rows.length} audit entries of tenant ${t}, expected ${AUDIT_ENTRIES}`);
      }
    }),
  );
  return { lat, round: { p50: pct(lat, 50), p99: pct(lat, 99), rate: (n / (performance.now() - t0)) * 1000 } };
}

interface Reader {
  plane: Plane;
  dbs: Databases;
  tenantDb: TenantDatabase;
  cold: Round;
  rounds: Round[];
}

/** A fresh process's view of a platform (its own pools, an empty placement cache), its cold pass and a warm-up done. */
async function reader(p: Plane): Promise<Reader> {
  const dbs = new Databases({ ...p.config, db: { ...p.config.db, poolSize: CONCURRENCY } });
  const tenantDb = new TenantDatabase(dbs, new ShardRouter(dbs));
  const shuffled = [...p.tenants].sort(() => Math.random() - 0.5);
  const cold = await reads(tenantDb, shuffled.length, (i) => shuffled[i]!);
  await reads(tenantDb, Math.min(READS, 2_000), () => p.tenants[Math.floor(Math.random() * p.tenants.length)]!);
  return { plane: p, dbs, tenantDb, cold: cold.round, rounds: [] };
}

// ------------------------------------------------------------------------------------------ main

async function main(): Promise<void> {
  loadLog.push(`start: load average ${loads()}`);
  const vectors = provisioningDeps(world.dbs, world.config, world.router, world.tenantDb).vectors;
  console.log(`leftovers of an earlier run removed: ${await cleanup(world.config, vectors)}`);

  const s0 = performance.now();
  const b = await createPlane('b');
  const a = await createPlane('a');
  console.log(`2 control planes and ${2 * SHARDS} shards created, migrated and registered in ${((performance.now() - s0) / 1000).toFixed(1)} s`);
  const readers: Reader[] = [];
  try {
    for (const p of [a, b]) {
      p.full.startWorker();
      p.fast.startWorker();
    }
    await b.deps.vectors.ensureCollection();
    const weaviateBefore = (await b.deps.vectors.listTenants()).length;

    console.log(`\n1. platform b: ${SAGA_SIGNUPS} sign-ups through the whole saga (Weaviate holds ${weaviateBefore} tenants)…`);
    loadLog.push(`b, whole saga: load average ${loads()}`);
    const saga = await signUps(b, b.full, 0, SAGA_SIGNUPS);
    console.log(`   ${saga.n} in ${saga.seconds.toFixed(1)} s: ${rate(saga).toFixed(1)} sign-ups/s, p50 ${fmt(pct(saga.latencies, 50), 0)} ms, p99 ${fmt(pct(saga.latencies, 99), 0)} ms, failed ${saga.failed.length}`);
    console.log(`\n2. platform b: up to ${TOTAL} tenants through the saga without its knowledge-namespace step…`);
    loadLog.push(`b, without the namespace: load average ${loads()}`);
    const fastB = await signUps(b, b.fast, SAGA_SIGNUPS, TOTAL);
    console.log(`\n3. platform a: ${FIRST} tenants through the saga without its knowledge-namespace step…`);
    loadLog.push(`a, without the namespace: load average ${loads()}`);
    const fastA = await signUps(a, a.fast, 0, FIRST);
    for (const p of [a, b]) await seedAudit(p);

    console.log(`\n4. reads, ${a.tenants.length} tenants (a) and ${b.tenants.length} (b) in alternating rounds…`);
    loadLog.push(`reads: load average ${loads()}`);
    readers.push(await reader(a), await reader(b));
    for (let r = 0; r < ROUNDS; r++) {
      for (const x of r % 2 ? [readers[1]!, readers[0]!] : readers) {
        const { round } = await reads(x.tenantDb, READS, () => x.plane.tenants[Math.floor(Math.random() * x.plane.tenants.length)]!);
        x.rounds.push(round);
        console.log(`  round ${r + 1}/${ROUNDS} ${x.plane.label} (${x.plane.tenants.length}): p50 ${fmt(round.p50, 2)} ms, p99 ${fmt(round.p99, 2)} ms, ${Math.round(round.rate)} reads/s`);
      }
    }
    loadLog.push(`end: load average ${loads()}`);

    // -------------------------------------------------------------------------------- report
    const spread: string[] = [];
    for (const p of [b, a]) {
      const c = await world.connectSuperuser(p.controlDb);
      const rows = (await c.query<{ name: string; tenant_count: number; placed: number }>(`select s.name, s.tenant_count, (select count(*)::int from tenant_placements p where p.shard_id = s.id) as placed from shards s order by s.name`)).rows;
      await c.end();
      spread.push(rows.map((s) => `${s.name} ${s.placed}${s.placed === s.tenant_count ? '' : ` (tenant_count ${s.tenant_count})`}`).join(', '));
    }
    console.log(`\nsign-ups, ${IN_FLIGHT} in flight, ${SHARDS} shards per platform:\n`);
    console.log('| path | sign-ups | failed | seconds | sign-ups/s | p50 (ms) | p99 (ms) |');
    console.log('|---|---:|---:|---:|---:|---:|---:|');
    console.log(batchLine(`b 0–${SAGA_SIGNUPS}: whole saga (with the Weaviate namespace)`, saga));
    console.log(batchLine(`b ${SAGA_SIGNUPS}–${TOTAL}: saga without the knowledge-namespace step`, fastB));
    console.log(batchLine(`a 0–${FIRST}: saga without the knowledge-namespace step`, fastA));
    const failures = [...saga.failed, ...fastB.failed, ...fastA.failed];
    if (failures.length) console.log(`  failed sign-ups: ${failures.slice(0, 5).join(' | ')}`);
    console.log(`placement: b ${spread[0]}; a ${spread[1]}`);

    console.log(`\ntenant read (withTenant + Kysely, newest 20 audit entries, RLS), ${CONCURRENCY} in flight, ${ROUNDS} rounds of ${READS} random reads per platform, alternating:\n`);
    console.log('| platform, tenants | cold pass p50 / p99 (ms) | p50 (ms, median of rounds) | p99 (ms, median of rounds) | p99 of each round | reads/s (median) |');
    console.log('|---|---:|---:|---:|---|---:|');
    for (const x of readers)
      console.log(
        `| ${x.plane.label}, ${x.plane.tenants.length} | ${fmt(x.cold.p50, 2)} / ${fmt(x.cold.p99, 2)} | ${fmt(median(x.rounds.map((r) => r.p50)), 2)} | ${fmt(median(x.rounds.map((r) => r.p99)), 2)} | ${x.rounds.map((r) => fmt(r.p99, 2)).join(', ')} | ${Math.round(median(x.rounds.map((r) => r.rate)))} |`,
      );
    const [ra, rb] = [readers[0]!.rounds, readers[1]!.rounds];
    const paired = ra.map((x, i) => rb[i]!.p99 / x.p99);
    const ofMedians = median(rb.map((r) => r.p99)) / median(ra.map((r) => r.p99));
    const ratio = median(paired);
    console.log(
      `\np99 at ${b.tenants.length} vs at ${a.tenants.length} tenants: ${ratio.toFixed(2)}× (median of the rounds' ratios ${paired.map((x) => x.toFixed(2)).join(', ')}; ratio of the medians ${ofMedians.toFixed(2)}×) — target ≤ 1.2×: ${ratio <= 1.2 ? 'MET' : 'MISSED'}`,
    );
    console.log(`p50 at ${b.tenants.length} vs ${a.tenants.length}: ${(median(rb.map((r) => r.p50)) / median(ra.map((r) => r.p50))).toFixed(2)}×`);
    console.log(`\n${loadLog.join('\n')}`);
  } finally {
    for (const x of readers) await x.dbs.close();
    for (const p of [a, b]) {
      await p.full.close();
      await p.fast.close();
    }
    if (!KEEP) console.log(`cleanup: removed ${await cleanup(world.config, vectors)}`);
    for (const p of [a, b]) {
      await p.deps.vectors.close();
      await p.dbs.close();
    }
    await vectors.close();
    await world.close();
  }
}

main().then(
  () => setTimeout(() => process.exit(0), 1_000).unref(),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
