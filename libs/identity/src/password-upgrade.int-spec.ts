// Password hashes upgraded at the next sign-in (issue 15, item 7), through the gateway's HTTP
// routes (Fastify, in-process) against the real shards and control database: a user and a platform
// operator whose stored hash is of the first format (`scrypt$16384$8$1$…`, N = 2^14) sign in, and
// afterwards their stored hash is a PHC string at the current parameters that verifies the same
// password; a wrong password is still refused and changes nothing; the new hash signs in again.
import { Module } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { randomBytes, scryptSync } from 'node:crypto';
import { sql } from 'kysely';
import { AuthModule, verifyPassword } from '@hotdash/platform-auth';
import { DatabaseModule } from '@hotdash/platform-db';
import { createFastifyHttpApp, HealthController } from '@hotdash/platform-http';
import { createAccount, createPlatformOperator, TEST_PASSWORD, TestAccount, TestPlatformOperator, TestWorld } from '@hotdash/testing';
import { IdentityModule } from './identity.module';

jest.setTimeout(60_000);

const world = new TestWorld();

@Module({ imports: [DatabaseModule.forRoot(world.config), AuthModule.forRoot(world.config), IdentityModule], controllers: [HealthController] })
class GatewayTestModule {}

let app: NestFastifyApplication;
let base: string;
const accounts: TestAccount[] = [];
const operators: TestPlatformOperator[] = [];
const CURRENT = /^\$scrypt\$ln=17,r=8,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/;

/** A hash as the platform stored them before issue 15. */
function legacyHash(password: string): string {
  const salt = randomBytes(16);
  const hash = scryptSync(password, salt, 32, { N: 16384, r: 8, p: 1 });
  return `scrypt$16384$8$1$${salt.toString('base64url')}$${hash.toString('base64url')}`;
}

const post = (path: string, body: unknown) => fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

const userHash = (a: TestAccount) =>
  world.tenantDb.withTenant(a.tenantId, async (tx) => (await tx.db.selectFrom('users').select('password_hash').where('id', '=', a.userId).executeTakeFirstOrThrow()).password_hash!);
const setUserHash = (a: TestAccount, hash: string) => world.tenantDb.withTenant(a.tenantId, (tx) => tx.db.updateTable('users').set({ password_hash: hash }).where('id', '=', a.userId).execute());

async function asOwner<T>(fn: (q: (text: string, params: unknown[]) => Promise<Record<string, unknown>[]>) => Promise<T>): Promise<T> {
  const { controlHost: host, controlPort: port, controlDatabase: database } = world.config.db;
  const owner = await world.connect({ host, port, database }, 'owner');
  try {
    return await fn(async (text, params) => (await owner.query(text, params)).rows);
  } finally {
    await owner.end();
  }
}
const operatorHash = (op: TestPlatformOperator) => asOwner(async (q) => (await q('select password_hash from platform_operators where id = $1', [op.id]))[0]!.password_hash as string);
const setOperatorHash = (op: TestPlatformOperator, hash: string) => asOwner((q) => q('update platform_operators set password_hash = $2 where id = $1', [op.id, hash]));

beforeAll(async () => {
  app = await createFastifyHttpApp(GatewayTestModule, { logger: ['error'] });
  await app.listen(0, '127.0.0.1');
  base = (await app.getUrl()).replace('[::1]', '127.0.0.1');
});
afterAll(async () => {
  await app.close();
  for (const a of accounts) await world.tenantDb.withTenant(a.tenantId, (tx) => sql`select * from erase_tenant(${a.tenantId}::uuid)`.execute(tx.db));
  if (operators.length) await asOwner((q) => q('delete from platform_operators where id = any($1::uuid[])', [operators.map((o) => o.id)]));
  await world.close();
});

it("upgrades a user's hash of the first format at their next sign-in; a wrong password is refused and changes nothing", async () => {
  const a = await createAccount(world, 'operator');
  accounts.push(a);
  const old = legacyHash(TEST_PASSWORD);
  await setUserHash(a, old);

  const wrong = await post('/auth/login', { tenant: a.slug, email: a.email, password: 'not the password at all' });
  expect(wrong.status).toBe(401);
  expect(await userHash(a)).toBe(old);

  const res = await post('/auth/login', { tenant: a.slug, email: a.email, password: TEST_PASSWORD });
  expect(res.status).toBe(200);
  const upgraded = await userHash(a);
  expect(upgraded).toMatch(CURRENT);
  expect(await verifyPassword(TEST_PASSWORD, upgraded)).toBe(true);

  // The new hash signs in (and is kept: already at the current parameters); a wrong password still is refused.
  expect((await post('/auth/login', { tenant: a.slug, email: a.email, password: TEST_PASSWORD })).status).toBe(200);
  expect(await userHash(a)).toBe(upgraded);
  expect((await post('/auth/login', { tenant: a.slug, email: a.email, password: `${TEST_PASSWORD}!` })).status).toBe(401);
  expect(await userHash(a)).toBe(upgraded);
});

it("upgrades a platform operator's hash of the first format at their next ops sign-in; a wrong password is refused and changes nothing", async () => {
  const op = await createPlatformOperator(world);
  operators.push(op);
  const old = legacyHash(TEST_PASSWORD);
  await setOperatorHash(op, old);

  expect((await post('/ops/login', { email: op.email, password: 'not the password at all' })).status).toBe(401);
  expect(await operatorHash(op)).toBe(old);

  const res = await post('/ops/login', { email: op.email, password: TEST_PASSWORD });
  expect(res.status).toBe(200);
  const upgraded = await operatorHash(op);
  expect(upgraded).toMatch(CURRENT);
  expect(await verifyPassword(TEST_PASSWORD, upgraded)).toBe(true);
  expect((await post('/ops/login', { email: op.email, password: TEST_PASSWORD })).status).toBe(200);
  expect(await operatorHash(op)).toBe(upgraded);
});
