/**
 * Tenant reads: the project's path (withTenant + Kysely on the driver, under RLS) against raw `pg` baselines.
 *
 *   scripts/run node -r @swc-node/register bench/tenant-read.bench.ts
 *
 * Setup (idempotent; the load is skipped when already done): a scratch database
 * `hotdash_bench_read` (created as superuser over the unix socket, owner hotdash_owner, the schema
 * grants of deploy/local/infra.sh pg_bootstrap), the tenant migrations applied with migrateDatabase,
 * 1,000,000 audit_log rows (1,000 tenants × 1,000 entries, one INSERT … SELECT generate_series as
 * superuser) and a copy `audit_log_norls` with the same columns and indexes but no row-level
 * security (select granted to hotdash_app), both loaded in the same physical order, VACUUM ANALYZE.
 * The bench database is addressed as a shard built by hand: nothing is written to the control plane.
 *
 * Variants, each a fixed number of operations per round with the same number in flight, a random
 * tenant per operation, every connection as hotdash_app, one pool of the same size per path:
 *   a   withTenantOnShard(shard, t, tx => tx.db.selectFrom('audit_log').select([...]).orderBy('seq', 'desc').limit(20).execute()) (Kysely, RLS)
 *   a2  withTenantOnShard(shard, t, tx => sql<Record<string, unknown>>`select … from audit_log order by seq desc limit 20`.execute(tx.db).then((r) => r.rows)) (a parameterised template)
 *   r   readOnceOnShard(shard, t, db => db.selectFrom('audit_log').select([...]).orderBy('seq', 'desc').limit(20)): the same read,
 *       its begin read only, gate, select and commit in one write (one round trip)
 *   b   pool.query(`select … from audit_log_norls where tenant_id = $1 order by seq desc limit 20`), no transaction
 *   c   begin; select set_config('app.tenant_id', $1, true); select … from audit_log order by seq desc limit 20; commit
 *   d   the same four statements on audit_log_norls with `where tenant_id = $1` (no RLS)
 *   g   as a, with the opening withTenant sent before tenantGate() (`begin`, `select tenant_gate($1)`: the
 *       plpgsql gate on every transaction), through runTransaction on the same pool: the A/B of the
 *       opening (tenantGate() in libs/platform/db/src/tenant-transaction.ts) in the same run
 *   e   diagnostic, what the transaction costs in ONE round trip: `begin; select set_config(…); select …
 *       from audit_log …; commit` as one simple-protocol string (the tenant id a validated UUID
 *       literal; possible here only because this select has no parameters), RLS
 * Rounds rotate the order of the variants; the report shows medians. a/b is the project's path
 * against the cheapest possible read; c/d isolates row-level security (same transaction shape).
 *
 * Env: BENCH_OPS (per variant per round, 4000), BENCH_ROUNDS (5), BENCH_CONCURRENCY (8),
 * HOTDASH_PG_SOCKET_DIR (superuser socket, default .local/pg/run).
 */
import { sql } from 'kysely';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Client, Pool, PoolClient, QueryConfig } from 'pg';
import type { TenantId } from '@hotdash/contracts';
import { loadConfig, PlatformConfig } from '@hotdash/platform-config';
import { Databases, ShardInfo, ShardRouter, TenantDatabase, TenantTransaction, TenantTransactionTimeoutError } from '@hotdash/platform-db';
import { BEGIN_STATEMENT, runTransaction } from '@hotdash/platform-db/src/driver-transaction';
import { migrateDatabase, readMigrations } from '@hotdash/platform-db/src/migrate/runner';

const DATABASE = 'hotdash_bench_read';
const TENANTS = 1_000;
const ROWS_PER_TENANT = 1_000;
const OPS = Number(process.env.BENCH_OPS ?? 4_000);
const ROUNDS = Math.max(3, Number(process.env.BENCH_ROUNDS ?? 5));
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 8);
const POOL_SIZE = CONCURRENCY;
const OVERALL_TIMEOUT_MS = 6 * 60_000 - 15_000;
const SOCKET_DIR = process.env.HOTDASH_PG_SOCKET_DIR ?? join(__dirname, '..', '.local', 'pg', 'run');
const TENANT_MIGRATIONS = join(__dirname, '..', 'prisma', 'tenant', 'migrations');

const COLUMNS = 'id, tenant_id, seq, event_id, event_type, actor_id, occurred_at, recorded_at, payload, prev_hash, hash';

/** Tenant i (0-based) has a fixed UUIDv7-shaped id, so reruns find the loaded data. */
function tenantOf(i: number): TenantId {
  return `01930000-0000-7000-8000-${(i + 1).toString(16).padStart(12, '0')}` as TenantId;
}
const TENANT_ID_SQL = `('01930000-0000-7000-8000-' || lpad(to_hex(t), 12, '0'))::uuid`;

function randomTenant(): TenantId {
  return tenantOf(Math.floor(Math.random() * TENANTS));
}

// ------------------------------------------------------------------------------------------- setup

async function superuser(database: string): Promise<Client> {
  const c = new Client({ host: SOCKET_DIR, port: loadConfig().db.controlPort, database, user: 'postgres', application_name: 'hotdash-bench-setup' });
  await c.connect();
  return c;
}

async function setup(config: PlatformConfig): Promise<void> {
  const admin = await superuser('postgres');
  try {
    const exists = await admin.query('select 1 from pg_database where datname = $1', [DATABASE]);
    if (exists.rowCount === 0) {
      console.log(`creating database ${DATABASE}`);
      await admin.query(`create database ${DATABASE} owner hotdash_owner`);
    }
  } finally {
    await admin.end();
  }

  const su = await superuser(DATABASE);
  try {
    // Same grants as deploy/local/infra.sh pg_bootstrap.
    await su.query(
      `revoke all on schema public from public; alter schema public owner to hotdash_owner; ` +
        `grant usage on schema public to hotdash_app, hotdash_relay; grant connect on database ${DATABASE} to hotdash_app, hotdash_relay`,
    );
    const location = { host: config.db.controlHost, port: config.db.controlPort, database: DATABASE };
    const report = await migrateDatabase(location, config.db.owner, readMigrations(TENANT_MIGRATIONS), (m) => console.log(m));
    if (report.error) throw new Error(report.error);

    const expected = TENANTS * ROWS_PER_TENANT;
    const count = async (table: string) => Number((await su.query(`select count(*)::bigint as n from ${table}`)).rows[0].n);
    let changed = false;
    const have = await count('audit_log');
    if (have !== expected) {
      if (have !== 0) await su.query('truncate audit_log');
      console.log(`loading ${expected.toLocaleString('en-US')} audit_log rows (${TENANTS} tenants × ${ROWS_PER_TENANT})…`);
      const t0 = performance.now();
      // Superuser: bypasses RLS. Rows in (tenant, seq) order, payload and hash chain of realistic size.
      await su.query(`insert into audit_log (${COLUMNS})
        select gen_random_uuid(), ${TENANT_ID_SQL}, s, gen_random_uuid(), 'tenant.created', 'user:bench',
               timestamptz '2026-01-01' + make_interval(secs => t * 1000 + s), timestamptz '2026-01-01' + make_interval(secs => t * 1000 + s),
               jsonb_build_object('entryId', gen_random_uuid(), 'seq', s, 'note', 'bench row ' || s),
               md5('p' || t || ':' || s) || md5('q' || t || ':' || s), md5('h' || t || ':' || s) || md5('i' || t || ':' || s)
        from generate_series(1, ${TENANTS}) t, generate_series(1, ${ROWS_PER_TENANT}) s
        order by t, s`);
      console.log(`  loaded in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      changed = true;
    }
    const norls = await su.query(`select 1 from pg_class where relname = 'audit_log_norls' and relkind = 'r'`);
    if (norls.rowCount === 0 || (await count('audit_log_norls')) !== expected) {
      console.log('creating audit_log_norls (same columns and indexes, no row-level security)…');
      await su.query('drop table if exists audit_log_norls');
      // LIKE … INCLUDING ALL copies columns, defaults, constraints and indexes, never RLS or policies.
      await su.query('create table audit_log_norls (like audit_log including all)');
      await su.query('alter table audit_log_norls owner to hotdash_owner');
      await su.query(`insert into audit_log_norls select ${COLUMNS} from audit_log order by tenant_id, seq`);
      await su.query('grant select on audit_log_norls to hotdash_app');
      changed = true;
    }
    if (changed) {
      console.log('vacuum analyze…');
      await su.query('vacuum analyze audit_log');
      await su.query('vacuum analyze audit_log_norls');
    } else {
      await su.query('analyze audit_log');
      await su.query('analyze audit_log_norls');
    }
  } finally {
    await su.end();
  }
}

// -------------------------------------------------------------------------------------- variants

type VariantName = 'a' | 'a2' | 'r' | 'b' | 'c' | 'd' | 'e' | 'g';
const LABELS: Record<VariantName, string> = {
  a: 'a  withTenant + Kysely (RLS)',
  a2: 'a2 withTenant + raw SQL template (RLS)',
  r: 'r  readOnce + Kysely (RLS, one round trip)',
  b: 'b  raw pg, no tx, audit_log_norls',
  c: 'c  raw pg tx + set_config, audit_log (RLS)',
  d: 'd  raw pg tx + set_config, audit_log_norls',
  e: 'e  raw pg, the whole tx in one round trip (RLS), diagnostic',
  g: 'g  as a, the previous opening (select tenant_gate($1))',
};
const VARIANTS: VariantName[] = ['a', 'a2', 'r', 'b', 'c', 'd', 'e', 'g'];
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

interface Ctx {
  tenantDb: TenantDatabase;
  dbs: Databases;
  shard: ShardInfo;
  pool: Pool;
}

async function inTx(pool: Pool, tenantId: string, sql: string, params: unknown[]): Promise<number> {
  const client: PoolClient = await pool.connect();
  try {
    await client.query('begin');
    await client.query(`select set_config('app.tenant_id', $1, true)`, [tenantId]);
    // Extended protocol in both c and d (pg would send c's parameterless select as a simple query).
    const r = await client.query({ text: sql, values: params, queryMode: 'extended' } as QueryConfig); // queryMode: pg ≥ 8.10, not in @types/pg
    await client.query('commit');
    return r.rowCount ?? 0;
  } catch (err) {
    await client.query('rollback').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

const kyselyRead = (tx: TenantTransaction) =>
  tx.db
    .selectFrom('audit_log')
    .select(['id', 'tenant_id', 'seq', 'event_id', 'event_type', 'actor_id', 'occurred_at', 'recorded_at', 'payload', 'prev_hash', 'hash'])
    .orderBy('seq', 'desc')
    .limit(20)
    .execute();

/** The opening withTenant sent before tenantGate(): `begin`, then the plpgsql gate (setting, lock, fence) as one named statement. */
const PREVIOUS_GATE = 'select tenant_gate($1::uuid)';

const ops: Record<VariantName, (ctx: Ctx, tenantId: TenantId) => Promise<number>> = {
  a: async ({ tenantDb, shard }, tenantId) => (await tenantDb.withTenantOnShard(shard, tenantId, kyselyRead)).length,
  r: async ({ tenantDb, shard }, tenantId) =>
    (
      await tenantDb.readOnceOnShard(shard, tenantId, (db) =>
        db.selectFrom('audit_log').select(['id', 'tenant_id', 'seq', 'event_id', 'event_type', 'actor_id', 'occurred_at', 'recorded_at', 'payload', 'prev_hash', 'hash']).orderBy('seq', 'desc').limit(20),
      )
    ).length,
  g: async ({ dbs, shard }, tenantId) => {
    const client = await dbs.pool(shard, 'app').connect();
    const opening = [BEGIN_STATEMENT, { text: PREVIOUS_GATE, name: 'hotdash_tenant_gate', values: [tenantId] }];
    const run = { opening, timeoutMs: 10_000, timeoutError: (ms: number) => new TenantTransactionTimeoutError(ms), endedBy: 'bench' };
    return (await runTransaction(client, new TenantTransaction(client, tenantId), run, kyselyRead)).length;
  },
  a2: async ({ tenantDb, shard }, tenantId) =>
    (
      await tenantDb.withTenantOnShard(shard, tenantId, (tx) =>
        sql<unknown>`select id, tenant_id, seq, event_id, event_type, actor_id, occurred_at, recorded_at, payload, prev_hash, hash
          from audit_log order by seq desc limit 20`.execute(tx.db).then((r) => r.rows),
      )
    ).length,
  b: async ({ pool }, tenantId) =>
    (await pool.query(`select ${COLUMNS} from audit_log_norls where tenant_id = $1 order by seq desc limit 20`, [tenantId])).rowCount ?? 0,
  c: async ({ pool }, tenantId) => inTx(pool, tenantId, `select ${COLUMNS} from audit_log order by seq desc limit 20`, []),
  d: async ({ pool }, tenantId) => inTx(pool, tenantId, `select ${COLUMNS} from audit_log_norls where tenant_id = $1 order by seq desc limit 20`, [tenantId]),
  e: async ({ pool }, tenantId) => {
    if (!UUID.test(tenantId)) throw new Error(`not a tenant id: ${tenantId}`);
    const results = (await pool.query(
      `begin; select set_config('app.tenant_id', '${tenantId}', true); select ${COLUMNS} from audit_log order by seq desc limit 20; commit`,
    )) as unknown as { rowCount: number | null }[];
    return results[2]!.rowCount ?? 0;
  },
};

// CPU per operation, client side (this Node process) and server side (the PostgreSQL backends
// connected to the bench database, read from /proc): says where the time goes on a shared 2-core box.
let monitor: Client | undefined;
async function backendTicks(): Promise<Map<number, number>> {
  const ticks = new Map<number, number>();
  if (!monitor) return ticks;
  const { rows } = await monitor.query<{ pid: number }>('select pid from pg_stat_activity where datname = $1', [DATABASE]);
  for (const { pid } of rows) {
    try {
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      ticks.set(pid, Number(fields[11]) + Number(fields[12])); // utime + stime
    } catch {
      // gone, or no /proc: not counted
    }
  }
  return ticks;
}
const TICK_US = 10_000; // CLK_TCK = 100 on Linux

interface Sample {
  rate: number;
  nodeCpuUs: number;
  pgCpuUs: number;
}

async function measureWithCpu(ctx: Ctx, v: VariantName, n: number): Promise<Sample> {
  const before = await backendTicks();
  const cpu0 = process.cpuUsage();
  const rate = await measure(ctx, v, n);
  const cpu = process.cpuUsage(cpu0);
  const after = await backendTicks();
  let ticks = 0;
  for (const [pid, t] of after) ticks += t - (before.get(pid) ?? 0);
  return { rate, nodeCpuUs: (cpu.user + cpu.system) / n, pgCpuUs: (ticks * TICK_US) / n };
}

/** Runs `n` operations of a variant with CONCURRENCY in flight; returns ops/s. */
async function measure(ctx: Ctx, v: VariantName, n: number): Promise<number> {
  let issued = 0;
  const op = ops[v];
  const worker = async (): Promise<void> => {
    while (issued < n) {
      issued++;
      const rows = await op(ctx, randomTenant());
      if (rows !== 20) throw new Error(`variant ${v} read ${rows} rows, expected 20`);
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return (n / (performance.now() - t0)) * 1000;
}

// ----------------------------------------------------------------------------------------- report

const samples: Record<VariantName, Sample[]> = { a: [], a2: [], r: [], b: [], c: [], d: [], e: [], g: [] };
const results: Record<VariantName, number[]> = { a: [], a2: [], r: [], b: [], c: [], d: [], e: [], g: [] };

function median(values: number[]): number {
  const s = [...values].sort((x, y) => x - y);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

function report(): void {
  if (VARIANTS.some((v) => results[v].length === 0)) {
    console.log('not enough rounds completed for a comparison');
    return;
  }
  const m = Object.fromEntries(VARIANTS.map((v) => [v, median(results[v])])) as Record<VariantName, number>;
  console.log(
    `\n${DATABASE}: ${(TENANTS * ROWS_PER_TENANT).toLocaleString('en-US')} rows, ${TENANTS} tenants; ${OPS} ops/variant/round, ` +
      `${results.a.length} rounds, ${CONCURRENCY} in flight, pool ${POOL_SIZE}; medians\n`,
  );
  console.log('| variant | ops/s (median) | min | max | mean latency (ms) | Node CPU µs/op | PostgreSQL CPU µs/op |');
  console.log('|---|---:|---:|---:|---:|---:|---:|');
  for (const v of VARIANTS) {
    const r = results[v];
    const node = median(samples[v].map((x) => x.nodeCpuUs));
    const pg = median(samples[v].map((x) => x.pgCpuUs));
    console.log(
      `| ${LABELS[v]} | ${fmt(m[v])} | ${fmt(Math.min(...r))} | ${fmt(Math.max(...r))} | ${((CONCURRENCY / m[v]) * 1000).toFixed(2)} | ${fmt(node)} | ${fmt(pg)} |`,
    );
  }
  const ratio = (x: number, y: number) => `${(x / y).toFixed(2)}×`;
  console.log('');
  console.log(`(a)/(b)  project path vs raw read:            ${ratio(m.a, m.b)}  (target ≥ 0.60×) ${m.a / m.b >= 0.6 ? 'MET' : 'MISSED'}`);
  console.log(`(r)/(b)  readOnce (one round trip) vs raw read: ${ratio(m.r, m.b)}  (target ≥ 0.60×) ${m.r / m.b >= 0.6 ? 'MET' : 'MISSED'}`);
  console.log(`(r)/(e)  readOnce vs the one-string diagnostic (a literal inlined: no shape the platform may use): ${ratio(m.r, m.e)}`);
  console.log(`(r)/(a)  one round trip vs withTenant's two, same read: ${ratio(m.r, m.a)}`);
  console.log(`(a)/(c)  project path vs raw pg, same tx:      ${ratio(m.a, m.c)}  (target ≥ 0.90×) ${m.a / m.c >= 0.9 ? 'MET' : 'MISSED'}`);
  console.log(`(c)/(d)  RLS only, same transaction shape:    ${ratio(m.c, m.d)}  (target ≥ 0.95×) ${m.c / m.d >= 0.95 ? 'MET' : 'MISSED'}`);
  console.log(`(d)/(b)  transaction + set_config vs bare read: ${ratio(m.d, m.b)}`);
  console.log(`(a2)/(c) withTenant's transaction vs raw pg tx: ${ratio(m.a2, m.c)}`);
  console.log(`(a)/(a2) Kysely vs a raw template, same tx:    ${ratio(m.a, m.a2)}`);
  console.log(`(e)/(b)  the RLS transaction in one round trip vs bare read: ${ratio(m.e, m.b)}`);
  console.log(`(e)/(c)  one round trip vs four, same statements: ${ratio(m.e, m.c)}`);
  console.log(`(g)/(b)  the previous opening (plpgsql gate) vs bare read: ${ratio(m.g, m.b)}`);
  console.log(`(a)/(g)  this opening vs the previous one, same read: ${ratio(m.a, m.g)}`);
  const cpu = (v: VariantName) => median(samples[v].map((x) => x.pgCpuUs));
  console.log(`PostgreSQL CPU µs/read a − g (paired by round, median): ${median(samples.a.map((x, i) => x.pgCpuUs - samples.g[i]!.pgCpuUs)).toFixed(0)} (a ${cpu('a').toFixed(0)}, g ${cpu('g').toFixed(0)})`);
}

// ------------------------------------------------------------------------------------- diagnostics

/** Lists the statements one withTenant + findMany sends, and the plans of the RLS and plain reads. */
async function diagnostics(ctx: Ctx, config: PlatformConfig): Promise<void> {
  // A separate Databases instance whose connections log what they are sent (closed afterwards, so
  // the measured path carries no instrumentation).
  const dbs = new Databases(config);
  const seen: string[] = [];
  dbs.pool(ctx.shard, 'app').on('connect', (client: PoolClient) => {
    const original = client.query.bind(client) as (...args: unknown[]) => unknown;
    (client as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
      const first = args[0] as string | { text?: string };
      seen.push((typeof first === 'string' ? first : (first.text ?? '?')).replace(/\s+/g, ' ').slice(0, 160));
      return original(...args);
    };
  });
  try {
    await ops.a({ ...ctx, tenantDb: new TenantDatabase(dbs, new ShardRouter(dbs)) }, tenantOf(1));
  } finally {
    await dbs.close();
  }
  console.log(`statements sent by one withTenant + findMany (${seen.length}):`);
  for (const s of seen) console.log(`  ${s}`);

  const c = new Client({ host: config.db.controlHost, port: config.db.controlPort, database: DATABASE, user: config.db.app.user, password: config.db.app.password });
  await c.connect();
  try {
    await c.query('begin');
    await c.query(`select set_config('app.tenant_id', $1, true)`, [tenantOf(1)]);
    const plan = async (sql: string, params: unknown[]) =>
      (await c.query(`explain (analyze, costs off, timing off, summary off) ${sql}`, params)).rows.map((r) => `    ${r['QUERY PLAN']}`).join('\n');
    console.log(`plan, audit_log under RLS:\n${await plan(`select ${COLUMNS} from audit_log order by seq desc limit 20`, [])}`);
    console.log(
      `plan, audit_log_norls:\n${await plan(`select ${COLUMNS} from audit_log_norls where tenant_id = $1 order by seq desc limit 20`, [tenantOf(1)])}`,
    );
    await c.query('commit');
  } finally {
    await c.end();
  }
}

// ------------------------------------------------------------------------------------------ driver

async function main(): Promise<void> {
  const base = loadConfig();
  const config: PlatformConfig = { ...base, db: { ...base.db, poolSize: POOL_SIZE } };
  await setup(config);

  const dbs = new Databases(config);
  const tenantDb = new TenantDatabase(dbs, new ShardRouter(dbs));
  // The bench database as a shard, built by hand: the control plane is not touched.
  const shard: ShardInfo = { id: '01930000-0000-7000-8000-00000000beef', name: 'bench-read', host: config.db.controlHost, port: config.db.controlPort, database: DATABASE, kind: 'shared', status: 'active' };
  const pool = new Pool({
    host: config.db.controlHost,
    port: config.db.controlPort,
    database: DATABASE,
    user: config.db.app.user,
    password: config.db.app.password,
    max: POOL_SIZE,
    idleTimeoutMillis: 30_000,
    connectionTimeoutMillis: 10_000,
    application_name: 'hotdash-bench-raw',
  });
  pool.on('error', () => undefined);
  const ctx: Ctx = { tenantDb, dbs, shard, pool };

  const overall = setTimeout(() => {
    console.error(`overall timeout (${OVERALL_TIMEOUT_MS / 1000} s) reached; partial results:`);
    report();
    process.exit(2);
  }, OVERALL_TIMEOUT_MS);
  overall.unref();

  monitor = await superuser('postgres');
  try {
    await diagnostics(ctx, config);
    console.log(`\nwarm-up: ${Math.min(OPS, 1000)} ops per variant`);
    for (const v of VARIANTS) await measure(ctx, v, Math.min(OPS, 1000));
    for (let r = 0; r < ROUNDS; r++) {
      const order = VARIANTS.map((_, i) => VARIANTS[(i + r) % VARIANTS.length]!);
      const line: string[] = [];
      for (const v of order) {
        const sample = await measureWithCpu(ctx, v, OPS);
        samples[v].push(sample);
        results[v].push(sample.rate);
        line.push(`${v} ${fmt(sample.rate)}`);
      }
      console.log(`round ${r + 1}/${ROUNDS}: ${line.join(', ')} ops/s`);
    }
    report();
  } finally {
    clearTimeout(overall);
    await monitor.end().catch(() => undefined);
    await pool.end();
    await dbs.close();
  }
}

main().then(
  () => setTimeout(() => process.exit(0), 2_000).unref(),
  (err) => {
    console.error(err);
    report();
    process.exit(1);
  },
);
