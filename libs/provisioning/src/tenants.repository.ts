import { Injectable } from '@nestjs/common';
import type { ControlTx } from '@hotdash/platform-db';

export interface TenantDto {
  id: string;
  name: string;
  slug: string;
  plan: string;
  status: string;
  shard: string;
  createdAt: string;
}

/** Control-plane tenants and placements (provisioning's own tables). */
@Injectable()
export class TenantsRepository {
  async findById(tx: ControlTx, id: string): Promise<TenantDto | undefined> {
    const row = await tx.tenant.findUnique({ where: { id }, include: { placement: { include: { shard: true } } } });
    if (!row) return undefined;
    return { id: row.id, name: row.name, slug: row.slug, plan: row.planCode, status: row.status, shard: row.placement?.shard.name ?? '', createdAt: row.createdAt.toISOString() };
  }
}
