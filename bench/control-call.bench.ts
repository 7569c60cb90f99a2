/**
 * One call of a control-plane SQL function, the saga engine's hot path, four ways on the same pool
 * in the same run:
 *
 * - `kysely`: the control plane's typed layer (`Databases.controlDb()`, a Kysely `sql` template run
 *   as a named prepared statement), what the engine does;
 * - `pg`: the bare driver, `pool.query(text, values)` (unnamed: parsed and planned per call);
 * - `pg named`: the bare driver with a named prepared statement (parsed and planned once per
 *   connection), what the engine did before the typed layer (`controlQuery`);
 * - `prisma`: Prisma's raw-query path (`$queryRaw`).
 *
 *   scripts/run node -r @swc-node/register bench/control-call.bench.ts
 *
 * The call is `saga_complete_step` for a saga that does not exist (it reads and writes nothing
 * but the lookup), so the difference is the client's cost per call. BENCH_CONCURRENCY calls in
 * flight; each round runs every path, in a rotating order; the process's CPU time per call
 * (process.cpuUsage) is what matters on a machine where the Node process is the busiest, and the
 * wall time per call includes PostgreSQL's side (parse and plan for the unnamed forms).
 *
 * Env: BENCH_CALLS (per path per round, 4000), BENCH_ROUNDS (3), BENCH_CONCURRENCY (16).
 */
import { performance } from 'node:perf_hooks';
import { sql } from 'kysely';
import { newId } from '@hotdash/platform-db';
import { TestWorld } from '@hotdash/testing';

const CALLS = Number(process.env.BENCH_CALLS ?? 4000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 16);

const world = new TestWorld({ poolSize: CONCURRENCY });
const sagaId = newId();
const args = [sagaId, 1, 'step', '{"ok":true}', true, false, '{}', '[]'] as const;
const SQL = `select saga_complete_step($1::uuid, $2::int, $3::text, $4::jsonb, $5::boolean, $6::boolean, $7::jsonb, $8::jsonb) as next_attempt`;
// The baselines' raw pool (the same one the typed layer and Prisma use).
const pool = world.dbs.pool(world.dbs.controlLocation, 'app');
const db = world.dbs.controlDb();

const paths = {
  kysely: () =>
    sql<{ next_attempt: number | null }>`select saga_complete_step(${args[0]}::uuid, ${args[1]}::int, ${args[2]}::text, ${args[3]}::jsonb, ${args[4]}::boolean,
      ${args[5]}::boolean, ${args[6]}::jsonb, ${args[7]}::jsonb) as next_attempt`.execute(db),
  pg: () => pool.query(SQL, [...args]),
  'pg named': () => pool.query({ name: 'bench_saga_complete_step', text: SQL, values: [...args] }),
  prisma: () =>
    world.dbs.control().$queryRaw`select saga_complete_step(${args[0]}::uuid, ${args[1]}::int, ${args[2]}::text, ${args[3]}::jsonb, ${args[4]}::boolean,
      ${args[5]}::boolean, ${args[6]}::jsonb, ${args[7]}::jsonb) as next_attempt`,
};
type Path = keyof typeof paths;
const PATHS = Object.keys(paths) as Path[];

async function round(path: Path): Promise<{ cpuUs: number; wallUs: number }> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let next = 0;
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => { while (next++ < CALLS) await paths[path](); }));
  const cpu = process.cpuUsage(cpu0);
  return { cpuUs: (cpu.user + cpu.system) / CALLS, wallUs: ((performance.now() - t0) * 1000) / CALLS };
}

async function main(): Promise<void> {
  for (const p of PATHS) await round(p); // warm-up
  const res = Object.fromEntries(PATHS.map((p) => [p, [] as { cpuUs: number; wallUs: number }[]])) as Record<Path, { cpuUs: number; wallUs: number }[]>;
  for (let r = 0; r < ROUNDS; r++) {
    for (const p of PATHS.map((_, i) => PATHS[(i + r) % PATHS.length]!)) {
      const x = await round(p);
      res[p].push(x);
      console.log(`round ${r + 1} ${p}: ${x.cpuUs.toFixed(0)} µs CPU/call, ${x.wallUs.toFixed(0)} µs wall/call`);
    }
  }
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const cpu = (p: Path) => med(res[p].map((x) => x.cpuUs));
  const wall = (p: Path) => med(res[p].map((x) => x.wallUs));
  console.log(`\n${CALLS} calls per path per round, ${ROUNDS} rounds, ${CONCURRENCY} in flight; medians of rounds`);
  console.log('| path | Node CPU per call (µs) | wall per call (µs) |');
  console.log('|---|---:|---:|');
  for (const p of PATHS) console.log(`| ${p} | ${cpu(p).toFixed(0)} | ${wall(p).toFixed(0)} |`);
  console.log(`\nkysely/pg named: CPU ${(cpu('kysely') / cpu('pg named')).toFixed(2)}×, wall ${(wall('kysely') / wall('pg named')).toFixed(2)}×`);
  console.log(`prisma/kysely: CPU ${(cpu('prisma') / cpu('kysely')).toFixed(2)}×, wall ${(wall('prisma') / wall('kysely')).toFixed(2)}×`);
  await world.close();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
