import { CanActivate, ExecutionContext, Inject, Injectable, Logger } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { FastifyReply } from 'fastify';
import { Authenticator, isPublicRoute, Principal } from '@hotdash/platform-auth';
import { newId } from '@hotdash/platform-db';
import { ProblemException } from '@hotdash/platform-http';
import { PlanLimits } from './plan-limits';
import { LimitDecision, TenantRateLimiter } from './rate-limiter';

const DEGRADED_LOG_EVERY_MS = 10_000;

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
export class RateLimitGuard implements CanActivate {
  private readonly logger = new Logger('rate-limit');
  private lastDegradedLog = 0;

  constructor(
    @Inject(Reflector) private readonly reflector: Reflector,
    @Inject(Authenticator) private readonly authenticator: Authenticator,
    @Inject(TenantRateLimiter) private readonly limiter: TenantRateLimiter,
    @Inject(PlanLimits) private readonly plans: PlanLimits,
  ) {}

  async canActivate(ctx: ExecutionContext): Promise<boolean> {
    if (ctx.getType() !== 'http' || isPublicRoute(this.reflector, ctx)) return true;
    const http = ctx.switchToHttp();
    const req = http.getRequest<{ headers: Record<string, string | string[] | undefined>; principal?: Principal }>();
    const reply = http.getResponse<FastifyReply>();
    // Guards may run in any order: authenticate here if the auth guard has not yet.
    const p = req.principal ?? (req.principal = await this.authenticator.authenticate(req.headers));
    const requestId = newId();
    let d: LimitDecision;
    try {
      d = await this.limiter.decide(p.tenantId, requestId, await this.plans.of(p.tenantId));
    } catch (err) {
      this.degraded(err as Error);
      return true;
    }
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
    return true;
  }

  private degraded(err: Error): void {
    if (Date.now() - this.lastDegradedLog < DEGRADED_LOG_EVERY_MS) return;
    this.lastDegradedLog = Date.now();
    this.logger.warn(`Redis unreachable, serving without rate limits (fail open): ${err.message}`);
  }
}
