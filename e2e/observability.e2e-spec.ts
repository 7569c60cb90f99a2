// Structured logs and metrics across real service processes (issue 17, items 2 and 3): a ticket goes
// through the support workflow (in at the gateway, drafted by ai-drafting, approved, reply.sent) with
// every service logging JSON at debug level. Every line every process wrote parses as JSON and
// names its service; request lines carry the tenant and correlation; no line holds the ticket's
// plaintext (customer name, e-mail, subject, body, draft), a password, an operator's address or a
// token. Each service's ops-only metrics port serves Prometheus series with bounded labels (route
// templates, tenant ids), none holding that plaintext, and the public API does not serve them.
import { randomBytes } from 'node:crypto';
import { TicketEvents, Topics } from '@hotdash/contracts';
import { newId } from '@hotdash/platform-db';
import { WeaviateVectorStore } from '@hotdash/platform-vector';
import { addOperator, createAccount, KafkaProbe, publishSettingsChanged, ServiceProcess, startProcess, TEST_PASSWORD, TestAccount, TestWorld, VectorNamespaces, waitFor } from '@hotdash/testing';

jest.setTimeout(120_000);

const PORTS = { gateway: 3440, drafts: 3441, 'ai-drafting': 3442, quota: 3443, relay: 3444 } as const;
type Service = keyof typeof PORTS;
const url = (s: Service) => `http://127.0.0.1:${PORTS[s]}`;
const metricsUrl = (s: Service) => `http://127.0.0.1:${PORTS[s] + 1000}/metrics`;
const GATEWAY = url('gateway');

const world = new TestWorld();
const vectors = WeaviateVectorStore.fromConfig(world.config);
const namespaces = new VectorNamespaces(vectors);
const processes = new Map<Service, ServiceProcess>();
/** Everything each process wrote, stdout and stderr, complete (the fixture's own buffer keeps only the last 100 kB). */
const written = new Map<Service, string[]>();
let tickets: KafkaProbe;

type Account = TestAccount & { token: string };
let admin: Account;
let ops: Account[];

// The ticket's text: each piece unique to this run, so finding one in a log line means it leaked.
const tag = randomBytes(6).toString('hex');
const customer = { name: `Dana Quill${tag}`, email: `quill.${tag}@customer.test` };
const subject = `Refund Zebra${tag}`;
const body = `How long does my refund take? Marmalade${tag}`;
const correlationId = `logspec-${randomBytes(6).toString('hex')}`;

async function login(acc: TestAccount): Promise<Account> {
  const res = await fetch(`${GATEWAY}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ tenant: acc.slug, email: acc.email, password: TEST_PASSWORD }) });
  expect(res.status).toBe(200);
  return { ...acc, token: ((await res.json()) as { accessToken: string }).accessToken };
}

async function call<T = Record<string, unknown>>(method: string, path: string, acc: Account, payload?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: T }> {
  const res = await fetch(`${GATEWAY}${path}`, {
    method,
    headers: { authorization: `Bearer ${acc.token}`, ...(payload === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    body: payload === undefined ? undefined : JSON.stringify(payload),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
}

interface Ticket {
  id: string;
  status: string;
  assigneeId: string | null;
  currentDraftId: string | null;
  drafts: { id: string; status: string; body: string | null }[];
}

/** The lines a service wrote, each parsed (a line that is not JSON fails with the line). */
function linesOf(s: Service): Record<string, unknown>[] {
  return written
    .get(s)!
    .join('')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => {
      try {
        return JSON.parse(l) as Record<string, unknown>;
      } catch {
        throw new Error(`${s} wrote a line that is not JSON: ${l.slice(0, 300)}`);
      }
    });
}

/** The label values of every series (the histogram bounds aside). */
function labelValues(text: string): string[] {
  return text
    .split('\n')
    .filter((l) => l && !l.startsWith('#'))
    .flatMap((l) => [...l.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].filter((x) => x[1] !== 'le').map((x) => x[2]!));
}

/** A series' value by name and labels (summed over the series that match), 0 when there is none. */
function valueOf(text: string, name: string, labels: Record<string, string>): number {
  return text
    .split('\n')
    .filter((l) => l.startsWith(`${name}{`) && Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`)))
    .reduce((n, l) => n + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
}

let draftBody = '';
let ticketId = '';

beforeAll(async () => {
  const entries: [Service, Record<string, string>][] = [
    ['gateway', { HOTDASH_GATEWAY_PORT: String(PORTS.gateway), HOTDASH_DRAFTS_URL: url('drafts'), HOTDASH_QUOTA_URL: url('quota') }],
    ['drafts', { HOTDASH_DRAFTS_PORT: String(PORTS.drafts) }],
    ['ai-drafting', { HOTDASH_AI_DRAFTING_PORT: String(PORTS['ai-drafting']) }],
    ['quota', { HOTDASH_QUOTA_PORT: String(PORTS.quota) }],
    ['relay', { HOTDASH_RELAY_PORT: String(PORTS.relay) }],
  ];
  for (const [service, env] of entries) {
    const p = startProcess(`apps/${service}/src/main.ts`, { ...env, HOTDASH_LOG_LEVEL: 'debug', HOTDASH_LOG_FORMAT: 'json', HOTDASH_METRICS_PORT: String(PORTS[service] + 1000) });
    const chunks: string[] = [];
    written.set(service, chunks);
    // Attached before the event loop turns: nothing the process writes is missed.
    p.child.stdout!.on('data', (d: Buffer) => chunks.push(d.toString()));
    p.child.stderr!.on('data', (d: Buffer) => chunks.push(d.toString()));
    processes.set(service, p);
  }
  for (const [service] of entries)
    await waitFor(`${service} answering /health`, async () => (await fetch(`${url(service)}/health`).then((r) => r.ok, () => false)) || processes.get(service)!.child.exitCode !== null, 60_000, 100).then(() => {
      if (processes.get(service)!.child.exitCode !== null) throw new Error(`${service} exited:\n${written.get(service)!.join('').slice(-4000)}`);
    });
  tickets = await KafkaProbe.start(Topics.TICKETS);
  const acc = await createAccount(world, 'admin');
  // Room for this spec's polling (Basic allows 100 requests a minute); limits have specs of their own.
  const roomy = `logs-${newId().slice(-8)}`;
  const su = await world.connectSuperuser(world.config.db.controlDatabase);
  try {
    await su.query(`insert into plans (code, name, monthly_ticket_quota, rate_limit_per_minute, concurrency_limit, knowledge_base_bytes) values ($1, 'Logs e2e', 100, 100000, 50, 1000000)`, [roomy]);
    await su.query('update tenants set plan_code = $1 where id = $2', [roomy, acc.tenantId]);
  } finally {
    await su.end();
  }
  await namespaces.create(acc.tenantId);
  await publishSettingsChanged(world, acc.tenantId, { companyName: 'Observability Co', brandVoice: 'Warm and brief' });
  await waitFor(
    'the drafting profile kept by ai-drafting',
    async () => (await world.tenantDb.withTenant(acc.tenantId, (tx) => tx.db.selectFrom('drafting_profiles').select('version').where('tenant_id', '=', acc.tenantId).executeTakeFirst())) !== undefined,
    30_000,
    200,
  );
  admin = await login(acc);
  ops = [await login(await addOperator(world, acc, 'operator'))];
}, 120_000);

afterAll(async () => {
  await Promise.all([...processes.values()].map((p) => p.stop()));
  await tickets?.close();
  await namespaces.deleteAll();
  await vectors.close();
  await world.close();
}, 60_000);

it('drives a ticket through draft, approval and reply.sent (the workflow whose logs and metrics are checked below)', async () => {
  const created = await call<Ticket>('POST', '/tickets', admin, { customer, subject, body }, { 'x-correlation-id': correlationId });
  expect(created.status).toBe(201);
  ticketId = created.body.id;
  const pending = await waitFor(
    'a pending draft',
    async () => {
      const t = (await call<Ticket>('GET', `/tickets/${ticketId}`, admin)).body;
      return t.status === 'pending' ? t : undefined;
    },
    45_000,
    250,
  );
  draftBody = pending.drafts[0]!.body!;
  expect(draftBody.length).toBeGreaterThan(20);
  const owner = [admin, ...ops].find((a) => a.userId === pending.assigneeId)!;
  expect((await call<Ticket>('POST', `/drafts/${pending.currentDraftId}/approve`, owner)).body.status).toBe('replied');
  await waitFor('reply.sent on Kafka', async () => tickets.envelopes().some((e) => e.type === TicketEvents.REPLY_SENT && (e.payload as { ticketId?: string }).ticketId === ticketId), 30_000);
});

it('serves each service’s metrics on its ops port, per route template and tenant, with no personal data in any label, and not on the public API', async () => {
  const tenant = admin.tenantId;
  const scrape = async (s: Service) => (await fetch(metricsUrl(s))).text();
  const gateway = await scrape('gateway');
  expect(valueOf(gateway, 'hotdash_http_requests_total', { tenant, http_route: '/tickets', http_request_method: 'POST', http_response_status_code: '201', service_name: 'gateway' })).toBe(1);
  expect(valueOf(gateway, 'hotdash_http_requests_total', { tenant, http_route: '/tickets/:id', http_request_method: 'GET' })).toBeGreaterThan(0);
  expect(valueOf(gateway, 'http_server_request_duration_count', { http_route: '/drafts/:id/approve', http_response_status_code: '200' })).toBe(1);
  const drafts = await waitFor('the approval counted by drafts', async () => {
    const text = await scrape('drafts');
    return valueOf(text, 'hotdash_drafts_total', { tenant, outcome: 'approved' }) === 1 ? text : undefined;
  });
  // (Consumer lag: libs/platform/messaging/src/consumer-lag.int-spec.ts. Here the group's partitions may
  // all be another spec's drafts process's, whose members share the group.)
  const aiDrafting = await scrape('ai-drafting');
  expect(valueOf(aiDrafting, 'hotdash_drafts_total', { tenant, outcome: 'generated' })).toBe(1);
  // The offline drafter reports no tokens (0): the series per tenant and kind are there all the same.
  for (const type of ['prompt', 'completion']) expect(aiDrafting).toMatch(new RegExp(`^hotdash_model_tokens_total\\{tenant="${tenant}",type="${type}"`, 'm'));
  expect(valueOf(aiDrafting, 'hotdash_jobs_total', { tenant, queue: 'hotdash-ai-drafting', outcome: 'completed' })).toBe(1);
  expect(valueOf(aiDrafting, 'hotdash_job_wait_count', { queue: 'hotdash-ai-drafting' })).toBeGreaterThanOrEqual(1);
  expect(aiDrafting).toMatch(/^hotdash_queue_depth\{[^}]*queue="hotdash-ai-drafting"[^}]*state="waiting"/m);
  const relay = await scrape('relay');
  expect(relay).toMatch(/^hotdash_relay_lag_events\{[^}]*database="control"/m);
  expect(relay).toMatch(/^hotdash_relay_lag_oldest\{[^}]*database="/m);
  const quota = await scrape('quota');
  expect(quota).toMatch(/^hotdash_http_requests_total\{/m);
  for (const [s, text] of Object.entries({ gateway, drafts, aiDrafting, relay, quota })) {
    const values = labelValues(text);
    for (const secret of [tag, ticketId, customer.email, 'customer.test', admin.email]) expect([s, secret, values.filter((v) => v.includes(secret))]).toEqual([s, secret, []]);
  }
  // Ops-only: the public API has no /metrics.
  expect((await fetch(`${GATEWAY}/metrics`)).status).toBe(404);
});

it('writes every log line of every service as JSON with its service; request lines carry tenant and correlation; no line holds the ticket’s text or a secret', async () => {
  // Stopped first: their last lines (shutdown) are scanned too.
  await Promise.all([...processes.values()].map((p) => p.stop()));
  const tenant = admin.tenantId;
  const all: { service: Service; line: Record<string, unknown>; raw: string }[] = [];
  for (const service of Object.keys(PORTS) as Service[]) {
    const lines = linesOf(service);
    expect([service, lines.length > 5]).toEqual([service, true]);
    for (const line of lines) {
      expect([service, line.service, typeof line.level, typeof line.time, typeof line.msg]).toEqual([service, service, 'string', 'string', 'string']);
      all.push({ service, line, raw: JSON.stringify(line) });
    }
  }
  const requests = all.filter((l) => l.line.msg === 'request completed');
  // The ticket in: the gateway's line carries the tenant (from the credential) and the caller's correlation id.
  const ticketIn = requests.filter((l) => l.service === 'gateway' && l.line.route === '/tickets' && l.line.method === 'POST');
  expect(ticketIn.map((l) => [l.line.tenantId, l.line.correlationId, l.line.status])).toEqual([[tenant, correlationId, 201]]);
  // Every request line has a correlation id and a route template (never a raw path); tenant routes have the tenant.
  for (const { service, line } of requests) {
    expect([service, typeof line.correlationId, typeof line.route, typeof line.status, typeof line.durationMs]).toEqual([service, 'string', 'string', 'number', 'number']);
    expect([service, String(line.route).includes(ticketId)]).toEqual([service, false]);
  }
  const tenantRoutes = requests.filter((l) => (l.service === 'gateway' || l.service === 'drafts') && /^\/(internal\/)?(tickets|drafts)\b/.test(String(l.line.route)) && Number(l.line.status) < 400);
  expect(new Set(tenantRoutes.map((l) => l.service))).toEqual(new Set(['gateway', 'drafts']));
  for (const { service, line } of tenantRoutes) expect([service, line.route, line.tenantId]).toEqual([service, line.route, tenant]);
  // Lines written inside the tenant's work (consumers, jobs, handlers) say so.
  expect(all.filter((l) => l.line.tenantId === tenant && l.line.msg !== 'request completed').length + tenantRoutes.length).toBeGreaterThan(0);
  // No personal data, no secret: the ticket's text, the draft, the accounts' addresses, the password, any token.
  const secrets = [customer.name, tag, customer.email, subject, body, draftBody, ...draftBody.split('\n').filter((l) => l.length > 25), admin.email, ...ops.map((o) => o.email), TEST_PASSWORD, admin.token, ...ops.map((o) => o.token)];
  for (const secret of secrets) expect([secret, all.filter((l) => l.raw.includes(secret)).map((l) => l.raw.slice(0, 300))]).toEqual([secret, []]);
  expect(all.filter((l) => /Bearer |eyJ[\w-]{10,}\.eyJ[\w-]{10,}/.test(l.raw)).map((l) => l.raw.slice(0, 300))).toEqual([]);
});
