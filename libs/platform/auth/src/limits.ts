import { type RedisClient, tenantKeyPrefix } from '@hotdash/platform-jobs';
import type { EmbeddedStateFile } from './state/embedded-state-file';

/** A tenant's request limits (from its plan): requests per sliding minute and requests in flight. */
export interface TenantLimits {
  requestsPerMinute: number;
  inFlight: number;
}

/** Redis hash the gateways read a tenant's limits from on every request (fields rpm, inflight). */
export function tenantLimitsKey(tenantId: string): string {
  return `${tenantKeyPrefix(tenantId)}limits`;
}

/**
 * Publishes a tenant's limits to every gateway at once (provisioning calls it on every plan change): the next request of the tenant, on any gateway, is judged by them.
 */
export async function publishTenantLimits(redis: RedisClient, tenantId: string, limits: TenantLimits): Promise<void> {
  await redis.hset(tenantLimitsKey(tenantId), { rpm: String(limits.requestsPerMinute), inflight: String(limits.inFlight) });
}

/**
 * The port provisioning publishes a tenant's limits through (HOTDASH_STATE_STORE chooses the adapter,
 * state-stores.ts): the tenant's limits hash in Redis, or the same key in the embedded state file,
 * where the embedded rate limiter reads it.
 */
export abstract class TenantLimitsStore {
  abstract publish(tenantId: string, limits: TenantLimits): Promise<void>;
}

export class RedisTenantLimitsStore extends TenantLimitsStore {
  constructor(private readonly redis: RedisClient) {
    super();
  }

  publish(tenantId: string, limits: TenantLimits): Promise<void> {
    return publishTenantLimits(this.redis, tenantId, limits);
  }
}

export class EmbeddedTenantLimitsStore extends TenantLimitsStore {
  constructor(private readonly state: EmbeddedStateFile) {
    super();
  }

  async publish(tenantId: string, limits: TenantLimits): Promise<void> {
    this.state.set(tenantLimitsKey(tenantId), JSON.stringify({ rpm: limits.requestsPerMinute, inflight: limits.inFlight }));
  }
}

/** The limits published under `key` in the embedded state file (what the embedded rate limiter reads), or nothing. */
export function embeddedLimitsAt(state: EmbeddedStateFile, key: string): Partial<TenantLimits> {
  const raw = state.get(key);
  if (raw === undefined) return {};
  try {
    const v = JSON.parse(raw) as { rpm?: unknown; inflight?: unknown };
    return { ...(typeof v.rpm === 'number' ? { requestsPerMinute: v.rpm } : {}), ...(typeof v.inflight === 'number' ? { inFlight: v.inflight } : {}) };
  } catch {
    return {};
  }
}
