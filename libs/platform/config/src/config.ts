import { isAbsolute, resolve } from 'node:path';

/**
 * Runtime configuration, from the environment, with defaults that match the local stack started by
 * deploy/local (ports in deploy/local/ports.env; a spec keeps the two in step).
 */
export interface DbRoleCredentials {
  user: string;
  password: string;
}

export interface PlatformConfig {
  db: {
    /** Control-plane database location; credentials come from the role used. */
    controlHost: string;
    controlPort: number;
    controlDatabase: string;
    owner: DbRoleCredentials;
    app: DbRoleCredentials;
    relay: DbRoleCredentials;
    /**
     * A tenant move's replication role (REPLICATION, BYPASSRLS, reads every table; deploy/local
     * pg_bootstrap): the connection the move's subscription on the target makes to the source.
     * Never a service's connection.
     */
    mover: DbRoleCredentials;
    /**
     * The role a tenant move creates and drops its subscription with on the target: a superuser on
     * PostgreSQL 15 (16: a member of pg_create_subscription). Only the mover uses it.
     */
    subscriber: DbRoleCredentials;
    /** Connections per pool (per role and database). */
    poolSize: number;
    /** Shards registered by `npm run db:migrate` when missing: name=host:port/database, comma separated. */
    bootstrapShards: string;
  };
  redis: { host: string; port: number };
  kafka: { brokers: string[]; clientId: string };
  weaviate: { url: string; grpcPort: number };
  /** Tenant archives (ops backups): the local-directory archive store's folder (HOTDASH_BACKUP_DIR, absolute; default `.local/backups` of the checkout). */
  backup: { dir: string };
  /** Data residency: the region of a sign-up that names none (HOTDASH_DEFAULT_REGION; `local`, the region of deploy/local's shards). */
  regions: { default: string };
}

/** A region's form (as contracts' REGION and the control plane's check): 1 to 63 lower-case letters, digits and dashes. */
const REGION_FORM = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

function region(env: NodeJS.ProcessEnv, name: string, fallback: string): string {
  const v = str(env, name, fallback);
  if (!REGION_FORM.test(v)) throw new Error(`configuration ${name} must be a region (1 to 63 lower-case letters, digits and dashes, e.g. eu-west-1), got ${JSON.stringify(v)}`);
  return v;
}

/** The checkout's `.local/backups` (this file is libs/platform/config/src/config.ts). */
export const DEFAULT_BACKUP_DIR = resolve(__dirname, '..', '..', '..', '..', '.local', 'backups');

/** HOTDASH_BACKUP_DIR: an absolute path (a relative one would depend on where each process was started). */
function directory(env: NodeJS.ProcessEnv, name: string, fallback: string): string {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (raw.includes('\0') || !isAbsolute(raw)) throw new Error(`configuration ${name} must be an absolute directory path, got ${JSON.stringify(raw)}`);
  return resolve(raw);
}

export const LOCAL_PORTS = {
  postgres: 54329,
  redis: 63790,
  kafka: 19092,
  weaviate: 18080,
  weaviateGrpc: 50052,
} as const;

function str(env: NodeJS.ProcessEnv, name: string, fallback: string): string {
  const v = env[name];
  return v === undefined || v === '' ? fallback : v;
}

function int(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`configuration ${name} must be a positive integer, got ${JSON.stringify(raw)}`);
  return n;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): PlatformConfig {
  const pgPort = int(env, 'HOTDASH_PG_PORT', LOCAL_PORTS.postgres);
  return {
    db: {
      controlHost: str(env, 'HOTDASH_PG_HOST', '127.0.0.1'),
      controlPort: pgPort,
      controlDatabase: str(env, 'HOTDASH_CONTROL_DATABASE', 'hotdash_control'),
      owner: { user: str(env, 'HOTDASH_DB_OWNER_USER', 'hotdash_owner'), password: str(env, 'HOTDASH_DB_OWNER_PASSWORD', 'hotdash_owner_local') },
      app: { user: str(env, 'HOTDASH_DB_APP_USER', 'hotdash_app'), password: str(env, 'HOTDASH_DB_APP_PASSWORD', 'hotdash_app_local') },
      relay: { user: str(env, 'HOTDASH_DB_RELAY_USER', 'hotdash_relay'), password: str(env, 'HOTDASH_DB_RELAY_PASSWORD', 'hotdash_relay_local') },
      mover: { user: str(env, 'HOTDASH_DB_MOVER_USER', 'hotdash_mover'), password: str(env, 'HOTDASH_DB_MOVER_PASSWORD', 'hotdash_mover_local') },
      subscriber: { user: str(env, 'HOTDASH_DB_SUBSCRIBER_USER', 'hotdash_subscriber'), password: str(env, 'HOTDASH_DB_SUBSCRIBER_PASSWORD', 'hotdash_subscriber_local') },
      poolSize: int(env, 'HOTDASH_DB_POOL_SIZE', 10),
      bootstrapShards: str(
        env,
        'HOTDASH_BOOTSTRAP_SHARDS',
        `shard-1=127.0.0.1:${pgPort}/hotdash_shard_1,shard-2=127.0.0.1:${pgPort}/hotdash_shard_2`,
      ),
    },
    redis: { host: str(env, 'HOTDASH_REDIS_HOST', '127.0.0.1'), port: int(env, 'HOTDASH_REDIS_PORT', LOCAL_PORTS.redis) },
    kafka: {
      brokers: str(env, 'HOTDASH_KAFKA_BROKERS', `127.0.0.1:${LOCAL_PORTS.kafka}`).split(',').map((b) => b.trim()),
      clientId: str(env, 'HOTDASH_KAFKA_CLIENT_ID', 'hotdash'),
    },
    weaviate: {
      url: str(env, 'HOTDASH_WEAVIATE_URL', `http://127.0.0.1:${LOCAL_PORTS.weaviate}`),
      grpcPort: int(env, 'HOTDASH_WEAVIATE_GRPC_PORT', LOCAL_PORTS.weaviateGrpc),
    },
    backup: { dir: directory(env, 'HOTDASH_BACKUP_DIR', DEFAULT_BACKUP_DIR) },
    regions: { default: region(env, 'HOTDASH_DEFAULT_REGION', 'local') },
  };
}
