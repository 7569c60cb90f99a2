import { z } from 'zod';
import { DlqHeaders, envelopeSchema, EventHeaders } from './envelope';
import { EventCatalog, EventType } from './event-map';
import { ALL_TOPICS, deadLetterTopic } from './topics';

/** How payload schemas are written in the document: JSON Schema draft-07, as zod renders them. */
const SCHEMA_FORMAT = 'application/schema+json;version=draft-07';

type Json = Record<string, unknown>;

/** A message's name and key in the document: `<type>.v<version>` with the dots as dashes (`tenant-created-v1`). */
export const asyncApiMessageId = (type: string, version: number): string => `${type.replace(/\./g, '-')}-v${version}`;

/** A channel's key in the document (topic names carry dots). */
const channelId = (topic: string): string => topic.replace(/\./g, '-');

const draft7 = (schema: z.ZodType): Json => {
  const out = z.toJSONSchema(schema, { target: 'draft-7', unrepresentable: 'any', io: 'input' }) as Json;
  delete out.$schema;
  return out;
};

/**
 * The JSON Schema of one event as it travels (on Kafka and in the outbox): the envelope, with
 * `type` and `version` fixed and `payload` the version's schema.
 */
export function eventJsonSchema(type: EventType, version: number): Json {
  const payload = EventCatalog[type].versions[version];
  if (!payload) throw new Error(`${type} has no version ${version}`);
  return draft7(envelopeSchema.extend({ type: z.literal(type), version: z.literal(version), payload }));
}

const headerSchema = (names: readonly string[], required: readonly string[]): Json => ({
  type: 'object',
  properties: Object.fromEntries(names.map((n) => [n, { type: 'string' }])),
  required: [...required],
});

const eventHeaders = headerSchema(Object.values(EventHeaders), Object.values(EventHeaders).filter((h) => h !== EventHeaders.TRACEPARENT));

/**
 * The platform's events as an AsyncAPI 3.0 document, built from the contracts' zod schemas (so it
 * cannot drift from them): a channel per Kafka topic (keyed by tenant id, so one tenant's events
 * stay in order) with a message per event type and version (the envelope with that version's
 * payload, as JSON Schema draft-07, and the Kafka headers every record carries), the platform's
 * send operations, and each topic's dead-letter channel (the original record and its headers, plus
 * the consumer's error). Served by the gateway at `/asyncapi.json` beside `/openapi.json`.
 */
export function asyncApiDocument(options: { version: string; kafkaBrokers?: string } = { version: '0.1.0' }): Json {
  const messages: Json = {};
  const channels: Json = {};
  const operations: Json = {};
  const byTopic = new Map<string, string[]>();
  for (const [type, entry] of Object.entries(EventCatalog) as [EventType, (typeof EventCatalog)[EventType]][]) {
    for (const v of Object.keys(entry.versions).map(Number)) {
      const id = asyncApiMessageId(type, v);
      messages[id] = {
        name: id,
        title: `${type} v${v}${v === entry.current ? '' : ` (still received; producers write v${entry.current})`}`,
        contentType: 'application/json',
        headers: { schemaFormat: SCHEMA_FORMAT, schema: eventHeaders },
        payload: { schemaFormat: SCHEMA_FORMAT, schema: eventJsonSchema(type, v) },
        bindings: { kafka: { key: { type: 'string', format: 'uuid', description: 'the tenant id' }, bindingVersion: '0.5.0' } },
      };
      byTopic.set(entry.topic, [...(byTopic.get(entry.topic) ?? []), id]);
    }
  }
  for (const topic of ALL_TOPICS) {
    const ids = byTopic.get(topic) ?? [];
    const ch = channelId(topic);
    channels[ch] = {
      address: topic,
      title: topic,
      description: `Kafka topic ${topic}, keyed by tenant id.`,
      messages: Object.fromEntries(ids.map((id) => [id, { $ref: `#/components/messages/${id}` }])),
      bindings: { kafka: { topic, bindingVersion: '0.5.0' } },
    };
    operations[`publish-${ch}`] = {
      action: 'send',
      title: `The platform publishes to ${topic}`,
      channel: { $ref: `#/channels/${ch}` },
      messages: ids.map((id) => ({ $ref: `#/channels/${ch}/messages/${id}` })),
    };
    const dlq = deadLetterTopic(topic);
    const dlqId = channelId(dlq);
    const dlqMessage = `dead-letter-${ch}`;
    messages[dlqMessage] = {
      name: dlqMessage,
      title: `A record of ${topic} a consumer gave up on`,
      contentType: 'application/json',
      headers: {
        schemaFormat: SCHEMA_FORMAT,
        schema: headerSchema([...Object.values(EventHeaders), ...Object.values(DlqHeaders)], [DlqHeaders.ERROR, DlqHeaders.CONSUMER, DlqHeaders.ORIGINAL_TOPIC, DlqHeaders.FAILED_AT]),
      },
      payload: { schemaFormat: SCHEMA_FORMAT, schema: { description: `The original record's value, unchanged (one of ${topic}'s messages, or what a consumer could not read).` } },
    };
    channels[dlqId] = {
      address: dlq,
      title: dlq,
      description: `Dead letters of ${topic}: replayed by ops with \`hotdash-ops dlq replay\`.`,
      messages: { [dlqMessage]: { $ref: `#/components/messages/${dlqMessage}` } },
      bindings: { kafka: { topic: dlq, bindingVersion: '0.5.0' } },
    };
    operations[`dead-letter-${ch}`] = {
      action: 'send',
      title: `Consumers set aside what they cannot handle of ${topic}`,
      channel: { $ref: `#/channels/${dlqId}` },
      messages: [{ $ref: `#/channels/${dlqId}/messages/${dlqMessage}` }],
    };
  }
  return {
    asyncapi: '3.0.0',
    info: {
      title: 'HotDash Agent Platform events',
      version: options.version,
      description:
        'Every event the platform publishes, tenant-stamped: one channel per Kafka topic, one message per event type and version. ' +
        'Consumers de-duplicate on the envelope id, enter the tenant context from the envelope (never only the payload), and accept every version listed.',
    },
    defaultContentType: 'application/json',
    ...(options.kafkaBrokers ? { servers: { kafka: { host: options.kafkaBrokers, protocol: 'kafka', description: 'The platform\u2019s brokers' } } } : {}),
    channels,
    operations,
    components: { messages },
  };
}
