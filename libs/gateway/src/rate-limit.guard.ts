import { createHash } from 'node:crypto';
import { CanActivate, ExecutionContext, Inject, Injectable, Logger, SetMetadata } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { FastifyReply } from 'fastify';
import { AuthError, Authenticator, isOpsRoute, isPublicRoute, Principal, RequestAdmission } from '@hotdash/platform-auth';
import { newId } from '@hotdash/platform-db';
import { ProblemException } from '@hotdash/platform-http';
import { PlanLimits } from './plan-limits';
import { LimitDecision, TenantRateLimiter } from './rate-limiter';

const DEGRADED_LOG_EVERY_MS = 10_000;

export const PER_ADDRESS_LIMIT = 'hotdash:per-address-limit';
/** Requests a minute one client address may make to a public route (sign-up): see RateLimitGuard.publicRoute. */
export const LimitPerAddress = (perMinute: number): MethodDecorator => SetMetadata(PER_ADDRESS_LIMIT, perMinute);
/** Login attempts and reset requests per tenant and e-mail address per minute. */
const PER_ACCOUNT = 10;

/**
 * Per-tenant limits on every authenticated request, the same on every gateway process: requests
 * per minute (sliding window) and requests in flight, both from the tenant's plan. Answers 429 with
 * Retry-After and RateLimit-* headers.
 *
 * Redis unreachable: both limits fail OPEN — requests are served without limits (logged at most
 * every 10 s) rather than refusing every tenant because a cache is down; authentication then falls
 * back to the database (see Authenticator), so no revoked credential gets through. Limits apply
 * again with the first request after Redis is back.
 */
@Injectable()
export class RateLimitGuard implements CanActivate, RequestAdmission {
  private readonly logger = new Logger('rate-limit');
  private lastDegradedLog = 0;

  constructor(
    @Inject(Reflector) private readonly reflector: Reflector,
    @Inject(Authenticator) private readonly authenticator: Authenticator,
    @Inject(TenantRateLimiter) private readonly limiter: TenantRateLimiter,
    @Inject(PlanLimits) private readonly plans: PlanLimits,
  ) {}

  async canActivate(ctx: ExecutionContext): Promise<boolean> {
    if (ctx.getType() !== 'http') return true;
    if (isPublicRoute(this.reflector, ctx)) return this.publicRoute(ctx);
    // The ops team's routes: no tenant, so no tenant limits (their sign-in is limited per account above).
    if (isOpsRoute(this.reflector, ctx)) return true;
    // A tenant's request is admitted by the auth guard through admit() (the platform's RequestAdmission).
    return true;
  }

  /**
   * Admits a tenant request in one Redis round trip: the token's revocation markers and both of
   * the tenant's limits in one script. If Redis cannot be asked, the database decides revocation
   * and the limits fail open.
   */
  async admit(ctx: ExecutionContext, p: Principal): Promise<Principal> {
    const reply = ctx.switchToHttp().getResponse<FastifyReply>();
    const requestId = newId();
    let d: LimitDecision;
    try {
      d = await this.limiter.decide(p.tenantId, requestId, await this.plans.of(p.tenantId), this.authenticator.revocationMarkers(p));
    } catch (err) {
      this.degraded(err as Error);
      return this.authenticator.checkedWithoutRedis(p);
    }
    if (d.verdict === 'revoked') throw new AuthError('token-revoked');
    const resetS = Math.ceil(d.resetMs / 1000);
    void reply.header('RateLimit-Limit', String(d.limit));
    void reply.header('RateLimit-Remaining', String(d.remaining));
    void reply.header('RateLimit-Reset', String(resetS));
    void reply.header('RateLimit-Policy', `${d.limit};w=60`);
    if (d.verdict === 'rate-limited') {
      void reply.header('Retry-After', String(Math.max(1, resetS)));
      throw new ProblemException(429, 'rate-limited', 'Too many requests', `Your organisation may make ${d.limit} requests per minute; retry in ${Math.max(1, resetS)} s.`);
    }
    if (d.verdict === 'too-many-in-flight') {
      void reply.header('Retry-After', '1');
      throw new ProblemException(429, 'too-many-in-flight', 'Too many requests in flight', `Your organisation may have ${d.inFlightLimit} requests in flight at once; retry when some have finished.`);
    }
    reply.raw.once('close', () => void this.limiter.release(p.tenantId, requestId).catch(() => undefined /* the lease ends it */));
    return p;
  }

  /**
   * Login and password-reset requests are limited per tenant and e-mail address (PER_ACCOUNT a
   * minute), so guessing one account's password and flooding one address with reset mail stop
   * early; platform operators' sign-in per e-mail address likewise. Routes marked
   * `@LimitPerAddress(n)` (sign-up, accepting an invitation) also take n requests a minute per
   * client address: the socket's, or behind proxies the gateway trusts
   * (HOTDASH_TRUSTED_PROXIES) the one they forward. Same Redis policy as the tenant limits.
   */
  private async publicRoute(ctx: ExecutionContext): Promise<boolean> {
    const req = ctx.switchToHttp().getRequest<{ method: string; body?: unknown; ip?: string; routeOptions?: { url?: string } }>();
    if (req.method !== 'POST') return true;
    const reply = ctx.switchToHttp().getResponse<FastifyReply>();
    const body = (req.body && typeof req.body === 'object' ? req.body : {}) as { tenant?: unknown; email?: unknown };
    const hash = (s: string) => createHash('sha256').update(s).digest('hex');
    const checks: [string, number][] = [];
    if (typeof body.tenant === 'string' && typeof body.email === 'string')
      checks.push([`hotdash:account:${hash(`${body.tenant.toLowerCase()}\n${body.email.trim().toLowerCase()}`)}:`, PER_ACCOUNT]);
    else if (isOpsRoute(this.reflector, ctx) && typeof body.email === 'string') checks.push([`hotdash:ops-account:${hash(body.email.trim().toLowerCase())}:`, PER_ACCOUNT]);
    const routeLimit = this.reflector.get<number | undefined>(PER_ADDRESS_LIMIT, ctx.getHandler());
    // HOTDASH_PER_ADDRESS_PER_MINUTE overrides every route's per-address limit (load tests, a busy office behind one address).
    const perAddress = routeLimit === undefined ? undefined : Number(process.env.HOTDASH_PER_ADDRESS_PER_MINUTE ?? routeLimit);
    if (perAddress !== undefined) checks.push([`hotdash:address:${hash(`${req.routeOptions?.url ?? ''}\n${req.ip ?? 'unknown'}`)}:`, perAddress]);
    for (const [prefix, perMinute] of checks) {
      let d: LimitDecision;
      try {
        d = await this.limiter.decideFor(prefix, newId(), { requestsPerMinute: perMinute, inFlight: 1_000_000 });
      } catch (err) {
        this.degraded(err as Error);
        return true;
      }
      if (d.verdict === 'rate-limited') {
        const retry = Math.max(1, Math.ceil(d.resetMs / 1000));
        void reply.header('Retry-After', String(retry));
        throw new ProblemException(429, 'rate-limited', 'Too many attempts', `Too many attempts; retry in ${retry} s.`);
      }
    }
    return true;
  }

  private degraded(err: Error): void {
    if (Date.now() - this.lastDegradedLog < DEGRADED_LOG_EVERY_MS) return;
    this.lastDegradedLog = Date.now();
    this.logger.warn(`Redis unreachable, serving without rate limits (fail open): ${err.message}`);
  }
}
