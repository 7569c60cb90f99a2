// The EphemeralStore port's contract (single sign-on states and handoff codes), on each adapter:
// Redis (single node and cluster) and the embedded state file. A value is taken once; another
// tenant asking for the same name gets nothing and leaves it in place (the attacker's side); it is
// gone when its time to live is up; values sit under the tenant's prefix (offboarding erases them);
// the embedded store keeps them across a restart.
import { newId } from '@hotdash/platform-db';
import { tenantKeyPrefix } from '@hotdash/platform-jobs';
import { STATE_BACKINGS, type StateBacking, waitFor } from '@hotdash/testing';
import { EmbeddedEphemeralStore, type EphemeralStore, RedisEphemeralStore } from './ephemeral-store';

jest.setTimeout(30_000);

describe.each(STATE_BACKINGS)('EphemeralStore on %s', (name, make) => {
  let backing: StateBacking;
  const tenants: string[] = [];
  const tenant = (): string => {
    const id = newId();
    tenants.push(id);
    return id;
  };
  const store = (): EphemeralStore => (backing.redis ? new RedisEphemeralStore(backing.redis) : new EmbeddedEphemeralStore(backing.state!));

  beforeAll(() => {
    backing = make();
  });
  afterAll(() => backing.close(tenants.map(tenantKeyPrefix)));

  it('gives a value once, to its tenant only', async () => {
    const s = store();
    const [a, b] = [tenant(), tenant()];
    await s.put(a, 'sso:state:abc', '{"nonce":"n"}', 600);
    expect(await backing.raw(`${tenantKeyPrefix(a)}sso:state:abc`)).toBe('{"nonce":"n"}');
    expect(await s.take(b, 'sso:state:abc')).toBeUndefined();
    expect(await s.take(a, 'sso:state:abc')).toBe('{"nonce":"n"}');
    expect(await s.take(a, 'sso:state:abc')).toBeUndefined();
  });

  it('forgets a value when its time to live is up', async () => {
    const s = store();
    const a = tenant();
    await s.put(a, 'sso:handoff:h', 'sealed', 1);
    expect(await backing.raw(`${tenantKeyPrefix(a)}sso:handoff:h`)).toBe('sealed');
    backing.advance(1_000);
    await waitFor('the value expired', async () => (await backing.raw(`${tenantKeyPrefix(a)}sso:handoff:h`)) === undefined, 5_000, 50);
    expect(await s.take(a, 'sso:handoff:h')).toBeUndefined();
  });

  if (name === 'embedded')
    it('keeps a value across a restart until its time is up, and erases it with its tenant', async () => {
      const [a, b] = [tenant(), tenant()];
      await store().put(a, 'sso:state:s1', 'pending', 600);
      await store().put(b, 'sso:state:s1', 'other', 600);
      backing.restart();
      expect(await store().take(a, 'sso:state:s1')).toBe('pending');
      await store().put(a, 'sso:state:s2', 'pending', 600);
      expect(backing.state!.deletePrefix(tenantKeyPrefix(a))).toBe(1);
      expect(await store().take(a, 'sso:state:s2')).toBeUndefined();
      expect(await store().take(b, 'sso:state:s1')).toBe('other');
    });
});
