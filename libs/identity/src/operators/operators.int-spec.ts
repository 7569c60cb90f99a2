// Operators over HTTP against the real shards, served as the provisioning service serves them
// (OperatorsModule.forService('provisioning')): a tenant's first admin invited through TenantAdmins
// (as the provisioning saga does), invite (invitation e-mail delivered as an .eml file by the mail
// dispatcher), accept with a password, change role, remove; expired, reused and foreign
// invitations, bad input and another tenant's operators get 4xx problem+json and change nothing.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { INestApplication, Module } from '@nestjs/common';
import { sql } from 'kysely';
import { TenantId } from '@hotdash/contracts';
import { FieldCipher, TenantKeyring } from '@hotdash/platform-crypto';
import { DatabaseModule, newId } from '@hotdash/platform-db';
import { createHttpApp } from '@hotdash/platform-http';
import { EmlFileMailSender, MailDispatcher } from '@hotdash/platform-messaging';
import { ANONYMOUS, internalAuthorization, opsCaller, tenantUser, TestWorld } from '@hotdash/testing';
import { InternalCaller, Principal, RevocationStore, verifyPassword } from '@hotdash/platform-auth';
import { OperatorsModule } from './operators.module';
import { TenantAdmins } from './tenant-admins';

jest.setTimeout(90_000);

@Module({ imports: [DatabaseModule.forRoot(), OperatorsModule.forService('provisioning')] })
class TestAppModule {}

const world = new TestWorld();
const mailDir = mkdtempSync(join(tmpdir(), 'hotdash-mail-'));
let app: INestApplication;
let base: string;
let mail: MailDispatcher;
let admins: TenantAdmins;
let a: TenantId;
let b: TenantId;

/** Calls the operators API as the gateway would: for the ops team by default, or for a given caller. */
const call = async (method: string, path: string, body?: unknown, caller: InternalCaller = opsCaller()) =>
  fetch(`${base}${path}`, {
    method,
    headers: { 'content-type': 'application/json', authorization: await internalAuthorization('provisioning', caller) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });

/** An active tenant with its data key, as provisioning leaves it. */
async function activeTenant(name: string): Promise<TenantId> {
  const t = await world.createTenant(name);
  await world.dbs.withControl((tx) => app.get(TenantKeyring).createKey(tx, t.id));
  return t.id;
}

/** An active tenant whose first admin was invited as the provisioning saga invites them. */
async function withFirstAdmin(name: string, email: string): Promise<TenantId> {
  const t = { id: await activeTenant(name) };
  await admins.inviteFirst({ tenantId: t.id, tenantName: name, slug: `t-${t.id.replace(/-/g, '')}`, email, displayName: null, by: 'saga:spec', correlationId: newId() });
  return t.id;
}

/** Sets a tenant's status in the control plane, as the tenant lifecycle (provisioning) would. */
const setStatus = (t: TenantId, status: 'active' | 'suspended') => world.dbs.control().tenant.update({ where: { id: t }, data: { status } });

/** Delivers the shards' mail outboxes and returns the invitation token mailed to `to` in tenant `t`. */
async function mailedToken(t: TenantId, to: string): Promise<string> {
  for (const s of await world.shards()) await mail.drain(s, 500);
  const files = readdirSync(join(mailDir, t)).map((f) => readFileSync(join(mailDir, t, f), 'utf8'));
  const eml = files.filter((f) => f.includes(`\r\nTo: ${to}\r\n`)).pop();
  if (!eml) throw new Error(`no mail to ${to} in ${files.length} file(s)`);
  expect(eml).toMatch(/^Message-ID: <[0-9a-f-]+@hotdash\.local>\r\n/);
  expect(eml).toContain(`X-HotDash-Tenant: ${t}`);
  return /\/app\/invitation#([^\s]+)/.exec(eml)![1]!;
}

beforeAll(async () => {
  app = await createHttpApp(TestAppModule, { logger: false });
  await app.listen(0, '127.0.0.1');
  base = `http://127.0.0.1:${app.getHttpServer().address().port}`;
  mail = new MailDispatcher(world.dbs, app.get(FieldCipher), new EmlFileMailSender(mailDir));
  admins = new TenantAdmins(world.tenantDb, app.get(FieldCipher));
  a = await withFirstAdmin('Operators A', 'owner@a.test');
  b = await withFirstAdmin('Operators B', 'owner@b.test');
});
afterAll(async () => {
  await app.close();
  await world.close();
  rmSync(mailDir, { recursive: true, force: true });
});

it('mails the admin invitation; accepting sets the password once', async () => {
  const token = await mailedToken(a, 'owner@a.test');
  expect(token.startsWith(`${a}.`)).toBe(true);
  const res = await call('POST', '/invitations/accept', { token, password: 'correct horse battery', displayName: 'Owner' });
  expect(res.status).toBe(200);
  const { userId } = (await res.json()) as { userId: string };
  const row = await world.tenantDb.withTenant(a, (tx) => tx.db.selectFrom('users').select(['status', 'password_hash', 'display_name']).where('id', '=', userId).executeTakeFirstOrThrow());
  expect(row).toMatchObject({ status: 'active', display_name: 'Owner' });
  expect(await verifyPassword('correct horse battery', row.password_hash!)).toBe(true);
  expect(await verifyPassword('wrong horse battery', row.password_hash!)).toBe(false);
  const reused = await call('POST', '/invitations/accept', { token, password: 'another long password' });
  expect(reused.status).toBe(409);
  expect(await reused.json()).toMatchObject({ code: 'invitation-used' });
});

it("invites a tenant's first admin once however often asked, and withdraws the accounts with the unsent invitation", async () => {
  const c = await activeTenant('Operators C');
  const first = { tenantId: c, tenantName: 'Operators C', slug: 'operators-c', email: 'owner@c.test', displayName: 'Owner', by: 'saga:spec', correlationId: newId() };
  const { userId } = await admins.inviteFirst(first);
  // Asked again (a saga step run again after a crash), with the address spelt otherwise: the same admin.
  expect(await admins.inviteFirst({ ...first, email: 'Owner@C.test' })).toEqual({ userId });
  const rows = () =>
    world.tenantDb.withTenant(c, (tx) =>
      sql<{ u: number; i: number; m: number; e: number }>`select (select count(*)::int from users) as u, (select count(*)::int from invitations) as i,
        (select count(*)::int from mail_outbox) as m, (select count(*)::int from outbox where type = 'operator.invited') as e`
        .execute(tx.db)
        .then((r) => r.rows[0]),
    );
  expect(await rows()).toEqual({ u: 1, i: 1, m: 1, e: 1 });
  const admin = await world.tenantDb.withTenant(c, (tx) => tx.db.selectFrom('users').select(['id', 'role', 'status', 'display_name']).executeTakeFirstOrThrow());
  expect(admin).toEqual({ id: userId, role: 'admin', status: 'invited', display_name: 'Owner' });
  await admins.withdrawFirst(c);
  // The accounts and the e-mail not yet sent are gone; the event stays published.
  expect(await rows()).toEqual({ u: 0, i: 0, m: 0, e: 1 });
});

it('where password sign-in is off, the invitation says to sign in with single sign-on, and accepting it with a password is refused, writing nothing', async () => {
  const t = await withFirstAdmin('Operators SSO', 'owner@sso.test');
  await world.tenantDb.withTenant(t, (tx) =>
    tx.db
      .insertInto('sso_configs')
      .values({ tenant_id: t, issuer: 'https://idp.sso.test', client_id: 'hd', allowed_domains: ['sso.test'], password_sign_in: false, verified_at: new Date() })
      .execute(),
  );
  const res = await call('POST', `/tenants/${t}/operators`, { email: 'op@sso.test', role: 'team_lead' });
  expect(res.status).toBe(201);
  for (const s of await world.shards()) await mail.drain(s, 500);
  const eml = readdirSync(join(mailDir, t))
    .map((f) => readFileSync(join(mailDir, t, f), 'utf8'))
    .find((f) => f.includes('\r\nTo: op@sso.test\r\n'))!;
  expect(eml).toMatch(/signs in through its identity provider/);
  expect(eml).toMatch(/\/auth\/sso\/start\?tenant=[^\s&]+&to=portal/);
  expect(eml).not.toMatch(/Set your password/);
  // The first admin's invitation (sent before SSO-only) cannot set a password now.
  const token = await mailedToken(t, 'owner@sso.test');
  const users = () => world.tenantDb.withTenant(t, (tx) => tx.db.selectFrom('users').select(['status', 'password_hash']).orderBy('created_at').execute());
  const before = await users();
  const refused = await call('POST', '/invitations/accept', { token, password: 'correct horse battery' });
  expect(refused.status).toBe(403);
  expect(await refused.json()).toMatchObject({ code: 'password-sign-in-disabled' });
  expect(await users()).toEqual(before);
  expect(before.every((u) => u.status === 'invited' && u.password_hash === null)).toBe(true);
  await world.tenantDb.withTenant(t, (tx) => tx.db.deleteFrom('sso_configs').execute());
});

it('invites an operator, changes the role, removes, and keeps the last admin', async () => {
  const res = await call('POST', `/tenants/${a}/operators`, { email: 'op@a.test', role: 'operator' });
  expect(res.status).toBe(201);
  const op = (await res.json()) as { userId: string; role: string; status: string; expiresAt: string };
  expect(op).toMatchObject({ role: 'operator', status: 'invited' });
  expect(await mailedToken(a, 'op@a.test')).toMatch(new RegExp(`^${a}\\.`));
  const list = (await (await call('GET', `/tenants/${a}/operators`)).json()) as { email: string; role: string }[];
  expect(list.map((o) => [o.email, o.role])).toEqual([['owner@a.test', 'admin'], ['op@a.test', 'operator']]);

  // A principal as the gateway would hold it for this operator, issued before each change.
  const revocations = app.get(RevocationStore);
  const holder = (): Principal => ({ kind: 'user', tenantId: a, subject: op.userId, role: 'operator', sessionId: newId(), scopes: ['*'], issuedAt: Date.now() - 1, tokenId: newId() });
  const beforeRoleChange = holder();
  expect(await revocations.isRevoked(beforeRoleChange)).toBe(false);
  const changed = await call('PATCH', `/tenants/${a}/operators/${op.userId}`, { role: 'team_lead' });
  expect(changed.status).toBe(200);
  // Tokens carrying the old role stop working at once; tokens issued afterwards work.
  expect(await revocations.isRevoked(beforeRoleChange)).toBe(true);
  expect(await revocations.isRevoked({ ...holder(), issuedAt: Date.now() + 1 })).toBe(false);
  expect(await changed.json()).toMatchObject({ role: 'team_lead', team: null });
  // The team too (team leads see their team's tickets); the same team again changes nothing.
  const teamed = await call('PATCH', `/tenants/${a}/operators/${op.userId}`, { team: 'Billing' });
  expect(await teamed.json()).toMatchObject({ role: 'team_lead', team: 'Billing' });
  expect(await (await call('PATCH', `/tenants/${a}/operators/${op.userId}`, { team: 'Billing', role: 'team_lead' })).json()).toMatchObject({ team: 'Billing' });
  const dup = await call('POST', `/tenants/${a}/operators`, { email: 'OP@a.test', role: 'manager' });
  expect(dup.status).toBe(409);
  expect(await dup.json()).toMatchObject({ code: 'operator-exists' });

  expect((await call('DELETE', `/tenants/${a}/operators/${op.userId}`)).status).toBe(204);
  // A removed operator's tokens stop working at once, whenever they were issued.
  expect(await revocations.isRevoked({ ...holder(), issuedAt: Date.now() + 60_000 })).toBe(true);
  const admins = (await (await call('GET', `/tenants/${a}/operators`)).json()) as { userId: string; role: string }[];
  expect(admins).toHaveLength(1);
  const last = await call('DELETE', `/tenants/${a}/operators/${admins[0]!.userId}`);
  expect(last.status).toBe(409);
  expect(await last.json()).toMatchObject({ code: 'last-admin' });
  const demote = await call('PATCH', `/tenants/${a}/operators/${admins[0]!.userId}`, { role: 'operator' });
  expect(demote.status).toBe(409);

  const events = await world.tenantDb.withTenant(a, (tx) =>
    tx.db.selectFrom('outbox').select(['type', 'envelope']).where('type', 'like', 'operator.%').orderBy('seq').execute(),
  );
  // The first admin's invitation first. Each event carries the operator's state after the change
  // (what drafts keeps its queue members from), stamped later than the change before it.
  expect(events.map((e) => e.type)).toEqual(['operator.invited', 'operator.joined', 'operator.invited', 'operator.role-changed', 'operator.team-changed', 'operator.removed']);
  const states = events.map((e) => (e.envelope as { payload: { userId: string; state: { role: string; team: string | null; status: string; at: string } } }).payload);
  expect(states.map((p) => [p.userId === op.userId ? 'op' : 'owner', p.state.role, p.state.team, p.state.status])).toEqual([
    ['owner', 'admin', null, 'invited'],
    ['owner', 'admin', null, 'active'],
    ['op', 'operator', null, 'invited'],
    ['op', 'team_lead', null, 'invited'],
    ['op', 'team_lead', 'Billing', 'invited'],
    ['op', 'team_lead', 'Billing', 'removed'],
  ]);
  const ats = states.filter((p) => p.userId === op.userId).map((p) => p.state.at);
  expect([...ats].sort()).toEqual(ats);
  expect(new Set(ats).size).toBe(ats.length);
});

it('refuses an expired invitation, and a token moved to another tenant', async () => {
  const res = await call('POST', `/tenants/${a}/operators`, { email: 'late@a.test', role: 'manager' });
  const { userId } = (await res.json()) as { userId: string };
  const token = await mailedToken(a, 'late@a.test');
  await world.tenantDb.withTenant(a, (tx) => tx.db.updateTable('invitations').set({ expires_at: sql`now() - interval '1 minute'` }).where('user_id', '=', userId).execute());
  const expired = await call('POST', '/invitations/accept', { token, password: 'a long enough password' });
  expect(expired.status).toBe(410);
  expect(await expired.json()).toMatchObject({ code: 'invitation-expired' });
  const moved = await call('POST', '/invitations/accept', { token: `${b}${token.slice(token.indexOf('.'))}`, password: 'a long enough password' });
  expect(moved.status).toBe(404);
  expect(await moved.json()).toMatchObject({ code: 'invitation-not-found' });
});

it("as tenant B, cannot see, change or remove tenant A's operators", async () => {
  const opA = (await (await call('POST', `/tenants/${a}/operators`, { email: 'victim@a.test', role: 'operator' })).json()) as { userId: string };
  const adminB = tenantUser(b);
  const listB = (await (await call('GET', `/tenants/${b}/operators`, undefined, adminB)).json()) as { email: string }[];
  expect(listB.map((o) => o.email)).toEqual(['owner@b.test']);
  // A's operator under B's tenant: as missing as an unknown one.
  for (const [method, body] of [['PATCH', { role: 'admin' }], ['DELETE', undefined]] as const) {
    const res = await call(method, `/tenants/${b}/operators/${opA.userId}`, body, adminB);
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ code: 'not-found' });
  }
  // Naming tenant A in the path with B's credential: 403 tenant_mismatch on every route.
  for (const [method, path, body] of [
    ['GET', `/tenants/${a}/operators`, undefined],
    ['POST', `/tenants/${a}/operators`, { email: 'intruder@b.test', role: 'admin' }],
    ['PATCH', `/tenants/${a}/operators/${opA.userId}`, { role: 'admin' }],
    ['DELETE', `/tenants/${a}/operators/${opA.userId}`, undefined],
  ] as const) {
    const res = await call(method, path, body, adminB);
    expect([method, path, res.status]).toEqual([method, path, 403]);
    expect(await res.json()).toMatchObject({ code: 'tenant_mismatch' });
  }
  const still = await world.tenantDb.withTenant(a, (tx) => tx.db.selectFrom('users').select(['role', 'status']).where('id', '=', opA.userId).execute());
  expect(still[0]).toEqual({ role: 'operator', status: 'invited' });
});

it('lets team leads and managers list operators, and only admins change them', async () => {
  const userCount = async () =>
    Number((await world.tenantDb.withTenant(a, (tx) => tx.db.selectFrom('users').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow())).n);
  const before = await userCount();
  for (const role of ['team_lead', 'manager', 'admin'] as const) expect((await call('GET', `/tenants/${a}/operators`, undefined, tenantUser(a, role))).status).toBe(200);
  expect((await call('GET', `/tenants/${a}/operators`, undefined, tenantUser(a, 'operator'))).status).toBe(403);
  for (const role of ['operator', 'team_lead', 'manager'] as const) {
    const res = await call('POST', `/tenants/${a}/operators`, { email: `by-${role}@a.test`, role: 'admin' }, tenantUser(a, role));
    expect([role, res.status]).toEqual([role, 403]);
  }
  const apiKey: InternalCaller = { kind: 'api-key', tenantId: a, subject: newId(), role: 'admin', sessionId: null, scopes: ['users:read'], issuedAt: Date.now(), tokenId: newId() };
  expect((await call('GET', `/tenants/${a}/operators`, undefined, apiKey)).status).toBe(200);
  expect((await call('POST', `/tenants/${a}/operators`, { email: 'by-key@a.test', role: 'operator' }, apiKey)).status).toBe(403);
  expect((await call('GET', `/tenants/${a}/operators`, undefined, ANONYMOUS)).status).toBe(403);
  expect(await userCount()).toBe(before);
});

describe('bad input: 4xx problem+json with a stable code, nothing written', () => {
  const counts = () =>
    world.tenantDb.withTenant(a, (tx) =>
      sql<{ u: number; i: number; m: number }>`select (select count(*)::int from users) as u, (select count(*)::int from invitations) as i, (select count(*)::int from mail_outbox) as m`
        .execute(tx.db)
        .then((r) => r.rows),
    );
  const cases: [string, string, () => string, unknown, number, string][] = [
    ['an invalid role', 'POST', () => `/tenants/${a}/operators`, { email: 'x@a.test', role: 'owner' }, 400, 'invalid-role'],
    ['a malformed e-mail', 'POST', () => `/tenants/${a}/operators`, { email: 'not-an-email', role: 'operator' }, 400, 'invalid-email'],
    ['an unknown field', 'POST', () => `/tenants/${a}/operators`, { email: 'x@a.test', role: 'operator', admin: true }, 400, 'unknown-field'],
    ['an invalid role change', 'PATCH', () => `/tenants/${a}/operators/${newId()}`, { role: 'root' }, 400, 'invalid-role'],
    ['a change of nothing', 'PATCH', () => `/tenants/${a}/operators/${newId()}`, {}, 400, 'validation-failed'],
    ['an empty team', 'PATCH', () => `/tenants/${a}/operators/${newId()}`, { team: '  ' }, 400, 'validation-failed'],
    ['a weak password', 'POST', () => '/invitations/accept', { token: `${newId()}.${'x'.repeat(43)}`, password: 'short' }, 400, 'weak-password'],
    ['a made-up token', 'POST', () => '/invitations/accept', { token: `${newId()}.${'x'.repeat(43)}`, password: 'a long enough password' }, 404, 'invitation-not-found'],
    ['a token without a tenant', 'POST', () => '/invitations/accept', { token: 'y'.repeat(60), password: 'a long enough password' }, 404, 'invitation-not-found'],
    ['an invalid user id', 'DELETE', () => `/tenants/${a}/operators/nope`, undefined, 400, 'invalid-uuid'],
    ['an unknown operator', 'DELETE', () => `/tenants/${a}/operators/${newId()}`, undefined, 404, 'not-found'],
  ];
  it.each(cases)('%s', async (_l, method, path, body, status, code) => {
    const before = await counts();
    const res = await call(method, path(), body);
    expect(res.status).toBe(status);
    expect(res.headers.get('content-type')).toMatch(/problem\+json/);
    expect(await res.json()).toMatchObject({ code });
    const after = await counts();
    expect(after).toEqual(before);
  });
});

it('refuses operator changes of a suspended tenant with 423, at once', async () => {
  await setStatus(b, 'suspended');
  try {
    const res = await call('POST', `/tenants/${b}/operators`, { email: 'new@b.test', role: 'operator' }, tenantUser(b));
    expect(res.status).toBe(423);
    expect(await res.json()).toMatchObject({ code: 'tenant-suspended' });
  } finally {
    await setStatus(b, 'active');
  }
  expect((await call('POST', `/tenants/${b}/operators`, { email: 'new@b.test', role: 'operator' }, tenantUser(b))).status).toBe(201);
});

it('sets aside a message whose address cannot be decrypted, and delivers the ones behind it', async () => {
  const bad = newId();
  await world.tenantDb.withTenant(a, (tx) =>
    tx.db.insertInto('mail_outbox').values({ id: bad, tenant_id: a, to_enc: 'v1.not-a-token', subject: 'broken', body: 'broken', kind: 'invitation' }).execute(),
  );
  await call('POST', `/tenants/${a}/operators`, { email: 'after@a.test', role: 'operator' });
  expect(await mailedToken(a, 'after@a.test')).toMatch(new RegExp(`^${a}\\.`));
  const row = await world.tenantDb.withTenant(a, (tx) => tx.db.selectFrom('mail_outbox').select(['failed_at', 'sent_at', 'last_error']).where('id', '=', bad).execute());
  expect(row[0]).toMatchObject({ sent_at: null, failed_at: expect.any(Date), last_error: expect.stringMatching(/could not be decrypted|token/) });
});
