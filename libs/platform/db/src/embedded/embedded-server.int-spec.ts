// Probes of what the data layer relies on from a PostgreSQL server, asked of PGlite (one backend
// session) behind the embedded wire server, and, when PGLITE_SOCKET_MODULE names
// @electric-sql/pglite-socket's dist/index.cjs (0.2.x; not a dependency of the project: it pins
// another PGlite), behind pglite-socket's multiplexer too, whose answers decided the design
// (docs/architecture.md, "Embedded mode: the database"): the role a connection runs as, one
// connection's transaction kept from another's statements, two connections' extended-protocol
// groups never interleaved, session settings and pg's named statements kept per connection,
// NOTIFY reaching the connection that listens, a connection's transaction rolled back when it goes.
import { Client, type PoolClient } from 'pg';
import { EMBEDDED_START_MS, embeddedDatabasesForSpec, waitFor } from '@hotdash/testing';
import { loadConfig } from '@hotdash/platform-config';
import { BEGIN_STATEMENT, pipelined } from '../driver-transaction';
import { newId } from '../ids';

type Role = 'owner' | 'app';
interface Target {
  connect(role: Role): Promise<Client>;
  close(): Promise<void>;
}

/** What each server does, as probed. */
const EXPECTED = {
  embedded: { user: 'hotdash_app', exempt: false, unscopedRows: 0, interleaved: false, settingLeaks: false, statementClash: false, notifyHeard: true },
  // interleaved: pglite-socket queues each message on its own; another connection's message can come
  // between two of a group's (seen with withTenant's pipelined opening: `portal "" does not exist`).
  'pglite-socket': { user: 'postgres', exempt: true, unscopedRows: 1, interleaved: true, settingLeaks: true, statementClash: true, notifyHeard: false },
};

const config = loadConfig();
const DATABASE = 'hotdash_shard_1';

async function embeddedTarget(): Promise<Target> {
  const spec = await embeddedDatabasesForSpec();
  const location = spec.embedded.shards[0]!.location;
  return {
    async connect(role) {
      const c = new Client({ ...location, user: config.db[role].user, password: config.db[role].password });
      await c.connect();
      return c;
    },
    close: () => spec.close(),
  };
}

async function pgliteSocketTarget(module: string): Promise<Target> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { PGLiteSocketServer } = require(module) as { PGLiteSocketServer: new (o: { db: unknown; port: number; maxConnections: number }) => { start(): Promise<void>; stop(): Promise<void>; getServerConn(): string } };
  const spec = await embeddedDatabasesForSpec();
  await spec.embedded.stop();
  const { PGlite: PGliteClass } = await import('@electric-sql/pglite');
  const db = await PGliteClass.create({ dataDir: `${spec.dir}/${DATABASE}`, database: DATABASE });
  const server = new PGLiteSocketServer({ db, port: 0, maxConnections: 20 });
  await server.start();
  const port = Number(server.getServerConn().split(':')[1]);
  return {
    async connect(role) {
      const c = new Client({ host: '127.0.0.1', port, database: DATABASE, user: config.db[role].user, password: config.db[role].password });
      await c.connect();
      return c;
    },
    async close() {
      await server.stop();
      await db.close();
      await spec.close();
    },
  };
}

const targets: (keyof typeof EXPECTED)[] = ['embedded', ...(process.env.PGLITE_SOCKET_MODULE ? (['pglite-socket'] as const) : [])];

describe.each(targets)('behind %s', (name) => {
  const expected = EXPECTED[name];
  let target: Target;
  const clients: Client[] = [];
  const tenant = newId();
  const consumer = `probe-${newId()}`;
  const open = async (role: Role = 'app') => {
    const c = await target.connect(role);
    c.on('error', () => undefined);
    clients.push(c);
    return c;
  };
  /** A transaction in the tenant's context (as the data layer opens one), running `fn`. */
  const inTenant = async <T>(c: Client, fn: () => Promise<T>): Promise<T> => {
    await c.query('begin');
    try {
      await c.query(`select set_config('app.tenant_id', $1, true)`, [tenant]);
      const r = await fn();
      await c.query('commit');
      return r;
    } catch (err) {
      await c.query('rollback').catch(() => undefined);
      throw err;
    }
  };
  const rowsOf = async (c: Client) => (await c.query<{ n: number }>('select count(*)::int as n from inbox where consumer = $1', [consumer])).rows[0]!.n;

  beforeAll(async () => {
    target = name === 'embedded' ? await embeddedTarget() : await pgliteSocketTarget(process.env.PGLITE_SOCKET_MODULE!);
    const owner = await open('owner');
    await inTenant(owner, () => owner.query('insert into inbox (tenant_id, consumer, event_id) values ($1, $2, $3)', [tenant, consumer, newId()]));
  }, EMBEDDED_START_MS);
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
    await target?.close();
  });

  it('runs a connection as the role it authenticated as: the application role, under row-level security', async () => {
    const app = await open();
    const { rows } = await app.query<{ user: string; exempt: boolean }>(`select current_user as user, (select rolsuper or rolbypassrls from pg_roles where rolname = current_user) as exempt`);
    expect(rows[0]).toEqual({ user: expected.user, exempt: expected.exempt });
    // No tenant context: the forced policy shows nothing (unless the role is exempt from it).
    expect(await rowsOf(app)).toBe(expected.unscopedRows);
    expect(await inTenant(app, () => rowsOf(app))).toBe(1);
  });

  it("keeps one connection's open transaction from another connection's statements", async () => {
    const [a, b] = [await open(), await open()];
    await a.query('begin');
    await a.query(`select set_config('app.tenant_id', $1, true)`, [tenant]);
    await a.query('insert into inbox (tenant_id, consumer, event_id) values ($1, $2, $3)', [tenant, consumer, newId()]);
    const seenByB = inTenant(b, () => rowsOf(b)); // waits for the backend while A's transaction is open
    await a.query('rollback');
    expect(await seenByB).toBe(1);
  });

  it("never interleaves two connections' extended-protocol groups", async () => {
    const conns = await Promise.all([open(), open(), open(), open()]);
    let wrong = 0;
    await Promise.all(
      conns.map(async (c, i) => {
        for (let n = 0; n < 50; n++) {
          const value = `${i}-${n}`;
          // An autocommit statement, then a transaction opened as withTenant opens one: `begin`, the
          // tenant setting and the first statement in one write (pipelined).
          const r = await c.query(`select $1::text as v${i}`, [value]).catch(() => undefined);
          if (r?.rows[0]?.[`v${i}`] !== value) wrong++;
          const p = await pipelined(c as unknown as PoolClient, [BEGIN_STATEMENT, { text: `select set_config('app.tenant_id', $1, true)`, values: [tenant] }, { text: `select $1::text as w${i}`, values: [value] }]).catch(() => undefined);
          if (p?.rows[0]?.[`w${i}`] !== value) wrong++;
          await c.query('rollback').catch(() => undefined);
        }
      }),
    );
    if (expected.interleaved) expect(wrong).toBeGreaterThan(0);
    else expect(wrong).toBe(0);
  });

  it("keeps a session setting made on one connection from another connection", async () => {
    const [a, b] = [await open(), await open()];
    await a.query(`select set_config('app.tenant_id', $1, false)`, [tenant]);
    const seen = (await b.query<{ s: string | null }>(`select current_setting('app.tenant_id', true) as s`)).rows[0]!.s ?? '';
    expect(seen === tenant).toBe(expected.settingLeaks);
    // Nor does the other connection see the tenant's rows through it.
    expect(await rowsOf(b)).toBe(expected.settingLeaks ? 1 : expected.unscopedRows);
    await a.query(`select set_config('app.tenant_id', '', false)`);
  });

  it("keeps pg's named prepared statements per connection", async () => {
    const [a, b] = [await open(), await open()];
    const stmt = `probe_${newId().slice(-8)}`;
    expect((await a.query({ name: stmt, text: 'select 1 as a' })).rows).toEqual([{ a: 1 }]);
    const other = await b.query({ name: stmt, text: 'select 2 as b' }).then(
      (r) => r.rows,
      (e: { code?: string }) => e.code,
    );
    expect(other).toEqual(expected.statementClash ? '42P05' : [{ b: 2 }]);
    expect((await a.query({ name: stmt, text: 'select 1 as a' })).rows).toEqual([{ a: 1 }]);
  });

  it('delivers a NOTIFY to the connections that LISTEN, whoever sent it', async () => {
    const [listener, quitter, sender] = [await open(), await open(), await open()];
    const channel = `probe_${newId().slice(-8).replace(/-/g, '')}`;
    const heard: string[] = [];
    const senderHeard: string[] = [];
    listener.on('notification', (n) => heard.push(n.payload ?? ''));
    sender.on('notification', (n) => senderHeard.push(n.payload ?? ''));
    await listener.query(`listen ${channel}`);
    if (expected.notifyHeard) {
      // Another connection listening and then unlistening must not silence the first.
      await quitter.query(`listen ${channel}`);
      await quitter.query(`unlisten ${channel}`);
    }
    await sender.query('select pg_notify($1, $2)', [channel, 'hello']);
    if (expected.notifyHeard) await waitFor('the listener to hear the notification', async () => heard.length > 0, 5_000, 20);
    else {
      await listener.query('select 1'); // a round trip: a notification for it would have arrived by its answer
      expect(senderHeard).toEqual(['hello']); // it went to the connection that happened to run
    }
    expect(heard).toEqual(expected.notifyHeard ? ['hello'] : []);
  });

  it('rolls back the transaction of a connection that goes away', async () => {
    const [a, b] = [await open(), await open()];
    await a.query('begin');
    await a.query(`select set_config('app.tenant_id', $1, true)`, [tenant]);
    await a.query('insert into inbox (tenant_id, consumer, event_id) values ($1, $2, $3)', [tenant, consumer, newId()]);
    (a as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy();
    expect(await inTenant(b, () => rowsOf(b))).toBe(1);
  });
});
