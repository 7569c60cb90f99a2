// The RateLimitStore port's contract, on each adapter: Redis (single node and cluster: the one
// script of TenantRateLimiter) and the embedded process's memory (MemoryRateLimiter). A tenant gets
// its requests per window and no more, and tenant B's requests never use tenant A's (the attacker's
// side); the window slides (no fixed sleeps: Redis is polled, the embedded clock moved); published
// limits win over the defaults; in-flight slots are held and given back; a revoked token is refused
// before it counts, in the same decision; per-address limits hold no slot. Embedded only: idle
// buckets are swept (memory stays bounded), and a tenant's erasure drops its windows.
import type { TenantId } from '@hotdash/contracts';
import { EmbeddedRevocationStore, EmbeddedTenantLimitsStore, RedisTenantLimitsStore, RevocationList, type RevocationStore, type TenantLimitsStore, type Principal } from '@hotdash/platform-auth';
import { newId } from '@hotdash/platform-db';
import { tenantKeyPrefix } from '@hotdash/platform-jobs';
import { STATE_BACKINGS, type StateBacking, waitFor } from '@hotdash/testing';
import { MemoryRateLimiter, type RateLimitStore } from './rate-limit-store';
import { TenantRateLimiter } from './rate-limiter';

jest.setTimeout(30_000);

const WINDOW_MS = 1_000;

describe.each(STATE_BACKINGS)('RateLimitStore on %s', (name, make) => {
  let backing: StateBacking;
  const tenants: string[] = [];
  const prefixes: string[] = [];
  const limiters: RateLimitStore[] = [];
  const tenant = (): TenantId => {
    const id = newId() as TenantId;
    tenants.push(id);
    return id;
  };
  const limiter = (options: { leaseMs?: number } = {}): RateLimitStore => {
    const l = backing.redis ? new TenantRateLimiter(backing.redis, { windowMs: WINDOW_MS, releaseLingerMs: 5, ...options }) : new MemoryRateLimiter(backing.state!, { windowMs: WINDOW_MS, ...options });
    limiters.push(l);
    return l;
  };
  const limits = (): TenantLimitsStore => (backing.redis ? new RedisTenantLimitsStore(backing.redis) : new EmbeddedTenantLimitsStore(backing.state!));
  const revocations = (): RevocationStore => (backing.redis ? new RevocationList(backing.redis) : new EmbeddedRevocationStore(backing.state!));
  const verdicts = async (l: RateLimitStore, t: string, n: number, defaults = { requestsPerMinute: 3, inFlight: 100 }) => {
    const out: string[] = [];
    for (let i = 0; i < n; i++) out.push((await l.decide(t, l.requestId(), defaults)).verdict);
    return out;
  };

  beforeAll(() => {
    backing = make();
  });
  afterAll(async () => {
    for (const l of limiters) {
      await l.flushReleases().catch(() => undefined);
      if (l instanceof MemoryRateLimiter) l.close();
    }
    await backing.close([...tenants.map(tenantKeyPrefix), ...prefixes]);
  });

  it('admits a tenant’s limit per window and no more, without touching another tenant’s', async () => {
    const l = limiter();
    const [a, b] = [tenant(), tenant()];
    expect(await verdicts(l, a, 4)).toEqual(['admitted', 'admitted', 'admitted', 'rate-limited']);
    const refused = await l.decide(a, l.requestId(), { requestsPerMinute: 3, inFlight: 100 });
    expect(refused).toMatchObject({ verdict: 'rate-limited', limit: 3, remaining: 0 });
    expect(refused.resetMs).toBeLessThanOrEqual(WINDOW_MS);
    // Tenant B, whatever A did: its own window.
    expect(await verdicts(l, b, 3)).toEqual(['admitted', 'admitted', 'admitted']);
    // The window slides: A is admitted again once its first requests leave it.
    backing.advance(WINDOW_MS);
    await waitFor('the window slid', async () => (await l.decide(a, l.requestId(), { requestsPerMinute: 3, inFlight: 100 })).verdict === 'admitted', 5_000, 50);
  });

  it('judges by the limits published for the tenant over the defaults', async () => {
    const l = limiter();
    const [a, b] = [tenant(), tenant()];
    await limits().publish(a, { requestsPerMinute: 1, inFlight: 100 });
    expect(await verdicts(l, a, 2, { requestsPerMinute: 50, inFlight: 100 })).toEqual(['admitted', 'rate-limited']);
    expect(await verdicts(l, b, 2, { requestsPerMinute: 50, inFlight: 100 })).toEqual(['admitted', 'admitted']);
  });

  it('holds in-flight slots until they are given back, or their lease ends', async () => {
    const l = limiter({ leaseMs: 1_000 });
    const [a, b] = [tenant(), tenant()];
    const one = { requestsPerMinute: 100, inFlight: 1 };
    const first = l.requestId();
    expect((await l.decide(a, first, one)).verdict).toBe('admitted');
    expect((await l.decide(a, l.requestId(), one)).verdict).toBe('too-many-in-flight');
    expect((await l.decide(b, l.requestId(), one)).verdict).toBe('admitted');
    l.release(a, first);
    expect((await l.decide(a, l.requestId(), one)).verdict).toBe('admitted'); // never released: only its lease ends it
    expect((await l.decide(a, l.requestId(), one)).verdict).toBe('too-many-in-flight');
    backing.advance(1_000);
    await waitFor('the lease ended', async () => (await l.decide(a, l.requestId(), one)).verdict === 'admitted', 5_000, 50);
  });

  it('refuses a revoked token before it counts, in the same decision', async () => {
    const l = limiter();
    const a = tenant();
    const principal: Principal = { kind: 'user', tenantId: a, subject: newId(), role: 'admin' as Principal['role'], sessionId: newId(), scopes: ['*'], issuedAt: Date.now() - 1_000, tokenId: newId() };
    const r = revocations();
    const defaults = { requestsPerMinute: 1, inFlight: 100 };
    await r.sessionEnded(a, principal.sessionId!);
    expect((await l.decide(a, l.requestId(), defaults, r.markersOf(principal))).verdict).toBe('revoked');
    // Tenant B's token of the same user and session ids is not refused.
    const b = tenant();
    expect((await l.decide(b, l.requestId(), defaults, r.markersOf({ ...principal, tenantId: b }))).verdict).toBe('admitted');
    // The refusal did not count: A's one request of the window is still there for a valid token.
    expect((await l.decide(a, l.requestId(), defaults, r.markersOf({ ...principal, sessionId: newId() }))).verdict).toBe('admitted');
  });

  it('limits a prefix (a client address) without holding a slot', async () => {
    const l = limiter();
    const prefix = `hotdash:{address:${newId()}}:`;
    prefixes.push(prefix);
    const perAddress = { requestsPerMinute: 2, inFlight: 1 };
    expect((await l.decideFor(prefix, l.requestId(), perAddress)).verdict).toBe('admitted');
    expect((await l.decideFor(prefix, l.requestId(), perAddress)).verdict).toBe('admitted'); // the first held no slot
    expect((await l.decideFor(prefix, l.requestId(), perAddress)).verdict).toBe('rate-limited');
    expect((await l.decideFor(`hotdash:{address:${newId()}}:`, l.requestId(), perAddress)).verdict).toBe('admitted');
  });

  if (name === 'embedded')
    it('sweeps idle buckets (bounded memory) and drops a tenant’s windows with its erasure', async () => {
      const l = limiter() as MemoryRateLimiter;
      const many = Array.from({ length: 50 }, tenant);
      for (const t of many) await l.decide(t, l.requestId(), { requestsPerMinute: 10, inFlight: 10 });
      const before = l.size;
      expect(before).toBeGreaterThanOrEqual(50);
      backing.advance(61_000); // past the window and every lease
      l.sweep();
      expect(l.size).toBe(0);
      const a = tenant();
      expect(await verdicts(l, a, 4)).toEqual(['admitted', 'admitted', 'admitted', 'rate-limited']);
      backing.state!.deletePrefix(tenantKeyPrefix(a));
      expect(await verdicts(l, a, 1)).toEqual(['admitted']);
    });
});
