import { join } from 'node:path';
import { Client } from 'pg';
import type { PlatformConfig } from '@hotdash/platform-config';
import { newId } from '../ids';
import type { DbLocation } from '../databases';
import { MigrationReport, migrateDatabase, readMigrations } from './runner';

export const PRISMA_DIR = join(__dirname, '..', '..', '..', '..', '..', 'prisma');

export interface MigrateAllReport {
  control: MigrationReport;
  shards: (MigrationReport & { shard: string })[];
  ok: boolean;
}

export function parseBootstrapShards(spec: string): { name: string; location: DbLocation }[] {
  return spec
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((entry) => {
      const m = /^([a-z0-9-]+)=([^:/]+):(\d+)\/([A-Za-z0-9_]+)$/.exec(entry);
      if (!m) throw new Error(`HOTDASH_BOOTSTRAP_SHARDS entry ${JSON.stringify(entry)} is not name=host:port/database`);
      return { name: m[1]!, location: { host: m[2]!, port: Number(m[3]), database: m[4]! } };
    });
}

/**
 * Migrates the control database, registers the bootstrap shards that are missing, then migrates
 * every shard registered in the control plane (retired ones excepted), one report per database.
 * A failing shard does not stop the others; the result says which failed.
 */
export async function migrateAll(config: PlatformConfig, log: (msg: string) => void = () => undefined): Promise<MigrateAllReport> {
  const owner = config.db.owner;
  const controlLoc = { host: config.db.controlHost, port: config.db.controlPort, database: config.db.controlDatabase };
  const control = await migrateDatabase(controlLoc, owner, readMigrations(join(PRISMA_DIR, 'control', 'migrations')), log);
  const report: MigrateAllReport = { control, shards: [], ok: !control.error };
  if (control.error) return report;

  const client = new Client({ ...controlLoc, user: owner.user, password: owner.password });
  await client.connect();
  let shards: { name: string; host: string; port: number; database: string }[];
  try {
    for (const s of parseBootstrapShards(config.db.bootstrapShards)) {
      const r = await client.query(
        `insert into shards (id, name, host, port, database, kind, status) values ($1, $2, $3, $4, $5, 'shared', 'active')
         on conflict do nothing`,
        [newId(), s.name, s.location.host, s.location.port, s.location.database],
      );
      if (r.rowCount) log(`registered shard ${s.name} (${s.location.host}:${s.location.port}/${s.location.database})`);
    }
    shards = (await client.query(`select name, host, port, database from shards where status <> 'retired' order by name`)).rows;
  } finally {
    await client.end();
  }

  const tenantMigrations = readMigrations(join(PRISMA_DIR, 'tenant', 'migrations'));
  for (const s of shards) {
    const r = await migrateDatabase({ host: s.host, port: s.port, database: s.database }, owner, tenantMigrations, log);
    report.shards.push({ ...r, shard: s.name });
    if (r.error) report.ok = false;
  }
  return report;
}

export function formatReport(r: MigrateAllReport): string {
  const line = (label: string, m: MigrationReport) =>
    `${label.padEnd(12)} ${m.target.padEnd(36)} ${m.error ? `FAILED: ${m.error}` : `${m.applied.length} applied, ${m.alreadyApplied} already applied${m.applied.length ? ` (${m.applied.join(', ')})` : ''}`}`;
  return [line('control', r.control), ...r.shards.map((s) => line(s.shard, s))].join('\n');
}
