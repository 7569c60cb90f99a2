import { type RedisClient, tenantKeyPrefix } from '@hotdash/platform-jobs';

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
