// Tenant lifecycle over HTTP against the real control plane and shards: suspend (writes refused
// with a clear error, reads allowed, consumers skip the tenant's new work), reactivate, change plan;
// each with its event; invalid transitions and bad input get 4xx problem+json and change nothing.
import { INestApplication, Module } from '@nestjs/common';
import { Controller } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Ctx, Payload } from '@nestjs/microservices';
import { EventPattern } from '@hotdash/platform-messaging';
import { Envelope, TenantEvents } from '@hotdash/contracts';
import Redis from 'ioredis';
import { tenantLimitsKey } from '@hotdash/platform-auth';
import { DatabaseModule, newId, TenantNotWritableError, TenantStatusCache } from '@hotdash/platform-db';
import { createHttpApp } from '@hotdash/platform-http';
import { buildEnvelope, createKafkaClient, EventContext, EventErrorsFilter, headersFor, KafkaEventTransport } from '@hotdash/platform-messaging';
import { deleteConsumerGroups, internalAuthorization, opsCaller, TestWorld, waitFor, WorldTenant } from '@hotdash/testing';
import { ProvisioningModule } from './provisioning.module';
import type { TenantDto } from './tenants.repository';

jest.setTimeout(90_000);

@Module({ imports: [DatabaseModule.forRoot(), ProvisioningModule] })
class TestAppModule {}

const handled: string[] = [];
@Controller()
class WorkConsumer {
  @EventPattern(TenantEvents.CREATED)
  async onWork(@Payload() e: Envelope, @Ctx() _ctx: EventContext): Promise<void> {
    handled.push(e.id);
  }
}
@Module({ controllers: [WorkConsumer] })
class WorkModule {}

const world = new TestWorld();
const lifecycleConsumer = `lifecycle-${newId()}`;
const statuses = new TenantStatusCache(world.dbs, 0);
let app: INestApplication;
let base: string;
let a: WorldTenant;
let b: WorldTenant;

beforeAll(async () => {
  ({ a, b } = await world.twoTenantWorld());
  app = await createHttpApp(TestAppModule, { logger: false });
  await app.listen(0, '127.0.0.1');
  base = `http://127.0.0.1:${app.getHttpServer().address().port}`;
});
afterAll(async () => {
  await app.close();
  await deleteConsumerGroups([lifecycleConsumer]);
  await world.close();
});

// As the gateway calls provisioning for platform operator bob (actor ops:bob).
const call = async (method: string, path: string, body?: unknown) =>
  fetch(`${base}${path}`, {
    method,
    headers: { 'content-type': 'application/json', authorization: await internalAuthorization('provisioning', opsCaller('bob')) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });

async function events(tenantId: string): Promise<string[]> {
  const rows = await world.dbs.control().outbox.findMany({ where: { tenantId }, orderBy: { seq: 'asc' } });
  return rows.map((r) => r.type);
}

it('suspends: writes refused with a clear error, reads allowed, then reactivates', async () => {
  const res = await call('POST', `/tenants/${a.id}/suspend`, { reason: 'unpaid invoice' });
  expect(res.status).toBe(200);
  expect(((await res.json()) as TenantDto).status).toBe('suspended');
  await expect(statuses.assertWritable(a.id)).rejects.toBeInstanceOf(TenantNotWritableError);
  await expect(statuses.assertWritable(a.id)).rejects.toThrow(/writes are refused until it is reactivated/);
  await expect(statuses.assertWritable(b.id)).resolves.toBeUndefined(); // tenant B is not affected
  const read = await call('GET', `/tenants/${a.id}`);
  expect(read.status).toBe(200);
  const envelope = (await world.dbs.control().outbox.findFirst({ where: { tenantId: a.id, type: 'tenant.suspended' } }))!.envelope as Envelope;
  expect(envelope.payload).toEqual({ tenantId: a.id, reason: 'unpaid invoice', by: 'ops:bob' });

  const again = await call('POST', `/tenants/${a.id}/suspend`, { reason: 'twice' });
  expect(again.status).toBe(409);
  expect(await again.json()).toMatchObject({ code: 'invalid-tenant-status' });

  const back = await call('POST', `/tenants/${a.id}/reactivate`);
  expect(back.status).toBe(200);
  expect(((await back.json()) as TenantDto).status).toBe('active');
  await expect(statuses.assertWritable(a.id)).resolves.toBeUndefined();
  expect(await events(a.id)).toEqual(['tenant.suspended', 'tenant.reactivated']);
});

it('changes the plan at once, with its event, and only when it changes', async () => {
  const res = await call('PUT', `/tenants/${b.id}/plan`, { plan: 'enterprise' });
  expect(res.status).toBe(200);
  expect(((await res.json()) as TenantDto).plan).toBe('enterprise');
  expect((await world.dbs.control().tenant.findUnique({ where: { id: b.id } }))!.planCode).toBe('enterprise');
  // Published to every gateway at once: the tenant's limits hash in Redis holds the new plan's limits.
  const redis = new Redis({ host: world.config.redis.host, port: world.config.redis.port });
  const plan = (await world.dbs.control().plan.findUnique({ where: { code: 'enterprise' } }))!;
  expect(await redis.hgetall(tenantLimitsKey(b.id))).toEqual({ rpm: String(plan.rateLimitPerMinute), inflight: String(plan.concurrencyLimit) });
  redis.disconnect();
  await call('PUT', `/tenants/${b.id}/plan`, { plan: 'enterprise' });
  const changed = await world.dbs.control().outbox.findMany({ where: { tenantId: b.id, type: 'tenant.plan-changed' } });
  expect(changed.map((r) => (r.envelope as Envelope).payload)).toEqual([{ tenantId: b.id, from: 'basic', to: 'enterprise', by: 'ops:bob' }]);
});

it.each([
  ['an unknown plan', 'PUT', () => `/tenants/${b.id}/plan`, { plan: 'gold' }, 400, 'invalid-plan'],
  ['an unknown field', 'PUT', () => `/tenants/${b.id}/plan`, { plan: 'basic', x: 1 }, 400, 'unknown-field'],
  ['a suspension without a reason', 'POST', () => `/tenants/${b.id}/suspend`, {}, 400, 'validation-failed'],
  ['an invalid tenant id', 'POST', () => `/tenants/nope/suspend`, { reason: 'x' }, 400, 'invalid-uuid'],
  ['an unknown tenant', 'POST', () => `/tenants/${newId()}/reactivate`, undefined, 404, 'not-found'],
  ['reactivating an active tenant', 'POST', () => `/tenants/${b.id}/reactivate`, undefined, 409, 'invalid-tenant-status'],
])('refuses %s with a problem and changes nothing', async (_l, method, path, body, status, code) => {
  const before = await world.dbs.control().outbox.count();
  const tenantBefore = await world.dbs.control().tenant.findUnique({ where: { id: b.id } });
  const res = await call(method, path(), body);
  expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/problem\+json/);
  expect(await res.json()).toMatchObject({ code });
  expect(await world.dbs.control().outbox.count()).toBe(before);
  expect(await world.dbs.control().tenant.findUnique({ where: { id: b.id } })).toEqual(tenantBefore);
});

it("makes consumers skip a suspended tenant's new work, and only that tenant's", async () => {
  const kafka = createKafkaClient({ brokers: world.config.kafka.brokers, clientId: 'lifecycle-spec' });
  const ms = await NestFactory.createMicroservice(WorkModule, {
    strategy: new KafkaEventTransport({ consumer: lifecycleConsumer, kafka, tenantDb: world.tenantDb, fromBeginning: false, skipTenant: (t) => statuses.isSuspended(t) }),
    logger: false,
  });
  ms.useGlobalFilters(new EventErrorsFilter());
  await ms.listen();
  const producer = await kafka.producer();
  const send = async (t: WorldTenant, name: string) => {
    const e = buildEnvelope(TenantEvents.CREATED, { tenantId: t.id, name, plan: 'basic', shard: t.shard.name, createdBy: 'spec' }, { tenantId: t.id, producer: 'spec', correlationId: name });
    await producer.send([{ topic: 'hotdash.tenants', key: t.id, value: JSON.stringify(e), headers: headersFor(e) }]);
    return e.id;
  };
  try {
    await waitFor('the consumer to be consuming', async () => {
      const id = await send(b, `ping ${newId()}`);
      await new Promise((r) => setTimeout(r, 300));
      return handled.includes(id);
    }, 60_000, 0);
    expect((await call('POST', `/tenants/${a.id}/suspend`, { reason: 'pause' })).status).toBe(200);
    const skipped = await send(a, 'work for a suspended tenant');
    const done = await send(b, 'work for an active tenant');
    await waitFor('the active tenant work', async () => handled.includes(done));
    // Same partition or not, the consumer moved past the suspended tenant's event without running its handler.
    expect(handled).not.toContain(skipped);
    const after = await send(a, 'still suspended');
    const later = await send(b, 'more work for the active tenant');
    await waitFor('the later active tenant work', async () => handled.includes(later));
    expect(handled).not.toContain(after);
  } finally {
    await call('POST', `/tenants/${a.id}/reactivate`);
    await ms.close();
    await kafka.close();
  }
});
