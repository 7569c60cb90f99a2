// Tenant settings across processes (gateway, provisioning, ai-drafting, audit and the relay; real
// shards, Kafka, Redis, Weaviate): an admin sets brand voice, policies and the tenant's own model
// through the gateway; a manager reads but cannot write, an operator does neither; the change
// reaches ai-drafting's drafting profile through tenant.settings-changed, and the NEXT draft's prompt
// carries it — asserted on what a local OpenAI-compatible server (the tenants' own endpoints, allowed
// through the egress guard by HOTDASH_EGRESS_ALLOW) was sent, with the key as its only credential;
// tenant B never reads or changes A's settings through any route, and nothing of one tenant's
// settings reaches the other's prompts; the changes are in the tenant's audit chain; the key's
// plaintext is in no event, audit entry, answer or log line.
import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { TenantEvents, TenantId } from '@hotdash/contracts';
import { FieldCipher, LocalKms, TenantKeyring } from '@hotdash/platform-crypto';
import { newId } from '@hotdash/platform-db';
import { addOperator, announceTicket, createAccount, ServiceProcess, startServices, TEST_PASSWORD, TestAccount, TestWorld, VectorNamespaces, waitFor } from '@hotdash/testing';

jest.setTimeout(120_000);

const GATEWAY = 'http://127.0.0.1:3400';
const PROVISIONING = 'http://127.0.0.1:3401';
const AI_DRAFTING = 'http://127.0.0.1:3402';
const AUDIT = 'http://127.0.0.1:3403';
const RELAY = 'http://127.0.0.1:3404';
const world = new TestWorld();
const namespaces = VectorNamespaces.local(world.config);
const cipher = new FieldCipher(new TenantKeyring(world.dbs, LocalKms.fromEnv()));
let processes: ServiceProcess[] = [];

/** What the tenants' model endpoints were sent: `/<route>/v1/chat/completions`, route = the tenant's marker. */
const received: { route: string; authorization: string; body: string }[] = [];
let server: Server;
let modelBase: string;

function handle(req: IncomingMessage, res: ServerResponse): void {
  let body = '';
  req.on('data', (c: Buffer) => (body += c.toString()));
  req.on('end', () => {
    received.push({ route: req.url!.split('/')[1]!, authorization: req.headers.authorization ?? '', body });
    res.writeHead(200, { 'content-type': 'application/json' }).end(
      JSON.stringify({ model: 'own-model', choices: [{ index: 0, message: { role: 'assistant', content: 'Thanks for writing in.' } }], usage: { prompt_tokens: 50, completion_tokens: 5 } }),
    );
  });
}

type Account = TestAccount & { token: string };

async function login(acc: TestAccount): Promise<Account> {
  const res = await fetch(`${GATEWAY}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ tenant: acc.slug, email: acc.email, password: TEST_PASSWORD }) });
  return { ...acc, token: ((await res.json()) as { accessToken: string }).accessToken };
}

async function call<T = Record<string, unknown>>(method: string, path: string, acc: Account, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; text: string; body: T }> {
  const res = await fetch(`${GATEWAY}${path}`, {
    method,
    headers: { authorization: `Bearer ${acc.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, text, body: (text ? JSON.parse(text) : undefined) as T };
}

interface Settings {
  version: number;
  companyName: string;
  brandVoice: string;
  policies: string[];
  approvalWorkflows: unknown[];
  model: Record<string, unknown>;
}

/** A tenant's own settings, distinct markers in each field (`marker` also names its endpoint's route). */
const settingsOf = (marker: string, version: number, round: number, apiKey?: string) => ({
  version,
  companyName: `${marker} Outfitters`,
  brandVoice: `Voice-${marker}-${round}: calm and exact, like a lighthouse keeper.`,
  policies: [`Policy-${marker}-${round}: never promise a delivery date.`, `Standing-${marker}: always quote the ticket number.`],
  approvalWorkflows: [{ key: 'general', name: 'General queue', approverRoles: ['operator', 'team_lead', 'manager', 'admin'], isDefault: true, sla: { firstDecisionMinutes: 90, escalateToTeamLead: true } }],
  model: { mode: 'own', baseUrl: `${modelBase}/${marker.toLowerCase()}/v1`, model: `model-${marker.toLowerCase()}`, ...(apiKey ? { apiKey } : {}), temperature: 0.3 },
});

/** The drafting profile's version ai-drafting keeps for the tenant (0: none yet). */
const profileVersion = async (t: TenantId): Promise<number> =>
  (await world.tenantDb.withTenant(t, (tx) => tx.db.selectFrom('drafting_profiles').select('version').where('tenant_id', '=', t).executeTakeFirst()))?.version ?? 0;

/** A ticket announced as the drafts service announces it (ticket.received, encrypted, through the shard's outbox); resolves with what the tenant's endpoint was sent for it. */
async function draftFor(acc: Account, route: string, text: string): Promise<{ authorization: string; prompt: string }> {
  const t = acc.tenantId;
  // The ticket's id is only known once it is announced: the body carries a marker to find its prompt by.
  const marker = newId();
  const ticketId = await announceTicket(world, cipher, t, { customerName: 'Dana Customer', customerEmail: 'dana@customer.test', subject: null, body: `${text} (${marker})` });
  const sent = await waitFor(`the ${route} endpoint to be asked for ticket ${ticketId}`, async () => received.find((r) => r.route === route && r.body.includes(marker)), 60_000, 100).catch((e: Error) => {
    throw new Error(`${e.message}\n--- ai-drafting ---\n${processes[2]?.output().slice(-3000)}`);
  });
  // The draft was written from that answer: draft.generated in the tenant's outbox.
  await waitFor(`draft.generated for ticket ${ticketId}`, async () =>
    world.tenantDb.withTenant(t, (tx) =>
      tx.db.selectFrom('outbox').select('id').where('type', '=', 'draft.generated').where('envelope', '@>', JSON.stringify({ payload: { ticketId } })).executeTakeFirst(),
    ),
  );
  return { authorization: sent.authorization, prompt: sent.body };
}

let a: Account;
let b: Account;
let manager: Account;
let operator: Account;
const keyA = `sk-alpha-${newId()}`;
const keyB = `sk-bravo-${newId()}`;

beforeAll(async () => {
  server = createServer(handle);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  modelBase = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  // The tenants' own endpoints are this plain-http origin on loopback: the settings API checks it as ai-drafting's egress guard does.
  const egress = { HOTDASH_EGRESS_ALLOW: modelBase };
  processes = await startServices([
    { entry: 'apps/gateway/src/main.ts', env: { HOTDASH_GATEWAY_PORT: '3400', HOTDASH_PROVISIONING_URL: PROVISIONING, HOTDASH_AUDIT_URL: AUDIT }, url: GATEWAY },
    { entry: 'apps/provisioning/src/main.ts', env: { HOTDASH_PROVISIONING_PORT: '3401', ...egress }, url: PROVISIONING },
    { entry: 'apps/ai-drafting/src/main.ts', env: { HOTDASH_AI_DRAFTING_PORT: '3402', ...egress }, url: AI_DRAFTING },
    { entry: 'apps/audit/src/main.ts', env: { HOTDASH_AUDIT_PORT: '3403' }, url: AUDIT },
    { entry: 'apps/relay/src/main.ts', env: { HOTDASH_RELAY_PORT: '3404' }, url: RELAY },
  ]);
  const accA = await createAccount(world, 'admin');
  const accB = await createAccount(world, 'admin');
  await namespaces.create(accA.tenantId, accB.tenantId);
  [a, b, manager, operator] = await Promise.all([login(accA), login(accB), login(await addOperator(world, accA, 'manager')), login(await addOperator(world, accA, 'operator'))]);
}, 120_000);

afterAll(async () => {
  await Promise.all(processes.map((p) => p.stop()));
  server?.closeAllConnections();
  await new Promise((r) => server?.close(r));
  await namespaces.deleteAll();
  await world.close();
}, 60_000);

it('lets admins change the settings, managers only read them, operators neither', async () => {
  const initial = await call<Settings>('GET', '/settings', a);
  expect(initial.status).toBe(200);
  expect(initial.body).toMatchObject({ version: 0, brandVoice: '', policies: [], model: { mode: 'platform' } });
  expect((await call<Settings>('GET', '/settings', manager)).body).toEqual(initial.body);
  const byManager = await call('PUT', '/settings', manager, settingsOf('ALPHA', 0, 1, keyA));
  expect([byManager.status, byManager.body.code]).toEqual([403, 'forbidden']);
  for (const method of ['GET', 'PUT']) {
    const r = await call(method, '/settings', operator, method === 'PUT' ? settingsOf('ALPHA', 0, 1, keyA) : undefined);
    expect([method, r.status, r.body.code]).toEqual([method, 403, 'forbidden']);
  }
  const bad = await call('PUT', '/settings', a, { ...settingsOf('ALPHA', 0, 1, keyA), policies: ['ok', ''] });
  expect([bad.status, bad.body.code]).toEqual([400, 'invalid-policies']);
  expect((await call<Settings>('GET', '/settings', a)).body).toEqual(initial.body);

  const set = await call<Settings>('PUT', '/settings', a, settingsOf('ALPHA', 0, 1, keyA));
  expect(set.status).toBe(200);
  expect(set.body).toMatchObject({ version: 1, brandVoice: settingsOf('ALPHA', 0, 1).brandVoice, model: { mode: 'own', apiKeySet: true } });
  expect(set.text).not.toContain(keyA);
  // A second admin's change made at the version it read before this one: 409, nothing written.
  const stale = await call('PUT', '/settings', a, settingsOf('ALPHA', 0, 9, keyA));
  expect([stale.status, stale.body.code]).toEqual([409, 'settings-version-conflict']);
  expect((await call<Settings>('GET', '/settings', manager)).body).toEqual(set.body);
});

it('never lets tenant B read or change A’s settings, whatever the request names', async () => {
  const before = (await call<Settings>('GET', '/settings', a)).body;
  const own = await call<Settings>('GET', '/settings', b);
  expect(own.status).toBe(200);
  expect(own.text).not.toContain('ALPHA');
  const attempts = [
    call('PUT', '/settings', b, { ...settingsOf('BRAVO', 0, 1, keyB), tenantId: a.tenantId }),
    call('PUT', `/settings?tenantId=${a.tenantId}`, b, settingsOf('BRAVO', 0, 1, keyB)),
    call('PUT', '/settings', b, settingsOf('BRAVO', 0, 1, keyB), { 'x-tenant-id': a.tenantId }),
    call('GET', `/settings?tenantId=${a.tenantId}`, b),
    call('GET', '/settings', b, undefined, { 'x-tenant-id': a.tenantId }),
  ];
  for (const r of await Promise.all(attempts)) expect([r.status, r.body.code]).toEqual([403, 'tenant_mismatch']);
  expect((await call<Settings>('GET', '/settings', a)).body).toEqual(before);
  // B's own settings, for its own endpoint.
  const set = await call<Settings>('PUT', '/settings', b, settingsOf('BRAVO', own.body.version, 1, keyB));
  expect([set.status, set.body.version]).toEqual([200, own.body.version + 1]);
  expect(set.text).not.toContain('ALPHA');
});

it('drafts the next ticket with the new settings, each tenant’s prompt carrying its own settings and nothing of the other’s', async () => {
  await waitFor('both drafting profiles at ai-drafting', async () => (await profileVersion(a.tenantId)) >= 1 && (await profileVersion(b.tenantId)) >= 1, 60_000, 200);
  const first = await draftFor(a, 'alpha', 'Where is my parcel?');
  expect(first.authorization).toBe(`Bearer ${keyA}`);
  expect(first.prompt).toContain('Voice-ALPHA-1');
  expect(first.prompt).toContain('Policy-ALPHA-1: never promise a delivery date.');
  expect(first.prompt).toContain('ALPHA Outfitters');
  expect(JSON.parse(first.prompt)).toMatchObject({ model: 'model-alpha', temperature: 0.3 });

  // The admin changes the brand voice and a policy: the next draft follows (the key stays for the same endpoint).
  const current = (await call<Settings>('GET', '/settings', a)).body;
  const changed = await call<Settings>('PUT', '/settings', a, settingsOf('ALPHA', current.version, 2));
  expect([changed.status, changed.body.version]).toEqual([200, current.version + 1]);
  await waitFor('the new drafting profile at ai-drafting', async () => (await profileVersion(a.tenantId)) >= changed.body.version, 60_000, 200);
  const next = await draftFor(a, 'alpha', 'Can I change my address?');
  expect(next.authorization).toBe(`Bearer ${keyA}`);
  expect(next.prompt).toContain('Voice-ALPHA-2');
  expect(next.prompt).toContain('Policy-ALPHA-2: never promise a delivery date.');
  expect(next.prompt).not.toContain('Voice-ALPHA-1');
  expect(next.prompt).not.toContain('Policy-ALPHA-1');

  const other = await draftFor(b, 'bravo', 'Is my refund coming?');
  expect(other.authorization).toBe(`Bearer ${keyB}`);
  expect(other.prompt).toContain('Voice-BRAVO-1');
  // Nothing of one tenant's settings or key in the other's requests, ever.
  for (const r of received) {
    const foreign = r.route === 'alpha' ? ['BRAVO', keyB] : ['ALPHA', keyA];
    for (const f of foreign) expect([r.route, r.body.includes(f) || r.authorization.includes(f)]).toEqual([r.route, false]);
  }
});

it('records each change in the tenant’s audit chain; the key’s plaintext is in no event, audit entry or log', async () => {
  const entries = await waitFor(
    'the settings changes in A’s audit chain',
    async () => {
      const rows = await world.tenantDb.withTenant(a.tenantId, (tx) =>
        tx.db.selectFrom('audit_log').select(['event_type', 'actor_id', 'payload']).where('event_type', 'in', [TenantEvents.SETTINGS_CHANGED, TenantEvents.APPROVAL_WORKFLOWS_CHANGED]).execute(),
      );
      return rows.filter((r) => r.event_type === TenantEvents.SETTINGS_CHANGED).length >= 2 ? rows : undefined;
    },
    90_000,
    500,
  );
  expect(entries.map((e) => (e.payload as { version: number }).version).sort()).toEqual([1, 1, 2]);
  expect(entries.every((e) => (e.payload as { by: string }).by === `user:${a.userId}`)).toBe(true);
  // Through the API too, with the access entries of the admin's changes.
  const log = await call<{ entries: { eventType: string; payload: Record<string, unknown> }[] }>('GET', `/audit-log?eventType=${TenantEvents.SETTINGS_CHANGED}`, a);
  expect(log.status).toBe(200);
  expect(log.body.entries.length).toBeGreaterThanOrEqual(2);
  await waitFor('the access entries of the settings changes', async () => {
    const rows = await world.tenantDb.withTenant(a.tenantId, (tx) =>
      tx.db.selectFrom('audit_log').select('payload').where('event_type', '=', 'access.recorded').where('actor_id', '=', `user:${a.userId}`).execute(),
    );
    return rows.filter((r) => (r.payload as { resourceType?: string; action?: string }).resourceType === 'settings' && (r.payload as { action?: string }).action === 'update').length >= 2;
  }, 60_000, 500);

  for (const [acc, key] of [
    [a, keyA],
    [b, keyB],
  ] as const) {
    const stored = await world.tenantDb.withTenant(acc.tenantId, async (tx) => ({
      outbox: await tx.db.selectFrom('outbox').select('envelope').execute(),
      audit: await tx.db.selectFrom('audit_log').select('payload').execute(),
      model: await tx.db.selectFrom('model_configs').select('api_key_enc').execute(),
      profile: await tx.db.selectFrom('drafting_profiles').select('model_api_key_enc').execute(),
    }));
    const text = JSON.stringify(stored);
    expect(text).not.toContain(key);
    expect(stored.model[0]!.api_key_enc).toEqual(stored.profile[0]!.model_api_key_enc);
  }
  for (const p of processes) {
    expect(p.output()).not.toContain(keyA);
    expect(p.output()).not.toContain(keyB);
  }
});
