/**
 * The embedded database (PGlite) as the data layer reaches it: a tenant read (withTenant + a Kysely
 * select under RLS), each way the `pg` driver or the code can reach PGlite, in one run.
 *
 *   scripts/run node -r @swc-node/register bench/embedded-db.bench.ts
 *   PGLITE_SOCKET_MODULE=<…>/@electric-sql/pglite-socket/dist/index.cjs scripts/run node -r @swc-node/register bench/embedded-db.bench.ts
 *
 * Variants (one PGlite per variant, a copy of the same migrated shard; TENANTS tenants with ROWS
 * inbox rows each; a random tenant per read; CONCURRENCY reads in flight; rounds rotate the order):
 *   wire     the product's path: withTenantOnShard(shard, t, tx => tx.db.selectFrom('inbox')…execute())
 *            through the `pg` pool to the embedded wire server (libs/platform/db/src/embedded), as the
 *            application role (its `begin`, tenant gate and select pipelined in one write)
 *   socket   the same call through @electric-sql/pglite-socket 0.2.x (only with PGLITE_SOCKET_MODULE:
 *            it is not a dependency of the project, its release pins another PGlite); PGlite opened
 *            with `username: hotdash_app` (a session-wide SET ROLE: the socket gives every
 *            connection the one session's role) so the read is under RLS as in `wire`
 *   direct   PGlite's own API, no socket and no `pg` (what a Kysely dialect over PGlite would do):
 *            `pg.transaction(tx => withTenant's opening statements (tenantGate) + the same compiled select)`,
 *            as hotdash_app (SET ROLE)
 *   stack    for scale, the same withTenantOnShard on the local stack's PostgreSQL (its server CPU is
 *            not in this process's figure), when it answers
 * Reported per variant: reads/s (wall) and this process's CPU per read (process.cpuUsage: for the
 * embedded variants that includes PostgreSQL itself, which runs in this process), medians of rounds,
 * and the ratios against `wire`.
 *
 * Env: BENCH_OPS (reads per variant per round, 2000), BENCH_ROUNDS (5), BENCH_CONCURRENCY (4).
 */
import { performance } from 'node:perf_hooks';
import { sql } from 'kysely';
import type { TenantId } from '@hotdash/contracts';
import { loadConfig } from '@hotdash/platform-config';
import { Databases, newId, ShardInfo, ShardRouter, TenantDatabase, tenantGate } from '@hotdash/platform-db';
import { compilingKysely } from '@hotdash/platform-db/src/driver-transaction';
import type { TenantDB } from '@hotdash/platform-db';
import { embeddedDatabasesForSpec } from '@hotdash/testing';

const OPS = Number(process.env.BENCH_OPS ?? 2_000);
const ROUNDS = Math.max(3, Number(process.env.BENCH_ROUNDS ?? 5));
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 4);
const TENANTS = 50;
const ROWS = 20;
const CONSUMER = 'bench-embedded';
const tenants = Array.from({ length: TENANTS }, (_, i) => `01930000-0000-7000-8000-${(i + 1).toString(16).padStart(12, '0')}` as TenantId);
const randomTenant = (): TenantId => tenants[Math.floor(Math.random() * TENANTS)]!;

interface Variant {
  name: string;
  read(tenant: TenantId): Promise<{ tenant_id: string }[]>;
  close(): Promise<void>;
}

const kysely = compilingKysely<TenantDB>();
const select = () => kysely.selectFrom('inbox').select(['event_id', 'tenant_id', 'processed_at']).where('consumer', '=', CONSUMER).orderBy('event_id').limit(20);

/** The rows every variant reads: TENANTS × ROWS inbox rows, written through the data layer. */
async function seed(tenantDb: TenantDatabase, shard: ShardInfo): Promise<void> {
  for (const t of tenants) {
    await tenantDb.withTenantOnShard(shard, t, async (tx) => {
      await sql`delete from inbox where consumer = ${CONSUMER}`.execute(tx.db);
      await tx.db.insertInto('inbox').values(Array.from({ length: ROWS }, () => ({ tenant_id: t, consumer: CONSUMER, event_id: newId() }))).execute();
    });
  }
}

function viaDataLayer(name: string, config: ReturnType<typeof loadConfig>, shard: ShardInfo, close: () => Promise<void>): { variant: Variant; tenantDb: TenantDatabase } {
  const dbs = new Databases({ ...config, db: { ...config.db, poolSize: CONCURRENCY } });
  const tenantDb = new TenantDatabase(dbs, new ShardRouter(dbs));
  return {
    tenantDb,
    variant: {
      name,
      read: (t) => tenantDb.withTenantOnShard(shard, t, (tx) => tx.db.selectFrom('inbox').select(['event_id', 'tenant_id', 'processed_at']).where('consumer', '=', CONSUMER).orderBy('event_id').limit(20).execute()),
      async close() {
        await dbs.close();
        await close();
      },
    },
  };
}

const shardAt = (host: string, port: number, database: string): ShardInfo => ({ id: newId(), name: 'bench', host, port, database, kind: 'shared', status: 'active' });

async function wireVariant(): Promise<Variant> {
  const spec = await embeddedDatabasesForSpec();
  const shard = shardAt(spec.embedded.host, spec.embedded.port, 'hotdash_shard_1');
  const { variant, tenantDb } = viaDataLayer('wire', spec.embedded.config, shard, () => spec.close());
  await seed(tenantDb, shard);
  return variant;
}

/** A PGlite of its own: a copy of the migrated shard, opened as the application role (SET ROLE for the whole session). */
async function ownPGlite() {
  const spec = await embeddedDatabasesForSpec();
  await spec.embedded.stop();
  const { PGlite: PGliteClass } = await import('@electric-sql/pglite');
  const pg = await PGliteClass.create({ dataDir: `${spec.dir}/hotdash_shard_1`, database: 'hotdash_shard_1', username: 'hotdash_app' });
  for (const t of tenants) {
    await pg.transaction(async (tx) => {
      await tx.query(`select set_config('app.tenant_id', $1, true)`, [t]);
      await tx.query('delete from inbox where consumer = $1', [CONSUMER]);
      for (let i = 0; i < ROWS; i++) await tx.query('insert into inbox (tenant_id, consumer, event_id) values ($1, $2, $3)', [t, CONSUMER, newId()]);
    });
  }
  return {
    pg,
    async close() {
      await pg.close();
      await spec.close();
    },
  };
}

async function socketVariant(module: string): Promise<Variant> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { PGLiteSocketServer } = require(module) as { PGLiteSocketServer: new (o: { db: unknown; port: number; maxConnections: number }) => { start(): Promise<void>; stop(): Promise<void>; getServerConn(): string } };
  const own = await ownPGlite();
  const server = new PGLiteSocketServer({ db: own.pg, port: 0, maxConnections: CONCURRENCY * 2 });
  await server.start();
  const port = Number(server.getServerConn().split(':')[1]);
  const config = loadConfig();
  return viaDataLayer('socket', config, shardAt('127.0.0.1', port, 'hotdash_shard_1'), async () => {
    await server.stop();
    await own.close();
  }).variant;
}

async function directVariant(): Promise<Variant> {
  const own = await ownPGlite();
  return {
    name: 'direct',
    async read(t) {
      const q = select().compile();
      // The same statements as withTenant sends: its opening (tenantGate: the setting, the pause lock
      // tried, the fence read), the select, commit.
      return own.pg.transaction(async (tx) => {
        for (const g of tenantGate(t)) await tx.query(g.text, g.values);
        return (await tx.query<{ tenant_id: string }>(q.sql, q.parameters as unknown[])).rows;
      });
    },
    close: () => own.close(),
  };
}

async function stackVariant(): Promise<Variant | undefined> {
  const config = loadConfig();
  const probe = new Databases(config);
  try {
    await probe.ping(1_000);
  } catch {
    console.log('stack: PostgreSQL does not answer; left out');
    return undefined;
  } finally {
    await probe.close();
  }
  const shard = shardAt(config.db.controlHost, config.db.controlPort, 'hotdash_shard_1');
  const { variant, tenantDb } = viaDataLayer('stack', config, shard, async () => {
    for (const t of tenants) await tenantDb.withTenantOnShard(shard, t, (tx) => sql`delete from inbox where consumer = ${CONSUMER}`.execute(tx.db));
  });
  await seed(tenantDb, shard);
  return variant;
}

interface RoundResult {
  perSec: number;
  cpuUs: number;
  /** Reads that failed with an error. */
  failed: number;
  /** Reads that returned other than the tenant's ROWS rows. */
  wrong: number;
  /** Reads that returned a row of another tenant. */
  leaked: number;
}

async function round(v: Variant): Promise<RoundResult> {
  let next = 0;
  let failed = 0;
  let wrong = 0;
  let leaked = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next++ < OPS) {
        // A failed read is counted, not thrown (pglite-socket's interleaving breaks some).
        const tenant = randomTenant();
        const got = await v.read(tenant).catch(() => undefined);
        if (!got) failed++;
        else if (got.some((r) => r.tenant_id !== tenant)) leaked++;
        else if (got.length !== ROWS) wrong++;
      }
    }),
  );
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  return { perSec: (OPS / ms) * 1000, cpuUs: (cpu.user + cpu.system) / OPS, failed, wrong, leaked };
}

const sum = (xs: RoundResult[], key: 'failed' | 'wrong' | 'leaked'): number => xs.reduce((n, x) => n + x[key], 0);
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const variants: Variant[] = [await wireVariant()];
  if (process.env.PGLITE_SOCKET_MODULE) variants.push(await socketVariant(process.env.PGLITE_SOCKET_MODULE));
  else console.log('socket: PGLITE_SOCKET_MODULE not set; left out');
  variants.push(await directVariant());
  const stack = await stackVariant();
  if (stack) variants.push(stack);
  try {
    for (const v of variants) await round(v); // warm-up (named statements parsed, JIT)
    const results = new Map<string, RoundResult[]>(variants.map((v) => [v.name, []]));
    for (let r = 0; r < ROUNDS; r++) {
      const order = variants.map((_, i) => variants[(i + r) % variants.length]!);
      for (const v of order) results.get(v.name)!.push(await round(v));
    }
    const wire = results.get('wire')!;
    const base = { perSec: median(wire.map((x) => x.perSec)), cpuUs: median(wire.map((x) => x.cpuUs)) };
    console.log(`\ntenant read (withTenant + Kysely select of ${ROWS} rows under RLS), ${OPS} reads × ${ROUNDS} rounds, ${CONCURRENCY} in flight; medians`);
    console.log('variant   reads/s   CPU µs/read (this process)   reads/s vs wire   CPU vs wire   reads failed / wrong rows / another tenant\'s rows');
    for (const v of variants) {
      const xs = results.get(v.name)!;
      const perSec = median(xs.map((x) => x.perSec));
      const cpuUs = median(xs.map((x) => x.cpuUs));
      console.log(`${v.name.padEnd(8)} ${perSec.toFixed(0).padStart(8)}   ${cpuUs.toFixed(0).padStart(10)}                   ${(perSec / base.perSec).toFixed(2).padStart(6)}×          ${(cpuUs / base.cpuUs).toFixed(2).padStart(5)}×   ${sum(xs, 'failed')} / ${sum(xs, 'wrong')} / ${sum(xs, 'leaked')} of ${OPS * ROUNDS}`);
    }
  } finally {
    for (const v of variants) await v.close().catch((err: Error) => console.error(`${v.name}: ${err.message}`));
  }
}

main().catch((err: Error) => {
  console.error(err);
  process.exit(1);
});
