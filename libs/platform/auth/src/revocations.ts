import type Redis from 'ioredis';
import type { TenantId } from '@hotdash/contracts';
import { tenantKeyPrefix } from '@hotdash/platform-jobs';
import type { Principal } from './tokens';

const REMOVED = 'removed';

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
 */
export class RevocationList {
  constructor(
    private readonly redis: Redis,
    /** How long a marker must outlive the change: the access-token lifetime plus clock skew (seconds). */
    private readonly ttlSeconds: number = 900 + 30,
  ) {}

  private userKey(tenantId: string, userId: string): string {
    return `${tenantKeyPrefix(tenantId)}auth:user:${userId}`;
  }

  private sessionKey(tenantId: string, sessionId: string): string {
    return `${tenantKeyPrefix(tenantId)}auth:session:${sessionId}`;
  }

  /** Writes a marker; Redis being away is logged, not thrown: the caller's database change stands. */
  private async write(what: string, op: () => Promise<unknown>): Promise<void> {
    await op().catch((err: Error) => console.warn(`[revocations] ${what} not marked (Redis unreachable?); the database change stands: ${err.message}`));
  }

  /** Every token of the user stops working, for good (the user is removed). */
  async userRemoved(tenantId: TenantId, userId: string): Promise<void> {
    await this.write(`removal of user ${userId}`, () => this.redis.set(this.userKey(tenantId, userId), REMOVED, 'EX', this.ttlSeconds));
  }

  /** Tokens issued to the user before now stop working (role changed, password reset); new ones are fine. */
  async userChanged(tenantId: TenantId, userId: string): Promise<void> {
    // A later change wins; a "removed" marker is never downgraded.
    await this.write(`change of user ${userId}`, () => this.redis.eval(
      `local v = redis.call('GET', KEYS[1]) if v == '${REMOVED}' then return 0 end
       if (not v) or tonumber(v) < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2]) end return 1`,
      1,
      this.userKey(tenantId, userId),
      String(Date.now()),
      String(this.ttlSeconds),
    ));
  }

  /** The session's tokens stop working (logout, reuse of a rotated refresh token). */
  async sessionEnded(tenantId: TenantId, sessionId: string): Promise<void> {
    await this.write(`end of session ${sessionId}`, () => this.redis.set(this.sessionKey(tenantId, sessionId), '1', 'EX', this.ttlSeconds));
  }

  /** True when the principal's token was issued before a marker that applies to it. */
  /** The keys a principal's revocation is read from, and when its rights were read (users' tokens only; API keys are looked up). */
  markersOf(p: Principal): { keys: [string, string]; issuedAt: number } | undefined {
    if (p.kind !== 'user') return undefined;
    return { keys: [this.userKey(p.tenantId, p.subject), this.sessionKey(p.tenantId, p.sessionId!)], issuedAt: p.issuedAt };
  }

  async isRevoked(p: Principal): Promise<boolean> {
    if (p.kind !== 'user') return false; // API keys are looked up on every request
    const [user, session] = await this.redis.mget(this.userKey(p.tenantId, p.subject), this.sessionKey(p.tenantId, p.sessionId!));
    if (session) return true;
    if (user === REMOVED) return true;
    return user !== null && Number(user) >= p.issuedAt;
  }
}
