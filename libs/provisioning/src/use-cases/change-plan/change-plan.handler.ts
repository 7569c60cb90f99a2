import { Inject, Injectable } from '@nestjs/common';
import { sql, type Kysely } from 'kysely';
import { changePlanBody, DedicatedProblems, parseTenantId, PlanCode, TenantEvents, type TenantId } from '@hotdash/contracts';
import { ControlDatabase, type ControlDB } from '@hotdash/platform-db';
import { SagaEngine } from '@hotdash/platform-jobs';
import { notFound, parseInput, ProblemException } from '@hotdash/platform-http';
import { publishInTx } from '@hotdash/platform-messaging';
import { TenantLimits, TenantLimitsStore } from '@hotdash/platform-auth';
import { TenantDto, TenantsRepository } from '../../tenants.repository';
import { PROVISIONING_PRODUCER } from '../../saga/provisioning.saga';
import { TENANT_DEDICATE_SAGA } from '../../dedicated/dedicated.sagas';

async function limitsOf(db: Kysely<ControlDB>, plan: string): Promise<TenantLimits> {
  const p = await db.selectFrom('plans').select(['rate_limit_per_minute', 'concurrency_limit']).where('code', '=', plan).executeTakeFirstOrThrow();
  return { requestsPerMinute: p.rate_limit_per_minute, inFlight: p.concurrency_limit };
}

/**
 * Changes an active or suspended tenant's plan; its limits change at once (tenant.plan-changed).
 *
 * A downgrade from Enterprise is refused (409 tenant-on-dedicated-shard) while the tenant is on a
 * dedicated shard, or a dedicate run of it is in progress: its data would stay on a database only
 * Enterprise pays for. Ops share it back first (`hotdash-ops tenants share <id>`, a live move they
 * follow and can keep or retire the freed database with), then change the plan. A plan change stays
 * what it is, an immediate change of limits; it never starts a move behind the caller's back.
 */
@Injectable()
export class ChangePlanHandler {
  constructor(
    @Inject(ControlDatabase) private readonly control: ControlDatabase,
    @Inject(TenantsRepository) private readonly tenants: TenantsRepository,
    @Inject(TenantLimitsStore) private readonly limits: TenantLimitsStore,
    @Inject(SagaEngine) private readonly engine: SagaEngine,
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
        if (t.plan_code === 'enterprise') await this.refuseDowngradeOnDedicated(tx.db, tenantId, plan);
        await tx.db.updateTable('tenants').set({ plan_code: plan, updated_at: sql`now()` }).where('id', '=', tenantId).execute();
        await publishInTx(tx, TenantEvents.PLAN_CHANGED, { tenantId, from: t.plan_code as PlanCode, to: plan, by: actorId }, { tenantId, producer: PROVISIONING_PRODUCER, correlationId });
        // Every gateway reads the tenant's limits from the TenantLimitsStore (Redis) on each request: publishing them makes
        // the change immediate. Before the commit, so that a Redis outage fails the change (503)
        // instead of leaving gateways with the old plan's limits.
        previous = await limitsOf(tx.db, t.plan_code);
        try {
          await this.limits.publish(tenantId, await limitsOf(tx.db, plan));
        } catch {
          previous = undefined;
          throw new ProblemException(503, 'limits-unavailable', 'Limits store unavailable', 'The new plan could not be applied to the gateways; nothing was changed. Retry in a moment.');
        }
      });
    } catch (err) {
      // The commit failed after the new limits were published: put the old ones back (best effort).
      if (previous) await this.limits.publish(tenantId, previous).catch(() => undefined);
      throw err;
    }
    // The tenant as it is now (provisioning's record read, Prisma Client on this cold path).
    return (await this.tenants.findById(this.control.client, tenantId))!;
  }

  /** Under the tenant's row lock (a dedicate run's start takes it too, so either sees the other). */
  private async refuseDowngradeOnDedicated(db: Kysely<ControlDB>, tenantId: TenantId, plan: string): Promise<void> {
    const placed = await db.selectFrom('tenant_placements as p').innerJoin('shards as s', 's.id', 'p.shard_id').select(['s.kind', 's.name']).where('p.tenant_id', '=', tenantId).executeTakeFirst();
    if (placed?.kind === 'dedicated')
      throw new ProblemException(
        409,
        DedicatedProblems.DOWNGRADE_ON_DEDICATED,
        'Tenant on a dedicated shard',
        `tenant ${tenantId} is on dedicated shard ${placed.name}; the ${plan} plan has no dedicated database. Share it back first (\`hotdash-ops tenants share ${tenantId}\`: a live move to a shared shard; --keep keeps the freed database for reuse), then change the plan. Nothing was changed.`,
      );
    const latest = await this.engine.latestOf(TENANT_DEDICATE_SAGA, tenantId);
    const status = latest ? (await this.engine.status(latest))?.status : undefined;
    if (status === 'running' || status === 'compensating')
      throw new ProblemException(
        409,
        DedicatedProblems.RUN_IN_PROGRESS,
        'Dedicate run in progress',
        `tenant ${tenantId} is being given a dedicated database (run ${latest}): let it finish (\`hotdash-ops dedicated watch ${tenantId} ${latest}\`), share it back, then change the plan. Nothing was changed.`,
      );
  }
}
