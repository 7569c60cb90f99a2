// The AsyncAPI document is generated from the contracts' zod schemas: it must be a valid AsyncAPI 3.0
// document (the AsyncAPI parser's diagnostics, no errors), name every event type and version of the
// catalogue on its topic, and describe what is really sent: a real envelope of each catalogue entry
// validates against its message's schema, and one with a foreign payload does not.
import { Parser } from '@asyncapi/parser';
import Ajv from 'ajv';
import addFormats from 'ajv-formats';
import { asyncApiDocument, asyncApiMessageId, EventCatalog, EventHeaders, EventType } from './index';

const doc = asyncApiDocument({ version: '9.9.9', kafkaBrokers: '127.0.0.1:19092' }) as {
  channels: Record<string, { address: string; messages: Record<string, { $ref: string }> }>;
  components: { messages: Record<string, { payload: { schema: object }; headers: { schema: { required: string[] } } }> };
};

it('is a valid AsyncAPI 3.0 document', async () => {
  const { document, diagnostics } = await new Parser().parse(JSON.stringify(doc));
  // severity 0 is an error: none; warnings (style rules) are allowed.
  expect(diagnostics.filter((d) => d.severity === 0).map((d) => `${d.path.join('.')}: ${d.message}`)).toEqual([]);
  expect(document?.version()).toBe('3.0.0');
});

it('names every event type and version of the catalogue on its topic, and nothing else', () => {
  const expected = Object.entries(EventCatalog).flatMap(([type, e]) => Object.keys(e.versions).map((v) => `${e.topic} ${asyncApiMessageId(type, Number(v))}`));
  const listed = Object.values(doc.channels)
    .filter((c) => !c.address.endsWith('.dlq'))
    .flatMap((c) => Object.keys(c.messages).map((m) => `${c.address} ${m}`));
  expect(listed.sort()).toEqual(expected.sort());
  expect(doc.components.messages[asyncApiMessageId('tenant.created', 1)]!.headers.schema.required).toContain(EventHeaders.TENANT);
});

it('describes what is sent: each entry accepts an envelope its zod schema accepts, and refuses a wrong type or a foreign payload', () => {
  const ajv = addFormats(new Ajv({ strict: false }));
  const envelope = { id: '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b', tenantId: '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5c', occurredAt: '2026-12-06T00:00:00.000Z', producer: 'spec', correlationId: 'c', causationId: null, traceparent: null };
  const payload = { tenantId: envelope.tenantId, name: 'Acme', plan: 'basic', shard: 'shard-1', region: 'local', createdBy: 'spec' };
  const type: EventType = 'tenant.created';
  expect(EventCatalog[type].versions[1]!.safeParse(payload).success).toBe(true);
  const check = ajv.compile(doc.components.messages[asyncApiMessageId(type, 1)]!.payload.schema);
  expect(check({ ...envelope, type, version: 1, payload })).toBe(true);
  expect(check({ ...envelope, type: 'tenant.suspended', version: 1, payload })).toBe(false);
  expect(check({ ...envelope, type, version: 1, payload: { unexpected: true } })).toBe(false);
  expect(check({ ...envelope, type, version: 1, payload: { ...payload, tenantId: 'not-a-uuid' } })).toBe(false);
});
