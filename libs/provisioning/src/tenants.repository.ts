import { Injectable } from '@nestjs/common';
import type { TenantId } from '@hotdash/contracts';
import type { ControlTx } from '@hotdash/platform-db';

export interface TenantDto {
  id: string;
  name: string;
  plan: string;
  status: string;
  shard: string;
  createdAt: string;
}

/** Control-plane tenants and placements (provisioning's own tables). */
@Injectable()
export class TenantsRepository {
  async leastLoadedSharedShard(tx: ControlTx): Promise<{ id: string; name: string } | undefined> {
    // Row lock on the chosen shard serialises concurrent sign-ups so they spread across shards.
    const rows = await tx.$queryRaw<{ id: string; name: string }[]>`
      select s.id::text as id, s.name from shards s
      where s.kind = 'shared' and s.status = 'active'
      order by (select count(*) from tenant_placements p where p.shard_id = s.id), s.name
      limit 1 for update of s`;
    return rows[0];
  }

  async insert(tx: ControlTx, t: { id: TenantId; name: string; planCode: string; shardId: string }): Promise<Omit<TenantDto, 'shard'>> {
    const row = await tx.tenant.create({
      data: { id: t.id, name: t.name, planCode: t.planCode, status: 'active', placement: { create: { shardId: t.shardId } } },
    });
    return { id: row.id, name: row.name, plan: row.planCode, status: row.status, createdAt: row.createdAt.toISOString() };
  }

  async findById(tx: ControlTx, id: string): Promise<TenantDto | undefined> {
    const row = await tx.tenant.findUnique({ where: { id }, include: { placement: { include: { shard: true } } } });
    if (!row) return undefined;
    return { id: row.id, name: row.name, plan: row.planCode, status: row.status, shard: row.placement?.shard.name ?? '', createdAt: row.createdAt.toISOString() };
  }
}
