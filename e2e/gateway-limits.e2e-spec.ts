// Per-tenant limits across three gateway processes sharing the real Redis: 500 concurrent requests
// of one tenant against 100/minute admit between 100 and 110 while a second tenant is served as
// usual; in-flight slots are exact under concurrency; a plan change applies at once on every
// gateway; 429s carry Retry-After and RateLimit headers. Then Redis is stopped mid-test (a Redis of
// the spec's own): limits fail open, revoked credentials are still refused (database fallback), and
// limits apply again when Redis is back.
import { sql } from 'kysely';
import { spawn, ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Redis from 'ioredis';
import { publishTenantLimits } from '@hotdash/platform-auth';
import { newId } from '@hotdash/platform-db';
import { createAccount, ServiceProcess, startProcess, TEST_PASSWORD, TestAccount, TestWorld, waitFor } from '@hotdash/testing';
import { TenantRateLimiter } from '@hotdash/gateway';

jest.setTimeout(120_000);

const world = new TestWorld();
const redis = new Redis({ host: world.config.redis.host, port: world.config.redis.port });
const PORTS = [3191, 3192, 3193];
const bases = PORTS.map((p) => `http://127.0.0.1:${p}`);
let gateways: ServiceProcess[] = [];

async function login(base: string, a: TestAccount): Promise<string> {
  const res = await fetch(`${base}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ tenant: a.slug, email: a.email, password: TEST_PASSWORD }) });
  expect(res.status).toBe(200);
  return ((await res.json()) as { accessToken: string }).accessToken;
}
const me = (base: string, token: string) => fetch(`${base}/me`, { headers: { authorization: `Bearer ${token}` } });

afterAll(async () => {
  await Promise.all(gateways.map((g) => g.stop()));
  redis.disconnect();
  await world.close();
}, 60_000);

describe('three gateway processes', () => {
  beforeAll(async () => {
    gateways = PORTS.map((port) => startProcess('apps/gateway/src/main.ts', { HOTDASH_GATEWAY_PORT: String(port) }));
    for (const [i, base] of bases.entries())
      await waitFor(`gateway ${PORTS[i]}`, async () => (await fetch(`${base}/health`).catch(() => undefined))?.ok, 60_000, 200).catch((err: Error) => {
        throw new Error(`${err.message}\n${gateways[i]!.output()}`);
      });
  });

  it('admits 100 to 110 of 500 concurrent requests against 100/minute; another tenant is unaffected', async () => {
    const a = await createAccount(world);
    const b = await createAccount(world);
    // In-flight slots high for this test, so that only the per-minute limit decides.
    await publishTenantLimits(redis, a.tenantId, { requestsPerMinute: 100, inFlight: 1_000 });
    const tokenA = await login(bases[0]!, a);
    const tokenB = await login(bases[1]!, b);
    const [floodA, steadyB] = await Promise.all([
      Promise.all(Array.from({ length: 500 }, (_, i) => me(bases[i % 3]!, tokenA))),
      Promise.all(Array.from({ length: 30 }, (_, i) => me(bases[i % 3]!, tokenB))),
    ]);
    const admitted = floodA.filter((r) => r.status === 200).length;
    const limited = floodA.filter((r) => r.status === 429);
    expect(admitted).toBeGreaterThanOrEqual(100);
    expect(admitted).toBeLessThanOrEqual(110);
    expect(admitted + limited.length).toBe(500);
    expect(steadyB.map((r) => r.status)).toEqual(Array(30).fill(200));
    const refused = limited[0]!;
    expect(refused.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(await refused.json()).toMatchObject({ status: 429, code: 'rate-limited' });
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(Number(refused.headers.get('retry-after'))).toBeLessThanOrEqual(60);
    expect(refused.headers.get('ratelimit-limit')).toBe('100');
    expect(refused.headers.get('ratelimit-remaining')).toBe('0');
    const served = floodA.find((r) => r.status === 200)!;
    expect(Number(served.headers.get('ratelimit-remaining'))).toBeLessThan(100);
    await Promise.all([...floodA, ...steadyB].filter((r) => !r.bodyUsed).map((r) => r.body?.cancel()));
  });

  it('stops password guessing on one account after 10 tries a minute, on every gateway; other accounts log in', async () => {
    const a = await createAccount(world);
    const b = await createAccount(world);
    const attempt = (i: number, acc: TestAccount, password: string) =>
      fetch(`${bases[i % 3]}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ tenant: acc.slug, email: acc.email.toUpperCase(), password }) });
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) statuses.push((await attempt(i, a, `wrong guess ${i}`)).status);
    expect(statuses).toEqual([...Array(10).fill(401), 429, 429]);
    const blocked = await attempt(0, a, TEST_PASSWORD); // even the right password waits out the minute
    expect(blocked.status).toBe(429);
    expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await attempt(1, b, TEST_PASSWORD)).status).toBe(200);
  });

  it('applies a plan change at once on every gateway', async () => {
    const a = await createAccount(world);
    const token = await login(bases[2]!, a);
    expect((await me(bases[0]!, token)).status).toBe(200);
    await publishTenantLimits(redis, a.tenantId, { requestsPerMinute: 3, inFlight: 50 }); // what a downgrade publishes
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await me(bases[i % 3]!, token)).status);
    expect(statuses).toEqual([200, 200, 429, 429]); // 1 before + 2 = 3 in the window
  });
});

it('holds in-flight slots exactly under concurrency, and gives them back', async () => {
  const limiter = new TenantRateLimiter(redis);
  const t = newId();
  const decisions = await Promise.all(Array.from({ length: 80 }, (_, i) => limiter.decide(t, `r${i}`, { requestsPerMinute: 1_000, inFlight: 50 })));
  expect(decisions.filter((d) => d.verdict === 'admitted')).toHaveLength(50);
  expect(decisions.filter((d) => d.verdict === 'too-many-in-flight')).toHaveLength(30);
  await Promise.all(decisions.map((d, i) => (d.verdict === 'admitted' ? limiter.release(t, `r${i}`) : undefined)));
  expect((await limiter.decide(t, 'after', { requestsPerMinute: 1_000, inFlight: 50 })).verdict).toBe('admitted');
});

describe('Redis stopped mid-test (a Redis of this spec’s own)', () => {
  const port = 63799;
  const dir = mkdtempSync(join(tmpdir(), 'hotdash-redis-'));
  let server: ChildProcess | undefined;
  let gateway: ServiceProcess;
  const base = 'http://127.0.0.1:3194';

  const startRedis = async () => {
    server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
    const probe = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    await waitFor('spec redis', async () => (await probe.connect().then(() => probe.ping()).catch(() => undefined)) === 'PONG', 10_000, 50);
    probe.disconnect();
  };
  const stopRedis = async () => {
    const s = server!;
    const exited = new Promise((r) => s.once('exit', r));
    s.kill('SIGKILL');
    await exited;
  };

  beforeAll(async () => {
    await startRedis();
    gateway = startProcess('apps/gateway/src/main.ts', { HOTDASH_GATEWAY_PORT: '3194', HOTDASH_REDIS_PORT: String(port) });
    await waitFor('gateway 3194', async () => (await fetch(`${base}/health`).catch(() => undefined))?.ok, 60_000, 200).catch((err: Error) => {
      throw new Error(`${err.message}\n${gateway.output()}`);
    });
  });
  afterAll(async () => {
    await gateway.stop();
    if (server && server.exitCode === null) await stopRedis();
    rmSync(dir, { recursive: true, force: true });
  });

  it('fails open for limits, stays closed for revoked credentials and idempotency keys, and recovers', async () => {
    const local = new Redis({ port, host: '127.0.0.1' });
    const a = await createAccount(world);
    const removed = await createAccount(world);
    await publishTenantLimits(local, a.tenantId, { requestsPerMinute: 2, inFlight: 50 });
    local.disconnect();
    const token = await login(base, a);
    const removedToken = await login(base, removed);
    expect([(await me(base, token)).status, (await me(base, token)).status, (await me(base, token)).status]).toEqual([200, 200, 429]);

    await stopRedis();
    // Limits fail open: served beyond the limit while Redis is away.
    for (let i = 0; i < 3; i++) expect((await me(base, token)).status).toBe(200);
    // Revocation falls back to the database: a removed operator is still refused.
    await world.tenantDb.withTenant(removed.tenantId, (tx) => sql`update users set status = 'removed', password_hash = null where id = ${removed.userId}::uuid`.execute(tx.db).then((r) => Number(r.numAffectedRows ?? 0)));
    const r = await me(base, removedToken);
    expect(r.status).toBe(401);
    expect(await r.json()).toMatchObject({ code: 'token-revoked' });
    // A POST carrying an Idempotency-Key is refused (fail closed: a retry must never create twice), nothing passed on.
    const users = async () => (await world.tenantDb.withTenant(a.tenantId, (tx) => sql<{ n: number }>`select count(*)::int as n from users`.execute(tx.db).then((r) => r.rows)))[0]!.n;
    const before = await users();
    const invite = await fetch(`${base}/operators`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'idempotency-key': 'redis-down-1' },
      body: JSON.stringify({ email: 'while-down@example.test', role: 'operator' }),
    });
    expect(invite.status).toBe(503);
    expect(await invite.json()).toMatchObject({ code: 'idempotency-unavailable' });
    expect(await users()).toBe(before);

    await startRedis(); // empty: limits come from the plan again until provisioning publishes
    const back = new Redis({ port, host: '127.0.0.1' });
    await publishTenantLimits(back, a.tenantId, { requestsPerMinute: 1, inFlight: 50 });
    back.disconnect();
    await waitFor('limits to apply again', async () => (await me(base, token)).status === 429, 15_000, 100);
  });
});
