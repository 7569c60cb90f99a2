import type { Envelope, EventPayloads, EventType, TenantId } from '@hotdash/contracts';
import { EventCatalog, topicOf } from '@hotdash/contracts';
import { newId } from '@hotdash/platform-db';

/** What an event is about and who caused it. The tenant always comes from the caller's context. */
export interface EventMeta {
  tenantId: TenantId;
  producer: string;
  correlationId: string;
  causationId?: string | null;
  traceparent?: string | null;
  occurredAt?: Date;
}

/** Builds a validated envelope: the payload is parsed against the event's current schema. */
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
    traceparent: meta.traceparent ?? null,
    payload: parsed,
  };
}

/** The part of a Prisma transaction (tenant shard or control plane) the outbox needs. */
export interface OutboxTx {
  $executeRaw(query: TemplateStringsArray, ...values: unknown[]): Promise<number>;
}

/**
 * Writes events to the outbox in the caller's transaction: they are published if and only if the
 * transaction commits. Never publish to Kafka from a request.
 */
export async function appendToOutbox(tx: OutboxTx, ...envelopes: Envelope[]): Promise<void> {
  if (envelopes.length === 0) return;
  if (envelopes.length === 1) {
    const e = outboxRow(envelopes[0]!);
    await tx.$executeRaw`insert into outbox (id, tenant_id, topic, key, type, version, envelope)
      values (${e.id}::uuid, ${e.tenantId}::uuid, ${e.topic}, ${e.key}, ${e.type}, ${e.version}, ${JSON.stringify(e.envelope)}::jsonb)`;
    return;
  }
  // Several events: one statement, in the given order (the relay publishes by seq).
  await tx.$executeRaw`insert into outbox (id, tenant_id, topic, key, type, version, envelope)
    select (e->>'id')::uuid, (e->>'tenantId')::uuid, e->>'topic', e->>'key', e->>'type', (e->>'version')::int, e->'envelope'
    from jsonb_array_elements(${JSON.stringify(envelopes.map(outboxRow))}::jsonb) with ordinality as t(e, n) order by n`;
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
