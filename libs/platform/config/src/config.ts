import { resolve } from 'node:path';
import { ConfigError, parseSettings, type ServiceKey, type Settings } from './settings';

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
  /** The single Redis, or (`cluster` set, HOTDASH_REDIS_CLUSTER_NODES) the Redis Cluster's seed nodes instead. */
  redis: { host: string; port: number; cluster?: { host: string; port: number }[] };
  kafka: { brokers: string[]; clientId: string };
  weaviate: { url: string; grpcPort: number };
  /** Tenant archives (ops backups): the local-directory archive store's folder (HOTDASH_BACKUP_DIR, absolute; default `.local/backups` of the checkout). */
  backup: { dir: string };
  /** Data residency: the region of a sign-up that names none (HOTDASH_DEFAULT_REGION; `local`, the region of deploy/local's shards). */
  regions: { default: string };
}

/** The checkout's `.local/backups` (this file is libs/platform/config/src/config.ts). */
export const DEFAULT_BACKUP_DIR = resolve(__dirname, '..', '..', '..', '..', '.local', 'backups');


/**
 * The platform's configuration from the environment (every value checked against the settings
 * schema, libs/platform/config/src/settings.ts: a malformed one throws a ConfigError naming it).
 * Variables it does not know are left alone here; a service's start refuses them
 * (loadServiceConfig).
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): PlatformConfig {
  return platformConfigOf(parseSettings(env));
}

export function platformConfigOf(s: Settings): PlatformConfig {
  const pgPort = s.HOTDASH_PG_PORT;
  return {
    db: {
      controlHost: s.HOTDASH_PG_HOST,
      controlPort: pgPort,
      controlDatabase: s.HOTDASH_CONTROL_DATABASE,
      owner: { user: s.HOTDASH_DB_OWNER_USER, password: s.HOTDASH_DB_OWNER_PASSWORD },
      app: { user: s.HOTDASH_DB_APP_USER, password: s.HOTDASH_DB_APP_PASSWORD },
      relay: { user: s.HOTDASH_DB_RELAY_USER, password: s.HOTDASH_DB_RELAY_PASSWORD },
      mover: { user: s.HOTDASH_DB_MOVER_USER, password: s.HOTDASH_DB_MOVER_PASSWORD },
      subscriber: { user: s.HOTDASH_DB_SUBSCRIBER_USER, password: s.HOTDASH_DB_SUBSCRIBER_PASSWORD },
      poolSize: s.HOTDASH_DB_POOL_SIZE,
      bootstrapShards: s.HOTDASH_BOOTSTRAP_SHARDS ?? `shard-1=127.0.0.1:${pgPort}/hotdash_shard_1,shard-2=127.0.0.1:${pgPort}/hotdash_shard_2`,
    },
    redis: { host: s.HOTDASH_REDIS_HOST, port: s.HOTDASH_REDIS_PORT, ...(s.HOTDASH_REDIS_CLUSTER_NODES?.length ? { cluster: s.HOTDASH_REDIS_CLUSTER_NODES.map(hostAndPort) } : {}) },
    kafka: { brokers: [...s.HOTDASH_KAFKA_BROKERS], clientId: s.HOTDASH_KAFKA_CLIENT_ID },
    weaviate: { url: s.HOTDASH_WEAVIATE_URL, grpcPort: s.HOTDASH_WEAVIATE_GRPC_PORT },
    backup: { dir: s.HOTDASH_BACKUP_DIR ?? DEFAULT_BACKUP_DIR },
    regions: { default: s.HOTDASH_DEFAULT_REGION },
  };
}

/** `host:port` (checked by the schema; `[v6]:port` too) as ioredis takes it. */
function hostAndPort(entry: string): { host: string; port: number } {
  const colon = entry.lastIndexOf(':');
  return { host: entry.slice(0, colon).replace(/^\[(.*)\]$/, '$1'), port: Number(entry.slice(colon + 1)) };
}

export type ServiceName = 'gateway' | 'provisioning' | 'drafts' | 'knowledge' | 'ai-drafting' | 'quota' | 'audit' | 'relay';

/** A service's configuration: the platform's, its own HTTP port and address, and every setting parsed. */
export interface ServiceConfig extends PlatformConfig {
  service: ServiceName;
  /** HOTDASH_<SERVICE>_PORT. */
  port: number;
  /** HOTDASH_BIND. */
  bind: string;
  settings: Settings;
}

/** The exit code of a service whose configuration is refused (sysexits' EX_CONFIG): the supervisor does not restart it. */
export const EXIT_CONFIG = 78;

const serviceKey = (service: ServiceName): ServiceKey => service.toUpperCase().replace(/-/g, '_') as ServiceKey;

/**
 * A service's configuration at start, strictly checked: a malformed value, a setting production
 * requires that is missing, or a HOTDASH_* variable that is not a setting (with the setting it
 * probably meant) is written to stderr, one line per variable with what it must be, and the process
 * exits with EXIT_CONFIG before anything is started.
 */
export function loadServiceConfig(service: ServiceName, env: NodeJS.ProcessEnv = process.env): ServiceConfig {
  let settings: Settings;
  try {
    settings = parseSettings(env, { strict: true });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    console.error(`${service}: ${err.message}\n${service}: not started: fix the environment (every setting, its form and default: docs/configuration.md)`);
    process.exit(EXIT_CONFIG);
  }
  return { ...platformConfigOf(settings), service, port: settings[`HOTDASH_${serviceKey(service)}_PORT`], bind: settings.HOTDASH_BIND, settings };
}

/** Where the gateway finds a service: HOTDASH_<SERVICE>_URL, else loopback on HOTDASH_<SERVICE>_PORT. */
export function serviceUrl(settings: Settings, service: 'audit' | 'quota' | 'provisioning' | 'drafts' | 'knowledge'): string {
  const key = serviceKey(service) as 'AUDIT' | 'QUOTA' | 'PROVISIONING' | 'DRAFTS' | 'KNOWLEDGE';
  return settings[`HOTDASH_${key}_URL`] ?? `http://127.0.0.1:${settings[`HOTDASH_${key}_PORT`]}`;
}
