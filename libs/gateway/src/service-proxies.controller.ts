import { Controller, Get, Inject, Query, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { Allow, Audited, CurrentPrincipal, Principal } from '@hotdash/platform-auth';
import { passThrough, plainQuery, ServiceClient } from './service-client';
import { ApiDoc } from '@hotdash/platform-http';
import { auditPageView, auditVerificationView, usageView } from '@hotdash/contracts';

/**
 * The tenant's audit log for its admins: list and filter, export (NDJSON), verify the chain. Served
 * by the audit service; the gateway passes the caller on in an internal token and the answer back
 * as it is (problem+json errors included). Every call is itself an access entry.
 */
@Controller('audit-log')
@Allow('audit:read')
@Audited('audit-log', 'read')
export class AuditLogProxyController {
  constructor(@Inject(ServiceClient) private readonly services: ServiceClient) {}

  @ApiDoc({ summary: "The tenant's audit log: filter by eventType, actor, from, to; page with after and limit", response: auditPageView })
  @Get()
  list(@CurrentPrincipal() p: Principal, @Query() q: unknown, @Res() reply: FastifyReply): Promise<void> {
    return passThrough(reply, this.services.get('audit', '/internal/audit-log', p, plainQuery(q)));
  }

  @ApiDoc({ summary: "Verify the tenant's audit chain (names the first broken link)", response: auditVerificationView })
  @Get('verify')
  verify(@CurrentPrincipal() p: Principal, @Res() reply: FastifyReply): Promise<void> {
    return passThrough(reply, this.services.get('audit', '/internal/audit-log/verify', p));
  }

  @ApiDoc({ summary: "Export the tenant's audit log as NDJSON" })
  @Get('export')
  export(@CurrentPrincipal() p: Principal, @Res() reply: FastifyReply): Promise<void> {
    return passThrough(reply, this.services.get('audit', '/internal/audit-log/export', p));
  }
}

/** Usage per day and the current quotas, for managers and admins (served by the quota service). */
@Controller('usage')
@Allow('usage:read')
@Audited('usage', 'read')
export class UsageProxyController {
  constructor(@Inject(ServiceClient) private readonly services: ServiceClient) {}

  @ApiDoc({ summary: 'Usage per day (from, to) and the current quotas', response: usageView })
  @Get()
  usage(@CurrentPrincipal() p: Principal, @Query() q: unknown, @Res() reply: FastifyReply): Promise<void> {
    return passThrough(reply, this.services.get('quota', '/internal/usage', p, plainQuery(q)));
  }
}
