// Access and internal tokens from the attacker's side: tampered payload or signature, `alg: none`,
// another algorithm, another key, expired, wrong audience, issuer or type, missing claims: all are
// refused with a 401 problem, and only a genuine token yields a principal.
import { generateKeyPairSync, createHmac } from 'node:crypto';
import { newId } from '@hotdash/platform-db';
import { AuthError } from './errors';
import { AuthKeys } from './keys';
import { Principal, TokenService } from './tokens';

const keys = AuthKeys.development();
const tokens = new TokenService(keys);
const tenantId = newId() as Principal['tenantId'];
const principal = { kind: 'user' as const, tenantId, subject: newId(), role: 'operator' as const, sessionId: newId(), scopes: ['*'] };

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
const parts = (t: string) => t.split('.') as [string, string, string];
const decode = (s: string) => JSON.parse(Buffer.from(s, 'base64url').toString()) as Record<string, unknown>;

async function refused(token: string, failure = 'invalid-token', verify: (t: string) => Promise<unknown> = (t) => tokens.verifyAccess(t)): Promise<void> {
  const err = await verify(token).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AuthError);
  expect((err as AuthError).status).toBe(401);
  expect((err as AuthError).code).toBe(failure);
}

it('a genuine access token yields its principal', async () => {
  const p = await tokens.verifyAccess(await tokens.issueAccess(principal));
  expect(p).toMatchObject({ ...principal, tokenId: expect.any(String) });
  expect(Math.abs(p.issuedAt - Date.now())).toBeLessThan(60_000);
});

it('refuses a tampered payload and a tampered signature', async () => {
  const [h, payload, sig] = parts(await tokens.issueAccess(principal));
  const admin = b64({ ...decode(payload), role: 'admin' });
  await refused(`${h}.${admin}.${sig}`);
  const other = b64({ ...decode(payload), tid: newId() });
  await refused(`${h}.${other}.${sig}`);
  const flipped = (sig[0] === 'A' ? 'B' : 'A') + sig.slice(1);
  await refused(`${h}.${payload}.${flipped}`);
  await refused(`${h}.${payload}.`);
});

it('refuses alg none, HS256 signed with the public key, and a key it does not know', async () => {
  const [h, payload] = parts(await tokens.issueAccess(principal));
  const header = decode(h);
  await refused(`${b64({ ...header, alg: 'none' })}.${payload}.`);
  const hsHeader = b64({ ...header, alg: 'HS256' });
  const publicPem = keys.verifying.get('dev-1')!.export({ type: 'spki', format: 'pem' });
  const hsSig = createHmac('sha256', publicPem).update(`${hsHeader}.${payload}`).digest('base64url');
  await refused(`${hsHeader}.${payload}.${hsSig}`);
  // Same kid, another key pair: the signature does not verify.
  const { privateKey } = generateKeyPairSync('ed25519');
  const forger = new TokenService(new AuthKeys({ kid: 'dev-1', key: privateKey }, new Map()));
  await refused(await forger.issueAccess(principal));
  // Unknown kid.
  const stranger = new TokenService(new AuthKeys({ kid: 'other', key: privateKey }, new Map()));
  await refused(await stranger.issueAccess(principal));
});

/** A clock the spec moves: `clock.skip(ms)`. */
function movableClock() {
  let offset = 0;
  return { now: () => Date.now() + offset, skip: (ms: number) => void (offset += ms) };
}

it('refuses an expired token with token-expired', async () => {
  const clock = movableClock();
  const short = new TokenService(keys, { accessTtlSeconds: 1, clockToleranceSeconds: 0, now: clock.now });
  const token = await short.issueAccess(principal);
  clock.skip(2_100);
  await refused(token, 'token-expired', (t) => short.verifyAccess(t));
});

it('serves a verified token from its cache only until it expires, and only as what it was verified as', async () => {
  const clock = movableClock();
  const short = new TokenService(keys, { accessTtlSeconds: 60, clockToleranceSeconds: 0, now: clock.now });
  const token = await short.issueAccess(principal);
  const first = await short.verifyAccess(token);
  expect(await short.verifyAccess(token)).toEqual(first); // a hit: the same principal
  // A hit is the exact text: one character of the signature changed is checked again, and refused.
  const [h, payload, sig] = parts(token);
  await refused(`${h}.${payload}.${sig.slice(0, -2)}${sig.endsWith('AA') ? 'BB' : 'AA'}`, 'invalid-token', (t) => short.verifyAccess(t));
  // Cached as an access token, it is still no ops token.
  await refused(token, 'invalid-token', (t) => short.verifyOps(t));
  const ops = await short.issueOps({ subject: newId() });
  await short.verifyOps(ops);
  // Past their expiry the cached entries are refused as expired, not served.
  clock.skip(61_000);
  await refused(token, 'token-expired', (t) => short.verifyAccess(t));
  await refused(ops, 'token-expired', (t) => short.verifyOps(t));
});

it('keeps access and internal tokens apart, and internal tokens per service', async () => {
  const p = await tokens.verifyAccess(await tokens.issueAccess(principal));
  const internal = await tokens.issueInternal(p, 'provisioning');
  await refused(internal); // not an access token (audience and type)
  await expect(tokens.verifyInternal(internal, 'provisioning')).resolves.toMatchObject(principal);
  await refused(internal, 'invalid-token', (t) => tokens.verifyInternal(t, 'audit')); // wrong audience
  await refused(await tokens.issueAccess(principal), 'invalid-token', (t) => tokens.verifyInternal(t, 'provisioning'));
});

it('refuses tokens missing a claim the platform relies on, or with nonsense in it', async () => {
  await refused(await tokens.issueAccess({ ...principal, sessionId: null })); // a user token without a session
  await refused(await tokens.issueAccess({ ...principal, role: 'owner' as never }));
  await refused(await tokens.issueAccess({ ...principal, tenantId: 'not-a-uuid' as never }));
  await refused('not.a.jwt');
  await refused('');
});

it('keeps platform operators apart from tenants: an ops token is no access token and the other way round', async () => {
  const ops = await tokens.issueOps({ subject: newId() });
  expect(await tokens.verifyOps(ops)).toMatchObject({ kind: 'platform', tokenId: expect.any(String) });
  await refused(ops); // not an access token
  await refused(await tokens.issueAccess(principal), 'invalid-token', (t) => tokens.verifyOps(t));
  // A tenant slipped into an ops token breaks its signature.
  const [h, payload, sig] = parts(ops);
  await refused(`${h}.${b64({ ...decode(payload), tid: tenantId })}.${sig}`, 'invalid-token', (t) => tokens.verifyOps(t));
});

it('carries platform operators and anonymous callers in internal tokens, which tenant-only services refuse', async () => {
  const opsCaller = { kind: 'platform' as const, subject: newId(), issuedAt: Date.now(), tokenId: newId() };
  const forOps = await tokens.issueInternalFor(opsCaller, 'provisioning');
  expect(await tokens.verifyInternalCaller(forOps, 'provisioning')).toMatchObject({ kind: 'platform', subject: opsCaller.subject });
  const anonymous = await tokens.issueInternalFor({ kind: 'anonymous', subject: 'anonymous' }, 'provisioning');
  expect(await tokens.verifyInternalCaller(anonymous, 'provisioning')).toEqual({ kind: 'anonymous', subject: 'anonymous' });
  const forUser = await tokens.issueInternalFor({ ...principal, issuedAt: Date.now(), tokenId: newId() }, 'provisioning');
  expect(await tokens.verifyInternalCaller(forUser, 'provisioning')).toMatchObject({ kind: 'user', tenantId });
  // Services that act for tenants only (audit, quota) refuse the other two.
  await refused(await tokens.issueInternalFor(opsCaller, 'audit'), 'invalid-token', (t) => tokens.verifyInternal(t, 'audit'));
  await refused(await tokens.issueInternalFor({ kind: 'anonymous', subject: 'anonymous' }, 'audit'), 'invalid-token', (t) => tokens.verifyInternal(t, 'audit'));
  // And every internal token stays bound to its service.
  await refused(forOps, 'invalid-token', (t) => tokens.verifyInternalCaller(t, 'audit'));
});
