import type { PlatformConfig } from '@hotdash/platform-config';
import { createRedis, type RedisClient } from '../redis';
import { InProcessTenantSlots, TenantConcurrencyLimiter, type TenantLimiterOptions, type TenantSlots } from '../tenant-limiter';
import type { JobsPort } from './jobs.port';

/** A queue's per-tenant slots, with what they opened to close at shutdown. */
export interface ClosableTenantSlots extends TenantSlots {
  close(): Promise<void>;
  /** The Redis connection the slots use on the stack (readiness probes it), none in embedded mode. */
  readonly redis?: RedisClient;
}

/**
 * Per-tenant job caps for `queueName` that fit the jobs port in use: counted in Redis across every
 * worker process for BullMQ (a connection of their own), in this process's memory for the embedded
 * runner (one process runs every job).
 */
export function tenantSlotsFor(config: PlatformConfig, jobs: JobsPort, queueName: string, options: TenantLimiterOptions): ClosableTenantSlots {
  if (jobs.kind === 'embedded') {
    const slots = new InProcessTenantSlots(options.cap, options.retryDelayMs);
    return Object.assign(slots, { close: async () => undefined });
  }
  const redis = createRedis(config, { maxRetriesPerRequest: 2 });
  const limiter = new TenantConcurrencyLimiter(redis, queueName, options);
  return Object.assign(limiter, { redis, close: async () => void redis.disconnect() });
}
