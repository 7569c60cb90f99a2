// The tenant directory: the one read of a tenant with its plan (control plane, driver), cached per
// process as long as each caller allows: a fresh read sees a plan change at once, a cached one only
// after its age runs out; a tenant the control plane does not know is undefined.
import { TenantDirectory } from './tenant-directory';
import { newId } from './ids';
import { TestWorld } from '@hotdash/testing';

const world = new TestWorld();
afterAll(() => world.close());

it('answers a tenant with its plan, fresh or from the cache as the caller allows', async () => {
  const t = await world.createTenant(`directory ${newId().slice(-6)}`);
  const directory = new TenantDirectory(world.dbs);
  const first = await directory.of(t.id, { maxAgeMs: 60_000 });
  expect(first).toEqual({
    id: t.id,
    slug: expect.stringMatching(/^t-/),
    name: t.name,
    status: 'active',
    plan: { code: 'basic', monthlyTicketQuota: 5_000, rateLimitPerMinute: 100, concurrencyLimit: 50, knowledgeBaseBytes: 10_737_418_240 },
  });
  await world.dbs.control().tenant.update({ where: { id: t.id }, data: { planCode: 'enterprise' } });
  // Within the age a caller allows, the cached answer; a fresh read sees the change at once.
  expect((await directory.of(t.id, { maxAgeMs: 60_000 }))!.plan.code).toBe('basic');
  expect((await directory.of(t.id, { maxAgeMs: 0 }))!.plan).toMatchObject({ code: 'enterprise', monthlyTicketQuota: 20_000 });
  expect((await directory.of(t.id, { maxAgeMs: 60_000 }))!.plan.code).toBe('enterprise');
  expect(await directory.of(newId(), { maxAgeMs: 0 })).toBeUndefined();
  // By the login slug, the same record.
  expect(await directory.bySlug(first!.slug, { maxAgeMs: 0 })).toMatchObject({ id: t.id, plan: { code: 'enterprise' } });
  expect(await directory.bySlug(`no-such-${newId().slice(-6)}`, { maxAgeMs: 0 })).toBeUndefined();
});
