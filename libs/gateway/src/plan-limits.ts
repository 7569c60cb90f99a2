import { Inject, Injectable } from '@nestjs/common';
import type { TenantLimits } from '@hotdash/platform-auth';
import { TenantDirectory } from '@hotdash/platform-db';

/** Plan limits change rarely and reach every gateway through Redis at once (below): a directory answer of this age will do. */
const MAX_AGE_MS = 30_000;

/**
 * A tenant's limits from its plan, for tenants whose limits hash is not in Redis (published by
 * provisioning on every plan change, which is what makes a change immediate; before the first
 * change a tenant has none and its plan's limits apply).
 */
@Injectable()
export class PlanLimits {
  constructor(@Inject(TenantDirectory) private readonly directory: TenantDirectory) {}

  async of(tenantId: string): Promise<TenantLimits> {
    const t = await this.directory.of(tenantId, { maxAgeMs: MAX_AGE_MS });
    // A tenant unknown to the control plane has no valid token anyway; the smallest limits are the safe answer.
    return t ? { requestsPerMinute: t.plan.rateLimitPerMinute, inFlight: t.plan.concurrencyLimit } : { requestsPerMinute: 1, inFlight: 1 };
  }
}
