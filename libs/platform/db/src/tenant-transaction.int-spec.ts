// withTenant on the driver (DESIGN.md §3.2): the typed layer (Kysely) and parameterised raw SQL run
// in the tenant's transaction under RLS; savepoints nest; and an error, a timeout or a backend killed
// in mid-transaction rolls back and leaves no tenant setting on any pooled connection (a broken or
// timed-out connection is destroyed, not returned to the pool). On the stack and on the embedded databases.
import { sql } from 'kysely';
import { newId } from './ids';
import { TenantTransactionClosedError, TenantTransactionTimeoutError } from './tenant-transaction';
import { DB_MODES, EMBEDDED_START_MS, longSleep, ModeWorld, TestWorld, worldFor, WorldTenant } from '@hotdash/testing';

const POOL = 3;

describe.each(DB_MODES)('on the %s databases', (mode) => {
  let modes: ModeWorld;
  let world: TestWorld;
  // Stack only: a transaction that waits on another transaction of the same database waits, on the
  // embedded databases, for the one backend that transaction holds (refused after the embedded
  // server's wait limit: embedded-databases.int-spec.ts).
  const stackOnly = mode === 'stack' ? it : it.skip;
  let a: WorldTenant;
  let b: WorldTenant;
  const consumer = `tx-spec-${newId()}`;

  beforeAll(async () => {
    modes = await worldFor(mode, { poolSize: POOL });
    world = modes.world;
    const [s1] = await world.shards();
    a = await world.createTenant('tx tenant A', s1);
    b = await world.createTenant('tx tenant B', s1);
  }, EMBEDDED_START_MS);
  afterAll(async () => {
    for (const t of [a, b]) await world.tenantDb.withTenant(t.id, (tx) => sql`delete from inbox where consumer = ${consumer}`.execute(tx.db).then((r) => Number(r.numAffectedRows ?? 0)));
    await modes?.close();
  });

  const inboxOf = (t: WorldTenant) =>
    world.tenantDb.withTenant(t.id, (tx) => tx.db.selectFrom('inbox').select('event_id').where('consumer', '=', consumer).execute()).then((rows) => rows.map((r) => r.event_id).sort());

  /** Every connection of the shard's pool, checked out at once outside any transaction: none carries a tenant setting. */
  async function pooledSettings(): Promise<string[]> {
    const pool = world.dbs.pool(a.shard, 'app');
    const clients = await Promise.all(Array.from({ length: POOL }, () => pool.connect()));
    try {
      return await Promise.all(clients.map(async (c) => (await c.query<{ s: string | null }>(`select current_setting('app.tenant_id', true) as s`)).rows[0]!.s ?? ''));
    } finally {
      clients.forEach((c) => c.release());
    }
  }

  it('runs Kysely and raw SQL in the tenant transaction, each under the tenant’s RLS', async () => {
    const id = newId();
    await world.tenantDb.withTenant(a.id, async (tx) => {
      await tx.db.insertInto('inbox').values({ tenant_id: a.id, consumer, event_id: id }).execute();
      const raw = await sql<{ s: string; n: number }>`select current_setting('app.tenant_id', true) as s, count(*)::int as n from inbox where consumer = ${consumer}`.execute(tx.db).then((r) => r.rows);
      expect(raw).toEqual([{ s: a.id, n: 1 }]);
    });
    expect(await inboxOf(a)).toEqual([id]);
    expect(await inboxOf(b)).toEqual([]);
    // Writing another tenant's row is refused by the policy, whichever API writes it.
    await expect(world.tenantDb.withTenant(b.id, (tx) => tx.db.insertInto('inbox').values({ tenant_id: a.id, consumer, event_id: newId() }).execute())).rejects.toThrow(/row-level security/);
    expect(await inboxOf(a)).toEqual([id]);
  });

  it('nests savepoints: an inner failure undoes only its own writes', async () => {
    const [outer, kept, undone, deep] = [newId(), newId(), newId(), newId()];
    const insert = (tx: Parameters<Parameters<typeof world.tenantDb.withTenant>[1]>[0], eventId: string) => sql`insert into inbox (tenant_id, consumer, event_id) values (${b.id}::uuid, ${consumer}, ${eventId}::uuid)`.execute(tx.db).then((r) => Number(r.numAffectedRows ?? 0));
    await world.tenantDb.withTenant(b.id, async (tx) => {
      await insert(tx, outer);
      await tx.savepoint(async () => {
        await insert(tx, kept);
        await expect(
          tx.savepoint(async () => {
            await insert(tx, undone);
            await tx.savepoint(() => insert(tx, deep));
            throw new Error('inner failure');
          }),
        ).rejects.toThrow('inner failure');
      });
    });
    expect(await inboxOf(b)).toEqual([outer, kept].sort());
  });

  it('rolls back on an error and on a timeout, and leaves no tenant setting on any pooled connection', async () => {
    const lost = newId();
    await expect(
      world.tenantDb.withTenant(a.id, async (tx) => {
        await sql`insert into inbox (tenant_id, consumer, event_id) values (${a.id}::uuid, ${consumer}, ${lost}::uuid)`.execute(tx.db).then((r) => Number(r.numAffectedRows ?? 0));
        throw new Error('handler failed');
      }),
    ).rejects.toThrow('handler failed');

    const slow = newId();
    let late: unknown;
    await expect(
      world.tenantDb.withTenant(
        a.id,
        async (tx) => {
          await sql`insert into inbox (tenant_id, consumer, event_id) values (${a.id}::uuid, ${consumer}, ${slow}::uuid)`.execute(tx.db).then((r) => Number(r.numAffectedRows ?? 0));
          await sql<Record<string, unknown>>`select pg_sleep(${longSleep(mode)})`.execute(tx.db).then((r) => r.rows).catch(() => undefined);
          late = await sql<Record<string, unknown>>`select 1`.execute(tx.db).then((r) => r.rows).catch((e: unknown) => e);
        },
        { timeoutMs: 300 },
      ),
    ).rejects.toBeInstanceOf(TenantTransactionTimeoutError);
    // A statement after the time limit is refused, not run on a connection that is no longer the tenant's.
    expect(late).toBeInstanceOf(TenantTransactionTimeoutError);

    expect((await inboxOf(a)).filter((e) => e === lost || e === slow)).toEqual([]);
    expect(await pooledSettings()).toEqual(Array(POOL).fill(''));
  });

  it('survives a backend killed in mid-transaction: the work fails, nothing is written, the pool stays clean', async () => {
    const id = newId();
    // Embedded: one backend serves every connection; the server drops the transaction's connection instead.
    const admin = mode === 'stack' ? await world.connectSuperuser(a.shard.database) : undefined;
    try {
      await expect(
        world.tenantDb.withTenant(a.id, async (tx) => {
          await sql`insert into inbox (tenant_id, consumer, event_id) values (${a.id}::uuid, ${consumer}, ${id}::uuid)`.execute(tx.db).then((r) => Number(r.numAffectedRows ?? 0));
          const [backend] = await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(tx.db).then((r) => r.rows);
          if (admin) await admin.query('select pg_terminate_backend($1)', [backend!.pid]);
          else expect(modes.embedded!.server.terminate({ holderOf: a.shard.database })).toBe(true);
          await sql<Record<string, unknown>>`select 1`.execute(tx.db).then((r) => r.rows);
        }),
      ).rejects.toThrow();
    } finally {
      await admin?.end();
    }
    expect(await inboxOf(a)).not.toContain(id);
    expect(await pooledSettings()).toEqual(Array(POOL).fill(''));
    // The pool still serves the tenant.
    expect(await world.tenantDb.withTenant(a.id, async (tx) => (await sql<{ s: string }>`select current_setting('app.tenant_id', true) as s`.execute(tx.db).then((r) => r.rows))[0]!.s)).toBe(a.id);
  });

  it('refuses a statement once withTenant has returned', async () => {
    let kept: Parameters<Parameters<typeof world.tenantDb.withTenant>[1]>[0] | undefined;
    await world.tenantDb.withTenant(a.id, async (tx) => {
      kept = tx;
    });
    await expect(sql`select 1`.execute(kept!.db)).rejects.toBeInstanceOf(TenantTransactionClosedError);
    await expect(kept!.db.selectFrom('inbox').selectAll().execute()).rejects.toBeInstanceOf(TenantTransactionClosedError);
  });

  stackOnly('gives a snapshot transaction one view of the tenant’s rows from its first statement, and refuses its writes', async () => {
    const first = newId();
    const later = newId();
    await world.tenantDb.withTenant(a.id, (tx) => tx.db.insertInto('inbox').values({ tenant_id: a.id, consumer, event_id: first }).execute());
    const seen = await world.tenantDb.withTenant(
      a.id,
      async (tx) => {
        const before = await tx.db.selectFrom('inbox').select('event_id').where('consumer', '=', consumer).execute();
        // Committed by another transaction meanwhile: not seen by this one.
        await world.tenantDb.withTenant(a.id, (other) => other.db.insertInto('inbox').values({ tenant_id: a.id, consumer, event_id: later }).execute());
        const after = await tx.db.selectFrom('inbox').select('event_id').where('consumer', '=', consumer).execute();
        const level = await sql<{ l: string; r: string }>`select current_setting('transaction_isolation') as l, current_setting('transaction_read_only') as r`.execute(tx.db);
        return { before: before.map((r) => r.event_id).sort(), after: after.map((r) => r.event_id).sort(), level: level.rows[0] };
      },
      { isolation: 'snapshot' },
    );
    expect(seen.after).toEqual(seen.before);
    expect(seen.before).toContain(first);
    expect(seen.before).not.toContain(later);
    expect(seen.level).toEqual({ l: 'repeatable read', r: 'on' });
    expect(await inboxOf(a)).toContain(later);
    await expect(world.tenantDb.withTenant(a.id, (tx) => tx.db.insertInto('inbox').values({ tenant_id: a.id, consumer, event_id: newId() }).execute(), { isolation: 'snapshot' })).rejects.toThrow(/read-only transaction/);
  });

  it('opens with named prepared statements, parsed once per connection, and again after a failed first group', async () => {
    const one = new TestWorld({ poolSize: 1, config: world.config }); // one connection: every transaction below runs on it
    try {
      const pool = one.dbs.pool(a.shard, 'app');
      const prepared = async () => {
        const c = await pool.connect();
        try {
          // Embedded: one backend holds every connection's statements, each named with its connection's prefix (hd<n>_).
          const names = (await c.query<{ name: string }>(`select name from pg_prepared_statements where name like '%hotdash_%' order by name`)).rows.map((r) => r.name.replace(/^hd\d+_/, ''));
          return [...new Set(names)].sort();
        } finally {
          c.release();
        }
      };
      // The first group on a fresh connection parses the opening, then fails at its own statement:
      // the statements may or may not exist now, so the next group closes and parses them again.
      await expect(one.tenantDb.withTenant(a.id, (tx) => sql`select 1 / 0`.execute(tx.db))).rejects.toThrow(/division by zero/);
      for (let i = 0; i < 3; i++) expect((await one.tenantDb.withTenant(a.id, (tx) => sql<{ t: string }>`select current_setting('app.tenant_id') as t`.execute(tx.db))).rows[0]!.t).toBe(a.id);
      expect(await prepared()).toEqual(['hotdash_begin', 'hotdash_tenant_fence', 'hotdash_tenant_open']);
      // Another tenant on the same connection binds the same statement with its own id.
      expect((await one.tenantDb.withTenant(b.id, (tx) => sql<{ t: string }>`select current_setting('app.tenant_id') as t`.execute(tx.db))).rows[0]!.t).toBe(b.id);
    } finally {
      await one.close();
    }
  });
});
