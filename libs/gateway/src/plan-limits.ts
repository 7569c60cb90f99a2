import { Inject, Injectable } from '@nestjs/common';
import type { TenantLimits } from '@hotdash/platform-auth';
import { ControlDatabase } from '@hotdash/platform-db';

const CACHE_MS = 30_000;

/**
 * A tenant's limits from its plan, for tenants whose limits hash is not in Redis (published by
 * provisioning on every plan change, which is what makes a change immediate; before the first
 * change a tenant has none and its plan's limits apply).
 */
@Injectable()
export class PlanLimits {
  private readonly cache = new Map<string, { limits: TenantLimits; at: number }>();

  constructor(@Inject(ControlDatabase) private readonly control: ControlDatabase) {}

  async of(tenantId: string): Promise<TenantLimits> {
    const hit = this.cache.get(tenantId);
    if (hit && Date.now() - hit.at < CACHE_MS) return hit.limits;
    const [row] = await this.control.client.$queryRaw<{ rpm: number; inflight: number }[]>`
      select p.rate_limit_per_minute as rpm, p.concurrency_limit as inflight from tenants t join plans p on p.code = t.plan_code where t.id = ${tenantId}::uuid`;
    // A tenant unknown to the control plane has no valid token anyway; the smallest limits are the safe answer.
    const limits = row ? { requestsPerMinute: row.rpm, inFlight: row.inflight } : { requestsPerMinute: 1, inFlight: 1 };
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(tenantId, { limits, at: Date.now() });
    return limits;
  }
}
