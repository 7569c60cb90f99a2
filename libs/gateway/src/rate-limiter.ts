import { randomBytes } from 'node:crypto';
import { type RedisClient, tenantKeyPrefix } from '@hotdash/platform-jobs';
import { embeddedStateFile, type RevocationMarkers, stateStoreMode, tenantLimitsKey, TenantLimits } from '@hotdash/platform-auth';
import { type LimitDecision, MemoryRateLimiter, RateLimitStore, type RateLimiterOptions } from './rate-limit-store';

export type { LimitDecision, RateLimiterOptions } from './rate-limit-store';

/**
 * One script per request decides both limits of the tenant, atomically, for every gateway sharing
 * the Redis:
 * - requests per minute, an exact sliding window: the admitted requests of the last 60 s are a
 *   sorted set scored by time; a request is admitted while fewer than the limit are in it (refused
 *   ones are not counted);
 * - requests in flight: a sorted set of the running requests scored by lease end (a gateway that
 *   dies gives its slots back when the lease ends); a slot is given back when its response is sent:
 *   the slots of the tenant's requests that ended since its previous decision on this gateway are
 *   removed first, by the same script (ARGV[8] on), before anything is counted.
 * Limits come from the tenant's limits hash (written by provisioning on every plan change), or the
 * caller's defaults when there is none.
 * With a user's token, its revocation markers are read first in the same script (the one Redis round
 * trip of a request): a revoked token is refused before it counts. Markers are KEYS[4..7] (user and
 * session, then the same under the tenant's key prefix of before issue 15: RevocationMarkers).
 * Every key is under one prefix with a hash tag (the tenant's, or decideFor's), so on a Redis Cluster
 * the script touches one slot.
 * Returns {verdict (1 admitted, 0 rate-limited, 2 too many in flight, 3 revoked), limit, remaining, reset ms, in-flight limit}.
 */
const DECIDE = `
if #ARGV > 7 then redis.call('ZREM', KEYS[2], unpack(ARGV, 8)) end
if ARGV[6] == '1' then
  for i = 4, 6, 2 do
    if redis.call('EXISTS', KEYS[i + 1]) == 1 then return {3, 0, 0, 0, 0} end
    local user = redis.call('GET', KEYS[i])
    if user == 'removed' or (user and tonumber(user) >= tonumber(ARGV[7])) then return {3, 0, 0, 0, 0} end
  end
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lim = redis.call('HMGET', KEYS[3], 'rpm', 'inflight')
local rpm = tonumber(lim[1]) or tonumber(ARGV[2])
local maxin = tonumber(lim[2]) or tonumber(ARGV[3])
local window = tonumber(ARGV[4])
local lease = tonumber(ARGV[5])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local used = redis.call('ZCARD', KEYS[1])
if used >= rpm then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  local reset = window
  if oldest[2] then reset = tonumber(oldest[2]) + window - now end
  return {0, rpm, 0, reset, maxin}
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
if redis.call('ZCARD', KEYS[2]) >= maxin then
  return {2, rpm, rpm - used, 1000, maxin}
end
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('PEXPIRE', KEYS[1], window)
redis.call('ZADD', KEYS[2], now + lease, ARGV[1])
redis.call('PEXPIRE', KEYS[2], lease)
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {1, rpm, rpm - used - 1, tonumber(first[2]) + window - now, maxin}`;

/** Ended requests' slots one decision carries at most (the rest ride on the next one, or on the linger flush). */
const MAX_RELEASES_PER_DECISION = 200;

interface TenantKeys {
  window: string;
  inFlight: string;
  limits: string;
}

/**
 * The Redis adapter of {@link RateLimitStore} (the embedded one is MemoryRateLimiter; rateLimitStore
 * below chooses). The tenant limits of every gateway process, in Redis: one script per request decides (and, for
 * the tenant's requests that ended meanwhile, gives their in-flight slots back in the same call).
 */
export class TenantRateLimiter extends RateLimitStore {
  private readonly windowMs: number;
  private readonly leaseMs: number;
  private readonly lingerMs: number;
  /** Request ids are unique per process (a random tag) and short: they are members of the tenant's sorted sets. */
  private readonly tag = `${randomBytes(9).toString('base64url')}.`;
  private sequence = 0;
  private readonly tenantKeys = new Map<string, TenantKeys>();
  /** Ended requests whose slot is not given back yet, by in-flight key. */
  private pending = new Map<string, string[]>();
  private lingering: NodeJS.Timeout | undefined;

  constructor(
    private readonly redis: RedisClient,
    options: RateLimiterOptions = {},
  ) {
    super();
    this.windowMs = options.windowMs ?? 60_000;
    this.leaseMs = options.leaseMs ?? 60_000;
    this.lingerMs = options.releaseLingerMs ?? 20;
    redis.defineCommand('hotdashRateDecide', { numberOfKeys: 7, lua: DECIDE });
  }

  /** A new request id (unique across gateways: a per-process random tag and a counter). */
  requestId(): string {
    return `${this.tag}${(++this.sequence).toString(36)}`;
  }

  private keys(tenantId: string): TenantKeys {
    let k = this.tenantKeys.get(tenantId);
    if (!k) {
      // Bounded: a busy gateway sees many tenants, and the strings are cheap to make again.
      if (this.tenantKeys.size >= 10_000) this.tenantKeys.clear();
      const p = tenantKeyPrefix(tenantId);
      k = { window: `${p}rl:window`, inFlight: `${p}rl:inflight`, limits: tenantLimitsKey(tenantId) };
      this.tenantKeys.set(tenantId, k);
    }
    return k;
  }

  /**
   * Admits a request (and takes an in-flight slot) or says why not; with `revocation`, a revoked
   * token first. The slots of the tenant's requests released since its previous decision go back
   * first, in the same script. Throws when Redis cannot be asked (the slots it carried are kept for
   * the next call: a release is never lost while this process lives).
   */
  decide(tenantId: string, requestId: string, defaults: TenantLimits, revocation?: RevocationMarkers): Promise<LimitDecision> {
    const k = this.keys(tenantId);
    return this.run(k.window, k.inFlight, k.limits, requestId, defaults, revocation);
  }

  /**
   * The same decision for something that is not a tenant (a client address, a login name on the
   * public routes), under its own key prefix; the slot is not held after the decision. The prefix
   * must carry a hash tag (`hotdash:{address:…}:`): on a Redis Cluster the script's keys share a slot.
   */
  async decideFor(prefix: string, requestId: string, limits: TenantLimits): Promise<LimitDecision> {
    const inFlight = `${prefix}rl:inflight`;
    const d = await this.run(`${prefix}rl:window`, inFlight, `${prefix}limits`, requestId, limits);
    if (d.verdict === 'admitted') await this.redis.zrem(inFlight, requestId);
    return d;
  }

  private async run(window: string, inFlight: string, limits: string, requestId: string, defaults: TenantLimits, revocation?: RevocationMarkers): Promise<LimitDecision> {
    const run = (this.redis as unknown as Record<string, (...args: unknown[]) => Promise<number[]>>)['hotdashRateDecide']!;
    const released = this.take(inFlight);
    // Without a token to check, the marker keys are the window's (never read).
    const args: unknown[] = [window, inFlight, limits, ...(revocation?.keys ?? [window, window, window, window])];
    args.push(requestId, defaults.requestsPerMinute, defaults.inFlight, this.windowMs, this.leaseMs, revocation ? '1' : '0', revocation?.issuedAt ?? 0);
    if (released) for (const id of released) args.push(id);
    let reply: number[];
    try {
      reply = await run.apply(this.redis, args);
    } catch (err) {
      // Whether the script ran is unknown: the slots go back with the next call (giving back one twice does nothing).
      if (released) this.requeue(inFlight, released);
      throw err;
    }
    const [v, limit, remaining, reset, inFlightLimit] = reply;
    const verdict = v === 1 ? 'admitted' : v === 0 ? 'rate-limited' : v === 3 ? 'revoked' : 'too-many-in-flight';
    return { verdict, limit: limit!, remaining: Math.max(0, remaining!), resetMs: Math.max(0, reset!), inFlightLimit: inFlightLimit! };
  }

  /**
   * Gives the request's in-flight slot back (its window entry stays: it was a request). The slot
   * goes back with the tenant's next decision on this gateway (the script removes it before it
   * counts), or on its own after `releaseLingerMs` if none comes: under load a release costs no
   * Redis command of its own. A gateway that dies before giving it back leaves it to the lease.
   */
  release(tenantId: string, requestId: string): void {
    const key = this.keys(tenantId).inFlight;
    const ids = this.pending.get(key);
    if (ids) ids.push(requestId);
    else this.pending.set(key, [requestId]);
    this.schedule(this.lingerMs);
  }

  /** Slots waiting to be given back, in all (specs). */
  get pendingReleases(): number {
    let n = 0;
    for (const ids of this.pending.values()) n += ids.length;
    return n;
  }

  /**
   * Gives back every slot still waiting, one ZREM per tenant, all in one write (the linger timer,
   * and shutdown). What cannot be sent is kept for the next call; the lease ends it if none comes.
   */
  async flushReleases(): Promise<void> {
    clearTimeout(this.lingering);
    this.lingering = undefined;
    const batch = this.pending;
    if (batch.size === 0) return;
    this.pending = new Map();
    let results: [Error | null, unknown][] | null;
    try {
      if (this.redis.isCluster) {
        // A cluster pipeline must stay on one node: one ZREM per tenant, sent together.
        results = await Promise.all([...batch].map(([key, ids]) => this.redis.zrem(key, ...ids).then((n): [null, unknown] => [null, n], (err: Error): [Error, null] => [err, null])));
      } else {
        const pipeline = this.redis.pipeline();
        for (const [key, ids] of batch) pipeline.zrem(key, ...ids);
        results = await pipeline.exec();
      }
    } catch (err) {
      for (const [key, ids] of batch) this.requeue(key, ids);
      throw err;
    }
    let failed: Error | undefined;
    [...batch].forEach(([key, ids], i) => {
      const err = results?.[i]?.[0] ?? (results ? null : new Error('no answer'));
      if (err) {
        this.requeue(key, ids);
        failed ??= err;
      }
    });
    if (failed) throw failed;
  }

  /** The slots waiting for `inFlight` (at most MAX_RELEASES_PER_DECISION), taken off the waiting list. */
  private take(inFlight: string): string[] | undefined {
    const ids = this.pending.get(inFlight);
    if (!ids) return undefined;
    if (ids.length <= MAX_RELEASES_PER_DECISION) {
      this.pending.delete(inFlight);
      return ids;
    }
    return ids.splice(0, MAX_RELEASES_PER_DECISION);
  }

  private requeue(inFlight: string, ids: string[]): void {
    const waiting = this.pending.get(inFlight);
    if (waiting) waiting.push(...ids);
    else this.pending.set(inFlight, ids);
    // Redis is away: not sooner than in a second (the next decision may carry them before that).
    this.schedule(Math.max(this.lingerMs, 1_000));
  }

  /** Flushes what waits in `ms` unless a flush is already due. */
  private schedule(ms: number): void {
    if (this.lingering) return;
    this.lingering = setTimeout(() => void this.flushReleases().catch(() => undefined /* kept for the next call */), ms);
    this.lingering.unref();
  }
}

const memoryLimiters = new WeakMap<object, MemoryRateLimiter>();

/**
 * The gateway's RateLimitStore as HOTDASH_STATE_STORE says: the Redis script over `redis`
 * ({@link TenantRateLimiter}), or the process's one in-memory limiter (shared by every module of the
 * embedded process).
 */
export function rateLimitStore(redis: RedisClient | null | undefined): RateLimitStore {
  if (stateStoreMode() === 'embedded') {
    const state = embeddedStateFile();
    let limiter = memoryLimiters.get(state);
    if (!limiter) {
      limiter = new MemoryRateLimiter(state);
      memoryLimiters.set(state, limiter);
    }
    return limiter;
  }
  if (!redis) throw new Error('rate limits: HOTDASH_STATE_STORE=redis needs a Redis connection');
  return new TenantRateLimiter(redis);
}
