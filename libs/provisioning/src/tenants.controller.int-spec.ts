// POST /tenants (sign-up → provisioning saga), GET /tenants/:id and GET /tenants/:id/provisioning
// over real HTTP against the real control plane, shards, Weaviate and Redis. Bad input gets a 4xx
// problem+json with a stable code and writes nothing; one idempotency key makes one tenant.
import { INestApplication, Module } from '@nestjs/common';
import { DatabaseModule, newId } from '@hotdash/platform-db';
import { createHttpApp, ProblemDetails } from '@hotdash/platform-http';
import { SagaEngine } from '@hotdash/platform-jobs';
import { ANONYMOUS, internalAuthorization, opsCaller, serviceFetch, tenantUser, TestWorld, VectorNamespaces, waitFor } from '@hotdash/testing';
import { ProvisioningModule } from './provisioning.module';
import type { TenantDto } from './tenants.repository';
import type { SignUpAccepted } from './use-cases/create-tenant/create-tenant.handler';
import type { SagaProgressView } from './tenants.controller';

jest.setTimeout(60_000);

@Module({ imports: [DatabaseModule.forRoot(), ProvisioningModule] })
class TestAppModule {}

const world = new TestWorld();
const namespaces = VectorNamespaces.local(world.config); // every sign-up's knowledge namespace, deleted at the end
let app: INestApplication;
let base: string;

beforeAll(async () => {
  app = await createHttpApp(TestAppModule, { logger: false, bodyLimit: '1mb' });
  app.get(SagaEngine).startWorker();
  await app.listen(0, '127.0.0.1');
  base = `http://127.0.0.1:${app.getHttpServer().address().port}`;
});
afterAll(async () => {
  await app.close();
  await namespaces.deleteAll();
  await world.close();
});

async function counts(): Promise<{ tenants: number; outbox: number; sagas: number }> {
  const c = world.dbs.control();
  const sagas = (await c.$queryRaw<{ n: number }[]>`select count(*)::int as n from sagas`)[0]!.n;
  return { tenants: await c.tenant.count(), outbox: await c.outbox.count(), sagas };
}

// Only the gateway calls provisioning: sign-up as an anonymous caller, everything else as the ops team.
const asOps = serviceFetch('provisioning', opsCaller('alice'));
const asAnonymous = serviceFetch('provisioning', ANONYMOUS);

function post(body: string, headers: Record<string, string> = {}, as = asAnonymous): Promise<Response> {
  return as(`${base}/tenants`, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } });
}

const signUp = (over: Record<string, unknown> = {}) => ({ name: 'Acme Support', plan: 'basic', admin: { email: 'ada@acme.test', displayName: 'Ada' }, ...over });

async function provisioned(tenantId: string): Promise<SagaProgressView> {
  namespaces.track(tenantId);
  return waitFor(`tenant ${tenantId} to be provisioned`, async () => {
    const res = await asOps(`${base}/tenants/${tenantId}/provisioning`);
    const view = (await res.json()) as SagaProgressView;
    return ['provisioned', 'compensated', 'failed'].includes(view.status) ? view : undefined;
  }, 30_000, 50);
}

it('accepts an ops sign-up with 202 and the saga id, then provisions the tenant step by step', async () => {
  const res = await post(JSON.stringify(signUp({ plan: 'enterprise', documents: [{ title: 'FAQ', content: 'We ship worldwide.' }] })), {}, asOps);
  expect(res.status).toBe(202);
  const accepted = (await res.json()) as SignUpAccepted;
  expect(accepted).toEqual({
    sagaId: expect.any(String),
    tenantId: expect.stringMatching(/^[0-9a-f-]{8}-[0-9a-f]{4}-7/),
    tenant: `acme-support-${accepted.tenantId.replace(/-/g, '').slice(-6)}`,
    status: 'provisioning',
    links: { tenant: `/ops/tenants/${accepted.tenantId}`, provisioning: `/ops/tenants/${accepted.tenantId}/provisioning` },
  });
  const view = await provisioned(accepted.tenantId);
  expect(view.status).toBe('provisioned');
  expect(view.steps.map((s) => [s.id, s.status])).toEqual([
    ['tenant-record', 'completed'],
    ['admin-user', 'completed'],
    ['knowledge-namespace', 'completed'],
    ['default-workflows', 'completed'],
    ['model-configuration', 'completed'],
    ['initial-documents', 'completed'],
    ['activation', 'completed'],
  ]);
  const tenant = (await (await asOps(`${base}/tenants/${accepted.tenantId}`)).json()) as TenantDto;
  expect(tenant).toMatchObject({ id: accepted.tenantId, name: 'Acme Support', plan: 'enterprise', status: 'active', shard: expect.stringMatching(/^shard-/) });
  // No slug asked for: one derived from the name, unique by the end of the tenant id.
  expect(tenant.slug).toBe(accepted.tenant);
});

it('answers a public sign-up with the login slug and links that work without a credential, and shows its progress to anyone holding its id', async () => {
  const res = await post(JSON.stringify(signUp({ name: 'Public Signup' })));
  expect(res.status).toBe(202);
  const accepted = (await res.json()) as SignUpAccepted;
  namespaces.track(accepted.tenantId);
  expect(accepted.links).toEqual({ status: `/signup/${accepted.sagaId}`, login: '/auth/login', docs: '/docs' });
  const progress = await waitFor('the sign-up active', async () => {
    const view = (await (await asAnonymous(`${base}/signups/${accepted.sagaId}`)).json()) as Record<string, unknown>;
    return view.status === 'active' ? view : undefined;
  }, 30_000, 50);
  expect(progress).toEqual({ sagaId: accepted.sagaId, tenantId: accepted.tenantId, tenant: accepted.tenant, status: 'active', steps: { done: 7, total: 7 }, detail: expect.stringContaining('invitation') });
  const unknown = await asAnonymous(`${base}/signups/${newId()}`);
  expect([unknown.status, ((await unknown.json()) as ProblemDetails).code]).toEqual([404, 'not-found']);
});

it('gives the tenant the slug it asked for, and refuses a taken one with 409 slug-taken', async () => {
  const slug = `acme-${newId().slice(-8)}`;
  const first = await post(JSON.stringify(signUp({ name: 'Slug One', slug })));
  expect(first.status).toBe(202);
  const { tenantId } = (await first.json()) as SignUpAccepted;
  await provisioned(tenantId);
  expect(((await (await asOps(`${base}/tenants/${tenantId}`)).json()) as TenantDto).slug).toBe(slug);
  const before = await counts();
  const second = await post(JSON.stringify(signUp({ name: 'Slug Two', slug })));
  expect(second.status).toBe(409);
  expect(((await second.json()) as ProblemDetails).code).toBe('slug-taken');
  expect(await counts()).toEqual(before);
});

it('answers 20 concurrent sign-ups with one Idempotency-Key with one tenant', async () => {
  const key = `signup-${newId()}`;
  const before = await counts();
  const answers = await Promise.all(Array.from({ length: 20 }, () => post(JSON.stringify(signUp({ name: `Idem ${key}` })), { 'idempotency-key': key })));
  expect(answers.map((r) => r.status)).toEqual(answers.map(() => 202));
  const bodies = (await Promise.all(answers.map((r) => r.json()))) as SignUpAccepted[];
  expect(new Set(bodies.map((b) => b.tenantId)).size).toBe(1);
  expect(new Set(bodies.map((b) => b.sagaId)).size).toBe(1);
  await provisioned(bodies[0]!.tenantId);
  expect((await counts()).tenants).toBe(before.tenants + 1);
  expect(await world.dbs.control().tenant.count({ where: { name: `Idem ${key}` } })).toBe(1);

  const reused = await post(JSON.stringify(signUp({ name: 'Someone else' })), { 'idempotency-key': key });
  expect(reused.status).toBe(422);
  expect(await reused.json()).toMatchObject({ code: 'idempotency-key-reused' });
});

describe('bad input: 4xx problem+json with a stable code, nothing written', () => {
  const body = (over: Record<string, unknown>) => post(JSON.stringify(signUp(over)));
  const cases: [string, () => Promise<Response>, number, string][] = [
    ['malformed JSON', () => post('{"name": "Acme", "plan": '), 400, 'malformed-json'],
    ['a JSON string instead of an object', () => post('"Acme"'), 400, 'malformed-json'],
    ['a JSON array', () => post('[{"name":"Acme","plan":"basic"}]'), 400, 'invalid-body'],
    ['no body at all', () => asAnonymous(`${base}/tenants`, { method: 'POST' }), 400, 'invalid-body'],
    ['a non-JSON content type', () => asAnonymous(`${base}/tenants`, { method: 'POST', body: 'name=Acme', headers: { 'content-type': 'application/x-www-form-urlencoded' } }), 400, 'invalid-body'],
    ['unknown fields', () => body({ tenantId: newId() }), 400, 'unknown-field'],
    ['an unknown field in admin', () => body({ admin: { email: 'ada@acme.test', role: 'owner' } }), 400, 'unknown-field'],
    ['an unknown plan', () => body({ plan: 'platinum' }), 400, 'invalid-plan'],
    ['a slug with capitals and spaces', () => body({ slug: 'Acme Support' }), 400, 'invalid-slug'],
    ['a slug of two letters', () => body({ slug: 'ab' }), 400, 'invalid-slug'],
    ['a slug with SQL in it', () => body({ slug: "acme'; drop table tenants; --" }), 400, 'invalid-slug'],
    ['a plan of the wrong type', () => body({ plan: 7 }), 400, 'invalid-plan'],
    ['an empty name', () => body({ name: '   ' }), 400, 'validation-failed'],
    ['a missing name', () => post(JSON.stringify({ plan: 'basic', admin: { email: 'ada@acme.test' } })), 400, 'validation-failed'],
    ['a 10,000-character name', () => body({ name: 'x'.repeat(10_000) }), 400, 'validation-failed'],
    ['a name with control characters', () => body({ name: 'Ac\u0000me' }), 400, 'validation-failed'],
    ['no admin', () => post(JSON.stringify({ name: 'Acme', plan: 'basic' })), 400, 'invalid-email'],
    ['a malformed admin e-mail', () => body({ admin: { email: 'ada-at-acme' } }), 400, 'invalid-email'],
    ['an own model without a key (ops)', () => post(JSON.stringify(signUp({ model: { mode: 'own', provider: 'openai', model: 'gpt-x' } })), {}, asOps), 400, 'invalid-model'],
    ['an own model over plain http (ops)', () => post(JSON.stringify(signUp({ model: { mode: 'own', provider: 'openai', model: 'gpt-x', apiKey: 'sk-12345678', baseUrl: 'http://models.example.test/v1' } })), {}, asOps), 400, 'invalid-model'],
    ['an unknown model mode (ops)', () => post(JSON.stringify(signUp({ model: { mode: 'magic' } })), {}, asOps), 400, 'invalid-model'],
    ['a dedicated shard on the Basic plan (ops)', () => post(JSON.stringify(signUp({ dedicatedShard: true })), {}, asOps), 400, 'dedicated-requires-enterprise'],
    ['the Enterprise plan from an anonymous caller', () => body({ plan: 'enterprise' }), 403, 'not-self-serve'],
    ['a dedicated shard from an anonymous caller', () => body({ plan: 'enterprise', dedicatedShard: true }), 403, 'not-self-serve'],
    ['an own model from an anonymous caller', () => body({ model: { mode: 'own', provider: 'openai', model: 'gpt-x', apiKey: 'sk-12345678' } }), 403, 'not-self-serve'],
    ['an unknown model mode from an anonymous caller', () => body({ model: { mode: 'magic' } }), 403, 'not-self-serve'],
    ['an oversized body', () => body({ documents: [{ title: 'big', content: 'x'.repeat(1_100_000) }] }), 413, 'payload-too-large'],
    ['an invalid Idempotency-Key', () => post(JSON.stringify(signUp()), { 'idempotency-key': 'ä'.repeat(3) }), 400, 'invalid-header'],
    ['no internal token (a direct call, not through the gateway)', () => fetch(`${base}/tenants`, { method: 'POST', body: JSON.stringify(signUp()), headers: { 'content-type': 'application/json' } }), 401, 'missing-credentials'],
    [
      "another service's internal token",
      async () => fetch(`${base}/tenants`, { method: 'POST', body: JSON.stringify(signUp()), headers: { 'content-type': 'application/json', authorization: await internalAuthorization('audit', ANONYMOUS) } }),
      401,
      'invalid-token',
    ],
    ['an anonymous caller reading a tenant', () => asAnonymous(`${base}/tenants/${newId()}`), 403, 'forbidden'],
    ['an anonymous caller suspending a tenant', () => asAnonymous(`${base}/tenants/${newId()}/suspend`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } }), 403, 'forbidden'],
    ['an invalid UUID in the path', () => asOps(`${base}/tenants/not-a-uuid`), 400, 'invalid-uuid'],
    ['an invalid UUID for provisioning', () => asOps(`${base}/tenants/01a2233e-13de-71a6-af01-2c9e62e66ebz/provisioning`), 400, 'invalid-uuid'],
  ];

  it.each(cases)('%s', async (_label, send, status, code) => {
    const before = await counts();
    const res = await send();
    expect(res.status).toBe(status);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    const problem = (await res.json()) as ProblemDetails;
    expect(problem).toMatchObject({ status, code, type: `https://hotdash.dev/problems/${code}`, title: expect.any(String) });
    expect(await counts()).toEqual(before);
  });

  it('lists every failing field', async () => {
    const res = await post(JSON.stringify({ name: '', plan: 'gold', extra: 1, admin: { email: 'nope' } }));
    const problem = (await res.json()) as ProblemDetails;
    expect(problem.errors!.map((e) => e.path).sort()).toEqual(['admin.email', 'extra', 'name', 'plan']);
  });
});

it('lets no tenant user run the lifecycle, and a tenant caller read no other tenant', async () => {
  const a = await world.createTenant('Lifecycle A');
  const b = await world.createTenant('Lifecycle B');
  const asAdminOfA = serviceFetch('provisioning', tenantUser(a.id));
  for (const [method, path] of [['POST', `/tenants/${a.id}/suspend`], ['PUT', `/tenants/${a.id}/plan`], ['POST', `/tenants/${a.id}/offboard`], ['GET', `/tenants/${a.id}/provisioning`]] as const) {
    const init = method === 'GET' ? undefined : { method, body: JSON.stringify({ plan: 'enterprise' }), headers: { 'content-type': 'application/json' } };
    const res = await asAdminOfA(`${base}${path}`, init);
    expect([path, res.status]).toEqual([path, 403]);
  }
  const mismatch = await serviceFetch('provisioning', tenantUser(b.id))(`${base}/tenants/${a.id}`);
  expect(mismatch.status).toBe(403);
  expect(await mismatch.json()).toMatchObject({ code: 'tenant_mismatch' });
  expect(((await (await asOps(`${base}/tenants/${a.id}`)).json()) as TenantDto).status).toBe('active');
});

it('answers unknown tenants, their provisioning and unknown routes with 404 problem+json', async () => {
  for (const path of [`/tenants/${newId()}`, `/tenants/${newId()}/provisioning`]) {
    const res = await asOps(`${base}${path}`);
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ code: 'not-found' });
  }
  const nope = await fetch(`${base}/nope`);
  expect(nope.status).toBe(404);
  expect(await nope.json()).toMatchObject({ code: 'route-not-found' });
});
