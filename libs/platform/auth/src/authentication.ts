import { CallHandler, CanActivate, createParamDecorator, ExecutionContext, Inject, Injectable, NestInterceptor, Optional, SetMetadata } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { Observable } from 'rxjs';
import { AuthError } from './errors';
import { RevocationList } from './revocations';
import { actorOf, OpsPrincipal, Principal, TokenService } from './tokens';
import { authorize } from './permissions';
import { newId } from '@hotdash/platform-db';
import { HealthController, ProblemException } from '@hotdash/platform-http';
import { runInTenantContext } from '@hotdash/platform-tenancy';

export const PUBLIC_ROUTE = 'hotdash:public-route';
/** A route anyone may call (login, refresh): every other route needs a credential. */
export const Public = (): MethodDecorator & ClassDecorator => SetMetadata(PUBLIC_ROUTE, true);

/** True for routes that take no credential: @Public() ones and health checks. */
export function isPublicRoute(reflector: Reflector, ctx: ExecutionContext): boolean {
  return ctx.getClass() === HealthController || reflector.getAllAndOverride<boolean>(PUBLIC_ROUTE, [ctx.getHandler(), ctx.getClass()]) === true;
}

/** A parameter decorator giving the credential a guard put on the request under `key` (401 when there is none). */
export function credentialOf<T>(key: 'principal' | 'ops' | 'caller'): () => ParameterDecorator {
  return createParamDecorator((_: unknown, ctx: ExecutionContext): T => {
    const value = ctx.switchToHttp().getRequest<Record<string, T | undefined>>()[key];
    if (!value) throw new AuthError('missing-credentials');
    return value;
  });
}

export const OPS_ROUTE = 'hotdash:ops-route';
/**
 * A route of the platform's ops team: only a platform operator's token (audience hotdash-ops) is
 * accepted, never a tenant's credential, and tenant limits do not apply.
 */
export const OpsRoute = (): MethodDecorator & ClassDecorator => SetMetadata(OPS_ROUTE, true);

export function isOpsRoute(reflector: Reflector, ctx: ExecutionContext): boolean {
  return reflector.getAllAndOverride<boolean>(OPS_ROUTE, [ctx.getHandler(), ctx.getClass()]) === true;
}

/**
 * Admits an authenticated request in one step where an app can do better than the plain
 * revocation check (the gateway: revocation and the tenant's rate limits in one Redis round trip).
 * The auth guard calls it with the identified principal once the route has allowed it; it returns
 * the principal, revocation checked, or throws (401 revoked, 429, 503).
 */
export abstract class RequestAdmission {
  abstract admit(ctx: ExecutionContext, identified: Principal): Promise<Principal>;
}

/** Whether a platform operator still holds their access (account active, not disabled since the token was issued). */
export abstract class PlatformOperatorCheck {
  abstract stillActive(p: OpsPrincipal): Promise<boolean>;
}

/** The request's platform operator, set by AuthGuard on ops routes. */
export const CurrentOps = credentialOf<OpsPrincipal>('ops');

/** Looks an API key up (by its hash, on its tenant's shard): the principal it acts as, or undefined when it is unknown, revoked or expired. */
export abstract class ApiKeyVerifier {
  abstract verify(key: string): Promise<Principal | undefined>;
}

/** Asks the database whether a principal still holds (user active, same role, session not ended): used while Redis is away. */
export abstract class RevocationFallback {
  abstract stillValid(p: Principal): Promise<boolean>;
}

/** The request's principal, set by AuthGuard from the credential alone. */
export const CurrentPrincipal = credentialOf<Principal>('principal');

const BEARER = /^Bearer ([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*)$/;

/** The JWT of an `Authorization: Bearer …` header: missing-credentials without one, invalid-token when it is not a JWT. */
export function bearerToken(header: string | string[] | undefined): string {
  if (header === undefined) throw new AuthError('missing-credentials');
  const m = typeof header === 'string' ? BEARER.exec(header) : null;
  if (!m) throw new AuthError('invalid-token');
  return m[1]!;
}

/**
 * Who is calling: an API key (X-Api-Key, looked up by hash on every request), or an access token
 * (Authorization: Bearer) checked for signature, expiry, audience and revocation. Revocation markers live in Redis (one round trip); when Redis cannot be asked, the
 * database answers instead (user still active with the token's role, session not ended), so a
 * removed operator never gets through and everyone else keeps working. Only when neither can be
 * asked is the request refused, with 503.
 */
@Injectable()
export class Authenticator {
  constructor(
    @Inject(TokenService) readonly tokens: TokenService,
    @Inject(RevocationList) private readonly revocations: RevocationList,
    @Optional() @Inject(RevocationFallback) private readonly fallback?: RevocationFallback,
    @Optional() @Inject(ApiKeyVerifier) private readonly apiKeys?: ApiKeyVerifier,
  ) {}

  async authenticate(headers: Record<string, string | string[] | undefined>): Promise<Principal> {
    const principal = await this.identify(headers);
    let revoked: boolean;
    try {
      revoked = await this.revocations.isRevoked(principal);
    } catch {
      return this.checkedWithoutRedis(principal);
    }
    if (revoked) throw new AuthError('token-revoked');
    return principal;
  }

  /**
   * Who the credential names, without the revocation check: an API key looked up (a revoked key is
   * unknown), or an access token's signature, expiry and audience. For a caller that checks
   * revocation itself in the same Redis round trip as other work (RequestAdmission).
   */
  async identify(headers: Record<string, string | string[] | undefined>): Promise<Principal> {
    const authorization = headers.authorization;
    const apiKey = headers['x-api-key'];
    if (authorization === undefined && apiKey !== undefined) {
      // Looked up on every request, so a revoked key stops working at once.
      const p = typeof apiKey === 'string' && apiKey.length <= 200 && this.apiKeys ? await this.apiKeys.verify(apiKey) : undefined;
      if (!p) throw new AuthError('invalid-api-key');
      return p;
    }
    return this.tokens.verifyAccess(bearerToken(authorization));
  }

  /** The revocation markers of a principal in Redis (users' tokens only). */
  revocationMarkers(p: Principal): { keys: [string, string]; issuedAt: number } | undefined {
    return this.revocations.markersOf(p);
  }

  /** Redis could not be asked: the database decides (user active with the token's role, session not ended); 503 when it cannot either. */
  async checkedWithoutRedis(principal: Principal): Promise<Principal> {
    let revoked: boolean;
    try {
      if (!this.fallback) throw new Error('no revocation fallback');
      revoked = !(await this.fallback.stillValid(principal));
    } catch {
      throw new ProblemException(503, 'auth-unavailable', 'Authentication unavailable', 'Credentials cannot be checked right now; retry in a few seconds.');
    }
    if (revoked) throw new AuthError('token-revoked');
    return principal;
  }
}

/**
 * Every route needs a valid credential unless marked @Public() (health checks are public), and the
 * permission it names (see permissions.ts: deny by default, tenant_mismatch).
 */
@Injectable()
export class AuthGuard implements CanActivate {
  constructor(
    @Inject(Reflector) private readonly reflector: Reflector,
    @Inject(Authenticator) private readonly authenticator: Authenticator,
    @Optional() @Inject(PlatformOperatorCheck) private readonly operators?: PlatformOperatorCheck,
    @Optional() @Inject(RequestAdmission) private readonly admission?: RequestAdmission,
  ) {}

  async canActivate(ctx: ExecutionContext): Promise<boolean> {
    if (ctx.getType() !== 'http') return true;
    if (isPublicRoute(this.reflector, ctx)) return true;
    const req = ctx.switchToHttp().getRequest<{ headers: Record<string, string | string[] | undefined>; principal?: Principal; ops?: OpsPrincipal }>();
    if (isOpsRoute(this.reflector, ctx)) {
      // Checked against the operator's account on every request (ops traffic is small): a disabled operator stops at once.
      const ops = await Promise.resolve()
        .then(() => this.authenticator.tokens.verifyOps(bearerToken(req.headers.authorization)))
        .catch(async (err: unknown) => {
        // A valid tenant credential is known but not allowed here: 403, so the caller knows to use an ops token.
        if (await this.authenticator.authenticate(req.headers).then(() => true, () => false))
          throw new ProblemException(403, 'ops-token-required', 'Forbidden', 'Ops routes take a platform operator token (POST /ops/login); tenant credentials are never accepted here.');
        throw err;
      });
      if (!this.operators || !(await this.operators.stillActive(ops))) throw new AuthError('token-revoked');
      req.ops = ops;
      return true;
    }
    if (req.principal) {
      authorize(this.reflector, ctx, req.principal);
      return true;
    }
    if (!this.admission) {
      req.principal = await this.authenticator.authenticate(req.headers);
      authorize(this.reflector, ctx, req.principal);
      return true;
    }
    // Who it is, then whether the route allows them, then admission (revocation and whatever the app
    // adds, such as the gateway's limits): a request the route refuses is not counted against the tenant.
    const identified = await this.authenticator.identify(req.headers);
    authorize(this.reflector, ctx, identified);
    req.principal = await this.admission.admit(ctx, identified);
    return true;
  }
}

/** Runs an authenticated request's handler in its tenant's context (DESIGN.md §3.3): set from the credential, never from the body. */
@Injectable()
export class TenantContextInterceptor implements NestInterceptor {
  intercept(ctx: ExecutionContext, next: CallHandler): Observable<unknown> {
    const req = ctx.switchToHttp().getRequest<{ principal?: Principal; headers: Record<string, string | string[] | undefined> }>();
    const p = req.principal;
    if (!p) return next.handle();
    const header = req.headers['x-correlation-id'];
    const correlationId = typeof header === 'string' && /^[\w.:-]{1,100}$/.test(header) ? header : newId();
    const actorId = actorOf(p);
    return new Observable((subscriber) => runInTenantContext({ tenantId: p.tenantId, actorId, correlationId }, () => next.handle().subscribe(subscriber)));
  }
}
