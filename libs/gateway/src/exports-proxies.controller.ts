import { Body, Controller, Get, Headers, HttpCode, Inject, Param, Post, Query, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { EXPORT_BODY_LIMIT, exportDownloadQuery, exportList, ExportProblems, exportView, startExportBody } from '@hotdash/contracts';
import { Allow, Audited, CurrentPrincipal, Principal } from '@hotdash/platform-auth';
import { ApiDoc, parseUuidParam } from '@hotdash/platform-http';
import { passThrough, plainQuery, ServiceClient } from './service-client';

const NOT_FOUND = `No export of this id in the tenant (${ExportProblems.NOT_FOUND}; another tenant's export answers the same)`;

/**
 * Data exports (CCPA; served by provisioning): a tenant admin asks for the tenant's whole data set
 * or one data subject's (a customer by e-mail), follows the job's progress and downloads the JSON
 * lines (docs/exports.md) through a link signed for this tenant and export that expires. Admins
 * only (data:export; never an API key). Shapes and codes: libs/contracts/src/exports.api.ts.
 */
@Controller('exports')
@Allow('data:export')
@Audited('data-export')
export class ExportsProxyController {
  constructor(@Inject(ServiceClient) private readonly services: ServiceClient) {}

  @ApiDoc({
    summary:
      "Export the tenant's data (kind tenant: every table with the tenant's rows, knowledge documents, the audit log) or one data subject's (kind subject, by e-mail: their tickets, drafts and replies), as JSON lines with encrypted fields decrypted. Runs in the background: 202 with the run; follow it at GET /exports/{id}",
    body: startExportBody,
    bodyLimitBytes: EXPORT_BODY_LIMIT,
    status: 202,
    response: exportView,
    problems: {
      400: `Invalid request: ${ExportProblems.INVALID_KIND}, ${ExportProblems.INVALID_EMAIL}, unknown-field`,
      409: `An export of the tenant is queued or running (${ExportProblems.IN_PROGRESS})`,
    },
  })
  @Post()
  @HttpCode(202)
  start(@CurrentPrincipal() p: Principal, @Body() body: unknown, @Headers('x-correlation-id') correlation: string | undefined, @Res() reply: FastifyReply): Promise<void> {
    return passThrough(reply, this.services.call('provisioning', 'POST', `/tenants/${p.tenantId}/exports`, p, { body: body ?? {}, headers: { 'x-correlation-id': correlation } }));
  }

  @ApiDoc({ summary: "The tenant's latest exports, newest first", response: exportList })
  @Get()
  list(@CurrentPrincipal() p: Principal, @Res() reply: FastifyReply): Promise<void> {
    return passThrough(reply, this.services.get('provisioning', `/tenants/${p.tenantId}/exports`, p));
  }

  @ApiDoc({
    summary: 'An export: its status (queued, running, succeeded, failed, expired), progress per table (rows done of rows estimated) and, once it succeeded and until it expires, its download link',
    resource: 'export',
    response: exportView,
    problems: { 404: NOT_FOUND },
  })
  @Get(':id')
  get(@CurrentPrincipal() p: Principal, @Param('id') id: string, @Res() reply: FastifyReply): Promise<void> {
    return passThrough(reply, this.services.get('provisioning', `/tenants/${p.tenantId}/exports/${parseUuidParam(id)}`, p));
  }

  @ApiDoc({
    summary: "Download an export (application/x-ndjson, decrypted as it is sent) with its link's token: the token is signed for this tenant and export and expires with it",
    resource: 'export',
    query: exportDownloadQuery,
    problems: {
      400: `The token is missing or malformed (${ExportProblems.INVALID_TOKEN})`,
      404: `${NOT_FOUND}, or a token that is not this export's`,
      409: `The export has not succeeded (${ExportProblems.NOT_READY})`,
      410: `The link expired and the file was deleted (${ExportProblems.EXPIRED})`,
    },
  })
  @Get(':id/download')
  download(@CurrentPrincipal() p: Principal, @Param('id') id: string, @Query() q: unknown, @Res() reply: FastifyReply): Promise<void> {
    return passThrough(reply, this.services.get('provisioning', `/tenants/${p.tenantId}/exports/${parseUuidParam(id)}/download`, p, plainQuery(q)));
  }
}
