import { ExecutionContext, Inject, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { AccessAction, TenantId } from '@hotdash/contracts';
import { actorOf, OpsPrincipal, Principal, RequestAudit, routePolicy } from '@hotdash/platform-auth';
import { AccessLog } from './access-log';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const ACTIONS: Record<string, AccessAction> = { GET: 'read', HEAD: 'read', POST: 'create', PUT: 'update', PATCH: 'update', DELETE: 'delete' };

interface RequestLike {
  method: string;
  ip?: string;
  params?: Record<string, string>;
  principal?: Principal;
  ops?: OpsPrincipal;
  routeOptions?: { url?: string };
}

/**
 * The audit of access: every request of an authenticated caller that reached its handler (reads
 * and changes, answered or failed) becomes an access entry: who, what action on which resource,
 * the answer's status, the caller's IP, when. Requests refused before (401, 403, 429) touched
 * nothing and are not entries. Told each request's outcome by the platform's tenant-context
 * interceptor (RequestAudit): the request passes one interceptor for both.
 */
@Injectable()
export class AccessAudit implements RequestAudit {
  constructor(
    @Inject(Reflector) private readonly reflector: Reflector,
    @Inject(AccessLog) private readonly log: AccessLog,
  ) {}

  begin(ctx: ExecutionContext, correlationId: string): ((status: number, body: unknown) => void) | undefined {
    const req = ctx.switchToHttp().getRequest<RequestLike>();
    // A tenant's caller, or a platform operator acting on a tenant named in the path: the entry goes to that tenant's log.
    const p = req.principal;
    const opsTenant = !p && req.ops && UUID.test(req.params?.tenantId ?? '') ? (req.params!.tenantId!.toLowerCase() as TenantId) : undefined;
    const tenantId = p?.tenantId ?? opsTenant;
    const caller = p ?? req.ops;
    if (!tenantId || !caller) return undefined;
    const meta = routePolicy(this.reflector, ctx).audited;
    return (status, body) => {
      const route = req.routeOptions?.url ?? '';
      const b = (body && typeof body === 'object' ? body : {}) as { id?: unknown; userId?: unknown };
      const created = typeof b.id === 'string' ? b.id : typeof b.userId === 'string' ? b.userId : null;
      this.log.record(tenantId, correlationId, {
        actor: actorOf(caller),
        action: meta?.action ?? ACTIONS[req.method] ?? 'read',
        resourceType: meta?.resourceType ?? (opsTenant ? 'tenant' : route.split('/')[1] || 'root'),
        // Only an id that names something (a UUID) goes in: a nonsense id was refused by the route anyway.
        resourceId: [req.params?.id, opsTenant, created].find((v): v is string => typeof v === 'string' && UUID.test(v)) ?? null,
        method: req.method,
        route: route.slice(0, 200),
        status,
        ip: req.ip ?? null,
        at: new Date().toISOString(),
      });
    };
  }
}
