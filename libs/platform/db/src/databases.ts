import { createHash } from 'node:crypto';
import { Pool, PoolConfig } from 'pg';
import type { PlatformConfig, DbRoleCredentials } from '@hotdash/platform-config';
import { ControlPrisma, TenantPrisma, createControlPrisma, createTenantPrisma } from './clients';

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

const statementNames = new Map<string, string>();
/** A stable prepared-statement name per statement text. */
function statementName(text: string): string {
  let name = statementNames.get(text);
  if (!name) {
    name = `hotdash_${createHash('sha256').update(text).digest('hex').slice(0, 16)}`;
    statementNames.set(text, name);
  }
  return name;
}

/**
 * Owns every connection pool of a process: one per (role, database), created on first use. The only
 * place raw `pg` pools exist; everything else goes through Prisma clients or withTenant(), except
 * the control plane's hot-path function calls (controlQuery).
 */
export class Databases {
  private readonly pools = new Map<string, Pool>();
  private readonly tenantClients = new Map<string, TenantPrisma>();
  private readonly controlClients = new Map<DbRole, ControlPrisma>();

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
      this.pools.set(key, pool);
    }
    return pool;
  }

  /**
   * One parameterised statement on the control plane's pool as the application role, without
   * Prisma: for the hot-path calls of the control plane's SQL functions (the saga engine's
   * transitions), where Prisma's raw-query path costs ~3.4× the driver's CPU per call (124 vs 37 µs
   * on the 2-core machine, bench/control-call.bench.ts). A named statement, so each connection
   * parses and plans it once (the texts are a few constants). Rows come back as the driver parses
   * them (jsonb as objects, timestamptz as Date, int4 as number). Not for tenant data, which is
   * read and written through withTenant().
   */
  async controlQuery<T>(text: string, values: unknown[] = []): Promise<T[]> {
    return (await this.pool(this.controlLocation, 'app').query({ name: statementName(text), text, values })).rows as T[];
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

  async close(): Promise<void> {
    const clients = [...this.tenantClients.values(), ...this.controlClients.values()];
    this.tenantClients.clear();
    this.controlClients.clear();
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
