import { sql } from 'kysely';
import { Databases, DbLocation, withShardTransaction } from '@hotdash/platform-db';

/** How far the relay is behind on one shard's outbox. */
export interface RelayLag {
  /** Rows waiting to be published (rows set aside as unpublishable are not waiting). */
  unpublished: number;
  /** Age in seconds of the oldest of them (by the shard's clock); null when none waits. */
  oldestUnpublishedSeconds: number | null;
}

/**
 * The relay's backlog on a shard, read as the relay role (its policy sees every tenant's outbox
 * rows; the application role would see none without a tenant). Both reads use the outbox's partial
 * index of unpublished rows, so the cost follows the backlog, not the table: rows are written in
 * `seq` order at `now()`, so the first by seq is the oldest.
 */
export function relayLagOf(dbs: Databases, shard: DbLocation): Promise<RelayLag> {
  return withShardTransaction(
    dbs,
    shard,
    async (tx) => {
      const waiting = tx.db.selectFrom('outbox').where('published_at', 'is', null).where('failed_at', 'is', null);
      const count = await waiting.select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow();
      const oldest = await waiting
        .select(sql<string>`date_part('epoch', clock_timestamp() - created_at)::text`.as('age'))
        .orderBy('seq')
        .limit(1)
        .executeTakeFirst();
      return { unpublished: Number(count.n), oldestUnpublishedSeconds: oldest ? Math.max(0, Math.round(Number(oldest.age) * 10) / 10) : null };
    },
    { timeoutMs: 10_000 },
  );
}
