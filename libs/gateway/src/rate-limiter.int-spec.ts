// The tenant limits' in-flight slots on the real Redis, now that a slot is given back with the
// tenant's next decision (the decide script removes the ended requests' slots before it counts):
// a slot goes back exactly once, before the next decision counts, with no Redis command of its
// own; without a next decision it goes back on its own after the linger time; a slot whose release
// is lost (the gateway died) ends with its lease; the slots a failed decision carried are kept.
import Redis from 'ioredis';
import { loadConfig } from '@hotdash/platform-config';
import { newId } from '@hotdash/platform-db';
import { tenantKeyPrefix } from '@hotdash/platform-jobs';
import { waitFor } from '@hotdash/testing';
import { TenantRateLimiter } from './rate-limiter';

jest.setTimeout(30_000);

const config = loadConfig();
const redis = new Redis({ host: config.redis.host, port: config.redis.port });
const tenants: string[] = [];
const limits = { requestsPerMinute: 1_000, inFlight: 1 };

function tenant(): { id: string; window: string; inFlight: string } {
  const id = newId();
  tenants.push(id);
  return { id, window: `${tenantKeyPrefix(id)}rl:window`, inFlight: `${tenantKeyPrefix(id)}rl:inflight` };
}

afterAll(async () => {
  for (const t of tenants) await redis.del(`${tenantKeyPrefix(t)}rl:window`, `${tenantKeyPrefix(t)}rl:inflight`);
  redis.disconnect();
});

it('gives an ended request’s slot back with the tenant’s next decision, once, before it counts, and without a command of its own', async () => {
  // Every ZREM the limiter sends on its own (its flushes pipeline them).
  const sent: unknown[][] = [];
  const zrem = jest.spyOn(redis, 'zrem');
  const pipelineOf = redis.pipeline.bind(redis);
  const pipeline = jest.spyOn(redis, 'pipeline').mockImplementation((...args: Parameters<Redis['pipeline']>) => {
    const p = pipelineOf(...args);
    const add = p.zrem.bind(p) as (...a: unknown[]) => typeof p;
    (p as unknown as { zrem: (...a: unknown[]) => typeof p }).zrem = (...a: unknown[]) => (sent.push(a), add(...a));
    return p;
  });
  try {
    // A linger far beyond the test: nothing but the next decision can give the slot back.
    const limiter = new TenantRateLimiter(redis, { releaseLingerMs: 60_000 });
    const t = tenant();
    const other = tenant();
    const [a, b, c] = [limiter.requestId(), limiter.requestId(), limiter.requestId()];
    expect(new Set([a, b, c]).size).toBe(3);

    expect((await limiter.decide(t.id, a, limits)).verdict).toBe('admitted');
    expect((await limiter.decide(t.id, b, limits)).verdict).toBe('too-many-in-flight'); // a holds the one slot
    limiter.release(t.id, a);
    expect(limiter.pendingReleases).toBe(1);
    // Another tenant's decision does not carry it (its own keys only).
    expect((await limiter.decide(other.id, limiter.requestId(), limits)).verdict).toBe('admitted');
    expect(limiter.pendingReleases).toBe(1);
    expect(await redis.zscore(t.inFlight, a)).not.toBeNull();

    // The tenant's next decision gives a's slot back before it counts: c is admitted into it.
    expect((await limiter.decide(t.id, c, limits)).verdict).toBe('admitted');
    expect(limiter.pendingReleases).toBe(0);
    expect(await redis.zscore(t.inFlight, a)).toBeNull();
    expect(await redis.zrange(t.inFlight, 0, -1)).toEqual([c]);
    // The window keeps what was admitted (a and c; b was refused and is not counted).
    expect((await redis.zrange(t.window, 0, -1)).sort()).toEqual([a, c].sort());

    // Given back once: a flush has nothing of a to send; c's release goes in one ZREM, once.
    limiter.release(t.id, c);
    await limiter.flushReleases();
    await limiter.flushReleases();
    expect(sent).toEqual([[t.inFlight, c]]);
    expect(zrem).not.toHaveBeenCalled();
    expect(pipeline).toHaveBeenCalledTimes(1);
    expect(await redis.zcard(t.inFlight)).toBe(0);
  } finally {
    zrem.mockRestore();
    pipeline.mockRestore();
  }
});

it('gives a slot back on its own when no decision of the tenant follows', async () => {
  const limiter = new TenantRateLimiter(redis, { releaseLingerMs: 20 });
  const t = tenant();
  const a = limiter.requestId();
  expect((await limiter.decide(t.id, a, limits)).verdict).toBe('admitted');
  limiter.release(t.id, a);
  await waitFor('the slot to go back after the linger time', async () => (await redis.zscore(t.inFlight, a)) === null, 5_000, 10);
  expect(limiter.pendingReleases).toBe(0);
});

it('ends a slot whose release was lost (its gateway died) when its lease ends', async () => {
  const t = tenant();
  const leaseMs = 400;
  const crashed = new TenantRateLimiter(redis, { leaseMs });
  expect((await crashed.decide(t.id, crashed.requestId(), limits)).verdict).toBe('admitted');
  const decidedAt = Date.now();
  // The gateway dies here: the release is never sent. Another gateway sees the slot held…
  const survivor = new TenantRateLimiter(redis, { leaseMs });
  expect((await survivor.decide(t.id, survivor.requestId(), limits)).verdict).toBe('too-many-in-flight');
  // …until the lease ends, and then gets it.
  await waitFor('the lease to end', async () => (await survivor.decide(t.id, survivor.requestId(), limits)).verdict === 'admitted', 10_000, 50);
  expect(Date.now() - decidedAt).toBeGreaterThanOrEqual(leaseMs - 50); // Redis's clock against ours
});

it('keeps the slots a failed decision carried, and gives them back with the next one', async () => {
  const t = tenant();
  const holder = new TenantRateLimiter(redis, { releaseLingerMs: 60_000 });
  const a = holder.requestId();
  expect((await holder.decide(t.id, a, limits)).verdict).toBe('admitted');
  // A gateway whose Redis connection is down: the decision fails, the release it carried is kept.
  const down = new Redis({ host: config.redis.host, port: config.redis.port, lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0 });
  try {
    const limiter = new TenantRateLimiter(down, { releaseLingerMs: 60_000 });
    limiter.release(t.id, a);
    await expect(limiter.decide(t.id, limiter.requestId(), limits)).rejects.toThrow();
    expect(limiter.pendingReleases).toBe(1);
    // The failed command started the connection (lazyConnect): once it is up, the next decision runs.
    await waitFor('the connection', async () => down.status === 'ready', 5_000, 10);
    const b = limiter.requestId();
    expect((await limiter.decide(t.id, b, limits)).verdict).toBe('admitted'); // a's slot went back first
    expect(limiter.pendingReleases).toBe(0);
    expect(await redis.zrange(t.inFlight, 0, -1)).toEqual([b]);
  } finally {
    down.disconnect();
  }
});
