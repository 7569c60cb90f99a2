import { Readable } from 'node:stream';
import { Controller, Get, Inject, Query, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { Allow, Audited, CurrentPrincipal, Principal } from '@hotdash/platform-auth';
import { ServiceClient } from './service-client';

/** Only plain string query parameters go on; the audit service validates them (unknown ones are 400 there). */
function plainQuery(q: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (q && typeof q === 'object') for (const [k, v] of Object.entries(q)) if (typeof v === 'string') out[k] = v;
  return out;
}

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

  @Get()
  list(@CurrentPrincipal() p: Principal, @Query() q: unknown, @Res() reply: FastifyReply): Promise<void> {
    return this.pass(reply, this.services.get('audit', '/internal/audit-log', p, plainQuery(q)));
  }

  @Get('verify')
  verify(@CurrentPrincipal() p: Principal, @Res() reply: FastifyReply): Promise<void> {
    return this.pass(reply, this.services.get('audit', '/internal/audit-log/verify', p));
  }

  @Get('export')
  export(@CurrentPrincipal() p: Principal, @Res() reply: FastifyReply): Promise<void> {
    return this.pass(reply, this.services.get('audit', '/internal/audit-log/export', p));
  }

  private async pass(reply: FastifyReply, call: Promise<Response>): Promise<void> {
    const res = await call;
    for (const h of ['content-type', 'content-disposition']) {
      const v = res.headers.get(h);
      if (v) void reply.header(h, v);
    }
    void reply.status(res.status);
    await reply.send(res.body ? Readable.fromWeb(res.body as import('node:stream/web').ReadableStream) : undefined);
  }
}
