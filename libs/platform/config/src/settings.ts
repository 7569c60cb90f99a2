import { isAbsolute, resolve } from 'node:path';
import { isIP } from 'node:net';
import { z } from 'zod';

/**
 * Every `HOTDASH_*` environment variable the platform knows, in one schema: what it must be, its
 * default, what it means and who reads it. Services check their environment against it at start
 * (`loadServiceConfig`): a malformed value, a setting required in production that is missing, or a
 * `HOTDASH_*` variable that is not declared here (a typo: the setting it meant would silently keep
 * its default) stops the service with the variable's name and what is expected. docs/configuration.md
 * is generated from this table (`npm run config:doc`), and a spec fails when a `HOTDASH_*` name used
 * anywhere in the repository is not declared here.
 *
 * A variable set to the empty string counts as unset (its default applies).
 */

/** Where a setting is listed in docs/configuration.md. */
export const SECTIONS = [
  'Databases',
  'Redis, Kafka, Weaviate',
  'Services and the gateway',
  'Events',
  'Keys and tokens',
  'Models and the knowledge base',
  'Ops command line (hotdash-ops, ops:operator)',
  'Local stack, CI and the test suite',
] as const;
export type Section = (typeof SECTIONS)[number];

interface SettingSpec<T> {
  section: Section;
  /** Parses the raw (non-empty) value; a failed check's message says what is wrong in detail. */
  schema: z.ZodType<T>;
  /** The value when unset or empty. */
  default?: NoInfer<T>;
  /** The default as docs/configuration.md shows it, when it is computed or not simply the value. */
  shownDefault?: string;
  /** What a value must be, as the error says it: `HOTDASH_<NAME> must be <expected>, got …`. */
  expected: string;
  meaning: string;
  /** Who reads it. */
  readBy: string;
  /** Never echoed in an error (passwords, keys, tokens). */
  secret?: boolean;
  /** Words an unknown variable's name may hold that point to this setting (the "did you mean" beyond typos). */
  keywords?: readonly string[];
  /** Required when NODE_ENV=production: the message when it is missing. */
  requiredInProduction?: string;
}

export interface Setting<T, V> extends SettingSpec<T> {
  /** Type only: the value a parsed setting has (T, or T | undefined without a default). */
  readonly _value: V;
}

function setting<T>(spec: SettingSpec<T> & { default: NoInfer<T> }): Setting<T, T>;
function setting<T>(spec: SettingSpec<T>): Setting<T, T | undefined>;
function setting<T>(spec: SettingSpec<T>): Setting<T, T | undefined> {
  return { ...spec, _value: undefined as never };
}

// ---- value forms -------------------------------------------------------------------------------

const INT = /^[0-9]+$/;
const positiveInt = (max = Number.MAX_SAFE_INTEGER) =>
  z
    .string()
    .refine((s) => INT.test(s) && Number(s) >= 1 && Number(s) <= max, max < Number.MAX_SAFE_INTEGER ? `not an integer from 1 to ${max}` : 'not a positive integer')
    .transform(Number);
const port = positiveInt(65_535);
const text = (max = 1_000) => z.string().refine((s) => s.length <= max && !/[\0\r\n]/.test(s), `not one line of at most ${max} characters`);
const word = z.string().refine((s) => /^[^\s\0]{1,255}$/.test(s), 'holds spaces or control characters');
const host = z.string().refine((s) => /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._:-]{1,253})$/.test(s), 'not a host name or IP address');
const httpUrl = z.string().refine((s) => {
  try {
    const u = new URL(s);
    return (u.protocol === 'http:' || u.protocol === 'https:') && !!u.hostname;
  } catch {
    return false;
  }
}, 'not an http(s) URL');
const absolutePath = z
  .string()
  .refine((s) => !s.includes('\0') && isAbsolute(s), 'not an absolute path')
  .transform((s) => resolve(s));
const path = z.string().refine((s) => !s.includes('\0'), 'holds a NUL character');
const oneOf = <const V extends readonly [string, ...string[]]>(values: V) => z.enum(values, { error: () => `not one of ${values.join(', ')}` });
const list = <T>(entry: z.ZodType<T>, what: string) =>
  z.string().transform((s, ctx) => {
    const out: T[] = [];
    const items = s.split(',').map((e) => e.trim());
    items.forEach((item, i) => {
      const r = entry.safeParse(item);
      if (r.success) out.push(r.data);
      else ctx.addIssue({ code: 'custom', message: `entry ${i + 1} of ${items.length}${item ? ` (${JSON.stringify(item.slice(0, 80))})` : ' (empty)'} is not ${what}` });
    });
    return out;
  });
/** A region's form (as contracts' REGION and the control plane's check): 1 to 63 lower-case letters, digits and dashes. */
const REGION_FORM = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const region = z.string().refine((s) => REGION_FORM.test(s), 'not a region');
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
/** `id:base64` entries, comma separated, ids unique; `bytes`: the decoded length each key must have. */
const keyList = (bytes: number | undefined, idForm: RegExp) =>
  z.string().superRefine((s, ctx) => {
    const ids = new Set<string>();
    s.split(',').forEach((raw, i) => {
      const entry = raw.trim();
      const at = `entry ${i + 1}`;
      const colon = entry.indexOf(':');
      if (colon <= 0) return void ctx.addIssue({ code: 'custom', message: `${at} is not id:base64` });
      const id = entry.slice(0, colon).trim();
      const b64 = entry.slice(colon + 1).trim();
      if (!idForm.test(id)) return void ctx.addIssue({ code: 'custom', message: `${at} has an invalid key id` });
      if (ids.has(id)) return void ctx.addIssue({ code: 'custom', message: `${at}: key id ${JSON.stringify(id)} appears twice` });
      ids.add(id);
      const key = BASE64.test(b64) ? Buffer.from(b64, 'base64') : undefined;
      if (!key || key.toString('base64') !== b64) return void ctx.addIssue({ code: 'custom', message: `${at} (id ${JSON.stringify(id)}): the key is not valid base64` });
      if (bytes !== undefined && key.length !== bytes) ctx.addIssue({ code: 'custom', message: `${at} (id ${JSON.stringify(id)}): the key must be ${bytes} bytes, got ${key.length}` });
    });
  });
const KEY_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const ipOrCidr = z.string().refine((s) => {
  const [addr, bits, extra] = s.split('/');
  const v = isIP(addr ?? '');
  if (!v || extra !== undefined) return false;
  return bits === undefined || (INT.test(bits) && Number(bits) <= (v === 4 ? 32 : 128));
}, 'not an IP address or CIDR');
const hostPort = z.string().refine((s) => /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]{1,253}):([0-9]{1,5})$/.test(s) && Number(s.slice(s.lastIndexOf(':') + 1)) <= 65_535, 'not host:port');
const SHARD_ENTRY = /^([a-z0-9-]+)=([^:/\s]+):(\d{1,5})\/([A-Za-z0-9_]+)$/;
const onOff = oneOf(['on', 'off']);
const KAFKA_GROUP = z.string().refine((s) => /^[A-Za-z0-9._-]{1,249}$/.test(s), 'not a Kafka group id (letters, digits, ".", "_", "-")');
const milliseconds = positiveInt();

// ---- the settings ------------------------------------------------------------------------------

/** deploy/local's loopback ports (deploy/local/ports.env; a spec keeps the two in step): the defaults. */
export const LOCAL_PORTS = {
  postgres: 54329,
  redis: 63790,
  kafka: 19092,
  weaviate: 18080,
  weaviateGrpc: 50052,
} as const;

type DbRoleSettings<R extends string> = { [K in `HOTDASH_DB_${R}_USER` | `HOTDASH_DB_${R}_PASSWORD`]: Setting<string, string> };
const db = <R extends string>(role: R, what: string, user: string): DbRoleSettings<R> => ({
  [`HOTDASH_DB_${role}_USER`]: setting({
    section: 'Databases',
    schema: word,
    default: user,
    expected: 'a PostgreSQL role name',
    meaning: `the ${what} role`,
    readBy: 'every service, db:migrate',
  }),
  [`HOTDASH_DB_${role}_PASSWORD`]: setting({
    section: 'Databases',
    schema: text(),
    default: `${user}_local`,
    expected: 'a password (one line)',
    meaning: `the ${what} role’s password`,
    readBy: 'every service, db:migrate, deploy/local',
    secret: true,
  }),
}) as DbRoleSettings<R>;

const SERVICE_PORTS = { GATEWAY: 3100, PROVISIONING: 3101, DRAFTS: 3102, KNOWLEDGE: 3103, AI_DRAFTING: 3104, QUOTA: 3105, AUDIT: 3107, RELAY: 3108 } as const;
export type ServiceKey = keyof typeof SERVICE_PORTS;
const servicePort = (service: ServiceKey) =>
  setting({
    section: 'Services and the gateway',
    schema: port,
    default: SERVICE_PORTS[service],
    expected: 'a TCP port (1 to 65535)',
    meaning: `the ${service.toLowerCase().replace('_', '-')} service's HTTP port (health at \`/health\`)`,
    readBy: `${service.toLowerCase().replace('_', '-')}${
      service === 'GATEWAY' ? ' (and the default of HOTDASH_PUBLIC_URL)' : service === 'AI_DRAFTING' || service === 'RELAY' ? '' : ', the gateway (the default of its URL)'
    }; ai-drafting’s egress guard refuses it to tenant endpoints`,
  });
const serviceUrl = (service: ServiceKey) =>
  setting({
    section: 'Services and the gateway',
    schema: httpUrl,
    shownDefault: `\`http://127.0.0.1:<HOTDASH_${service}_PORT>\``,
    expected: 'an http(s) URL',
    meaning: `where the gateway finds the ${service.toLowerCase()} service`,
    readBy: 'gateway',
  });
const consumerGroup = (group: string) =>
  setting({
    section: 'Events',
    schema: KAFKA_GROUP,
    default: group,
    expected: 'a Kafka consumer group id',
    meaning: `the ${group} service's Kafka consumer group (a new group starts where HOTDASH_CONSUMER_START says)`,
    readBy: group,
  });

export const SETTINGS = {
  // Databases
  HOTDASH_PG_HOST: setting({ section: 'Databases', schema: host, default: '127.0.0.1', expected: 'a host name or IP address', meaning: 'the control database server', readBy: 'every service, db:migrate' }),
  HOTDASH_PG_PORT: setting({ section: 'Databases', schema: port, default: LOCAL_PORTS.postgres, expected: 'a TCP port (1 to 65535)', meaning: 'the control database server’s port (deploy/local/ports.env)', readBy: 'every service, db:migrate, deploy/local' }),
  HOTDASH_CONTROL_DATABASE: setting({ section: 'Databases', schema: word, default: 'hotdash_control', expected: 'a database name', meaning: 'the control database', readBy: 'every service, db:migrate' }),
  ...db('OWNER', 'owner (migrations, ops:operator)', 'hotdash_owner'),
  ...db('APP', 'services’', 'hotdash_app'),
  ...db('RELAY', 'outbox relay', 'hotdash_relay'),
  ...db('MOVER', 'tenant move’s replication', 'hotdash_mover'),
  ...db('SUBSCRIBER', 'tenant move’s subscription (on the target)', 'hotdash_subscriber'),
  HOTDASH_DB_POOL_SIZE: setting({ section: 'Databases', schema: positiveInt(1_000), default: 10, expected: 'an integer from 1 to 1000', meaning: 'connections per pool (per role and database)', readBy: 'every service' }),
  HOTDASH_BOOTSTRAP_SHARDS: setting({
    section: 'Databases',
    schema: list(z.string().refine((s) => SHARD_ENTRY.test(s)), 'name=host:port/database').transform((entries) => entries.join(',')),
    shownDefault: '`shard-1=127.0.0.1:<HOTDASH_PG_PORT>/hotdash_shard_1,shard-2=…/hotdash_shard_2`',
    expected: 'name=host:port/database entries, comma separated',
    meaning: 'the shards `npm run db:migrate` registers when missing',
    readBy: 'db:migrate, ai-drafting (egress guard)',
  }),
  HOTDASH_EMBEDDED_PG_DIR: setting({ section: 'Databases', schema: path, shownDefault: '`.local/embedded/pg` of the working directory', expected: 'a directory path', meaning: 'where the embedded databases (PGlite; the control database and shard-1, a folder each) keep their data; one process at a time', readBy: 'embedded mode (libs/platform/db/src/embedded)' }),
  HOTDASH_EMBEDDED_PG_PORT: setting({ section: 'Databases', schema: port, default: 54339, expected: 'a TCP port (1 to 65535)', meaning: 'the loopback port on which the embedded databases answer the PostgreSQL protocol (the services\' `pg` pools connect to it; passwords as HOTDASH_DB_*_PASSWORD)', readBy: 'embedded mode (libs/platform/db/src/embedded)' }),
  HOTDASH_BACKUP_DIR: setting({
    section: 'Databases',
    schema: absolutePath,
    shownDefault: '`.local/backups` of the checkout',
    expected: 'an absolute directory path',
    meaning: 'the tenant archive store (ops backups, restores, pilot imports)',
    readBy: 'provisioning',
  }),
  HOTDASH_EXPORT_DIR: setting({
    section: 'Databases',
    schema: absolutePath,
    shownDefault: '`exports` beside HOTDASH_BACKUP_DIR (`.local/exports` of the checkout)',
    expected: 'an absolute directory path',
    meaning: 'the data export store (tenant and data-subject exports, encrypted, deleted when their link expires)',
    readBy: 'provisioning',
  }),
  HOTDASH_EXPORT_LINK_TTL_S: setting({
    section: 'Databases',
    schema: positiveInt(30 * 86_400),
    default: 86_400,
    expected: 'an integer from 1 to 2592000 (30 days)',
    meaning: 'seconds a finished data export can be downloaded; then its link answers 410 and the sweep deletes the file',
    readBy: 'provisioning',
  }),
  HOTDASH_DEFAULT_REGION: setting({
    section: 'Databases',
    schema: region,
    default: 'local',
    expected: 'a region (1 to 63 lower-case letters, digits and dashes, e.g. eu-west-1)',
    meaning: 'the data-residency region of a sign-up that names none (deploy/local’s shards are in `local`)',
    readBy: 'provisioning',
  }),

  // Redis, Kafka, Weaviate
  HOTDASH_REDIS_HOST: setting({ section: 'Redis, Kafka, Weaviate', schema: host, default: '127.0.0.1', expected: 'a host name or IP address', meaning: 'Redis (limits, revocations, idempotency keys, BullMQ queues)', readBy: 'every service' }),
  HOTDASH_REDIS_PORT: setting({ section: 'Redis, Kafka, Weaviate', schema: port, default: LOCAL_PORTS.redis as number, expected: 'a TCP port (1 to 65535)', meaning: 'Redis’s port (deploy/local/ports.env)', readBy: 'every service, deploy/local' }),
  HOTDASH_REDIS_CLUSTER_NODES: setting({
    section: 'Redis, Kafka, Weaviate',
    schema: list(hostPort, 'host:port'),
    expected: 'host:port entries, comma separated (nodes of a Redis Cluster)',
    meaning: 'set: the platform uses this Redis Cluster (ioredis `Cluster`, BullMQ queues under hash-tagged prefixes) instead of HOTDASH_REDIS_HOST/PORT; a few masters are enough, the rest is discovered. Unset: the single Redis',
    readBy: 'every service',
  }),
  HOTDASH_STATE_STORE: setting({
    section: 'Redis, Kafka, Weaviate',
    schema: oneOf(['redis', 'embedded']),
    default: 'redis',
    expected: '`redis` or `embedded`',
    meaning: 'where rate limits, revocation markers, idempotency keys and single sign-on states live: `redis` (HOTDASH_REDIS_*; shared by every process), or `embedded` (rate limits in the process\'s memory; the rest in an append-only file under HOTDASH_STATE_DIR, kept across restarts; one process only)',
    readBy: 'every service',
  }),
  HOTDASH_STATE_DIR: setting({ section: 'Redis, Kafka, Weaviate', schema: path, shownDefault: '`.local/embedded/state` of the checkout', expected: 'a directory path', meaning: 'where the embedded state store (HOTDASH_STATE_STORE=embedded) keeps its file; one process at a time (a lock file says which)', readBy: 'every service (embedded state store)' }),
  HOTDASH_JOB_RUNNER: setting({
    section: 'Redis, Kafka, Weaviate',
    schema: oneOf(['bullmq', 'embedded']),
    default: 'bullmq',
    expected: '`bullmq` or `embedded`',
    meaning: 'what runs the job queues (sagas, ingestion, drafting, exports): `bullmq` on HOTDASH_REDIS_* (shared by every process), or `embedded`, the embedded mode\'s runner in this process, its jobs in a SQLite file under HOTDASH_JOBS_DIR (kept across restarts; one process only)',
    readBy: 'every service',
  }),
  HOTDASH_JOBS_DIR: setting({ section: 'Redis, Kafka, Weaviate', schema: path, default: '.local/embedded/jobs', shownDefault: '`.local/embedded/jobs` of the working directory', expected: 'a directory path', meaning: 'where the embedded job runner (HOTDASH_JOB_RUNNER=embedded) keeps its SQLite file of jobs', readBy: 'every service (embedded job runner)' }),
  HOTDASH_KAFKA_BROKERS: setting({
    section: 'Redis, Kafka, Weaviate',
    schema: list(hostPort, 'host:port'),
    default: [`127.0.0.1:${LOCAL_PORTS.kafka}`],
    shownDefault: '`127.0.0.1:19092`',
    expected: 'host:port entries, comma separated',
    meaning: 'the Kafka bootstrap servers',
    readBy: 'every service',
  }),
  HOTDASH_KAFKA_CLIENT_ID: setting({ section: 'Redis, Kafka, Weaviate', schema: KAFKA_GROUP, default: 'hotdash', expected: 'a Kafka client id', meaning: 'the Kafka client id in PlatformConfig (`kafka.clientId`) for tools that name none; every service names its own', readBy: 'tools using PlatformConfig' }),
  HOTDASH_KAFKA_CLIENT: setting({
    section: 'Redis, Kafka, Weaviate',
    schema: oneOf(['platformatic', 'kafkajs', 'in-process']),
    default: 'platformatic',
    expected: '`platformatic`, `kafkajs` or `in-process`',
    meaning: 'the event bus behind the messaging port: Kafka through one of two client libraries (docs/benchmarks.md), or `in-process`, the embedded mode\'s bus without a broker (durable logs under HOTDASH_BUS_DIR; one process only)',
    readBy: 'every service',
  }),
  HOTDASH_BUS_DIR: setting({ section: 'Redis, Kafka, Weaviate', schema: path, default: '.local/embedded/bus', shownDefault: '`.local/embedded/bus` of the working directory', expected: 'a directory path', meaning: 'where the in-process event bus (HOTDASH_KAFKA_CLIENT=in-process) keeps its topics\' logs and the consumer groups\' committed offsets; one process at a time (a lock file says which)', readBy: 'every service (in-process bus)' }),
  HOTDASH_BUS_RETENTION_BYTES: setting({ section: 'Redis, Kafka, Weaviate', schema: positiveInt(), default: 64 * 1024 * 1024, shownDefault: '`67108864` (64 MiB)', expected: 'a positive integer (bytes)', meaning: 'the in-process bus keeps at most about this much of each partition\'s log (whole older segments are removed; like Kafka\'s retention.bytes)', readBy: 'every service (in-process bus)' }),
  HOTDASH_BUS_RETENTION_HOURS: setting({ section: 'Redis, Kafka, Weaviate', schema: positiveInt(), default: 168, expected: 'a positive integer (hours)', meaning: 'the in-process bus removes a partition\'s older log segments once their newest record is older than this (like Kafka\'s retention.ms)', readBy: 'every service (in-process bus)' }),
  HOTDASH_KAFKA_SESSION_TIMEOUT_MS: setting({
    section: 'Redis, Kafka, Weaviate',
    schema: milliseconds,
    shownDefault: 'the client’s',
    expected: 'a positive integer (milliseconds)',
    meaning: 'the consumers’ Kafka session timeout',
    readBy: 'audit, quota, drafts, knowledge, ai-drafting',
  }),
  HOTDASH_WEAVIATE_URL: setting({ section: 'Redis, Kafka, Weaviate', schema: httpUrl, default: `http://127.0.0.1:${LOCAL_PORTS.weaviate}`, expected: 'an http(s) URL', meaning: 'Weaviate’s HTTP address (schema and tenants)', readBy: 'knowledge, ai-drafting, provisioning' }),
  HOTDASH_WEAVIATE_GRPC_PORT: setting({ section: 'Redis, Kafka, Weaviate', schema: port, default: LOCAL_PORTS.weaviateGrpc as number, expected: 'a TCP port (1 to 65535)', meaning: 'Weaviate’s gRPC port (data and queries)', readBy: 'knowledge, ai-drafting, provisioning, deploy/local' }),
  HOTDASH_VECTOR_STORE: setting({
    section: 'Redis, Kafka, Weaviate',
    schema: oneOf(['weaviate', 'lancedb']),
    default: 'weaviate',
    expected: '`weaviate` or `lancedb`',
    meaning: 'the vector store: Weaviate, or LanceDB embedded in HOTDASH_LANCEDB_DIR',
    readBy: 'knowledge, ai-drafting, provisioning',
  }),
  HOTDASH_LANCEDB_DIR: setting({ section: 'Redis, Kafka, Weaviate', schema: path, shownDefault: '`.local/lancedb` of the working directory', expected: 'a directory path', meaning: 'where the embedded LanceDB store keeps its files', readBy: 'knowledge, ai-drafting, provisioning' }),

  // Services and the gateway
  HOTDASH_GATEWAY_PORT: servicePort('GATEWAY'),
  HOTDASH_PROVISIONING_PORT: servicePort('PROVISIONING'),
  HOTDASH_DRAFTS_PORT: servicePort('DRAFTS'),
  HOTDASH_KNOWLEDGE_PORT: servicePort('KNOWLEDGE'),
  HOTDASH_AI_DRAFTING_PORT: servicePort('AI_DRAFTING'),
  HOTDASH_QUOTA_PORT: servicePort('QUOTA'),
  HOTDASH_AUDIT_PORT: servicePort('AUDIT'),
  HOTDASH_RELAY_PORT: servicePort('RELAY'),
  HOTDASH_AUDIT_URL: serviceUrl('AUDIT'),
  HOTDASH_QUOTA_URL: serviceUrl('QUOTA'),
  HOTDASH_PROVISIONING_URL: serviceUrl('PROVISIONING'),
  HOTDASH_DRAFTS_URL: serviceUrl('DRAFTS'),
  HOTDASH_KNOWLEDGE_URL: serviceUrl('KNOWLEDGE'),
  HOTDASH_MODE: setting({
    section: 'Services and the gateway',
    schema: oneOf(['stack', 'embedded']),
    shownDefault: '`embedded` under `npm run start:embedded` (apps/embedded); a service started alone always runs on the stack',
    expected: '`stack` or `embedded`',
    meaning: 'how the one-process launcher (apps/embedded) runs the platform: `embedded` fills the defaults of the per-port settings (HOTDASH_KAFKA_CLIENT=in-process, HOTDASH_JOB_RUNNER=embedded, HOTDASH_STATE_STORE=embedded, HOTDASH_VECTOR_STORE=lancedb, the stores\' folders and the mail folder under HOTDASH_EMBEDDED_DIR) and runs PGlite databases; `stack`: every service in one process on the real PostgreSQL, Redis, Kafka and Weaviate. A setting set explicitly always wins (libs/platform/config/src/run-mode.ts)',
    readBy: 'apps/embedded',
  }),
  HOTDASH_EMBEDDED_DIR: setting({ section: 'Services and the gateway', schema: path, shownDefault: '`.local/embedded` of the working directory', expected: 'a directory path', meaning: 'the root of everything embedded mode keeps (pg, bus, jobs, state, lancedb, mail, backups, exports: a folder each); one process at a time', readBy: 'apps/embedded' }),
  HOTDASH_BIND: setting({ section: 'Services and the gateway', schema: host, default: '127.0.0.1', expected: 'an IP address or host name to listen on', meaning: 'the address every service listens on (`0.0.0.0` in containers)', readBy: 'every service' }),
  HOTDASH_PUBLIC_URL: setting({
    section: 'Services and the gateway',
    schema: httpUrl,
    shownDefault: '`http://127.0.0.1:<HOTDASH_GATEWAY_PORT>`',
    expected: 'an http(s) URL',
    meaning: 'the gateway’s public address: the links in sign-up answers, invitation and password-reset e-mails',
    readBy: 'provisioning, gateway (identity)',
  }),
  HOTDASH_TRUSTED_PROXIES: setting({
    section: 'Services and the gateway',
    schema: list(ipOrCidr, 'an IP address or CIDR'),
    default: [],
    shownDefault: 'none',
    expected: 'IP addresses or CIDRs, comma separated',
    meaning: 'proxies whose `X-Forwarded-For` the gateway believes (the client address of per-address limits and of the audit of access)',
    readBy: 'gateway',
  }),
  HOTDASH_PER_ADDRESS_PER_MINUTE: setting({
    section: 'Services and the gateway',
    schema: positiveInt(),
    shownDefault: 'per route (sign-up 5, invitations 20, …)',
    expected: 'a positive integer',
    meaning: 'overrides the per-address limit of every public route that has one (load tests, an office behind one address)',
    readBy: 'gateway',
  }),
  HOTDASH_QUEUE_STREAMS_PER_USER: setting({
    section: 'Services and the gateway',
    schema: positiveInt(1_000),
    default: 5,
    expected: 'an integer from 1 to 1000',
    meaning: 'live queue streams (GET /queue/stream) one user or API key may hold open at once, across gateways (429 too-many-streams beyond)',
    readBy: 'gateway',
  }),
  HOTDASH_QUEUE_STREAMS_PER_TENANT: setting({
    section: 'Services and the gateway',
    schema: positiveInt(100_000),
    default: 500,
    expected: 'an integer from 1 to 100000',
    meaning: 'live queue streams one tenant may hold open at once, across gateways (429 too-many-streams beyond)',
    readBy: 'gateway',
  }),
  HOTDASH_LOG_LEVEL: setting({
    section: 'Services and the gateway',
    schema: oneOf(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
    default: 'info',
    expected: 'a log level (fatal, error, warn, info, debug, trace, silent)',
    meaning: 'the least level a service logs (pino); `debug` also logs every request line and the health probes',
    readBy: 'every service',
    keywords: ['LOG', 'LEVEL'],
  }),
  HOTDASH_LOG_FORMAT: setting({
    section: 'Services and the gateway',
    schema: oneOf(['json', 'pretty']),
    default: 'json',
    expected: '`json` or `pretty`',
    meaning: 'how a service writes its log: one JSON object a line (production, log collectors), or one human-readable line per entry (`npm run start:stack` sets `pretty`; needs the dev dependency pino-pretty, JSON without it)',
    readBy: 'every service, scripts/start.mjs',
    keywords: ['LOG', 'FORMAT', 'PRETTY'],
  }),
  HOTDASH_METRICS_PORT: setting({
    section: 'Services and the gateway',
    schema: z.union([z.literal('off'), port]),
    shownDefault: 'the service’s port + 1000 (gateway 4100, provisioning 4101, …)',
    expected: 'a TCP port (1 to 65535) or `off`',
    meaning: 'the ops-only port where a service serves its Prometheus metrics (`GET /metrics`), apart from its API (never routed through the gateway or the Ingress); `off`: no metrics endpoint',
    readBy: 'every service',
    keywords: ['METRICS', 'PROMETHEUS'],
  }),
  HOTDASH_METRICS_TENANT_LABELS: setting({
    section: 'Services and the gateway',
    schema: positiveInt(10_000),
    default: 100,
    expected: 'an integer from 1 to 10000',
    meaning: 'how many tenants a service labels by their id in its metrics (the first ones it sees); the others are counted under `tenant="other"`, which bounds the label’s cardinality',
    readBy: 'every service',
    keywords: ['METRICS', 'TENANT', 'CARDINALITY'],
  }),
  HOTDASH_ACCESS_SPOOL_DIR: setting({
    section: 'Services and the gateway',
    schema: absolutePath,
    shownDefault: '`.local/spool/access` of the checkout',
    expected: 'an absolute directory path',
    meaning: 'where a gateway spools its access-audit entries before answering (one per machine or pod volume; a restarted gateway replays it)',
    readBy: 'gateway',
  }),
  HOTDASH_SMTP_URL: setting({
    section: 'Services and the gateway',
    schema: z.url({ protocol: /^smtps?$/, error: () => 'not an smtp:// or smtps:// URL' }),
    shownDefault: 'none: mail goes to `.eml` files (HOTDASH_MAIL_DIR)',
    expected: 'an smtp://[user:password@]host:port or smtps:// URL',
    meaning: 'the SMTP server the relay delivers invitations and password resets to (`npm run start:stack` sets the local Mailpit, smtp://127.0.0.1:1025); unset: the local file sender',
    readBy: 'relay',
    secret: true,
    keywords: ['MAIL', 'SMTP'],
  }),
  HOTDASH_MAIL_FROM: setting({ section: 'Services and the gateway', schema: text(300), default: 'HotDash <no-reply@hotdash.local>', expected: 'an address, optionally with a name (`Name <address>`)', meaning: 'the From of the platform\'s mail', readBy: 'relay' }),
  HOTDASH_MAIL_DIR: setting({ section: 'Services and the gateway', schema: path, shownDefault: '`.local/mail` of the checkout', expected: 'a directory path', meaning: 'where the local mail sender writes `.eml` files (one folder per tenant); a tenant\'s offboarding erases its folder, a data subject\'s erasure the files addressed to it', readBy: 'relay, provisioning, drafts' }),
  HOTDASH_RELAY_SHARD_REFRESH_MS: setting({
    section: 'Services and the gateway',
    schema: milliseconds,
    default: 5_000,
    expected: 'a positive integer (milliseconds)',
    meaning: 'at the latest this long after a shard is registered, the relay relays its outbox (a NOTIFY is usually sooner)',
    readBy: 'relay',
  }),
  HOTDASH_RETENTION_SWEEP_MS: setting({
    section: 'Services and the gateway',
    schema: z.union([z.literal('off').transform(() => 0), milliseconds], { error: () => 'neither `off` nor a positive integer' }),
    default: 3_600_000,
    shownDefault: '`3600000` (an hour)',
    expected: '`off` or a positive integer (milliseconds)',
    meaning: 'milliseconds between two retention sweeps of the relay, which delete what the outboxes, inboxes and mail outboxes delivered longer ago than their retention (the first a minute after start); `off`: this process does not sweep',
    readBy: 'relay',
  }),
  HOTDASH_OUTBOX_RETENTION_DAYS: setting({ section: 'Services and the gateway', schema: positiveInt(3_650), default: 7, expected: 'an integer from 1 to 3650 (days)', meaning: 'a published event stays in its outbox this long (for a producer\'s look before work it must not do twice, and for ops); events still to publish or set aside stay until handled', readBy: 'relay' }),
  HOTDASH_INBOX_RETENTION_DAYS: setting({ section: 'Services and the gateway', schema: positiveInt(3_650), default: 14, expected: 'an integer from 1 to 3650 (days)', meaning: 'a consumer remembers an applied event this long, to drop a redelivery of it; keep it longer than the Kafka topics\' retention (7 days by default), or an event replayed from further back is applied again', readBy: 'relay' }),
  HOTDASH_MAIL_RETENTION_DAYS: setting({ section: 'Services and the gateway', schema: positiveInt(3_650), default: 30, expected: 'an integer from 1 to 3650 (days)', meaning: 'a sent message stays in its tenant\'s mail outbox this long; mail still to send or set aside stays until handled', readBy: 'relay' }),
  HOTDASH_KNOWLEDGE_SWEEP_MS: setting({
    section: 'Models and the knowledge base',
    schema: z.union([z.literal('off').transform(() => 0), milliseconds], { error: () => 'neither `off` nor a positive integer' }),
    default: 60_000,
    shownDefault: '`60000`',
    expected: '`off` or a positive integer (milliseconds)',
    meaning: 'milliseconds between two sweeps that queue stored documents whose queueing was lost; `off`: this process does not sweep',
    readBy: 'knowledge',
  }),
  HOTDASH_KNOWLEDGE_SWEEP_GRACE_MS: setting({ section: 'Models and the knowledge base', schema: milliseconds, default: 30_000, expected: 'a positive integer (milliseconds)', meaning: 'a stored document unchanged this long is queued by the sweep', readBy: 'knowledge' }),
  HOTDASH_KNOWLEDGE_SWEEP_DELAY_MS: setting({ section: 'Models and the knowledge base', schema: milliseconds, default: 5_000, expected: 'a positive integer (milliseconds)', meaning: 'from start to the first sweep', readBy: 'knowledge' }),
  HOTDASH_DRAFTS_SLA_SWEEP_MS: setting({
    section: 'Services and the gateway',
    schema: z.union([z.literal('off').transform(() => 0), milliseconds], { error: () => 'neither `off` nor a positive integer' }),
    default: 30_000,
    shownDefault: '`30000`',
    expected: '`off` or a positive integer (milliseconds)',
    meaning: 'milliseconds between two runs of the approval SLA sweep (tickets past their SLA flagged and escalated, once); `off`: this process does not sweep',
    readBy: 'drafts',
  }),

  // Events
  HOTDASH_CONSUMER_MAX_ATTEMPTS: setting({
    section: 'Events',
    schema: positiveInt(1_000),
    default: 5,
    expected: 'an integer from 1 to 1000 (attempts before an event is dead-lettered)',
    meaning: 'attempts at an event before it is dead-lettered to `<topic>.dlq`',
    readBy: 'audit, quota, drafts, knowledge, ai-drafting',
    keywords: ['DEADLETTER', 'DEADLETTERING', 'DLQ', 'RETRIES', 'RETRY', 'ATTEMPTS', 'MAXATTEMPTS'],
  }),
  HOTDASH_CONSUMER_START: setting({
    section: 'Events',
    schema: oneOf(['earliest', 'latest']),
    default: 'earliest',
    expected: '`earliest` or `latest`',
    meaning: 'where a consumer group with no committed offsets starts',
    readBy: 'audit, quota, drafts, knowledge, ai-drafting',
    keywords: ['OFFSET', 'FROMBEGINNING'],
  }),
  HOTDASH_AUDIT_CONSUMER: consumerGroup('audit'),
  HOTDASH_QUOTA_CONSUMER: consumerGroup('quota'),
  HOTDASH_DRAFTS_CONSUMER: consumerGroup('drafts'),
  HOTDASH_KNOWLEDGE_CONSUMER: consumerGroup('knowledge'),
  HOTDASH_AI_DRAFTING_CONSUMER: consumerGroup('ai-drafting'),

  // Keys and tokens
  HOTDASH_SSO_INSECURE_ISSUERS: setting({
    section: 'Keys and tokens',
    schema: oneOf(['0', '1']),
    default: '0',
    expected: '`0` or `1`',
    meaning: '`1`: single sign-on accepts `http://` OpenID Connect issuers (a local test provider); never in production, where issuers must be `https://`',
    readBy: 'gateway (identity)',
    keywords: ['SSO', 'OIDC', 'ISSUER'],
  }),
  HOTDASH_AUTH_SIGNING_KEY: setting({
    section: 'Keys and tokens',
    schema: keyList(undefined, /^[A-Za-z0-9._-]{1,64}$/).refine((s) => !s.includes(','), 'holds more than one key'),
    shownDefault: 'a public development key (refused when `NODE_ENV=production`)',
    expected: 'kid:base64(PKCS#8 DER of an Ed25519 private key)',
    meaning: 'the gateway’s token signing key',
    readBy: 'gateway',
    secret: true,
  }),
  HOTDASH_AUTH_VERIFY_KEYS: setting({
    section: 'Keys and tokens',
    schema: keyList(undefined, /^[A-Za-z0-9._-]{1,64}$/),
    shownDefault: 'the development public key (refused when `NODE_ENV=production`)',
    expected: 'kid:base64(SPKI DER of an Ed25519 public key) entries, comma separated',
    meaning: 'the token verification keys, by key id (rotation: add the new one everywhere first)',
    readBy: 'every service',
    requiredInProduction: 'the token verification keys (or, on the gateway, HOTDASH_AUTH_SIGNING_KEY)',
  }),
  HOTDASH_CERTIFICATE_SIGNING_KEY: setting({
    section: 'Keys and tokens',
    schema: keyList(undefined, KEY_ID).refine((s) => !s.includes(','), 'holds more than one key'),
    shownDefault: 'a public development key (refused when `NODE_ENV=production`)',
    expected: 'kid:base64(PKCS#8 DER of an Ed25519 private key)',
    meaning: 'the platform’s key that signs erasure certificates (platform/crypto certificate.ts; the drafts service does not start without it when `NODE_ENV=production`); its public key goes to HOTDASH_CERTIFICATE_VERIFY_KEYS',
    readBy: 'drafts (data subject erasures)',
    secret: true,
    keywords: ['CERTIFICATE', 'ERASURE'],
  }),
  HOTDASH_CERTIFICATE_VERIFY_KEYS: setting({
    section: 'Keys and tokens',
    schema: keyList(undefined, KEY_ID),
    shownDefault: 'the development public key (refused when `NODE_ENV=production`)',
    expected: 'kid:base64(SPKI DER of an Ed25519 public key) entries, comma separated',
    meaning: 'the public keys erasure certificates are verified with, by key id (keep retired ones to verify old certificates)',
    readBy: 'hotdash-ops (certificate verify)',
    keywords: ['CERTIFICATE', 'ERASURE'],
  }),
  HOTDASH_KMS_MASTER_KEYS: setting({
    section: 'Keys and tokens',
    schema: keyList(32, KEY_ID),
    shownDefault: 'a public development key (refused when `NODE_ENV=production`)',
    expected: 'id:base64(32 bytes) entries, comma separated, current first',
    meaning: 'the key-encryption keys of the local KMS (they wrap every tenant’s data key)',
    readBy: 'every service that encrypts or decrypts tenant data',
    secret: true,
    requiredInProduction: 'the key-encryption keys (id:base64 of 32 random bytes, e.g. from `openssl rand -base64 32`)',
  }),
  HOTDASH_KMS: setting({
    section: 'Keys and tokens',
    schema: oneOf(['local', 'transit']),
    default: 'local',
    expected: '`local` or `transit`',
    meaning:
      'the KMS that wraps the tenants’ data keys: `local` (HOTDASH_KMS_MASTER_KEYS) or `transit` (the transit engine of a Vault or OpenBao server, HOTDASH_KMS_TRANSIT_*; keys still under a local master key unwrap until a KEK rotation moves them)',
    readBy: 'every service that encrypts or decrypts tenant data',
  }),
  HOTDASH_KMS_TRANSIT_URL: setting({
    section: 'Keys and tokens',
    schema: httpUrl,
    default: 'http://127.0.0.1:18200',
    expected: 'an http(s) URL',
    meaning: 'the Vault or OpenBao server of HOTDASH_KMS=transit (deploy/local/vault.sh runs one on HOTDASH_VAULT_PORT)',
    readBy: 'every service that encrypts or decrypts tenant data',
  }),
  HOTDASH_KMS_TRANSIT_TOKEN: setting({
    section: 'Keys and tokens',
    schema: text(4_096),
    shownDefault: 'none (required with HOTDASH_KMS=transit)',
    expected: 'a Vault or OpenBao token (one line)',
    meaning: 'the token of HOTDASH_KMS=transit: allowed to encrypt, decrypt and rewrap with the transit key and to read it (`deploy/local/vault.sh env` prints the local one)',
    readBy: 'every service that encrypts or decrypts tenant data',
    secret: true,
  }),
  HOTDASH_KMS_TRANSIT_KEY: setting({
    section: 'Keys and tokens',
    schema: z.string().refine((s) => /^[A-Za-z0-9][A-Za-z0-9._-]{0,43}$/.test(s), 'not a transit key name (letters, digits, ".", "_", "-"; at most 44)'),
    default: 'hotdash-kek',
    expected: 'a transit key name (at most 44 characters)',
    meaning: 'the transit key of HOTDASH_KMS=transit (derived, aes256-gcm96); its versions are the KEK ids `transit:<key>:v<n>`',
    readBy: 'every service that encrypts or decrypts tenant data, deploy/local/vault.sh',
  }),
  HOTDASH_KEY_ROTATION_BATCH: setting({
    section: 'Keys and tokens',
    schema: positiveInt(1_000),
    default: 50,
    expected: 'an integer from 1 to 1000',
    meaning: 'tenant data keys a KEK rotation re-wraps per batch (one transaction, one durable step of its saga)',
    readBy: 'provisioning',
  }),
  HOTDASH_EGRESS_ALLOW: setting({
    section: 'Keys and tokens',
    schema: text(10_000),
    shownDefault: 'none',
    expected: 'IPs, CIDRs or host names (each optionally :port) or http://host:port, comma separated',
    meaning:
      'destinations a tenant’s own model endpoint may reach although not public (loopback, private, link-local, …); `http://host:port` also allows plain http to exactly that origin; the platform’s own addresses are refused whatever this says. Each entry is checked when the egress guard is made (at start). Provisioning applies the same rules to the endpoint an admin sets in the tenant settings, and the gateway to a tenant’s single sign-on provider (its issuer and every endpoint it names), so give these services the same list',
    readBy: 'ai-drafting, provisioning, gateway',
  }),

  // Models and the knowledge base
  HOTDASH_DRAFTING_MODEL: setting({
    section: 'Models and the knowledge base',
    schema: oneOf(['offline', 'openai']),
    default: 'offline',
    expected: '`offline` or `openai`',
    meaning: 'the platform’s drafting model: `offline` (extractive, deterministic, cites its passages) or `openai` (HOTDASH_OPENAI_BASE_URL, HOTDASH_OPENAI_API_KEY, HOTDASH_CHAT_MODEL)',
    readBy: 'ai-drafting',
  }),
  HOTDASH_EMBEDDER: setting({
    section: 'Models and the knowledge base',
    schema: oneOf(['local', 'openai']),
    default: 'local',
    expected: '`local` or `openai`',
    meaning: 'the platform’s embedder: `local` (offline, deterministic) or `openai` (HOTDASH_OPENAI_*, HOTDASH_EMBEDDING_MODEL)',
    readBy: 'knowledge, ai-drafting',
  }),
  HOTDASH_EMBEDDING_DIMENSIONS: setting({
    section: 'Models and the knowledge base',
    schema: positiveInt(65_536),
    shownDefault: '`384` (local), `1536` (openai)',
    expected: 'an integer from 1 to 65536',
    meaning: 'the embeddings’ dimensions',
    readBy: 'knowledge, ai-drafting',
  }),
  HOTDASH_EMBEDDING_MODEL: setting({ section: 'Models and the knowledge base', schema: text(200), default: 'text-embedding-3-small', expected: 'a model name', meaning: 'the embedding model (embedder `openai`)', readBy: 'knowledge, ai-drafting' }),
  HOTDASH_CHAT_MODEL: setting({ section: 'Models and the knowledge base', schema: text(200), default: 'gpt-4o-mini', expected: 'a model name', meaning: 'the drafting model (drafting model `openai`)', readBy: 'ai-drafting' }),
  HOTDASH_OPENAI_BASE_URL: setting({ section: 'Models and the knowledge base', schema: httpUrl, default: 'https://api.openai.com/v1', expected: 'an http(s) URL', meaning: 'the platform’s OpenAI-compatible endpoint', readBy: 'knowledge, ai-drafting' }),
  HOTDASH_OPENAI_API_KEY: setting({ section: 'Models and the knowledge base', schema: text(), shownDefault: 'none', expected: 'an API key (one line)', meaning: 'the platform’s key for that endpoint', readBy: 'knowledge, ai-drafting', secret: true }),

  // Ops command line
  HOTDASH_GATEWAY_URL: setting({
    section: 'Ops command line (hotdash-ops, ops:operator)',
    schema: httpUrl,
    shownDefault: 'the gateway of the stored login, else `http://127.0.0.1:3100`',
    expected: 'an http(s) URL',
    meaning: 'the gateway hotdash-ops talks to (`--gateway` wins)',
    readBy: 'hotdash-ops',
  }),
  HOTDASH_OPS_PASSWORD: setting({ section: 'Ops command line (hotdash-ops, ops:operator)', schema: text(200), shownDefault: 'asked for, without echo', expected: 'a password (one line)', meaning: 'the ops account’s password for `hotdash-ops login` and `npm run ops:operator -- add`', readBy: 'hotdash-ops, ops:operator', secret: true }),
  HOTDASH_OPS_TOKEN: setting({ section: 'Ops command line (hotdash-ops, ops:operator)', schema: text(4_096), shownDefault: 'the stored login', expected: 'an ops token', meaning: 'an ops token to use instead of the stored login (automation)', readBy: 'hotdash-ops', secret: true }),
  HOTDASH_OPS_PROGRESS: setting({ section: 'Ops command line (hotdash-ops, ops:operator)', schema: oneOf(['always']), shownDefault: 'progress on terminals only', expected: '`always`', meaning: 'draw progress lines even when not on a terminal (CI logs)', readBy: 'hotdash-ops' }),
  HOTDASH_PILOT_DB_USER: setting({ section: 'Ops command line (hotdash-ops, ops:operator)', schema: word, default: 'hotdash_import', expected: 'a PostgreSQL role name', meaning: 'the pilot’s import role (`imports start`; `--pilot-user` wins)', readBy: 'hotdash-ops' }),
  HOTDASH_PILOT_DB_PASSWORD: setting({ section: 'Ops command line (hotdash-ops, ops:operator)', schema: text(), shownDefault: '`--pilot-password-file`, else asked for', expected: 'a password (one line)', meaning: 'the import role’s password', readBy: 'hotdash-ops', secret: true }),
  HOTDASH_PILOT_KMS_MASTER_KEYS: setting({ section: 'Ops command line (hotdash-ops, ops:operator)', schema: text(4_096), shownDefault: 'HOTDASH_KMS_MASTER_KEYS of `--pilot-env`', expected: 'the pilot’s HOTDASH_KMS_MASTER_KEYS (id:base64, comma separated)', meaning: 'the pilot’s key-encryption keys for its import', readBy: 'hotdash-ops', secret: true }),
  HOTDASH_CARRY_PASSPHRASE: setting({ section: 'Ops command line (hotdash-ops, ops:operator)', schema: text(1_000), shownDefault: 'asked for, without echo', expected: 'a passphrase of 12 characters or more (one line)', meaning: 'seals a tenant’s data key in a carry bundle (`npm run ops:carry -- export`) and opens it (`import`): docs/operations.md, "From embedded mode to the stack"', readBy: 'ops:carry', secret: true }),

  // Local stack, CI and the test suite
  HOTDASH_STATE: setting({ section: 'Local stack, CI and the test suite', schema: path, shownDefault: '`.local` of the checkout', expected: 'a directory path', meaning: 'deploy/local’s data, logs and pids', readBy: 'deploy/local/infra.sh, deploy/local/vault.sh, the transit KMS spec' }),
  HOTDASH_CACHE: setting({ section: 'Local stack, CI and the test suite', schema: path, shownDefault: '`~/.cache/hotdash`', expected: 'a directory path', meaning: 'built or downloaded tools (Node 24, Kafka jars, the Weaviate and Vault binaries)', readBy: 'scripts/node24.sh, deploy/local/infra.sh, deploy/local/vault.sh, test fixtures' }),
  HOTDASH_NODE_VERSION: setting({ section: 'Local stack, CI and the test suite', schema: z.string().refine((s) => /^\d+\.\d+\.\d+$/.test(s), 'not a version x.y.z'), default: '24.22.3', expected: 'a Node.js version x.y.z', meaning: 'the Node 24 taken from the npm registry when the machine’s node is older', readBy: 'scripts/node24.sh' }),
  HOTDASH_WEAVIATE_VERSION: setting({ section: 'Local stack, CI and the test suite', schema: z.string().refine((s) => /^v\d+\.\d+\.\d+$/.test(s), 'not a version vX.Y.Z'), default: 'v1.35.2', expected: 'a Weaviate version vX.Y.Z', meaning: 'the Weaviate deploy/local builds (`go install`)', readBy: 'deploy/local/infra.sh, test fixtures' }),
  HOTDASH_WEAVIATE_PORT: setting({ section: 'Local stack, CI and the test suite', schema: port, default: LOCAL_PORTS.weaviate as number, expected: 'a TCP port (1 to 65535)', meaning: 'the local Weaviate’s HTTP port (deploy/local/ports.env)', readBy: 'deploy/local' }),
  HOTDASH_VAULT_PORT: setting({ section: 'Local stack, CI and the test suite', schema: port, default: 18200, expected: 'a TCP port (1 to 65535)', meaning: 'the local Vault’s HTTP port, its cluster port the next one (deploy/local/ports.env, deploy/local/vault.sh)', readBy: 'deploy/local/vault.sh' }),
  HOTDASH_KAFKA_PORT: setting({ section: 'Local stack, CI and the test suite', schema: port, default: LOCAL_PORTS.kafka as number, expected: 'a TCP port (1 to 65535)', meaning: 'the local Kafka broker’s port (deploy/local/ports.env)', readBy: 'deploy/local' }),
  HOTDASH_SMTP_PORT: setting({ section: 'Local stack, CI and the test suite', schema: port, default: 1025, expected: 'a TCP port (1 to 65535)', meaning: 'the local Mailpit’s SMTP port (deploy/local/ports.env; `npm run start:stack` points HOTDASH_SMTP_URL at it)', readBy: 'deploy/local, the specs' }),
  HOTDASH_JAEGER_OTLP_HTTP_PORT: setting({ section: 'Local stack, CI and the test suite', schema: port, default: 4318, expected: 'a TCP port (1 to 65535)', meaning: 'the local Jaeger’s OTLP/HTTP receiver (deploy/local/ports.env; `npm run start:stack` points OTEL_EXPORTER_OTLP_ENDPOINT at it)', readBy: 'deploy/local, scripts/start.mjs' }),
  HOTDASH_JAEGER_OTLP_GRPC_PORT: setting({ section: 'Local stack, CI and the test suite', schema: port, default: 4317, expected: 'a TCP port (1 to 65535)', meaning: 'the local Jaeger’s OTLP/gRPC receiver (deploy/local/ports.env)', readBy: 'deploy/local' }),
  HOTDASH_JAEGER_UI_PORT: setting({ section: 'Local stack, CI and the test suite', schema: port, default: 16686, expected: 'a TCP port (1 to 65535)', meaning: 'the local Jaeger’s web UI and HTTP query API, where the traces the local stack exports can be read (deploy/local/ports.env)', readBy: 'deploy/local, scripts/start.mjs' }),
  HOTDASH_JAEGER_QUERY_GRPC_PORT: setting({ section: 'Local stack, CI and the test suite', schema: port, default: 16685, expected: 'a TCP port (1 to 65535)', meaning: 'the local Jaeger’s gRPC query API (deploy/local/ports.env)', readBy: 'deploy/local' }),
  HOTDASH_JAEGER_VERSION: setting({ section: 'Local stack, CI and the test suite', schema: z.string().refine((s) => /^v\d+\.\d+\.\d+$/.test(s), 'not a version vX.Y.Z'), default: 'v1.75.0', expected: 'a Jaeger version vX.Y.Z', meaning: 'the Jaeger (`cmd/jaeger`, the all-in-one) deploy/local builds from its Go module', readBy: 'deploy/local/infra.sh' }),
  HOTDASH_MAILPIT_UI_PORT: setting({ section: 'Local stack, CI and the test suite', schema: port, default: 8025, expected: 'a TCP port (1 to 65535)', meaning: 'the local Mailpit’s web UI and API, where the mail the local stack sends can be read (deploy/local/ports.env)', readBy: 'deploy/local, the specs' }),
  HOTDASH_KAFKA_CONTROLLER_PORT: setting({ section: 'Local stack, CI and the test suite', schema: port, default: 19093, expected: 'a TCP port (1 to 65535)', meaning: 'the local Kafka controller’s port (deploy/local/ports.env)', readBy: 'deploy/local' }),
  HOTDASH_REDIS_CLUSTER_PORT: setting({ section: 'Local stack, CI and the test suite', schema: positiveInt(55_533), default: 7001, expected: 'a TCP port (1 to 55533: its bus port is 10000 higher)', meaning: 'the first of the three ports of deploy/local’s Redis Cluster (three masters on this port and the next two; their cluster bus on port + 10000); the cluster specs use it when HOTDASH_REDIS_CLUSTER_NODES is unset', readBy: 'deploy/local/infra.sh, test fixtures' }),
  HOTDASH_WEAVIATE_NOFILE: setting({ section: 'Local stack, CI and the test suite', schema: positiveInt(), default: 65_536, expected: 'a positive integer', meaning: 'the open-files limit deploy/local asks for the local Weaviate (the hard limit when lower)', readBy: 'deploy/local/infra.sh' }),
  HOTDASH_WEAVIATE_NOFILE_MIN: setting({ section: 'Local stack, CI and the test suite', schema: positiveInt(), default: 16_384, expected: 'a positive integer', meaning: 'the least open-files limit the local Weaviate must get, or deploy/local refuses to start it', readBy: 'deploy/local/infra.sh' }),
  HOTDASH_PG_BIN: setting({ section: 'Local stack, CI and the test suite', schema: path, shownDefault: 'the newest `/usr/lib/postgresql/*/bin`', expected: 'a directory path', meaning: 'PostgreSQL’s programs for deploy/local', readBy: 'deploy/local/infra.sh' }),
  HOTDASH_PG_FSYNC: setting({ section: 'Local stack, CI and the test suite', schema: onOff, default: 'on', expected: '`on` or `off`', meaning: 'the local PostgreSQL’s `fsync`', readBy: 'deploy/local/infra.sh' }),
  HOTDASH_PG_SYNC_COMMIT: setting({ section: 'Local stack, CI and the test suite', schema: oneOf(['on', 'off', 'local', 'remote_write', 'remote_apply']), default: 'on', expected: 'a `synchronous_commit` value (on, off, local, remote_write, remote_apply)', meaning: 'the local PostgreSQL’s `synchronous_commit`', readBy: 'deploy/local/infra.sh' }),
  HOTDASH_PG_SOCKET_DIR: setting({ section: 'Local stack, CI and the test suite', schema: path, shownDefault: '`.local/pg/run` of the checkout', expected: 'a directory path', meaning: 'the local PostgreSQL’s superuser socket (test fixtures, benchmarks)', readBy: 'test fixtures, bench' }),
  HOTDASH_SKIP_STATIC: setting({ section: 'Local stack, CI and the test suite', schema: oneOf(['0', '1']), default: '0', expected: '`0` or `1`', meaning: '`1`: `npm test` skips typecheck and lint', readBy: 'scripts/test.mjs' }),
  HOTDASH_SKIP_INFRA: setting({ section: 'Local stack, CI and the test suite', schema: oneOf(['0', '1']), default: '0', expected: '`0` or `1`', meaning: '`1`: `npm test` does not bring the infrastructure up', readBy: 'scripts/test.mjs' }),
  HOTDASH_CHROMIUM: setting({ section: 'Local stack, CI and the test suite', schema: absolutePath, default: '/usr/bin/chromium', expected: 'an absolute path', meaning: 'the Chromium the browser specs drive', readBy: 'test fixtures' }),
  HOTDASH_SAGA_QUEUE: setting({ section: 'Local stack, CI and the test suite', schema: word, shownDefault: 'the engine’s', expected: 'a queue name', meaning: 'the saga queue a spec’s worker process, or a spec’s provisioning service, works (crash and kill specs)', readBy: 'test child processes, provisioning' }),
  HOTDASH_RELAY_LOCATION: setting({
    section: 'Local stack, CI and the test suite',
    schema: z.string().refine((s) => {
      try {
        const v = JSON.parse(s) as { host?: unknown; port?: unknown; database?: unknown };
        return typeof v.host === 'string' && typeof v.port === 'number' && typeof v.database === 'string';
      } catch {
        return false;
      }
    }, 'not JSON {host, port, database}'),
    shownDefault: 'none',
    expected: 'JSON {host, port, database}',
    meaning: 'the database a spec’s relay process relays (outbox crash spec)',
    readBy: 'test child processes',
  }),
  HOTDASH_RELAY_CRASH_AFTER_SEND: setting({
    section: 'Local stack, CI and the test suite',
    schema: z.string().refine((s) => /^(0|1|0?\.\d+)$/.test(s), 'not a probability from 0 to 1'),
    default: '0',
    expected: 'a probability from 0 to 1',
    meaning: 'how likely a spec’s relay process kills itself after a send (outbox crash spec)',
    readBy: 'test child processes',
  }),
  HOTDASH_RELAY_BATCH: setting({ section: 'Local stack, CI and the test suite', schema: positiveInt(10_000), default: 5, expected: 'an integer from 1 to 10000', meaning: 'a spec’s relay process’s batch size (outbox crash spec)', readBy: 'test child processes' }),
} as const;

export type SettingName = keyof typeof SETTINGS;
/** The parsed environment: every setting, typed, its default applied. */
export type Settings = { readonly [K in SettingName]: (typeof SETTINGS)[K]['_value'] };

export const SERVICE_DEFAULT_PORTS = SERVICE_PORTS;

// ---- parsing -----------------------------------------------------------------------------------

/** A configuration that cannot run; `problems` names each variable and what it must be. */
export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(problems.length === 1 ? `configuration refused: ${problems[0]}` : `configuration refused (${problems.length} problems):\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

export interface ParseOptions {
  /** Refuse HOTDASH_* variables this schema does not declare (what a service does at start). */
  strict?: boolean;
}

const isSetting = (name: string): name is SettingName => Object.prototype.hasOwnProperty.call(SETTINGS, name);

function problemOf(name: SettingName, raw: string, error: z.ZodError): string {
  const def = SETTINGS[name] as SettingSpec<unknown>;
  const details = [...new Set(error.issues.map((i) => i.message))].filter(Boolean).slice(0, 5);
  const shown = def.secret ? 'a value not shown here (a secret)' : JSON.stringify(raw.length > 120 ? `${raw.slice(0, 120)}…` : raw);
  return `${name} must be ${def.expected}, got ${shown}${details.length ? ` (${details.join('; ')})` : ''}`;
}

/** One setting, parsed (its default when unset or empty); a malformed value throws a ConfigError naming it. */
export function readSetting<K extends SettingName>(name: K, env: NodeJS.ProcessEnv = process.env): Settings[K] {
  const def = SETTINGS[name] as SettingSpec<unknown>;
  const raw = env[name];
  if (raw === undefined || raw === '') return def.default as Settings[K];
  const r = def.schema.safeParse(raw);
  if (!r.success) throw new ConfigError([problemOf(name, raw, r.error)]);
  return r.data as Settings[K];
}

/**
 * Every setting, parsed and typed, defaults applied. Throws a ConfigError listing every problem:
 * malformed values, settings required in production (NODE_ENV=production) that are missing, and
 * with `strict`, HOTDASH_* variables that are not settings (with the setting they probably meant).
 */
export function parseSettings(env: NodeJS.ProcessEnv = process.env, options: ParseOptions = {}): Settings {
  const problems: string[] = [];
  const out: Record<string, unknown> = {};
  for (const name of Object.keys(SETTINGS) as SettingName[]) {
    const def = SETTINGS[name] as SettingSpec<unknown>;
    const raw = env[name];
    if (raw === undefined || raw === '') {
      out[name] = def.default;
      continue;
    }
    const r = def.schema.safeParse(raw);
    if (r.success) out[name] = r.data;
    else problems.push(problemOf(name, raw, r.error));
  }
  if (env.NODE_ENV === 'production') {
    for (const name of Object.keys(SETTINGS) as SettingName[]) {
      const required = (SETTINGS[name] as SettingSpec<unknown>).requiredInProduction;
      if (!required || env[name]) continue;
      if (name === 'HOTDASH_AUTH_VERIFY_KEYS' && env.HOTDASH_AUTH_SIGNING_KEY) continue;
      problems.push(`${name} is not set; it is required in production: ${required}`);
    }
  }
  if (options.strict) {
    for (const name of Object.keys(env).sort()) {
      if (!name.startsWith('HOTDASH_') || isSetting(name)) continue;
      const guess = suggestSetting(name);
      problems.push(
        `${name} is not a HotDash setting${guess ? `; did you mean ${guess} (${(SETTINGS[guess] as SettingSpec<unknown>).meaning.split(';')[0]})?` : '.'} Every HOTDASH_* variable must be one of those in docs/configuration.md (a misspelt one would leave the setting it meant at its default).`,
      );
    }
  }
  if (problems.length) throw new ConfigError(problems);
  return out as Settings;
}

/** Optimal string alignment distance (Levenshtein with transpositions). */
function distance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  return d[a.length]![b.length]!;
}

/**
 * The setting an unknown HOTDASH_* name probably meant: the nearest name within a few edits (a typo,
 * a missing or doubled letter, two letters swapped), else one whose keywords the name holds
 * (HOTDASH_DEADLETTER → HOTDASH_CONSUMER_MAX_ATTEMPTS). Undefined when nothing is close.
 */
export function suggestSetting(unknown: string): SettingName | undefined {
  const name = unknown.toUpperCase();
  let best: { name: SettingName; d: number } | undefined;
  for (const candidate of Object.keys(SETTINGS) as SettingName[]) {
    const d = distance(name, candidate);
    if (!best || d < best.d) best = { name: candidate, d };
  }
  const rest = name.replace(/^HOTDASH_/, '');
  if (best && best.d <= Math.max(2, Math.floor(rest.length / 4))) return best.name;
  const squashed = rest.replace(/[^A-Z0-9]/g, '');
  for (const candidate of Object.keys(SETTINGS) as SettingName[]) {
    const keywords = (SETTINGS[candidate] as SettingSpec<unknown>).keywords ?? [];
    if (keywords.some((k) => squashed.includes(k))) return candidate;
  }
  return undefined;
}

/** The settings a docs table lists, in order: section by section, as declared. */
export function settingsBySection(): { section: Section; names: SettingName[] }[] {
  return SECTIONS.map((section) => ({ section, names: (Object.keys(SETTINGS) as SettingName[]).filter((n) => SETTINGS[n].section === section) }));
}
