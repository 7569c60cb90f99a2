// TenantMover, the database work of a live tenant move (docs/tenant-move.md), step by step as the
// saga runs it: a tenant with rows in several tables, its queues holding published and pending
// rows, moved from shard-1 to shard-2 while it writes and reads without pause. Nothing fails, every
// committed write is on the target, the pending queue rows are on the target exactly once (released
// after the cut-over, in their order), the source keeps only its fence, the other tenants are not
// concerned, RLS holds on the target, no replication object is left. An aborted move (before the
// decision) leaves the tenant whole on its source.
//
// Needs a server running with wal_level=logical (deploy/local/infra.sh starts it so).
import { sql } from 'kysely';
import type { Client } from 'pg';
import { TestWorld, waitFor, WorldTenant } from '@hotdash/testing';
import type { ShardInfo } from './databases';
import { newId } from './ids';
import { TenantMove, TenantMover } from './tenant-mover';
import type { TenantTransaction } from './tenant-transaction';

jest.setTimeout(120_000);

const world = new TestWorld();
const mover = new TenantMover(world.config);
const consumer = `mover-spec-${newId()}`;
let s1: ShardInfo;
let s2: ShardInfo;
let a: WorldTenant;
let b: WorldTenant;
let c: WorldTenant;
let su1: Client;

const insertInbox = (tx: TenantTransaction, tenantId: string, id = newId()) => tx.db.insertInto('inbox').values({ tenant_id: tenantId, consumer, event_id: id }).execute().then(() => id);
const insertOutbox = (tx: TenantTransaction, tenantId: string, published: boolean, id = newId()) =>
  tx.db
    .insertInto('outbox')
    .values({ id, tenant_id: tenantId, topic: 'hotdash.tenants', key: tenantId, type: 'probe.happened', version: 1, envelope: JSON.stringify({ id, probe: true }), published_at: published ? new Date() : null })
    .execute()
    .then(() => id);

/** The tenant's rows of a table on a shard, read as the owner in its context. */
async function rowsOn(shard: ShardInfo, tenantId: string, query: string, values: unknown[] = []): Promise<Record<string, unknown>[]> {
  const o = await world.connect(shard, 'owner');
  try {
    await o.query(`select set_config('app.tenant_id', $1, false)`, [tenantId]);
    return (await o.query(query, values)).rows;
  } finally {
    await o.end();
  }
}

/** What is left of a move's replication objects: its slot (and table-sync slots), publication, subscription. */
async function replicationLeft(m: TenantMove, subscriptionOid: string): Promise<string[]> {
  const name = TenantMover.replicationName(m.moveId);
  const slots = await su1.query<{ slot_name: string }>(`select slot_name from pg_replication_slots where slot_name = $1 or slot_name like $2`, [name, `pg\\_${subscriptionOid}\\_sync\\_%`]);
  const left = slots.rows.map((r) => `slot ${r.slot_name}`);
  for (const s of [s1, s2]) left.push(...(await rowsOn(s, m.tenantId, 'select pubname from pg_publication where pubname = $1', [name])).map((r) => `publication ${String(r.pubname)}`));
  const su2 = await world.connectSuperuser(s2.database);
  try {
    left.push(...(await su2.query<{ subname: string }>('select subname from pg_subscription where subname = $1', [name])).rows.map((r) => `subscription ${r.subname}`));
  } finally {
    await su2.end();
  }
  return left;
}

beforeAll(async () => {
  const shards = await world.shards();
  [s1, s2] = [shards[0]!, shards[1]!];
  su1 = await world.connectSuperuser(s1.database);
  const { rows } = await su1.query<{ wal_level: string }>(`select current_setting('wal_level') as wal_level`);
  if (rows[0]!.wal_level !== 'logical') throw new Error(`this spec needs PostgreSQL with wal_level=logical (deploy/local/infra.sh starts it so; restart the local cluster), the server runs with ${rows[0]!.wal_level}`);
  a = await world.createTenant('mover A', s1);
  b = await world.createTenant('mover B', s1);
  c = await world.createTenant('mover C', s2);
});
afterAll(async () => {
  await su1?.end();
  await world.close();
});

it('moves a tenant while it writes and reads: nothing fails, nothing is lost or doubled, only its fence stays behind', async () => {
  // The tenant's rows: inbox entries, published and pending outbox rows (in seq order), a counter.
  const seeded = await world.tenantDb.withTenant(a.id, async (tx) => {
    const inbox = [];
    for (let i = 0; i < 300; i++) inbox.push(await insertInbox(tx, a.id));
    const published = [];
    const pending = [];
    for (let i = 0; i < 50; i++) published.push(await insertOutbox(tx, a.id, true));
    for (let i = 0; i < 20; i++) pending.push(await insertOutbox(tx, a.id, false));
    await tx.db.insertInto('usage_daily').values({ tenant_id: a.id, day: '2026-12-14', metric: 'api_calls', amount: '0' }).execute();
    return { inbox, published, pending };
  });
  const others = { b: await world.tenantDb.withTenant(b.id, (tx) => insertInbox(tx, b.id)), c: await world.tenantDb.withTenant(c.id, (tx) => insertInbox(tx, c.id)) };

  // The load: writes (an inbox row, a pending outbox row, the counter) and reads without pause.
  let running = true;
  const written: string[] = [];
  const queued: string[] = [];
  let increments = 0;
  const failures: string[] = [];
  let reads = 0;
  const writer = (async () => {
    while (running) {
      try {
        await world.tenantDb.withTenant(a.id, async (tx) => {
          const id = await insertInbox(tx, a.id);
          const ev = await insertOutbox(tx, a.id, false);
          await sql`update usage_daily set amount = amount + 1 where tenant_id = ${a.id}::uuid and metric = 'api_calls'`.execute(tx.db);
          return [id, ev];
        }).then(([id, ev]) => {
          written.push(id!);
          queued.push(ev!);
          increments++;
        });
      } catch (err) {
        failures.push(`write: ${(err as Error).message}`);
      }
    }
  })();
  const reader = (async () => {
    while (running) {
      try {
        await world.tenantDb.withTenant(a.id, (tx) => tx.db.selectFrom('inbox').select('event_id').where('consumer', '=', consumer).limit(20).execute());
        reads++;
      } catch (err) {
        failures.push(`read: ${(err as Error).message}`);
      }
    }
  })();

  const m: TenantMove = { moveId: newId(), tenantId: a.id, source: s1, target: s2 };
  let subscriptionOid = '';
  try {
    expect(await mover.preflight(m)).toEqual([]);
    await mover.fenceTarget(m);
    await mover.fenceTarget(m); // idempotent
    expect(await mover.publish(m)).toEqual({ tables: expect.any(Number) });
    expect(await mover.createSlot(m)).toEqual({ created: true });
    expect(await mover.createSlot(m)).toEqual({ created: false });
    ({ subscriptionOid } = await mover.subscribe(m));
    expect((await mover.subscribe(m)).subscriptionOid).toBe(subscriptionOid);
    await mover.waitForCopy(m, 120_000);
    await mover.copyQueueHistory(m);
    await mover.catchUp(m, 200, 60_000);
    const pass = await mover.copyQueueHistory(m);
    const verified = await mover.verify(m);
    expect(verified.rows).toBeGreaterThan(300);
    let placementVersion = 0;
    let cut: Awaited<ReturnType<TenantMover['cutOver']>> = 'refused';
    for (let attempt = 0; cut === 'refused' && attempt < 20; attempt++)
      cut = await mover.cutOver(m, pass.horizon, 1, async () => {
        const r = await world.dbs.controlDb().updateTable('tenant_placements').set({ shard_id: s2.id, version: 2 }).where('tenant_id', '=', a.id).where('version', '=', 1).returning('version').executeTakeFirstOrThrow();
        placementVersion = r.version;
      });
    expect(cut).not.toBe('refused');
    expect(placementVersion).toBe(2);
    expect(await mover.decided(m)).toBe(true);
    // The writes go on on the target: a few of them before the load stops.
    const after = written.length;
    await waitFor('writes on the target', async () => written.length >= after + 20, 30_000, 20);
    await mover.dropReplication(m, subscriptionOid);
    expect(await mover.verifyAfterCutOver(m)).toEqual({ tables: expect.any(Number), rows: expect.any(Number) });
    expect(await mover.verifyAfterCutOver(m)).toBeUndefined(); // the snapshot is used once
    await mover.cleanupSource(m);
  } finally {
    running = false;
    await Promise.all([writer, reader]);
  }

  expect(failures).toEqual([]);
  expect(reads).toBeGreaterThan(0);
  // Every committed write is on the target, once; nothing of the tenant is left on the source but its fence.
  const inbox = (await rowsOn(s2, a.id, 'select event_id::text as id from inbox where tenant_id = $1 and consumer = $2', [a.id, consumer])).map((r) => String(r.id));
  expect(inbox.sort()).toEqual([...seeded.inbox, ...written].sort());
  expect(await rowsOn(s2, a.id, `select amount::int as n from usage_daily where tenant_id = $1 and metric = 'api_calls'`, [a.id])).toEqual([{ n: increments }]);
  expect(await mover.tenantRowsOn(s1, a.id)).toEqual([]);
  expect(await rowsOn(s1, a.id, 'select moved_to_shard::text as to, placement_version as v from tenant_fences where tenant_id = $1', [a.id])).toEqual([{ to: s2.id, v: 2 }]);
  expect(await rowsOn(s2, a.id, 'select 1 from tenant_fences where tenant_id = $1', [a.id])).toEqual([]);
  // The queues: every event once on the target, the pending ones released (none held), in their order.
  const outbox = await rowsOn(s2, a.id, 'select id::text as id, published_at is not null as published, failed_at is null and last_error is null as free from outbox where tenant_id = $1 order by seq', [a.id]);
  expect(outbox.map((r) => r.id)).toEqual([...seeded.published, ...seeded.pending, ...queued]);
  expect(outbox.filter((r) => !r.published).every((r) => r.free)).toBe(true);
  // The other tenants: untouched, on their shards.
  expect(await world.tenantDb.withTenant(b.id, (tx) => tx.db.selectFrom('inbox').select('event_id').where('consumer', '=', consumer).execute())).toEqual([{ event_id: others.b }]);
  expect(await world.tenantDb.withTenant(c.id, (tx) => tx.db.selectFrom('inbox').select('event_id').where('consumer', '=', consumer).execute())).toEqual([{ event_id: others.c }]);
  // RLS on the target: another tenant's context and no context see none of the moved rows.
  const app = await world.connect(s2, 'app');
  try {
    await app.query('begin');
    await app.query(`select set_config('app.tenant_id', $1, true)`, [c.id]);
    expect((await app.query('select count(*)::int as n from inbox where tenant_id = $1', [a.id])).rows[0].n).toBe(0);
    await app.query('rollback');
    expect((await app.query('select count(*)::int as n from inbox where tenant_id = $1', [a.id])).rows[0].n).toBe(0);
  } finally {
    await app.end();
  }
  expect(await replicationLeft(m, subscriptionOid)).toEqual([]);
  // The router follows: the placement says shard-2, version 2.
  expect(await waitFor('the router to follow', async () => ((await world.router.placementOf(a.id)).version === 2 ? true : undefined), 10_000, 20)).toBe(true);
});

it('undoes a move before its decision: the target loses what it got, the source is as it was, no replication object is left', async () => {
  const d = await world.createTenant('mover D', s1);
  const kept = await world.tenantDb.withTenant(d.id, async (tx) => {
    const ids = [];
    for (let i = 0; i < 50; i++) ids.push(await insertInbox(tx, d.id));
    await insertOutbox(tx, d.id, false);
    return ids;
  });
  const m: TenantMove = { moveId: newId(), tenantId: d.id, source: s1, target: s2 };
  await mover.fenceTarget(m);
  await mover.publish(m);
  await mover.createSlot(m);
  const { subscriptionOid } = await mover.subscribe(m);
  await mover.waitForCopy(m, 120_000);
  await mover.markerRoundTrip(m, 10_000);
  expect((await mover.tenantRowsOn(s2, d.id)).length).toBeGreaterThan(0);
  // The tenant is refused on the target (moving in) and served by its source meanwhile.
  await expect(world.tenantDb.withTenantOnShard(s2, d.id, (tx) => insertInbox(tx, d.id))).rejects.toMatchObject({ name: 'TenantFencedError', reason: 'moving-in' });

  // The compensations, last first.
  await mover.dropReplication(m, subscriptionOid);
  await mover.abortTarget(m);
  await mover.removeMarkers(m);

  expect(await mover.tenantRowsOn(s2, d.id)).toEqual([]);
  expect(await rowsOn(s2, d.id, 'select 1 from tenant_fences where tenant_id = $1', [d.id])).toEqual([]);
  expect(await rowsOn(s1, d.id, 'select 1 from tenant_move_markers where tenant_id = $1', [d.id])).toEqual([]);
  const inbox = await world.tenantDb.withTenant(d.id, (tx, shard) => tx.db.selectFrom('inbox').select('event_id').where('consumer', '=', consumer).execute().then((r) => ({ shard: shard.id, ids: r.map((x) => x.event_id).sort() })));
  expect(inbox).toEqual({ shard: s1.id, ids: [...kept].sort() });
  expect((await rowsOn(s1, d.id, 'select count(*)::int as n from outbox where tenant_id = $1 and published_at is null and failed_at is null', [d.id]))[0]).toEqual({ n: 1 });
  expect(await replicationLeft(m, subscriptionOid)).toEqual([]);
  // The target takes the tenant again later (nothing left of the aborted move).
  expect(await mover.preflight(m)).toEqual([]);
});

it('refuses a target that holds rows of the tenant', async () => {
  const e = await world.createTenant('mover E', s1);
  await world.tenantDb.withTenant(e.id, (tx) => insertInbox(tx, e.id));
  await world.tenantDb.withTenantOnShard(s2, e.id, (tx) => insertInbox(tx, e.id));
  const m: TenantMove = { moveId: newId(), tenantId: e.id, source: s1, target: s2 };
  expect(await mover.preflight(m)).toEqual([{ code: 'target-holds-rows', message: expect.stringContaining('inbox') }]);
  await expect(mover.fenceTarget(m)).rejects.toMatchObject({ code: 'target-holds-rows', retryable: false });
  await rowsOn(s2, e.id, 'delete from inbox where tenant_id = $1', [e.id]);
});
