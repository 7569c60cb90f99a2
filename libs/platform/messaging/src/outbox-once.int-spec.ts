// publishOnceInTx against a real shard: an event published under a derived id is written once,
// however often (or however concurrently) its producer runs; inOutbox finds it, for its tenant only.
import { derivedId, newId } from '@hotdash/platform-db';
import { TestWorld, WorldTenant } from '@hotdash/testing';
import { inOutbox, publishOnceInTx } from './outbox-once';

const world = new TestWorld({ poolSize: 6 });
let a: WorldTenant;
let b: WorldTenant;

beforeAll(async () => {
  ({ a, b } = await world.twoTenantWorld());
});
afterAll(() => world.close());

const created = (t: WorldTenant, name: string) => ({ tenantId: t.id, name, plan: 'basic' as const, shard: t.shard.name, createdBy: 'outbox-once-spec' });
const meta = (t: WorldTenant) => ({ tenantId: t.id, producer: 'outbox-once-spec', correlationId: newId() });

it('writes an event under its derived id once, however often and however concurrently it is published', async () => {
  const id = derivedId(newId(), 'outbox-once-spec');
  const runs = await Promise.all(Array.from({ length: 5 }, (_, i) => world.tenantDb.withTenant(a.id, (tx) => publishOnceInTx(tx, id, 'tenant.created', created(a, `run ${i}`), meta(a)))));
  expect(runs.filter(Boolean)).toHaveLength(1);
  expect(await world.tenantDb.withTenant(a.id, (tx) => publishOnceInTx(tx, id, 'tenant.created', created(a, 'again'), meta(a)))).toBe(false);
  const rows = await world.tenantDb.withTenant(a.id, (tx) => tx.db.selectFrom('outbox').select(['id', 'type']).where('id', '=', id).execute());
  expect(rows).toEqual([{ id, type: 'tenant.created' }]);
  expect(await world.tenantDb.withTenant(a.id, (tx) => inOutbox(tx, id))).toBe(true);
  // Another tenant does not see it (RLS), and an id never published is not there.
  expect(await world.tenantDb.withTenant(b.id, (tx) => inOutbox(tx, id))).toBe(false);
  expect(await world.tenantDb.withTenant(a.id, (tx) => inOutbox(tx, derivedId(newId(), 'outbox-once-spec')))).toBe(false);
});
