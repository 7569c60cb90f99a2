// Shard routers keep placements without a time limit and follow a moved placement at once: the
// control database NOTIFYs hotdash_placements when a placement moves or changes version, and every
// router (here: two processes' worth, each with its own Databases) drops that tenant's entry; a
// router whose listener lost its connection drops every entry when it reconnects, since
// notifications sent meanwhile are lost.
import { TestWorld, waitFor, WorldTenant } from '@hotdash/testing';
import type { ShardInfo } from './databases';

const reader = new TestWorld();
const other = new TestWorld();
let s1: ShardInfo;
let s2: ShardInfo;
let t: WorldTenant;

/** Moves the tenant's placement as a tenant move's cut-over does (another process: `other`). */
async function movePlacement(to: ShardInfo): Promise<number> {
  const r = await other.dbs
    .controlDb()
    .updateTable('tenant_placements')
    .set((eb) => ({ shard_id: to.id, version: eb('version', '+', 1) }))
    .where('tenant_id', '=', t.id)
    .returning('version')
    .executeTakeFirstOrThrow();
  return r.version;
}

beforeAll(async () => {
  const shards = await reader.shards();
  [s1, s2] = [shards[0]!, shards[1]!];
  t = await reader.createTenant('router T', s1);
});
afterAll(async () => {
  await reader.close();
  await other.close();
});

it('drops a tenant’s cached placement when the control database announces that it moved', async () => {
  expect((await reader.router.shardOf(t.id)).id).toBe(s1.id);
  await waitFor('the placement listener', async () => reader.router.placementListener?.backendPid(), 10_000, 10);
  expect(await reader.router.placementOf(t.id)).toEqual({ shard: expect.objectContaining({ id: s1.id }), version: 1 });

  const version = await movePlacement(s2);
  // No time limit on the cache: only the notification can make the router see the move.
  const moved = await waitFor('the router to follow the move', async () => {
    const p = await reader.router.placementOf(t.id);
    return p.shard.id === s2.id ? p : undefined;
  }, 10_000, 20);
  expect(moved.version).toBe(version);
});

it('drops every cached placement when its listener reconnects (notifications sent meanwhile are lost)', async () => {
  const before = await reader.router.placementOf(t.id);
  const pid = await waitFor('the placement listener', async () => reader.router.placementListener?.backendPid(), 10_000, 10);
  const su = await reader.connectSuperuser(reader.config.db.controlDatabase);
  try {
    await su.query('select pg_terminate_backend($1)', [pid]);
  } finally {
    await su.end();
  }
  // Moved while the listener is gone (it reconnects after 200 ms at the earliest): the notification is lost.
  const target = before.shard.id === s1.id ? s2 : s1;
  const version = await movePlacement(target);
  await waitFor('the listener to reconnect', async () => {
    const now = reader.router.placementListener?.backendPid();
    return now !== undefined && now !== pid;
  }, 10_000, 20);
  expect(await reader.router.placementOf(t.id)).toEqual({ shard: expect.objectContaining({ id: target.id }), version });
});
