// ─── The one place where the launcher's databases are started ─────────────────────────────────────
// Embedded mode: the control database and shard-1 as PGlite (libs/platform/db/src/embedded), under
// HOTDASH_EMBEDDED_PG_DIR, served on HOTDASH_EMBEDDED_PG_PORT, migrated by the same runner. Stack mode
// (HOTDASH_MODE=stack): the stack's PostgreSQL (HOTDASH_PG_*), migrated as `npm run db:migrate` does.
// Either way the services then find the databases through HOTDASH_PG_HOST/PORT and the shards the
// control plane registers, as on the stack: nothing below the launcher knows which it got.
import { loadConfig, type RunMode } from '@hotdash/platform-config';
import { embeddedDatabaseSettings, startEmbeddedDatabases } from '@hotdash/platform-db';
import { formatReport, migrateAll } from '@hotdash/platform-db/src/migrate/migrate-all';

export interface StartedDatabases {
  /** Where they are, for the start-up log. */
  where: string;
  /** Closes the embedded databases (nothing for the stack's). */
  stop(): Promise<void>;
}

/**
 * Starts (embedded) or reaches (stack) the databases and migrates them; in embedded mode points
 * HOTDASH_PG_HOST, HOTDASH_PG_PORT and HOTDASH_BOOTSTRAP_SHARDS of `env` at them, before any service
 * module loads its configuration.
 */
export async function startDatabases(mode: RunMode, log: (msg: string) => void, env: NodeJS.ProcessEnv = process.env): Promise<StartedDatabases> {
  if (mode === 'stack') {
    const config = loadConfig(env);
    const report = await migrateAll(config, log);
    if (!report.ok) throw new Error(`migrations failed\n${formatReport(report)}`);
    return { where: `PostgreSQL at ${config.db.controlHost}:${config.db.controlPort}`, stop: async () => undefined };
  }
  const { dir, port } = embeddedDatabaseSettings(env);
  const dbs = await startEmbeddedDatabases({ dir, port, config: loadConfig(env), log });
  env.HOTDASH_PG_HOST = dbs.host;
  env.HOTDASH_PG_PORT = String(dbs.port);
  env.HOTDASH_BOOTSTRAP_SHARDS = dbs.config.db.bootstrapShards;
  const applied = dbs.migrations.control.applied.length + dbs.migrations.shards.reduce((n, s) => n + s.applied.length, 0);
  return { where: `PGlite in ${dir} (PostgreSQL protocol on ${dbs.host}:${dbs.port}; ${applied} migration(s) applied)`, stop: () => dbs.stop() };
}
