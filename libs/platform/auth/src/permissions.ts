import { ExecutionContext, Logger } from '@nestjs/common';
import type { Reflector } from '@nestjs/core';
import type { OperatorRole } from '@hotdash/contracts';
import { ProblemException } from '@hotdash/platform-http';
import { routePolicy } from './route-policy';
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
  'settings:read',
  'settings:write',
  /** Export the tenant's data, or one data subject's (issue 16): admins only, never an API key. */
  'data:export',
  /** Erase one data subject's personal data (GDPR, issue 16): admins only, never an API key. */
  'data:erase',
] as const;
export type Permission = (typeof Permissions)[number];

/**
 * The role table (DESIGN.md §1): operators work their own queue, team leads also see their team's
 * work and the team and (re)assign its tickets, managers the whole tenant, its usage and its settings (read only), admins
 * everything including keys, changing settings and the audit log.
 */
export const ROLE_PERMISSIONS: Readonly<Record<OperatorRole, ReadonlySet<Permission>>> = {
  operator: new Set<Permission>(['profile:read', 'drafts:read', 'drafts:review', 'knowledge:read']),
  team_lead: new Set<Permission>(['profile:read', 'drafts:read', 'drafts:review', 'tickets:assign', 'knowledge:read', 'users:read']),
  manager: new Set<Permission>(['profile:read', 'drafts:read', 'drafts:review', 'tickets:create', 'tickets:assign', 'knowledge:read', 'users:read', 'usage:read', 'knowledge:write', 'settings:read']),
  admin: new Set<Permission>(Permissions),
};

/** Permissions an API key may be given: never the right to manage keys or the tenant's operators. */
export const API_KEY_SCOPES: readonly Permission[] = Permissions.filter((p) => p !== 'api-keys:manage' && p !== 'users:manage' && p !== 'profile:read' && p !== 'data:export' && p !== 'data:erase');

/** What the principal may do: its role's permissions, narrowed to its scopes for an API key. */
export function permissionsOf(p: Principal): Set<Permission> {
  const role = ROLE_PERMISSIONS[p.role];
  if (p.kind === 'user') return new Set(role);
  return new Set(p.scopes.filter((s): s is Permission => role.has(s as Permission)));
}

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
  const route = routePolicy(reflector, ctx);
  if (!route.permission) {
    logger.error(`${route.name} names no permission: refused (add @Allow(...))`);
    throw forbidden();
  }
  if (!permits(p, route.permission)) throw forbidden();
}

/** Role permission sets narrowed to an API key's scopes, by the scopes' text (keys are few; a token's scopes do not change). */
const scoped = new Map<string, Set<Permission>>();

/** Whether the principal may do `needed`: permissionsOf(p) without making the set on every request. */
function permits(p: Principal, needed: Permission): boolean {
  if (p.kind === 'user') return ROLE_PERMISSIONS[p.role].has(needed);
  const key = `${p.role} ${p.scopes.join(' ')}`;
  let set = scoped.get(key);
  if (!set) {
    if (scoped.size >= 10_000) scoped.clear();
    scoped.set(key, (set = permissionsOf(p)));
  }
  return set.has(needed);
}

const logger = new Logger('access');

function forbidden(): ProblemException {
  return new ProblemException(403, 'forbidden', 'Forbidden', 'Your role does not allow this.');
}
