import { join } from 'node:path';
import { Client } from 'pg';
import type { DbRoleCredentials, PlatformConfig } from '@hotdash/platform-config';
import { CatalogViolation, checkTenantCatalog } from './catalog-guard';
import type { DbLocation, DbRole } from './databases';
import { PRISMA_DIR } from './migrate/migrate-all';
import { Migration, MigrationReport, migrateDatabase, readMigrations } from './migrate/runner';

export type { MigrationReport } from './migrate/runner';

/** Which schema a database carries: the control plane's or a tenant shard's. */
export type DatabasePlane = 'control' | 'tenant';

/** Why a database does not qualify as a shard, for the registry to turn into its problem codes. */
export interface ShardAccessFailure {
  check: 'unreachable' | 'role-bypasses-rls' | 'not-prepared';
  role: DbRole;
  message: string;
}

/** A database's migrations against the files of this build. */
export interface MigrationState {
  applied: number;
  /** The last applied migration by name (they apply in name order). */
  latest: string | null;
  /** Files not applied yet, in the order they would apply. */
  pending: string[];
  /** Applied migrations whose file has changed since: the runner refuses to go on. */
  changed: string[];
}

/** The platform's roles on a shard's server: the owner migrates, services connect as app, relays as relay. */
const ROLES: readonly DbRole[] = ['owner', 'app', 'relay'];

/**
 * Looks at a database that is (or is to be) a shard, with the platform's own roles from the
 * configuration: can each role connect, can the service roles bypass row-level security, is the
 * database prepared for them, which migrations are applied, does the catalogue keep tenants apart,
 * how large is it. For ops: every call opens its own short-lived connections (a bounded connect
 * time, so an unreachable server answers in seconds) and closes them.
 */
export class ShardInspector {
  private readonly migrations = new Map<DatabasePlane, Migration[]>();

  constructor(
    private readonly config: PlatformConfig,
    private readonly connectTimeoutMs = 5_000,
  ) {}

  private credentials(role: DbRole): DbRoleCredentials {
    return this.config.db[role];
  }

  /** The migration files of this build for a plane (read once). */
  migrationFiles(plane: DatabasePlane): Migration[] {
    let files = this.migrations.get(plane);
    if (!files) {
      files = readMigrations(join(PRISMA_DIR, plane, 'migrations'));
      this.migrations.set(plane, files);
    }
    return files;
  }

  /** Runs `fn` on a new connection to `location` as `role`, closed afterwards. */
  async as<T>(location: DbLocation, role: DbRole, fn: (client: Client) => Promise<T>): Promise<T> {
    const creds = this.credentials(role);
    const client = new Client({
      ...location,
      user: creds.user,
      password: creds.password,
      connectionTimeoutMillis: this.connectTimeoutMs,
      application_name: 'hotdash-ops',
    });
    client.on('error', () => undefined);
    try {
      await client.connect();
    } catch (err) {
      await client.end().catch(() => undefined);
      throw new ShardUnreachableError(role, err);
    }
    try {
      return await fn(client);
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  /** Resolves when the owner role can connect; throws ShardUnreachableError otherwise (within the connect timeout). */
  async reachable(location: DbLocation): Promise<void> {
    await this.as(location, 'owner', async (c) => void (await c.query('select 1')));
  }

  /**
   * Whether the database can be a shard for this platform, in order: every role connects; neither
   * the application role nor the relay role is a superuser, has BYPASSRLS or can become a role
   * that has (row-level security must always apply to them); both may use schema `public` and
   * may create nothing (no table of theirs could escape the catalogue guard). The first failure,
   * or undefined when all hold. Reads only.
   */
  async checkAccess(location: DbLocation): Promise<ShardAccessFailure | undefined> {
    // One connection per role; what each role may do is read on its own connection (as itself).
    const found: Partial<Record<DbRole, RoleFacts>> = {};
    for (const role of ROLES) {
      try {
        found[role] = await this.as(location, role, (c) => (role === 'owner' ? c.query('select 1').then(() => undefined) : roleFacts(c)));
      } catch (err) {
        return { check: 'unreachable', role, message: err instanceof ShardUnreachableError ? err.reason : describe(err) };
      }
    }
    for (const role of ['app', 'relay'] as const) {
      const bypass = found[role]!.bypass;
      if (bypass.length) {
        const user = this.credentials(role).user;
        const what = bypass.map((x) => `${x.rolname === user ? user : `member of ${x.rolname}, which`} ${x.rolsuper ? 'is a superuser' : 'has BYPASSRLS'}`).join('; ');
        return { check: 'role-bypasses-rls', role, message: `the ${role === 'app' ? 'application' : 'relay'} role ${user} can bypass row-level security: ${what}` };
      }
    }
    for (const role of ['app', 'relay'] as const) {
      const p = found[role]!.privileges;
      const user = this.credentials(role).user;
      if (!p.usage) return { check: 'not-prepared', role, message: `${user} may not use schema public: grant usage on schema public to ${user}` };
      if (p.create_in_public) return { check: 'not-prepared', role, message: `${user} may create objects in schema public: revoke create on schema public from ${user} and from public` };
      if (p.create_schema) return { check: 'not-prepared', role, message: `${user} may create schemas in ${location.database}: revoke create on database ${location.database} from ${user} and from public` };
    }
    return undefined;
  }

  /**
   * Applies the pending migrations of `plane` as the owner (the project's runner: advisory lock, a
   * transaction per migration, checksums); `onApplying` hears each migration's name before it is applied.
   */
  migrate(location: DbLocation, plane: DatabasePlane, onApplying?: (migration: string) => void): Promise<MigrationReport> {
    return migrateDatabase(location, this.credentials('owner'), this.migrationFiles(plane), onApplying && ((_msg, migration) => onApplying(migration)));
  }

  /** What is applied and what is pending, as the owner; reads only (no table is created). */
  migrationState(location: DbLocation, plane: DatabasePlane): Promise<MigrationState> {
    return this.as(location, 'owner', (c) => this.stateOn(c, plane));
  }

  /**
   * The names of the migrations applied to a database, in the order they applied (its schema
   * version as a set: a database is at least as new as another when it has applied every one of
   * the other's).
   */
  appliedMigrations(location: DbLocation): Promise<string[]> {
    return this.as(location, 'owner', async (c) => {
      const exists = await c.query<{ t: string | null }>(`select to_regclass('public.hotdash_migrations')::text as t`);
      if (!exists.rows[0]?.t) return [];
      return (await c.query<{ name: string }>('select name from hotdash_migrations order by name')).rows.map((r) => r.name);
    });
  }

  /** A tenant shard's size and migrations on one owner connection (the shard list). */
  inspect(location: DbLocation): Promise<{ sizeBytes: number; migrations: MigrationState }> {
    return this.as(location, 'owner', async (c) => {
      const size = await c.query<{ n: string }>('select pg_database_size(current_database())::text as n');
      return { sizeBytes: Number(size.rows[0]!.n), migrations: await this.stateOn(c, 'tenant') };
    });
  }

  private async stateOn(c: Client, plane: DatabasePlane): Promise<MigrationState> {
    const exists = await c.query<{ t: string | null }>(`select to_regclass('public.hotdash_migrations')::text as t`);
    const rows = exists.rows[0]?.t ? (await c.query<{ name: string; checksum: string }>('select name, checksum from hotdash_migrations order by name')).rows : [];
    const done = new Map(rows.map((r) => [r.name, r.checksum]));
    const files = this.migrationFiles(plane);
    return {
      applied: rows.length,
      latest: rows.at(-1)?.name ?? null,
      pending: files.filter((m) => !done.has(m.name)).map((m) => m.name),
      changed: files.filter((m) => done.has(m.name) && done.get(m.name) !== m.checksum).map((m) => m.name),
    };
  }

  /** The catalogue guard (checkTenantCatalog) on a tenant shard, as the owner, for the configured application role. */
  catalogue(location: DbLocation): Promise<CatalogViolation[]> {
    return this.as(location, 'owner', (c) => checkTenantCatalog(c, this.credentials('app').user));
  }
}

interface RoleFacts {
  /** Roles with SUPERUSER or BYPASSRLS that the connected role is or can become (SET ROLE). */
  bypass: { rolname: string; rolsuper: boolean; rolbypassrls: boolean }[];
  privileges: { usage: boolean; create_in_public: boolean; create_schema: boolean };
}

/** What the connected role is and may do in its database. */
async function roleFacts(c: Client): Promise<RoleFacts> {
  const bypass = await c.query<RoleFacts['bypass'][number]>(
    `select r.rolname, r.rolsuper, r.rolbypassrls from pg_roles r
     where (r.rolsuper or r.rolbypassrls) and pg_has_role(current_user, r.oid, 'MEMBER') order by r.rolname`,
  );
  const privileges = await c.query<RoleFacts['privileges']>(
    `select has_schema_privilege('public', 'USAGE') as usage, has_schema_privilege('public', 'CREATE') as create_in_public,
            has_database_privilege(current_database(), 'CREATE') as create_schema`,
  );
  return { bypass: bypass.rows, privileges: privileges.rows[0]! };
}

/** A role could not connect to a shard's database (server down, wrong password, no such database). */
export class ShardUnreachableError extends Error {
  /** What the driver said (connection refused, authentication failed, no such database, timeout). */
  readonly reason: string;
  /** The server's SQLSTATE when it answered and refused (28P01 wrong password, 28000 not admitted, 3D000 no such database); undefined when it did not answer. */
  readonly sqlState: string | undefined;

  constructor(
    readonly role: DbRole,
    err: unknown,
  ) {
    const reason = describe(err);
    super(`cannot connect as the ${role} role: ${reason}`);
    this.reason = reason;
    // The driver's DatabaseError (the server's answer) carries a severity; socket errors carry errno codes instead.
    const e = err as { code?: unknown; severity?: unknown } | null;
    this.sqlState = typeof e?.severity === 'string' && typeof e.code === 'string' ? e.code : undefined;
    this.name = 'ShardUnreachableError';
  }
}

/** An error's message; a connection refused on every address of a host name is an AggregateError without one. */
function describe(err: unknown): string {
  const e = err as { message?: string; code?: string; errors?: { message?: string }[] };
  return e?.message || e?.errors?.map((x) => x.message).join('; ') || e?.code || String(err);
}
