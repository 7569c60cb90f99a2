import { createHash } from 'node:crypto';
import { ExecutionContext, Inject, Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { FastifyReply } from 'fastify';
import { AuthError, Authenticator, PER_ADDRESS_LIMIT, Principal, RequestAdmission, RoutePolicy } from '@hotdash/platform-auth';
import { readSetting } from '@hotdash/platform-config';
import { ProblemException } from '@hotdash/platform-http';
import { PlanLimits } from './plan-limits';
import { LimitDecision, RateLimitStore } from './rate-limit-store';

const DEGRADED_LOG_EVERY_MS = 10_000;
/** Login attempts and reset requests per tenant and e-mail address per minute. */
const PER_ACCOUNT = 10;

const IN_FLIGHT_RELEASE = Symbol('hotdash.in-flight-release');

/**
 * Gives a request's in-flight slot back before its response ends: for a long-lived answer (the
 * queue's event stream), which is no request in flight once it has started.
 */
export function releaseInFlightSlot(reply: FastifyReply): void {
  (reply.raw as { [IN_FLIGHT_RELEASE]?: () => void })[IN_FLIGHT_RELEASE]?.();
}

/**
 * How the gateway admits requests, called by the platform's one auth guard (AuthGuard, through
 * RequestAdmission): per-tenant limits on every authenticated request, the same on every gateway
 * process: requests per minute (sliding window) and requests in flight, both from the tenant's
 * plan; and per-account and per-address limits on public routes. Answers 429 with Retry-After and
 * RateLimit-* headers.
 *
 * Redis unreachable: both limits fail OPEN — requests are served without limits (logged at most
 * every 10 s) rather than refusing every tenant because a cache is down; authentication then falls
 * back to the database (see Authenticator), so no revoked credential gets through. Limits apply
 * again with the first request after Redis is back.
 */
@Injectable()
export class GatewayAdmission implements RequestAdmission, OnApplicationShutdown {
  private readonly logger = new Logger('rate-limit');
  private lastDegradedLog = 0;

  constructor(
    @Inject(Reflector) private readonly reflector: Reflector,
    @Inject(Authenticator) private readonly authenticator: Authenticator,
    @Inject(RateLimitStore) private readonly limiter: RateLimitStore,
    @Inject(PlanLimits) private readonly plans: PlanLimits,
  ) {}

  private readonly perAddressOverride = readSetting('HOTDASH_PER_ADDRESS_PER_MINUTE');

  /**
   * Admits a tenant request in one Redis round trip: the token's revocation markers and both of
   * the tenant's limits in one script (which also gives back the slots of the tenant's requests
   * that ended since). If Redis cannot be asked, the database decides revocation and the limits
   * fail open.
   */
  async admit(ctx: ExecutionContext, p: Principal): Promise<Principal> {
    const reply = ctx.switchToHttp().getResponse<FastifyReply>();
    const requestId = this.limiter.requestId();
    let d: LimitDecision;
    try {
      d = await this.limiter.decide(p.tenantId, requestId, this.plans.fresh(p.tenantId) ?? (await this.plans.of(p.tenantId)), this.authenticator.revocationMarkers(p));
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
    // Once the response is sent (or the client is gone): the slot goes back with the tenant's next decision.
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      this.limiter.release(p.tenantId, requestId);
    };
    reply.raw.once('close', release);
    (reply.raw as { [IN_FLIGHT_RELEASE]?: () => void })[IN_FLIGHT_RELEASE] = release;
    return p;
  }

  /**
   * Login and password-reset requests are limited per tenant and e-mail address (PER_ACCOUNT a
   * minute), so guessing one account's password and flooding one address with reset mail stop
   * early; platform operators' sign-in per e-mail address likewise. Routes marked
   * `@LimitPerAddress(n)` (sign-up, accepting an invitation, single sign-on) also take n requests a minute per
   * client address: the socket's, or behind proxies the gateway trusts
   * (HOTDASH_TRUSTED_PROXIES) the one they forward. Same Redis policy as the tenant limits.
   */
  async admitPublic(ctx: ExecutionContext, route: RoutePolicy): Promise<void> {
    const req = ctx.switchToHttp().getRequest<{ method: string; body?: unknown; ip?: string; routeOptions?: { url?: string } }>();
    const reply = ctx.switchToHttp().getResponse<FastifyReply>();
    // The account limits read a POST's body; a route's per-address limit holds for any method (the single sign-on redirects are GETs).
    const body = (req.method === 'POST' && req.body && typeof req.body === 'object' ? req.body : {}) as { tenant?: unknown; email?: unknown };
    const hash = (s: string) => createHash('sha256').update(s).digest('hex');
    // Each prefix carries a hash tag (the braces): on a Redis Cluster the decision's keys share a slot.
    const checks: [string, number][] = [];
    if (typeof body.tenant === 'string' && typeof body.email === 'string')
      checks.push([`hotdash:{account:${hash(`${body.tenant.toLowerCase()}\n${body.email.trim().toLowerCase()}`)}}:`, PER_ACCOUNT]);
    else if (route.ops && typeof body.email === 'string') checks.push([`hotdash:{ops-account:${hash(body.email.trim().toLowerCase())}}:`, PER_ACCOUNT]);
    const routeLimit = this.reflector.get<number | undefined>(PER_ADDRESS_LIMIT, ctx.getHandler());
    // HOTDASH_PER_ADDRESS_PER_MINUTE overrides every route's per-address limit (load tests, a busy office behind one address).
    const perAddress = routeLimit === undefined ? undefined : (this.perAddressOverride ?? routeLimit);
    if (perAddress !== undefined) checks.push([`hotdash:{address:${hash(`${req.routeOptions?.url ?? ''}\n${req.ip ?? 'unknown'}`)}}:`, perAddress]);
    for (const [prefix, perMinute] of checks) {
      let d: LimitDecision;
      try {
        d = await this.limiter.decideFor(prefix, this.limiter.requestId(), { requestsPerMinute: perMinute, inFlight: 1_000_000 });
      } catch (err) {
        this.degraded(err as Error);
        return;
      }
      if (d.verdict === 'rate-limited') {
        const retry = Math.max(1, Math.ceil(d.resetMs / 1000));
        void reply.header('Retry-After', String(retry));
        throw new ProblemException(429, 'rate-limited', 'Too many attempts', `Too many attempts; retry in ${retry} s.`);
      }
    }
  }

  /** In-flight slots still waiting to go back are sent before the process ends (else their leases end them). */
  async onApplicationShutdown(): Promise<void> {
    await this.limiter.flushReleases().catch(() => undefined);
  }

  private degraded(err: Error): void {
    if (Date.now() - this.lastDegradedLog < DEGRADED_LOG_EVERY_MS) return;
    this.lastDegradedLog = Date.now();
    this.logger.warn(`Redis unreachable, serving without rate limits (fail open): ${err.message}`);
  }
}
