import type { ConnectionOptions } from 'bullmq';
import type { PlatformConfig } from '@hotdash/platform-config';

/** Every BullMQ queue of the platform. Job data always carries what the processor needs to re-enter its tenant. */
export enum QueueName {
  /** Saga steps and compensations (libs/platform/jobs/src/saga). */
  SAGA_STEPS = 'hotdash-saga-steps',
  /** Knowledge-base ingestion: one job per document version (libs/knowledge). */
  KNOWLEDGE_INGESTION = 'hotdash-knowledge-ingestion',
  /** Model calls: one job per draft of a ticket (libs/ai-drafting). */
  AI_DRAFTING = 'hotdash-ai-drafting',
}

/** BullMQ connection options for the configured Redis (workers need maxRetriesPerRequest: null). */
export function redisConnection(config: PlatformConfig): ConnectionOptions {
  return { host: config.redis.host, port: config.redis.port, maxRetriesPerRequest: null, enableOfflineQueue: true };
}

/**
 * Redis keys that belong to one tenant start with this prefix, so offboarding can find and delete
 * them all (`SCAN MATCH hotdash:t:<tenantId>:*`). Keys without a tenant never use it.
 */
export function tenantKeyPrefix(tenantId: string): string {
  return `hotdash:t:${tenantId}:`;
}
