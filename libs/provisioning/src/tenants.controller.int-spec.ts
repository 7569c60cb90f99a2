// POST /tenants and GET /tenants/:id over real HTTP against the real control database: valid
// sign-ups create the tenant, its placement and tenant.created in one transaction; bad input gets a
// 400 problem+json with a stable code and writes nothing.
import { INestApplication, Module } from '@nestjs/common';
import { DatabaseModule, newId } from '@hotdash/platform-db';
import { createHttpApp, ProblemDetails } from '@hotdash/platform-http';
import type { TenantDto } from './tenants.repository';
import { TestWorld } from '@hotdash/testing';
import { ProvisioningModule } from './provisioning.module';

@Module({ imports: [DatabaseModule.forRoot(), ProvisioningModule] })
class TestAppModule {}

const world = new TestWorld();
let app: INestApplication;
let base: string;

beforeAll(async () => {
  app = await createHttpApp(TestAppModule, { logger: false });
  await app.listen(0, '127.0.0.1');
  base = `http://127.0.0.1:${app.getHttpServer().address().port}`;
});
afterAll(async () => {
  await app.close();
  await world.close();
});

async function counts(): Promise<{ tenants: number; outbox: number; placements: number }> {
  const c = world.dbs.control();
  return { tenants: await c.tenant.count(), outbox: await c.outbox.count(), placements: await c.tenantPlacement.count() };
}

function post(body: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${base}/tenants`, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } });
}

it('creates a tenant, places it on a shard and writes tenant.created to the outbox in one go', async () => {
  const before = await counts();
  const res = await post(JSON.stringify({ name: '  Acme Support ', plan: 'enterprise' }), { 'x-hotdash-actor': 'ops:alice', 'x-correlation-id': 'req-123' });
  expect(res.status).toBe(201);
  const tenant = (await res.json()) as TenantDto;
  expect(tenant).toEqual({ id: expect.stringMatching(/^[0-9a-f-]{8}-[0-9a-f]{4}-7/), name: 'Acme Support', plan: 'enterprise', status: 'active', shard: expect.stringMatching(/^shard-/), createdAt: expect.any(String) });
  expect(await counts()).toEqual({ tenants: before.tenants + 1, outbox: before.outbox + 1, placements: before.placements + 1 });
  const row = await world.dbs.control().outbox.findFirst({ where: { tenantId: tenant.id } });
  expect(row).toMatchObject({ type: 'tenant.created', topic: 'hotdash.tenants', key: tenant.id, version: 1 });
  expect(row!.envelope).toMatchObject({ tenantId: tenant.id, producer: 'provisioning', correlationId: 'req-123', payload: { tenantId: tenant.id, name: 'Acme Support', plan: 'enterprise', createdBy: 'ops:alice' } });

  const got = await fetch(`${base}/tenants/${tenant.id}`);
  expect(got.status).toBe(200);
  expect(await got.json()).toEqual(tenant);
});

it('places each new tenant on the least-loaded shared shard', async () => {
  for (let i = 0; i < 4; i++) {
    const load = await world.dbs.control().$queryRaw<{ name: string; n: number }[]>`
      select s.name, count(p.tenant_id)::int as n from shards s left join tenant_placements p on p.shard_id = s.id
      where s.kind = 'shared' and s.status = 'active' group by s.name`;
    const min = Math.min(...load.map((l) => l.n));
    const chosen = ((await (await post(JSON.stringify({ name: `spread ${i}`, plan: 'basic' }))).json()) as TenantDto).shard;
    expect(load.find((l) => l.name === chosen)!.n).toBe(min);
  }
});

describe('bad input: 4xx problem+json with a stable code, nothing written', () => {
  const cases: [string, () => Promise<Response>, number, string][] = [
    ['malformed JSON', () => post('{"name": "Acme", "plan": '), 400, 'malformed-json'],
    ['a JSON string instead of an object', () => post('"Acme"'), 400, 'malformed-json'],
    ['a JSON array', () => post('[{"name":"Acme","plan":"basic"}]'), 400, 'invalid-body'],
    ['no body at all', () => fetch(`${base}/tenants`, { method: 'POST' }), 400, 'invalid-body'],
    ['a non-JSON content type', () => fetch(`${base}/tenants`, { method: 'POST', body: 'name=Acme', headers: { 'content-type': 'application/x-www-form-urlencoded' } }), 400, 'invalid-body'],
    ['unknown fields', () => post(JSON.stringify({ name: 'Acme', plan: 'basic', tenantId: '01a2233e-13de-71a6-af01-2c9e62e66eb5' })), 400, 'unknown-field'],
    ['an invalid plan name', () => post(JSON.stringify({ name: 'Acme', plan: 'platinum' })), 400, 'invalid-plan'],
    ['a plan of the wrong type', () => post(JSON.stringify({ name: 'Acme', plan: 7 })), 400, 'invalid-plan'],
    ['an empty name', () => post(JSON.stringify({ name: '   ', plan: 'basic' })), 400, 'validation-failed'],
    ['a missing name', () => post(JSON.stringify({ plan: 'basic' })), 400, 'validation-failed'],
    ['a name with control characters', () => post(JSON.stringify({ name: 'Ac\u0000me', plan: 'basic' })), 400, 'validation-failed'],
    ['a 201-character name', () => post(JSON.stringify({ name: 'x'.repeat(201), plan: 'basic' })), 400, 'validation-failed'],
    ['an oversized body', () => post(JSON.stringify({ name: 'Acme', plan: 'basic', padding: 'x'.repeat(100_000) })), 413, 'payload-too-large'],
    ['an invalid actor header', () => post(JSON.stringify({ name: 'Acme', plan: 'basic' }), { 'x-hotdash-actor': 'a'.repeat(201) }), 400, 'invalid-header'],
    ['an invalid UUID in the path', () => fetch(`${base}/tenants/not-a-uuid`), 400, 'invalid-uuid'],
    ['a UUID with a bad character', () => fetch(`${base}/tenants/01a2233e-13de-71a6-af01-2c9e62e66ebz`), 400, 'invalid-uuid'],
  ];

  it.each(cases)('%s', async (_label, send, status, code) => {
    const before = await counts();
    const res = await send();
    expect(res.status).toBe(status);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    const problem = await res.json();
    expect(problem).toMatchObject({ status, code, type: `https://hotdash.dev/problems/${code}`, title: expect.any(String) });
    expect(await counts()).toEqual(before);
  });

  it('lists every failing field', async () => {
    const res = await post(JSON.stringify({ name: '', plan: 'gold', extra: 1 }));
    const problem = (await res.json()) as ProblemDetails;
    expect(problem.errors!.map((e: { path: string }) => e.path).sort()).toEqual(['extra', 'name', 'plan']);
  });
});

it('answers an unknown tenant and a route that does not exist with 404 problem+json', async () => {
  const res = await fetch(`${base}/tenants/${newId()}`);
  expect(res.status).toBe(404);
  expect(await res.json()).toMatchObject({ code: 'not-found' });
  const nope = await fetch(`${base}/nope`);
  expect(nope.status).toBe(404);
  expect(await nope.json()).toMatchObject({ code: 'route-not-found' });
});
