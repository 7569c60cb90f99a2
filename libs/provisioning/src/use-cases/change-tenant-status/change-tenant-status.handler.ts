import { Inject, Injectable } from '@nestjs/common';
import { sql } from 'kysely';
import { parseTenantId, suspendBody, TenantEvents, TenantId } from '@hotdash/contracts';
import { ControlDatabase, ControlTransaction, TenantStatusCache } from '@hotdash/platform-db';
import { notFound, parseInput, ProblemException } from '@hotdash/platform-http';
import { publishInTx } from '@hotdash/platform-messaging';
import { TenantDto, TenantsRepository } from '../../tenants.repository';
import { PROVISIONING_PRODUCER } from '../../saga/provisioning.saga';


/**
 * Suspends an active tenant (writes refused, reads allowed, consumers skip its new work) or
 * reactivates a suspended one, with its event, in one control-plane transaction. The status check
 * and the update are one statement, so two concurrent requests cannot both succeed.
 */
@Injectable()
export class ChangeTenantStatusHandler {
  constructor(
    @Inject(ControlDatabase) private readonly control: ControlDatabase,
    @Inject(TenantsRepository) private readonly tenants: TenantsRepository,
    @Inject(TenantStatusCache) private readonly statuses: TenantStatusCache,
  ) {}

  async suspend(id: string, body: unknown, actorId: string, correlationId: string): Promise<TenantDto> {
    const { reason } = parseInput(suspendBody, body);
    return this.transition(id, 'active', 'suspended', (tx, tenantId) =>
      publishInTx(tx, TenantEvents.SUSPENDED, { tenantId, reason, by: actorId }, { tenantId, producer: PROVISIONING_PRODUCER, correlationId }),
    );
  }

  async reactivate(id: string, actorId: string, correlationId: string): Promise<TenantDto> {
    return this.transition(id, 'suspended', 'active', (tx, tenantId) =>
      publishInTx(tx, TenantEvents.REACTIVATED, { tenantId, by: actorId }, { tenantId, producer: PROVISIONING_PRODUCER, correlationId }),
    );
  }

  private async transition(
    id: string,
    from: string,
    to: string,
    announce: (tx: ControlTransaction, tenantId: TenantId) => Promise<unknown>,
  ): Promise<TenantDto> {
    const tenantId = parseTenantId(id);
    return this.control.withControl(async (tx) => {
      const { numUpdatedRows } = await tx.db.updateTable('tenants').set({ status: to, updated_at: sql`now()` }).where('id', '=', tenantId).where('status', '=', from).executeTakeFirst();
      if (numUpdatedRows === 0n) {
        const t = await this.tenants.findById(tx, tenantId);
        if (!t) throw notFound(`tenant ${tenantId}`);
        throw new ProblemException(409, 'invalid-tenant-status', 'Invalid tenant status', `tenant ${tenantId} is ${t.status}; only a ${from} tenant can be made ${to}`);
      }
      await announce(tx, tenantId);
      return (await this.tenants.findById(tx, tenantId))!;
    }).finally(() => this.statuses.invalidate(tenantId)); // this process at once; others within their cache's lifetime
  }
}
