/**
 * A saga's event written to the control plane's outbox quietly (`saga_outbox(events, true)`: no
 * NOTIFY, what a running saga's progress events do) vs waking the relay (`saga_outbox(events,
 * false)`: the insert trigger's NOTIFY, what every other outbox write does), each call its own
 * transaction, same run.
 *
 *   scripts/run node -r @swc-node/register bench/outbox-wakeup.bench.ts
 *
 * What matters is PostgreSQL's CPU per call: NOTIFY serialises committing transactions on the
 * database's notification lock. It is read from /proc for every PostgreSQL process of the local
 * cluster (Linux; deploy/local's servers only) around each round. The rows are step-completed
 * envelopes of made-up tenants on a topic of their own, deleted at the end (superuser, local
 * cluster).
 *
 * Env: BENCH_CALLS (per path per round, 3000), BENCH_ROUNDS (3), BENCH_CONCURRENCY (16).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { sql } from 'kysely';
import { newId } from '@hotdash/platform-db';
import { TestWorld } from '@hotdash/testing';

const CALLS = Number(process.env.BENCH_CALLS ?? 3000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 16);
const TYPE = 'bench.outbox-wakeup';

const world = new TestWorld({ poolSize: CONCURRENCY });

/** CPU time (ms) used so far by the PostgreSQL processes alive now. */
function postgresCpuMs(): number {
  const tick = 10; // USER_HZ 100
  let total = 0;
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      if (!comm.startsWith('postgres')) continue;
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      total += (Number(fields[11]) + Number(fields[12])) * tick;
    } catch {
      // the process ended meanwhile
    }
  }
  return total;
}

const event = () => {
  const sagaId = newId();
  const tenantId = newId();
  const envelope = { id: newId(), type: 'tenant.provisioning.step-completed', version: 1, tenantId, occurredAt: new Date().toISOString(), producer: 'bench', correlationId: sagaId, payload: { tenantId, sagaId, step: 'admin-user', index: 1 } };
  // A topic no relay publishes to: were one running, it would set the rows aside, not send them.
  return JSON.stringify([{ id: envelope.id, tenantId, topic: TYPE, key: tenantId, type: TYPE, version: 1, envelope }]);
};

async function round(quiet: boolean): Promise<{ pgUs: number; wallUs: number }> {
  const cpu0 = postgresCpuMs();
  const t0 = performance.now();
  let next = 0;
  const db = world.dbs.controlDb();
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => { while (next++ < CALLS) await sql`select saga_outbox(${event()}::jsonb, ${quiet}::boolean)`.execute(db); }));
  return { pgUs: ((postgresCpuMs() - cpu0) * 1000) / CALLS, wallUs: ((performance.now() - t0) * 1000) / CALLS };
}

async function main(): Promise<void> {
  await round(true);
  await round(false);
  const res = { quiet: [] as { pgUs: number; wallUs: number }[], notify: [] as { pgUs: number; wallUs: number }[] };
  for (let r = 0; r < ROUNDS; r++) {
    for (const quiet of r % 2 ? [false, true] : [true, false]) {
      const x = await round(quiet);
      res[quiet ? 'quiet' : 'notify'].push(x);
      console.log(`round ${r + 1} ${quiet ? 'quiet' : 'notify'}: PostgreSQL ${x.pgUs.toFixed(0)} µs CPU/call, ${x.wallUs.toFixed(0)} µs wall/call`);
    }
  }
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  console.log(`\n${CALLS} calls per path per round, ${ROUNDS} rounds, ${CONCURRENCY} in flight; medians of rounds`);
  console.log('| path | PostgreSQL CPU per call (µs) | wall per call (µs) |');
  console.log('|---|---:|---:|');
  for (const p of ['quiet', 'notify'] as const) console.log(`| ${p} | ${med(res[p].map((x) => x.pgUs)).toFixed(0)} | ${med(res[p].map((x) => x.wallUs)).toFixed(0)} |`);
  console.log(`\nnotify/quiet PostgreSQL CPU per call ${(med(res.notify.map((x) => x.pgUs)) / med(res.quiet.map((x) => x.pgUs))).toFixed(2)}×`);
  const su = await world.connectSuperuser(world.config.db.controlDatabase);
  const { rowCount } = await su.query('delete from outbox where type = $1', [TYPE]);
  console.log(`deleted the ${rowCount} rows it wrote`);
  await su.end();
  await world.close();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
