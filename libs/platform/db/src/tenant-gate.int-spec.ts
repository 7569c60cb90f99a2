// The tenant gate (docs/tenant-move.md §5): every tenant transaction opens with tenant_gate(), which
// sets the tenant, takes its pause lock shared and refuses it where the shard holds a fence. A
// fenced shard refuses before anything of the transaction runs, naming where the tenant went;
// withTenant routes the tenant there and runs the callback again, so reads and writes survive a
// cut-over; a tenant fenced everywhere (between a move's decision and the target's opening) waits
// and then succeeds. A mover's exclusive lock pauses that tenant alone.
import { sql } from 'kysely';
import type { Client } from 'pg';
import { TestWorld, waitFor, WorldTenant } from '@hotdash/testing';
import type { ShardInfo } from './databases';
import { newId } from './ids';
import { TenantFencedError, tenantGate, type TenantTransaction } from './tenant-transaction';

const world = new TestWorld();
const consumer = `gate-spec-${newId()}`;
let s1: ShardInfo;
let s2: ShardInfo;
let t: WorldTenant;
let u: WorldTenant;

/** Runs `statement` as the owner on `shard` in `tenant`'s context (the forced policies bind the owner too). */
async function asOwner(shard: ShardInfo, tenantId: string, statement: string, values: unknown[] = []): Promise<number> {
  const c: Client = await world.connect(shard, 'owner');
  try {
    await c.query('begin');
    await c.query(`select set_config('app.tenant_id', $1, true)`, [tenantId]);
    const r = await c.query(statement, values);
    await c.query('commit');
    return r.rowCount ?? 0;
  } finally {
    await c.end();
  }
}

const fence = (shard: ShardInfo, movedTo?: { shard: ShardInfo; version: number }) =>
  asOwner(shard, t.id, 'insert into tenant_fences (tenant_id, move_id, moved_to_shard, placement_version) values ($1, $2, $3, $4)', [t.id, newId(), movedTo?.shard.id ?? null, movedTo?.version ?? null]);
const unfence = (shard: ShardInfo) => asOwner(shard, t.id, 'delete from tenant_fences where tenant_id = $1', [t.id]);
const eventsOn = (shard: ShardInfo, tenantId: string) =>
  world.connect(shard, 'owner').then(async (c) => {
    try {
      await c.query('begin');
      await c.query(`select set_config('app.tenant_id', $1, true)`, [tenantId]);
      const r = await c.query<{ event_id: string }>('select event_id::text from inbox where consumer = $1 order by event_id', [consumer]);
      await c.query('commit');
      return r.rows.map((x) => x.event_id);
    } finally {
      await c.end();
    }
  });
const insertEvent = (tx: TenantTransaction, tenantId: string, eventId: string) =>
  sql`insert into inbox (tenant_id, consumer, event_id) values (${tenantId}::uuid, ${consumer}, ${eventId}::uuid)`.execute(tx.db).then((r) => Number(r.numAffectedRows ?? 0));
const readEvents = (tx: TenantTransaction) => tx.db.selectFrom('inbox').select('event_id').where('consumer', '=', consumer).orderBy('event_id').execute().then((rows) => rows.map((r) => r.event_id));

beforeAll(async () => {
  const shards = await world.shards();
  [s1, s2] = [shards[0]!, shards[1]!];
  t = await world.createTenant('gate T', s1);
  u = await world.createTenant('gate U', s1);
  // The router's placement listener connected (its first connect drops every cached placement).
  await world.router.shardOf(t.id);
  await waitFor('the placement listener', async () => world.router.placementListener?.backendPid(), 10_000, 10);
});
afterEach(async () => {
  for (const s of [s1, s2]) {
    await unfence(s);
    for (const tenant of [t, u]) await asOwner(s, tenant.id, 'delete from inbox where consumer = $1', [consumer]);
  }
  world.router.invalidate();
});
afterAll(() => world.close());

it('refuses a fenced tenant in the opening, before anything of the transaction ran, naming where it went', async () => {
  await fence(s1, { shard: s2, version: 2 });
  const attempted = newId();
  const refusal = await world.tenantDb.withTenantOnShard(s1, t.id, (tx) => insertEvent(tx, t.id, attempted)).catch((e: unknown) => e);
  expect(refusal).toBeInstanceOf(TenantFencedError);
  expect(refusal).toMatchObject({ reason: 'moved', movedTo: { shardId: s2.id, placementVersion: 2 } });
  expect(await eventsOn(s1, t.id)).toEqual([]);

  // A move's target before the move opened it: refused, no destination.
  await fence(s2);
  const movingIn = await world.tenantDb.withTenantOnShard(s2, t.id, (tx) => readEvents(tx)).catch((e: unknown) => e);
  expect(movingIn).toBeInstanceOf(TenantFencedError);
  expect(movingIn).toMatchObject({ reason: 'moving-in', movedTo: undefined });

  // Another tenant of the fenced shard is not concerned.
  expect(await world.tenantDb.withTenantOnShard(s1, u.id, (tx) => readEvents(tx))).toEqual([]);
});

it('runs a fenced tenant’s transaction again on the shard the fence names, whatever the callback made of the refusal', async () => {
  const there = newId();
  await world.tenantDb.withTenantOnShard(s2, t.id, (tx) => insertEvent(tx, t.id, there));
  expect((await world.router.placementOf(t.id)).shard.id).toBe(s1.id); // the placement still says s1: a stale router
  await fence(s1, { shard: s2, version: 2 });

  const tried: string[] = [];
  const read = await world.tenantDb.withTenant(t.id, async (tx, shard) => {
    tried.push(shard.name);
    return readEvents(tx);
  });
  expect(tried).toEqual([s1.name, s2.name]);
  expect(read).toEqual([there]);
  // The router now routes by the fence's destination (newer than the placement it held).
  expect(await world.router.placementOf(t.id)).toEqual({ shard: expect.objectContaining({ id: s2.id }), version: 2 });

  // A callback that swallows the error of its first statement still ends with the refusal, and is run again.
  world.router.invalidate(t.id);
  const outcomes: string[] = [];
  await world.tenantDb.withTenant(t.id, async (tx, shard) => {
    try {
      await insertEvent(tx, t.id, newId());
      outcomes.push(`${shard.name}: written`);
    } catch {
      outcomes.push(`${shard.name}: refused`);
    }
  });
  expect(outcomes).toEqual([`${s1.name}: refused`, `${s2.name}: written`]);
  expect(await eventsOn(s1, t.id)).toEqual([]);
  expect(await eventsOn(s2, t.id)).toHaveLength(2);
});

it('waits while both copies refuse the tenant (the decision taken, the target not open yet), then succeeds on the target', async () => {
  await fence(s1, { shard: s2, version: 2 });
  await fence(s2);
  const written = newId();
  let attempts = 0;
  const write = world.tenantDb.withTenant(t.id, async (tx, shard) => {
    attempts++;
    await insertEvent(tx, t.id, written);
    return shard.name;
  });
  await waitFor('the write to be refused by both copies a few times', async () => attempts >= 4, 10_000, 10);
  await unfence(s2); // the target opens
  expect(await write).toBe(s2.name);
  expect(await eventsOn(s2, t.id)).toEqual([written]);
  expect(await eventsOn(s1, t.id)).toEqual([]);
});

it('gives up with the fence once fenceWaitMs has passed', async () => {
  await fence(s1, { shard: s2, version: 2 });
  await fence(s2);
  await expect(world.tenantDb.withTenant(t.id, (tx) => readEvents(tx), { fenceWaitMs: 200 })).rejects.toBeInstanceOf(TenantFencedError);
});

it('pauses the tenant alone while a mover holds its lock exclusively: its work waits, then succeeds; other tenants go on', async () => {
  const mover = await world.connect(s1, 'owner');
  const observer = await world.connect(s1, 'owner');
  try {
    await mover.query('begin');
    await mover.query('select pg_advisory_xact_lock(72011260, hashtext($1))', [t.id]);
    const paused = newId();
    let done = false;
    const write = world.tenantDb.withTenant(t.id, (tx) => insertEvent(tx, t.id, paused)).then((n) => ((done = true), n));
    await waitFor('the tenant’s transaction to wait for the pause', async () => {
      const r = await observer.query(`select count(*)::int as n from pg_locks where locktype = 'advisory' and classid = 72011260 and objsubid = 2 and not granted`);
      return r.rows[0].n > 0;
    }, 10_000, 10);
    // Another tenant of the same shard reads and writes meanwhile.
    const other = newId();
    expect(await world.tenantDb.withTenant(u.id, (tx) => insertEvent(tx, u.id, other))).toBe(1);
    expect(await world.tenantDb.withTenant(u.id, (tx) => readEvents(tx))).toEqual([other]);
    expect(done).toBe(false);
    await mover.query('commit'); // the pause ends
    expect(await write).toBe(1);
    expect(await eventsOn(s1, t.id)).toEqual([paused]);
  } finally {
    await mover.end();
    await observer.end();
  }
});

/** A mover's pause of tenant t on s1: its exclusive lock, in a transaction in t's context (the decision is written in it). */
async function pause(): Promise<{ mover: Client; observer: Client; waiting: () => Promise<void> }> {
  const mover = await world.connect(s1, 'owner');
  const observer = await world.connect(s1, 'owner');
  await mover.query('begin');
  await mover.query(`select set_config('app.tenant_id', $1, true)`, [t.id]);
  await mover.query('select pg_advisory_xact_lock(72011260, hashtext($1))', [t.id]);
  const waiting = () =>
    waitFor('a transaction of the tenant to wait for the pause', async () => {
      const r = await observer.query(`select count(*)::int as n from pg_locks where locktype = 'advisory' and classid = 72011260 and objsubid = 2 and not granted`);
      return r.rows[0].n > 0;
    }, 10_000, 10).then(() => undefined);
  return { mover, observer, waiting };
}

it('lets a transaction that waited out the pause see the decision taken in it: refused by the source, done on the target', async () => {
  const { mover, observer, waiting } = await pause();
  try {
    const written = newId();
    const tried: string[] = [];
    const write = world.tenantDb.withTenant(t.id, async (tx, shard) => {
      tried.push(shard.name);
      await insertEvent(tx, t.id, written);
    });
    await waiting();
    // The decision: the source's fence, committed by the transaction that holds the pause.
    await mover.query('insert into tenant_fences (tenant_id, move_id, moved_to_shard, placement_version) values ($1, $2, $3, 2)', [t.id, newId(), s2.id]);
    await mover.query('commit');
    await write;
    expect(tried).toEqual([s1.name, s2.name]);
    expect(await eventsOn(s1, t.id)).toEqual([]);
    expect(await eventsOn(s2, t.id)).toEqual([written]);
  } finally {
    await mover.end();
    await observer.end();
  }
});

it('refuses a repeatable-read transaction that waited out the pause (its snapshot predates what the move decided), and withTenant runs it again', async () => {
  let p = await pause();
  try {
    const refused = world.tenantDb.withTenantOnShard(s1, t.id, (tx) => readEvents(tx), { isolation: 'repeatable-read' }).catch((e: unknown) => e);
    await p.waiting();
    await p.mover.query('commit'); // no decision: the pause just ends
    expect(await refused).toMatchObject({ name: 'TenantFencedError', reason: 'paused' });
  } finally {
    await p.mover.end();
    await p.observer.end();
  }
  p = await pause();
  try {
    const tried: string[] = [];
    const read = world.tenantDb.withTenant(t.id, async (tx, shard) => {
      tried.push(shard.name);
      return readEvents(tx);
    }, { isolation: 'repeatable-read' });
    await p.waiting();
    await p.mover.query('commit');
    expect(await read).toEqual([]);
    expect(tried).toEqual([s1.name, s1.name]);
  } finally {
    await p.mover.end();
    await p.observer.end();
  }
});

// The opening as sent (tenantGate): `open` sets the tenant and tries the pause lock, calling the
// plpgsql tenant_gate() only when a mover holds it (its column `fallback` is then tenant_gate's
// void, '', instead of null: which path ran is visible); `fence` reads the fence in a snapshot taken after
// the lock, calling tenant_gate() only for a fence row. Run here statement by statement on a raw
// connection of the application role, to see each one's outcome.
describe('the opening: a plain-SQL fast path, tenant_gate() only when paused or fenced', () => {
  const openOn = async (c: Client, tenantId: string, begin = 'begin') => {
    const [open, fenceRead] = tenantGate(tenantId);
    await c.query(begin);
    const opened = await c.query<{ set_config: string; fallback: string | null }>({ text: open!.text, values: open!.values });
    const fenced = await c.query({ text: fenceRead!.text, values: fenceRead!.values }).then(
      () => undefined,
      (err: unknown) => err,
    );
    return { setting: opened.rows[0]!.set_config, paused: opened.rows[0]!.fallback !== null, fenced };
  };

  it('refuses a fenced tenant on the fast path (the lock free) with tenant_gate’s own error, before the callback’s first statement ran', async () => {
    // A decision as a mover takes it: the fence written and committed under the exclusive lock, just
    // before the tenant's next transaction opens (the lock is free again by then).
    const { mover, observer } = await pause();
    await mover.query('insert into tenant_fences (tenant_id, move_id, moved_to_shard, placement_version) values ($1, $2, $3, 2)', [t.id, newId(), s2.id]);
    await mover.query('commit');
    await mover.end();
    await observer.end();

    const c = await world.connect(s1, 'app');
    try {
      const refused = await openOn(c, t.id);
      expect(refused.setting).toBe(t.id);
      expect(refused.paused).toBe(false); // the fast path: no plpgsql in `open`
      expect(refused.fenced).toMatchObject({ code: 'HDM01', detail: `${s2.id}:2`, hint: 'route the tenant by its placement again' });
      await c.query('rollback');
      // Another tenant of the same shard: fast path, no fence.
      expect(await openOn(c, u.id)).toEqual({ setting: u.id, paused: false, fenced: undefined });
      await c.query('rollback');
    } finally {
      await c.end();
    }
    // Through withTenantOnShard: the same refusal as a TenantFencedError, and the callback's first
    // statement (pipelined behind the opening) did not run.
    const attempted = newId();
    const refusal = await world.tenantDb.withTenantOnShard(s1, t.id, (tx) => insertEvent(tx, t.id, attempted)).catch((e: unknown) => e);
    expect(refusal).toMatchObject({ name: 'TenantFencedError', reason: 'moved', movedTo: { shardId: s2.id, placementVersion: 2 } });
    expect(await eventsOn(s1, t.id)).toEqual([]);

    // A move's target before it opens: `moving-in`, on the fast path too.
    await fence(s2);
    const target = await world.connect(s2, 'app');
    try {
      expect(await openOn(target, t.id)).toMatchObject({ paused: false, fenced: { code: 'HDM01', detail: 'moving-in' } });
    } finally {
      await target.end();
    }
  });

  it('makes a paused tenant’s write wait in tenant_gate() (the fallback), then succeed when the pause ends without a decision', async () => {
    const { mover, observer, waiting } = await pause();
    const c = await world.connect(s1, 'app');
    try {
      const written = newId();
      const tried: string[] = [];
      let done = false;
      const write = world.tenantDb
        .withTenant(t.id, async (tx, shard) => {
          tried.push(shard.name);
          return insertEvent(tx, t.id, written);
        })
        .then((n) => ((done = true), n));
      const raw = openOn(c, t.id);
      await waiting();
      await waitFor('both openings to wait for the pause', async () => {
        const r = await observer.query(`select count(*)::int as n from pg_locks where locktype = 'advisory' and classid = 72011260 and objsubid = 2 and not granted`);
        return r.rows[0].n === 2;
      }, 10_000, 10);
      // The cut-over fails before its decision: the fence it wrote is rolled back with the pause.
      await mover.query('insert into tenant_fences (tenant_id, move_id, moved_to_shard, placement_version) values ($1, $2, $3, 2)', [t.id, newId(), s2.id]);
      expect(done).toBe(false);
      await mover.query('rollback');
      expect(await write).toBe(1);
      expect(tried).toEqual([s1.name]);
      expect(await eventsOn(s1, t.id)).toEqual([written]);
      expect(await raw).toEqual({ setting: t.id, paused: true, fenced: undefined }); // the fallback ran, and let it through
      await c.query('rollback');
    } finally {
      await c.end();
      await mover.end();
      await observer.end();
    }
  });

  it('refuses a snapshot (repeatable read, read only) transaction started during a pause, as before; withTenant runs it again', async () => {
    let p = await pause();
    try {
      const refused = world.tenantDb.withTenantOnShard(s1, t.id, (tx) => readEvents(tx), { isolation: 'snapshot' }).catch((e: unknown) => e);
      await p.waiting();
      await p.mover.query('commit');
      expect(await refused).toMatchObject({ name: 'TenantFencedError', reason: 'paused', movedTo: undefined });
    } finally {
      await p.mover.end();
      await p.observer.end();
    }
    const c = await world.connect(s1, 'app');
    p = await pause();
    try {
      const tried: string[] = [];
      const read = world.tenantDb.withTenant(t.id, async (tx, shard) => {
        tried.push(shard.name);
        return readEvents(tx);
      }, { isolation: 'snapshot' });
      // The same opening on a raw connection: refused by tenant_gate() in `open`, after the wait.
      const [open] = tenantGate(t.id);
      await c.query('begin isolation level repeatable read read only');
      const raw = c.query({ text: open!.text, values: open!.values }).catch((e: unknown) => e);
      await waitFor('both openings to wait for the pause', async () => {
        const r = await p.observer.query(`select count(*)::int as n from pg_locks where locktype = 'advisory' and classid = 72011260 and objsubid = 2 and not granted`);
        return r.rows[0].n === 2;
      }, 10_000, 10);
      await p.mover.query('commit');
      expect(await read).toEqual([]);
      expect(tried).toEqual([s1.name, s1.name]);
      expect(await raw).toMatchObject({ code: 'HDM01', detail: 'paused', hint: 'run the transaction again' });
      await c.query('rollback');
    } finally {
      await c.end();
      await p.mover.end();
      await p.observer.end();
    }
  });
});
