import { CallHandler, CanActivate, createParamDecorator, ExecutionContext, Inject, Injectable, NestInterceptor, Optional } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { Observable, Observer } from 'rxjs';
import { AuthError } from './errors';
import { RevocationStore, type RevocationMarkers } from './revocations';
import { actorOf, OpsPrincipal, Principal, TokenService } from './tokens';
import { authorize } from './permissions';
import { RoutePolicy, routePolicy } from './route-policy';
import { newId } from '@hotdash/platform-db';
import { ProblemException, problemOf } from '@hotdash/platform-http';
import { runInTenantContext } from '@hotdash/platform-tenancy';

/** A parameter decorator giving the credential a guard put on the request under `key` (401 when there is none). */
export function credentialOf<T>(key: 'principal' | 'ops' | 'caller'): () => ParameterDecorator {
  return createParamDecorator((_: unknown, ctx: ExecutionContext): T => {
    const value = ctx.switchToHttp().getRequest<Record<string, T | undefined>>()[key];
    if (!value) throw new AuthError('missing-credentials');
    return value;
  });
}

/**
 * Admits a request in one step where an app can do better than the plain revocation check (the
 * gateway: revocation and the tenant's rate limits in one Redis round trip), from the one guard
 * every request passes (AuthGuard): the app adds no guard of its own.
 */
export abstract class RequestAdmission {
  /**
   * Called with the identified principal once the route has allowed it; returns the principal,
   * revocation checked, or throws (401 revoked, 429, 503).
   */
  abstract admit(ctx: ExecutionContext, identified: Principal): Promise<Principal>;
  /** Called for a public route (no credential): the limits the app puts on such callers (per address, per account); throws 429. */
  abstract admitPublic(ctx: ExecutionContext, route: RoutePolicy): Promise<void>;
}

/**
 * What an app records of each request that reaches its handler (the gateway: the audit of
 * access). TenantContextInterceptor asks it before the handler runs and tells it the outcome, in
 * the same interceptor that runs the handler in the tenant's context: one interceptor per request.
 */
export abstract class RequestAudit {
  /**
   * Whether this request is recorded: what to call with its answer's status and body (the
   * handler's result; none when it failed), or undefined. `correlationId` is the request's own
   * (its X-Correlation-Id, or one made for it), the one its tenant context carries.
   */
  abstract begin(ctx: ExecutionContext, correlationId: string): ((status: number, body: unknown) => void) | undefined;
}

const CORRELATION_ID = /^[\w.:-]{1,100}$/;

/** The request's correlation id: its X-Correlation-Id when it is a sane one, else a new id. */
export function correlationIdOf(headers: Record<string, string | string[] | undefined>): string {
  const header = headers['x-correlation-id'];
  return typeof header === 'string' && CORRELATION_ID.test(header) ? header : newId();
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
    @Inject(RevocationStore) private readonly revocations: RevocationStore,
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

  /**
   * identify() without a promise for the common case: an access token this process has already
   * verified (and that has not expired). Undefined otherwise: identify() decides, and says why not.
   */
  identifiedFast(headers: Record<string, string | string[] | undefined>): Principal | undefined {
    const authorization = headers.authorization;
    // The exact text of a token verified before: it passed bearerToken() then, so it would now.
    return typeof authorization === 'string' && authorization.startsWith('Bearer ') ? this.tokens.verifiedAccess(authorization.slice(7)) : undefined;
  }

  /** The revocation markers of a principal in Redis (users' tokens only). */
  revocationMarkers(p: Principal): RevocationMarkers | undefined {
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
 * permission it names (see permissions.ts: deny by default, tenant_mismatch). The one guard of an
 * app: what the app adds to admission (the gateway's limits, public routes' limits included) it
 * adds through RequestAdmission, called from here. The route's access is read from its decorators
 * once (routePolicy), not with every request.
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
    const route = routePolicy(this.reflector, ctx);
    if (route.public) {
      if (this.admission) await this.admission.admitPublic(ctx, route);
      return true;
    }
    const req = ctx.switchToHttp().getRequest<{ headers: Record<string, string | string[] | undefined>; principal?: Principal; ops?: OpsPrincipal }>();
    if (route.ops) {
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
    const identified = this.authenticator.identifiedFast(req.headers) ?? (await this.authenticator.identify(req.headers));
    authorize(this.reflector, ctx, identified);
    req.principal = await this.admission.admit(ctx, identified);
    return true;
  }
}

/**
 * Runs an authenticated request's handler in its tenant's context (DESIGN.md §3.3): set from the
 * credential, never from the body. Where the app records requests (RequestAudit: the gateway's
 * audit of access), the same interceptor tells it each request's outcome, so a request passes one
 * interceptor, not one per concern. The tenant context and the record carry the same correlation id.
 */
@Injectable()
export class TenantContextInterceptor implements NestInterceptor {
  constructor(@Optional() @Inject(RequestAudit) private readonly audit?: RequestAudit) {}

  intercept(ctx: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (ctx.getType() !== 'http') return next.handle();
    const http = ctx.switchToHttp();
    const req = http.getRequest<{ principal?: Principal; headers: Record<string, string | string[] | undefined> }>();
    const p = req.principal;
    if (!p && !this.audit) return next.handle();
    const correlationId = correlationIdOf(req.headers);
    const done = this.audit?.begin(ctx, correlationId);
    if (!done) {
      if (!p) return next.handle();
      const tenant = { tenantId: p.tenantId, actorId: actorOf(p), correlationId };
      // next.handle() binds the handler to the async context it is called in: called inside the tenant's.
      return new Observable((subscriber) => runInTenantContext(tenant, () => next.handle().subscribe(subscriber)));
    }
    const res = http.getResponse<{ statusCode: number }>();
    return new Observable((subscriber) => {
      const observer: Observer<unknown> = {
        next: (body) => {
          done(res.statusCode, body);
          subscriber.next(body);
        },
        error: (err: unknown) => {
          done(problemOf(err).status, undefined);
          subscriber.error(err);
        },
        complete: () => subscriber.complete(),
      };
      return p ? runInTenantContext({ tenantId: p.tenantId, actorId: actorOf(p), correlationId }, () => next.handle().subscribe(observer)) : next.handle().subscribe(observer);
    });
  }
}
