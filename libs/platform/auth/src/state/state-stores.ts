import { join } from 'node:path';
import { readSetting } from '@hotdash/platform-config';
import { type RedisClient, tenantKeyPrefix } from '@hotdash/platform-jobs';
import { EmbeddedTenantLimitsStore, RedisTenantLimitsStore, type TenantLimitsStore } from '../limits';
import { EmbeddedRevocationStore, RevocationList, type RevocationStore } from '../revocations';
import { EmbeddedStateFile } from './embedded-state-file';
import { EmbeddedEphemeralStore, type EphemeralStore, RedisEphemeralStore } from './ephemeral-store';
import { EmbeddedIdempotencyStore, type IdempotencyStore, RedisIdempotencyStore } from './idempotency-store';

/**
 * The one place that chooses where the platform's short-lived state lives (HOTDASH_STATE_STORE):
 * `redis` (today's stack: every process shares it) or `embedded` (one process: rate limits in its
 * memory, the rest in the embedded state file under HOTDASH_STATE_DIR). Each port has one factory
 * below; modules provide the port through it and never see which adapter they got.
 */
export type StateStoreMode = 'redis' | 'embedded';

export function stateStoreMode(env: NodeJS.ProcessEnv = process.env): StateStoreMode {
  return readSetting('HOTDASH_STATE_STORE', env);
}

/** HOTDASH_STATE_DIR, or `.local/embedded/state` of the checkout. */
export function embeddedStateDir(env: NodeJS.ProcessEnv = process.env): string {
  return readSetting('HOTDASH_STATE_DIR', env) ?? join(__dirname, '..', '..', '..', '..', '..', '.local', 'embedded', 'state');
}

/** The process's embedded state file (opened on first use). */
export function embeddedStateFile(): EmbeddedStateFile {
  return EmbeddedStateFile.open(embeddedStateDir());
}

/**
 * A module's Redis connection for the state ports: `make()`'s, or null with the embedded state
 * store (nothing connects; the ports' factories below then make embedded adapters).
 */
export function stateRedis(make: () => RedisClient): RedisClient | null {
  return stateStoreMode() === 'embedded' ? null : make();
}

function redisFor(port: string, redis: RedisClient | null | undefined): RedisClient {
  if (!redis) throw new Error(`${port}: HOTDASH_STATE_STORE=redis needs a Redis connection`);
  return redis;
}

/** Revocation markers; `ttlSeconds`: how long a marker must outlive the change (the access-token lifetime plus skew). */
export function revocationStore(redis: RedisClient | null | undefined, ttlSeconds?: number): RevocationStore {
  return stateStoreMode() === 'embedded' ? new EmbeddedRevocationStore(embeddedStateFile(), ttlSeconds) : new RevocationList(redisFor('revocations', redis), ttlSeconds);
}

/**
 * The gateway's Idempotency-Key entries. `redis`: the connection to use, or a function that makes
 * one for this store alone (closed with it), called only in Redis mode.
 */
export function idempotencyStore(redis: RedisClient | null | undefined | (() => RedisClient)): IdempotencyStore {
  if (stateStoreMode() === 'embedded') return new EmbeddedIdempotencyStore(embeddedStateFile());
  return typeof redis === 'function' ? new RedisIdempotencyStore(redis(), true) : new RedisIdempotencyStore(redisFor('idempotency keys', redis));
}

/** Short-lived single-use values (single sign-on states, handoff codes). */
export function ephemeralStore(redis: RedisClient | null | undefined): EphemeralStore {
  return stateStoreMode() === 'embedded' ? new EmbeddedEphemeralStore(embeddedStateFile()) : new RedisEphemeralStore(redisFor('sign-in state', redis));
}

/** Where provisioning publishes a tenant's limits for the gateways. */
export function tenantLimitsStore(redis: RedisClient | null | undefined): TenantLimitsStore {
  return stateStoreMode() === 'embedded' ? new EmbeddedTenantLimitsStore(embeddedStateFile()) : new RedisTenantLimitsStore(redisFor('tenant limits', redis));
}

/**
 * A tenant's offboarding, for the state kept outside Redis: with HOTDASH_STATE_STORE=embedded, erases
 * everything the embedded state keeps of the tenant (its prefix: markers, idempotency entries,
 * sign-in states, published limits, and the embedded rate limiter's in-memory windows) and answers
 * how many stored entries went. Undefined with Redis: the tenant's state is under its prefix there,
 * which offboarding's Redis step deletes with the rest of its keys.
 */
export function eraseTenantStateOutsideRedis(tenantId: string): number | undefined {
  return stateStoreMode() === 'embedded' ? embeddedStateFile().deletePrefix(tenantKeyPrefix(tenantId)) : undefined;
}
