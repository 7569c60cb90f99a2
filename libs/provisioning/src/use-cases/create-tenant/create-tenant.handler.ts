import { Inject, Injectable } from '@nestjs/common';
import { parseTenantId, TenantEvents } from '@hotdash/contracts';
import { ControlDatabase, newId } from '@hotdash/platform-db';
import { publishInTx } from '@hotdash/platform-messaging';
import { ProblemException } from '@hotdash/platform-http';
import { CreateTenantCommand } from './create-tenant.command';
import { TenantDto, TenantsRepository } from '../../tenants.repository';

export const PROVISIONING_PRODUCER = 'provisioning';

/**
 * Creates a tenant: the tenant row, its placement on the least-loaded shared shard, and
 * `tenant.created` in the control-plane outbox, all in one transaction.
 */
@Injectable()
export class CreateTenantHandler {
  constructor(
    @Inject(ControlDatabase) private readonly control: ControlDatabase,
    @Inject(TenantsRepository) private readonly tenants: TenantsRepository,
  ) {}

  async execute(cmd: CreateTenantCommand): Promise<TenantDto> {
    const tenantId = parseTenantId(newId());
    return this.control.transaction(async (tx) => {
      const shard = await this.tenants.leastLoadedSharedShard(tx);
      if (!shard) throw new ProblemException(503, 'no-shard-available', 'No shard available', 'No active shared shard is registered; ask ops to add one (npm run db:migrate registers the local ones).');
      const tenant = await this.tenants.insert(tx, { id: tenantId, name: cmd.name, planCode: cmd.plan, shardId: shard.id });
      await publishInTx(
        tx,
        TenantEvents.CREATED,
        { tenantId, name: cmd.name, plan: cmd.plan, shard: shard.name, createdBy: cmd.actorId },
        { tenantId, producer: PROVISIONING_PRODUCER, correlationId: cmd.correlationId },
      );
      return { ...tenant, shard: shard.name };
    });
  }
}
