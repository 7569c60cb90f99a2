// Identity through the gateway's HTTP API (Fastify, in-process) against the real shards and Redis:
// login, who-am-I, refresh rotation, reuse of a rotated refresh token ending the session at once,
// logout, a removed operator, forged and expired tokens, and bad input: 401/4xx problem+json, and
// nothing written by a refused request.
import { Module } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { SignJWT } from 'jose';
import { sql } from 'kysely';
import type { TenantId } from '@hotdash/contracts';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuthKeys, AuthModule, Permission, RevocationStore, ROLE_PERMISSIONS, TokenService } from '@hotdash/platform-auth';
import { FieldCipher, LocalKms, TenantKeyring } from '@hotdash/platform-crypto';
import { EmlFileMailSender, MailDispatcher } from '@hotdash/platform-messaging';
import { DatabaseModule, newId, TenantTx } from '@hotdash/platform-db';
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
  return world.tenantDb.withTenant(tenantId, (tx) =>
    tx.db
      .selectNoFrom((eb) => [
        eb.selectFrom('auth_sessions').select(sql<number>`count(*)::int`.as('n')).as('sessions'),
        eb.selectFrom('refresh_tokens').select(sql<number>`count(*)::int`.as('n')).as('tokens'),
      ])
      .$narrowType<{ sessions: number; tokens: number }>()
      .executeTakeFirstOrThrow(),
  );
}

const countApiKeys = (tx: TenantTx) => tx.db.selectFrom('api_keys').select(sql<number>`count(*)::int`.as('n')).execute();

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
  // The login is in the tenant's access log (through its outbox), with the session it made.
  const [logged] = await world.tenantDb.withTenant(a.tenantId, (tx) => tx.db.selectFrom('outbox').select('envelope').where('type', '=', 'access.recorded').execute());
  expect((logged!.envelope as { payload: Record<string, unknown> }).payload).toMatchObject({ actor: `user:${a.userId}`, action: 'create', resourceType: 'session', route: '/auth/login', status: 200 });
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
  await world.tenantDb.withTenant(a.tenantId, (tx) => tx.db.updateTable('users').set({ status: 'removed' }).where('id', '=', a.userId).execute());
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
  const [s] = await world.tenantDb.withTenant(a.tenantId, (tx) => tx.db.selectFrom('auth_sessions').select('revoked_reason').execute());
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
  await app.get(RevocationStore).userRemoved(a.tenantId, a.userId);
  await world.tenantDb.withTenant(a.tenantId, (tx) => tx.db.updateTable('users').set({ status: 'removed', password_hash: null }).where('id', '=', a.userId).execute());
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
    // One character inside the signature changed (the last characters of an Ed25519 signature carry padding bits).
    ['tampered signature', `${h}.${p}.${sig.slice(0, 10)}${sig[10] === 'A' ? 'B' : 'A'}${sig.slice(11)}`, 'invalid-token'],
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

describe('API keys', () => {
  const create = (token: string, body: unknown) => fetch(`${base}/api-keys`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify(body) });

  it('shows a key once, stores only its hash, and stops it at once when revoked', async () => {
    const a = await account('admin');
    const admin = (await login(a)).accessToken;
    const res = await create(admin, { name: 'CRM sync', scopes: ['drafts:read'] });
    expect(res.status).toBe(201);
    const created = (await res.json()) as { id: string; key: string; prefix: string; role: string; scopes: string[] };
    expect(created).toMatchObject({ role: 'operator', scopes: ['drafts:read'], key: expect.stringMatching(new RegExp(`^hdk_${a.tenantId}\\.`)) });
    expect(created.key.startsWith(created.prefix)).toBe(true);
    const listed = (await (await get('/api-keys', admin)).json()) as Record<string, unknown>[];
    expect(listed).toHaveLength(1);
    expect(JSON.stringify(listed)).not.toContain(created.key);
    const [stored] = await world.tenantDb.withTenant(a.tenantId, (tx) => tx.db.selectFrom('api_keys').select('key_hash').execute());
    expect(stored!.key_hash).toMatch(/^[0-9a-f]{64}$/);

    // The key authenticates (its scopes do not include the profile: 403, not 401).
    const withKey = () => fetch(`${base}/me`, { headers: { 'x-api-key': created.key } });
    await problem(await withKey(), 403, 'forbidden');
    const revoke = await fetch(`${base}/api-keys/${created.id}`, { method: 'DELETE', headers: { authorization: `Bearer ${admin}` } });
    expect(revoke.status).toBe(204);
    await problem(await withKey(), 401, 'invalid-api-key');
    await problem(await fetch(`${base}/me`, { headers: { 'x-api-key': `${created.key.slice(0, -2)}xx` } }), 401, 'invalid-api-key');
    // A key acts for the admin who made it: demoted, their keys stop too.
    const second = (await (await create(admin, { name: 'ETL', scopes: ['drafts:read'] })).json()) as { key: string };
    await problem(await fetch(`${base}/me`, { headers: { 'x-api-key': second.key } }), 403, 'forbidden'); // authenticates
    await world.tenantDb.withTenant(a.tenantId, (tx) => tx.db.updateTable('users').set({ role: 'manager' }).where('id', '=', a.userId).execute());
    await problem(await fetch(`${base}/me`, { headers: { 'x-api-key': second.key } }), 401, 'invalid-api-key');
    await problem(await fetch(`${base}/me`, { headers: { 'x-api-key': 'hdk_nonsense' } }), 401, 'invalid-api-key');
  });

  it('creates one key for 20 concurrent requests with one Idempotency-Key; the secret is only in the first answer', async () => {
    const a = await account('admin');
    const admin = (await login(a)).accessToken;
    const send = (body: unknown) =>
      fetch(`${base}/api-keys`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${admin}`, 'idempotency-key': 'crm-sync-1' }, body: JSON.stringify(body) });
    const answers = await Promise.all(Array.from({ length: 20 }, () => send({ name: 'CRM sync', scopes: ['drafts:read'] })));
    expect(answers.map((r) => r.status)).toEqual(Array(20).fill(201));
    const bodies = (await Promise.all(answers.map((r) => r.json()))) as { id: string; key: string | null; replayed: boolean }[];
    expect(new Set(bodies.map((b) => b.id)).size).toBe(1);
    expect(bodies.filter((b) => !b.replayed && b.key)).toHaveLength(1);
    expect(bodies.filter((b) => b.replayed && b.key === null)).toHaveLength(19);
    expect(await world.tenantDb.withTenant(a.tenantId, countApiKeys)).toEqual([{ n: 1 }]);
    await problem(await send({ name: 'Something else', scopes: ['drafts:read'] }), 422, 'idempotency-key-reused');
  });

  it('refuses scopes outside the key’s role, the right to mint keys, and bad input, writing nothing', async () => {
    const a = await account('admin');
    const admin = (await login(a)).accessToken;
    const cases: [unknown, number, string][] = [
      [{ name: 'x', scopes: ['audit:read'] }, 400, 'invalid-scope'], // operator keys cannot read the audit log
      [{ name: 'x', role: 'admin', scopes: ['api-keys:manage'] }, 400, 'invalid-scope'],
      [{ name: 'x', scopes: [] }, 400, 'invalid-scope'],
      [{ name: 'x', role: 'root', scopes: ['drafts:read'] }, 400, 'invalid-role'],
      [{ name: '', scopes: ['drafts:read'] }, 400, 'validation-failed'],
      [{ name: 'x', scopes: ['drafts:read'], expiresAt: '2001-01-01T00:00:00Z' }, 400, 'validation-failed'],
      [{ name: 'x', scopes: ['drafts:read'], owner: 'me' }, 400, 'unknown-field'],
    ];
    for (const [body, status, code] of cases) await problem(await create(admin, body), status, code);
    expect(await world.tenantDb.withTenant(a.tenantId, countApiKeys)).toEqual([{ n: 0 }]);
  });
});

describe('roles and tenants', () => {
  // Each route and the permission it needs; the expectation for every role comes from the role table.
  const routes: { method: string; path: (keyId: string) => string; permission: Permission; body?: unknown }[] = [
    { method: 'GET', path: () => '/me', permission: 'profile:read' },
    { method: 'GET', path: () => '/api-keys', permission: 'api-keys:manage' },
    { method: 'POST', path: () => '/api-keys', permission: 'api-keys:manage', body: { name: 'matrix', scopes: ['drafts:read'] } },
    { method: 'DELETE', path: (id) => `/api-keys/${id}`, permission: 'api-keys:manage' },
    { method: 'POST', path: () => '/auth/logout', permission: 'profile:read' },
  ];

  it.each(['operator', 'team_lead', 'manager', 'admin'] as const)('as %s: allowed exactly where the role table says', async (role) => {
    const a = await account(role);
    // One sign-in (a password check costs a few hundred ms): logout, which ends the session, is the last route.
    expect(routes.at(-1)!.path('')).toBe('/auth/logout');
    const token = (await login(a)).accessToken;
    for (const route of routes) {
      const keyId = newId();
      const res = await fetch(`${base}${route.path(keyId)}`, {
        method: route.method,
        headers: { authorization: `Bearer ${token}`, ...(route.body ? { 'content-type': 'application/json' } : {}) },
        body: route.body ? JSON.stringify(route.body) : undefined,
      });
      const allowed = ROLE_PERMISSIONS[role].has(route.permission);
      if (allowed) expect([route.method, route.path(keyId), res.status]).not.toEqual([route.method, route.path(keyId), 403]);
      else {
        expect([route.method, route.path(keyId), res.status]).toEqual([route.method, route.path(keyId), 403]);
        expect(((await res.json()) as ProblemDetails).code).toBe('forbidden');
      }
      await res.body?.cancel().catch(() => undefined);
    }
  });

  it('refuses a request naming another tenant with 403 tenant_mismatch, wherever it names it', async () => {
    const a = await account('admin');
    const b = await account('admin');
    const token = (await login(a)).accessToken;
    const auth = { authorization: `Bearer ${token}` };
    await problem(await fetch(`${base}/api-keys?tenantId=${b.tenantId}`, { headers: auth }), 403, 'tenant_mismatch');
    await problem(await fetch(`${base}/api-keys`, { headers: { ...auth, 'x-tenant-id': b.tenantId } }), 403, 'tenant_mismatch');
    await problem(
      await fetch(`${base}/api-keys`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ tenantId: b.tenantId, name: 'x', scopes: ['drafts:read'] }) }),
      403,
      'tenant_mismatch',
    );
    expect((await fetch(`${base}/api-keys`, { headers: { ...auth, 'x-tenant-id': a.tenantId } })).status).toBe(200); // its own tenant may be named
  });

  it("as tenant B, tenant A's key is exactly as missing as a key that does not exist", async () => {
    const a = await account('admin');
    const b = await account('admin');
    const tokenA = (await login(a)).accessToken;
    const tokenB = (await login(b)).accessToken;
    const created = (await (
      await fetch(`${base}/api-keys`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${tokenA}` }, body: JSON.stringify({ name: 'A', scopes: ['drafts:read'] }) })
    ).json()) as { id: string; key: string };
    const del = (id: string) => fetch(`${base}/api-keys/${id}`, { method: 'DELETE', headers: { authorization: `Bearer ${tokenB}` } });
    const foreign = await problem(await del(created.id), 404, 'not-found');
    const missing = await problem(await del(newId()), 404, 'not-found');
    expect({ ...foreign, detail: undefined, instance: undefined }).toEqual({ ...missing, detail: undefined, instance: undefined });
    expect(((await (await get('/api-keys', tokenB)).json()) as unknown[]).length).toBe(0);
    await problem(await fetch(`${base}/me`, { headers: { 'x-api-key': created.key } }), 403, 'forbidden'); // A's key still works (authenticates)
  });
});

describe('password reset through the mail outbox', () => {
  const mailDir = mkdtempSync(join(tmpdir(), 'hotdash-reset-mail-'));
  afterAll(() => rmSync(mailDir, { recursive: true, force: true }));

  async function mailedResetToken(tenantId: string, to: string): Promise<string> {
    const mail = new MailDispatcher(world.dbs, new FieldCipher(new TenantKeyring(world.dbs, LocalKms.fromEnv())), new EmlFileMailSender(mailDir));
    for (const s of await world.shards()) await mail.drain(s, 500);
    const eml = readdirSync(join(mailDir, tenantId))
      .map((f) => readFileSync(join(mailDir, tenantId, f), 'utf8'))
      .filter((f) => f.includes(`\r\nTo: ${to}\r\n`))
      .pop();
    if (!eml) throw new Error(`no mail to ${to}`);
    return /\/app\/reset#([^\s]+)/.exec(eml)![1]!;
  }

  it('mails a one-hour link; the new password works, the old one and every old session do not', async () => {
    const a = await account('operator');
    const old = await login(a);
    const ask = (body: unknown) => post('/auth/password-reset', body);
    const known = await ask({ tenant: a.slug, email: a.email });
    const unknown = await ask({ tenant: a.slug, email: `nobody-${a.email}` });
    expect([known.status, unknown.status]).toEqual([202, 202]);
    expect(await known.json()).toEqual(await unknown.json());
    const token = await mailedResetToken(a.tenantId, a.email);
    expect(token.startsWith(`hdp_${a.tenantId}.`)).toBe(true);

    const newPassword = 'a brand new passphrase';
    await problem(await post('/auth/password-reset/confirm', { token, password: 'short' }), 400, 'weak-password');
    expect((await post('/auth/password-reset/confirm', { token, password: newPassword })).status).toBe(204);
    await problem(await post('/auth/password-reset/confirm', { token, password: newPassword }), 409, 'reset-used');
    await problem(await post('/auth/password-reset/confirm', { token: `hdp_${a.tenantId}.${'x'.repeat(43)}`, password: newPassword }), 404, 'reset-not-found');

    await problem(await get('/me', old.accessToken), 401, 'token-revoked');
    await problem(await post('/auth/refresh', { refreshToken: old.refreshToken }), 401, 'invalid-refresh-token');
    await problem(await post('/auth/login', { tenant: a.slug, email: a.email, password: PASSWORD }), 401, 'invalid-credentials');
    const fresh = await post('/auth/login', { tenant: a.slug, email: a.email, password: newPassword });
    expect(fresh.status).toBe(200);
    expect((await get('/me', ((await fresh.json()) as TokenPair).accessToken)).status).toBe(200);
  });

  it('sends no reset where password sign-in is off, and a link sent before sets no password', async () => {
    const a = await account('operator');
    expect((await post('/auth/password-reset', { tenant: a.slug, email: a.email })).status).toBe(202);
    const token = await mailedResetToken(a.tenantId, a.email);
    await world.tenantDb.withTenant(a.tenantId, (tx) =>
      tx.db
        .insertInto('sso_configs')
        .values({ tenant_id: a.tenantId, issuer: 'https://idp.reset.test', client_id: 'hd', allowed_domains: ['example.test'], password_sign_in: false, verified_at: new Date() })
        .execute(),
    );
    const resets = () => world.tenantDb.withTenant(a.tenantId, (tx) => tx.db.selectFrom('password_resets').select(['id', 'used_at']).execute());
    const passwordHash = () => world.tenantDb.withTenant(a.tenantId, (tx) => tx.db.selectFrom('users').select('password_hash').executeTakeFirstOrThrow());
    const [before, hashBefore] = [await resets(), await passwordHash()];
    // The same answer as for any address, and nothing issued.
    expect((await post('/auth/password-reset', { tenant: a.slug, email: a.email })).status).toBe(202);
    await problem(await post('/auth/password-reset/confirm', { token, password: 'a brand new passphrase' }), 403, 'password-sign-in-disabled');
    expect([await resets(), await passwordHash()]).toEqual([before, hashBefore]);
    await world.tenantDb.withTenant(a.tenantId, (tx) => tx.db.deleteFrom('sso_configs').execute());
  });
});
