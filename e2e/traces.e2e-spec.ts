// Traces across processes (issue 17 item 1): the gateway, drafts, ai-drafting, quota, audit and the
// relay export their spans (OTLP/HTTP JSON) to a receiver this spec runs. A ticket in through the
// gateway is one trace from the gateway's request through drafts, the outbox, the relay, Kafka,
// ai-drafting's consumer, its BullMQ job and worker, back through draft.generated to drafts and to
// audit; the operator's approval is one trace from the gateway's request to reply.sent and its
// consumer. Every span of both carries the tenant's id; no span anywhere holds the ticket's text.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DraftEvents, Envelope, TicketEvents, Topics } from '@hotdash/contracts';
import { newId } from '@hotdash/platform-db';
import { WeaviateVectorStore } from '@hotdash/platform-vector';
import { addOperator, createAccount, KafkaProbe, publishSettingsChanged, ServiceProcess, startServices, TEST_PASSWORD, TestAccount, TestWorld, VectorNamespaces, waitFor } from '@hotdash/testing';

jest.setTimeout(150_000);

const GATEWAY = 'http://127.0.0.1:3370';
const DRAFTS = 'http://127.0.0.1:3371';
const AI_DRAFTING = 'http://127.0.0.1:3372';
const QUOTA = 'http://127.0.0.1:3373';
const AUDIT = 'http://127.0.0.1:3374';
const RELAY = 'http://127.0.0.1:3375';
const world = new TestWorld();
const vectors = WeaviateVectorStore.fromConfig(world.config);
const namespaces = new VectorNamespaces(vectors);

/** A span as the receiver got it: OTLP/JSON, flattened. */
interface ExportedSpan {
  service: string;
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  kind: number;
  attributes: Record<string, unknown>;
}

/** The local OTLP receiver: POST /v1/traces, OTLP/HTTP with JSON bodies. Keeps every body as it came, and the spans flattened. */
class OtlpReceiver {
  readonly bodies: string[] = [];
  readonly spans: ExportedSpan[] = [];
  private server?: Server;

  async start(): Promise<string> {
    this.server = createServer((req, res) => void this.take(req).then((status) => res.writeHead(status, { 'content-type': 'application/json' }).end('{}')));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  private async take(req: IncomingMessage): Promise<number> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    if (req.method !== 'POST' || req.url !== '/v1/traces' || !String(req.headers['content-type']).includes('json')) return 415;
    const body = Buffer.concat(chunks).toString('utf8');
    this.bodies.push(body);
    const parsed = JSON.parse(body) as { resourceSpans?: { resource?: { attributes?: KeyValue[] }; scopeSpans?: { spans?: RawSpan[] }[] }[] };
    for (const rs of parsed.resourceSpans ?? []) {
      const service = String(attributesOf(rs.resource?.attributes)['service.name']);
      for (const ss of rs.scopeSpans ?? [])
        for (const s of ss.spans ?? []) this.spans.push({ service, traceId: s.traceId, spanId: s.spanId, parentSpanId: s.parentSpanId ?? '', name: s.name, kind: s.kind, attributes: attributesOf(s.attributes) });
    }
    return 200;
  }

  async close(): Promise<void> {
    await new Promise((resolve) => this.server?.close(resolve));
  }
}

interface KeyValue {
  key: string;
  value: { stringValue?: string; intValue?: number | string; boolValue?: boolean; doubleValue?: number; arrayValue?: unknown };
}
interface RawSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes?: KeyValue[];
}
function attributesOf(kvs: KeyValue[] | undefined): Record<string, unknown> {
  return Object.fromEntries((kvs ?? []).map((kv) => [kv.key, kv.value.stringValue ?? kv.value.intValue ?? kv.value.boolValue ?? kv.value.doubleValue ?? kv.value.arrayValue]));
}

// OTLP span kinds.
const SERVER = 2;
const PRODUCER = 4;
const CONSUMER = 5;

const receiver = new OtlpReceiver();
let processes: ServiceProcess[] = [];
let tickets: KafkaProbe;
let draftsProbe: KafkaProbe;
type Account = TestAccount & { token: string };
let admin: Account;
let ops: Account[];

async function login(acc: TestAccount): Promise<Account> {
  const res = await fetch(`${GATEWAY}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ tenant: acc.slug, email: acc.email, password: TEST_PASSWORD }) });
  return { ...acc, token: ((await res.json()) as { accessToken: string }).accessToken };
}

async function call<T = Record<string, unknown>>(method: string, path: string, acc: Account, body?: unknown): Promise<{ status: number; body: T }> {
  const res = await fetch(`${GATEWAY}${path}`, {
    method,
    // A client's own traceparent: the gateway, the public edge, must not continue it.
    headers: { authorization: `Bearer ${acc.token}`, traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
}

/** What the receiver holds, per service and span, for a failure's message. */
const summary = () => [...new Set(receiver.spans.map((s) => `${s.service} ${s.kind} ${s.name} ${s.attributes['hotdash.event.type'] ?? ''}`))].sort().join('\n');
async function traceWith<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
  try {
    // The last hops (audit taking the events) may lag on a loaded machine; a failure lists what did arrive.
    return await waitFor(what, probe, 60_000, 200);
  } catch (err) {
    throw new Error(`${(err as Error).message}\nspans received (${receiver.spans.length}):\n${summary()}`);
  }
}

const seen = (probe: KafkaProbe, type: string, ticketId: string) => probe.envelopes().find((e) => e.type === type && (e.payload as { ticketId?: string }).ticketId === ticketId) as Envelope | undefined;
const spansOf = (traceId: string) => receiver.spans.filter((s) => s.traceId === traceId);
const has = (spans: ExportedSpan[], service: string, kind: number, attributes: Record<string, unknown> = {}) =>
  spans.some((s) => s.service === service && s.kind === kind && Object.entries(attributes).every(([k, v]) => s.attributes[k] === v));

beforeAll(async () => {
  const otlp = await receiver.start();
  // Standard OTEL_* settings only; spans go out every 100 ms so the spec need not wait long.
  const otel = { OTEL_EXPORTER_OTLP_ENDPOINT: otlp, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_BSP_SCHEDULE_DELAY: '100', OTEL_TRACES_SAMPLER: 'parentbased_always_on' };
  processes = await startServices([
    { entry: 'apps/gateway/src/main.ts', env: { ...otel, HOTDASH_GATEWAY_PORT: '3370', HOTDASH_DRAFTS_URL: DRAFTS, HOTDASH_QUOTA_URL: QUOTA, HOTDASH_AUDIT_URL: AUDIT }, url: GATEWAY },
    { entry: 'apps/drafts/src/main.ts', env: { ...otel, HOTDASH_DRAFTS_PORT: '3371' }, url: DRAFTS },
    { entry: 'apps/ai-drafting/src/main.ts', env: { ...otel, HOTDASH_AI_DRAFTING_PORT: '3372' }, url: AI_DRAFTING },
    { entry: 'apps/quota/src/main.ts', env: { ...otel, HOTDASH_QUOTA_PORT: '3373' }, url: QUOTA },
    { entry: 'apps/audit/src/main.ts', env: { ...otel, HOTDASH_AUDIT_PORT: '3374' }, url: AUDIT },
    { entry: 'apps/relay/src/main.ts', env: { ...otel, HOTDASH_RELAY_PORT: '3375' }, url: RELAY },
  ]);
  tickets = await KafkaProbe.start(Topics.TICKETS);
  draftsProbe = await KafkaProbe.start(Topics.DRAFTS);
  const acc = await createAccount(world, 'admin');
  // A plan with room for the polling below (Basic allows 100 requests a minute).
  const roomy = `traces-${newId().slice(-8)}`;
  const su = await world.connectSuperuser(world.config.db.controlDatabase);
  try {
    await su.query(`insert into plans (code, name, monthly_ticket_quota, rate_limit_per_minute, concurrency_limit, knowledge_base_bytes) values ($1, 'Traces e2e', 5000, 100000, 50, 10737418240)`, [roomy]);
    await su.query('update tenants set plan_code = $1 where id = $2', [roomy, acc.tenantId]);
  } finally {
    await su.end();
  }
  await namespaces.create(acc.tenantId);
  await publishSettingsChanged(world, acc.tenantId, { companyName: 'Traces Co', brandVoice: 'Brief', policies: [] });
  await waitFor(
    'the drafting profile kept by ai-drafting',
    async () => (await world.tenantDb.withTenant(acc.tenantId, (tx) => tx.db.selectFrom('drafting_profiles').select('version').where('tenant_id', '=', acc.tenantId).executeTakeFirst())) !== undefined,
    60_000,
    200,
  );
  admin = await login(acc);
  ops = [await login(await addOperator(world, acc, 'operator', 'red'))];
}, 120_000);

afterAll(async () => {
  await Promise.all(processes.map((p) => p.stop()));
  await tickets?.close();
  await draftsProbe?.close();
  await receiver.close();
  await namespaces.deleteAll();
  await vectors.close();
  await world.close();
}, 60_000);

it('one trace from the gateway through drafts, the relay, Kafka, the drafting job and back; one from the approval to reply.sent; every span with tenant.id, none with the ticket’s text', async () => {
  const secret = `Zebra${newId().slice(-12).replace(/-/g, '')}`;
  const email = `${secret.toLowerCase()}@customer.test`;
  const created = await call<{ id: string; assigneeId: string }>('POST', '/tickets', admin, { customer: { name: `Dana ${secret}`, email }, subject: `Refund ${secret}`, body: `How long does my refund take? ${secret}` });
  expect(created.status).toBe(201);
  const ticketId = created.body.id;
  const pending = await waitFor(
    'a pending draft',
    async () => {
      const t = (await call<{ status: string; currentDraftId: string }>('GET', `/tickets/${ticketId}`, admin)).body;
      return t.status === 'pending' ? t : undefined;
    },
    60_000,
    250,
  );
  const owner = ops.find((o) => o.userId === created.body.assigneeId) ?? admin;
  expect((await call('POST', `/drafts/${pending.currentDraftId}/approve`, owner)).status).toBe(200);
  const received = await waitFor('ticket.received on Kafka', async () => seen(tickets, TicketEvents.RECEIVED, ticketId));
  const generated = await waitFor('draft.generated on Kafka', async () => seen(draftsProbe, DraftEvents.GENERATED, ticketId));
  const sent = await waitFor('reply.sent on Kafka', async () => seen(tickets, TicketEvents.REPLY_SENT, ticketId));

  // The ticket's trace: found by the relay's send of its ticket.received, then complete once the
  // last hop (drafts and audit taking draft.generated) has exported its spans.
  const ticketTrace = await traceWith(
    'the ticket’s trace, from the gateway to draft.generated taken by drafts',
    async () => {
      const send = receiver.spans.find((s) => s.kind === PRODUCER && s.attributes['messaging.message.id'] === received.id);
      if (!send) return undefined;
      const spans = spansOf(send.traceId);
      const complete =
        has(spans, 'gateway', SERVER) &&
        has(spans, 'drafts', SERVER) &&
        has(spans, 'ai-drafting', CONSUMER, { 'messaging.message.id': received.id }) &&
        has(spans, 'ai-drafting', CONSUMER, { 'messaging.system': 'bullmq' }) &&
        has(spans, 'relay', PRODUCER, { 'messaging.message.id': generated.id }) &&
        has(spans, 'drafts', CONSUMER, { 'messaging.message.id': generated.id }) &&
        has(spans, 'audit', CONSUMER, { 'messaging.message.id': generated.id });
      return complete ? spans : undefined;
    },
  );
  // Its traceparent was carried in the envelopes: they name spans of that trace.
  expect(received.traceparent?.split('-')[1]).toBe(ticketTrace[0]!.traceId);
  expect(generated.traceparent?.split('-')[1]).toBe(ticketTrace[0]!.traceId);

  const replyTrace = await traceWith(
    'the approval’s trace, from the gateway to reply.sent taken by audit',
    async () => {
      const send = receiver.spans.find((s) => s.kind === PRODUCER && s.attributes['messaging.message.id'] === sent.id);
      const spans = send ? spansOf(send.traceId) : [];
      return has(spans, 'gateway', SERVER) && has(spans, 'drafts', SERVER) && has(spans, 'audit', CONSUMER, { 'messaging.message.id': sent.id }) ? spans : undefined;
    },
  );

  for (const trace of [ticketTrace, replyTrace]) {
    // One tree: the gateway's request span is the root (the client's traceparent was not taken),
    // and every other span's parent is in the trace.
    const ids = new Set(trace.map((s) => s.spanId));
    const roots = trace.filter((s) => !s.parentSpanId);
    expect(roots.map((s) => [s.service, s.kind])).toEqual([['gateway', SERVER]]);
    expect(trace.filter((s) => s.parentSpanId && !ids.has(s.parentSpanId)).map((s) => `${s.service}: ${s.name}`)).toEqual([]);
    expect(trace[0]!.traceId).not.toBe('0af7651916cd43dd8448eb211c80319c');
    // Every span carries the tenant; the instrumented stores are in it (pg, Redis for the job).
    expect(trace.filter((s) => s.attributes['tenant.id'] !== admin.tenantId).map((s) => `${s.service}: ${s.name}`)).toEqual([]);
    expect(trace.some((s) => s.attributes['db.system'] === 'postgresql' || s.attributes['db.system.name'] === 'postgresql')).toBe(true);
  }
  expect(ticketTrace.some((s) => s.service === 'ai-drafting' && (s.attributes['db.system'] === 'redis' || s.attributes['db.system.name'] === 'redis'))).toBe(true);

  // Nothing the customer wrote, nor their name or address, in any span any service exported.
  expect(receiver.bodies.length).toBeGreaterThan(0);
  const everything = receiver.bodies.join('\n').toLowerCase();
  // Nor the e-mail address the admin signed in with (a request body, like the ticket's).
  for (const text of [secret.toLowerCase(), email, 'how long does my refund take', admin.email.toLowerCase()]) expect(everything).not.toContain(text);
});
