import { join } from 'node:path';
import { Client } from 'pg';
import { PRISMA_DIR } from '@hotdash/platform-db/src/migrate/migrate-all';
import { migrateDatabase, readMigrations } from '@hotdash/platform-db/src/migrate/runner';
import { parseTenantId, TenantId } from '@hotdash/contracts';
import { loadConfig, PlatformConfig } from '@hotdash/platform-config';
import { LocalKms, TenantKeyring } from '@hotdash/platform-crypto';
import { Databases, DbLocation, newId, ShardInfo, ShardRouter, TenantDatabase, ControlDatabase, toShardInfo } from '@hotdash/platform-db';

export interface WorldTenant {
  id: TenantId;
  name: string;
  shard: ShardInfo;
}

/**
 * Handles on the real local services for specs, plus helpers to create tenants straight in the
 * control plane. Every spec builds (at least) two tenants, A and B, and asks as B for A's data.
 */
export class TestWorld {
  readonly config: PlatformConfig;
  readonly dbs: Databases;
  readonly router: ShardRouter;
  readonly tenantDb: TenantDatabase;
  readonly control: ControlDatabase;

  /** `config`: another platform's databases (the embedded ones: libs/testing/src/embedded-world.ts); default the environment's. */
  constructor(overrides: { poolSize?: number; config?: PlatformConfig } = {}) {
    const base = overrides.config ?? loadConfig();
    this.config = { ...base, db: { ...base.db, poolSize: overrides.poolSize ?? base.db.poolSize } };
    this.dbs = new Databases(this.config);
    this.router = new ShardRouter(this.dbs);
    this.tenantDb = new TenantDatabase(this.dbs, this.router);
    this.control = new ControlDatabase(this.dbs);
  }

  /**
   * Every registered shard: the active shared ones first (what specs place their tenants on: a
   * dedicated, draining or retired shard another spec registered must never take them), then the
   * rest; by name within each.
   */
  async shards(): Promise<ShardInfo[]> {
    const all = (await this.dbs.control().shard.findMany({ orderBy: { name: 'asc' } })).map(toShardInfo);
    const placeable = (s: ShardInfo) => s.kind === 'shared' && s.status === 'active';
    return [...all.filter(placeable), ...all.filter((s) => !placeable(s))];
  }

  /** Creates a tenant and its placement directly (no event), on the given shard or the first. */
  async createTenant(name = `tenant ${newId().slice(-6)}`, shard?: ShardInfo, tenantId = newId()): Promise<WorldTenant> {
    const target = shard ?? (await this.shards())[0]!;
    const id = parseTenantId(tenantId);
    // In the shard's region (the control plane refuses a placement outside the tenant's region).
    const region = (await this.dbs.controlDb().selectFrom('shards').select('region').where('id', '=', target.id).executeTakeFirst())?.region;
    await this.dbs.control().tenant.create({
      data: { id, name, slug: `t-${id.replace(/-/g, '')}`, planCode: 'basic', status: 'active', ...(region ? { region } : {}), placement: { create: { shardId: target.id } } },
    });
    return { id, name, shard: target };
  }

  /** A data key for a fixture tenant, as provisioning makes one (under the KMS of the environment): for what the tenant stores encrypted. */
  async createKey(tenantId: TenantId): Promise<void> {
    const keyring = new TenantKeyring(this.dbs, LocalKms.fromEnv());
    await this.dbs.withControl((tx) => keyring.createKey(tx, tenantId));
  }

  /** Tenants A and B on the same shard (the hardest case for isolation), C on the other shard. */
  async twoTenantWorld(): Promise<{ a: WorldTenant; b: WorldTenant; c: WorldTenant }> {
    const [s1, s2] = await this.shards();
    return { a: await this.createTenant('Tenant A', s1), b: await this.createTenant('Tenant B', s1), c: await this.createTenant('Tenant C', s2 ?? s1) };
  }

  /** A raw connection as a given role to a database: only for specs that test the database itself. */
  async connect(location: DbLocation, role: 'app' | 'owner' | 'relay'): Promise<Client> {
    const creds = this.config.db[role];
    const c = new Client({ ...location, user: creds.user, password: creds.password });
    await c.connect();
    return c;
  }

  /** A superuser connection over the local unix socket (deploy/local's cluster only). */
  async connectSuperuser(database: string): Promise<Client> {
    const socketDir = process.env.HOTDASH_PG_SOCKET_DIR ?? `${__dirname}/../../../.local/pg/run`;
    const c = new Client({ host: socketDir, port: this.config.db.controlPort, database, user: 'postgres' });
    await c.connect();
    return c;
  }

  /** A shard descriptor for a scratch database on the local cluster (not registered; draining by default, so nothing is placed on it). */
  scratchShardInfo(database: string, status: ShardInfo['status'] = 'draining'): ShardInfo {
    return { id: newId(), name: `scratch-${database.slice(-12)}`, host: this.config.db.controlHost, port: this.config.db.controlPort, database, kind: 'shared', status };
  }

  /**
   * A scratch database on the local cluster, prepared and migrated as `npm run db:migrate` prepares
   * a shard (not registered in the control plane). Drop it with dropScratchDatabase().
   */
  async createScratchShardDatabase(name: string): Promise<DbLocation> {
    const location = { host: this.config.db.controlHost, port: this.config.db.controlPort, database: name };
    const su = await this.connectSuperuser('postgres');
    try {
      await su.query(`create database ${name} owner ${this.config.db.owner.user}`);
    } finally {
      await su.end();
    }
    const db = await this.connectSuperuser(name);
    try {
      await db.query(`revoke all on schema public from public; alter schema public owner to ${this.config.db.owner.user}; grant usage on schema public to ${this.config.db.app.user}, ${this.config.db.relay.user}`);
    } finally {
      await db.end();
    }
    const report = await migrateDatabase(location, this.config.db.owner, readMigrations(join(PRISMA_DIR, 'tenant', 'migrations')));
    if (report.error) throw new Error(`migrating the scratch database ${name} failed: ${report.error}`);
    return location;
  }

  async dropScratchDatabase(name: string): Promise<void> {
    const su = await this.connectSuperuser('postgres');
    try {
      await su.query(`drop database if exists ${name} with (force)`);
    } finally {
      await su.end();
    }
  }

  async close(): Promise<void> {
    await this.dbs.close();
  }
}
