import { randomBytes } from 'node:crypto';
import { type Clock, type EmbeddedStateFile, embeddedLimitsAt, markersRevokedIn, type RevocationMarkers, tenantLimitsKey, type TenantLimits } from '@hotdash/platform-auth';
import { tenantKeyPrefix } from '@hotdash/platform-jobs';


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
  /**
   * Longest an ended request's slot waits for the tenant's next decision on this gateway before it
   * is given back on its own (default 20 ms): what other gateways may see of a slot after its
   * request ended. This gateway's own next decision for the tenant always sees it given back.
   */
  releaseLingerMs?: number;
}

/**
 * The port of the gateway's limits (GatewayAdmission): per tenant, requests per sliding minute and
 * requests in flight, with the token's revocation decided in the same step; per prefix (a client
 * address, an account) the same without holding a slot. Adapters: TenantRateLimiter (Redis, one
 * script per request, every gateway process shares it) and {@link MemoryRateLimiter} (embedded: this
 * process's memory). {@link rateLimitStore} chooses (HOTDASH_STATE_STORE).
 */
export abstract class RateLimitStore {
  /** A new request id (unique across processes). */
  abstract requestId(): string;
  /** Admits a tenant's request (taking an in-flight slot) or says why not; with `revocation`, a revoked token first. Throws when the store cannot be asked. */
  abstract decide(tenantId: string, requestId: string, defaults: TenantLimits, revocation?: RevocationMarkers): Promise<LimitDecision>;
  /** The same decision for something that is not a tenant, under its own key prefix (with a hash tag: `hotdash:{address:…}:`); no slot is held after it. */
  abstract decideFor(prefix: string, requestId: string, limits: TenantLimits): Promise<LimitDecision>;
  /** Gives the request's in-flight slot back (its window entry stays). */
  abstract release(tenantId: string, requestId: string): void;
  /** Gives back every slot still waiting (shutdown). */
  abstract flushReleases(): Promise<void>;
  /** Slots waiting to be given back (specs). */
  abstract get pendingReleases(): number;
}

interface Bucket {
  /** Admission times of the window, oldest first, from `head` on. */
  times: number[];
  head: number;
  /** Running requests' lease ends, by request id. */
  inFlight: Map<string, number>;
}

export interface MemoryRateLimiterOptions extends Pick<RateLimiterOptions, 'windowMs' | 'leaseMs'> {
  /** Time (specs move it); default the state file's clock. */
  now?: Clock;
  /** How often idle buckets leave memory (default 10 s). */
  sweepMs?: number;
}

/**
 * The embedded adapter of {@link RateLimitStore}: the same policy as the Redis script, in this
 * process's memory — an exact sliding window of the admitted requests (refused ones do not count),
 * in-flight slots with a lease, limits published for the tenant (the embedded state file, where
 * provisioning's TenantLimitsStore writes them) over the caller's defaults, and the token's
 * revocation markers read from the embedded state file first. Memory stays bounded: a window holds
 * at most its limit of entries, and buckets with nothing in the window and nothing in flight are
 * swept. Windows do not outlive the process (a restart starts them empty); a tenant's offboarding
 * (deletePrefix on the state file) drops its buckets.
 */
export class MemoryRateLimiter extends RateLimitStore {
  private readonly windowMs: number;
  private readonly leaseMs: number;
  private readonly now: Clock;
  private readonly tag = `${randomBytes(9).toString('base64url')}.`;
  private sequence = 0;
  private readonly buckets = new Map<string, Bucket>();
  private readonly sweeper: NodeJS.Timeout;
  private readonly unsubscribe: () => void;

  constructor(
    private readonly state: EmbeddedStateFile,
    options: MemoryRateLimiterOptions = {},
  ) {
    super();
    this.windowMs = options.windowMs ?? 60_000;
    this.leaseMs = options.leaseMs ?? 60_000;
    this.now = options.now ?? state.now;
    this.sweeper = setInterval(() => this.sweep(), options.sweepMs ?? 10_000);
    this.sweeper.unref();
    this.unsubscribe = state.onPrefixDeleted((prefix) => {
      for (const key of [...this.buckets.keys()]) if (key.startsWith(prefix)) this.buckets.delete(key);
    });
  }

  requestId(): string {
    return `${this.tag}${(++this.sequence).toString(36)}`;
  }

  async decide(tenantId: string, requestId: string, defaults: TenantLimits, revocation?: RevocationMarkers): Promise<LimitDecision> {
    if (revocation && markersRevokedIn(this.state, revocation)) return { verdict: 'revoked', limit: 0, remaining: 0, resetMs: 0, inFlightLimit: 0 };
    return this.run(tenantKeyPrefix(tenantId), tenantLimitsKey(tenantId), requestId, defaults, true);
  }

  async decideFor(prefix: string, requestId: string, limits: TenantLimits): Promise<LimitDecision> {
    return this.run(prefix, `${prefix}limits`, requestId, limits, false);
  }

  release(tenantId: string, requestId: string): void {
    this.buckets.get(tenantKeyPrefix(tenantId))?.inFlight.delete(requestId);
  }

  async flushReleases(): Promise<void> {
    // Slots go back at once: there is no round trip to save.
  }

  get pendingReleases(): number {
    return 0;
  }

  /** Buckets in memory (specs: idle ones are swept). */
  get size(): number {
    return this.buckets.size;
  }

  /** Drops what has expired, and buckets left with nothing; how many buckets went. */
  sweep(): number {
    const now = this.now();
    let n = 0;
    for (const [key, b] of this.buckets) {
      this.prune(b, now);
      for (const [id, end] of b.inFlight) if (end <= now) b.inFlight.delete(id);
      if (b.head >= b.times.length && b.inFlight.size === 0) {
        this.buckets.delete(key);
        n++;
      }
    }
    return n;
  }

  /** Stops the sweeper (the process's limiter is never closed; specs' are). */
  close(): void {
    clearInterval(this.sweeper);
    this.unsubscribe();
  }

  private prune(b: Bucket, now: number): void {
    const edge = now - this.windowMs;
    while (b.head < b.times.length && b.times[b.head]! <= edge) b.head++;
    if (b.head > 1_024 && b.head * 2 > b.times.length) {
      b.times = b.times.slice(b.head);
      b.head = 0;
    }
  }

  private run(prefix: string, limitsKey: string, requestId: string, defaults: TenantLimits, hold: boolean): LimitDecision {
    const now = this.now();
    const published = embeddedLimitsAt(this.state, limitsKey);
    const rpm = published.requestsPerMinute ?? defaults.requestsPerMinute;
    const maxIn = published.inFlight ?? defaults.inFlight;
    let b = this.buckets.get(prefix);
    if (!b) {
      b = { times: [], head: 0, inFlight: new Map() };
      this.buckets.set(prefix, b);
    }
    this.prune(b, now);
    const used = b.times.length - b.head;
    if (used >= rpm) return { verdict: 'rate-limited', limit: rpm, remaining: 0, resetMs: Math.max(0, used > 0 ? b.times[b.head]! + this.windowMs - now : this.windowMs), inFlightLimit: maxIn };
    if (b.inFlight.size >= maxIn) for (const [id, end] of b.inFlight) if (end <= now) b.inFlight.delete(id);
    if (b.inFlight.size >= maxIn) return { verdict: 'too-many-in-flight', limit: rpm, remaining: Math.max(0, rpm - used), resetMs: 1000, inFlightLimit: maxIn };
    b.times.push(now);
    if (hold) b.inFlight.set(requestId, now + this.leaseMs);
    return { verdict: 'admitted', limit: rpm, remaining: Math.max(0, rpm - used - 1), resetMs: Math.max(0, b.times[b.head]! + this.windowMs - now), inFlightLimit: maxIn };
  }
}
