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
  for (const e of envelopes.map(outboxRow)) {
    await tx.$executeRaw`insert into outbox (id, tenant_id, topic, key, type, version, envelope)
      values (${e.id}::uuid, ${e.tenantId}::uuid, ${e.topic}, ${e.key}, ${e.type}, ${e.version}, ${JSON.stringify(e.envelope)}::jsonb)`;
  }
}

/** An outbox table row for an envelope, keyed by tenant (per-tenant order), for writers that batch rows into one statement. */
export function outboxRow(e: Envelope): { id: string; tenantId: string; topic: string; key: string; type: string; version: number; envelope: Envelope } {
  return { id: e.id, tenantId: e.tenantId, topic: topicOf(e.type as EventType), key: e.tenantId, type: e.type, version: e.version, envelope: e };
}

/** buildEnvelope + appendToOutbox, for the common case of one event. */
export async function publishInTx<T extends EventType>(tx: OutboxTx, type: T, payload: EventPayloads[T], meta: EventMeta): Promise<Envelope<T, EventPayloads[T]>> {
  const envelope = buildEnvelope(type, payload, meta);
  await appendToOutbox(tx, envelope);
  return envelope;
}
