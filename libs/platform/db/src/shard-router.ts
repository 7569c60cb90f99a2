import type { TenantId } from '@hotdash/contracts';
import { Databases, ShardInfo } from './databases';

export class TenantNotPlacedError extends Error {
  constructor(readonly tenantId: string) {
    super(`tenant ${tenantId} has no shard placement`);
    this.name = 'TenantNotPlacedError';
  }
}

interface CacheEntry {
  shard: ShardInfo;
  expiresAt: number;
}

/**
 * Picks a tenant's shard from its placement in the control plane. Placements are cached briefly;
 * a tenant move bumps the placement version and calls invalidate() on every router.
 */
export class ShardRouter {
  private readonly cache = new Map<string, CacheEntry>();

  constructor(
    private readonly dbs: Databases,
    private readonly ttlMs = 5_000,
  ) {}

  async shardOf(tenantId: TenantId): Promise<ShardInfo> {
    const hit = this.cache.get(tenantId);
    if (hit && hit.expiresAt > Date.now()) return hit.shard;
    const placement = await this.dbs.control().tenantPlacement.findUnique({
      where: { tenantId },
      include: { shard: true },
    });
    if (!placement) throw new TenantNotPlacedError(tenantId);
    const shard = toShardInfo(placement.shard);
    this.cache.set(tenantId, { shard, expiresAt: Date.now() + this.ttlMs });
    return shard;
  }

  invalidate(tenantId?: TenantId): void {
    if (tenantId) this.cache.delete(tenantId);
    else this.cache.clear();
  }

  async listShards(): Promise<ShardInfo[]> {
    const rows = await this.dbs.control().shard.findMany({ orderBy: { name: 'asc' } });
    return rows.map(toShardInfo);
  }
}

export function toShardInfo(row: {
  id: string;
  name: string;
  host: string;
  port: number;
  database: string;
  kind: string;
  status: string;
}): ShardInfo {
  return {
    id: row.id,
    name: row.name,
    host: row.host,
    port: row.port,
    database: row.database,
    kind: row.kind as ShardInfo['kind'],
    status: row.status as ShardInfo['status'],
  };
}
