import { Inject, Injectable } from '@nestjs/common';
import type { ShardError, ShardList, ShardRecord, ShardView } from '@hotdash/contracts';
import { ControlDatabase, Databases, ShardInspector, ShardUnreachableError } from '@hotdash/platform-db';
import { relayLagOf } from '@hotdash/platform-messaging';
import { locationOf, ShardsRepository } from '../../shards.repository';

/** Shards read at once when listing (each takes an owner connection and a relay connection). */
const CONCURRENCY = 8;

/** Runs `fn` over `items`, at most `limit` at a time, keeping their order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < items.length; i = next++) out[i] = await fn(items[i]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

const errorOf = (err: unknown): ShardError =>
  err instanceof ShardUnreachableError ? { code: 'shard-unreachable', message: err.message } : { code: 'shard-inspection-failed', message: (err as Error).message };

/**
 * Every registered shard with its tenants (control plane) and its live figures read from the shard
 * itself: database size, schema version (applied and pending migrations of this build), relay lag.
 * A shard that cannot be read is listed with `error`, never failing the list; retired shards are
 * not read.
 */
@Injectable()
export class ListShardsHandler {
  constructor(
    @Inject(ControlDatabase) private readonly control: ControlDatabase,
    @Inject(Databases) private readonly dbs: Databases,
    @Inject(ShardInspector) private readonly inspector: ShardInspector,
    @Inject(ShardsRepository) private readonly shards: ShardsRepository,
  ) {}

  async execute(): Promise<ShardList> {
    const [records, held] = await Promise.all([this.shards.list(this.control.db), this.shards.tenantsHeldByShard(this.control.db)]);
    return { shards: await mapLimit(records, CONCURRENCY, (s) => this.view(s, held.get(s.id) ?? 0)) };
  }

  private async view(shard: ShardRecord, tenantCount: number): Promise<ShardView> {
    const view: ShardView = { ...shard, tenantCount, databaseSizeBytes: null, schema: null, relayLag: null, error: null };
    if (shard.status === 'retired') return view;
    const location = locationOf(shard);
    try {
      const { sizeBytes, migrations } = await this.inspector.inspect(location);
      view.databaseSizeBytes = sizeBytes;
      view.schema = { applied: migrations.applied, latest: migrations.latest, pending: migrations.pending };
    } catch (err) {
      view.error = errorOf(err);
      return view;
    }
    try {
      view.relayLag = await relayLagOf(this.dbs, location);
    } catch (err) {
      view.error = errorOf(err);
    }
    return view;
  }
}
