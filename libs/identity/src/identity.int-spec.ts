// Identity through the gateway's HTTP API (Fastify, in-process) against the real shards and Redis:
// login, who-am-I, refresh rotation, reuse of a rotated refresh token ending the session at once,
// logout, a removed operator, forged and expired tokens, and bad input: 401/4xx problem+json, and
// nothing written by a refused request.
import { Module } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { SignJWT } from 'jose';
import type { TenantId } from '@hotdash/contracts';
import { AuthKeys, AuthModule, RevocationList, TokenService } from '@hotdash/platform-auth';
import { DatabaseModule, newId } from '@hotdash/platform-db';
import { createFastifyHttpApp, HealthController, ProblemDetails } from '@hotdash/platform-http';
import { createAccount, TEST_PASSWORD, TestAccount, TestWorld } from '@hotdash/testing';
import { IdentityModule } from './identity.module';
import type { MeDto, TokenPair } from './identity.service';

jest.setTimeout(60_000);

const world = new TestWorld();

@Module({ imports: [DatabaseModule.forRoot(world.config), AuthModule.forRoot(world.config), IdentityModule], controllers: [HealthController] })
class GatewayTestModule {}

let app: NestFastifyApplication;
let base: string;
const PASSWORD = TEST_PASSWORD;
type Account = TestAccount;
const account = (role: Parameters<typeof createAccount>[1] = 'admin') => createAccount(world, role);

const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });
const get = (path: string, token?: string) => fetch(`${base}${path}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });

async function login(a: Account): Promise<TokenPair> {
  const res = await post('/auth/login', { tenant: a.slug, email: a.email, password: PASSWORD });
  expect(res.status).toBe(200);
  expect(res.headers.get('cache-control')).toBe('no-store');
  return (await res.json()) as TokenPair;
}

async function problem(res: Response, status: number, code: string): Promise<ProblemDetails> {
  expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  const p = (await res.json()) as ProblemDetails;
  expect(p).toMatchObject({ status, code });
  return p;
}

async function sessions(tenantId: TenantId): Promise<{ sessions: number; tokens: number }> {
  const [r] = await world.tenantDb.withTenant(tenantId, (tx) =>
    tx.$queryRaw<{ sessions: number; tokens: number }[]>`select (select count(*)::int from auth_sessions) as sessions, (select count(*)::int from refresh_tokens) as tokens`,
  );
  return r!;
}

beforeAll(async () => {
  app = await createFastifyHttpApp(GatewayTestModule, { logger: ['error'] });
  await app.listen(0, '127.0.0.1');
  base = await app.getUrl();
  base = base.replace('[::1]', '127.0.0.1');
});
afterAll(async () => {
  await app.close();
  await world.close();
});

it('logs in with tenant slug, e-mail and password, and answers who-am-I', async () => {
  const a = await account('manager');
  const pair = await login({ ...a, email: a.email.toUpperCase() }); // addresses are case-insensitive
  expect(pair).toMatchObject({ tokenType: 'Bearer', expiresIn: 900, tenantId: a.tenantId, userId: a.userId, role: 'manager', refreshToken: expect.stringMatching(/^hdr_/) });
  const me = await get('/me', pair.accessToken);
  expect(me.status).toBe(200);
  expect((await me.json()) as MeDto).toEqual({ tenantId: a.tenantId, userId: a.userId, email: a.email, displayName: 'Ada', role: 'manager' });
  expect(await sessions(a.tenantId)).toEqual({ sessions: 1, tokens: 1 });
});

it('answers every failed login the same way, and writes nothing', async () => {
  const a = await account();
  const before = await sessions(a.tenantId);
  const attempts = [
    { tenant: a.slug, email: a.email, password: 'wrong password!' },
    { tenant: a.slug, email: `nobody-${a.email}`, password: PASSWORD },
    { tenant: `no-such-${a.slug}`, email: a.email, password: PASSWORD },
  ];
  const bodies = [];
  for (const body of attempts) bodies.push(await problem(await post('/auth/login', body), 401, 'invalid-credentials'));
  expect(new Set(bodies.map((b) => JSON.stringify(b))).size).toBe(1);
  expect(await sessions(a.tenantId)).toEqual(before);
  // A removed operator cannot log in either.
  await world.tenantDb.withTenant(a.tenantId, (tx) => tx.$executeRaw`update users set status = 'removed' where id = ${a.userId}::uuid`);
  await problem(await post('/auth/login', { tenant: a.slug, email: a.email, password: PASSWORD }), 401, 'invalid-credentials');
});

it('rotates refresh tokens; reusing a rotated one ends the whole session at once', async () => {
  const a = await account();
  const first = await login(a);
  const r1 = await post('/auth/refresh', { refreshToken: first.refreshToken });
  expect(r1.status).toBe(200);
  const second = (await r1.json()) as TokenPair;
  expect(second.refreshToken).not.toBe(first.refreshToken);
  expect((await get('/me', second.accessToken)).status).toBe(200);

  // The first token again: someone else holds a copy. The session ends: every token of it stops.
  await problem(await post('/auth/refresh', { refreshToken: first.refreshToken }), 401, 'refresh-token-reused');
  await problem(await get('/me', second.accessToken), 401, 'token-revoked');
  await problem(await get('/me', first.accessToken), 401, 'token-revoked');
  await problem(await post('/auth/refresh', { refreshToken: second.refreshToken }), 401, 'invalid-refresh-token');
  const [s] = await world.tenantDb.withTenant(a.tenantId, (tx) => tx.$queryRaw<{ revoked_reason: string }[]>`select revoked_reason from auth_sessions`);
  expect(s!.revoked_reason).toBe('reuse');
  // A new login works.
  expect((await get('/me', (await login(a)).accessToken)).status).toBe(200);
});

it('logout ends the session: its access token at once, its refresh token too', async () => {
  const a = await account();
  const pair = await login(a);
  const other = await login(a); // a second device stays logged in
  const out = await fetch(`${base}/auth/logout`, { method: 'POST', headers: { authorization: `Bearer ${pair.accessToken}` } });
  expect(out.status).toBe(204);
  await problem(await get('/me', pair.accessToken), 401, 'token-revoked');
  await problem(await post('/auth/refresh', { refreshToken: pair.refreshToken }), 401, 'invalid-refresh-token');
  expect((await get('/me', other.accessToken)).status).toBe(200);
});

it('a removed operator is refused at once, and cannot refresh', async () => {
  const a = await account();
  const pair = await login(a);
  // What provisioning does when an operator is removed (libs/provisioning OperatorsHandler.remove).
  await app.get(RevocationList).userRemoved(a.tenantId, a.userId);
  await world.tenantDb.withTenant(a.tenantId, (tx) => tx.$executeRaw`update users set status = 'removed', password_hash = null where id = ${a.userId}::uuid`);
  await problem(await get('/me', pair.accessToken), 401, 'token-revoked');
  await problem(await post('/auth/refresh', { refreshToken: pair.refreshToken }), 401, 'invalid-refresh-token');
});

it('refuses forged, tampered, expired and misdirected tokens, serving nothing', async () => {
  const a = await account('operator');
  const pair = await login(a);
  const [h, p, sig] = pair.accessToken.split('.') as [string, string, string];
  const claims = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>;
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const header = JSON.parse(Buffer.from(h, 'base64url').toString()) as Record<string, unknown>;
  const tokens = app.get(TokenService);
  const principal = await tokens.verifyAccess(pair.accessToken);
  const expired = await new SignJWT({ ...claims })
    .setProtectedHeader(header as { alg: string })
    .setExpirationTime(Math.floor(Date.now() / 1000) - 60)
    .sign(AuthKeys.development().signing!.key);
  const cases: [string, string, string][] = [
    ['tampered role', `${h}.${b64({ ...claims, role: 'admin' })}.${sig}`, 'invalid-token'],
    ['tampered tenant', `${h}.${b64({ ...claims, tid: newId() })}.${sig}`, 'invalid-token'],
    ['tampered signature', `${h}.${p}.${sig.slice(0, -2)}AA`, 'invalid-token'],
    ['alg none', `${b64({ ...header, alg: 'none' })}.${p}.`, 'invalid-token'],
    ['expired', expired, 'token-expired'],
    ['an internal token (wrong audience)', await tokens.issueInternal(principal, 'provisioning'), 'invalid-token'],
    ['garbage', 'Bearer-ish', 'invalid-token'],
  ];
  for (const [label, token, code] of cases) {
    const res = await get('/me', token);
    expect([label, res.status]).toEqual([label, 401]);
    expect([label, ((await res.json()) as ProblemDetails).code]).toEqual([label, code]);
  }
  await problem(await get('/me'), 401, 'missing-credentials');
  await problem(await fetch(`${base}/me`, { headers: { authorization: `Basic ${Buffer.from('a:b').toString('base64')}` } }), 401, 'invalid-token');
  // Health stays public.
  expect((await fetch(`${base}/health`)).status).toBe(200);
});

describe('bad input on the identity routes gets 4xx problem+json and writes nothing', () => {
  let a: Account;
  beforeAll(async () => {
    a = await account();
  });
  const cases: [string, () => Promise<Response>, number, string][] = [
    ['malformed JSON', () => post('/auth/login', '{"tenant":'), 400, 'malformed-json'],
    ['a JSON array', () => post('/auth/login', '[1,2]'), 400, 'invalid-body'],
    ['a form body', () => fetch(`${base}/auth/login`, { method: 'POST', body: 'tenant=a', headers: { 'content-type': 'application/x-www-form-urlencoded' } }), 415, 'unsupported-media-type'],
    ['an unknown field', () => post('/auth/login', { tenant: a.slug, email: a.email, password: PASSWORD, tenantId: newId() }), 400, 'unknown-field'],
    ['a missing password', () => post('/auth/login', { tenant: a.slug, email: a.email }), 400, 'validation-failed'],
    ['a password of the wrong type', () => post('/auth/login', { tenant: a.slug, email: a.email, password: 12345 }), 400, 'validation-failed'],
    ['a huge body', () => post('/auth/login', { tenant: a.slug, email: a.email, password: 'x'.repeat(200_000) }), 413, 'payload-too-large'],
    ['SQL in the slug', () => post('/auth/login', { tenant: "x' or '1'='1", email: a.email, password: PASSWORD }), 401, 'invalid-credentials'],
    ['script in the e-mail', () => post('/auth/login', { tenant: a.slug, email: '<script>alert(1)</script>', password: PASSWORD }), 401, 'invalid-credentials'],
    ['a refresh token of another shape', () => post('/auth/refresh', { refreshToken: 'hdr_not-a-tenant.xyz' }), 401, 'invalid-refresh-token'],
    ['a refresh token naming an unknown tenant', () => post('/auth/refresh', { refreshToken: `hdr_${newId()}.${'a'.repeat(43)}` }), 401, 'invalid-refresh-token'],
    ['an unknown route', () => get('/no-such-route'), 404, 'route-not-found'],
  ];
  it.each(cases)('%s', async (_label, send, status, code) => {
    const before = await sessions(a.tenantId);
    await problem(await send(), status, code);
    expect(await sessions(a.tenantId)).toEqual(before);
  });
});
