import { Inject, Injectable } from '@nestjs/common';
import { parseTenantId, suspendBody, TenantEvents } from '@hotdash/contracts';
import { ControlDatabase, TenantStatusCache } from '@hotdash/platform-db';
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
    announce: (tx: Parameters<Parameters<ControlDatabase['transaction']>[0]>[0], tenantId: ReturnType<typeof parseTenantId>) => Promise<unknown>,
  ): Promise<TenantDto> {
    const tenantId = parseTenantId(id);
    return this.control.transaction(async (tx) => {
      const n = await tx.$executeRaw`update tenants set status = ${to}, updated_at = now() where id = ${tenantId}::uuid and status = ${from}`;
      if (n === 0) {
        const t = await this.tenants.findById(tx, tenantId);
        if (!t) throw notFound(`tenant ${tenantId}`);
        throw new ProblemException(409, 'invalid-tenant-status', 'Invalid tenant status', `tenant ${tenantId} is ${t.status}; only a ${from} tenant can be made ${to}`);
      }
      await announce(tx, tenantId);
      return (await this.tenants.findById(tx, tenantId))!;
    }).finally(() => this.statuses.invalidate(tenantId)); // this process at once; others within their cache's lifetime
  }
}
