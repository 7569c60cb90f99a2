/**
 * The tenant transaction's opening, A/B: what each shape of the gate costs PostgreSQL per transaction.
 *
 *   scripts/run node -r @swc-node/register bench/tenant-gate.bench.ts
 *
 * Every variant runs the product's transaction (runTransaction + TenantTransaction: `begin`, the
 * opening and the callback's first statement pipelined in one write, then `commit`), only the opening
 * differs. The callback's statement is the same small read under RLS in every variant. Each variant
 * has its own connections, so the CPU of its backends is its own: read from /proc/<pid>/schedstat
 * (nanoseconds on the CPU; CPU time, not wall time, so it holds up on a loaded machine), per
 * transaction, per round; in a round every variant runs interleaved with the others (each worker takes
 * them in turn), so all see the same machine load; medians of rounds and of paired per-round differences.
 * Then the Node CPU of each (this process's, `process.cpuUsage`), which cannot be split between
 * interleaved variants: each variant alone, in rotated order, the same number of rounds.
 *
 * Openings (after `begin`):
 *   set      `select set_config('app.tenant_id', $1, true)` (no gate: the floor, what the opening cost before moves)
 *   gate     `select tenant_gate($1)` (plpgsql, tenant migration 20261214110000_tenant_gate_pause; the
 *            previous opening, before tenantGate())
 *   fast     the product's opening (tenantGate() in libs/platform/db/src/tenant-transaction.ts): two
 *            plain statements, the setting + the lock tried (tenant_gate() only if it is held), then
 *            the fence read in the next statement's snapshot (tenant_gate() only for a fence row)
 *   one      ONE plain statement: setting, lock tried, fence read as a sub-select (the statement's own
 *            snapshot, taken before the lock: NOT correct, see BENCH_RACE; measured as a bound)
 *   sqlfn    one statement calling a LANGUAGE sql function for the fence read (not inlinable: a fresh
 *            snapshot per call, re-planned per execution in PostgreSQL 15)
 *   plfn     one statement calling a plpgsql function that only reads the fence (the setting and the
 *            lock as plain expressions of the statement, ahead of the call)
 * and, only when named in BENCH_VARIANTS, parts for a decomposition: `lock` (setting + lock tried),
 * `fence` (setting + the fence sub-select), `fencenorls` (the same on a copy without RLS).
 *
 * Setup (idempotent): scratch database `hotdash_bench_gate` (superuser over the unix socket, owner
 * hotdash_owner, the grants of deploy/local/infra.sh pg_bootstrap), tenant migrations applied with
 * migrateDatabase, the candidate functions (bench_*, scratch only), BENCH_FENCES fences of other
 * tenants (tombstones of tenants moved away; the bench's tenants have none).
 *
 * BENCH_RACE=1 runs instead the counterexample for `one` (and the same for `fast`): a mover holds the
 * pause lock and has written the fence; the transaction's opening statement starts (its snapshot is
 * taken) and is held up 0.5 s before it tries the lock (a `pg_sleep` put in front: a backend
 * preempted there); the mover commits meanwhile. `one` then finds the lock free and no fence, and
 * the callback runs on the shard the tenant left; `fast` is refused (HDM01).
 *
 * Env: BENCH_FENCES (20), BENCH_OPS (transactions per variant per round, 3000), BENCH_ROUNDS (8), BENCH_CONCURRENCY (4),
 * BENCH_VARIANTS (comma list), HOTDASH_PG_SOCKET_DIR.
 */
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { sql } from 'kysely';
import { Client, Pool } from 'pg';
import { loadConfig, PlatformConfig } from '@hotdash/platform-config';
import { tenantGate, TenantTransaction, TenantTransactionTimeoutError } from '@hotdash/platform-db';
import { BEGIN_STATEMENT, runTransaction, Statement } from '@hotdash/platform-db/src/driver-transaction';
import { migrateDatabase, readMigrations } from '@hotdash/platform-db/src/migrate/runner';

const DATABASE = 'hotdash_bench_gate';
const TENANTS = 1_000;
const OPS = Number(process.env.BENCH_OPS ?? 3_000);
const ROUNDS = Math.max(3, Number(process.env.BENCH_ROUNDS ?? 8));
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 4);
const FENCES = Number(process.env.BENCH_FENCES ?? 20);
const SOCKET_DIR = process.env.HOTDASH_PG_SOCKET_DIR ?? join(__dirname, '..', '.local', 'pg', 'run');
const TENANT_MIGRATIONS = join(__dirname, '..', 'prisma', 'tenant', 'migrations');

const tenantOf = (i: number) => `01930000-0000-7000-8000-${(i + 1).toString(16).padStart(12, '0')}`;

// Scratch candidates (not the product's): created by the setup in the bench database only.
const CANDIDATES = `
create or replace function bench_gate_wait(p_tenant uuid) returns boolean language plpgsql as $$
begin
  perform pg_catalog.pg_advisory_xact_lock_shared(72011260, pg_catalog.hashtext(p_tenant::text));
  if pg_catalog.current_setting('transaction_isolation') <> 'read committed' then
    raise exception 'tenant % was paused while this transaction began', p_tenant
      using errcode = 'HDM01', detail = 'paused', hint = 'run the transaction again';
  end if;
  return true;
end $$;
create or replace function bench_gate_refuse(p_tenant uuid, p_shard uuid, p_version integer) returns void language plpgsql as $$
begin
  raise exception 'tenant % is not served by this shard', p_tenant
    using errcode = 'HDM01', detail = coalesce(p_shard::text || ':' || p_version, 'moving-in'), hint = 'route the tenant by its placement again';
end $$;
create or replace function bench_fence_sql(p_tenant uuid, p_open boolean) returns void language sql volatile as $$
  select public.bench_gate_refuse(f.tenant_id, f.moved_to_shard, f.placement_version) from public.tenant_fences f where f.tenant_id = p_tenant and p_open
$$;
create or replace function bench_fence_pl(p_tenant uuid, p_open boolean) returns void language plpgsql as $$
declare
  f record;
begin
  select moved_to_shard, placement_version into f from public.tenant_fences where tenant_id = p_tenant;
  if found then
    perform public.bench_gate_refuse(p_tenant, f.moved_to_shard, f.placement_version);
  end if;
end $$;
create table if not exists bench_fences_norls (like tenant_fences including all);
grant select on bench_fences_norls to hotdash_app;
grant execute on function bench_gate_wait(uuid), bench_gate_refuse(uuid, uuid, integer), bench_fence_sql(uuid, boolean), bench_fence_pl(uuid, boolean) to hotdash_app;
`;

const SETTING = `pg_catalog.set_config('app.tenant_id', $1::uuid::text, true)`;
const LOCK_TRIED_ELSE_WAITED = `case when pg_catalog.pg_try_advisory_xact_lock_shared(72011260, pg_catalog.hashtext($1::uuid::text)) then true else bench_gate_wait($1::uuid) end`;

type VariantName = 'set' | 'gate' | 'fast' | 'one' | 'sqlfn' | 'plfn' | 'lock' | 'fence' | 'fencenorls';
const OPENINGS: Record<VariantName, (id: string) => Statement[]> = {
  set: (id) => [{ text: `select ${SETTING}`, name: 'hb_set', values: [id] }],
  gate: (id) => [{ text: 'select tenant_gate($1::uuid)', name: 'hb_gate', values: [id] }],
  fast: (id) => tenantGate(id),
  one: (id) => [
    {
      text: `select ${SETTING}, pg_catalog.pg_try_advisory_xact_lock_shared(72011260, pg_catalog.hashtext($1::uuid::text)) as free,
        (select coalesce(moved_to_shard::text || ':' || placement_version, 'moving-in') from public.tenant_fences where tenant_id = $1::uuid) as fence`,
      name: 'hb_one',
      values: [id],
    },
  ],
  sqlfn: (id) => [{ text: `select ${SETTING}, bench_fence_sql($1::uuid, ${LOCK_TRIED_ELSE_WAITED})`, name: 'hb_sqlfn', values: [id] }],
  plfn: (id) => [{ text: `select ${SETTING}, bench_fence_pl($1::uuid, ${LOCK_TRIED_ELSE_WAITED})`, name: 'hb_plfn', values: [id] }],
  // Parts, for the decomposition (not gates): the setting and the lock tried; the setting and the
  // fence read; the same fence read on a copy of tenant_fences without row-level security.
  lock: (id) => [{ text: `select ${SETTING}, pg_catalog.pg_try_advisory_xact_lock_shared(72011260, pg_catalog.hashtext($1::uuid::text))`, name: 'hb_lock', values: [id] }],
  fence: (id) => [{ text: `select ${SETTING}, (select moved_to_shard from public.tenant_fences where tenant_id = $1::uuid)`, name: 'hb_fence', values: [id] }],
  fencenorls: (id) => [{ text: `select ${SETTING}, (select moved_to_shard from public.bench_fences_norls where tenant_id = $1::uuid)`, name: 'hb_fencenorls', values: [id] }],
};
const ALL = Object.keys(OPENINGS) as VariantName[];
const VARIANTS = (process.env.BENCH_VARIANTS?.split(',') as VariantName[] | undefined) ?? ALL.filter((v) => !['lock', 'fence', 'fencenorls'].includes(v));

async function superuser(database: string, port: number): Promise<Client> {
  const c = new Client({ host: SOCKET_DIR, port, database, user: 'postgres', application_name: 'hotdash-bench-setup' });
  await c.connect();
  return c;
}

async function setup(config: PlatformConfig): Promise<void> {
  const admin = await superuser('postgres', config.db.controlPort);
  try {
    if (!(await admin.query('select 1 from pg_database where datname = $1', [DATABASE])).rowCount) await admin.query(`create database ${DATABASE} owner hotdash_owner`);
  } finally {
    await admin.end();
  }
  const su = await superuser(DATABASE, config.db.controlPort);
  try {
    await su.query(
      `revoke all on schema public from public; alter schema public owner to hotdash_owner; ` +
        `grant usage on schema public to hotdash_app, hotdash_relay; grant connect on database ${DATABASE} to hotdash_app, hotdash_relay`,
    );
    const report = await migrateDatabase({ host: config.db.controlHost, port: config.db.controlPort, database: DATABASE }, config.db.owner, readMigrations(TENANT_MIGRATIONS));
    if (report.error) throw new Error(report.error);
    await su.query('set role hotdash_owner');
    await su.query(CANDIDATES);
    await su.query('reset role');
    // FENCES fences of other tenants (tombstones of tenants moved away); the bench's tenants have none.
    await su.query('truncate tenant_fences, bench_fences_norls');
    await su.query(
      `insert into tenant_fences (tenant_id, move_id, moved_to_shard, placement_version)
       select ('01930000-0000-7000-9000-' || lpad(to_hex(i), 12, '0'))::uuid, gen_random_uuid(), gen_random_uuid(), 2 from generate_series(1, $1::int) i`,
      [FENCES],
    );
    await su.query('insert into bench_fences_norls select * from tenant_fences');
    await su.query('analyze tenant_fences; analyze bench_fences_norls');
  } finally {
    await su.end();
  }
}

/** Nanoseconds on the CPU of each backend of the database connected with `applicationName`. */
async function backendNs(monitor: Client, applicationName: string): Promise<Map<number, number>> {
  const { rows } = await monitor.query<{ pid: number }>('select pid from pg_stat_activity where datname = $1 and application_name = $2', [DATABASE, applicationName]);
  const ns = new Map<number, number>();
  for (const { pid } of rows) {
    try {
      ns.set(pid, Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[0]));
    } catch {
      // gone
    }
  }
  return ns;
}

interface Sample {
  pgUs: number;
  latencyMs: number;
}

/**
 * One round: `n` transactions of EVERY variant, interleaved (each worker takes the variants in turn),
 * so all of them run in the same window under the same machine load; each variant's backends are its
 * own, so their CPU is the variant's.
 */
async function round(pools: Record<VariantName, Pool>, n: number, monitor: Client): Promise<Record<VariantName, Sample>> {
  const before = Object.fromEntries(await Promise.all(VARIANTS.map(async (v) => [v, await backendNs(monitor, `bench-gate-${v}`)]))) as Record<VariantName, Map<number, number>>;
  const busyMs = Object.fromEntries(VARIANTS.map((v) => [v, 0])) as Record<VariantName, number>;
  let issued = 0;
  const total = n * VARIANTS.length;
  const worker = async (w: number): Promise<void> => {
    for (let k = w; issued < total; k++) {
      issued++;
      const v = VARIANTS[k % VARIANTS.length]!;
      const id = tenantOf(Math.floor(Math.random() * TENANTS));
      const t0 = performance.now();
      const client = await pools[v].connect();
      const run = { opening: [BEGIN_STATEMENT, ...OPENINGS[v](id)], timeoutMs: 10_000, timeoutError: (ms: number) => new TenantTransactionTimeoutError(ms), endedBy: 'bench' };
      const rows = await runTransaction(client, new TenantTransaction(client, id), run, (tx) => sql<{ n: number }>`select count(*)::int as n from tenant_move_markers`.execute(tx.db));
      if (rows.rows[0]?.n !== 0) throw new Error('unexpected rows');
      busyMs[v] += performance.now() - t0;
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, (_, w) => worker(w)));
  const out = {} as Record<VariantName, Sample>;
  for (const v of VARIANTS) {
    const after = await backendNs(monitor, `bench-gate-${v}`);
    let ns = 0;
    for (const [pid, x] of after) ns += x - (before[v].get(pid) ?? 0);
    out[v] = { pgUs: ns / 1000 / n, latencyMs: busyMs[v] / n };
  }
  return out;
}

/** Node CPU (this process) per transaction of one variant run alone: `n` transactions, CONCURRENCY in flight. */
async function nodeRound(pool: Pool, v: VariantName, n: number): Promise<number> {
  let issued = 0;
  const cpu0 = process.cpuUsage();
  const worker = async (): Promise<void> => {
    while (issued < n) {
      issued++;
      const id = tenantOf(Math.floor(Math.random() * TENANTS));
      const client = await pool.connect();
      const run = { opening: [BEGIN_STATEMENT, ...OPENINGS[v](id)], timeoutMs: 10_000, timeoutError: (ms: number) => new TenantTransactionTimeoutError(ms), endedBy: 'bench' };
      await runTransaction(client, new TenantTransaction(client, id), run, (tx) => sql<{ n: number }>`select count(*)::int as n from tenant_move_markers`.execute(tx.db));
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const cpu = process.cpuUsage(cpu0);
  return (cpu.user + cpu.system) / n;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** BENCH_RACE: see the header. */
async function race(config: PlatformConfig): Promise<void> {
  const tenant = tenantOf(TENANTS + 7); // not used by the measurement
  const connect = async (role: 'owner' | 'app') => {
    const c = new Client({ host: config.db.controlHost, port: config.db.controlPort, database: DATABASE, user: config.db[role].user, password: config.db[role].password });
    await c.connect();
    return c;
  };
  for (const v of ['one', 'fast'] as const) {
    const mover = await connect('owner');
    const app = await connect('app');
    try {
      await mover.query('begin');
      await mover.query(`select set_config('app.tenant_id', $1, true)`, [tenant]);
      await mover.query('delete from tenant_fences where tenant_id = $1', [tenant]);
      await mover.query('select pg_advisory_xact_lock(72011260, hashtext($1))', [tenant]);
      await mover.query('insert into tenant_fences (tenant_id, move_id, moved_to_shard, placement_version) values ($1, gen_random_uuid(), gen_random_uuid(), 2)', [tenant]);
      await app.query('begin');
      const [first, ...rest] = OPENINGS[v](tenant);
      // The opening's first statement, held up between its snapshot and its lock.
      const opening = app.query({ text: first!.text.replace(/^select /, 'select pg_catalog.pg_sleep(0.5), '), values: first!.values });
      await new Promise((resolve) => setTimeout(resolve, 150));
      await mover.query('commit'); // the decision: fence committed, lock released
      const outcome = await (async () => {
        await opening;
        const fence = first!.text.includes('as fence') ? (await opening).rows[0].fence : undefined;
        for (const st of rest) await app.query({ text: st.text, values: st.values });
        if (fence) return `refused by the client (fence ${fence})`;
        const seen = await app.query('select count(*)::int as n from tenant_fences');
        return `NOT refused: the callback ran on the shard the tenant left (its next statement sees ${seen.rows[0].n} fence)`;
      })().catch((err: { code?: string; detail?: string }) => `refused on the server: ${err.code} ${err.detail}`);
      console.log(`${v}: ${outcome}`);
      await app.query('rollback').catch(() => undefined);
    } finally {
      await mover.query('rollback').catch(() => undefined);
      await mover.query(`select set_config('app.tenant_id', $1, false)`, [tenant]);
      await mover.query('delete from tenant_fences where tenant_id = $1', [tenant]);
      await mover.end();
      await app.end();
    }
  }
}

async function main(): Promise<void> {
  const config = loadConfig();
  await setup(config);
  if (process.env.BENCH_RACE) return race(config);
  const pools = Object.fromEntries(
    VARIANTS.map((v) => {
      const pool = new Pool({
        host: config.db.controlHost,
        port: config.db.controlPort,
        database: DATABASE,
        user: config.db.app.user,
        password: config.db.app.password,
        max: CONCURRENCY,
        application_name: `bench-gate-${v}`,
      });
      pool.on('error', () => undefined);
      return [v, pool];
    }),
  ) as Record<VariantName, Pool>;
  const monitor = await superuser('postgres', config.db.controlPort);
  const samples = Object.fromEntries(VARIANTS.map((v) => [v, [] as Sample[]])) as Record<VariantName, Sample[]>;
  const load0 = loadavg();
  try {
    await round(pools, 500, monitor); // warm-up: connections, prepared statements, caches
    for (let r = 0; r < ROUNDS; r++) {
      const result = await round(pools, OPS, monitor);
      const line: string[] = [];
      for (const v of VARIANTS) {
        samples[v].push(result[v]);
        line.push(`${v} ${result[v].pgUs.toFixed(1)}`);
      }
      console.log(`round ${r + 1}/${ROUNDS} (PostgreSQL µs/tx): ${line.join(', ')}; load ${loadavg()[0]!.toFixed(2)}`);
    }
    // Node CPU: the process's CPU cannot be split between interleaved variants, so each runs alone
    // here, in rotated order every round.
    const nodeUs = Object.fromEntries(VARIANTS.map((v) => [v, [] as number[]])) as Record<VariantName, number[]>;
    for (let r = 0; r < ROUNDS; r++) for (let i = 0; i < VARIANTS.length; i++) {
      const v = VARIANTS[(i + r) % VARIANTS.length]!;
      nodeUs[v].push(await nodeRound(pools[v], v, OPS));
    }
    const load1 = loadavg();
    console.log(`\n${DATABASE}: ${FENCES} fences, ${OPS} transactions/variant/round, ${ROUNDS} rounds, ${CONCURRENCY} in flight; load average ${load0.map((x) => x.toFixed(2)).join(' ')} → ${load1.map((x) => x.toFixed(2)).join(' ')}\n`);
    console.log('| opening | PostgreSQL CPU µs/tx (median) | min | max | vs set (paired median) | vs gate (paired median) | mean latency ms | Node CPU µs/tx (median) | Node vs gate (paired median) |');
    console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|');
    const paired = (v: VariantName, base: VariantName) =>
      samples[base] ? median(samples[v].map((s, i) => s.pgUs - samples[base][i]!.pgUs)).toFixed(1) : '–';
    for (const v of VARIANTS) {
      const pg = samples[v].map((s) => s.pgUs);
      console.log(
        `| ${v} | ${median(pg).toFixed(1)} | ${Math.min(...pg).toFixed(1)} | ${Math.max(...pg).toFixed(1)} | ${paired(v, 'set')} | ${paired(v, 'gate')} | ${median(samples[v].map((s) => s.latencyMs)).toFixed(2)} | ${median(nodeUs[v]).toFixed(1)} | ${nodeUs.gate ? median(nodeUs[v].map((x, i) => x - nodeUs.gate[i]!)).toFixed(1) : '–'} |`,
      );
    }
  } finally {
    await monitor.end();
    await Promise.all(Object.values(pools).map((p) => p.end()));
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
