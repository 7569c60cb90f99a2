import { Inject, Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { sql } from 'kysely';
import { parseSettings } from '@hotdash/platform-config';
import { parseTenantId, TenantId, TicketSlaBreachedV1 } from '@hotdash/contracts';
import { Databases, newId, ShardInfo, ShardRouter, TenantDatabase, TenantStatusCache, withShardTransaction } from '@hotdash/platform-db';
import { runInTenantContext } from '@hotdash/platform-tenancy';
import { PeriodicTask } from '@hotdash/platform-jobs';
import { flagOverdue } from './sla';

export interface SlaSweepOptions {
  /** Milliseconds between two sweeps (HOTDASH_DRAFTS_SLA_SWEEP_MS, default 30 s); 0 when the process does not sweep (`off`). */
  intervalMs: number;
  /** Milliseconds from start to the first sweep. */
  firstRunMs: number;
  /** Tenants read per call of the shard's function, and tickets flagged per tenant transaction (at most 1000). */
  batch: number;
  /** The sweep's clock (specs drive time with it; the default is the process's). */
  now: () => Date;
}

export function slaSweepOptions(env: NodeJS.ProcessEnv = process.env): SlaSweepOptions {
  return { intervalMs: parseSettings(env).HOTDASH_DRAFTS_SLA_SWEEP_MS, firstRunMs: 5_000, batch: 500, now: () => new Date() };
}

/** Provider token of the sweep's options (the module binds slaSweepOptions()). */
export const SLA_SWEEP_OPTIONS = Symbol('SLA_SWEEP_OPTIONS');

/**
 * The approval SLA's sweep: every `intervalMs`, on every shard the process knows, the shard's
 * `sla_overdue_tenants` function (prisma/tenant/migrations/20261219140000_approval_sla) names the
 * tenants with an SLA past due and not flagged yet — one query across the shard's tenants, tenant
 * ids only, the one cross-tenant read it has — and each of them is swept in its own tenant context
 * and transaction (sla.ts `flagOverdue`): tickets flagged, escalated, ticket.sla-breached published,
 * exactly once, whichever process or how many sweep. All its state is in the database, so a
 * restart only delays a breach to the next sweep. Tenants being offboarded or suspended are left
 * alone (a suspended tenant's tickets are flagged when it is reactivated).
 */
@Injectable()
export class SlaSweep implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('drafts-sla');
  private readonly task = new PeriodicTask(() => this.runOnce(), (err) => this.logger.warn(`SLA sweep failed: ${err.message}`));

  constructor(
    @Inject(Databases) private readonly dbs: Databases,
    @Inject(ShardRouter) private readonly router: ShardRouter,
    @Inject(TenantDatabase) private readonly tenantDb: TenantDatabase,
    @Inject(TenantStatusCache) private readonly statuses: TenantStatusCache,
    @Inject(SLA_SWEEP_OPTIONS) readonly options: SlaSweepOptions,
  ) {}

  onApplicationBootstrap(): void {
    if (this.options.intervalMs === 0) {
      this.logger.log('approval SLA sweep off (HOTDASH_DRAFTS_SLA_SWEEP_MS=off)');
      return;
    }
    this.task.start(this.options.firstRunMs, this.options.intervalMs);
  }

  async onModuleDestroy(): Promise<void> {
    await this.task.stop();
  }

  /** One sweep over every shard, as of `now`; resolves to the breaches it flagged. */
  async runOnce(now: Date = this.options.now()): Promise<TicketSlaBreachedV1[]> {
    const breaches: TicketSlaBreachedV1[] = [];
    for (const shard of (await this.router.listShards()).filter((s) => s.status !== 'retired')) {
      try {
        for await (const tenantId of this.overdueTenants(shard, now)) {
          try {
            breaches.push(...(await this.sweepTenant(tenantId, now)));
          } catch (err) {
            // A tenant moved or offboarded meanwhile: the next sweep sees it again, or it is gone.
            this.logger.warn(`SLA sweep of tenant ${tenantId} failed: ${(err as Error).message}`);
          }
        }
      } catch (err) {
        this.logger.warn(`SLA sweep of shard ${shard.name} failed: ${(err as Error).message}`);
      }
    }
    if (breaches.length > 0) this.logger.log(`SLA sweep flagged ${breaches.length} ticket(s) past their approval SLA`);
    return breaches;
  }

  /** One tenant's overdue tickets, in its own context and transactions, a batch at a time. */
  async sweepTenant(tenantId: TenantId, now: Date = this.options.now()): Promise<TicketSlaBreachedV1[]> {
    if ((await this.statuses.isLeaving(tenantId)) || (await this.statuses.isSuspended(tenantId))) return [];
    const batch = Math.min(Math.max(this.options.batch, 1), 1000);
    return runInTenantContext({ tenantId, actorId: 'service:drafts', correlationId: newId() }, async () => {
      const all: TicketSlaBreachedV1[] = [];
      for (;;) {
        const flagged = await this.tenantDb.withTenant(tenantId, (tx) => flagOverdue(tx, tenantId, now, batch));
        all.push(...flagged);
        if (flagged.length < batch || this.task.stopped) return all;
      }
    });
  }

  /** The shard's tenants with an SLA past due, page after page, read as the application role without a tenant (ids only). */
  private async *overdueTenants(shard: ShardInfo, now: Date): AsyncGenerator<TenantId> {
    const batch = Math.min(Math.max(this.options.batch, 1), 1000);
    let after: string | null = null;
    for (;;) {
      const { rows } = await withShardTransaction(this.dbs, shard, (tx) => sql<{ tenant_id: string }>`select tenant_id from sla_overdue_tenants(${now}::timestamptz, ${batch}::int, ${after}::uuid)`.execute(tx.db), {
        role: 'app',
      });
      for (const r of rows) yield parseTenantId(r.tenant_id);
      if (rows.length < batch || this.task.stopped) return;
      after = rows[rows.length - 1]!.tenant_id;
    }
  }
}
