// Single sign-on through the gateway's HTTP API (Fastify, in-process) against the real shards and
// Redis, with two local OpenID Connect providers (`oidc-provider`) started here on loopback ports:
// tenant A signs in through provider 1, tenant B through provider 2. The browser is played with
// fetch: the start's redirect, the provider's login and consent forms, the redirect back. Then the
// attacker's side: a code or an ID token from another tenant's provider, a token for another
// client (wrong audience), a replayed state, a state of tenant A on tenant B's flow, another
// browser, an e-mail outside the allowed domains or unverified, a removed operator: each a 4xx
// problem+json with a stable code, and nothing written.
import { createServer, Server } from 'node:http';
import { type AddressInfo, createServer as createNetServer } from 'node:net';
import { createHash, randomBytes } from 'node:crypto';
import { runInThisContext } from 'node:vm';
import { Module } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { exportJWK, generateKeyPair } from 'jose';
import { sql } from 'kysely';
import Provider from 'oidc-provider';
import type { TenantId } from '@hotdash/contracts';
import { AuthModule, AUTH_REDIS } from '@hotdash/platform-auth';
import { FieldCipher, LocalKms, TenantKeyring } from '@hotdash/platform-crypto';
import { DatabaseModule, newId } from '@hotdash/platform-db';
import { createFastifyHttpApp, ProblemDetails } from '@hotdash/platform-http';
import { type RedisClient, tenantKeyPrefix } from '@hotdash/platform-jobs';
import { closedPort, createAccount, TEST_PASSWORD, TestAccount, TestWorld } from '@hotdash/testing';
import { IdentityModule } from '../identity.module';
import type { MeDto, TokenPair } from '../identity.service';
import { SSO_SECRET_FIELD, SsoConfigDto } from './sso-config';

jest.setTimeout(60_000);

const world = new TestWorld();
const cipher = new FieldCipher(new TenantKeyring(world.dbs, LocalKms.fromEnv()));

@Module({ imports: [DatabaseModule.forRoot(world.config), AuthModule.forRoot(world.config), IdentityModule] })
class GatewayTestModule {}

let app: NestFastifyApplication;
let base: string;
let redirectUri: string;
const env = { HOTDASH_SSO_INSECURE_ISSUERS: process.env.HOTDASH_SSO_INSECURE_ISSUERS, HOTDASH_PUBLIC_URL: process.env.HOTDASH_PUBLIC_URL, HOTDASH_EGRESS_ALLOW: process.env.HOTDASH_EGRESS_ALLOW };

// ---- a local OpenID Connect provider ------------------------------------------------------------

interface Account {
  email: string;
  email_verified: boolean;
  name?: string;
  groups?: string[];
}

interface LocalProvider {
  issuer: string;
  server: Server;
  /** Accounts by login (the provider's account id). */
  accounts: Map<string, Account>;
  /** The next token response's id_token is replaced by this one (a substituted token). */
  substitute?: string;
}

const CLIENT = { a: 'hd-tenant-a', b: 'hd-tenant-b', other: 'hd-other-app' };
const SECRET = { a: `secret-a-${newId()}`, b: `secret-b-${newId()}`, other: `secret-o-${newId()}` };

/**
 * oidc-provider runs in Node's own realm (jest.setup.ts loads it there) and takes only plain objects
 * of that realm as configuration: the data is copied into it, the functions added after.
 */
function newProvider(issuer: string, data: Record<string, unknown>, functions: Record<string, unknown>): Provider {
  const outerJson = runInThisContext('JSON') as typeof JSON;
  return new Provider(issuer, Object.assign(outerJson.parse(JSON.stringify(data)) as Record<string, unknown>, functions));
}

/** An oidc-provider on a loopback port, its own signing key, the given clients; `idTokenClaims`: claims in the ID token (else at user info only). */
async function startProvider(clients: Array<{ id: string; secret: string }>, idTokenClaims: boolean): Promise<LocalProvider> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const local: LocalProvider = { issuer, server, accounts: new Map() };
  let provider: Provider;
  try {
    provider = newProvider(
      issuer,
      {
        clients: clients.map((c) => ({ client_id: c.id, client_secret: c.secret, redirect_uris: [redirectUri], grant_types: ['authorization_code'], response_types: ['code'] })),
        jwks: { keys: [{ ...(await exportJWK(privateKey)), kid: `k-${newId()}`, alg: 'RS256', use: 'sig' }] },
        claims: { openid: ['sub', 'groups'], email: ['email', 'email_verified'], profile: ['name'] },
        conformIdTokenClaims: idTokenClaims,
      },
      { findAccount: (_ctx: unknown, id: string) => ({ accountId: id, claims: () => ({ sub: id, ...local.accounts.get(id) }) }) },
    );
  } catch (err) {
    server.close();
    throw err;
  }
  provider.use(async (ctx, next) => {
    await next();
    if (ctx.path === '/token' && ctx.status === 200 && local.substitute) {
      ctx.body = { ...(ctx.body as object), id_token: local.substitute };
      local.substitute = undefined;
    }
  });
  server.on('request', provider.callback());
  return local;
}

/**
 * The browser at the provider: follows redirects, keeps cookies, submits the login form (as
 * `login`) and the consent form, until the provider redirects to `until`; returns that URL.
 */
async function atProvider(url: string, login: string, until = redirectUri): Promise<URL> {
  const jar = new Map<string, string>();
  let next = url;
  let body: string | undefined;
  for (let i = 0; i < 12; i++) {
    const res = await fetch(next, {
      method: body ? 'POST' : 'GET',
      body,
      redirect: 'manual',
      headers: { cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; '), ...(body ? { 'content-type': 'application/x-www-form-urlencoded' } : {}) },
    });
    for (const c of res.headers.getSetCookie()) {
      const kv = c.split(';')[0]!;
      jar.set(kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1));
    }
    if (res.status >= 300 && res.status < 400) {
      const location = new URL(res.headers.get('location')!, next);
      if (location.href.startsWith(until)) return location;
      next = location.href;
      body = undefined;
      continue;
    }
    const html = await res.text();
    if (res.status !== 200) throw new Error(`provider answered ${res.status}: ${html.slice(0, 300)}`);
    const action = /action="([^"]+)"/.exec(html)?.[1];
    const prompt = /name="prompt" value="([^"]+)"/.exec(html)?.[1];
    if (!action || !prompt) throw new Error(`no form at ${next}: ${html.slice(0, 300)}`);
    next = new URL(action, next).href;
    body = new URLSearchParams(prompt === 'login' ? { prompt, login, password: 'any' } : { prompt }).toString();
  }
  throw new Error('too many steps at the provider');
}

/** An ID token the provider issues to `client` for `login` with the given nonce (what a party holding that client can obtain). */
async function idTokenFrom(p: LocalProvider, client: { id: string; secret: string }, login: string, nonce: string): Promise<string> {
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  const q = new URLSearchParams({ client_id: client.id, response_type: 'code', scope: 'openid email profile', redirect_uri: redirectUri, state: 's', nonce, code_challenge: challenge, code_challenge_method: 'S256' });
  const back = await atProvider(`${p.issuer}/auth?${q}`, login);
  const res = await fetch(`${p.issuer}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${client.id}:${client.secret}`).toString('base64')}` },
    body: new URLSearchParams({ grant_type: 'authorization_code', code: back.searchParams.get('code')!, redirect_uri: redirectUri, code_verifier: verifier }),
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { id_token: string }).id_token;
}

// ---- the gateway side -------------------------------------------------------------------------

let p1: LocalProvider;
let p2: LocalProvider;
let a: TestAccount; // tenant A: provider 1, client hd-tenant-a
let b: TestAccount; // tenant B: provider 2, client hd-tenant-b (e-mail at user info only)
let adminA: string;
let redis: RedisClient;

const call = (method: string, path: string, token?: string, body?: unknown) =>
  fetch(`${base}${path}`, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });

async function passwordLogin(acc: TestAccount, password = TEST_PASSWORD): Promise<Response> {
  return call('POST', '/auth/login', undefined, { tenant: acc.slug, email: acc.email, password });
}

async function problem(res: Response, status: number, code: string): Promise<ProblemDetails> {
  const p = (await res.json()) as ProblemDetails;
  expect({ status: res.status, type: res.headers.get('content-type'), code: p.code }).toEqual({ status, type: expect.stringMatching(/^application\/problem\+json/), code });
  return p;
}

interface Started {
  location: URL;
  state: string;
  nonce: string;
  cookie: string;
}

async function start(slug: string): Promise<Started> {
  const res = await fetch(`${base}/auth/sso/start?tenant=${slug}`, { redirect: 'manual' });
  expect(res.status).toBe(302);
  const location = new URL(res.headers.get('location')!);
  const setCookie = res.headers.get('set-cookie')!;
  expect(setCookie).toMatch(/; HttpOnly; SameSite=Lax/);
  return { location, state: location.searchParams.get('state')!, nonce: location.searchParams.get('nonce')!, cookie: setCookie.split(';')[0]! };
}

const finish = (callback: URL | string, cookie: string) => fetch(callback, { headers: { cookie } });

/** A whole sign-in: start at the gateway, log in at the provider as `login`, come back. */
async function ssoSignIn(slug: string, login: string): Promise<Response> {
  const s = await start(slug);
  return finish(await atProvider(s.location.href, login), s.cookie);
}

/** What a refused attempt must leave unchanged: the tenant's users, sessions, tokens and events. */
async function footprint(tenantId: TenantId): Promise<Record<string, number>> {
  return world.tenantDb.withTenant(tenantId, async (tx) => {
    const [r] = (
      await sql<Record<string, number>>`select (select count(*)::int from users) as users, (select count(*)::int from users where status = 'active') as active,
        (select count(*)::int from auth_sessions) as sessions, (select count(*)::int from refresh_tokens) as tokens, (select count(*)::int from outbox) as events`.execute(tx.db)
    ).rows;
    return r!;
  });
}

async function configure(token: string, body: Record<string, unknown>): Promise<SsoConfigDto> {
  const res = await call('PUT', '/sso', token, body);
  expect(res.status).toBe(200);
  return (await res.json()) as SsoConfigDto;
}

beforeAll(async () => {
  process.env.HOTDASH_SSO_INSECURE_ISSUERS = '1';
  app = await createFastifyHttpApp(GatewayTestModule, { logger: ['error'] });
  await app.listen(0, '127.0.0.1');
  base = (await app.getUrl()).replace('[::1]', '127.0.0.1');
  process.env.HOTDASH_PUBLIC_URL = base;
  redirectUri = `${base}/auth/sso/callback`;
  redis = app.get<RedisClient>(AUTH_REDIS);
  p1 = await startProvider([{ id: CLIENT.a, secret: SECRET.a }, { id: CLIENT.other, secret: SECRET.other }], true);
  // Provider 2 also knows a client named like tenant A's: the other tenant's admin controls it.
  p2 = await startProvider([{ id: CLIENT.b, secret: SECRET.b }, { id: CLIENT.a, secret: SECRET.a }], false);
  // The test providers are on loopback: only what the egress allow-list names is reached (read at first use).
  process.env.HOTDASH_EGRESS_ALLOW = [p1.issuer, p2.issuer].join(',');
  [a, b] = await Promise.all([createAccount(world, 'admin'), createAccount(world, 'admin')]);
  adminA = ((await (await passwordLogin(a)).json()) as TokenPair).accessToken;
  const adminB = ((await (await passwordLogin(b)).json()) as TokenPair).accessToken;
  await configure(adminA, { issuer: p1.issuer, clientId: CLIENT.a, clientSecret: SECRET.a, allowedDomains: ['corp-a.test', 'Example.TEST'], roleClaim: 'groups', roleMapping: { 'hd-leads': 'team_lead', 'hd-managers': 'manager' } });
  await configure(adminB, { issuer: p2.issuer, clientId: CLIENT.b, clientSecret: SECRET.b, allowedDomains: ['corp-b.test'] });
  for (const [login, account] of [
    ['alice', { email: 'alice@corp-a.test', email_verified: true, name: 'Alice A' }],
    ['mona', { email: 'Mona@corp-a.test', email_verified: true, groups: ['staff', 'hd-managers'] }],
    ['eve', { email: 'eve@evil.test', email_verified: true }],
    ['unverified', { email: 'unverified@corp-a.test', email_verified: false }],
    ['admin-a', { email: a.email, email_verified: true }],
  ] satisfies Array<[string, Account]>)
    p1.accounts.set(login, account);
  p2.accounts.set('bob', { email: 'bob@corp-b.test', email_verified: true });
  // The other tenant's provider vouches for tenant A's admin address: worth nothing to tenant A.
  p2.accounts.set('admin-a', { email: a.email, email_verified: true });
});

afterAll(async () => {
  for (const t of [a, b]) {
    if (!t) continue;
    await world.tenantDb.withTenant(t.tenantId, (tx) => tx.db.deleteFrom('sso_configs').execute());
    const left = await redis.keys(`${tenantKeyPrefix(t.tenantId)}sso:*`);
    if (left.length) await redis.del(...left);
  }
  await app?.close();
  for (const p of [p1, p2]) if (p) await new Promise((resolve) => p.server.close(resolve));
  await world.close();
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete process.env[k];
  else process.env[k] = v;
});

describe('configuration (tenant admins)', () => {
  it('keeps the client secret write-only, sealed under the tenant key; only admins may read or change it', async () => {
    const got = await call('GET', '/sso', adminA);
    expect(got.status).toBe(200);
    const dto = (await got.json()) as SsoConfigDto;
    expect(dto).toMatchObject({ issuer: p1.issuer, clientId: CLIENT.a, clientSecretSet: true, allowedDomains: ['corp-a.test', 'example.test'], roleClaim: 'groups', passwordSignIn: true, redirectUri });
    expect(JSON.stringify(dto)).not.toContain(SECRET.a);
    const row = await world.tenantDb.withTenant(a.tenantId, (tx) => tx.db.selectFrom('sso_configs').select('client_secret_enc').executeTakeFirstOrThrow());
    expect(row.client_secret_enc).not.toContain(SECRET.a);
    expect(await cipher.decrypt(a.tenantId, SSO_SECRET_FIELD, row.client_secret_enc!)).toBe(SECRET.a);
    // Another tenant's admin sees only their own; an operator sees nothing.
    const op = await createAccount(world, 'operator');
    const opToken = ((await (await passwordLogin(op)).json()) as TokenPair).accessToken;
    await problem(await call('GET', '/sso', opToken), 403, 'forbidden');
    await problem(await call('PUT', '/sso', opToken, { issuer: p1.issuer, clientId: 'x', allowedDomains: ['x.test'] }), 403, 'forbidden');
  });

  it('refuses bad input, an issuer that does not answer, and passwords off before SSO has worked, changing nothing', async () => {
    const before = await (await call('GET', '/sso', adminA)).json();
    const good = { issuer: p1.issuer, clientId: CLIENT.a, allowedDomains: ['corp-a.test'] };
    await problem(await call('PUT', '/sso', adminA, { ...good, issuer: 'not a url' }), 400, 'invalid-issuer');
    await problem(await call('PUT', '/sso', adminA, { ...good, allowedDomains: ['not a domain'] }), 400, 'invalid-domain');
    await problem(await call('PUT', '/sso', adminA, { ...good, allowedDomains: [] }), 400, 'invalid-domain');
    await problem(await call('PUT', '/sso', adminA, { ...good, roleMapping: { x: 'owner' } }), 400, 'invalid-role');
    await problem(await call('PUT', '/sso', adminA, { ...good, tenantId: b.tenantId }), 403, 'tenant_mismatch');
    await problem(await call('PUT', '/sso', adminA, { ...good, extra: 1 }), 400, 'unknown-field');
    await problem(await call('PUT', '/sso', adminA, { ...good, issuer: `http://127.0.0.1:${await closedPort()}` }), 422, 'sso-issuer-unreachable');
    // Provider 2 answers, but not as provider 1's issuer.
    await problem(await call('PUT', '/sso', adminA, { ...good, issuer: `${p2.issuer}/elsewhere` }), 422, 'sso-issuer-unreachable');
    await problem(await call('PUT', '/sso', adminA, { ...good, passwordSignIn: false }), 409, 'sso-not-verified');
    expect(await (await call('GET', '/sso', adminA)).json()).toEqual(before);
  });

  it('never calls an issuer inside the platform’s network (an address the egress allow-list does not name)', async () => {
    // Something listening on loopback, as an internal service would: it must not even get a connection.
    let connections = 0;
    const internal = createNetServer(() => connections++);
    await new Promise<void>((resolve) => internal.listen(0, '127.0.0.1', resolve));
    try {
      const before = await (await call('GET', '/sso', adminA)).json();
      const issuer = `http://127.0.0.1:${(internal.address() as AddressInfo).port}`;
      const refused = await call('PUT', '/sso', adminA, { issuer, clientId: CLIENT.a, allowedDomains: ['corp-a.test'] });
      const body = (await refused.json()) as { code: string; detail: string };
      expect({ status: refused.status, code: body.code }).toEqual({ status: 422, code: 'sso-issuer-unreachable' });
      expect(body.detail).toMatch(/not public|refused|allow/i);
      expect(connections).toBe(0);
      expect(await (await call('GET', '/sso', adminA)).json()).toEqual(before);
    } finally {
      await new Promise((resolve) => internal.close(resolve));
    }
  });
});

describe('sign-in', () => {
  it('creates a just-in-time operator at the first sign-in, and signs the same user in afterwards', async () => {
    const res = await ssoSignIn(a.slug, 'alice');
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const pair = (await res.json()) as TokenPair;
    expect(pair).toMatchObject({ tokenType: 'Bearer', tenantId: a.tenantId, role: 'operator', refreshToken: expect.stringMatching(/^hdr_/) });
    const me = (await (await call('GET', '/me', pair.accessToken)).json()) as MeDto;
    expect(me).toEqual({ tenantId: a.tenantId, userId: pair.userId, email: 'alice@corp-a.test', displayName: 'Alice A', role: 'operator' });
    const user = await world.tenantDb.withTenant(a.tenantId, (tx) => tx.db.selectFrom('users').select(['status', 'password_hash']).where('id', '=', pair.userId).executeTakeFirstOrThrow());
    expect(user).toEqual({ status: 'active', password_hash: null });
    const joined = await world.tenantDb.withTenant(a.tenantId, (tx) => tx.db.selectFrom('outbox').select('envelope').where('type', '=', 'operator.joined').execute());
    expect(joined.map((j) => (j.envelope as { payload: { userId: string; state: { role: string; status: string } } }).payload)).toEqual([
      expect.objectContaining({ userId: pair.userId, state: expect.objectContaining({ role: 'operator', status: 'active' }) }),
    ]);
    // The refresh token works as a password login's does; the configuration is now verified.
    expect((await call('POST', '/auth/refresh', undefined, { refreshToken: pair.refreshToken })).status).toBe(200);
    expect(((await (await call('GET', '/sso', adminA)).json()) as SsoConfigDto).verifiedAt).not.toBeNull();

    const again = (await (await ssoSignIn(a.slug, 'alice')).json()) as TokenPair;
    expect(again).toMatchObject({ userId: pair.userId, role: 'operator' });
  });

  it('signs an existing user in with their role, maps claims to a new operator\u2019s role, honours an invitation\u2019s role', async () => {
    const admin = (await (await ssoSignIn(a.slug, 'admin-a')).json()) as TokenPair;
    expect(admin).toMatchObject({ userId: a.userId, role: 'admin' });

    const mona = (await (await ssoSignIn(a.slug, 'mona')).json()) as TokenPair;
    expect(mona.role).toBe('manager');

    // Invited as team lead (no password set yet): the invitation's role, the invitation used.
    const invitedId = newId();
    await world.tenantDb.withTenant(a.tenantId, async (tx) => {
      await tx.db
        .insertInto('users')
        .values({ id: invitedId, tenant_id: a.tenantId, email_enc: await cipher.encrypt(a.tenantId, 'users.email', 'lead@corp-a.test'), email_hash: createHash('sha256').update(`${a.tenantId}\nlead@corp-a.test`).digest('hex'), role: 'team_lead', status: 'invited' })
        .execute();
      await tx.db.insertInto('invitations').values({ id: newId(), tenant_id: a.tenantId, user_id: invitedId, token_hash: `h-${newId()}`, expires_at: new Date(Date.now() + 3600_000) }).execute();
    });
    p1.accounts.set('lead', { email: 'lead@corp-a.test', email_verified: true, groups: ['hd-managers'] });
    const lead = (await (await ssoSignIn(a.slug, 'lead')).json()) as TokenPair;
    expect(lead).toMatchObject({ userId: invitedId, role: 'team_lead' });
    const inv = await world.tenantDb.withTenant(a.tenantId, (tx) => tx.db.selectFrom('invitations').select('accepted_at').where('user_id', '=', invitedId).executeTakeFirstOrThrow());
    expect(inv.accepted_at).not.toBeNull();
  });

  it('reads the e-mail at the user-info endpoint when the ID token has none (tenant B)', async () => {
    const res = await ssoSignIn(b.slug, 'bob');
    expect(res.status).toBe(200);
    const pair = (await res.json()) as TokenPair;
    expect(pair).toMatchObject({ tenantId: b.tenantId, role: 'operator' });
    expect(((await (await call('GET', '/me', pair.accessToken)).json()) as MeDto).email).toBe('bob@corp-b.test');
  });

  it('turns password sign-in off (403, whatever the password) and back on by removing SSO', async () => {
    const t = await createAccount(world, 'admin');
    const token = ((await (await passwordLogin(t)).json()) as TokenPair).accessToken;
    const cfg = { issuer: p1.issuer, clientId: CLIENT.a, clientSecret: SECRET.a, allowedDomains: ['example.test'] };
    await configure(token, cfg);
    p1.accounts.set(`admin-${t.tenantId}`, { email: t.email, email_verified: true });
    expect((await ssoSignIn(t.slug, `admin-${t.tenantId}`)).status).toBe(200);
    expect(await configure(token, { ...cfg, passwordSignIn: false })).toMatchObject({ passwordSignIn: false, clientSecretSet: true });

    const before = await footprint(t.tenantId);
    await problem(await passwordLogin(t), 403, 'password-sign-in-disabled');
    await problem(await passwordLogin(t, 'a wrong password!'), 403, 'password-sign-in-disabled');
    expect(await footprint(t.tenantId)).toEqual(before);
    // SSO still works, and another provider would need verifying again before passwords stay off.
    expect((await ssoSignIn(t.slug, `admin-${t.tenantId}`)).status).toBe(200);
    await problem(await call('PUT', '/sso', token, { ...cfg, clientId: CLIENT.other, clientSecret: SECRET.other }), 409, 'sso-not-verified');

    expect((await call('DELETE', '/sso', token)).status).toBe(204);
    expect((await passwordLogin(t)).status).toBe(200);
    await problem(await call('DELETE', '/sso', token), 404, 'sso-not-configured');
    await problem(await fetch(`${base}/auth/sso/start?tenant=${t.slug}`, { redirect: 'manual' }), 404, 'sso-not-configured');
  });
});

describe('refused, with nothing written', () => {
  let before: { a: Record<string, number>; b: Record<string, number> };
  beforeEach(async () => {
    before = { a: await footprint(a.tenantId), b: await footprint(b.tenantId) };
  });
  afterEach(async () => {
    expect({ a: await footprint(a.tenantId), b: await footprint(b.tenantId) }).toEqual(before);
  });

  it('a code from another tenant\u2019s provider (with or without its iss)', async () => {
    const s = await start(a.slug);
    // The attacker completes their own provider's login (tenant B's) with tenant A's state and nonce.
    const q = new URLSearchParams(s.location.search);
    q.set('client_id', CLIENT.a);
    const back = await atProvider(`${p2.issuer}/auth?${q}`, 'admin-a');
    expect(back.searchParams.get('iss')).toBe(p2.issuer);
    await problem(await finish(back, s.cookie), 401, 'sso-token-invalid');
    // Without the iss parameter: provider 1 does not know the code.
    const s2 = await start(a.slug);
    const q2 = new URLSearchParams(s2.location.search);
    const back2 = await atProvider(`${p2.issuer}/auth?${q2}`, 'admin-a');
    back2.searchParams.delete('iss');
    await problem(await finish(back2, s2.cookie), 401, 'sso-token-invalid');
  });

  it('an ID token from another tenant\u2019s provider (issuer mismatch), substituted in the token response', async () => {
    const s = await start(a.slug);
    p1.substitute = await idTokenFrom(p2, { id: CLIENT.a, secret: SECRET.a }, 'admin-a', s.nonce);
    const res = await finish(await atProvider(s.location.href, 'alice'), s.cookie);
    expect(p1.substitute).toBeUndefined(); // it was served
    const p = await problem(res, 401, 'sso-token-invalid');
    expect(p.detail).toMatch(/\(claim iss\)|signature/);
  });

  it('an ID token issued for another client (wrong audience)', async () => {
    const s = await start(a.slug);
    p1.substitute = await idTokenFrom(p1, { id: CLIENT.other, secret: SECRET.other }, 'admin-a', s.nonce);
    const res = await finish(await atProvider(s.location.href, 'alice'), s.cookie);
    expect(p1.substitute).toBeUndefined();
    const p = await problem(res, 401, 'sso-token-invalid');
    expect(p.detail).toMatch(/\(claim aud\)/);
  });

  it('a replayed state (the callback used twice)', async () => {
    const s = await start(a.slug);
    const back = await atProvider(s.location.href, 'alice');
    expect((await finish(back, s.cookie)).status).toBe(200);
    before = { a: await footprint(a.tenantId), b: await footprint(b.tenantId) };
    await problem(await finish(back, s.cookie), 400, 'sso-state-invalid');
  });

  it('a state started for tenant A used on tenant B\u2019s flow, and a sign-in finished in another browser', async () => {
    const sa = await start(a.slug);
    const sb = await start(b.slug);
    const backB = await atProvider(sb.location.href, 'bob');
    const forged = new URL(backB);
    forged.searchParams.set('state', sa.state);
    // With tenant B's browser cookie: not the browser that started A's sign-in.
    await problem(await finish(forged, sb.cookie), 400, 'sso-state-invalid');
    // With A's cookie too: A's state is spent already.
    await problem(await finish(forged, sa.cookie), 400, 'sso-state-invalid');
    // A fresh A state with its cookie and B's code: A's provider and client refuse B's code (iss first).
    const sa2 = await start(a.slug);
    const forged2 = new URL(backB);
    forged2.searchParams.set('state', sa2.state);
    await problem(await finish(forged2, sa2.cookie), 401, 'sso-token-invalid');
    // B's own sign-in, started in B's browser, finished in another: refused, and B's state is spent.
    await problem(await finish(backB, sa.cookie), 400, 'sso-state-invalid');
    await problem(await finish(backB, sb.cookie), 400, 'sso-state-invalid');
  });

  it('an e-mail outside the allowed domains, an unverified e-mail, a removed operator, a denied or garbled callback', async () => {
    await problem(await ssoSignIn(a.slug, 'eve'), 403, 'sso-domain-not-allowed');
    await problem(await ssoSignIn(a.slug, 'unverified'), 403, 'sso-email-unverified');
    // Tenant A's address, vouched for by tenant B's provider, at tenant B: outside B's domains.
    await problem(await ssoSignIn(b.slug, 'admin-a'), 403, 'sso-domain-not-allowed');

    const removedId = await world.tenantDb.withTenant(a.tenantId, async (tx) => {
      const id = newId();
      await tx.db
        .insertInto('users')
        .values({ id, tenant_id: a.tenantId, email_enc: await cipher.encrypt(a.tenantId, 'users.email', 'gone@corp-a.test'), email_hash: createHash('sha256').update(`${a.tenantId}\ngone@corp-a.test`).digest('hex'), role: 'operator', status: 'removed' })
        .execute();
      return id;
    });
    before.a = await footprint(a.tenantId);
    p1.accounts.set('gone', { email: 'gone@corp-a.test', email_verified: true });
    await problem(await ssoSignIn(a.slug, 'gone'), 403, 'sso-account-removed');
    expect(removedId).toBeDefined();

    const s = await start(a.slug);
    await problem(await finish(`${redirectUri}?state=${encodeURIComponent(s.state)}&error=access_denied`, s.cookie), 401, 'sso-denied');
    await problem(await finish(`${redirectUri}?state=${a.tenantId}.nonsense&code=x`, s.cookie), 400, 'sso-state-invalid');
    await problem(await finish(`${redirectUri}?state=garbage&code=x`, s.cookie), 400, 'sso-state-invalid');
    await problem(await finish(`${redirectUri}?code=x`, s.cookie), 400, 'sso-state-invalid');
    await problem(await fetch(`${base}/auth/sso/start?tenant=no-such-${newId().slice(-6)}`, { redirect: 'manual' }), 404, 'sso-not-configured');
    await problem(await fetch(`${base}/auth/sso/start`, { redirect: 'manual' }), 400, 'validation-failed');
  });

  it('a state never outlives its TTL, and lives under the tenant\u2019s key prefix', async () => {
    const s = await start(a.slug);
    const key = `${tenantKeyPrefix(a.tenantId)}sso:state:${createHash('sha256').update(s.state).digest('hex')}`;
    const ttl = await redis.ttl(key);
    expect(ttl).toBeGreaterThan(500);
    expect(ttl).toBeLessThanOrEqual(600);
    await redis.del(key);
    await problem(await finish(await atProvider(s.location.href, 'alice'), s.cookie), 400, 'sso-state-invalid');
  });
});

describe('the portal handoff (start with to=portal)', () => {
  const fragmentOf = (res: Response): URLSearchParams => {
    expect(res.status).toBe(303);
    const location = new URL(res.headers.get('location')!);
    expect(`${location.origin}${location.pathname}`).toBe(`${base}/`);
    // Nothing of the sign-in in what a server or an access log would see.
    expect(location.search).toBe('');
    return new URLSearchParams(location.hash.slice(1));
  };
  const exchange = (code: unknown) => fetch(`${base}/auth/sso/exchange`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ code }) });

  it('sends the browser back to the portal with a single-use code that the portal exchanges for the tokens, once', async () => {
    const res = await fetch(`${base}/auth/sso/start?tenant=${a.slug}&to=portal`, { redirect: 'manual' });
    expect(res.status).toBe(302);
    const location = new URL(res.headers.get('location')!);
    const back = await atProvider(location.href, 'alice');
    const code = fragmentOf(await fetch(back, { headers: { cookie: res.headers.get('set-cookie')!.split(';')[0]! }, redirect: 'manual' })).get('sso')!;
    expect(code.startsWith(`${a.tenantId}.`)).toBe(true);
    // Kept encrypted, under the tenant's prefix, for a minute at most.
    const key = `${tenantKeyPrefix(a.tenantId)}sso:handoff:${createHash('sha256').update(code).digest('hex')}`;
    expect(await redis.ttl(key)).toBeGreaterThan(0);
    expect(await redis.ttl(key)).toBeLessThanOrEqual(60);
    expect(await redis.get(key)).not.toMatch(/accessToken|refreshToken/);
    const first = await exchange(code);
    expect(first.status).toBe(200);
    const tokens = (await first.json()) as TokenPair;
    expect(tokens.tenantId).toBe(a.tenantId);
    const me = (await (await call('GET', '/me', tokens.accessToken)).json()) as MeDto;
    expect(me.email).toBe('alice@corp-a.test');
    expect(me.tenantId).toBe(a.tenantId);
    await problem(await exchange(code), 400, 'sso-handoff-invalid');
  });

  it('a refusal goes back to the portal as its stable code; a forged, foreign or malformed handoff code is refused', async () => {
    const res = await fetch(`${base}/auth/sso/start?tenant=${a.slug}&to=portal`, { redirect: 'manual' });
    const back = await atProvider(new URL(res.headers.get('location')!).href, 'eve');
    expect(fragmentOf(await fetch(back, { headers: { cookie: res.headers.get('set-cookie')!.split(';')[0]! }, redirect: 'manual' })).get('sso-error')).toBe('sso-domain-not-allowed');
    // Tenant B's id with a guessed code, a code without a tenant, none at all, a number.
    await problem(await exchange(`${b.tenantId}.${randomBytes(32).toString('base64url')}`), 400, 'sso-handoff-invalid');
    await problem(await exchange('no-tenant-here'), 400, 'sso-handoff-invalid');
    await problem(await exchange(''), 400, 'sso-handoff-invalid');
    await problem(await exchange(42), 400, 'sso-handoff-invalid');
    await problem(await fetch(`${base}/auth/sso/start?tenant=${a.slug}&to=elsewhere`, { redirect: 'manual' }), 400, 'validation-failed');
  });
});
