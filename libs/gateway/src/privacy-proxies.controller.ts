import { Body, Controller, Get, Headers, Inject, Param, Post, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { ERASURE_BODY_LIMIT, PrivacyProblems, privacyProblemCodeOf, subjectErasureBody, subjectErasureView } from '@hotdash/contracts';
import { Allow, Audited, CurrentPrincipal, Principal } from '@hotdash/platform-auth';
import { ApiDoc, parseInput, parseUuidParam } from '@hotdash/platform-http';
import { passThrough, ServiceClient } from './service-client';

/**
 * Erasure of one data subject (GDPR; served by the drafts service, owner of the customers' tickets):
 * a tenant admin names the customer by e-mail; the erasure runs in the background across every
 * store and ends with a certificate signed by the platform (`hotdash-ops certificate verify`).
 */
@Controller('privacy/erasures')
@Audited('erasure')
export class PrivacyProxyController {
  constructor(@Inject(ServiceClient) private readonly services: ServiceClient) {}

  @ApiDoc({
    summary:
      "Erase one data subject (a customer, by e-mail) across PostgreSQL, Kafka (the subject's data keys destroyed), backups, Redis, mail and the vector store. 202 with the erasure, running; follow it at /privacy/erasures/{id} until its certificate. The subject's erasure already running answers 202 with it",
    body: subjectErasureBody,
    bodyLimitBytes: ERASURE_BODY_LIMIT,
    status: 202,
    response: subjectErasureView,
    problems: { 400: `Invalid body (${PrivacyProblems.INVALID_EMAIL}, unknown-field)` },
  })
  @Post()
  @Allow('data:erase')
  start(@CurrentPrincipal() p: Principal, @Body() body: unknown, @Headers('x-correlation-id') correlation: string | undefined, @Res() reply: FastifyReply): Promise<void> {
    // Bad input is answered here, before any service is called.
    parseInput(subjectErasureBody, body, privacyProblemCodeOf);
    return passThrough(reply, this.services.call('drafts', 'POST', '/internal/privacy/erasures', p, { body, headers: { 'x-correlation-id': correlation } }));
  }

  @ApiDoc({
    summary: "An erasure of the tenant: its steps (done of total) and, once succeeded, the certificate the platform signed (what was erased where)",
    resource: 'erasure',
    response: subjectErasureView,
    problems: { 404: `No such erasure in this tenant (${PrivacyProblems.NOT_FOUND})` },
  })
  @Get(':id')
  @Allow('data:erase')
  get(@CurrentPrincipal() p: Principal, @Param('id') id: string, @Res() reply: FastifyReply): Promise<void> {
    return passThrough(reply, this.services.get('drafts', `/internal/privacy/erasures/${parseUuidParam(id)}`, p));
  }
}
