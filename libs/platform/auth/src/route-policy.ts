import { ExecutionContext, SetMetadata } from '@nestjs/common';
import type { Reflector } from '@nestjs/core';
import { HealthController } from '@hotdash/platform-http';
import { AUDITED, AuditedOptions } from './audited';
import type { Permission } from './permissions';

export const PUBLIC_ROUTE = 'hotdash:public-route';
/** A route anyone may call (login, refresh): every other route needs a credential. */
export const Public = (): MethodDecorator & ClassDecorator => SetMetadata(PUBLIC_ROUTE, true);

export const OPS_ROUTE = 'hotdash:ops-route';
/**
 * A route of the platform's ops team: only a platform operator's token (audience hotdash-ops) is
 * accepted, never a tenant's credential, and tenant limits do not apply.
 */
export const OpsRoute = (): MethodDecorator & ClassDecorator => SetMetadata(OPS_ROUTE, true);

export const PER_ADDRESS_LIMIT = 'hotdash:per-address-limit';
/**
 * Requests a minute one client address may make to a public route (sign-up, accepting an
 * invitation, single sign-on), whatever its method: the gateway's admission applies it.
 */
export const LimitPerAddress = (perMinute: number): MethodDecorator => SetMetadata(PER_ADDRESS_LIMIT, perMinute);

export const ALLOW = 'hotdash:allow';
/** The permission a route needs. A route without one is refused to everyone (deny by default). */
export const Allow = (permission: Permission): MethodDecorator & ClassDecorator => SetMetadata(ALLOW, permission);

/**
 * What the access decorators declare for one route (method over class, as Nest's
 * `getAllAndOverride` reads them). The decorators on the controllers stay the one place a route's
 * access is declared; this is their reading.
 */
export interface RoutePolicy {
  /** `@Public()`, or a health check: no credential. */
  readonly public: boolean;
  /** `@OpsRoute()`: platform operators' tokens only. */
  readonly ops: boolean;
  /** `@Allow(...)`: the permission a tenant's caller needs; none means refused to everyone. */
  readonly permission: Permission | undefined;
  /** `@Audited(...)`: what the route's requests read or change, for the audit of access. */
  readonly audited: AuditedOptions | undefined;
  /** `Controller.method`, for logs. */
  readonly name: string;
}

/**
 * Policies by controller class and handler: each route's metadata is read once (on its first
 * request), not with every request. Keyed by class as well as handler, since a handler inherited
 * by two controllers may be declared differently by each.
 */
const policies = new WeakMap<object, WeakMap<object, RoutePolicy>>();

/** The access declared for the route `ctx` runs. */
export function routePolicy(reflector: Reflector, ctx: ExecutionContext): RoutePolicy {
  const cls = ctx.getClass();
  const handler = ctx.getHandler();
  let byHandler = policies.get(cls);
  let policy = byHandler?.get(handler);
  if (policy) return policy;
  const targets = [handler, cls];
  policy = Object.freeze({
    public: cls === HealthController || reflector.getAllAndOverride<boolean>(PUBLIC_ROUTE, targets) === true,
    ops: reflector.getAllAndOverride<boolean>(OPS_ROUTE, targets) === true,
    permission: reflector.getAllAndOverride<Permission | undefined>(ALLOW, targets),
    audited: reflector.getAllAndOverride<AuditedOptions | undefined>(AUDITED, targets),
    name: `${cls.name}.${handler.name}`,
  });
  if (!byHandler) policies.set(cls, (byHandler = new WeakMap()));
  byHandler.set(handler, policy);
  return policy;
}

/** True for routes that take no credential: @Public() ones and health checks. */
export function isPublicRoute(reflector: Reflector, ctx: ExecutionContext): boolean {
  return routePolicy(reflector, ctx).public;
}

export function isOpsRoute(reflector: Reflector, ctx: ExecutionContext): boolean {
  return routePolicy(reflector, ctx).ops;
}
