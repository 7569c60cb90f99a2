// The RevocationStore port's contract, on each adapter: Redis (single node and cluster:
// RevocationList) and the embedded state file (EmbeddedRevocationStore). A removed user's tokens,
// a changed user's older tokens and an ended session's tokens are refused, nothing else is; another
// tenant's user of the same id is never touched (the attacker's side); markers expire with their
// time to live; a "removed" is never downgraded; in the embedded store a revoked token stays revoked
// after a restart of the process.
import type { TenantId } from '@hotdash/contracts';
import { newId } from '@hotdash/platform-db';
import { tenantKeyPrefix } from '@hotdash/platform-jobs';
import { STATE_BACKINGS, type StateBacking, waitFor } from '@hotdash/testing';
import { EmbeddedRevocationStore, RevocationList, type RevocationStore } from './revocations';
import type { Principal } from './tokens';

jest.setTimeout(30_000);

describe.each(STATE_BACKINGS)('RevocationStore on %s', (_name, make) => {
  let backing: StateBacking;
  const tenants: string[] = [];
  const tenant = (): TenantId => {
    const id = newId() as TenantId;
    tenants.push(id);
    return id;
  };
  const store = (ttlSeconds?: number): RevocationStore => (backing.redis ? new RevocationList(backing.redis, ttlSeconds) : new EmbeddedRevocationStore(backing.state!, ttlSeconds));
  const user = (tenantId: TenantId, subject = newId(), issuedAt = Date.now() - 1_000, sessionId = newId()): Principal => ({
    kind: 'user',
    tenantId,
    subject,
    role: 'admin' as Principal['role'],
    sessionId,
    scopes: ['*'],
    issuedAt,
    tokenId: newId(),
  });

  beforeAll(() => {
    backing = make();
  });
  afterAll(() => backing.close(tenants.flatMap((t) => [tenantKeyPrefix(t), `hotdash:t:${t}:`])));

  it('refuses a removed user’s tokens, whenever issued, and not the same user id of another tenant', async () => {
    const revocations = store();
    const [a, b] = [tenant(), tenant()];
    const victim = user(a);
    const sameIdElsewhere = user(b, victim.subject);
    expect(await revocations.isRevoked(victim)).toBe(false);
    await revocations.userRemoved(a, victim.subject);
    expect(await revocations.isRevoked(victim)).toBe(true);
    expect(await revocations.isRevoked(user(a, victim.subject, Date.now() + 60_000))).toBe(true);
    expect(await revocations.isRevoked(sameIdElsewhere)).toBe(false);
    // A later change never downgrades "removed".
    await revocations.userChanged(a, victim.subject);
    expect(await revocations.isRevoked(user(a, victim.subject, Date.now() + 60_000))).toBe(true);
  });

  it('refuses a changed user’s older tokens only, and an ended session’s tokens only', async () => {
    const revocations = store();
    const a = tenant();
    const before = user(a);
    await revocations.userChanged(a, before.subject);
    expect(await revocations.isRevoked(before)).toBe(true);
    expect(await revocations.isRevoked(user(a, before.subject, Date.now() + 1_000))).toBe(false);

    const session = user(a);
    const otherSession = user(a, session.subject);
    await revocations.sessionEnded(a, session.sessionId!);
    expect(await revocations.isRevoked(session)).toBe(true);
    expect(await revocations.isRevoked(otherSession)).toBe(false);
    expect(await revocations.isRevoked(user(tenant(), session.subject, Date.now() - 1_000, session.sessionId!))).toBe(false);
  });

  it('names markers under the tenant’s prefix for users’ tokens, none for API keys', () => {
    const revocations = store();
    const a = tenant();
    const markers = revocations.markersOf(user(a));
    expect(markers!.keys.every((k) => k.startsWith(tenantKeyPrefix(a)) || k.startsWith(`hotdash:t:${a}:`))).toBe(true);
    expect(revocations.markersOf({ ...user(a), kind: 'api-key' } as Principal)).toBeUndefined();
  });

  it('lets a marker go when its time to live is up', async () => {
    const revocations = store(1);
    const a = tenant();
    const p = user(a);
    await revocations.sessionEnded(a, p.sessionId!);
    expect(await revocations.isRevoked(p)).toBe(true);
    backing.advance(1_000);
    await waitFor('the marker expired', async () => !(await revocations.isRevoked(p)), 5_000, 50);
  });

  if (_name === 'embedded')
    it('keeps a revoked token revoked across a restart of the process', async () => {
      const a = tenant();
      const removed = user(a);
      const ended = user(a);
      await store().userRemoved(a, removed.subject);
      await store().sessionEnded(a, ended.sessionId!);
      backing.restart();
      const after = store();
      expect(await after.isRevoked(removed)).toBe(true);
      expect(await after.isRevoked(ended)).toBe(true);
      expect(await after.isRevoked(user(a))).toBe(false);
    });
});
