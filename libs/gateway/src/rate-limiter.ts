import type Redis from 'ioredis';
import { tenantKeyPrefix } from '@hotdash/platform-jobs';
import { tenantLimitsKey, TenantLimits } from '@hotdash/platform-auth';

/**
 * One script per request decides both limits of the tenant, atomically, for every gateway sharing
 * the Redis:
 * - requests per minute, an exact sliding window: the admitted requests of the last 60 s are a
 *   sorted set scored by time; a request is admitted while fewer than the limit are in it (refused
 *   ones are not counted);
 * - requests in flight: a sorted set of the running requests scored by lease end (a gateway that
 *   dies gives its slots back when the lease ends); released when the response is sent.
 * Limits come from the tenant's limits hash (written by provisioning on every plan change), or the
 * caller's defaults when there is none.
 * With a user's token, its revocation markers are read first in the same script (the one Redis round
 * trip of a request): a revoked token is refused before it counts.
 * Returns {verdict (1 admitted, 0 rate-limited, 2 too many in flight, 3 revoked), limit, remaining, reset ms, in-flight limit}.
 */
const DECIDE = `
if ARGV[6] == '1' then
  if redis.call('EXISTS', KEYS[5]) == 1 then return {3, 0, 0, 0, 0} end
  local user = redis.call('GET', KEYS[4])
  if user == 'removed' or (user and tonumber(user) >= tonumber(ARGV[7])) then return {3, 0, 0, 0, 0} end
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

export interface LimitDecision {
  verdict: 'admitted' | 'rate-limited' | 'too-many-in-flight' | 'revoked';
  limit: number;
  remaining: number;
  /** Milliseconds until the window frees a request (rate limit) or a retry makes sense. */
  resetMs: number;
  inFlightLimit: number;
}

export interface RateLimiterOptions {
  windowMs?: number;
  /** Longest a request holds an in-flight slot if its gateway dies (default 60 s). */
  leaseMs?: number;
}

export class TenantRateLimiter {
  private readonly windowMs: number;
  private readonly leaseMs: number;

  constructor(
    private readonly redis: Redis,
    options: RateLimiterOptions = {},
  ) {
    this.windowMs = options.windowMs ?? 60_000;
    this.leaseMs = options.leaseMs ?? 60_000;
    redis.defineCommand('hotdashRateDecide', { numberOfKeys: 5, lua: DECIDE });
  }

  private keys(tenantId: string): [string, string, string] {
    const p = tenantKeyPrefix(tenantId);
    return [`${p}rl:window`, `${p}rl:inflight`, tenantLimitsKey(tenantId)];
  }

  /**
   * Admits a request (and takes an in-flight slot) or says why not; with `revocation`, a revoked
   * token first. Throws when Redis cannot be asked.
   */
  decide(tenantId: string, requestId: string, defaults: TenantLimits, revocation?: { keys: [string, string]; issuedAt: number }): Promise<LimitDecision> {
    return this.run(this.keys(tenantId), requestId, defaults, revocation);
  }

  /**
   * The same decision for something that is not a tenant (a client address, a login name on the
   * public routes), under its own key prefix; the slot is not held after the decision.
   */
  async decideFor(prefix: string, requestId: string, limits: TenantLimits): Promise<LimitDecision> {
    const keys: [string, string, string] = [`${prefix}rl:window`, `${prefix}rl:inflight`, `${prefix}limits`];
    const d = await this.run(keys, requestId, limits);
    if (d.verdict === 'admitted') await this.redis.zrem(keys[1], requestId);
    return d;
  }

  private async run(keys: [string, string, string], requestId: string, defaults: TenantLimits, revocation?: { keys: [string, string]; issuedAt: number }): Promise<LimitDecision> {
    const run = (this.redis as unknown as Record<string, (...args: unknown[]) => Promise<number[]>>)['hotdashRateDecide']!;
    // Without a token to check, the marker keys are the window's (never read).
    const markers = revocation?.keys ?? [keys[0], keys[0]];
    const [v, limit, remaining, reset, inFlight] = await run.call(this.redis, ...keys, ...markers, requestId, defaults.requestsPerMinute, defaults.inFlight, this.windowMs, this.leaseMs, revocation ? '1' : '0', revocation?.issuedAt ?? 0);
    const verdict = v === 1 ? 'admitted' : v === 0 ? 'rate-limited' : v === 3 ? 'revoked' : 'too-many-in-flight';
    return { verdict, limit: limit!, remaining: Math.max(0, remaining!), resetMs: Math.max(0, reset!), inFlightLimit: inFlight! };
  }

  /** In-flight slots to give back at the end of this turn of the event loop, by in-flight key. */
  private releases = new Map<string, string[]>();
  private releasing: Promise<void> | undefined;

  /**
   * Gives the request's in-flight slot back (its window entry stays: it was a request). The slots
   * released in one turn of the event loop go back together, one ZREM per tenant: under load most
   * requests end next to others, and a command per request was a tenth of the gateway's Redis work.
   */
  release(tenantId: string, requestId: string): Promise<void> {
    const key = this.keys(tenantId)[1];
    const ids = this.releases.get(key);
    if (ids) ids.push(requestId);
    else this.releases.set(key, [requestId]);
    this.releasing ??= new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
      const batch = this.releases;
      this.releases = new Map();
      this.releasing = undefined;
      return Promise.all([...batch].map(([k, members]) => this.redis.zrem(k, ...members))).then(() => undefined);
    });
    return this.releasing;
  }
}
