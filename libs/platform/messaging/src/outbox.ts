import type { Envelope, EventPayloads, EventType, TenantId } from '@hotdash/contracts';
import { EventCatalog, topicOf } from '@hotdash/contracts';
import type { Kysely } from 'kysely';
import type { ControlTransaction, TenantTransaction, TenantDB } from '@hotdash/platform-db';
import { newId } from '@hotdash/platform-db';
import { currentTraceparent } from '@hotdash/platform-telemetry';

/** What an event is about and who caused it. The tenant always comes from the caller's context. */
export interface EventMeta {
  tenantId: TenantId;
  producer: string;
  correlationId: string;
  causationId?: string | null;
  /** The trace the event continues; default the active span's (none while tracing is off). */
  traceparent?: string | null;
  occurredAt?: Date;
}

/**
 * Builds a validated envelope: the payload is parsed against the event's current schema. Its
 * `traceparent` is the active span's unless the meta names one: the relay, the consumers and the
 * jobs they queue continue the trace of the request or job that published the event.
 */
export function buildEnvelope<T extends EventType>(type: T, payload: EventPayloads[T], meta: EventMeta): Envelope<T, EventPayloads[T]> {
  const entry = EventCatalog[type];
  const schema = entry.versions[entry.current];
  if (!schema) throw new Error(`event ${type} has no schema for its current version ${entry.current}`);
  const parsed = schema.parse(payload) as EventPayloads[T];
  return {
    id: newId(),
    type,
    version: entry.current,
    tenantId: meta.tenantId,
    occurredAt: (meta.occurredAt ?? new Date()).toISOString(),
    producer: meta.producer,
    correlationId: meta.correlationId,
    causationId: meta.causationId ?? null,
    traceparent: meta.traceparent ?? currentTraceparent() ?? null,
    payload: parsed,
  };
}

/**
 * The transaction events are written in: a tenant shard's (`withTenant`) or the control plane's
 * (`withControl`). Each database has its own outbox, of the same shape.
 */
export type OutboxTx = TenantTransaction | ControlTransaction;

/** The outbox table, the same in the control database and in every shard. */
type OutboxDB = Pick<TenantDB, 'outbox'>;

/** Outbox rows of envelopes as the insert takes them: the envelope as JSON text (the driver would send an array as a PostgreSQL array). */
const outboxValues = (envelopes: readonly Envelope[]) =>
  envelopes.map(outboxRow).map((r) => ({ id: r.id, tenant_id: r.tenantId, topic: r.topic, key: r.key, type: r.type, version: r.version, envelope: JSON.stringify(r.envelope) }));

/**
 * A tenant's events that are out of the outbox already (published, or set aside as unpublishable),
 * erased from this database's outbox at its offboarding: their envelopes carry what its workflows
 * said. Events still to publish stay (the offboarding's own `tenant.offboarded` among them).
 */
export async function eraseSentEvents(tx: OutboxTx, tenantId: TenantId): Promise<number> {
  const db: Kysely<OutboxDB> = tx.db;
  const r = await db
    .deleteFrom('outbox')
    .where('tenant_id', '=', tenantId)
    .where((eb) => eb.or([eb('published_at', 'is not', null), eb('failed_at', 'is not', null)]))
    .executeTakeFirst();
  return Number(r.numDeletedRows);
}

/**
 * Writes events to the outbox in the caller's transaction: they are published if and only if the
 * transaction commits. Never publish to Kafka from a request. Several events go in one statement,
 * in the given order (the relay publishes by seq).
 */
export async function appendToOutbox(tx: OutboxTx, ...envelopes: Envelope[]): Promise<void> {
  if (envelopes.length === 0) return;
  const db: Kysely<OutboxDB> = tx.db;
  await db.insertInto('outbox').values(outboxValues(envelopes)).execute();
}

/**
 * Appends events that may have been appended before (an entry written again after a crash, e.g. the
 * gateway's spooled access entries, or an event under an id derived from what it is about): an event
 * id already in the outbox is left as it is. Returns the ids this call wrote.
 */
export async function appendToOutboxOnce(tx: OutboxTx, envelopes: readonly Envelope[]): Promise<string[]> {
  if (envelopes.length === 0) return [];
  const db: Kysely<OutboxDB> = tx.db;
  const written = await db
    .insertInto('outbox')
    .values(outboxValues(envelopes))
    .onConflict((oc) => oc.column('id').doNothing())
    .returning('id')
    .execute();
  return written.map((r) => r.id);
}

/**
 * The tenant's events not yet published (nor set aside), in publishing order, locked for the rest
 * of the caller's tenant transaction (a relay publishing them right now finishes first, and they are
 * not returned). For work that erases a tenant's rows and writes them again (a restore with
 * replace): the events go back in with appendToOutbox after the erasure, so none is lost; they get
 * new positions in the outbox, after everything written before.
 */
export async function takeUnpublished(tx: TenantTransaction, tenantId: TenantId): Promise<Envelope[]> {
  const rows = await tx.db
    .selectFrom('outbox')
    .select(['envelope'])
    .where('tenant_id', '=', tenantId)
    .where('published_at', 'is', null)
    .where('failed_at', 'is', null)
    .orderBy('seq')
    .forUpdate()
    .execute();
  return rows.map((r) => r.envelope as unknown as Envelope);
}

/** An outbox table row for an envelope, keyed by tenant (per-tenant order), for writers that batch rows into one statement. */
export function outboxRow(e: Envelope): { id: string; tenantId: string; topic: string; key: string; type: string; version: number; envelope: Envelope } {
  return { id: e.id, tenantId: e.tenantId, topic: topicOf(e.type as EventType), key: e.tenantId, type: e.type, version: e.version, envelope: e };
}

/** buildEnvelope + appendToOutbox for several events of one transaction, written in one statement. */
export async function publishManyInTx<T extends EventType>(tx: OutboxTx, events: { type: T; payload: EventPayloads[T]; meta: EventMeta }[]): Promise<Envelope<T, EventPayloads[T]>[]> {
  const envelopes = events.map((e) => buildEnvelope(e.type, e.payload, e.meta));
  await appendToOutbox(tx, ...envelopes);
  return envelopes;
}

/** buildEnvelope + appendToOutbox, for the common case of one event. */
export async function publishInTx<T extends EventType>(tx: OutboxTx, type: T, payload: EventPayloads[T], meta: EventMeta): Promise<Envelope<T, EventPayloads[T]>> {
  const envelope = buildEnvelope(type, payload, meta);
  await appendToOutbox(tx, envelope);
  return envelope;
}
