// readOnce: a tenant read in one round trip (begin read only, the tenant's gate, the query and commit
// in one write). Under the tenant's RLS like withTenant; the setting gone with the transaction; a
// write, a failing query and a timeout leave every pooled connection clean and usable; one write
// on the socket per read; the tenant context guard holds. On the stack and on the embedded databases.
import { sql } from 'kysely';
import { runInTenantContext } from '@hotdash/platform-tenancy';
import { DB_MODES, EMBEDDED_START_MS, longSleep, ModeWorld, TestWorld, worldFor, WorldTenant } from '@hotdash/testing';
import { newId } from './ids';
import { TenantContextMismatchError } from './tenant-database';
import { TenantTransactionTimeoutError } from './tenant-transaction';

const POOL = 2;

describe.each(DB_MODES)('on the %s databases', (mode) => {
  let modes: ModeWorld;
  let world: TestWorld;
  let a: WorldTenant;
  let b: WorldTenant;
  const consumer = `read-once-${newId()}`;
  const ids = { a: [newId(), newId()], b: [newId()] };

  beforeAll(async () => {
    modes = await worldFor(mode, { poolSize: POOL });
    world = modes.world;
    const [s1] = await world.shards();
    a = await world.createTenant('read-once A', s1);
    b = await world.createTenant('read-once B', s1);
    for (const [t, own] of [[a, ids.a], [b, ids.b]] as const)
      await world.tenantDb.withTenant(t.id, (tx) => tx.db.insertInto('inbox').values(own.map((event_id) => ({ tenant_id: t.id, consumer, event_id }))).execute());
  }, EMBEDDED_START_MS);
  afterAll(async () => {
    for (const t of [a, b]) await world.tenantDb.withTenant(t.id, (tx) => sql`delete from inbox where consumer = ${consumer}`.execute(tx.db));
    await modes?.close();
  });

  /** Every pooled connection, checked out at once: its tenant setting and transaction state. */
  async function pooled(): Promise<{ setting: string; inTx: boolean }[]> {
    const pool = world.dbs.pool(a.shard, 'app');
    const clients = await Promise.all(Array.from({ length: POOL }, () => pool.connect()));
    try {
      return await Promise.all(
        clients.map(async (c) => {
          const r = await c.query<{ s: string | null; x: boolean }>(`select current_setting('app.tenant_id', true) as s, now() <> statement_timestamp() as x`);
          return { setting: r.rows[0]!.s ?? '', inTx: r.rows[0]!.x };
        }),
      );
    } finally {
      clients.forEach((c) => c.release());
    }
  }

  const clean = Array.from({ length: POOL }, () => ({ setting: '', inTx: false }));
  const inboxOf = (t: WorldTenant) => world.tenantDb.readOnce(t.id, (db) => db.selectFrom('inbox').select('event_id').where('consumer', '=', consumer).orderBy('event_id'));

  it("reads only the tenant's rows, and leaves no tenant setting behind", async () => {
    expect((await inboxOf(a)).map((r) => r.event_id)).toEqual([...ids.a].sort());
    expect((await inboxOf(b)).map((r) => r.event_id)).toEqual(ids.b);
    // No where on the tenant at all: the policy alone filters.
    const all = await world.tenantDb.readOnce(b.id, (db) => db.selectFrom('inbox').select(['tenant_id']).where('consumer', '=', consumer));
    expect(all).toEqual([{ tenant_id: b.id }]);
    const setting = await world.tenantDb.readOnce(a.id, (db) => ({ compile: () => sql<{ s: string }>`select current_setting('app.tenant_id', true) as s`.compile(db) }));
    expect(setting).toEqual([{ s: a.id }]);
    expect(await pooled()).toEqual(clean);
  });

  it('sends the whole read in one write on the socket', async () => {
    await inboxOf(a); // the named statements are parsed on first use (still one write)
    const pool = world.dbs.pool(a.shard, 'app');
    const clients = await Promise.all(Array.from({ length: POOL }, () => pool.connect()));
    let writes = 0;
    const restore = clients.map((c) => {
      const stream = (c as unknown as { connection: { stream: { write: (...args: unknown[]) => boolean } } }).connection.stream;
      const write = stream.write.bind(stream);
      stream.write = (...args: unknown[]) => {
        writes++;
        return write(...args);
      };
      return () => delete (stream as Partial<typeof stream>).write;
    });
    clients.forEach((c) => c.release());
    try {
      for (let i = 0; i < 5; i++) await inboxOf(a);
      expect(writes).toBe(5);
    } finally {
      restore.forEach((r) => r());
    }
  });

  it('refuses a write, and a failing or timed-out read leaves every connection clean and usable', async () => {
    await expect(world.tenantDb.readOnce(a.id, (db) => db.insertInto('inbox').values({ tenant_id: a.id, consumer, event_id: newId() }).returning('event_id'))).rejects.toThrow(/read-only transaction/);
    await expect(world.tenantDb.readOnce(a.id, (db) => ({ compile: () => sql`select 1/0`.compile(db) }))).rejects.toThrow(/division by zero/);
    await expect(world.tenantDb.readOnce(a.id, (db) => ({ compile: () => sql`select pg_sleep(${longSleep(mode)})`.compile(db) }), { timeoutMs: 200 })).rejects.toBeInstanceOf(TenantTransactionTimeoutError);
    expect(await pooled()).toEqual(clean);
    expect((await inboxOf(a)).map((r) => r.event_id)).toEqual([...ids.a].sort());
  });

  it("refuses another tenant's id inside a tenant's context", async () => {
    await expect(runInTenantContext({ tenantId: a.id, actorId: 'spec', correlationId: newId() }, () => inboxOf(b))).rejects.toBeInstanceOf(TenantContextMismatchError);
  });
});
