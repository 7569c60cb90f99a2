import { ExecutionContext, Logger, SetMetadata } from '@nestjs/common';
import type { Reflector } from '@nestjs/core';
import type { OperatorRole } from '@hotdash/contracts';
import { ProblemException } from '@hotdash/platform-http';
import type { Principal } from './tokens';

/** What a route lets its caller do. Roles are sets of these; API keys carry a subset as scopes. */
export const Permissions = [
  'profile:read',
  'users:read',
  'users:manage',
  'api-keys:manage',
  'usage:read',
  'audit:read',
  'drafts:read',
  'drafts:review',
  'tickets:create',
  'tickets:assign',
  'knowledge:read',
  'knowledge:write',
  'settings:write',
] as const;
export type Permission = (typeof Permissions)[number];

/**
 * The role table (DESIGN.md §1): operators work their own queue, team leads also see their team's
 * work and the team and (re)assign its tickets, managers the whole tenant and its usage, admins everything including keys,
 * settings and the audit log.
 */
export const ROLE_PERMISSIONS: Readonly<Record<OperatorRole, ReadonlySet<Permission>>> = {
  operator: new Set<Permission>(['profile:read', 'drafts:read', 'drafts:review', 'knowledge:read']),
  team_lead: new Set<Permission>(['profile:read', 'drafts:read', 'drafts:review', 'tickets:assign', 'knowledge:read', 'users:read']),
  manager: new Set<Permission>(['profile:read', 'drafts:read', 'drafts:review', 'tickets:create', 'tickets:assign', 'knowledge:read', 'users:read', 'usage:read', 'knowledge:write']),
  admin: new Set<Permission>(Permissions),
};

/** Permissions an API key may be given: never the right to manage keys or the tenant's operators. */
export const API_KEY_SCOPES: readonly Permission[] = Permissions.filter((p) => p !== 'api-keys:manage' && p !== 'users:manage' && p !== 'profile:read');

/** What the principal may do: its role's permissions, narrowed to its scopes for an API key. */
export function permissionsOf(p: Principal): Set<Permission> {
  const role = ROLE_PERMISSIONS[p.role];
  if (p.kind === 'user') return new Set(role);
  return new Set(p.scopes.filter((s): s is Permission => role.has(s as Permission)));
}

export const ALLOW = 'hotdash:allow';
/** The permission a route needs. A route without one is refused to everyone (deny by default). */
export const Allow = (permission: Permission): MethodDecorator & ClassDecorator => SetMetadata(ALLOW, permission);

/** Where a request may name a tenant; any of them naming another tenant than the credential's is refused. */
function namedTenants(req: { params?: unknown; query?: unknown; body?: unknown; headers: Record<string, string | string[] | undefined> }): unknown[] {
  const pick = (o: unknown, key: string): unknown => (o && typeof o === 'object' && !Array.isArray(o) ? (o as Record<string, unknown>)[key] : undefined);
  return [pick(req.params, 'tenantId'), pick(req.query, 'tenantId'), pick(req.query, 'tenant_id'), pick(req.body, 'tenantId'), pick(req.body, 'tenant_id'), req.headers['x-tenant-id']].filter(
    (v) => v !== undefined,
  );
}

/**
 * Access checks for an authenticated request (called by AuthGuard after authentication): the
 * route's permission must be among the caller's (deny by default: a route that names none is
 * refused), and a request naming a tenant in its path, query, body or X-Tenant-Id header other than
 * the credential's gets 403 tenant_mismatch.
 */
export function authorize(reflector: Reflector, ctx: ExecutionContext, p: Principal): void {
  const req = ctx.switchToHttp().getRequest<{ params?: unknown; query?: unknown; body?: unknown; headers: Record<string, string | string[] | undefined> }>();
  for (const named of namedTenants(req)) {
    if (named !== p.tenantId)
      throw new ProblemException(403, 'tenant_mismatch', 'Tenant mismatch', 'The request names another tenant than the one your credential belongs to; the tenant always comes from the credential.');
  }
  const needed = reflector.getAllAndOverride<Permission | undefined>(ALLOW, [ctx.getHandler(), ctx.getClass()]);
  if (!needed) {
    logger.error(`${ctx.getClass().name}.${ctx.getHandler().name} names no permission: refused (add @Allow(...))`);
    throw forbidden();
  }
  if (!permissionsOf(p).has(needed)) throw forbidden();
}

const logger = new Logger('access');

function forbidden(): ProblemException {
  return new ProblemException(403, 'forbidden', 'Forbidden', 'Your role does not allow this.');
}
