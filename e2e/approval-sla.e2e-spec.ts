// The approval SLA across processes (gateway, provisioning, drafts, relay; real shards and Kafka):
// an admin sets a workflow's SLA through the settings API; tenant.approval-workflows-changed
// reaches drafts' own copy; a ticket an integration submits with an arrival already past that SLA
// (the due time set in the past through the owner's own path, no waiting) is flagged by the drafts
// service's running sweep, escalated to the team lead with one ticket.sla-breached, shown and found
// by the breached filter through the gateway, and counted in GET /draft-metrics. Tenant B sees
// none of it through any route. Bad filter input is a problem+json 400.
import { sql } from 'kysely';
import { SlaEvents, TicketEvents, TenantId } from '@hotdash/contracts';
import { FieldCipher, LocalKms, TenantKeyring } from '@hotdash/platform-crypto';
import { newId } from '@hotdash/platform-db';
import { publishInTx } from '@hotdash/platform-messaging';
import { addOperator, createAccount, ServiceProcess, startServices, TEST_PASSWORD, TestAccount, TestWorld, waitFor } from '@hotdash/testing';

jest.setTimeout(120_000);

const GATEWAY = 'http://127.0.0.1:3590';
const PROVISIONING = 'http://127.0.0.1:3591';
const DRAFTS = 'http://127.0.0.1:3592';
const RELAY = 'http://127.0.0.1:3593';
const world = new TestWorld();
const cipher = new FieldCipher(new TenantKeyring(world.dbs, LocalKms.fromEnv()));
let processes: ServiceProcess[] = [];

type Account = TestAccount & { token: string };

async function login(acc: TestAccount): Promise<Account> {
  const res = await fetch(`${GATEWAY}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ tenant: acc.slug, email: acc.email, password: TEST_PASSWORD }) });
  return { ...acc, token: ((await res.json()) as { accessToken: string }).accessToken };
}

async function call<T = Record<string, unknown>>(method: string, path: string, acc: Account, body?: unknown): Promise<{ status: number; type: string | null; body: T }> {
  const res = await fetch(`${GATEWAY}${path}`, {
    method,
    headers: { authorization: `Bearer ${acc.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, type: res.headers.get('content-type'), body: (text ? JSON.parse(text) : undefined) as T };
}

interface Ticket {
  id: string;
  slaDueAt: string | null;
  slaBreached: boolean;
  slaBreachedAt: string | null;
  slaEscalatedTo: string | null;
}

let a: Account;
let b: Account;
let lead: TestAccount;
let operator: TestAccount;

beforeAll(async () => {
  processes = await startServices([
    { entry: 'apps/gateway/src/main.ts', env: { HOTDASH_GATEWAY_PORT: '3590', HOTDASH_PROVISIONING_URL: PROVISIONING, HOTDASH_DRAFTS_URL: DRAFTS }, url: GATEWAY },
    { entry: 'apps/provisioning/src/main.ts', env: { HOTDASH_PROVISIONING_PORT: '3591' }, url: PROVISIONING },
    { entry: 'apps/drafts/src/main.ts', env: { HOTDASH_DRAFTS_PORT: '3592', HOTDASH_DRAFTS_SLA_SWEEP_MS: '250' }, url: DRAFTS },
    { entry: 'apps/relay/src/main.ts', env: { HOTDASH_RELAY_PORT: '3593' }, url: RELAY },
  ]);
  const accA = await createAccount(world, 'admin');
  const accB = await createAccount(world, 'admin');
  operator = await addOperator(world, accA, 'operator', 'red');
  lead = await addOperator(world, accA, 'team_lead', 'red');
  [a, b] = await Promise.all([login(accA), login(accB)]);
}, 120_000);

afterAll(async () => {
  await Promise.all(processes.map((p) => p.stop()));
  for (const acc of [a, b]) if (acc) await world.tenantDb.withTenant(acc.tenantId, (tx) => sql`select * from erase_tenant(${acc.tenantId}::uuid)`.execute(tx.db));
  await world.close();
}, 60_000);

const settings = (version: number, minutes: number) => ({
  version,
  companyName: 'Alpha Outfitters',
  brandVoice: '',
  policies: [],
  approvalWorkflows: [
    { key: 'general', name: 'General queue', approverRoles: ['operator', 'team_lead'], isDefault: true, sla: { firstDecisionMinutes: minutes, escalateToTeamLead: true } },
    { key: 'vip', name: 'VIP', approverRoles: ['team_lead'], isDefault: false, sla: { firstDecisionMinutes: 5, escalateToTeamLead: true } },
  ],
  model: { mode: 'platform' },
});

/** A ticket an integration hands in (ticket.submitted through the tenant's outbox), arrived `agoMinutes` ago; resolves with its id once drafts stored it. */
async function submitted(tenantId: TenantId, agoMinutes: number): Promise<string> {
  const externalId = `sla-${newId()}`;
  const enc = (field: string, value: string) => cipher.encrypt(tenantId, field, value);
  const payload = {
    tenantId,
    externalId,
    channel: 'integration' as const,
    customerNameEnc: await enc('tickets.customer_name', 'Robin Customer'),
    customerEmailEnc: await enc('tickets.customer_email', 'robin@customer.test'),
    subjectEnc: null,
    bodyEnc: await enc('tickets.body', 'Still waiting for my parcel.'),
    receivedAt: new Date(Date.now() - agoMinutes * 60_000).toISOString(),
  };
  await world.tenantDb.withTenant(tenantId, (tx) => publishInTx(tx, TicketEvents.SUBMITTED, payload, { tenantId, producer: 'integration', correlationId: newId() }));
  return waitFor(`drafts to store ticket ${externalId}`, async () =>
    (await world.tenantDb.withTenant(tenantId, (tx) => tx.db.selectFrom('tickets').select('id').where('external_id', '=', externalId).executeTakeFirst()))?.id,
  );
}

it('flags, escalates, shows and counts a ticket past the SLA an admin set; tenant B sees none of it', async () => {
  const read = await call<{ version: number }>('GET', '/settings', a);
  expect(read.status).toBe(200);
  const put = await call<{ version: number }>('PUT', '/settings', a, settings(read.body.version, 30));
  expect(put.status).toBe(200);
  // The settings event reaches drafts' own copy of the workflows.
  await waitFor('drafts to keep the new workflows', async () =>
    (await world.tenantDb.withTenant(a.tenantId, (tx) => tx.db.selectFrom('queue_workflows').select('version').executeTakeFirst()))?.version === put.body.version,
  );

  // Arrived 45 minutes ago, with 30 to the first decision: overdue as it is stored.
  const late = await submitted(a.tenantId, 45);
  // One in time (arrived now) stays unflagged.
  const fresh = await submitted(a.tenantId, 0);
  const flagged = await waitFor('the sweep to flag the late ticket', async () => {
    const r = await call<{ tickets: Ticket[] }>('GET', '/tickets?breached=true', a);
    return r.body.tickets?.find((t) => t.id === late);
  });
  expect(flagged).toMatchObject({ slaBreached: true, slaEscalatedTo: lead.userId });
  expect(Date.parse(flagged.slaBreachedAt!)).toBeGreaterThanOrEqual(Date.parse(flagged.slaDueAt!));
  const one = await call<Ticket>('GET', `/tickets/${late}`, a);
  expect(one.body).toMatchObject({ id: late, slaBreached: true, slaEscalatedTo: lead.userId });
  const inTime = await call<Ticket>('GET', `/tickets/${fresh}`, a);
  expect(inTime.body).toMatchObject({ slaBreached: false, slaBreachedAt: null });
  expect(Date.parse(inTime.body.slaDueAt!) - Date.now()).toBeGreaterThan(25 * 60_000);
  expect((await call<{ tickets: Ticket[] }>('GET', '/tickets?breached=false', a)).body.tickets.map((t) => t.id)).toEqual([fresh]);

  const breaches = await world.tenantDb.withTenant(a.tenantId, (tx) =>
    tx.db.selectFrom('outbox').select(['envelope']).where('type', '=', SlaEvents.BREACHED).$castTo<{ envelope: { payload: Record<string, unknown> } }>().execute(),
  );
  expect(breaches.map((e) => e.envelope.payload)).toEqual([expect.objectContaining({ ticketId: late, assigneeId: operator.userId, escalation: 'team_lead', escalatedTo: lead.userId })]);

  const m = await call<{ sla: Record<string, unknown> }>('GET', '/draft-metrics', a);
  expect(m.status).toBe(200);
  expect(m.body.sla).toMatchObject({ breached: 1, openBreached: 1 });

  // Tenant B: nothing of A's, through any route.
  expect((await call<{ tickets: Ticket[] }>('GET', '/tickets?breached=true', b)).body.tickets).toEqual([]);
  expect((await call('GET', `/tickets/${late}`, b)).status).toBe(404);
  expect((await call<{ sla: Record<string, unknown> }>('GET', '/draft-metrics', b)).body.sla).toMatchObject({ breached: 0, openBreached: 0, withinSlaRate: null });
  expect(await world.tenantDb.withTenant(b.tenantId, (tx) => tx.db.selectFrom('outbox').select('id').where('type', '=', SlaEvents.BREACHED).execute())).toEqual([]);

  const bad = await call<{ code: string }>('GET', '/tickets?breached=maybe', a);
  expect([bad.status, bad.type?.split(';')[0], bad.body.code]).toEqual([400, 'application/problem+json', 'validation-failed']);
});
