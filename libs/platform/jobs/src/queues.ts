import type { ConnectionOptions } from 'bullmq';
import type { Cluster } from 'ioredis';
import type { PlatformConfig } from '@hotdash/platform-config';
import { createRedis, usesRedisCluster } from './redis';

/** Every BullMQ queue of the platform. Job data always carries what the processor needs to re-enter its tenant. */
export enum QueueName {
  /** Saga steps and compensations (libs/platform/jobs/src/saga). */
  SAGA_STEPS = 'hotdash-saga-steps',
  /** Knowledge-base ingestion: one job per document version (libs/knowledge). */
  KNOWLEDGE_INGESTION = 'hotdash-knowledge-ingestion',
  /** Model calls: one job per draft of a ticket (libs/ai-drafting). */
  AI_DRAFTING = 'hotdash-ai-drafting',
  /** Data exports: one job per export run, a tenant's or one data subject's (libs/provisioning exports). */
  DATA_EXPORT = 'hotdash-data-export',
}

/**
 * BullMQ connection for the configured Redis (workers need maxRetriesPerRequest: null): options for
 * the single node (each queue and worker opens its own connections, as before), or on a Redis
 * Cluster one `Cluster` client shared by the process's queues (BullMQ makes a plain connection
 * only from options; workers duplicate it for their blocking reads). Use it with `queuePrefix`
 * (`queueOptions` gives both): on a cluster, a queue's keys must share a hash tag.
 */
export function redisConnection(config: PlatformConfig): ConnectionOptions {
  if (!usesRedisCluster(config)) return { host: config.redis.host, port: config.redis.port, maxRetriesPerRequest: null, enableOfflineQueue: true };
  const id = config.redis.cluster!.map((n) => `${n.host}:${n.port}`).join(',');
  let shared = sharedClusters.get(id);
  if (!shared || shared.status === 'end') {
    shared = createRedis(config, { maxRetriesPerRequest: null, enableOfflineQueue: true }) as Cluster;
    sharedClusters.set(id, shared);
  }
  return shared;
}
const sharedClusters = new Map<string, Cluster>();

/** Closes the Cluster clients `redisConnection` shared (a process's shutdown, specs); queues and workers using them are closed first. */
export async function closeSharedRedisConnections(): Promise<void> {
  const all = [...sharedClusters.values()];
  sharedClusters.clear();
  await Promise.all(all.map((c) => c.quit().catch(() => c.disconnect())));
}

/**
 * BullMQ's key prefix for a queue: `bull` on the single node (the keys BullMQ always used, so the
 * jobs queued before a deploy stay), `bull:{<queue>}` on a Redis Cluster: every key of the queue
 * (BullMQ's scripts touch several at once) carries the queue's hash tag, so they share one slot,
 * and the platform's queues spread over the masters.
 */
export function queuePrefix(config: PlatformConfig, queueName: string): string {
  return usesRedisCluster(config) ? `bull:{${queueName}}` : 'bull';
}

/** `connection` and `prefix` for a BullMQ Queue, Worker or QueueEvents of `queueName` on the configured Redis. */
export function queueOptions(config: PlatformConfig, queueName: string): { connection: ConnectionOptions; prefix: string } {
  return { connection: redisConnection(config), prefix: queuePrefix(config, queueName) };
}

/**
 * Redis keys that belong to one tenant start with this prefix, so offboarding can find and delete
 * them all (`SCAN MATCH hotdash:{t:<tenantId>}:*` on every master). The braces are the tenant's
 * hash tag: on a Redis Cluster all of a tenant's keys are in one slot, so one script or MGET may
 * read several of them (the gateway's admission reads its limits, windows and revocation markers at
 * once). Keys without a tenant never use it.
 */
export function tenantKeyPrefix(tenantId: string): string {
  return `hotdash:{t:${tenantId}}:`;
}

/**
 * The prefix of a tenant's keys before issue 15 (no hash tag). Written by no current code; read
 * only where a key outlives a deploy (revocation markers, 15 min; idempotency keys, 24 h) and
 * erased by offboarding, on the single node (a cluster never had them). Remove once every
 * deployment has run the hash-tagged release for a day.
 */
export function legacyTenantKeyPrefix(tenantId: string): string {
  return `hotdash:t:${tenantId}:`;
}
