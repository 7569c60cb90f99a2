/**
 * Where the fence check's cost goes: the same tenant read with five openings, on raw pg (one round
 * trip per statement, the same for all variants), unnamed (parsed and planned each time, as
 * withTenant's pipelined opening does today) or named (prepared once per connection). PostgreSQL CPU
 * per transaction is the figure to read; scratch shard a only.
 *
 *   scripts/run node -r @swc-node/register bench/prototypes/tenant-move/gate-prepared-bench.ts
 */
import { performance } from 'node:perf_hooks';
import { Client } from 'pg';
import { SHARDS, clusterCpuSeconds, connect } from './lib';

const OPS = Number(process.env.OPS ?? 3000);
const ROUNDS = Number(process.env.ROUNDS ?? 5);
const CONC = 8;
const SET = "select set_config('app.tenant_id', $1, true)";
const LOCK_CHECK = "select set_config('app.tenant_id', $1, true), pg_advisory_xact_lock_shared(72011260, hashtext($1)), (select moved_to_shard from tenant_fences where tenant_id = $1::uuid) moved";
const GATE = "select set_config('app.tenant_id', $1, true), tenant_gate($1::uuid)";
const VARIANTS: Record<string, { text: string; named: boolean }> = {
  'set_config unnamed': { text: SET, named: false },
  'set_config named': { text: SET, named: true },
  'lock+fence select unnamed': { text: LOCK_CHECK, named: false },
  'lock+fence select named': { text: LOCK_CHECK, named: true },
  'tenant_gate() named': { text: GATE, named: true },
};

async function round(clients: Client[], name: string, tenants: string[]): Promise<number> {
  const v = VARIANTS[name]!;
  let next = 0;
  const pg0 = clusterCpuSeconds(54339);
  await Promise.all(
    clients.map(async (c) => {
      while (next++ < OPS) {
        const t = tenants[Math.floor(Math.random() * tenants.length)]!;
        await c.query('begin');
        const r = await c.query(v.named ? { name: name.replace(/\W/g, '_'), text: v.text, values: [t] } : { text: v.text, values: [t] });
        if (r.rows[0]?.moved) throw new Error('fenced');
        await c.query({ name: 'read', text: 'select id, status, created_at from tickets order by created_at desc limit 20' });
        await c.query('commit');
      }
    }),
  );
  return ((clusterCpuSeconds(54339) - pg0) * 1e6) / OPS;
}

void (async () => {
  const admin = await connect(SHARDS.a!);
  const tenants = (await admin.query<{ tenant_id: string }>('select tenant_id from tenant_settings')).rows.map((r) => r.tenant_id);
  await admin.end();
  const clients = await Promise.all(Array.from({ length: CONC }, () => connect(SHARDS.a!, 'hotdash_app')));
  const names = Object.keys(VARIANTS);
  for (const n of names) await round(clients, n, tenants);
  const res: Record<string, number[]> = {};
  for (let r = 0; r < ROUNDS; r++) for (const n of names.map((_, i) => names[(i + r) % names.length]!)) (res[n] ??= []).push(await round(clients, n, tenants));
  const t0 = performance.now();
  void t0;
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const base = med(res['set_config unnamed']!);
  console.log(`${ROUNDS} rounds × ${OPS} reads, ${CONC} connections; PostgreSQL CPU per transaction (median)`);
  for (const n of names) console.log(`${n.padEnd(28)} ${med(res[n]!).toFixed(0).padStart(5)} µs  (${(med(res[n]!) - base >= 0 ? '+' : '') + (med(res[n]!) - base).toFixed(0)} µs)`);
  await Promise.all(clients.map((c) => c.end()));
})();
