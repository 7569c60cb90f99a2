// Audit of access across processes: a scripted session through the gateway (its own process) —
// log in, who-am-I, create, list and revoke an API key, logout — the relay (its own process, relaying
// the shard's outbox) and the audit service (its own process, consuming hotdash.access) leave exactly one entry per request in
// the tenant's hash chain, in order, naming the actor, the action, the resource and the caller's
// address (sealed under the tenant's data key); the chain verifies. Requests refused before reaching data (401, 403) leave none.
import { AuditLogRepository, VerifyAuditChainHandler } from '@hotdash/audit';
import { ACCESS_IP_FIELD } from '@hotdash/contracts';
import { AuthKeys, TokenService } from '@hotdash/platform-auth';
import { FieldCipher, LocalKms, TenantKeyring } from '@hotdash/platform-crypto';
import { createAccount, ServiceProcess, startProcess, TEST_PASSWORD, TestWorld, waitFor } from '@hotdash/testing';

const GATEWAY = 'http://127.0.0.1:3196';
const AUDIT_PORT = 3209;
const RELAY_PORT = 3260;
const world = new TestWorld();
const repo = new AuditLogRepository();
let gateway: ServiceProcess;
let audit: ServiceProcess;
let relay: ServiceProcess;

const healthy = (url: string) => fetch(`${url}/health`).then((r) => r.ok, () => false);

beforeAll(async () => {
  gateway = startProcess('apps/gateway/src/main.ts', { HOTDASH_GATEWAY_PORT: '3196', HOTDASH_AUDIT_URL: `http://127.0.0.1:${AUDIT_PORT}` });
  audit = startProcess('apps/audit/src/main.ts', { HOTDASH_AUDIT_PORT: String(AUDIT_PORT) });
  relay = startProcess('apps/relay/src/main.ts', { HOTDASH_RELAY_PORT: String(RELAY_PORT) });
  await waitFor('gateway', () => healthy(GATEWAY), 60_000).catch((e: Error) => {
    throw new Error(`${e.message}\n${gateway.output()}`);
  });
  await waitFor('audit', () => healthy(`http://127.0.0.1:${AUDIT_PORT}`), 60_000).catch((e: Error) => {
    throw new Error(`${e.message}\n${audit.output()}`);
  });
  await waitFor('relay', () => healthy(`http://127.0.0.1:${RELAY_PORT}`), 60_000).catch((e: Error) => {
    throw new Error(`${e.message}\n${relay.output()}`);
  });
}, 90_000);

afterAll(async () => {
  await Promise.all([gateway?.stop(), audit?.stop(), relay?.stop()]);
  await world.close();
}, 30_000);

it('records every read and write of a scripted session once, in order, in the tenant’s verified chain', async () => {
  const a = await createAccount(world, 'admin');
  const call = async (method: string, path: string, token: string, body?: unknown) => {
    const res = await fetch(`${GATEWAY}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    return { status: res.status, body: res.status === 204 ? undefined : ((await res.json()) as Record<string, unknown>) };
  };
  const login = await fetch(`${GATEWAY}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ tenant: a.slug, email: a.email, password: TEST_PASSWORD }) });
  const { accessToken } = (await login.json()) as { accessToken: string };

  expect((await call('GET', '/me', accessToken)).status).toBe(200);
  const created = await call('POST', '/api-keys', accessToken, { name: 'CRM', scopes: ['drafts:read'] });
  expect(created.status).toBe(201);
  const keyId = created.body!.id as string;
  expect((await call('GET', '/api-keys', accessToken)).status).toBe(200);
  expect((await call('DELETE', `/api-keys/${keyId}`, accessToken)).status).toBe(204);
  // A nonsense id is refused by the route, and recorded without it (it must not jam the access log).
  expect((await call('DELETE', `/api-keys/${'x'.repeat(90)}`, accessToken)).status).toBe(400);
  expect((await call('GET', '/me', 'not-a-token')).status).toBe(401); // refused before any data: no entry
  expect((await call('POST', '/auth/logout', accessToken)).status).toBe(204);

  const expected = [
    { action: 'create', resourceType: 'session', resourceId: expect.any(String), route: '/auth/login', status: 200 },
    { action: 'read', resourceType: 'user', resourceId: a.userId, route: '/me', status: 200 },
    { action: 'create', resourceType: 'api-key', resourceId: keyId, route: '/api-keys', status: 201 },
    { action: 'read', resourceType: 'api-key', resourceId: null, route: '/api-keys', status: 200 },
    { action: 'delete', resourceType: 'api-key', resourceId: keyId, route: '/api-keys/:id', status: 204 },
    { action: 'delete', resourceType: 'api-key', resourceId: null, route: '/api-keys/:id', status: 400 },
    { action: 'delete', resourceType: 'session', resourceId: null, route: '/auth/logout', status: 204 },
  ];
  const entries = await waitFor(
    'the session’s access entries',
    async () => {
      const rows = await world.tenantDb.withTenant(a.tenantId, (tx) => repo.page(tx, a.tenantId, 0, 100));
      const access = rows.filter((r) => r.eventType === 'access.recorded');
      return access.length >= expected.length ? access : undefined;
    },
    60_000,
    100,
  ).catch((e: Error) => {
    throw new Error(`${e.message}\n--- gateway ---\n${gateway.output().slice(-3000)}\n--- audit ---\n${audit.output().slice(-3000)}`);
  });
  await new Promise((r) => setTimeout(r, 500)); // anything recorded twice would have arrived by now
  const again = await world.tenantDb.withTenant(a.tenantId, (tx) => repo.page(tx, a.tenantId, 0, 100));
  expect(again.filter((r) => r.eventType === 'access.recorded')).toHaveLength(expected.length);
  expect(entries.map((e) => e.payload)).toEqual(expected.map((x) => ({ ...x, actor: `user:${a.userId}`, method: expect.any(String), ipEnc: expect.any(String), at: expect.any(String) })));
  // The caller's address is personal data: stored sealed under the tenant's key (access.recorded v2), never in the clear.
  expect(JSON.stringify(entries.map((e) => e.payload))).not.toContain('127.0.0.1');
  const cipher = new FieldCipher(new TenantKeyring(world.dbs, LocalKms.fromEnv()));
  const addresses = await Promise.all(entries.map((e) => cipher.decrypt(a.tenantId, ACCESS_IP_FIELD, (e.payload as { ipEnc: string }).ipEnc)));
  expect(new Set(addresses)).toEqual(new Set(['127.0.0.1']));
  // The login's session is the one logout ended.
  expect(entries.every((e) => e.actorId === `user:${a.userId}`)).toBe(true);
  expect(await new VerifyAuditChainHandler(world.tenantDb, repo).execute(a.tenantId)).toEqual({ ok: true, checked: again.length });
}, 120_000);

describe('the audit log for tenant admins, through the gateway (served by the audit service)', () => {
  const login = async (a: { slug: string; email: string }) =>
    ((await (await fetch(`${GATEWAY}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ tenant: a.slug, email: a.email, password: TEST_PASSWORD }) })).json()) as { accessToken: string })
      .accessToken;
  const get = (path: string, token: string) => fetch(`${GATEWAY}${path}`, { headers: { authorization: `Bearer ${token}` } });

  it('lists, filters, pages, exports and verifies the caller’s own log; operators and other tenants see none of it', async () => {
    const a = await createAccount(world, 'admin');
    const b = await createAccount(world, 'admin');
    const op = await createAccount(world, 'operator');
    const tokenA = await login(a);
    const tokenB = await login(b);
    for (let i = 0; i < 3; i++) expect((await get('/me', tokenA)).status).toBe(200);
    expect((await get('/me', tokenB)).status).toBe(200);
    await waitFor('A’s three reads in its chain', async () => {
      const rows = await world.tenantDb.withTenant(a.tenantId, (tx) => repo.page(tx, a.tenantId, 0, 100));
      return rows.filter((r) => r.eventType === 'access.recorded').length >= 3;
    }, 60_000, 100);
    // B's read too (its entry travels on its own: the gateway flushes each tenant's entries apart).
    await waitFor('B’s read in its chain', async () => {
      const rows = await world.tenantDb.withTenant(b.tenantId, (tx) => repo.page(tx, b.tenantId, 0, 100));
      return rows.some((r) => r.eventType === 'access.recorded');
    }, 60_000, 100);

    const first = await get('/audit-log?eventType=access.recorded&limit=2', tokenA);
    expect(first.status).toBe(200);
    const page1 = (await first.json()) as { entries: { seq: number; tenantId: string; actorId: string; eventType: string }[]; next: number | null };
    expect(page1.entries).toHaveLength(2);
    expect(page1.next).toBe(page1.entries[1]!.seq);
    expect(page1.entries.every((e) => e.tenantId === a.tenantId && e.eventType === 'access.recorded' && e.actorId === `user:${a.userId}`)).toBe(true);
    const page2 = (await (await get(`/audit-log?eventType=access.recorded&limit=2&after=${page1.next}`, tokenA)).json()) as { entries: { seq: number }[] };
    expect(page2.entries[0]!.seq).toBeGreaterThan(page1.next!);
    const byActor = (await (await get(`/audit-log?actor=${encodeURIComponent(`user:${b.userId}`)}`, tokenA)).json()) as { entries: unknown[] };
    expect(byActor.entries).toEqual([]); // B's actor, asked from A's log: nothing

    const exported = await get('/audit-log/export', tokenA);
    expect(exported.status).toBe(200);
    expect(exported.headers.get('content-type')).toContain('application/x-ndjson');
    const lines = (await exported.text()).trim().split('\n').map((l) => JSON.parse(l) as { tenantId: string; seq: number });
    expect(lines.length).toBeGreaterThanOrEqual(3);
    expect(lines.every((l, i) => l.tenantId === a.tenantId && l.seq === i + 1)).toBe(true);
    expect(await (await get('/audit-log/verify', tokenA)).json()).toMatchObject({ ok: true });

    const listB = (await (await get('/audit-log?limit=500', tokenB)).json()) as { entries: { tenantId: string }[] };
    expect(listB.entries.length).toBeGreaterThan(0);
    expect(listB.entries.every((e) => e.tenantId === b.tenantId)).toBe(true);
    const forged = await get(`/audit-log?tenantId=${a.tenantId}`, tokenB);
    expect(forged.status).toBe(403);
    expect(((await forged.json()) as { code: string }).code).toBe('tenant_mismatch');

    const asOperator = await get('/audit-log', await login(op));
    expect(asOperator.status).toBe(403);
    for (const [query, code] of [
      ['limit=abc', 'validation-failed'],
      ['limit=0', 'validation-failed'],
      ['limit=100000', 'validation-failed'],
      ['from=yesterday', 'validation-failed'],
      ['drop=table', 'unknown-field'],
    ] as const) {
      const res = await get(`/audit-log?${query}`, tokenA);
      expect([query, res.status]).toEqual([query, 400]);
      expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect([query, ((await res.json()) as { code: string }).code]).toEqual([query, code]);
    }
  }, 120_000);

  it('the audit service refuses calls without the gateway’s internal token for it', async () => {
    const a = await createAccount(world, 'admin');
    const access = await login(a);
    const direct = (headers: Record<string, string>) => fetch(`http://127.0.0.1:${AUDIT_PORT}/internal/audit-log`, { headers });
    const statusOf = async (res: Response) => [res.status, ((await res.json()) as { code: string }).code];
    expect(await statusOf(await direct({}))).toEqual([401, 'missing-credentials']);
    expect(await statusOf(await direct({ authorization: `Bearer ${access}` }))).toEqual([401, 'invalid-token']); // a public access token
    const tokens = new TokenService(AuthKeys.development());
    const principal = await tokens.verifyAccess(access);
    expect(await statusOf(await direct({ authorization: `Bearer ${await tokens.issueInternal(principal, 'provisioning')}` }))).toEqual([401, 'invalid-token']);
    expect((await direct({ authorization: `Bearer ${await tokens.issueInternal(principal, 'audit')}` })).status).toBe(200);
  });
});
