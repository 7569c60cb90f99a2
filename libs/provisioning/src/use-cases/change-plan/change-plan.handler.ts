import { Inject, Injectable } from '@nestjs/common';
import { changePlanBody, parseTenantId, PlanCode, TenantEvents } from '@hotdash/contracts';
import { ControlDatabase } from '@hotdash/platform-db';
import { notFound, parseInput, ProblemException } from '@hotdash/platform-http';
import { publishInTx } from '@hotdash/platform-messaging';
import { TenantDto, TenantsRepository } from '../../tenants.repository';
import { PROVISIONING_REDIS } from '../../provisioning.tokens';
import { publishTenantLimits, TenantLimits } from '@hotdash/platform-auth';
import type Redis from 'ioredis';
import type { ControlTx } from '@hotdash/platform-db';

async function limitsOf(tx: ControlTx, plan: string): Promise<TenantLimits> {
  const [p] = await tx.$queryRaw<{ rpm: number; inflight: number }[]>`select rate_limit_per_minute as rpm, concurrency_limit as inflight from plans where code = ${plan}`;
  return { requestsPerMinute: p!.rpm, inFlight: p!.inflight };
}
import { PROVISIONING_PRODUCER } from '../../saga/provisioning.saga';


/** Changes an active or suspended tenant's plan; its limits change at once (tenant.plan-changed). */
@Injectable()
export class ChangePlanHandler {
  constructor(
    @Inject(ControlDatabase) private readonly control: ControlDatabase,
    @Inject(TenantsRepository) private readonly tenants: TenantsRepository,
    @Inject(PROVISIONING_REDIS) private readonly redis: Redis,
  ) {}

  async execute(id: string, body: unknown, actorId: string, correlationId: string): Promise<TenantDto> {
    const tenantId = parseTenantId(id);
    const { plan } = parseInput(changePlanBody, body, (path) => (path === 'plan' ? 'invalid-plan' : undefined));
    let previous: TenantLimits | undefined;
    try {
      return await this.control.transaction(async (tx) => {
        const rows = await tx.$queryRaw<{ plan_code: string; status: string }[]>`select plan_code, status from tenants where id = ${tenantId}::uuid for update`;
        const t = rows[0];
        if (!t) throw notFound(`tenant ${tenantId}`);
        if (t.status !== 'active' && t.status !== 'suspended')
          throw new ProblemException(409, 'invalid-tenant-status', 'Invalid tenant status', `tenant ${tenantId} is ${t.status}; plans change only for active or suspended tenants`);
        if (t.plan_code !== plan) {
          await tx.$executeRaw`update tenants set plan_code = ${plan}, updated_at = now() where id = ${tenantId}::uuid`;
          await publishInTx(tx, TenantEvents.PLAN_CHANGED, { tenantId, from: t.plan_code as PlanCode, to: plan, by: actorId }, { tenantId, producer: PROVISIONING_PRODUCER, correlationId });
          // Every gateway reads the tenant's limits from Redis on each request: publishing them makes
          // the change immediate. Before the commit, so that a Redis outage fails the change (503)
          // instead of leaving gateways with the old plan's limits.
          previous = await limitsOf(tx, t.plan_code);
          try {
            await publishTenantLimits(this.redis, tenantId, await limitsOf(tx, plan));
          } catch {
            previous = undefined;
            throw new ProblemException(503, 'limits-unavailable', 'Limits store unavailable', 'The new plan could not be applied to the gateways; nothing was changed. Retry in a moment.');
          }
        }
        return (await this.tenants.findById(tx, tenantId))!;
      });
    } catch (err) {
      // The commit failed after the new limits were published: put the old ones back (best effort).
      if (previous) await publishTenantLimits(this.redis, tenantId, previous).catch(() => undefined);
      throw err;
    }
  }
}
