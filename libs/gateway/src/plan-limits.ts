import { Inject, Injectable } from '@nestjs/common';
import type { TenantLimits } from '@hotdash/platform-auth';
import { TenantDirectory } from '@hotdash/platform-db';

/** Plan limits change rarely and reach every gateway through Redis at once (below): a directory answer of this age will do. */
const MAX_AGE_MS = 30_000;
const CACHE_LIMIT = 10_000;

/**
 * A tenant's limits from its plan, for tenants whose limits hash is not in Redis (published by
 * provisioning on every plan change, which is what makes a change immediate; before the first
 * change a tenant has none and its plan's limits apply).
 */
@Injectable()
export class PlanLimits {
  /** The last answer per tenant, for `fresh()`: asked with every request, it must not cost a promise. */
  private readonly recent = new Map<string, { limits: TenantLimits; at: number }>();

  constructor(@Inject(TenantDirectory) private readonly directory: TenantDirectory) {}

  /** The tenant's limits as `of` answered them lately (within MAX_AGE_MS in all); else undefined (ask `of`). */
  fresh(tenantId: string): TenantLimits | undefined {
    const hit = this.recent.get(tenantId);
    // Half the age each here and in the directory: an answer is never older than MAX_AGE_MS in all.
    return hit && Date.now() - hit.at <= MAX_AGE_MS / 2 ? hit.limits : undefined;
  }

  async of(tenantId: string): Promise<TenantLimits> {
    const t = await this.directory.of(tenantId, { maxAgeMs: MAX_AGE_MS / 2 });
    // A tenant unknown to the control plane has no valid token anyway; the smallest limits are the safe answer.
    const limits = t ? { requestsPerMinute: t.plan.rateLimitPerMinute, inFlight: t.plan.concurrencyLimit } : { requestsPerMinute: 1, inFlight: 1 };
    if (t) {
      if (this.recent.size >= CACHE_LIMIT) this.recent.clear();
      this.recent.set(tenantId, { limits, at: Date.now() });
    }
    return limits;
  }
}
