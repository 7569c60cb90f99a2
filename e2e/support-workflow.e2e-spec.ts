// The support workflow across processes (gateway, drafts, ai-drafting, knowledge, quota, audit, and
// the relay for the outboxes; real shards, Redis, Kafka, Weaviate, the offline drafter): an admin's
// document is indexed; a ticket in through the gateway — or from an integration on Kafka — gets a
// draft citing that document in its operator's queue; the operator approves it (reply.sent), edits
// it (the diff kept), or rejects it and asks for another; another operator sees none of it; no
// customer text crosses Kafka in plaintext; the plan's monthly tickets hold exactly under
// concurrency.
import { sql } from 'kysely';
import { Envelope, SupportFields, TicketEvents, Topics } from '@hotdash/contracts';
import { FieldCipher, LocalKms, TenantKeyring } from '@hotdash/platform-crypto';
import { newId } from '@hotdash/platform-db';
import { buildEnvelope, headersFor } from '@hotdash/platform-messaging';
import { WeaviateVectorStore } from '@hotdash/platform-vector';
import { addOperator, createAccount, KafkaProbe, publishSettingsChanged, ServiceProcess, startServices, TEST_PASSWORD, TestAccount, TestWorld, VectorNamespaces, waitFor } from '@hotdash/testing';

jest.setTimeout(180_000);

const GATEWAY = 'http://127.0.0.1:3230';
const DRAFTS = 'http://127.0.0.1:3231';
const AI_DRAFTING = 'http://127.0.0.1:3232';
const QUOTA = 'http://127.0.0.1:3233';
const KNOWLEDGE = 'http://127.0.0.1:3234';
const AUDIT = 'http://127.0.0.1:3235';
const world = new TestWorld();
const vectors = WeaviateVectorStore.fromConfig(world.config);
const namespaces = new VectorNamespaces(vectors);
const cipher = new FieldCipher(new TenantKeyring(world.dbs, LocalKms.fromEnv()));
let processes: ServiceProcess[] = [];
let tickets: KafkaProbe;
let drafts: KafkaProbe;

type Account = TestAccount & { token: string };
let admin: Account;
let ops: Account[];
let documentId: string;

interface Ticket {
  id: string;
  status: string;
  assigneeId: string | null;
  currentDraftId: string | null;
  attempt: number;
  drafts: { id: string; status: string; body: string | null; citations: { documentId: string }[]; model: string | null }[];
  reply: { body: string; draftId: string | null } | null;
}

async function login(acc: TestAccount): Promise<Account> {
  const res = await fetch(`${GATEWAY}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ tenant: acc.slug, email: acc.email, password: TEST_PASSWORD }) });
  return { ...acc, token: ((await res.json()) as { accessToken: string }).accessToken };
}

async function call<T = Record<string, unknown>>(method: string, path: string, acc: Account, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: T }> {
  const res = await fetch(`${GATEWAY}${path}`, {
    method,
    headers: { authorization: `Bearer ${acc.token}`, ...(body === undefined ? {} : { 'content-type': typeof body === 'string' ? 'text/markdown' : 'application/json' }), ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
}

const ownerOf = (t: Ticket): Account => ops.find((o) => o.userId === t.assigneeId)!;

/** Waits until the ticket's current draft is pending in its assignee's queue. */
async function pendingDraft(ticketId: string, attempt = 1): Promise<Ticket> {
  return waitFor(`a pending draft (attempt ${attempt}) of ticket ${ticketId}`, async () => {
    const t = (await call<Ticket>('GET', `/tickets/${ticketId}`, admin)).body;
    return t.status === 'pending' && t.attempt === attempt ? t : undefined;
  }, 60_000, 200);
}

const newTicket = async (secret: string): Promise<Ticket> => {
  const r = await call<Ticket>('POST', '/tickets', admin, { customer: { name: `Dana ${secret}`, email: `${secret.toLowerCase()}@customer.test` }, subject: 'Refund', body: `How long does my refund take? ${secret}` });
  expect(r.status).toBe(201);
  return r.body;
};

const seen = (probe: KafkaProbe, type: string, ticketId: string) => probe.envelopes().find((e) => e.type === type && (e.payload as { ticketId?: string }).ticketId === ticketId) as Envelope | undefined;

beforeAll(async () => {
  processes = await startServices([
    {
      entry: 'apps/gateway/src/main.ts',
      env: { HOTDASH_GATEWAY_PORT: '3230', HOTDASH_DRAFTS_URL: DRAFTS, HOTDASH_QUOTA_URL: QUOTA, HOTDASH_KNOWLEDGE_URL: KNOWLEDGE, HOTDASH_AUDIT_URL: AUDIT },
      url: GATEWAY,
    },
    { entry: 'apps/drafts/src/main.ts', env: { HOTDASH_DRAFTS_PORT: '3231' }, url: DRAFTS },
    { entry: 'apps/ai-drafting/src/main.ts', env: { HOTDASH_AI_DRAFTING_PORT: '3232' }, url: AI_DRAFTING },
    { entry: 'apps/quota/src/main.ts', env: { HOTDASH_QUOTA_PORT: '3233' }, url: QUOTA },
    { entry: 'apps/knowledge/src/main.ts', env: { HOTDASH_KNOWLEDGE_PORT: '3234' }, url: KNOWLEDGE },
    { entry: 'apps/audit/src/main.ts', env: { HOTDASH_AUDIT_PORT: '3235' }, url: AUDIT },
    { entry: 'apps/relay/src/main.ts', env: { HOTDASH_RELAY_PORT: '3264' }, url: 'http://127.0.0.1:3264' },
  ]);
  tickets = await KafkaProbe.start(Topics.TICKETS);
  drafts = await KafkaProbe.start(Topics.DRAFTS);
  const acc = await createAccount(world, 'admin');
  // A plan with room for this spec's polling: Basic allows 100 requests a minute, which waiting for
  // drafts at 5 polls a second uses up whenever the machine is slow; limits have specs of their own.
  const roomy = `support-${newId().slice(-8)}`;
  const su = await world.connectSuperuser(world.config.db.controlDatabase);
  try {
    await su.query(`insert into plans (code, name, monthly_ticket_quota, rate_limit_per_minute, concurrency_limit, knowledge_base_bytes) values ($1, 'Support e2e', 5000, 100000, 50, 10737418240)`, [roomy]);
    await su.query('update tenants set plan_code = $1 where id = $2', [roomy, acc.tenantId]);
  } finally {
    await su.end();
  }
  await namespaces.create(acc.tenantId);
  // Its drafting profile, as provisioning announces it: ai-drafting keeps it from the event.
  await publishSettingsChanged(world, acc.tenantId, { companyName: 'Support Workflow Co', brandVoice: 'Warm and brief', policies: ['Never promise a date.'] });
  await waitFor(
    'the drafting profile kept by ai-drafting',
    async () => (await world.tenantDb.withTenant(acc.tenantId, (tx) => tx.db.selectFrom('drafting_profiles').select('version').where('tenant_id', '=', acc.tenantId).executeTakeFirst())) !== undefined,
    60_000,
    200,
  );
  admin = await login(acc);
  ops = [await login(await addOperator(world, acc, 'operator', 'red')), await login(await addOperator(world, acc, 'operator', 'red'))];
  const up = await call<{ id: string }>('POST', '/documents?title=Refunds', admin, '# Refunds\n\nA refund takes five business days to reach the card the customer paid with.\n');
  expect(up.status).toBe(202);
  documentId = up.body.id;
  await waitFor('the refunds document indexed', async () => (await call<{ state: string }>('GET', `/documents/${documentId}`, admin)).body.state === 'indexed', 60_000, 200);
}, 180_000);

afterAll(async () => {
  await Promise.all(processes.map((p) => p.stop()));
  await tickets?.close();
  await drafts?.close();
  await namespaces.deleteAll();
  await vectors.close();
  await world.close();
}, 60_000);

it('ticket in → a draft citing the tenant’s document in the assigned operator’s queue → approved → reply.sent', async () => {
  const created = await newTicket('Alpha');
  expect(created).toMatchObject({ status: 'drafting' });
  const owner = ownerOf(created);
  const other = ops.find((o) => o !== owner)!;
  const t = await pendingDraft(created.id);
  const draft = t.drafts[0]!;
  expect(draft).toMatchObject({ status: 'pending', model: 'offline-extractive-1' });
  expect(draft.citations.map((c) => c.documentId)).toContain(documentId);
  expect(draft.body).toMatch(/five business days/);
  // Signed with the company name of the drafting profile ai-drafting keeps from tenant.settings-changed.
  expect(draft.body).toMatch(/Support Workflow Co Support$/);
  // The owner's queue has it; the other operator's does not, and fetching it is a 404 like a missing ticket.
  expect((await call<{ tickets: { id: string }[] }>('GET', '/tickets?status=pending', owner)).body.tickets.map((x) => x.id)).toContain(t.id);
  expect((await call<{ tickets: { id: string }[] }>('GET', '/tickets', other)).body.tickets.map((x) => x.id)).not.toContain(t.id);
  const foreign = await call('GET', `/tickets/${t.id}`, other);
  const missing = await call('GET', `/tickets/${newId()}`, other);
  expect([foreign.status, foreign.body.code]).toEqual([missing.status, missing.body.code]);
  expect((await call('POST', `/drafts/${draft.id}/approve`, other)).status).toBe(404);

  const approved = await call<Ticket>('POST', `/drafts/${draft.id}/approve`, owner);
  expect(approved.status).toBe(200);
  expect(approved.body).toMatchObject({ status: 'replied', reply: { draftId: draft.id, body: draft.body } });
  const sent = await waitFor('reply.sent on Kafka', async () => seen(tickets, TicketEvents.REPLY_SENT, t.id));
  expect(await cipher.decrypt(admin.tenantId, SupportFields.REPLY_BODY, (sent.payload as { bodyEnc: string }).bodyEnc)).toBe(draft.body);
  await waitFor('draft.approved on Kafka', async () => seen(drafts, 'draft.approved', t.id));
  const again = await call('POST', `/drafts/${draft.id}/approve`, owner);
  expect([again.status, again.body.code]).toEqual([409, 'draft-not-pending']);
});

it('edit path: the edited text is the reply and the change is kept', async () => {
  const t = await pendingDraft((await newTicket('Bravo')).id);
  const owner = ownerOf(t);
  const edited = await call<Ticket & { drafts: { diff: string | null; editedBody: string | null }[] }>('POST', `/drafts/${t.currentDraftId}/edit`, owner, { body: 'Your refund is on its way: allow five business days.' });
  expect(edited.status).toBe(200);
  expect(edited.body.reply!.body).toBe('Your refund is on its way: allow five business days.');
  expect(edited.body.drafts[0]!.diff).toContain('+Your refund is on its way');
  const event = await waitFor('draft.edited on Kafka', async () => seen(drafts, 'draft.edited', t.id));
  expect((event.payload as { changed: { charactersAdded: number } }).changed.charactersAdded).toBeGreaterThan(0);
  const sent = await waitFor('reply.sent on Kafka', async () => seen(tickets, TicketEvents.REPLY_SENT, t.id));
  expect(await cipher.decrypt(admin.tenantId, SupportFields.REPLY_BODY, (sent.payload as { bodyEnc: string }).bodyEnc)).toBe('Your refund is on its way: allow five business days.');
});

it('reject path: rejected with a reason, a new draft asked for and written, then approved', async () => {
  const t = await pendingDraft((await newTicket('Charlie')).id);
  const owner = ownerOf(t);
  const rejected = await call<Ticket>('POST', `/drafts/${t.currentDraftId}/reject`, owner, { reason: 'Too short' });
  expect(rejected.body.status).toBe('rejected');
  await waitFor('draft.rejected on Kafka', async () => seen(drafts, 'draft.rejected', t.id));
  expect((await call('POST', `/drafts/${t.currentDraftId}/approve`, owner)).body.code).toBe('draft-not-pending');
  expect((await call('POST', `/tickets/${t.id}/regenerate`, owner)).status).toBe(202);
  const second = await pendingDraft(t.id, 2);
  expect(second.drafts.map((d) => d.status)).toEqual(['rejected', 'pending']);
  expect((await call<Ticket>('POST', `/drafts/${second.currentDraftId}/approve`, owner)).body.status).toBe('replied');
  await waitFor('reply.sent on Kafka', async () => seen(tickets, TicketEvents.REPLY_SENT, t.id));
});

it('takes a ticket an integration submits on Kafka into the queue with its draft, under the draft id ticket.received named', async () => {
  const externalId = `chat-${newId()}`;
  const enc = (f: string, v: string) => cipher.encrypt(admin.tenantId, f, v);
  const envelope = buildEnvelope(
    TicketEvents.SUBMITTED,
    {
      tenantId: admin.tenantId,
      externalId,
      channel: 'chat',
      customerNameEnc: await enc(SupportFields.CUSTOMER_NAME, 'Lee Delta'),
      customerEmailEnc: await enc(SupportFields.CUSTOMER_EMAIL, 'lee@customer.test'),
      subjectEnc: null,
      bodyEnc: await enc(SupportFields.BODY, 'When will my refund arrive? Delta'),
      receivedAt: new Date().toISOString(),
    },
    { tenantId: admin.tenantId, producer: 'chat-integration', correlationId: newId() },
  );
  const producer = await tickets.producer();
  // Delivered twice by the integration: stored and announced once.
  for (let i = 0; i < 2; i++) await producer.send([{ topic: Topics.TICKETS, key: admin.tenantId, value: JSON.stringify(envelope), headers: headersFor(envelope) }]);
  const announced = () => tickets.envelopes().filter((e) => e.type === TicketEvents.RECEIVED && (e.payload as { externalId: string | null }).externalId === externalId);
  await waitFor('ticket.received for the submitted ticket', async () => announced().length > 0);
  const received = announced()[0]!;
  expect(received).toMatchObject({ producer: 'drafts', causationId: envelope.id, correlationId: envelope.correlationId });
  const { ticketId, draftId } = received.payload as { ticketId: string; draftId: string };
  const t = await pendingDraft(ticketId);
  expect(t.assigneeId).not.toBeNull();
  expect(t.currentDraftId).toBe(draftId);
  expect(t.drafts[0]!.citations.map((c) => c.documentId)).toContain(documentId);
  expect(announced()).toHaveLength(1);
});

it('sends no customer text, draft or reply over Kafka in plaintext', async () => {
  await waitFor('the tenant’s events on Kafka', async () => tickets.envelopes().filter((e) => e.tenantId === admin.tenantId).length >= 7);
  const raw = [...tickets.records, ...drafts.records].filter((r) => r.value.toString('utf8').includes(admin.tenantId)).map((r) => r.value.toString('utf8'));
  expect(raw.length).toBeGreaterThan(10);
  for (const secret of ['Alpha', 'Bravo', 'Charlie', 'Delta', 'five business days', 'customer.test', 'Too short']) {
    expect([secret, raw.filter((r) => r.includes(secret)).length]).toEqual([secret, 0]);
  }
});

it('holds the plan’s monthly tickets exactly: 6 concurrent tickets against 3 left, 3 made, 3 refused with 429', async () => {
  const plan = `tickets-${newId().slice(-8)}`;
  const acc = await createAccount(world, 'admin');
  const su = await world.connectSuperuser(world.config.db.controlDatabase);
  try {
    await su.query(`insert into plans (code, name, monthly_ticket_quota, rate_limit_per_minute, concurrency_limit, knowledge_base_bytes) values ($1, 'Tiny', 3, 1000, 50, 1000000)`, [plan]);
    await su.query('update tenants set plan_code = $1 where id = $2', [plan, acc.tenantId]);
  } finally {
    await su.end();
  }
  const small = await login(acc);
  const results = await Promise.all(
    Array.from({ length: 6 }, (_, i) => call('POST', '/tickets', small, { customer: { name: 'Ed', email: `ed${i}@customer.test` }, body: `Ticket ${i}` })),
  );
  expect(results.map((r) => r.status).sort()).toEqual([201, 201, 201, 429, 429, 429]);
  expect(results.filter((r) => r.status === 429).every((r) => r.body.code === 'quota-exceeded')).toBe(true);
  // The holds become usage when quota counts each stored ticket from its ticket.received.
  const ticketQuota = async () => (await call<{ quotas: { metric: string; used: number; reserved: number }[] }>('GET', '/usage', small)).body.quotas.find((q) => q.metric === 'tickets');
  await waitFor('the three tickets counted', async () => (await ticketQuota())?.used === 3, 60_000, 250);
  expect(await ticketQuota()).toMatchObject({ used: 3, reserved: 0 });
  // A ticket sent again with its externalId is the same ticket, and holds no quota.
  const first = await call<Ticket>('POST', '/tickets', admin, { customer: { name: 'Fay', email: 'fay@customer.test' }, body: 'Again?', externalId: 'crm-42' });
  const repeat = await call<Ticket>('POST', '/tickets', admin, { customer: { name: 'Fay', email: 'fay@customer.test' }, body: 'Again?', externalId: 'crm-42' });
  expect([first.status, repeat.status, repeat.body.id]).toEqual([201, 200, first.body.id]);
});

it('records the workflow in the tenant’s audit chain, decisions under the operator who made them', async () => {
  const types = ['ticket.received', 'draft.generated', 'draft.approved', 'draft.edited', 'draft.rejected', 'draft.requested', 'reply.sent'];
  const rows = await waitFor('the support events in the audit log', async () => {
    const r = await world.tenantDb.withTenant(admin.tenantId, (tx) => sql<{ event_type: string; actor_id: string | null }>`select event_type, actor_id from audit_log`.execute(tx.db).then((r) => r.rows));
    return types.every((t) => r.some((x) => x.event_type === t)) ? r : undefined;
  }, 60_000, 250);
  const approvedBy = rows.filter((r) => r.event_type === 'draft.approved').map((r) => r.actor_id);
  expect(approvedBy.every((a) => ops.some((o) => a === `user:${o.userId}`))).toBe(true);
  expect((await call('GET', '/audit-log/verify', admin)).body).toMatchObject({ ok: true });
});
