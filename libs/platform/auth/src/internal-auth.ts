import { CanActivate, DynamicModule, ExecutionContext, Inject, Injectable, Module, SetMetadata } from '@nestjs/common';
import { ProblemException } from '@hotdash/platform-http';
import { Reflector } from '@nestjs/core';
import { bearerToken, credentialOf, TenantContextInterceptor } from './authentication';
import { isPublicRoute } from './route-policy';
import { AuthKeys } from './keys';
import { authorize } from './permissions';
import { InternalCaller, Principal, TokenService } from './tokens';

/** The name a service verifies internal tokens for (their audience is `hotdash-internal:<name>`). */
export const INTERNAL_SERVICE = Symbol('INTERNAL_SERVICE');

export type CallerKind = 'tenant' | 'platform' | 'anonymous';
export const CALLERS = 'hotdash:callers';
/**
 * Who may call a route of a service that serves more than a tenant's users (provisioning serves the
 * ops team and public sign-up too). Without it a route takes tenant callers only.
 */
export const CallableBy = (...kinds: CallerKind[]): MethodDecorator & ClassDecorator => SetMetadata(CALLERS, kinds);

/** The request's caller, set by InternalAuthGuard. */
export const CurrentCaller = credentialOf<InternalCaller>('caller');

/**
 * A service behind the gateway accepts a call only with an internal token minted by the gateway for
 * this service (60 s): no token, another service's, or a public access token is 401. The token
 * carries a tenant's principal, a platform operator or an anonymous caller; a route takes tenant
 * callers only unless it says otherwise (`@CallableBy`). A tenant caller is checked again like at
 * the gateway (the route's permission, tenant_mismatch on a tenantId in the path) and its handler
 * runs in its tenant context.
 */
@Injectable()
export class InternalAuthGuard implements CanActivate {
  constructor(
    @Inject(Reflector) private readonly reflector: Reflector,
    @Inject(TokenService) private readonly tokens: TokenService,
    @Inject(INTERNAL_SERVICE) private readonly service: string,
  ) {}

  async canActivate(ctx: ExecutionContext): Promise<boolean> {
    if (ctx.getType() !== 'http' || isPublicRoute(this.reflector, ctx)) return true;
    const req = ctx.switchToHttp().getRequest<{ headers: Record<string, string | string[] | undefined>; principal?: Principal; caller?: InternalCaller }>();
    const caller = await this.tokens.verifyInternalCaller(bearerToken(req.headers.authorization), this.service);
    const allowed = this.reflector.getAllAndOverride<CallerKind[] | undefined>(CALLERS, [ctx.getHandler(), ctx.getClass()]) ?? ['tenant'];
    const kind: CallerKind = caller.kind === 'platform' || caller.kind === 'anonymous' ? caller.kind : 'tenant';
    if (!allowed.includes(kind)) throw new ProblemException(403, 'forbidden', 'Forbidden', 'This route is not open to your kind of credential.');
    req.caller = caller;
    if (caller.kind === 'user' || caller.kind === 'api-key') {
      req.principal = caller;
      authorize(this.reflector, ctx, caller);
    }
    return true;
  }
}

/**
 * Internal-token authentication for a service's HTTP API (verification keys only;
 * HOTDASH_AUTH_VERIFY_KEYS). Controllers put `@UseGuards(InternalAuthGuard)` and
 * `@UseInterceptors(TenantContextInterceptor)` on themselves, so they stay closed in any app.
 */
@Module({})
export class InternalAuthModule {
  static forService(service: string, keys: AuthKeys = AuthKeys.fromEnv()): DynamicModule {
    return {
      module: InternalAuthModule,
      providers: [
        { provide: INTERNAL_SERVICE, useValue: service },
        { provide: TokenService, useFactory: () => new TokenService(keys) },
        InternalAuthGuard,
        TenantContextInterceptor,
      ],
      exports: [TokenService, INTERNAL_SERVICE, InternalAuthGuard, TenantContextInterceptor],
    };
  }
}
