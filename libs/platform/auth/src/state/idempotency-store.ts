import { type RedisClient, scanKeys, tenantKeyPrefix } from '@hotdash/platform-jobs';
import type { EmbeddedStateFile } from './embedded-state-file';

/** What holds an idempotency key when a request could not take it. */
export type IdempotencyClaim = { taken: true } | { taken: false; existing: string | undefined };

/**
 * The port for the gateway's Idempotency-Key entries (IdempotentReplies keeps its JSON in them),
 * per tenant and route, under `hotdash:{t:<tenant>}:idem:<route>:<sha256 of the key>`: the tenant's
 * prefix, so its offboarding erases them and another tenant's same key is another entry.
 * HOTDASH_STATE_STORE chooses the adapter (state-stores.ts).
 */
export abstract class IdempotencyStore {
  /**
   * Takes the key for a first attempt (`running` kept `ttlSeconds`), unless an entry holds it: then
   * that entry (undefined if it went in between). Throws when the store cannot be asked.
   */
  abstract claim(tenantId: string, route: string, digest: string, running: string, ttlSeconds: number): Promise<IdempotencyClaim>;
  /** Replaces the entry (the answer, kept `ttlSeconds`). */
  abstract save(tenantId: string, route: string, digest: string, value: string, ttlSeconds: number): Promise<void>;
  /** Removes the entry (a failed first attempt: a retry runs again). */
  abstract forget(tenantId: string, route: string, digest: string): Promise<void>;
  /** Deletes the tenant's entries of `route` whose value `holds` says true for (a data subject's erasure); how many. */
  abstract eraseWhere(tenantId: string, route: string, holds: (value: string) => boolean): Promise<number>;
  /** Lets go of what the adapter owns (a Redis connection made for it alone); nothing otherwise. */
  close(): void {}
}

function entryKey(tenantId: string, route: string, digest: string): string {
  return `${tenantKeyPrefix(tenantId)}idem:${route}:${digest}`;
}

/** Before issue 15 (no hash tag); only on the single node, read for 24 h after that deploy. */
function legacyEntryKey(tenantId: string, route: string, digest: string): string {
  return `hotdash:idem:${tenantId}:${route}:${digest}`;
}

function escapeGlob(text: string): string {
  return text.replace(/[[\]*?\\]/g, '\\$&');
}

/**
 * {@link IdempotencyStore} on Redis (single node or cluster): SET NX EX takes the key; on the single
 * node the entry under its name of before issue 15 still answers (a retry across that deploy does not
 * run twice). Erasure scans the tenant's keys of the route on every master.
 */
export class RedisIdempotencyStore extends IdempotencyStore {
  constructor(
    private readonly redis: RedisClient,
    /** True: `close` disconnects `redis` (a connection made for this store alone). */
    private readonly ownsClient = false,
  ) {
    super();
  }

  override close(): void {
    if (this.ownsClient) this.redis.disconnect();
  }

  async claim(tenantId: string, route: string, digest: string, running: string, ttlSeconds: number): Promise<IdempotencyClaim> {
    const key = entryKey(tenantId, route, digest);
    let existing: string | null = null;
    if (!this.redis.isCluster) existing = await this.redis.get(legacyEntryKey(tenantId, route, digest));
    if (existing) return { taken: false, existing };
    if (await this.redis.set(key, running, 'EX', ttlSeconds, 'NX')) return { taken: true };
    return { taken: false, existing: (await this.redis.get(key)) ?? undefined };
  }

  async save(tenantId: string, route: string, digest: string, value: string, ttlSeconds: number): Promise<void> {
    await this.redis.set(entryKey(tenantId, route, digest), value, 'EX', ttlSeconds);
  }

  async forget(tenantId: string, route: string, digest: string): Promise<void> {
    await this.redis.del(entryKey(tenantId, route, digest));
  }

  async eraseWhere(tenantId: string, route: string, holds: (value: string) => boolean): Promise<number> {
    let erased = 0;
    const check = async (node: { get(k: string): Promise<string | null>; del(k: string): Promise<number> }, keys: string[]) => {
      for (const key of keys) {
        const raw = await node.get(key);
        if (raw !== null && holds(raw)) erased += await node.del(key);
      }
    };
    await scanKeys(this.redis, `${escapeGlob(`${tenantKeyPrefix(tenantId)}idem:${route}:`)}*`, check);
    if (!this.redis.isCluster) await scanKeys(this.redis, `${escapeGlob(`hotdash:idem:${tenantId}:${route}:`)}*`, check);
    return erased;
  }
}

/** {@link IdempotencyStore} in the embedded state file: the same keys, kept across a restart (a POST repeated after one is not run twice). */
export class EmbeddedIdempotencyStore extends IdempotencyStore {
  constructor(private readonly state: EmbeddedStateFile) {
    super();
  }

  async claim(tenantId: string, route: string, digest: string, running: string, ttlSeconds: number): Promise<IdempotencyClaim> {
    const key = entryKey(tenantId, route, digest);
    if (this.state.set(key, running, ttlSeconds * 1000, true)) return { taken: true };
    return { taken: false, existing: this.state.get(key) };
  }

  async save(tenantId: string, route: string, digest: string, value: string, ttlSeconds: number): Promise<void> {
    this.state.set(entryKey(tenantId, route, digest), value, ttlSeconds * 1000);
  }

  async forget(tenantId: string, route: string, digest: string): Promise<void> {
    this.state.del(entryKey(tenantId, route, digest));
  }

  async eraseWhere(tenantId: string, route: string, holds: (value: string) => boolean): Promise<number> {
    let erased = 0;
    for (const key of this.state.keys(`${tenantKeyPrefix(tenantId)}idem:${route}:`)) {
      const value = this.state.get(key);
      if (value !== undefined && holds(value) && this.state.del(key)) erased++;
    }
    return erased;
  }
}
