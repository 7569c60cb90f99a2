import { z } from 'zod';

/** UUID of any version, lower- or upper-case; ids the platform creates are UUIDv7. */
export const uuidSchema = z.uuid();

/**
 * The envelope every event travels in, on Kafka and in the outbox. The tenant is part of the
 * envelope, never only of the payload: consumers enter the tenant context from it.
 */
export const envelopeSchema = z
  .object({
    /** UUIDv7 of this event; consumers de-duplicate on it. */
    id: uuidSchema,
    /** Past-tense fact, e.g. `tenant.created`. */
    type: z.string().regex(/^[a-z][a-z0-9-]*(\.[a-z][a-z0-9-]*)+$/),
    /** Schema version of the payload for this type. */
    version: z.number().int().positive(),
    tenantId: uuidSchema,
    /** ISO-8601 instant at which the fact happened. */
    occurredAt: z.iso.datetime({ offset: true }),
    /** Service that produced the event. */
    producer: z.string().min(1).max(100),
    /** Id shared by everything done for one request or workflow. */
    correlationId: z.string().min(1).max(200),
    /** Id of the event or request that caused this event. */
    causationId: z.string().min(1).max(200).nullable(),
    /** W3C trace context of the producing span, when there was one. */
    traceparent: z.string().max(200).nullable(),
    payload: z.unknown(),
  })
  .strict();

export type Envelope<TType extends string = string, TPayload = unknown> = Omit<
  z.infer<typeof envelopeSchema>,
  'type' | 'payload'
> & { type: TType; payload: TPayload };

/** Kafka headers carried with every event, so routers and dead-letter tooling need not parse the body. */
export const EventHeaders = {
  ID: 'hotdash-event-id',
  TYPE: 'hotdash-event-type',
  VERSION: 'hotdash-event-version',
  TENANT: 'hotdash-tenant-id',
  CORRELATION: 'hotdash-correlation-id',
  TRACEPARENT: 'traceparent',
} as const;

/** Headers a dead-lettered record carries on top of its original ones. */
export const DlqHeaders = {
  ERROR: 'hotdash-dlq-error',
  ERROR_CODE: 'hotdash-dlq-error-code',
  CONSUMER: 'hotdash-dlq-consumer',
  ATTEMPTS: 'hotdash-dlq-attempts',
  ORIGINAL_TOPIC: 'hotdash-dlq-original-topic',
  ORIGINAL_PARTITION: 'hotdash-dlq-original-partition',
  ORIGINAL_OFFSET: 'hotdash-dlq-original-offset',
  FAILED_AT: 'hotdash-dlq-failed-at',
} as const;
