import type { TenantId } from '@hotdash/contracts';
import { legacyTenantKeyPrefix, type RedisClient, tenantKeyPrefix } from '@hotdash/platform-jobs';
import type { EmbeddedStateFile } from './state/embedded-state-file';
import type { Principal } from './tokens';

const REMOVED = 'removed';

/**
 * Where a user token's revocation is read: [user, session] markers under the tenant's hash-tagged
 * prefix, then the same two under the prefix before issue 15 (on a cluster, which never had those,
 * the first two again). All four share a slot on a cluster, so one script or MGET reads them.
 */
export interface RevocationMarkers {
  keys: [user: string, session: string, legacyUser: string, legacySession: string];
  issuedAt: number;
}

/**
 * Makes a removed operator, a changed role or an ended session take effect at once instead of when
 * the access tokens already handed out expire. Markers live in Redis under the tenant's prefix (so
 * offboarding erases them) for as long as a token issued before them can live; every authenticated
 * request checks them in one round trip.
 *
 * Writers mark "changed" (tokens issued before now) after their update has locked the user row and
 * before the commit: a refresh in flight holds that row, so the token it makes predates the marker;
 * if the commit then fails, the worst outcome is a user asked to log in again. "Removed" (every
 * token, whenever issued) is marked only after the removal commits. Markers are best effort while
 * Redis is away: the database change stands, and gateways check the database while they cannot
 * reach Redis.
 *
 * On the single node markers are also written, and read, under the tenant's key prefix of before
 * issue 15 (`legacyTenantKeyPrefix`): gateways of the previous release still running during a
 * deploy see the new ones, and a marker they wrote (live for 15 minutes) still counts here.
 */
/**
 * The port: where revocation markers are written and read (HOTDASH_STATE_STORE chooses the adapter,
 * state-stores.ts): {@link RevocationList} on Redis, {@link EmbeddedRevocationStore} in the embedded
 * state file. Inject `RevocationStore`; no module knows which one it has.
 */
export abstract class RevocationStore {
  /** Every token of the user stops working, for good (the user is removed). */
  abstract userRemoved(tenantId: TenantId, userId: string): Promise<void>;
  /** Tokens issued to the user before now stop working (role changed, password reset); new ones are fine. */
  abstract userChanged(tenantId: TenantId, userId: string): Promise<void>;
  /** The session's tokens stop working (logout, reuse of a rotated refresh token). */
  abstract sessionEnded(tenantId: TenantId, sessionId: string): Promise<void>;
  /** The keys a principal's revocation is read from, and when its rights were read (users' tokens only; API keys are looked up). */
  abstract markersOf(p: Principal): RevocationMarkers | undefined;
  /** True when the principal's token was issued before a marker that applies to it. */
  abstract isRevoked(p: Principal): Promise<boolean>;
}

/** The rule both adapters (and the gateway's decision script, in Lua) apply to the marker values read at `markers.keys`. */
export function revokedBy(values: readonly (string | null | undefined)[], issuedAt: number): boolean {
  const [user, session, legacyUser, legacySession] = values;
  if (session != null || legacySession != null) return true;
  return [user, legacyUser].some((u) => u === REMOVED || (u != null && Number(u) >= issuedAt));
}

function userKey(tenantId: string, userId: string, prefix = tenantKeyPrefix): string {
  return `${prefix(tenantId)}auth:user:${userId}`;
}

function sessionKey(tenantId: string, sessionId: string, prefix = tenantKeyPrefix): string {
  return `${prefix(tenantId)}auth:session:${sessionId}`;
}

/** The Redis adapter of {@link RevocationStore}. */
export class RevocationList extends RevocationStore {
  /** Also under the prefix of before issue 15 (the single node; a cluster never had those keys). */
  private readonly legacy: boolean;

  constructor(
    private readonly redis: RedisClient,
    /** How long a marker must outlive the change: the access-token lifetime plus clock skew (seconds). */
    private readonly ttlSeconds: number = 900 + 30,
  ) {
    super();
    this.legacy = !redis.isCluster;
  }

  private userKey(tenantId: string, userId: string, prefix = tenantKeyPrefix): string {
    return userKey(tenantId, userId, prefix);
  }

  private sessionKey(tenantId: string, sessionId: string, prefix = tenantKeyPrefix): string {
    return sessionKey(tenantId, sessionId, prefix);
  }

  /** The key, and on the single node its name of before issue 15 too. */
  private written(key: (prefix: (tenantId: string) => string) => string): string[] {
    return this.legacy ? [key(tenantKeyPrefix), key(legacyTenantKeyPrefix)] : [key(tenantKeyPrefix)];
  }

  /** Writes a marker; Redis being away is logged, not thrown: the caller's database change stands. */
  private async write(what: string, op: () => Promise<unknown>): Promise<void> {
    await op().catch((err: Error) => console.warn(`[revocations] ${what} not marked (Redis unreachable?); the database change stands: ${err.message}`));
  }

  /** Every token of the user stops working, for good (the user is removed). */
  async userRemoved(tenantId: TenantId, userId: string): Promise<void> {
    await this.write(`removal of user ${userId}`, () => Promise.all(this.written((p) => this.userKey(tenantId, userId, p)).map((k) => this.redis.set(k, REMOVED, 'EX', this.ttlSeconds))));
  }

  /** Tokens issued to the user before now stop working (role changed, password reset); new ones are fine. */
  async userChanged(tenantId: TenantId, userId: string): Promise<void> {
    // A later change wins; a "removed" marker is never downgraded.
    const now = String(Date.now());
    await this.write(`change of user ${userId}`, () => Promise.all(this.written((p) => this.userKey(tenantId, userId, p)).map((key) => this.redis.eval(
      `local v = redis.call('GET', KEYS[1]) if v == '${REMOVED}' then return 0 end
       if (not v) or tonumber(v) < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2]) end return 1`,
      1,
      key,
      now,
      String(this.ttlSeconds),
    ))));
  }

  /** The session's tokens stop working (logout, reuse of a rotated refresh token). */
  async sessionEnded(tenantId: TenantId, sessionId: string): Promise<void> {
    await this.write(`end of session ${sessionId}`, () => Promise.all(this.written((p) => this.sessionKey(tenantId, sessionId, p)).map((k) => this.redis.set(k, '1', 'EX', this.ttlSeconds))));
  }

  /** The keys a principal's revocation is read from, and when its rights were read (users' tokens only; API keys are looked up). */
  markersOf(p: Principal): RevocationMarkers | undefined {
    if (p.kind !== 'user') return undefined;
    const user = this.userKey(p.tenantId, p.subject);
    const session = this.sessionKey(p.tenantId, p.sessionId!);
    if (!this.legacy) return { keys: [user, session, user, session], issuedAt: p.issuedAt };
    return { keys: [user, session, this.userKey(p.tenantId, p.subject, legacyTenantKeyPrefix), this.sessionKey(p.tenantId, p.sessionId!, legacyTenantKeyPrefix)], issuedAt: p.issuedAt };
  }

  /** True when the principal's token was issued before a marker that applies to it. */
  async isRevoked(p: Principal): Promise<boolean> {
    const markers = this.markersOf(p);
    if (!markers) return false; // API keys are looked up on every request
    return revokedBy(await this.redis.mget(...markers.keys), p.issuedAt);
  }
}

/**
 * The embedded adapter of {@link RevocationStore}: the same markers under the same keys, in the
 * embedded state file (kept across a restart: a revoked token stays revoked; each marker synced to
 * the disk before the call returns, so a power cut cannot bring a revoked token back), live for `ttlSeconds`.
 * One process holds the file, so its writes never fail the way Redis can be away.
 */
export class EmbeddedRevocationStore extends RevocationStore {
  constructor(
    private readonly state: EmbeddedStateFile,
    private readonly ttlSeconds: number = 900 + 30,
  ) {
    super();
  }

  async userRemoved(tenantId: TenantId, userId: string): Promise<void> {
    this.state.set(userKey(tenantId, userId), REMOVED, this.ttlSeconds * 1000);
    this.state.sync();
  }

  async userChanged(tenantId: TenantId, userId: string): Promise<void> {
    const key = userKey(tenantId, userId);
    const v = this.state.get(key);
    const now = Date.now();
    if (v === REMOVED || (v !== undefined && Number(v) >= now)) return;
    this.state.set(key, String(now), this.ttlSeconds * 1000);
    this.state.sync();
  }

  async sessionEnded(tenantId: TenantId, sessionId: string): Promise<void> {
    this.state.set(sessionKey(tenantId, sessionId), '1', this.ttlSeconds * 1000);
    this.state.sync();
  }

  markersOf(p: Principal): RevocationMarkers | undefined {
    if (p.kind !== 'user') return undefined;
    const user = userKey(p.tenantId, p.subject);
    const session = sessionKey(p.tenantId, p.sessionId!);
    return { keys: [user, session, user, session], issuedAt: p.issuedAt };
  }

  async isRevoked(p: Principal): Promise<boolean> {
    const markers = this.markersOf(p);
    return markers ? markersRevokedIn(this.state, markers) : false;
  }
}

/** The markers' verdict read from the embedded state file, at once (the embedded rate limiter asks it in the same step as the limits). */
export function markersRevokedIn(state: EmbeddedStateFile, markers: RevocationMarkers): boolean {
  return revokedBy(markers.keys.map((k) => state.get(k)), markers.issuedAt);
}
