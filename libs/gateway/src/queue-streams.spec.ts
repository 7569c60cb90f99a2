// The queue streams' cap without Redis (the embedded mode: one gateway in one process): counted in
// the process, per user and per tenant, and a slot given back when its stream ends.
import type { Principal } from '@hotdash/platform-auth';
import { QueueStreamSlots } from './queue-streams';

const user = (tenantId: string, subject: string) => ({ tenantId, kind: 'user', subject }) as unknown as Principal;

it('caps the streams of one user and of one tenant, and frees a slot when a stream ends', async () => {
  const slots = new QueueStreamSlots(null, { perUser: 2, perTenant: 3 });
  const a1 = await slots.acquire(user('tenant-a', 'ann'));
  const a2 = await slots.acquire(user('tenant-a', 'ann'));
  expect([a1.admitted, a2.admitted]).toEqual([true, true]);
  expect(await slots.acquire(user('tenant-a', 'ann'))).toEqual({ admitted: false, limit: 'user', max: 2 });
  expect((await slots.acquire(user('tenant-a', 'bob'))).admitted).toBe(true);
  expect(await slots.acquire(user('tenant-a', 'cid'))).toEqual({ admitted: false, limit: 'tenant', max: 3 });
  // Another tenant's streams are counted apart.
  expect((await slots.acquire(user('tenant-b', 'ann'))).admitted).toBe(true);
  if (a1.admitted) await a1.release();
  expect((await slots.acquire(user('tenant-a', 'ann'))).admitted).toBe(true);
});
