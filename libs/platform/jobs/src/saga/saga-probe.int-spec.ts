// The saga engine answers "is a saga of this tenant running?" for the tenant status cache of
// libs/platform/db, which may not read `sagas` itself (platform/jobs owns it, and depends on
// platform/db): while a tenant's saga runs, mayBePlacedSoon says yes (an event consumer waits for the
// placement); once it has ended, for another tenant, or for a cache without the probe, no.
import Redis from 'ioredis';
import { parseTenantId } from '@hotdash/contracts';
import { newId, TenantStatusCache } from '@hotdash/platform-db';
import { TestWorld, toySaga, waitFor } from '@hotdash/testing';
import { SagaEngine } from './saga-engine';
import { sagaRunningProbe, tenantStatusCacheWithSagas } from './saga-probe';

jest.setTimeout(60_000);

const world = new TestWorld();
const redis = new Redis({ host: world.config.redis.host, port: world.config.redis.port });
const engine = new SagaEngine(world.dbs, world.config, { queueName: `saga-probe-spec-${newId()}`, backoffMs: 20 });
engine.register(toySaga(redis));

afterAll(async () => {
  await engine.close();
  redis.disconnect();
  await world.close();
});

it('tells the status cache while a saga of the tenant runs, and no longer once it has ended', async () => {
  const tenant = parseTenantId(newId()); // not placed: as during its provisioning, before the tenant-record step
  const other = parseTenantId(newId());
  const statuses = tenantStatusCacheWithSagas(world.dbs, 0);
  const blind = new TenantStatusCache(world.dbs, 0);

  // Started, no worker yet: the saga is running and waits for its first step.
  const { sagaId } = await engine.start('toy', { failAt: -1, failTimes: 0, sleepMs: 0 }, { tenantId: tenant });
  expect(await statuses.status(tenant)).toBeUndefined();
  expect(await statuses.mayBePlacedSoon(tenant)).toBe(true);
  expect(await sagaRunningProbe(world.dbs)(tenant)).toBe(true);
  expect(await statuses.mayBePlacedSoon(other)).toBe(false);
  expect(await blind.mayBePlacedSoon(tenant)).toBe(false);

  engine.startWorker();
  await waitFor(`saga ${sagaId} completed`, async () => (await engine.status(sagaId))?.status === 'completed', 30_000, 50);
  expect(await statuses.mayBePlacedSoon(tenant)).toBe(false);
});
