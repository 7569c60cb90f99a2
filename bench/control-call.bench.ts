/**
 * One call of a control-plane SQL function, the saga engine's hot path: through the driver pool
 * (`Databases.controlQuery`, what the engine does) vs through Prisma's raw-query path
 * (`$queryRaw`, what the rest of the platform uses), on the same pool, same run.
 *
 *   scripts/run node -r @swc-node/register bench/control-call.bench.ts
 *
 * The call is `saga_complete_step` for a saga that does not exist (it reads and writes nothing
 * but the lookup), so the difference is the client's cost per call. BENCH_CONCURRENCY calls in
 * flight; rounds alternate the two paths; the process's CPU time per call (process.cpuUsage) is
 * what matters on a machine where the Node process is the busiest.
 *
 * Env: BENCH_CALLS (per path per round, 4000), BENCH_ROUNDS (3), BENCH_CONCURRENCY (16).
 */
import { performance } from 'node:perf_hooks';
import { newId } from '@hotdash/platform-db';
import { TestWorld } from '@hotdash/testing';

const CALLS = Number(process.env.BENCH_CALLS ?? 4000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 16);

const world = new TestWorld({ poolSize: CONCURRENCY });
const sagaId = newId();
const args = [sagaId, 1, 'step', '{"ok":true}', true, false, '{}', '[]'] as const;
const SQL = `select saga_complete_step($1::uuid, $2::int, $3::text, $4::jsonb, $5::boolean, $6::boolean, $7::jsonb, $8::jsonb) as next_attempt`;

const paths = {
  driver: () => world.dbs.controlQuery(SQL, [...args]),
  prisma: () =>
    world.dbs.control().$queryRaw`select saga_complete_step(${args[0]}::uuid, ${args[1]}::int, ${args[2]}::text, ${args[3]}::jsonb, ${args[4]}::boolean,
      ${args[5]}::boolean, ${args[6]}::jsonb, ${args[7]}::jsonb) as next_attempt`,
};
type Path = keyof typeof paths;

async function round(path: Path): Promise<{ cpuUs: number; wallUs: number }> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let next = 0;
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => { while (next++ < CALLS) await paths[path](); }));
  const cpu = process.cpuUsage(cpu0);
  return { cpuUs: (cpu.user + cpu.system) / CALLS, wallUs: ((performance.now() - t0) * 1000) / CALLS };
}

async function main(): Promise<void> {
  await round('driver');
  await round('prisma');
  const res: Record<Path, { cpuUs: number; wallUs: number }[]> = { driver: [], prisma: [] };
  for (let r = 0; r < ROUNDS; r++) {
    for (const p of (r % 2 ? ['prisma', 'driver'] : ['driver', 'prisma']) as Path[]) {
      const x = await round(p);
      res[p].push(x);
      console.log(`round ${r + 1} ${p}: ${x.cpuUs.toFixed(0)} µs CPU/call, ${x.wallUs.toFixed(0)} µs wall/call`);
    }
  }
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  console.log(`\n${CALLS} calls per path per round, ${ROUNDS} rounds, ${CONCURRENCY} in flight; medians of rounds`);
  console.log('| path | Node CPU per call (µs) | wall per call (µs) |');
  console.log('|---|---:|---:|');
  for (const p of ['driver', 'prisma'] as Path[]) console.log(`| ${p} | ${med(res[p].map((x) => x.cpuUs)).toFixed(0)} | ${med(res[p].map((x) => x.wallUs)).toFixed(0)} |`);
  console.log(`\nprisma/driver CPU per call ${(med(res.prisma.map((x) => x.cpuUs)) / med(res.driver.map((x) => x.cpuUs))).toFixed(2)}×`);
  await world.close();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
