import { CanActivate, DynamicModule, ExecutionContext, Inject, Injectable, Module } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { bearerToken, isPublicRoute, TenantContextInterceptor } from './authentication';
import { AuthKeys } from './keys';
import { authorize } from './permissions';
import { Principal, TokenService } from './tokens';

/** The name a service verifies internal tokens for (their audience is `hotdash-internal:<name>`). */
export const INTERNAL_SERVICE = Symbol('INTERNAL_SERVICE');

/**
 * A service behind the gateway accepts a call only with an internal token minted by the gateway for
 * this service (60 s, the caller's identity and tenant): no token, another service's, or a public
 * access token is 401. The route's permission is checked again here, and the handler runs in the
 * caller's tenant context.
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
    const req = ctx.switchToHttp().getRequest<{ headers: Record<string, string | string[] | undefined>; principal?: Principal }>();
    req.principal = await this.tokens.verifyInternal(bearerToken(req.headers.authorization), this.service);
    authorize(this.reflector, ctx, req.principal);
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
