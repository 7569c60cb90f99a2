import type { Kysely } from 'kysely';
import { Pool, PoolConfig, type QueryConfig } from 'pg';
import type { PlatformConfig, DbRoleCredentials } from '@hotdash/platform-config';
import { ControlPrisma, TenantPrisma, createControlPrisma, createTenantPrisma } from './clients';
import { ControlTransaction, controlKysely, runControlTransaction, WithControlOptions } from './control-transaction';
import type { ControlDB } from './generated/kysely/control';

/** Which database role a connection uses. Services use `app`; the outbox relay `relay`; migrations `owner`. */
export type DbRole = 'app' | 'relay' | 'owner';

export interface DbLocation {
  host: string;
  port: number;
  database: string;
}

export interface ShardInfo extends DbLocation {
  id: string;
  name: string;
  kind: 'shared' | 'dedicated';
  status: 'active' | 'draining' | 'retired';
}

/**
 * Owns every connection pool of a process: one per (role, database), created on first use. The only
 * place raw `pg` pools exist; everything else goes through withTenant() (tenant data), the control
 * plane's Kysely (`controlDb()`, `withControl()`: the saga engine, the tenant directory, keys,
 * operators) or, on cold control-plane paths, Prisma Client (`control()`).
 */
export class Databases {
  private readonly pools = new Map<string, Pool>();
  private readonly tenantClients = new Map<string, TenantPrisma>();
  private readonly controlClients = new Map<DbRole, ControlPrisma>();
  private readonly controlKyselys = new Map<DbRole, Kysely<ControlDB>>();
  private readonly closing: (() => Promise<void>)[] = [];
  private closed = false;

  constructor(
    readonly config: PlatformConfig,
    private readonly poolOptions: Partial<PoolConfig> = {},
  ) {}

  get controlLocation(): DbLocation {
    return { host: this.config.db.controlHost, port: this.config.db.controlPort, database: this.config.db.controlDatabase };
  }

  credentials(role: DbRole): DbRoleCredentials {
    return this.config.db[role];
  }

  /** @internal raw pool; used inside libs/platform/db only. */
  pool(location: DbLocation, role: DbRole): Pool {
    const key = `${role}@${location.host}:${location.port}/${location.database}`;
    let pool = this.pools.get(key);
    if (!pool) {
      const creds = this.credentials(role);
      pool = new Pool({
        host: location.host,
        port: location.port,
        database: location.database,
        user: creds.user,
        password: creds.password,
        max: this.config.db.poolSize,
        idleTimeoutMillis: 30_000,
        connectionTimeoutMillis: 10_000,
        application_name: `hotdash-${role}`,
        ...this.poolOptions,
      });
      // An idle client's error (e.g. the server restarted) must not crash the process; the pool drops it.
      pool.on('error', () => undefined);
      // Nor a checked-out client's, when it dies with no statement running on it (code between
      // statements, Kysely between acquiring and querying): pg would emit 'error' with no listener.
      // Its next statement fails, and the pool drops it when it is released (it is not queryable).
      pool.on('connect', (client) => client.on('error', () => undefined));
      this.pools.set(key, pool);
    }
    return pool;
  }

  /**
   * The control plane as typed SQL (Kysely, table types generated from prisma/control/schema.prisma)
   * on the driver pool, without Prisma's query engine: each statement runs on its own (autocommit).
   * For the hot paths (saga transitions, the tenant directory, data keys, operators' checks), where
   * Prisma's raw-query path costs ~4× the driver's Node CPU per call (bench/control-call.bench.ts).
   * Hand-written SQL only as Kysely `sql` templates (`sql\`select f(${x})\`.execute(db)`).
   * Transactions: withControl().
   */
  controlDb(role: DbRole = 'app'): Kysely<ControlDB> {
    let db = this.controlKyselys.get(role);
    if (!db) {
      db = controlKysely(this.pool(this.controlLocation, role));
      this.controlKyselys.set(role, db);
    }
    return db;
  }

  /**
   * Runs `fn` in a control-plane transaction on the driver (`tx.db` is Kysely on its connection):
   * an error rolls back, a time limit (default 10 s) or a broken connection destroys the connection
   * instead of returning it to the pool, and statements after the end are refused. Nested work
   * uses `tx.savepoint(fn)`.
   */
  withControl<T>(fn: (tx: ControlTransaction) => Promise<T>, options: WithControlOptions & { role?: DbRole } = {}): Promise<T> {
    return runControlTransaction(this.pool(this.controlLocation, options.role ?? 'app'), fn, options);
  }

  control(role: DbRole = 'app'): ControlPrisma {
    let client = this.controlClients.get(role);
    if (!client) {
      client = createControlPrisma(this.pool(this.controlLocation, role));
      this.controlClients.set(role, client);
    }
    return client;
  }

  shard(location: DbLocation, role: DbRole = 'app'): TenantPrisma {
    const key = `${role}@${location.host}:${location.port}/${location.database}`;
    let client = this.tenantClients.get(key);
    if (!client) {
      client = createTenantPrisma(this.pool(location, role));
      this.tenantClients.set(key, client);
    }
    return client;
  }

  /**
   * Readiness (the `postgres` probe of a service): `select 1` on every pool this process has open
   * (the control database's and each shard's it has used, per role), and on the control database as
   * `app` when no pool of it is open yet, all at once. Each query has `timeoutMs` (its connection is
   * dropped when it takes longer). A shard whose database no longer exists (dropped after it was
   * retired) is listed as `gone`, not as a failure. Resolves with the number of pools that answered;
   * rejects naming each pool that did not, with its error.
   */
  async ping(timeoutMs = 1_500): Promise<{ pools: number; gone?: string[] }> {
    const control = this.controlLocation;
    const controlKey = `${control.host}:${control.port}/${control.database}`;
    if (![...this.pools.keys()].some((key) => key.endsWith(`@${controlKey}`))) this.pool(control, 'app');
    const pools = [...this.pools.entries()];
    const query = { text: 'select 1', query_timeout: timeoutMs } as QueryConfig;
    const results = await Promise.allSettled(pools.map(([, pool]) => pool.query(query)));
    const failed: string[] = [];
    const gone: string[] = [];
    results.forEach((r, i) => {
      if (r.status === 'fulfilled') return;
      const key = pools[i]![0];
      const err = r.reason as Error & { code?: string };
      // 3D000: invalid_catalog_name (the database does not exist).
      if (err.code === '3D000' && !key.endsWith(`@${controlKey}`)) gone.push(key);
      // A host name with several addresses fails with an AggregateError of each refusal (no message of its own).
      else failed.push(`${key}: ${err.message || (err instanceof AggregateError ? err.errors.map((e: Error) => e.message).join(', ') : '') || String(err)}`);
    });
    if (failed.length) throw new Error(failed.join('; '));
    return { pools: pools.length - gone.length, ...(gone.length ? { gone } : {}) };
  }

  /** Runs `fn` when close() is called, before the pools end (a listener made by a part of the platform on these Databases). */
  onClose(fn: () => Promise<void>): void {
    // Made after close() (a lookup racing the shutdown): closed at once rather than left running.
    if (this.closed) void fn().catch(() => undefined);
    else this.closing.push(fn);
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.allSettled(this.closing.splice(0).map((fn) => fn()));
    const clients = [...this.tenantClients.values(), ...this.controlClients.values()];
    this.tenantClients.clear();
    this.controlClients.clear();
    this.controlKyselys.clear();
    await Promise.allSettled(clients.map((c) => c.$disconnect()));
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.allSettled(pools.map((p) => p.end()));
  }
}

/**
 * One connection to the control database as the owner role, for ops tooling that changes what
 * services may only read (platform operators' accounts); closed when `fn` ends.
 */
export async function withControlOwner<T>(config: PlatformConfig, fn: (db: { query(sql: string, params?: unknown[]): Promise<{ rows: Record<string, unknown>[]; rowCount: number | null }> }) => Promise<T>): Promise<T> {
  const { Client } = await import('pg');
  const client = new Client({ host: config.db.controlHost, port: config.db.controlPort, database: config.db.controlDatabase, user: config.db.owner.user, password: config.db.owner.password });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}
