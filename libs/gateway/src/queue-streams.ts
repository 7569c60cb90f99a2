import { randomBytes } from 'node:crypto';
import { type RedisClient, tenantKeyPrefix } from '@hotdash/platform-jobs';
import type { Principal } from '@hotdash/platform-auth';

/**
 * Takes a stream slot of the caller and of its tenant, atomically, for every gateway sharing the
 * Redis: each is a sorted set of open streams scored by lease end (a gateway that dies gives its
 * slots back when their leases end; open streams renew theirs with every heartbeat). Both keys are
 * under the tenant's hash tag (one slot on a Redis Cluster).
 * KEYS: tenant's streams, user's streams. ARGV: stream id, lease ms, per user, per tenant.
 * Returns 0 admitted, 1 the user's limit, 2 the tenant's.
 */
const ACQUIRE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[3]) then return 1 end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then return 2 end
local lease = tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], now + lease, ARGV[1])
redis.call('ZADD', KEYS[2], now + lease, ARGV[1])
redis.call('PEXPIRE', KEYS[1], lease)
redis.call('PEXPIRE', KEYS[2], lease)
return 0`;

/** Renews an open stream's lease (only while it still holds its slot). */
const RENEW = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], 'XX', now + lease, ARGV[1])
redis.call('ZADD', KEYS[2], 'XX', now + lease, ARGV[1])
redis.call('PEXPIRE', KEYS[1], lease)
redis.call('PEXPIRE', KEYS[2], lease)
return 0`;

export interface StreamLimits {
  perUser: number;
  perTenant: number;
}

export type StreamSlot = { admitted: true; release(): Promise<void>; renew(): Promise<void> } | { admitted: false; limit: 'user' | 'tenant'; max: number };

type ScriptedRedis = RedisClient & {
  hotdashStreamAcquire(tenantKey: string, userKey: string, id: string, leaseMs: number, perUser: number, perTenant: number): Promise<number>;
  hotdashStreamRenew(tenantKey: string, userKey: string, id: string, leaseMs: number): Promise<number>;
};

/**
 * The cap on open queue streams per user (or API key) and per tenant, across gateways
 * (HOTDASH_QUEUE_STREAMS_PER_USER, HOTDASH_QUEUE_STREAMS_PER_TENANT). Redis unreachable: the cap
 * fails open, like the gateway's other limits (the stream is served; its slot is not counted).
 * Without Redis (the embedded mode's state stores: one process, one gateway) the open streams are
 * counted in this process.
 */
export class QueueStreamSlots {
  private readonly tag = randomBytes(9).toString('base64url');
  private sequence = 0;
  /** The embedded mode's counts: open stream ids per tenant key and per user key. */
  private readonly local = new Map<string, Set<string>>();

  constructor(
    private readonly redis: RedisClient | null,
    private readonly limits: StreamLimits,
    /** A slot's lease without renewal (a heartbeat renews it). */
    readonly leaseMs = 45_000,
  ) {
    redis?.defineCommand('hotdashStreamAcquire', { numberOfKeys: 2, lua: ACQUIRE });
    redis?.defineCommand('hotdashStreamRenew', { numberOfKeys: 2, lua: RENEW });
  }

  async acquire(p: Principal): Promise<StreamSlot> {
    const prefix = tenantKeyPrefix(p.tenantId);
    const tenantKey = `${prefix}queue-streams`;
    const userKey = `${prefix}queue-streams:${p.kind}:${p.subject}`;
    const id = `${this.tag}.${(++this.sequence).toString(36)}`;
    if (!this.redis) return this.acquireLocally(tenantKey, userKey, id);
    const r = this.redis as ScriptedRedis;
    let verdict: number;
    try {
      verdict = await r.hotdashStreamAcquire(tenantKey, userKey, id, this.leaseMs, this.limits.perUser, this.limits.perTenant);
    } catch {
      return { admitted: true, release: async () => undefined, renew: async () => undefined };
    }
    if (verdict === 1) return { admitted: false, limit: 'user', max: this.limits.perUser };
    if (verdict === 2) return { admitted: false, limit: 'tenant', max: this.limits.perTenant };
    let released = false;
    return {
      admitted: true,
      release: async () => {
        if (released) return;
        released = true;
        await Promise.all([r.zrem(tenantKey, id), r.zrem(userKey, id)]).catch(() => undefined);
      },
      renew: async () => {
        if (!released) await r.hotdashStreamRenew(tenantKey, userKey, id, this.leaseMs).catch(() => undefined);
      },
    };
  }

  private acquireLocally(tenantKey: string, userKey: string, id: string): StreamSlot {
    const set = (key: string): Set<string> => {
      let ids = this.local.get(key);
      if (!ids) this.local.set(key, (ids = new Set()));
      return ids;
    };
    if (set(userKey).size >= this.limits.perUser) return { admitted: false, limit: 'user', max: this.limits.perUser };
    if (set(tenantKey).size >= this.limits.perTenant) return { admitted: false, limit: 'tenant', max: this.limits.perTenant };
    set(userKey).add(id);
    set(tenantKey).add(id);
    return {
      admitted: true,
      release: async () => {
        for (const key of [userKey, tenantKey]) {
          const ids = this.local.get(key);
          ids?.delete(id);
          if (ids?.size === 0) this.local.delete(key);
        }
      },
      renew: async () => undefined,
    };
  }
}
