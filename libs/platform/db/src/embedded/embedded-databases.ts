import { cpSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { PGlite as PGliteType } from '@electric-sql/pglite';
import { type PlatformConfig, readSetting, takePidLock } from '@hotdash/platform-config';
import type { DbLocation } from '../databases';
import { formatReport, migrateAll, type MigrateAllReport } from '../migrate/migrate-all';
import { EmbeddedMaintenance } from './embedded-maintenance';
import { EmbeddedPgServer } from './embedded-server';

/** deploy/local, whose role and database SQL the embedded databases share with the local stack (this file is libs/platform/db/src/embedded/). */
const DEPLOY_LOCAL = join(__dirname, '..', '..', '..', '..', '..', 'deploy', 'local');

export interface EmbeddedDatabasesOptions {
  /** Where the databases live: one PGlite data directory per database under it (created when missing). */
  dir: string;
  /** The platform configuration whose roles, passwords and database names the embedded databases take (its host, port and shards are replaced). */
  config: PlatformConfig;
  /** The shards to run (each its own PGlite), by name; default `shard-1`. */
  shards?: string[];
  host?: string;
  /** The server's TCP port; 0 (default) takes a free one. */
  port?: number;
  /** How long a connection waits for the database while another connection's transaction holds it (EmbeddedServerOptions.waitTimeoutMs). */
  waitTimeoutMs?: number;
  /** How often every database gets VACUUM (ANALYZE) (embedded-maintenance.ts; PGlite has no autovacuum); default 60 s, 0: never. */
  maintenanceEveryMs?: number;
  log?: (msg: string) => void;
}

export interface EmbeddedDatabases {
  host: string;
  port: number;
  control: DbLocation;
  shards: { name: string; location: DbLocation }[];
  /** `config` pointed at the embedded databases: what Databases, TenantDatabase and the services take. */
  config: PlatformConfig;
  /** Connection strings per role (`postgres://user:password@host:port/database`), for tools. */
  urls: { control: Record<'owner' | 'app' | 'relay', string>; shards: Record<string, Record<'owner' | 'app' | 'relay', string>> };
  /** The migration report of this start (control and every shard). */
  migrations: MigrateAllReport;
  /** @internal the wire server (specs). */
  server: EmbeddedPgServer;
  /** VACUUM (ANALYZE) of every database now and then (PGlite runs no autovacuum). */
  maintenance: EmbeddedMaintenance;
  /** Closes every connection (rolling back open transactions), then every database. */
  stop(): Promise<void>;
}

/** `:'name'` (a literal) and `:"name"` (an identifier) as psql substitutes them. */
export function substituteVariables(sqlText: string, vars: Record<string, string>): string {
  return sqlText.replace(/:(['"])([a-z_]+)\1/g, (whole, quote: string, name: string) => {
    const value = vars[name];
    if (value === undefined) throw new Error(`no value for the SQL variable ${name}`);
    return quote === "'" ? `'${value.replace(/'/g, "''")}'` : `"${value.replace(/"/g, '""')}"`;
  });
}

// PGlite is an ES module with a CommonJS build; loaded on first use only (the stack never loads it).
async function pgliteClass(): Promise<typeof PGliteType> {
  // The same declarations as the CommonJS types this file sees (the import's are the ES module's).
  return (await import('@electric-sql/pglite')).PGlite as unknown as typeof PGliteType;
}

/**
 * Opens one database: a fresh data directory is initialised (PGlite's initdb) and the database is
 * created under its own name, so `current_database()` and grants read as on the stack; then the
 * roles (deploy/local/pg-roles.sql) and the database's grants (deploy/local/pg-database.sql), both
 * idempotent, on every start.
 */
async function openDatabase(dir: string, database: string, config: PlatformConfig, log: (msg: string) => void): Promise<PGliteType> {
  const PGlite = await pgliteClass();
  const dataDir = join(dir, database);
  const roles = substituteVariables(readFileSync(join(DEPLOY_LOCAL, 'pg-roles.sql'), 'utf8'), {
    owner_password: config.db.owner.password,
    app_password: config.db.app.password,
    relay_password: config.db.relay.password,
    mover_password: config.db.mover.password,
    subscriber_password: config.db.subscriber.password,
  });
  if (!existsSync(join(dataDir, 'PG_VERSION'))) {
    log(`initialising ${database} in ${dataDir}`);
    // initdb (seconds of WebAssembly) once per start, copied for every other new database.
    const cluster = join(dir, '.initdb');
    if (!existsSync(join(cluster, 'PG_VERSION'))) {
      rmSync(cluster, { recursive: true, force: true });
      await (await PGlite.create({ dataDir: cluster })).close();
    }
    rmSync(dataDir, { recursive: true, force: true });
    cpSync(cluster, dataDir, { recursive: true });
    const fresh = await PGlite.create({ dataDir });
    try {
      await fresh.exec(roles);
      await fresh.exec(`create database ${database} owner hotdash_owner`);
    } finally {
      await fresh.close();
    }
  }
  const pg = await PGlite.create({ dataDir, database });
  await pg.exec(roles);
  await pg.exec(substituteVariables(readFileSync(join(DEPLOY_LOCAL, 'pg-database.sql'), 'utf8'), { db: database }));
  return pg;
}

/**
 * Where the embedded databases live and answer, from the environment: HOTDASH_EMBEDDED_PG_DIR
 * (default `.local/embedded/pg` of the working directory) and HOTDASH_EMBEDDED_PG_PORT (54339).
 */
export function embeddedDatabaseSettings(env: NodeJS.ProcessEnv = process.env): { dir: string; port: number } {
  return { dir: resolve(readSetting('HOTDASH_EMBEDDED_PG_DIR', env) ?? join('.local', 'embedded', 'pg')), port: readSetting('HOTDASH_EMBEDDED_PG_PORT', env) };
}

const held = new Set<string>();

/**
 * The folder for this start alone: PGlite does not notice another process on its data (its lock
 * file names no real process), and two would corrupt it. `embedded.pid` holds the owner's pid; one
 * left by a process that is gone (killed) is taken over.
 */
function lockFolder(dir: string): () => void {
  if (held.has(dir)) throw new Error(`embedded databases: ${dir} is in use by this process`);
  const release = takePidLock(join(dir, 'embedded.pid'), (holder) => new Error(`embedded databases: ${dir} is in use by ${holder === 'opening' ? 'another process (it is opening it)' : `process ${holder}`}`));
  held.add(dir);
  return () => {
    held.delete(dir);
    release();
  };
}

const SHARD_DATABASE = (name: string): string => `hotdash_${name.replace(/-/g, '_')}`;

/**
 * The platform's databases embedded in this process: PGlite (PostgreSQL compiled to WebAssembly), one
 * instance per database (the control database and each shard), under `dir`, served on a loopback
 * port by the embedded wire server (embedded-server.ts) so the data layer reaches them with the `pg`
 * driver exactly as it reaches the stack: the same migrations applied by the same runner as the
 * owner role, the same roles (the application role not the owner, NOBYPASSRLS) and forced
 * row-level security. The shards are registered in the control plane as `npm run db:migrate` does
 * (HOTDASH_BOOTSTRAP_SHARDS), and their address updated when the port changed since the last start.
 * Idempotent: a second start on the same `dir` opens the same data and applies only new migrations
 * (after a killed process too: PostgreSQL's recovery rolls back what was not committed). One process
 * at a time: `dir/embedded.pid` refuses a second while the first lives.
 */
export async function startEmbeddedDatabases(options: EmbeddedDatabasesOptions): Promise<EmbeddedDatabases> {
  const dir = resolve(options.dir);
  const log = options.log ?? (() => undefined);
  mkdirSync(dir, { recursive: true });
  const unlock = lockFolder(dir);
  const base = options.config;
  const shardNames = options.shards ?? ['shard-1'];
  const names = [base.db.controlDatabase, ...shardNames.map(SHARD_DATABASE)];
  const databases = new Map<string, PGliteType>();
  let server: EmbeddedPgServer | undefined;
  try {
    for (const name of names) databases.set(name, await openDatabase(dir, name, base, log));
    rmSync(join(dir, '.initdb'), { recursive: true, force: true });
    server = new EmbeddedPgServer({
      databases,
      roles: { [base.db.owner.user]: base.db.owner.password, [base.db.app.user]: base.db.app.password, [base.db.relay.user]: base.db.relay.password },
      host: options.host ?? '127.0.0.1',
      port: options.port ?? 0,
      waitTimeoutMs: options.waitTimeoutMs,
    });
    await server.start();
    const { host, port } = server;
    const shards = shardNames.map((name) => ({ name, location: { host, port, database: SHARD_DATABASE(name) } }));
    const config: PlatformConfig = {
      ...base,
      db: { ...base.db, controlHost: host, controlPort: port, bootstrapShards: shards.map((s) => `${s.name}=${host}:${port}/${s.location.database}`).join(',') },
    };
    // A shard registered at a start on another port: its address follows the server (before
    // migrateAll, which migrates every registered shard at its registered address).
    const control = databases.get(base.db.controlDatabase)!;
    if ((await control.query<{ t: string | null }>(`select to_regclass('shards')::text as t`)).rows[0]!.t) {
      for (const s of shards) await control.query('update shards set host = $1, port = $2 where database = $3 and (host <> $1 or port <> $2)', [host, port, s.location.database]);
    }
    const migrations = await migrateAll(config, log);
    if (!migrations.ok) throw new Error(`embedded databases: migrations failed\n${formatReport(migrations)}`);
    const url = (database: string) => {
      const of = (role: 'owner' | 'app' | 'relay') => `postgres://${encodeURIComponent(base.db[role].user)}:${encodeURIComponent(base.db[role].password)}@${host}:${port}/${database}`;
      return { owner: of('owner'), app: of('app'), relay: of('relay') };
    };
    const running = server;
    const maintenance = new EmbeddedMaintenance(names.map((d) => url(d).owner), options.maintenanceEveryMs ?? 60_000, log);
    maintenance.start();
    let stopped: Promise<void> | undefined;
    return {
      host,
      port,
      control: { host, port, database: base.db.controlDatabase },
      shards,
      config,
      urls: { control: url(base.db.controlDatabase), shards: Object.fromEntries(shards.map((s) => [s.name, url(s.location.database)])) },
      migrations,
      server: running,
      maintenance,
      stop: () =>
        (stopped ??= (async () => {
          await maintenance.stop();
          await running.stop();
          for (const pg of databases.values()) await pg.close();
          unlock();
        })()),
    };
  } catch (err) {
    await server?.stop().catch(() => undefined);
    for (const pg of databases.values()) await pg.close().catch(() => undefined);
    unlock();
    throw err;
  }
}
