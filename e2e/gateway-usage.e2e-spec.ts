// Usage through the gateway: the gateway's access entries reach the quota service (its own process,
// consuming hotdash.access after the relay service publishes the shard's outbox), which meters each
// as exactly one API call; managers read usage per day and the current quotas, operators cannot,
// and bad queries get 400 problem+json.
import { sql } from 'kysely';
import { createAccount, ServiceProcess, startServices, TEST_PASSWORD, TestAccount, TestWorld, waitFor } from '@hotdash/testing';

const GATEWAY = 'http://127.0.0.1:3197';
const AUDIT_PORT = 3210;
const QUOTA_PORT = 3211;
const RELAY_PORT = 3261;
const world = new TestWorld();
let processes: ServiceProcess[] = [];

beforeAll(async () => {
  processes = await startServices([
    { entry: 'apps/gateway/src/main.ts', env: { HOTDASH_GATEWAY_PORT: '3197', HOTDASH_QUOTA_URL: `http://127.0.0.1:${QUOTA_PORT}` }, url: GATEWAY },
    { entry: 'apps/audit/src/main.ts', env: { HOTDASH_AUDIT_PORT: String(AUDIT_PORT) }, url: `http://127.0.0.1:${AUDIT_PORT}` },
    { entry: 'apps/relay/src/main.ts', env: { HOTDASH_RELAY_PORT: String(RELAY_PORT) }, url: `http://127.0.0.1:${RELAY_PORT}` },
    { entry: 'apps/quota/src/main.ts', env: { HOTDASH_QUOTA_PORT: String(QUOTA_PORT) }, url: `http://127.0.0.1:${QUOTA_PORT}` },
  ]);
}, 90_000);

afterAll(async () => {
  await Promise.all(processes.map((p) => p.stop()));
  await world.close();
}, 30_000);

const login = async (a: TestAccount) =>
  ((await (await fetch(`${GATEWAY}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ tenant: a.slug, email: a.email, password: TEST_PASSWORD }) })).json()) as { accessToken: string })
    .accessToken;
const get = (path: string, token: string) => fetch(`${GATEWAY}${path}`, { headers: { authorization: `Bearer ${token}` } });
const apiCalls = async (a: TestAccount) =>
  Number((await world.tenantDb.withTenant(a.tenantId, (tx) => sql<{ n: bigint }>`select coalesce(sum(amount), 0)::bigint as n from usage_daily where metric = 'api_calls'`.execute(tx.db).then((r) => r.rows)))[0]!.n);

it('meters every request as one API call and shows managers their usage per day and quotas', async () => {
  const manager = await createAccount(world, 'manager');
  const token = await login(manager);
  for (let i = 0; i < 3; i++) expect((await get('/me', token)).status).toBe(200);
  // The login and the three reads.
  await waitFor('four API calls metered', async () => (await apiCalls(manager)) >= 4, 60_000, 100);

  const res = await get('/usage', token);
  expect(res.status).toBe(200);
  const today = new Date().toISOString().slice(0, 10);
  const usage = (await res.json()) as { plan: string; to: string; days: { day: string; metric: string; amount: number }[]; quotas: { metric: string; limit: number }[] };
  expect(usage.plan).toBe('basic');
  expect(usage.to).toBe(today);
  expect(usage.days).toContainEqual({ day: today, metric: 'api_calls', amount: 4 });
  expect(usage.quotas).toEqual(
    expect.arrayContaining([expect.objectContaining({ metric: 'tickets', limit: 5_000 }), expect.objectContaining({ metric: 'storage_bytes', limit: 10_737_418_240 })]),
  );
  // The usage read is a request too: five in all, each metered exactly once.
  await waitFor('the fifth call metered', async () => (await apiCalls(manager)) === 5, 60_000, 100);
  await new Promise((r) => setTimeout(r, 500));
  expect(await apiCalls(manager)).toBe(5);
}, 120_000);

it('refuses operators, other tenants and bad queries', async () => {
  const manager = await createAccount(world, 'manager');
  const other = await createAccount(world, 'manager');
  const op = await createAccount(world, 'operator');
  const token = await login(manager);
  expect((await get('/usage', await login(op))).status).toBe(403);
  const mismatch = await get(`/usage?tenantId=${other.tenantId}`, token);
  expect([mismatch.status, ((await mismatch.json()) as { code: string }).code]).toEqual([403, 'tenant_mismatch']);
  for (const [query, code] of [
    ['from=yesterday', 'validation-failed'],
    ['from=2020-01-01&to=2026-01-01', 'validation-failed'],
    ['from=2026-02-01&to=2026-01-01', 'validation-failed'],
    ['metric=tickets', 'unknown-field'],
  ] as const) {
    const res = await get(`/usage?${query}`, token);
    expect([query, res.status, res.headers.get('content-type')?.startsWith('application/problem+json')]).toEqual([query, 400, true]);
    expect([query, ((await res.json()) as { code: string }).code]).toEqual([query, code]);
  }
});
