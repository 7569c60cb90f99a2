import { EventCatalog, envelopeSchema, isKnownEventType, payloadSchemaOf, topicOf, Topics, deadLetterTopic, parseTenantId, ALL_TOPICS } from './index';

const valid = {
  id: '01a2233e-13de-71a6-af01-2c9e62e66eb5',
  type: 'tenant.created',
  version: 1,
  tenantId: '01a2233e-13de-71a6-af01-2c9e62e66eb6',
  occurredAt: '2026-11-28T17:40:00.669Z',
  producer: 'provisioning',
  correlationId: 'req-1',
  causationId: null,
  traceparent: null,
  payload: { tenantId: '01a2233e-13de-71a6-af01-2c9e62e66eb6', name: 'Acme', plan: 'basic', shard: 'shard-1', createdBy: 'ops' },
};

describe('event envelope', () => {
  it('accepts a well-formed envelope', () => {
    expect(envelopeSchema.parse(valid)).toEqual(valid);
  });
  it.each([
    ['a missing tenant', { tenantId: undefined }],
    ['a non-UUID tenant', { tenantId: 'acme' }],
    ['a type that is not a dotted past-tense name', { type: 'CreateTenant' }],
    ['a zero version', { version: 0 }],
    ['a local time without offset', { occurredAt: '2026-11-28 17:40' }],
    ['an unknown member', { extra: 1 }],
  ])('refuses %s', (_l, change) => {
    expect(envelopeSchema.safeParse({ ...valid, ...change }).success).toBe(false);
  });
});

describe('event catalogue', () => {
  it('maps every event to a known topic and a schema for its current version', () => {
    for (const [type, entry] of Object.entries(EventCatalog)) {
      expect(ALL_TOPICS).toContain(entry.topic);
      expect(payloadSchemaOf(type, entry.current)).toBeDefined();
      expect(type).toMatch(/^[a-z]+(\.[a-z-]+)+$/);
    }
  });
  it('knows its events and nothing else by accident', () => {
    expect(isKnownEventType('tenant.created')).toBe(true);
    expect(isKnownEventType('audit.recorded')).toBe(true);
    expect(isKnownEventType('toString')).toBe(false);
    expect(topicOf('tenant.created')).toBe(Topics.TENANTS);
    expect(payloadSchemaOf('tenant.created', 2)).toBeUndefined();
  });
  it('validates payloads strictly', () => {
    const schema = payloadSchemaOf('tenant.created', 1)!;
    expect(schema.safeParse(valid.payload).success).toBe(true);
    expect(schema.safeParse({ ...valid.payload, plan: 'gold' }).success).toBe(false);
    expect(schema.safeParse({ ...valid.payload, secret: 1 }).success).toBe(false);
  });
  it('announces a pilot import on the tenants topic: the import, the pilot and when it was cut over', () => {
    const schema = payloadSchemaOf('tenant.imported', 1)!;
    const imported = { tenantId: valid.payload.tenantId, importId: '01a2233e-13de-71a6-af01-2c9e62e66eb9', pilot: '10.0.0.5:5432/hotdash_control', cutOverAt: '2026-12-05T18:00:00.000Z' };
    expect(topicOf('tenant.imported')).toBe(Topics.TENANTS);
    expect(schema.safeParse(imported).success).toBe(true);
    expect(schema.safeParse({ ...imported, cutOverAt: 'yesterday' }).success).toBe(false);
    expect(schema.safeParse({ ...imported, importId: 'x' }).success).toBe(false);
    expect(schema.safeParse({ ...imported, tickets: 3 }).success).toBe(false);
  });
  it('announces a restore on the tenants topic: the archive, the run and the shard', () => {
    const schema = payloadSchemaOf('tenant.restored', 1)!;
    const tenantId = valid.payload.tenantId;
    const restored = { tenantId, archiveId: `${tenantId}_20261206T101500123Z`, runId: '01a2233e-13de-71a6-af01-2c9e62e66eb9', shard: 'shard-1' };
    expect(topicOf('tenant.restored')).toBe(Topics.TENANTS);
    expect(schema.safeParse(restored).success).toBe(true);
    expect(schema.safeParse({ ...restored, archiveId: 'latest' }).success).toBe(false);
    expect(schema.safeParse({ ...restored, rows: 3 }).success).toBe(false);
  });
  it('names dead-letter topics after their topic', () => {
    expect(deadLetterTopic(Topics.DRAFTS)).toBe('hotdash.drafts.dlq');
  });
  it('parses tenant ids, refusing anything but a UUID', () => {
    expect(parseTenantId('01A2233E-13DE-71A6-AF01-2C9E62E66EB6')).toBe('01a2233e-13de-71a6-af01-2c9e62e66eb6');
    expect(() => parseTenantId("' or 1=1 --")).toThrow(/not a tenant id/);
  });
});

describe('support events', () => {
  const enc = (s: string) => `v1.${Buffer.from(s.slice(0, 12)).toString('base64url')}.${Buffer.from(s).toString('base64url')}`;
  const ticket = {
    tenantId: '01a2233e-13de-71a6-af01-2c9e62e66eb6',
    ticketId: '01a2233e-13de-71a6-af01-2c9e62e66eb7',
    externalId: 'zendesk-4711',
    channel: 'integration',
    customerNameEnc: enc('Dana Smith'),
    customerEmailEnc: enc('dana@example.com'),
    subjectEnc: null,
    bodyEnc: enc('Where is my refund?'),
    receivedAt: '2026-11-29T00:30:00Z',
    draftId: '01a2233e-13de-71a6-af01-2c9e62e66eb8',
    quotaReservationId: null,
  };

  it('go to the tickets and drafts topics', () => {
    expect(topicOf('ticket.submitted')).toBe(Topics.TICKETS);
    expect(topicOf('ticket.received')).toBe(Topics.TICKETS);
    expect(topicOf('reply.sent')).toBe(Topics.TICKETS);
    for (const t of ['draft.requested', 'draft.generated', 'draft.failed', 'draft.approved', 'draft.edited', 'draft.rejected'] as const) expect(topicOf(t)).toBe(Topics.DRAFTS);
  });

  it('carry customer data only encrypted: a plain name, address or message is refused', () => {
    const schema = payloadSchemaOf('ticket.received', 2)!;
    expect(schema.safeParse(ticket).success).toBe(true);
    for (const field of ['customerNameEnc', 'customerEmailEnc', 'bodyEnc', 'subjectEnc'] as const) {
      expect([field, schema.safeParse({ ...ticket, [field]: 'dana@example.com' }).success]).toEqual([field, false]);
    }
    expect(schema.safeParse({ ...ticket, channel: 'fax' }).success).toBe(false);
  });

  it('name the first draft in the stored ticket, and let an integration submit a ticket without ids of its own', () => {
    // ticket.received is the stored fact: its first draft's id is the drafts service's, and version 1 (without it) is not read.
    expect(payloadSchemaOf('ticket.received', 1)).toBeUndefined();
    const { draftId: _draft, ...withoutDraft } = ticket;
    expect(payloadSchemaOf('ticket.received', 2)!.safeParse(withoutDraft).success).toBe(false);
    const submitted = payloadSchemaOf('ticket.submitted', 1)!;
    const { ticketId: _t, draftId: _d, quotaReservationId: _q, ...submission } = ticket;
    expect(submitted.safeParse(submission).success).toBe(true);
    // An integration mints no ticket or draft ids, holds no quota and cannot claim the API channel.
    expect(submitted.safeParse({ ...submission, ticketId: ticket.ticketId }).success).toBe(false);
    expect(submitted.safeParse({ ...submission, draftId: ticket.draftId }).success).toBe(false);
    expect(submitted.safeParse({ ...submission, channel: 'api' }).success).toBe(false);
  });

  it('describe a generated draft with its citations, model and tokens', () => {
    const schema = payloadSchemaOf('draft.generated', 1)!;
    const draft = {
      tenantId: ticket.tenantId,
      ticketId: ticket.ticketId,
      draftId: '01a2233e-13de-71a6-af01-2c9e62e66eb8',
      attempt: 1,
      bodyEnc: enc('Hello Dana, refunds take 5 days [1].'),
      citations: [{ chunkId: '6f1c2d3e-4a5b-5c6d-8e7f-8091a2b3c4d5', documentId: '01a2233e-13de-71a6-af01-2c9e62e66eb9', title: 'Returns' }],
      model: 'offline-extractive-1',
      usage: { promptTokens: 120, completionTokens: 14 },
    };
    expect(schema.safeParse(draft).success).toBe(true);
    expect(schema.safeParse({ ...draft, bodyEnc: 'Hello Dana' }).success).toBe(false);
    expect(schema.safeParse({ ...draft, attempt: 0 }).success).toBe(false);
  });

  it('ask for a draft again with the ticket encrypted: a regeneration (attempt 2 on), or the attempt a ticket still waits for after a pilot import', () => {
    const schema = payloadSchemaOf('draft.requested', 1)!;
    const request = {
      tenantId: ticket.tenantId,
      ticketId: ticket.ticketId,
      draftId: '01a2233e-13de-71a6-af01-2c9e62e66eb8',
      attempt: 2,
      by: 'user:01a2233e-13de-71a6-af01-2c9e62e66eb7',
      customerNameEnc: ticket.customerNameEnc,
      subjectEnc: null,
      bodyEnc: ticket.bodyEnc,
    };
    expect(schema.safeParse(request).success).toBe(true);
    expect(schema.safeParse({ ...request, attempt: 1, by: 'import:01a2233e-13de-71a6-af01-2c9e62e66eb9' }).success).toBe(true);
    expect(schema.safeParse({ ...request, attempt: 0 }).success).toBe(false);
    expect(schema.safeParse({ ...request, bodyEnc: 'Where is my refund?' }).success).toBe(false);

    // Version 2 (current) adds the earlier drafts' reasons and edits, encrypted; version 1 stays readable.
    expect(EventCatalog['draft.requested'].current).toBe(2);
    const v2 = payloadSchemaOf('draft.requested', 2)!;
    const earlier = { attempt: 1, bodyEnc: ticket.bodyEnc, rejectReasonEnc: ticket.bodyEnc, editedBodyEnc: null };
    expect(v2.safeParse({ ...request, earlierDrafts: [earlier] }).success).toBe(true);
    expect(v2.safeParse({ ...request, earlierDrafts: [] }).success).toBe(true);
    expect(v2.safeParse(request).success).toBe(false);
    expect(v2.safeParse({ ...request, earlierDrafts: [{ ...earlier, rejectReasonEnc: 'Too long' }] }).success).toBe(false);
    expect(v2.safeParse({ ...request, earlierDrafts: Array.from({ length: 6 }, (_, i) => ({ ...earlier, attempt: i + 1 })) }).success).toBe(false);
    expect(schema.safeParse({ ...request, earlierDrafts: [] }).success).toBe(false);
  });
});
