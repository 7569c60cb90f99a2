/**
 * What the tenant gate costs a tenant read: the project's transaction path (runTransaction, the
 * opening pipelined with the first statement, Kysely on the connection) with four openings, on
 * the scratch shard a (127.0.0.1:54339/shard_a, move-support.sql applied):
 *   plain        begin; set_config                                   (today's withTenant)
 *   lock         begin; set_config + pg_advisory_xact_lock_shared    (one statement)
 *   gate         begin; set_config; tenant_gate($1)                  (lock + fence check, own statement)
 *   gate-merged  begin; set_config + tenant_gate($1)                 (one statement)
 * The read: the tenant's 20 newest tickets (RLS); OP=write: one inbox row. Rounds rotate the variants; medians reported.
 *
 *   scripts/run node -r @swc-node/register bench/prototypes/tenant-move/gate-bench.ts
 * Env: OPS (per variant per round, 3000), ROUNDS (5), CONCURRENCY (8).
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Pool } from 'pg';
import { SHARDS, clusterCpuSeconds, connect, openingFor, Opening, pool, txOn } from './lib';

const OPS = Number(process.env.OPS ?? 3000);
const ROUNDS = Number(process.env.ROUNDS ?? 5);
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 8);
/** read: the 20 newest tickets; write: one inbox row (a one-statement write transaction). */
const OP = process.env.OP ?? 'read';
const VARIANTS = (process.env.VARIANTS ?? 'plain,lock,gate,gate-merged,lock-check,lock-check-norls').split(',') as Opening[];

async function round(p: Pool, variant: Opening, tenants: string[]): Promise<{ rps: number; nodeUs: number; pgUs: number; p99: number }> {
  let next = 0;
  const lat: number[] = [];
  const cpu0 = process.cpuUsage();
  const pg0 = clusterCpuSeconds(54339);
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next++ < OPS) {
        const t = tenants[Math.floor(Math.random() * tenants.length)]!;
        const s = performance.now();
        if (OP === 'write') await txOn(p, openingFor(variant, t), (tx) => tx.db.insertInto('inbox').values({ tenant_id: t, consumer: 'gate-bench', event_id: randomUUID() }).execute());
        else await txOn(p, openingFor(variant, t), (tx) => tx.db.selectFrom('tickets').select(['id', 'status', 'created_at']).orderBy('created_at', 'desc').limit(20).execute());
        lat.push(performance.now() - s);
      }
    }),
  );
  const secs = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  lat.sort((a, b) => a - b);
  return { rps: OPS / secs, nodeUs: (cpu.user + cpu.system) / OPS, pgUs: ((clusterCpuSeconds(54339) - pg0) * 1e6) / OPS, p99: lat[Math.floor(lat.length * 0.99)]! };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

void (async () => {
  const admin = await connect(SHARDS.a!);
  const tenants = (await admin.query<{ tenant_id: string }>('select tenant_id from tenant_settings')).rows.map((r) => r.tenant_id);
  await admin.end();
  const p = pool(SHARDS.a!, 'hotdash_app', CONCURRENCY);
  for (const v of VARIANTS) await round(p, v, tenants.slice(0, 3)); // warm-up: connections, plans
  const results: Record<string, { rps: number[]; nodeUs: number[]; pgUs: number[]; p99: number[] }> = {};
  for (let r = 0; r < ROUNDS; r++) {
    const order = VARIANTS.map((_, i) => VARIANTS[(i + r) % VARIANTS.length]!);
    for (const v of order) {
      const x = await round(p, v, tenants);
      const acc = (results[v] ??= { rps: [], nodeUs: [], pgUs: [], p99: [] });
      acc.rps.push(x.rps);
      acc.nodeUs.push(x.nodeUs);
      acc.pgUs.push(x.pgUs);
      acc.p99.push(x.p99);
    }
  }
  await p.end();
  const base = median(results.plain!.rps);
  console.log(`${OP}: ${ROUNDS} rounds × ${OPS} transactions, ${CONCURRENCY} in flight, ${tenants.length} tenants; medians`);
  console.log('variant      reads/s  vs plain  Node µs/read  PG µs/read  p99 ms');
  for (const v of VARIANTS) {
    const r = results[v]!;
    console.log(
      `${v.padEnd(12)} ${median(r.rps).toFixed(0).padStart(7)}  ${(median(r.rps) / base).toFixed(3).padStart(7)}×  ${median(r.nodeUs).toFixed(0).padStart(12)}  ${median(r.pgUs).toFixed(0).padStart(10)}  ${median(r.p99).toFixed(2).padStart(6)}`,
    );
  }
})();
