import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';
import type { DbLocation } from '../databases';
import type { DbRoleCredentials } from '@hotdash/platform-config';

export interface Migration {
  /** Folder name, e.g. 20261128000000_init: applied in lexical order. */
  name: string;
  sql: string;
  checksum: string;
}

export interface MigrationReport {
  target: string;
  applied: string[];
  alreadyApplied: number;
  error?: string;
}

/** Reads a Prisma-layout migrations folder: <dir>/<timestamp>_<name>/migration.sql. */
export function readMigrations(dir: string): Migration[] {
  if (!existsSync(dir)) throw new Error(`migrations folder not found: ${dir}`);
  return readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(dir, d.name, 'migration.sql')))
    .map((d) => d.name)
    .sort()
    .map((name) => {
      const sql = readFileSync(join(dir, name, 'migration.sql'), 'utf8');
      return { name, sql, checksum: createHash('sha256').update(sql).digest('hex') };
    });
}

const LOCK_KEY = 7_201_126_001; // pg_advisory_lock key: one migration runner per database at a time

/**
 * Applies pending migrations to one database, as the owner role, each in its own transaction, and
 * records them in hotdash_migrations with their checksum. An applied migration whose file changed
 * is an error: migrations are append-only.
 */
export async function migrateDatabase(location: DbLocation, owner: DbRoleCredentials, migrations: Migration[], onProgress?: (msg: string, migration: string) => void): Promise<MigrationReport> {
  const target = `${location.host}:${location.port}/${location.database}`;
  const report: MigrationReport = { target, applied: [], alreadyApplied: 0 };
  const client = new Client({ ...location, user: owner.user, password: owner.password, application_name: 'hotdash-migrate' });
  await client.connect();
  try {
    await client.query('select pg_advisory_lock($1)', [LOCK_KEY]);
    await client.query(`create table if not exists hotdash_migrations (
      name text primary key, checksum text not null, applied_at timestamptz not null default now(), duration_ms integer not null)`);
    const { rows } = await client.query<{ name: string; checksum: string }>('select name, checksum from hotdash_migrations');
    const done = new Map(rows.map((r) => [r.name, r.checksum]));
    for (const m of migrations) {
      const prior = done.get(m.name);
      if (prior !== undefined) {
        if (prior !== m.checksum) throw new Error(`migration ${m.name} was changed after it was applied to ${target}; add a new migration instead`);
        report.alreadyApplied++;
        continue;
      }
      if (report.applied.length === 0) await refuseDuringMove(client, target);
      onProgress?.(`${target}: applying ${m.name}`, m.name);
      const started = Date.now();
      await client.query('begin');
      try {
        await client.query(m.sql);
        await client.query('insert into hotdash_migrations (name, checksum, duration_ms) values ($1, $2, $3)', [m.name, m.checksum, Date.now() - started]);
        await client.query('commit');
      } catch (err) {
        await client.query('rollback');
        throw new Error(`migration ${m.name} failed on ${target}: ${(err as Error).message}`);
      }
      report.applied.push(m.name);
    }
  } catch (err) {
    report.error = (err as Error).message;
  } finally {
    await client.query('select pg_advisory_unlock($1)', [LOCK_KEY]).catch(() => undefined);
    await client.end();
  }
  return report;
}

/**
 * A tenant move replicates between two shards (docs/tenant-move.md) and DDL is not replicated: a
 * migration applied to one side during a move would break the move's apply or its checksums. A
 * database with a move's publication (its source) or subscription (its target) is not migrated
 * until the move has finished.
 */
async function refuseDuringMove(client: Client, target: string): Promise<void> {
  const { rows } = await client.query<{ name: string }>(
    `select pubname::text as name from pg_publication where pubname like 'tmove\\_%'
     union all
     select subname::text from pg_subscription where subdbid = (select oid from pg_database where datname = current_database()) and subname like 'tmove\\_%'`,
  );
  if (rows.length) throw new Error(`a tenant move is running on ${target} (${rows.map((r) => r.name).join(', ')}): migrations wait until it has finished (DDL is not replicated)`);
}
