import { join, resolve } from 'node:path';
import { readSetting, type SettingName } from './settings';

/**
 * The one place that chooses the adapters behind the platform's ports (DESIGN.md §2, "Two ways to
 * run, one code path"). `stack`: every port on its real store (the settings' own defaults: Kafka,
 * BullMQ and Redis, Weaviate, PostgreSQL). `embedded`: the same modules, with every port on its
 * in-process adapter and every store's folder under one root (HOTDASH_EMBEDDED_DIR, default
 * `.local/embedded` of the working directory):
 *
 * | port            | setting               | embedded default                |
 * |-----------------|-----------------------|---------------------------------|
 * | event bus       | HOTDASH_KAFKA_CLIENT  | `in-process`, logs in `bus/`    |
 * | jobs            | HOTDASH_JOB_RUNNER    | `embedded`, SQLite in `jobs/`   |
 * | state stores    | HOTDASH_STATE_STORE   | `embedded`, file in `state/`    |
 * | vector store    | HOTDASH_VECTOR_STORE  | `lancedb`, in `lancedb/`        |
 * | databases       | HOTDASH_EMBEDDED_PG_* | PGlite, in `pg/`                |
 * | mail            | HOTDASH_MAIL_DIR      | `.eml` files in `mail/`         |
 * | archives        | HOTDASH_BACKUP_DIR, HOTDASH_EXPORT_DIR | `backups/`, `exports/` |
 *
 * It only fills defaults: a setting set in the environment wins. It writes them into the
 * environment before any module reads a setting (the launcher, apps/embedded, calls it first), so
 * the modules read their ports' settings as always and never learn the mode.
 */
export type RunMode = 'stack' | 'embedded';

/** The settings embedded mode fills, for a root folder (absolute paths). */
export function embeddedDefaults(root: string): Partial<Record<SettingName, string>> {
  const dir = (name: string) => join(root, name);
  return {
    HOTDASH_KAFKA_CLIENT: 'in-process',
    HOTDASH_BUS_DIR: dir('bus'),
    HOTDASH_JOB_RUNNER: 'embedded',
    HOTDASH_JOBS_DIR: dir('jobs'),
    HOTDASH_STATE_STORE: 'embedded',
    HOTDASH_STATE_DIR: dir('state'),
    HOTDASH_VECTOR_STORE: 'lancedb',
    HOTDASH_LANCEDB_DIR: dir('lancedb'),
    HOTDASH_EMBEDDED_PG_DIR: dir('pg'),
    HOTDASH_MAIL_DIR: dir('mail'),
    HOTDASH_BACKUP_DIR: dir('backups'),
    HOTDASH_EXPORT_DIR: dir('exports'),
  };
}

export interface AppliedRunMode {
  mode: RunMode;
  /** The embedded root (absolute), in embedded mode. */
  root?: string;
  /** The settings this call filled (the others were set explicitly and kept). */
  filled: Partial<Record<SettingName, string>>;
}

/**
 * Applies HOTDASH_MODE (or `fallback` when unset) to `env`: in embedded mode every per-port setting
 * still unset (or empty) gets its embedded default, and HOTDASH_MODE is written so child tools see
 * it. Mail goes to files in embedded mode unless HOTDASH_SMTP_URL is set. Call it before any module
 * reads a setting.
 */
export function applyRunMode(env: NodeJS.ProcessEnv = process.env, fallback: RunMode = 'stack'): AppliedRunMode {
  const mode = readSetting('HOTDASH_MODE', env) ?? fallback;
  env.HOTDASH_MODE = mode;
  if (mode === 'stack') return { mode, filled: {} };
  const root = resolve(readSetting('HOTDASH_EMBEDDED_DIR', env) ?? join('.local', 'embedded'));
  const filled: Partial<Record<SettingName, string>> = {};
  for (const [name, value] of Object.entries(embeddedDefaults(root)) as [SettingName, string][]) {
    if (env[name] === undefined || env[name] === '') {
      env[name] = value;
      filled[name] = value;
    }
  }
  return { mode, root, filled };
}
