import { RetryLater, type JobProcessor } from './port/jobs.port';
import { tenantKeyPrefix } from './queues';
import type { RedisClient } from './redis';

/**
 * Per-tenant concurrency caps for BullMQ work (DESIGN.md §5): one tenant's 10,000 documents must
 * not take every worker slot while other tenants wait.
 *
 * Each tenant has, per queue, a Redis sorted set of the jobs it is running, scored by when their
 * lease ends. Taking a slot is one script: drop expired leases (a worker that died holding one gives
 * it back once its lease ends), then admit the job if it already holds a slot or the tenant runs
 * fewer than its cap. The count holds across every worker process sharing the Redis.
 *
 * A job that finds its tenant at the cap is moved back to the delayed set for a short while and
 * BullMQ goes on with the next job in the queue, usually another tenant's: the capped tenant's
 * backlog cannot starve the others. Keys live under the tenant's prefix, so offboarding erases them.
 */
const ACQUIRE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local cap = tonumber(ARGV[2])
local lease = tonumber(ARGV[3])
if redis.call('ZSCORE', KEYS[1], ARGV[1]) or redis.call('ZCARD', KEYS[1]) < cap then
  redis.call('ZADD', KEYS[1], now + lease, ARGV[1])
  redis.call('PEXPIRE', KEYS[1], lease)
  return 1
end
return 0`;

export interface TenantLimiterOptions {
  /** Jobs of one tenant running at once on this queue, across all workers; a number or per tenant (by plan). */
  cap: number | ((tenantId: string) => number | Promise<number>);
  /** How long a slot is held without release before it is given back (a crashed worker); default 10 min. Keep above the longest job. */
  leaseMs?: number;
  /** How long a job that found its tenant at the cap waits before it is tried again; default 200 ms. */
  retryDelayMs?: number;
}

export class TenantConcurrencyLimiter implements TenantSlots {
  private readonly leaseMs: number;
  private readonly retryDelayMs: number;

  constructor(
    private readonly redis: RedisClient,
    private readonly queueName: string,
    private readonly options: TenantLimiterOptions,
  ) {
    this.leaseMs = options.leaseMs ?? 600_000;
    this.retryDelayMs = options.retryDelayMs ?? 200;
    redis.defineCommand('hotdashTenantSlot', { numberOfKeys: 1, lua: ACQUIRE });
  }

  /** The Redis key holding the tenant's running jobs on this queue. */
  key(tenantId: string): string {
    return `${tenantKeyPrefix(tenantId)}jobs:${this.queueName}:running`;
  }

  /** Takes a slot for `holder` (a job id); true when admitted. Taking it again while held renews the lease. */
  async acquire(tenantId: string, holder: string): Promise<boolean> {
    const cap = typeof this.options.cap === 'function' ? await this.options.cap(tenantId) : this.options.cap;
    const run = (this.redis as unknown as Record<string, (...args: unknown[]) => Promise<number>>)['hotdashTenantSlot']!;
    return (await run.call(this.redis, this.key(tenantId), holder, Math.max(1, Math.floor(cap)), this.leaseMs)) === 1;
  }

  async release(tenantId: string, holder: string): Promise<void> {
    await this.redis.zrem(this.key(tenantId), holder);
  }

  /** Jobs of the tenant holding a slot now (leases not yet expired). */
  async running(tenantId: string): Promise<number> {
    return this.redis.zcount(this.key(tenantId), Date.now(), '+inf');
  }

  /**
   * Wraps a jobs-port processor (either adapter): the job runs only in a slot of its tenant; at the
   * cap it is put back (RetryLater) without using a try. Jobs without a tenant run uncapped.
   */
  wrapJob<D extends { tenantId?: string | null }, R>(processor: JobProcessor<D, R>): JobProcessor<D, R> {
    return limitPerTenant(this, this.retryDelayMs, processor);
  }
}

/** Takes and gives back a tenant's job slots (the Redis limiter above, or one process's counts). */
export interface TenantSlots {
  acquire(tenantId: string, holder: string): Promise<boolean>;
  release(tenantId: string, holder: string): Promise<void>;
  /** Jobs of the tenant holding a slot now. */
  running(tenantId: string): Promise<number>;
  /** Wraps a jobs-port processor: the job runs in a slot of its tenant, or is put back without using a try. */
  wrapJob<D extends { tenantId?: string | null }, R>(processor: JobProcessor<D, R>): JobProcessor<D, R>;
}

/**
 * The embedded mode's per-tenant caps (issue 18): one process runs every job, so the slots are
 * counted in its memory. A process that dies holds nothing after it starts again.
 */
export class InProcessTenantSlots implements TenantSlots {
  private readonly held = new Map<string, Set<string>>();

  constructor(
    private readonly cap: TenantLimiterOptions['cap'],
    private readonly retryDelayMs = 200,
  ) {}

  async acquire(tenantId: string, holder: string): Promise<boolean> {
    const cap = Math.max(1, Math.floor(typeof this.cap === 'function' ? await this.cap(tenantId) : this.cap));
    let mine = this.held.get(tenantId);
    if (!mine) this.held.set(tenantId, (mine = new Set()));
    if (mine.has(holder)) return true;
    if (mine.size >= cap) return false;
    mine.add(holder);
    return true;
  }

  async release(tenantId: string, holder: string): Promise<void> {
    const mine = this.held.get(tenantId);
    mine?.delete(holder);
    if (mine?.size === 0) this.held.delete(tenantId);
  }

  /** Jobs of the tenant holding a slot now. */
  async running(tenantId: string): Promise<number> {
    return this.held.get(tenantId)?.size ?? 0;
  }

  /** Wraps a jobs-port processor as TenantConcurrencyLimiter.wrapJob does. */
  wrapJob<D extends { tenantId?: string | null }, R>(processor: JobProcessor<D, R>): JobProcessor<D, R> {
    return limitPerTenant(this, this.retryDelayMs, processor);
  }
}

/** The job runs in a slot of its tenant (`job.data.tenantId`); at the cap it is put back after a jittered delay, without using a try. */
function limitPerTenant<D extends { tenantId?: string | null }, R>(slots: TenantSlots, retryDelayMs: number, processor: JobProcessor<D, R>): JobProcessor<D, R> {
  return async (job) => {
    const tenantId = job.data.tenantId;
    if (!tenantId) return processor(job);
    if (!(await slots.acquire(tenantId, job.id))) {
      // Jitter spreads a large backlog's retries so they do not all come back in one burst.
      throw new RetryLater(retryDelayMs + Math.floor(Math.random() * retryDelayMs), 'the tenant is at its cap');
    }
    try {
      return await processor(job);
    } finally {
      await slots.release(tenantId, job.id).catch(() => undefined); // the lease ends it otherwise
    }
  };
}
