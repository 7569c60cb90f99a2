import { Injectable } from '@nestjs/common';
import { ControlTransaction, type ControlTx } from '@hotdash/platform-db';

export interface TenantDto {
  id: string;
  name: string;
  slug: string;
  plan: string;
  status: string;
  shard: string;
  /** Where its data lives (data residency). */
  region: string;
  createdAt: string;
}

/** Control-plane tenants and placements (provisioning's own tables). */
@Injectable()
export class TenantsRepository {
  /** The tenant with its shard, in a control-plane transaction of either kind (withControl's, or Prisma Client's on cold paths). */
  async findById(tx: ControlTx | ControlTransaction, id: string): Promise<TenantDto | undefined> {
    if (tx instanceof ControlTransaction) {
      const row = await tx.db
        .selectFrom('tenants as t')
        .leftJoin('tenant_placements as p', 'p.tenant_id', 't.id')
        .leftJoin('shards as s', 's.id', 'p.shard_id')
        .select(['t.id', 't.name', 't.slug', 't.plan_code', 't.status', 't.region', 't.created_at', 's.name as shard'])
        .where('t.id', '=', id)
        .executeTakeFirst();
      if (!row) return undefined;
      return { id: row.id, name: row.name, slug: row.slug, plan: row.plan_code, status: row.status, shard: row.shard ?? '', region: row.region, createdAt: row.created_at.toISOString() };
    }
    const row = await tx.tenant.findUnique({ where: { id }, include: { placement: { include: { shard: true } } } });
    if (!row) return undefined;
    return { id: row.id, name: row.name, slug: row.slug, plan: row.planCode, status: row.status, shard: row.placement?.shard.name ?? '', region: row.region, createdAt: row.createdAt.toISOString() };
  }
}
