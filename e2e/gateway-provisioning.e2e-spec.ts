// Provisioning through the gateway (gateway and provisioning as separate processes): sign-up as a
// public route with a per-address limit; tenant admins manage their operators with their own
// credential (roles, Idempotency-Key, a removed operator stops at once); platform operators sign in
// at /ops/login and run the tenant lifecycle on /ops routes, which no tenant credential reaches,
// while their token reaches no tenant route; a disabled platform operator stops at once; and
// provisioning itself refuses any call that does not carry the gateway's internal token.
import { sql } from 'kysely';
import { createAccount, createPlatformOperator, launchBrowser, ServiceProcess, startServices, TEST_PASSWORD, TestAccount, TestPlatformOperator, TestWorld, VectorNamespaces, waitFor } from '@hotdash/testing';
import { newId, withControlOwner } from '@hotdash/platform-db';
import { disablePlatformOperator } from '@hotdash/platform-auth';
import { asyncApiDocument } from '@hotdash/contracts';

const GATEWAY = 'http://127.0.0.1:3196';
const PROVISIONING = 'http://127.0.0.1:3212';
// The relay delivers mail over SMTP to the local Mailpit (deploy/local/infra.sh), read through its API.
const MAILPIT = `http://127.0.0.1:${process.env.HOTDASH_MAILPIT_UI_PORT ?? 8025}`;
const SMTP_URL = `smtp://127.0.0.1:${process.env.HOTDASH_SMTP_PORT ?? 1025}`;
const mailedTo: string[] = [];
const world = new TestWorld();
const namespaces = VectorNamespaces.local(world.config); // the sign-up's knowledge namespace, deleted at the end
let processes: ServiceProcess[] = [];

interface Operation {
  method: string;
  path: string;
  security: Record<string, unknown>[];
  requestBody?: { content: Record<string, unknown> };
}
let operations: Operation[] = [];

beforeAll(async () => {
  processes = await startServices([
    { entry: 'apps/gateway/src/main.ts', env: { HOTDASH_GATEWAY_PORT: '3196', HOTDASH_PROVISIONING_URL: PROVISIONING, HOTDASH_PER_ADDRESS_PER_MINUTE: '3', HOTDASH_TRUSTED_PROXIES: '127.0.0.1' }, url: GATEWAY },
    // Links in its e-mails point at this spec's gateway.
    { entry: 'apps/provisioning/src/main.ts', env: { HOTDASH_PROVISIONING_PORT: '3212', HOTDASH_PUBLIC_URL: GATEWAY }, url: PROVISIONING },
    // The relay delivers the mail to the SMTP server (Mailpit).
    { entry: 'apps/relay/src/main.ts', env: { HOTDASH_RELAY_PORT: '3263', HOTDASH_SMTP_URL: SMTP_URL }, url: 'http://127.0.0.1:3263' },
  ]);
  const doc = (await (await fetch(`${GATEWAY}/openapi.json`)).json()) as { paths: Record<string, Record<string, Omit<Operation, 'method' | 'path'>>> };
  operations = Object.entries(doc.paths).flatMap(([path, methods]) => Object.entries(methods).map(([method, op]) => ({ ...op, method, path })));
}, 90_000);

afterAll(async () => {
  await Promise.all(processes.map((p) => p.stop()));
  await namespaces.deleteAll();
  await world.close();
  // The messages this spec had delivered.
  const ids = (await Promise.all(mailedTo.map(mailpitMessages))).flat().map((m) => m.ID);
  if (ids.length) await fetch(`${MAILPIT}/api/v1/messages`, { method: 'DELETE', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ IDs: ids }) });
}, 30_000);

async function mailpitMessages(to: string): Promise<{ ID: string }[]> {
  return ((await (await fetch(`${MAILPIT}/api/v1/search?query=${encodeURIComponent(`to:"${to}"`)}`)).json()) as { messages: { ID: string }[] }).messages;
}

async function call(method: string, path: string, auth: { token?: string; apiKey?: string } = {}, body?: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${GATEWAY}${path}`, {
    method,
    headers: {
      ...(auth.token ? { authorization: `Bearer ${auth.token}` } : {}),
      ...(auth.apiKey ? { 'x-api-key': auth.apiKey } : {}),
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...headers,
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: (text && res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : undefined) as Record<string, unknown> | undefined };
}

const login = async (a: TestAccount) => (await call('POST', '/auth/login', {}, { tenant: a.slug, email: a.email, password: TEST_PASSWORD })).body!.accessToken as string;
const opsLogin = async (o: TestPlatformOperator) => (await call('POST', '/ops/login', {}, { email: o.email, password: TEST_PASSWORD })).body!.accessToken as string;
const concrete = (path: string) => path.replace(/\{\w+\}/g, newId());

describe('ops routes', () => {
  let ops: TestPlatformOperator;
  let opsToken: string;
  let tenant: TestAccount;
  let adminToken: string;

  beforeAll(async () => {
    ops = await createPlatformOperator(world);
    opsToken = await opsLogin(ops);
    tenant = await createAccount(world, 'admin');
    adminToken = await login(tenant);
  });

  it('signs platform operators in and lets them run a tenant’s lifecycle, each action in the tenant’s audit trail', async () => {
    expect((await call('POST', '/ops/login', {}, { email: ops.email, password: 'wrong password!' })).status).toBe(401);
    const record = await call('GET', `/ops/tenants/${tenant.tenantId}`, { token: opsToken });
    expect(record.status).toBe(200);
    expect(record.body).toMatchObject({ id: tenant.tenantId, status: 'active', plan: 'basic' });

    const suspended = await call('POST', `/ops/tenants/${tenant.tenantId}/suspend`, { token: opsToken }, { reason: 'unpaid invoice' });
    expect(suspended.status).toBe(200);
    expect(suspended.body).toMatchObject({ status: 'suspended' });
    expect((await call('POST', `/ops/tenants/${tenant.tenantId}/reactivate`, { token: opsToken })).body).toMatchObject({ status: 'active' });
    expect((await call('PUT', `/ops/tenants/${tenant.tenantId}/plan`, { token: opsToken }, { plan: 'enterprise' })).body).toMatchObject({ plan: 'enterprise' });
    const bad = await call('PUT', `/ops/tenants/${tenant.tenantId}/plan`, { token: opsToken }, { plan: 'gold' });
    expect([bad.status, bad.body?.code]).toEqual([400, 'invalid-plan']);
    expect((await call('GET', `/ops/tenants/${newId()}`, { token: opsToken })).status).toBe(404);
    expect((await call('GET', '/ops/tenants/not-a-uuid', { token: opsToken })).body?.code).toBe('invalid-uuid');

    // The ops team's reads and changes are entries in the tenant's own audit trail, with the operator as actor.
    await waitFor('ops access entries in the tenant outbox', async () => {
      const rows = await world.tenantDb.withTenant(tenant.tenantId, (tx) =>
        sql<{ actor: string; action: string }>`select envelope->'payload'->>'actor' as actor, envelope->'payload'->>'action' as action
          from outbox where type = 'access.recorded' and envelope->'payload'->>'actor' = ${`ops:${ops.id}`}`.execute(tx.db).then((r) => r.rows),
      );
      return rows.length >= 5 ? rows : undefined;
    }, 15_000, 100);
  });

  it('refuses every ops route to tenant credentials and to no credential, and every tenant route to an ops token', async () => {
    const key = await call('POST', '/api-keys', { token: adminToken }, { name: 'ops probe', scopes: ['drafts:read'] });
    expect([key.status, key.body?.detail]).toEqual([201, undefined]);
    const opsRoutes = operations.filter((o) => o.security.some((s) => 'opsBearer' in s));
    expect(opsRoutes.length).toBeGreaterThanOrEqual(8);
    for (const op of opsRoutes) {
      const path = concrete(op.path);
      for (const [who, auth] of [['admin token', { token: adminToken }], ['API key', { apiKey: key.body!.key as string }], ['nobody', {}]] as const) {
        const r = await call(op.method.toUpperCase(), path, auth, op.method === 'get' ? undefined : {});
        // A valid tenant credential is known but not allowed here (403, saying what is); none at all is a 401.
        const expected = who === 'nobody' ? [401, 'missing-credentials'] : [403, 'ops-token-required'];
        expect([op.method, op.path, who, r.status, r.body?.code]).toEqual([op.method, op.path, who, ...expected]);
      }
    }
    const tenantRoutes = operations.filter((o) => o.security.some((s) => 'bearer' in s));
    expect(tenantRoutes.length).toBeGreaterThan(5);
    for (const op of tenantRoutes) {
      // A body the route takes (uploads: a document), so only the credential is wrong.
      const upload = op.requestBody && !op.requestBody.content['application/json'];
      const r = upload
        ? await fetch(`${GATEWAY}${concrete(op.path)}`, { method: op.method.toUpperCase(), headers: { authorization: `Bearer ${opsToken}`, 'content-type': 'text/plain' }, body: 'a document' })
        : await call(op.method.toUpperCase(), concrete(op.path), { token: opsToken }, op.method === 'get' || op.method === 'delete' ? undefined : {});
      expect([op.method, op.path, r.status]).toEqual([op.method, op.path, 401]);
    }
  });

  it('stops a disabled platform operator at once, token and all', async () => {
    const other = await createPlatformOperator(world);
    const token = await opsLogin(other);
    expect((await call('GET', `/ops/tenants/${tenant.tenantId}`, { token })).status).toBe(200);
    await withControlOwner(world.config, (db) => disablePlatformOperator(db, other.email));
    const after = await call('GET', `/ops/tenants/${tenant.tenantId}`, { token });
    expect([after.status, after.body?.code]).toEqual([401, 'token-revoked']);
    expect((await call('POST', '/ops/login', {}, { email: other.email, password: TEST_PASSWORD })).status).toBe(401);
  });
});

describe('operators, managed by tenant admins through the gateway', () => {
  it('lists, invites (idempotently), changes roles and removes, within the role table', async () => {
    const admin = await createAccount(world, 'admin');
    const token = await login(admin);
    const list = await call('GET', '/operators', { token });
    expect(list.status).toBe(200);
    expect((list.body as unknown as { role: string }[]).map((o) => o.role)).toEqual(['admin']);

    const invite = { email: `new-${newId().slice(-6)}@example.test`, role: 'operator' };
    const key = `invite-${newId()}`;
    const first = await call('POST', '/operators', { token }, invite, { 'idempotency-key': key });
    expect(first.status).toBe(201);
    const again = await call('POST', '/operators', { token }, invite, { 'idempotency-key': key });
    expect([again.status, again.headers.get('idempotent-replayed'), again.body]).toEqual([201, 'true', first.body]);
    const reused = await call('POST', '/operators', { token }, { ...invite, role: 'admin' }, { 'idempotency-key': key });
    expect([reused.status, reused.body?.code]).toEqual([422, 'idempotency-key-reused']);
    const userId = first.body!.userId as string;
    expect((await call('GET', '/operators', { token })).body).toHaveLength(2);

    const changed = await call('PATCH', `/operators/${userId}`, { token }, { role: 'team_lead' });
    expect([changed.status, changed.body?.role]).toEqual([200, 'team_lead']);
    expect((await call('DELETE', `/operators/${userId}`, { token })).status).toBe(204);
    expect((await call('DELETE', `/operators/${userId}`, { token })).status).toBe(404);

    // Every one of those requests is an access entry of this tenant, with the operator's id where there is one.
    await waitFor('access entries for the operator changes', async () => {
      const rows = await world.tenantDb.withTenant(admin.tenantId, (tx) =>
        sql<{ n: number }>`select count(*)::int as n from outbox where type = 'access.recorded'
          and envelope->'payload'->>'resourceType' = 'user' and envelope->'payload'->>'resourceId' = ${userId}`.execute(tx.db).then((r) => r.rows),
      );
      return rows[0]!.n >= 3;
    }, 15_000, 100);
  });

  it('lets managers list but not manage operators, and operators do neither', async () => {
    const manager = await createAccount(world, 'manager');
    const mToken = await login(manager);
    expect((await call('GET', '/operators', { token: mToken })).status).toBe(200);
    const refused = await call('POST', '/operators', { token: mToken }, { email: 'x@example.test', role: 'admin' });
    expect([refused.status, refused.body?.code]).toEqual([403, 'forbidden']);
    const operator = await createAccount(world, 'operator');
    expect((await call('GET', '/operators', { token: await login(operator) })).status).toBe(403);
  });

  it("shows a tenant's users their own organisation, never another's", async () => {
    const a = await createAccount(world, 'operator');
    const mine = await call('GET', '/tenant', { token: await login(a) });
    expect([mine.status, mine.body?.id]).toEqual([200, a.tenantId]);
    const spoofed = await call('GET', `/tenant?tenantId=${newId()}`, { token: await login(a) });
    expect([spoofed.status, spoofed.body?.code]).toEqual([403, 'tenant_mismatch']);
  });
});

describe('public routes', () => {
  it('signs up a new organisation through the gateway, at most HOTDASH_PER_ADDRESS_PER_MINUTE a minute per address', async () => {
    // The spec's gateway trusts loopback as a proxy: each run signs up from its own forwarded client address.
    const client = { 'x-forwarded-for': `198.51.100.${Math.floor(Math.random() * 250) + 1}, 10.0.0.${Math.floor(Math.random() * 250) + 1}` };
    const slug = `gw-${newId().slice(-10)}`;
    const signUp = { name: 'Gateway Signup', slug, plan: 'basic', admin: { email: 'owner@gateway-signup.test' } };
    const accepted = await call('POST', '/signup', {}, signUp, { ...client, 'idempotency-key': `signup-${slug}` });
    expect(accepted.status).toBe(202);
    const tenantId = accepted.body!.tenantId as string;
    namespaces.track(tenantId);
    const retried = await call('POST', '/signup', {}, signUp, { ...client, 'idempotency-key': `signup-${slug}` });
    expect([retried.status, retried.body?.tenantId]).toEqual([202, tenantId]);
    const bad = await call('POST', '/signup', {}, { ...signUp, plan: 'gold' }, client);
    expect([bad.status, bad.body?.code]).toEqual([400, 'invalid-plan']);
    // The fourth sign-up request from this address within the minute (the limit is 3 here).
    const limited = await call('POST', '/signup', {}, signUp, client);
    expect([limited.status, limited.body?.code]).toEqual([429, 'rate-limited']);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);

    await waitFor('the signed-up tenant active', async () => {
      const rows = await world.control.client.$queryRaw<{ status: string }[]>`select status from tenants where id = ${tenantId}::uuid`;
      return rows[0]?.status === 'active';
    }, 30_000, 100);
    const tenants = await world.control.client.$queryRaw<{ n: number }[]>`select count(*)::int as n from tenants where slug = ${slug}`;
    expect(tenants[0]!.n).toBe(1);
  });

  it('publishes the events as an AsyncAPI document beside the OpenAPI one, without a credential', async () => {
    const res = await fetch(`${GATEWAY}/asyncapi.json`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual(asyncApiDocument({ version: '1' }));
    const api = (await (await fetch(`${GATEWAY}/openapi.json`)).json()) as { paths: Record<string, unknown> };
    expect(Object.keys(api.paths).filter((p) => p.startsWith('/asyncapi'))).toEqual([]);
  });

  it('limits the single sign-on redirects (GET) per client address too', async () => {
    const client = { 'x-forwarded-for': `198.51.100.${Math.floor(Math.random() * 250) + 1}, 10.0.1.${Math.floor(Math.random() * 250) + 1}` };
    const unknown = `/auth/sso/start?tenant=no-such-${newId().slice(-8)}`;
    for (let i = 0; i < 3; i++) {
      const res = await call('GET', unknown, {}, undefined, client);
      expect([res.status, res.body?.code]).toEqual([404, 'sso-not-configured']);
    }
    const limited = await call('GET', unknown, {}, undefined, client);
    expect([limited.status, limited.body?.code]).toEqual([429, 'rate-limited']);
    // Another address is not held back by this one.
    const other = await call('GET', unknown, {}, undefined, { 'x-forwarded-for': `203.0.113.${Math.floor(Math.random() * 250) + 1}` });
    expect(other.status).toBe(404);
  });

  it('answers a made-up invitation with 404 and never lets a call past provisioning without the internal token', async () => {
    const client = { 'x-forwarded-for': `198.51.100.${Math.floor(Math.random() * 250) + 1}` };
    const accept = await call('POST', '/invitations/accept', {}, { token: `${newId()}.${'x'.repeat(43)}`, password: 'a long enough password' }, client);
    expect([accept.status, accept.body?.code]).toEqual([404, 'invitation-not-found']);
    for (const [method, path] of [['POST', '/tenants'], ['GET', `/tenants/${newId()}`], ['GET', `/tenants/${newId()}/operators`], ['POST', '/invitations/accept']] as const) {
      const res = await fetch(`${PROVISIONING}${path}`, { method, headers: { 'content-type': 'application/json' }, body: method === 'POST' ? '{}' : undefined });
      expect([path, res.status]).toEqual([path, 401]);
    }
  });

  it('sells only self-serve plans to anonymous callers: no Enterprise, no dedicated database, no model endpoint of their own, nothing written', async () => {
    const slug = `gw-${newId().slice(-10)}`;
    const base = { name: 'Greedy', slug, plan: 'basic', admin: { email: 'owner@greedy.test' } };
    for (const [what, body] of [
      ['the Enterprise plan', { ...base, plan: 'enterprise' }],
      ['a dedicated database', { ...base, plan: 'enterprise', dedicatedShard: true }],
      ['a dedicated database on basic', { ...base, dedicatedShard: true }],
      ['a model endpoint of its own', { ...base, model: { mode: 'own', provider: 'openai', model: 'gpt-x', apiKey: 'sk-12345678', baseUrl: 'https://models.example.test/v1' } }],
    ] as const) {
      const client = { 'x-forwarded-for': `198.51.100.${Math.floor(Math.random() * 250) + 1}` };
      const r = await call('POST', '/signup', {}, body, { ...client, 'idempotency-key': `greedy-${newId()}` });
      expect([what, r.status, r.body?.code]).toEqual([what, 403, 'not-self-serve']);
    }
    const written = await world.control.client.$queryRaw<{ n: number }[]>`select (select count(*)::int from tenants where slug = ${slug})
      + (select count(*)::int from sagas where input->>'slug' = ${slug}) as n`;
    expect(written[0]!.n).toBe(0);
    // The ops team may sign up an Enterprise tenant with its own database.
    const ops = await createPlatformOperator(world);
    const byOps = await call('POST', '/ops/tenants', { token: await opsLogin(ops) }, { ...base, plan: 'enterprise' }, { 'idempotency-key': `ops-${slug}` });
    expect([byOps.status, byOps.body?.tenant]).toEqual([202, slug]);
    namespaces.track(byOps.body!.tenantId as string);
    // Its sign-up done before the spec ends, so that the namespace it makes is there to be deleted.
    await waitFor('the ops sign-up active', async () => {
      const rows = await world.control.client.$queryRaw<{ status: string }[]>`select status from tenants where id = ${byOps.body!.tenantId as string}::uuid`;
      return rows[0]?.status === 'active';
    }, 30_000, 100);
    expect(byOps.body?.links).toEqual({ tenant: `/ops/tenants/${byOps.body!.tenantId}`, provisioning: `/ops/tenants/${byOps.body!.tenantId}/provisioning` });
  });

  it('lets a new user sign in from what sign-up and the invitation give them, in a browser', async () => {
    const client = { 'x-forwarded-for': `198.51.100.${Math.floor(Math.random() * 250) + 1}` };
    const email = `owner-${newId().slice(-8)}@newcomer.test`;
    const accepted = await call('POST', '/signup', {}, { name: 'Newcomer Ltd', plan: 'basic', admin: { email } }, { ...client, 'idempotency-key': `newcomer-${newId()}` });
    expect(accepted.status).toBe(202);
    namespaces.track(accepted.body!.tenantId as string);
    const slug = accepted.body!.tenant as string;
    expect(slug).toMatch(/^newcomer-ltd-[0-9a-f]{6}$/);
    const links = accepted.body!.links as Record<string, string>;
    expect(links).toEqual({ status: `/signup/${accepted.body!.sagaId}`, login: '/auth/login', docs: '/docs' });
    expect((await fetch(`${GATEWAY}${links.docs}`)).status).toBe(200);

    // The status link works without a credential and says when the tenant is ready, naming its slug.
    let progress: Record<string, unknown> | undefined;
    await waitFor('the sign-up active', async () => {
      // Each poll from its own address: public routes take 3 a minute per address here.
      progress = (await call('GET', links.status!, {}, undefined, { 'x-forwarded-for': `203.0.113.${Math.floor(Math.random() * 250) + 1}` })).body;
      return progress?.status === 'active';
    }, 30_000, 100);
    expect(progress).toMatchObject({ tenant: slug, tenantId: accepted.body!.tenantId, steps: { done: 7, total: 7 } });
    expect(JSON.stringify(progress)).not.toContain(email);

    // The invitation e-mail, delivered over SMTP: an absolute link to this gateway's portal (the token in the fragment), and the slug to sign in with.
    mailedTo.push(email);
    let eml = '';
    await waitFor('the invitation e-mail at the SMTP server', async () => {
      const [found] = await mailpitMessages(email);
      if (found) eml = ((await (await fetch(`${MAILPIT}/api/v1/message/${found.ID}`)).json()) as { Text: string }).Text;
      return eml !== '';
    }, 30_000, 100);
    const link = new RegExp(`${GATEWAY}/app/invitation#(\\S+)`).exec(eml);
    expect(link).not.toBeNull();
    expect(eml).toContain(`organisation "${slug}"`);

    const browser = await launchBrowser();
    try {
      // The spec's gateway trusts loopback as a proxy and limits public routes to 3 a minute per address: the browser gets its own.
      const page = await browser.newPage({ extraHTTPHeaders: client });
      await page.goto(link![0]);
      expect(page.url()).toBe(`${GATEWAY}/app/invitation`); // the token left the address bar
      await page.getByLabel('New password').fill(TEST_PASSWORD);
      await page.getByLabel('The same password again').fill(TEST_PASSWORD);
      await page.getByRole('button', { name: 'Set password' }).click();
      await page.getByText(`Sign in with the organisation "${slug}"`).waitFor();
      expect(await page.getByLabel('Organisation').inputValue()).toBe(slug);
      await page.getByLabel('E-mail address').fill(email);
      await page.getByLabel('Password', { exact: true }).fill(TEST_PASSWORD);
      await page.getByRole('button', { name: 'Sign in', exact: true }).click();
      // The portal, signed in as the new admin.
      await page.getByRole('button', { name: 'Sign out' }).waitFor();
      await page.getByText(`${email} (admin)`).waitFor();
      // The same link a second time: the page says what happened instead of failing silently.
      await page.close();
      const again = await browser.newPage({ extraHTTPHeaders: client });
      await again.goto(link![0]);
      const page2 = again;
      await page2.getByLabel('New password').fill(TEST_PASSWORD);
      await page2.getByLabel('The same password again').fill(TEST_PASSWORD);
      await page2.getByRole('button', { name: 'Set password' }).click();
      await page2.getByText('This invitation was accepted already').waitFor();
    } finally {
      await browser.close();
    }
    // And by the API alone, as the README shows.
    const login = await call('POST', links.login!, {}, { tenant: slug, email, password: TEST_PASSWORD });
    expect(login.status).toBe(200);
  }, 90_000);
});
