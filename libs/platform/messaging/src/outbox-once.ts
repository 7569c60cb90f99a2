import type { EventPayloads, EventType } from '@hotdash/contracts';
import type { Kysely } from 'kysely';
import type { TenantDB } from '@hotdash/platform-db';
import { appendToOutboxOnce, buildEnvelope, EventMeta, OutboxTx } from './outbox';

type OutboxDB = Pick<TenantDB, 'outbox'>;

/**
 * Publishes an event under an id its producer derives from what it is about (`derivedId`), at most
 * once: the outbox's id is unique, so a producer that runs again after a crash between its commit
 * and the end of its job (or two runs racing) writes nothing the second time. Should the row be gone
 * from the outbox, the same id reaches Kafka again and every consumer's inbox drops it. True when
 * this call wrote the event.
 */
export async function publishOnceInTx<T extends EventType>(tx: OutboxTx, id: string, type: T, payload: EventPayloads[T], meta: EventMeta): Promise<boolean> {
  return (await appendToOutboxOnce(tx, [{ ...buildEnvelope(type, payload, meta), id }])).length === 1;
}

/** Whether an event of this id is in the transaction's outbox (published or not): a producer's look before work it must not do twice. */
export async function inOutbox(tx: OutboxTx, id: string): Promise<boolean> {
  const db: Kysely<OutboxDB> = tx.db;
  return (await db.selectFrom('outbox').select('id').where('id', '=', id).executeTakeFirst()) !== undefined;
}
