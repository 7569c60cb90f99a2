import { type RedisClient, tenantKeyPrefix } from '@hotdash/platform-jobs';
import type { EmbeddedStateFile } from './embedded-state-file';

/**
 * The port for short-lived, single-use values of a tenant (a single sign-on's state and PKCE
 * verifier, the portal's handoff code): put with a time to live, taken once. Keys are always under
 * the tenant's prefix (`hotdash:{t:<tenant>}:<name>`), so a tenant's offboarding erases them and
 * another tenant's name never reaches them. HOTDASH_STATE_STORE chooses the adapter (state-stores.ts).
 */
export abstract class EphemeralStore {
  /** Keeps `value` under the tenant's `name` for `ttlSeconds` (replacing what was there). */
  abstract put(tenantId: string, name: string, value: string, ttlSeconds: number): Promise<void>;
  /** The value, if still there, removed in the same step: a second take finds nothing. */
  abstract take(tenantId: string, name: string): Promise<string | undefined>;
}

/** {@link EphemeralStore} on Redis: SET … EX, GETDEL (single node or cluster: one key per call). */
export class RedisEphemeralStore extends EphemeralStore {
  constructor(private readonly redis: RedisClient) {
    super();
  }

  async put(tenantId: string, name: string, value: string, ttlSeconds: number): Promise<void> {
    await this.redis.set(`${tenantKeyPrefix(tenantId)}${name}`, value, 'EX', ttlSeconds);
  }

  async take(tenantId: string, name: string): Promise<string | undefined> {
    return (await this.redis.getdel(`${tenantKeyPrefix(tenantId)}${name}`)) ?? undefined;
  }
}

/** {@link EphemeralStore} in the embedded state file: the same keys, kept across a restart until their time is up. */
export class EmbeddedEphemeralStore extends EphemeralStore {
  constructor(private readonly state: EmbeddedStateFile) {
    super();
  }

  async put(tenantId: string, name: string, value: string, ttlSeconds: number): Promise<void> {
    this.state.set(`${tenantKeyPrefix(tenantId)}${name}`, value, ttlSeconds * 1000);
  }

  async take(tenantId: string, name: string): Promise<string | undefined> {
    return this.state.take(`${tenantKeyPrefix(tenantId)}${name}`);
  }
}
