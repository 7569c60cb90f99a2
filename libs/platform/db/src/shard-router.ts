import type { TenantId } from '@hotdash/contracts';
import { Databases, ShardInfo } from './databases';
import { listen, Listener } from './notifications';
import type { TenantFencedError } from './tenant-transaction';

export class TenantNotPlacedError extends Error {
  constructor(readonly tenantId: string) {
    super(`tenant ${tenantId} has no shard placement`);
    this.name = 'TenantNotPlacedError';
  }
}

/** The control database's channel on which a placement that moved, changed version or went is announced (`<tenant id>:<version>`, 0 when deleted). */
export const PLACEMENTS_CHANNEL = 'hotdash_placements';

/** A tenant's shard and the placement version that put it there. */
export interface Placement {
  shard: ShardInfo;
  version: number;
}

/**
 * Picks a tenant's shard from its placement in the control plane. Placements are kept without a
 * time limit: the router LISTENs on `hotdash_placements` (one connection per router, opened on first
 * use, closed with the Databases) and drops a tenant's entry when a notification names it, and every
 * entry when its listener (re)connects, since notifications sent meanwhile are lost. A shard that no
 * longer serves a tenant refuses it in the transaction's opening (its fence, TenantFencedError), so
 * an entry that is stale for any other reason is corrected on first use: {@link fenced} takes the
 * fence's destination when it is newer than the entry, else drops the entry.
 */
export class ShardRouter {
  private readonly cache = new Map<string, Placement>();
  /** Bumped by every invalidation: a lookup that started before one does not fill the cache. */
  private epoch = 0;
  private listener: Listener | undefined;

  constructor(private readonly dbs: Databases) {}

  async shardOf(tenantId: TenantId): Promise<ShardInfo> {
    return (await this.placementOf(tenantId)).shard;
  }

  /** The tenant's shard and placement version (cached until a notification or a fence says otherwise). */
  async placementOf(tenantId: TenantId): Promise<Placement> {
    this.listenForPlacements();
    const hit = this.cache.get(tenantId);
    if (hit) return hit;
    const epoch = this.epoch;
    const placement = await this.dbs.control().tenantPlacement.findUnique({
      where: { tenantId },
      include: { shard: true },
    });
    if (!placement) throw new TenantNotPlacedError(tenantId);
    const entry = { shard: toShardInfo(placement.shard), version: placement.version };
    if (this.epoch === epoch) this.cache.set(tenantId, entry);
    return entry;
  }

  /**
   * A shard refused the tenant (its fence): route it by the fence's destination when that is newer
   * than what this router holds (the fence is committed before the placement moves, so it may be
   * ahead of the control plane), else by the placement read again.
   */
  async fenced(tenantId: TenantId, refusedBy: ShardInfo, fence: TenantFencedError): Promise<void> {
    const epoch = ++this.epoch;
    const held = this.cache.get(tenantId);
    this.cache.delete(tenantId);
    const to = fence.movedTo;
    if (!to || to.shardId === refusedBy.id || (held && held.version >= to.placementVersion)) return;
    const row = await this.dbs.control().shard.findUnique({ where: { id: to.shardId } });
    if (row && this.epoch === epoch) this.cache.set(tenantId, { shard: toShardInfo(row), version: to.placementVersion });
  }

  invalidate(tenantId?: TenantId): void {
    this.epoch++;
    if (tenantId) this.cache.delete(tenantId);
    else this.cache.clear();
  }

  async listShards(): Promise<ShardInfo[]> {
    const rows = await this.dbs.control().shard.findMany({ orderBy: { name: 'asc' } });
    return rows.map(toShardInfo);
  }

  /** @internal specs: the listener of placement notifications (made by the first lookup). */
  get placementListener(): Listener | undefined {
    return this.listener;
  }

  /** A `hotdash_placements` notification (`<tenant>:<version>`), or none after the listener (re)connected. */
  private placementChanged(payload: string | undefined): void {
    this.epoch++;
    const [tenantId, version] = (payload ?? '').split(':');
    if (!tenantId) {
      this.cache.clear();
      return;
    }
    const held = this.cache.get(tenantId);
    // Kept only when this router already routes by that version or a newer one (a fence's destination).
    if (held && !(Number(version) > 0 && held.version >= Number(version))) this.cache.delete(tenantId);
  }

  private listenForPlacements(): void {
    if (this.listener) return;
    this.listener = listen(this.dbs, this.dbs.controlLocation, 'app', PLACEMENTS_CHANNEL, (payload) => this.placementChanged(payload));
    const listener = this.listener;
    this.dbs.onClose(() => listener.close());
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
