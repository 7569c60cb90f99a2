// The tenant-move saga's worker killed with SIGKILL in each phase (the initial copy, the catch-up,
// inside the cut-over's pause before and after the queues moved, right after the decision, with the
// target open but the placement not moved, while replication is dropped, during the clean-up), each
// MOVE_DRILL_REPEAT times (default 1; the drill is 5): another worker takes the move over and
// finishes it, while the tenant writes and reads without pause. Never two live copies, never none:
// every committed write on the shard that serves the tenant, nothing of it on the other but the
// fence; every queued event there exactly once and released; no read or write failed; no
// replication object left. A move that fails for good inside the pause, after its queue rows were
// copied to the target, is rolled back: the tenant whole on its source, its pending events still
// there once.
//
// Needs a server running with wal_level=logical (deploy/local/infra.sh starts it so).
import Redis from 'ioredis';
import { newId, TenantMover, type ShardInfo, type TenantTransaction } from '@hotdash/platform-db';
import { SagaEngine } from '@hotdash/platform-jobs';
import { ServiceProcess, startProcess, TestWorld, waitFor, WorldTenant } from '@hotdash/testing';
import { TENANT_MOVE_SAGA, tenantMoveSaga, type MoveShard, type TenantMoveInput } from './moves/tenant-move.saga';

jest.setTimeout(15 * 60_000);

const REPEAT = Number(process.env.MOVE_DRILL_REPEAT ?? 1);
const POINTS = ['initial-copy', 'catch-up', 'cut-over:paused', 'cut-over:queues-moved', 'cut-over:decided', 'cut-over:target-open', 'drop-replication', 'cleanup-source'];

const world = new TestWorld();
const mover = new TenantMover(world.config);
const redis = new Redis({ host: world.config.redis.host, port: world.config.redis.port });
const queueName = `hotdash-move-drills-${newId().slice(-8)}`;
// Only starts sagas (no worker here): the workers are the child processes.
const engine = new SagaEngine(world.dbs, world.config, { queueName }).register(tenantMoveSaga({} as Parameters<typeof tenantMoveSaga>[0]));
const consumer = `move-drill-${newId()}`;
let s1: ShardInfo;
let s2: ShardInfo;
const workers: ServiceProcess[] = [];

beforeAll(async () => {
  const shards = await world.shards();
  [s1, s2] = [shards[0]!, shards[1]!];
  const su = await world.connectSuperuser(s1.database);
  try {
    const { rows } = await su.query<{ w: string }>(`select current_setting('wal_level') as w`);
    if (rows[0]!.w !== 'logical') throw new Error(`this spec needs PostgreSQL with wal_level=logical (deploy/local/infra.sh starts it so; restart the local cluster), the server runs with ${rows[0]!.w}`);
  } finally {
    await su.end();
  }
});
afterAll(async () => {
  await Promise.all(workers.map((w) => w.kill()));
  await engine.close();
  redis.disconnect();
  await world.close();
});

const worker = (): ServiceProcess => {
  const w = startProcess('libs/testing/src/children/move-worker.child.ts', { HOTDASH_SAGA_QUEUE: queueName });
  workers.push(w);
  return w;
};
const exited = (w: ServiceProcess) => new Promise<void>((resolve) => (w.child.exitCode !== null || w.child.signalCode !== null ? resolve() : w.child.once('exit', () => resolve())));
const asShard = (s: ShardInfo): MoveShard => ({ id: s.id, name: s.name, host: s.host, port: s.port, database: s.database, kind: s.kind, status: s.status });

const insertInbox = (tx: TenantTransaction, tenantId: string) => tx.db.insertInto('inbox').values({ tenant_id: tenantId, consumer, event_id: newId() }).returning('event_id').executeTakeFirstOrThrow().then((r) => r.event_id);
const insertEvent = (tx: TenantTransaction, tenantId: string) => {
  const id = newId();
  return tx.db.insertInto('outbox').values({ id, tenant_id: tenantId, topic: 'hotdash.tenants', key: tenantId, type: 'probe.happened', version: 1, envelope: JSON.stringify({ id, probe: true }) }).execute().then(() => id);
};

/** The tenant's rows of a table on a shard, read as the owner in its context. */
async function rowsOn(shard: ShardInfo, tenantId: string, query: string): Promise<Record<string, unknown>[]> {
  const o = await world.connect(shard, 'owner');
  try {
    await o.query(`select set_config('app.tenant_id', $1, false)`, [tenantId]);
    return (await o.query(query, [tenantId])).rows;
  } finally {
    await o.end();
  }
}

/** A tenant with rows, writing (an inbox row and an event per transaction) and reading without pause until stopped. */
async function busyTenant(name: string): Promise<{ t: WorldTenant; stop: () => Promise<{ inbox: string[]; events: string[]; failures: string[]; reads: number }> }> {
  const t = await world.createTenant(name, s1);
  const inbox: string[] = [];
  const events: string[] = [];
  await world.tenantDb.withTenant(t.id, async (tx) => {
    for (let i = 0; i < 100; i++) inbox.push(await insertInbox(tx, t.id));
    for (let i = 0; i < 5; i++) events.push(await insertEvent(tx, t.id));
  });
  const failures: string[] = [];
  let reads = 0;
  let running = true;
  const writer = (async () => {
    while (running) {
      try {
        const [id, ev] = await world.tenantDb.withTenant(t.id, async (tx) => [await insertInbox(tx, t.id), await insertEvent(tx, t.id)]);
        inbox.push(id!);
        events.push(ev!);
      } catch (err) {
        failures.push(`write: ${(err as Error).message}`);
      }
    }
  })();
  const reader = (async () => {
    while (running) {
      try {
        await world.tenantDb.withTenant(t.id, (tx) => tx.db.selectFrom('inbox').select('event_id').where('consumer', '=', consumer).limit(20).execute());
        reads++;
      } catch (err) {
        failures.push(`read: ${(err as Error).message}`);
      }
    }
  })();
  return {
    t,
    async stop() {
      running = false;
      await Promise.all([writer, reader]);
      return { inbox, events, failures, reads };
    },
  };
}

const finished = (sagaId: string) =>
  waitFor(`move ${sagaId} to finish`, async () => {
    const s = await engine.status(sagaId);
    return s && ['completed', 'compensated', 'failed'].includes(s.status) ? s : undefined;
  }, 180_000, 100);

/** Where the tenant lives after the move, and that it lives there whole and only there. */
async function checkWhole(t: WorldTenant, live: ShardInfo, other: ShardInfo, load: Awaited<ReturnType<Awaited<ReturnType<typeof busyTenant>>['stop']>>, moveId: string) {
  expect(load.failures).toEqual([]);
  expect(load.reads).toBeGreaterThan(0);
  const inbox = (await rowsOn(live, t.id, `select event_id::text as id from inbox where tenant_id = $1 and consumer = '${consumer}'`)).map((r) => String(r.id)).sort();
  expect(inbox).toEqual([...load.inbox].sort());
  // Every event exactly once where the tenant lives, in order, none held or set aside by the move
  // (besides them, a finished move recorded its outcome there: access.recorded).
  const events = await rowsOn(live, t.id, `select id::text as id, type, coalesce(last_error, '') as err from outbox where tenant_id = $1 order by seq`);
  expect(events.filter((e) => e.type === 'probe.happened').map((e) => e.id)).toEqual(load.events);
  expect(events.filter((e) => String(e.err).startsWith('moving'))).toEqual([]);
  expect(await mover.tenantRowsOn(other, t.id)).toEqual([]);
  const name = TenantMover.replicationName(moveId);
  const su = await world.connectSuperuser(s1.database);
  try {
    expect((await su.query(`select slot_name from pg_replication_slots where slot_name = $1 or slot_name like 'pg\\_%\\_sync\\_%'`, [name])).rows).toEqual([]);
    expect((await su.query('select pubname from pg_publication where pubname = $1', [name])).rows).toEqual([]);
  } finally {
    await su.end();
  }
}

describe.each(POINTS.flatMap((p) => Array.from({ length: REPEAT }, (_, i) => [p, i + 1] as const)))('killed at %s (drill %i)', (point) => {
  it('is taken over by another worker and finishes: the tenant whole on the target, never two live copies, never none', async () => {
    const busy = await busyTenant(`drill ${point}`);
    const first = worker();
    const sagaId = newId();
    await redis.set(`move-kill:${sagaId}`, point, 'EX', 3600);
    const input: TenantMoveInput = { moveId: sagaId, tenantId: busy.t.id, source: asShard(s1), target: asShard(s2), fromVersion: 1, actor: 'ops:drill' };
    await engine.start(TENANT_MOVE_SAGA, input, { tenantId: busy.t.id, sagaId });
    await exited(first);
    expect(first.output()).toContain(`SIGKILL at ${point}`);
    const second = worker();
    let saga;
    try {
      saga = await finished(sagaId);
    } finally {
      await second.stop();
    }
    const load = await busy.stop();
    expect({ status: saga.status, error: saga.lastError }).toEqual({ status: 'completed', error: null });
    await checkWhole(busy.t, s2, s1, load, sagaId);
    expect((await world.router.placementOf(busy.t.id)).shard.id).toBe(s2.id);
  });
});

it('rolls back a move that fails for good inside its pause after its queue rows were copied: the tenant whole on its source, its events there once', async () => {
  const busy = await busyTenant('drill rollback');
  const w = worker();
  const sagaId = newId();
  await redis.set(`move-fail:${sagaId}`, 'cut-over:queues-moved', 'EX', 3600);
  const input: TenantMoveInput = { moveId: sagaId, tenantId: busy.t.id, source: asShard(s1), target: asShard(s2), fromVersion: 1, actor: 'ops:drill' };
  await engine.start(TENANT_MOVE_SAGA, input, { tenantId: busy.t.id, sagaId });
  let saga;
  try {
    saga = await finished(sagaId);
  } finally {
    await w.stop();
  }
  const load = await busy.stop();
  expect(saga.status).toBe('compensated');
  await checkWhole(busy.t, s1, s2, load, sagaId);
  expect((await world.router.placementOf(busy.t.id)).shard.id).toBe(s1.id);
});
