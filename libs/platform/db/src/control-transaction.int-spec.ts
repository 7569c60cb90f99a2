// The control plane's typed layer on the driver: withControl runs Kysely in one transaction on the
// control pool, savepoints nest, and an error, a timeout or a backend killed in mid-transaction rolls
// back and leaves no open transaction on any pooled connection (a broken or timed-out connection is
// destroyed, not returned); statements after the end are refused; Kysely's own transaction() is
// refused; the pool's Kysely runs its statements as named prepared statements; the role is the
// application's unless another is asked for. On the stack and on the embedded databases.
import { sql } from 'kysely';
import { newId } from './ids';
import { ControlTransaction, ControlTransactionClosedError, ControlTransactionTimeoutError } from './control-transaction';
import { DB_MODES, EMBEDDED_START_MS, longSleep, ModeWorld, TestWorld, waitFor, worldFor } from '@hotdash/testing';

const POOL = 3;

describe.each(DB_MODES)('on the %s databases', (mode) => {
  let modes: ModeWorld;
  let world: TestWorld;
  /** pg_terminate_backend of a connection's backend; embedded (one backend serves every connection): the server drops the connection. */
  const terminate = async (pid: number, processID?: number): Promise<void> => {
    if (mode === 'embedded') {
      expect(modes.embedded!.server.terminate(processID ?? { holderOf: world.config.db.controlDatabase })).toBe(true);
      return;
    }
    const admin = await world.connectSuperuser(world.config.db.controlDatabase);
    try {
      await admin.query('select pg_terminate_backend($1)', [pid]);
    } finally {
      await admin.end();
    }
  };
  /** A connection's own prepared statements (embedded: the one backend holds every connection's, each named hd<its pid>_<name>). */
  const ownStatements = (c: { processID?: number }, names: string[]): string[] =>
    mode === 'stack' ? names : names.filter((n) => n.startsWith(`hd${c.processID}_`)).map((n) => n.slice(`hd${c.processID}_`.length));

  beforeAll(async () => {
    modes = await worldFor(mode, { poolSize: POOL });
    world = modes.world;
  }, EMBEDDED_START_MS);
  // The spec's rows: sagas of a type no engine runs, deleted at the end (the application role cannot delete).
  const type = `control-tx-spec-${newId()}`;

  afterAll(async () => {
    const owner = await world.connect(world.dbs.controlLocation, 'owner');
    try {
      await owner.query('delete from sagas where type = $1', [type]);
    } finally {
      await owner.end();
    }
    await modes?.close();
  });

  const insertSaga = (tx: ControlTransaction, id: string) => tx.db.insertInto('sagas').values({ id, type, status: 'running', input: '{}' }).execute();
  const sagasOfSpec = async (): Promise<string[]> =>
    (await world.dbs.controlDb().selectFrom('sagas').select('id').where('type', '=', type).execute()).map((r) => r.id).sort();

  /** Every connection of the control pool, checked out at once: none is left inside a transaction (now() is the statement's own time). */
  async function pooledConnectionsClean(): Promise<boolean[]> {
    const pool = world.dbs.pool(world.dbs.controlLocation, 'app');
    const clients = await Promise.all(Array.from({ length: POOL }, () => pool.connect()));
    try {
      return await Promise.all(clients.map(async (c) => (await c.query<{ fresh: boolean }>('select now() = statement_timestamp() as fresh')).rows[0]!.fresh));
    } finally {
      clients.forEach((c) => c.release());
    }
  }

  it('runs Kysely in one transaction: its writes visible inside, committed together', async () => {
    const [x, y] = [newId(), newId()];
    const seen = await world.dbs.withControl(async (tx) => {
      await insertSaga(tx, x);
      await insertSaga(tx, y);
      // The same connection throughout: one transaction id for both statements.
      const { rows } = await sql<{ xid: string }>`select txid_current()::text as xid`.execute(tx.db);
      const again = await sql<{ xid: string }>`select txid_current()::text as xid`.execute(tx.db);
      expect(again.rows).toEqual(rows);
      return (await tx.db.selectFrom('sagas').select('id').where('type', '=', type).execute()).map((r) => r.id).sort();
    });
    expect(seen).toEqual([x, y].sort());
    expect(await sagasOfSpec()).toEqual(expect.arrayContaining([x, y]));
  });

  it('nests savepoints: an inner failure undoes only its own writes', async () => {
    const [outer, kept, undone, deep] = [newId(), newId(), newId(), newId()];
    await world.dbs.withControl(async (tx) => {
      await insertSaga(tx, outer);
      await tx.savepoint(async () => {
        await insertSaga(tx, kept);
        await expect(
          tx.savepoint(async () => {
            await insertSaga(tx, undone);
            await tx.savepoint(() => insertSaga(tx, deep));
            throw new Error('inner failure');
          }),
        ).rejects.toThrow('inner failure');
      });
    });
    const mine = (await sagasOfSpec()).filter((id) => [outer, kept, undone, deep].includes(id));
    expect(mine).toEqual([outer, kept].sort());
  });

  it('rolls back on an error, and on a timeout cuts the statement off, refuses what comes after and leaves the pool clean', async () => {
    const lost = newId();
    await expect(
      world.dbs.withControl(async (tx) => {
        await insertSaga(tx, lost);
        throw new Error('handler failed');
      }),
    ).rejects.toThrow('handler failed');

    const slow = newId();
    let late: unknown;
    const started = Date.now();
    await expect(
      world.dbs.withControl(
        async (tx) => {
          await insertSaga(tx, slow);
          await sql`select pg_sleep(${longSleep(mode)})`.execute(tx.db).catch(() => undefined);
          late = await tx.db.selectFrom('plans').select('code').execute().catch((e: unknown) => e);
        },
        { timeoutMs: 300 },
      ),
    ).rejects.toBeInstanceOf(ControlTransactionTimeoutError);
    // The sleep was cut off at the time limit, not waited for.
    expect(Date.now() - started).toBeLessThan(4_000);
    expect(late).toBeInstanceOf(ControlTransactionTimeoutError);

    expect((await sagasOfSpec()).filter((id) => id === lost || id === slow)).toEqual([]);
    expect(await pooledConnectionsClean()).toEqual(Array(POOL).fill(true));
  });

  it('survives a backend killed in mid-transaction: the work fails, nothing is written, the pool stays clean and serves', async () => {
    const id = newId();
    await expect(
      world.dbs.withControl(async (tx) => {
        await insertSaga(tx, id);
        const { rows } = await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(tx.db);
        await terminate(rows[0]!.pid);
        await tx.db.selectFrom('plans').select('code').execute();
      }),
    ).rejects.toThrow();
    expect(await sagasOfSpec()).not.toContain(id);
    expect(await pooledConnectionsClean()).toEqual(Array(POOL).fill(true));
    expect(await world.dbs.withControl(async (tx) => (await tx.db.selectFrom('plans').select('code').where('code', '=', 'basic').executeTakeFirst())?.code)).toBe('basic');
  });

  it('refuses a statement once withControl has returned', async () => {
    let kept: ControlTransaction | undefined;
    await world.dbs.withControl(async (tx) => {
      kept = tx;
    });
    await expect(kept!.db.selectFrom('plans').select('code').execute()).rejects.toBeInstanceOf(ControlTransactionClosedError);
    await expect(kept!.savepoint(async () => undefined)).rejects.toBeInstanceOf(ControlTransactionClosedError);
  });

  it("refuses Kysely's own transactions, which would spread one transaction over pooled connections", async () => {
    const id = newId();
    await expect(world.dbs.controlDb().transaction().execute((trx) => trx.insertInto('sagas').values({ id, type, status: 'running', input: '{}' }).execute())).rejects.toThrow(/withControl/);
    await expect(world.dbs.withControl((tx) => tx.db.transaction().execute(async () => undefined))).rejects.toThrow(/withControl/);
    expect(await sagasOfSpec()).not.toContain(id);
    expect(await pooledConnectionsClean()).toEqual(Array(POOL).fill(true));
  });

  it("runs the pool's statements as named prepared statements, concurrently", async () => {
    const marker = `prepared-${newId()}`;
    // More statements in flight than connections: each takes a pooled connection for itself.
    const answers = await Promise.all(Array.from({ length: POOL * 3 }, () => sql<{ m: string }>`select ${marker}::text as m, pg_sleep(0.05)`.execute(world.dbs.controlDb())));
    expect(answers.map((a) => a.rows[0]!.m)).toEqual(Array(POOL * 3).fill(marker));
    const pool = world.dbs.pool(world.dbs.controlLocation, 'app');
    const clients = await Promise.all(Array.from({ length: POOL }, () => pool.connect()));
    try {
      const prepared = await Promise.all(
        clients.map(async (c) => ownStatements(c as { processID?: number }, (await c.query<{ name: string }>(`select name from pg_prepared_statements where statement like '%as m, pg_sleep(0.05)'`)).rows.map((r) => r.name))),
      );
      // Each connection prepared it once (when it ran it), under one name.
      const names = new Set(prepared.flat());
      expect(names.size).toBe(1);
      expect([...names][0]).toMatch(/^hotdash_ctl_\d+$/);
      expect(prepared.every((p) => p.length <= 1)).toBe(true);
      expect(prepared.filter((p) => p.length === 1).length).toBeGreaterThan(1);
    } finally {
      clients.forEach((c) => c.release());
    }
  });

  it('runs as the application role unless another is asked for (ops tooling: the owner)', async () => {
    const who = (role?: 'owner') => world.dbs.withControl(async (tx) => (await sql<{ u: string }>`select current_user as u`.execute(tx.db)).rows[0]!.u, { role });
    expect(await who()).toBe(world.config.db.app.user);
    expect(await who('owner')).toBe(world.config.db.owner.user);
    // The application role may not delete tenants (a security-definer function discards one being set up); the owner may.
    await expect(world.dbs.withControl((tx) => tx.db.deleteFrom('tenants').where('id', '=', newId()).execute())).rejects.toThrow(/permission denied/);
    await expect(world.dbs.withControl((tx) => tx.db.deleteFrom('tenants').where('id', '=', newId()).execute(), { role: 'owner' })).resolves.toBeDefined();
  });

  it('does not crash the process when a checked-out connection dies between statements (the server shut down); the pool drops it', async () => {
    // A connection held by code that has no statement running on it (Kysely between acquiring and
    // querying, a driver adapter between statements): pg emits 'error' on it, which would be an
    // uncaught exception without the pool's listener (the spec would fail with it).
    const pool = world.dbs.pool(world.dbs.controlLocation, 'app');
    const client = await pool.connect();
    try {
      const { rows } = await client.query<{ pid: number }>('select pg_backend_pid() as pid');
      await terminate(rows[0]!.pid, (client as unknown as { processID: number }).processID);
      await waitFor('the connection to notice', async () => !(client as unknown as { _queryable: boolean })._queryable, 5_000, 20);
      await expect(client.query('select 1')).rejects.toThrow();
    } finally {
      client.release();
    }
    expect(await pooledConnectionsClean()).toEqual(Array(POOL).fill(true));
  });
});
