import { Body, Controller, Get, Headers, HttpCode, Inject, Param, Post, Query, Res, UseGuards, UseInterceptors } from '@nestjs/common';
import type { ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import type { ExportList, ExportView } from '@hotdash/contracts';
import { actorOf, Allow, CallableBy, CurrentCaller, InternalCaller, InternalAuthGuard, TenantContextInterceptor } from '@hotdash/platform-auth';
import { newId } from '@hotdash/platform-db';
import { parseHeader, parseUuidParam } from '@hotdash/platform-http';
import { ExportsService } from './exports.service';

const CORRELATION_HEADER = 'x-correlation-id';

/**
 * A tenant's data exports (issue 16 item 4): its admins ask for one (data:export), follow it and
 * download it. Tenant callers only, through the gateway's internal token; naming another tenant in
 * the path is 403 tenant_mismatch (the guard), and every read is in the token's tenant's RLS
 * context, so another tenant's export answers 404 like one that does not exist.
 */
@Controller('tenants/:tenantId/exports')
@UseGuards(InternalAuthGuard)
@UseInterceptors(TenantContextInterceptor)
@CallableBy('tenant')
@Allow('data:export')
export class ExportsController {
  constructor(@Inject(ExportsService) private readonly exports: ExportsService) {}

  @Post()
  @HttpCode(202)
  start(@Param('tenantId') id: string, @Body() body: unknown, @CurrentCaller() caller: InternalCaller, @Headers(CORRELATION_HEADER) correlation?: string): Promise<ExportView> {
    return this.exports.start(parseUuidParam(id, 'tenantId'), body, actorOf(caller), parseHeader(correlation, CORRELATION_HEADER, newId()));
  }

  @Get()
  list(@Param('tenantId') id: string): Promise<ExportList> {
    return this.exports.list(parseUuidParam(id, 'tenantId'));
  }

  @Get(':exportId')
  get(@Param('tenantId') id: string, @Param('exportId') exportId: string): Promise<ExportView> {
    return this.exports.view(parseUuidParam(id, 'tenantId'), parseUuidParam(exportId, 'exportId'));
  }

  /** The export's JSON lines (decrypted as sent): needs the link's token as well as the admin's credential. */
  @Get(':exportId/download')
  async download(@Param('tenantId') id: string, @Param('exportId') exportId: string, @Query() query: unknown, @Res() res: ServerResponse | { raw: ServerResponse }): Promise<void> {
    const { body, filename } = await this.exports.download(parseUuidParam(id, 'tenantId'), parseUuidParam(exportId, 'exportId'), query);
    const out = 'raw' in res ? res.raw : res;
    out.writeHead(200, { 'content-type': 'application/x-ndjson; charset=utf-8', 'content-disposition': `attachment; filename="${filename}"`, 'cache-control': 'no-store' });
    // A failure once the answer started (the file changed at rest: its tag does not verify) cuts the
    // connection: the client gets no end line and sees the export is incomplete.
    await pipeline(body, out).catch(() => out.destroy());
  }
}
