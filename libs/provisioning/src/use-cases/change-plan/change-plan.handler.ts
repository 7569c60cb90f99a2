import { Inject, Injectable } from '@nestjs/common';
import { sql, type Kysely } from 'kysely';
import { changePlanBody, parseTenantId, PlanCode, TenantEvents } from '@hotdash/contracts';
import { ControlDatabase, type ControlDB } from '@hotdash/platform-db';
import { notFound, parseInput, ProblemException } from '@hotdash/platform-http';
import { publishInTx } from '@hotdash/platform-messaging';
import { publishTenantLimits, TenantLimits } from '@hotdash/platform-auth';
import type Redis from 'ioredis';
import { TenantDto, TenantsRepository } from '../../tenants.repository';
import { PROVISIONING_REDIS } from '../../provisioning.tokens';
import { PROVISIONING_PRODUCER } from '../../saga/provisioning.saga';

async function limitsOf(db: Kysely<ControlDB>, plan: string): Promise<TenantLimits> {
  const p = await db.selectFrom('plans').select(['rate_limit_per_minute', 'concurrency_limit']).where('code', '=', plan).executeTakeFirstOrThrow();
  return { requestsPerMinute: p.rate_limit_per_minute, inFlight: p.concurrency_limit };
}

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
      await this.control.withControl(async (tx) => {
        const t = await tx.db.selectFrom('tenants').select(['plan_code', 'status']).where('id', '=', tenantId).forUpdate().executeTakeFirst();
        if (!t) throw notFound(`tenant ${tenantId}`);
        if (t.status !== 'active' && t.status !== 'suspended')
          throw new ProblemException(409, 'invalid-tenant-status', 'Invalid tenant status', `tenant ${tenantId} is ${t.status}; plans change only for active or suspended tenants`);
        if (t.plan_code === plan) return;
        await tx.db.updateTable('tenants').set({ plan_code: plan, updated_at: sql`now()` }).where('id', '=', tenantId).execute();
        await publishInTx(tx, TenantEvents.PLAN_CHANGED, { tenantId, from: t.plan_code as PlanCode, to: plan, by: actorId }, { tenantId, producer: PROVISIONING_PRODUCER, correlationId });
        // Every gateway reads the tenant's limits from Redis on each request: publishing them makes
        // the change immediate. Before the commit, so that a Redis outage fails the change (503)
        // instead of leaving gateways with the old plan's limits.
        previous = await limitsOf(tx.db, t.plan_code);
        try {
          await publishTenantLimits(this.redis, tenantId, await limitsOf(tx.db, plan));
        } catch {
          previous = undefined;
          throw new ProblemException(503, 'limits-unavailable', 'Limits store unavailable', 'The new plan could not be applied to the gateways; nothing was changed. Retry in a moment.');
        }
      });
    } catch (err) {
      // The commit failed after the new limits were published: put the old ones back (best effort).
      if (previous) await publishTenantLimits(this.redis, tenantId, previous).catch(() => undefined);
      throw err;
    }
    // The tenant as it is now (provisioning's record read, Prisma Client on this cold path).
    return (await this.tenants.findById(this.control.client, tenantId))!;
  }
}
