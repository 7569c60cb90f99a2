import { Body, Controller, Delete, Get, Headers, HttpCode, Inject, Param, Post, Put, Query, UseGuards, UseInterceptors } from '@nestjs/common';
import { Allow, CurrentPrincipal, InternalAuthGuard, Principal, TenantContextInterceptor } from '@hotdash/platform-auth';
import { parseUuidParam } from '@hotdash/platform-http';
import { DocumentDto, DocumentsService } from './documents.service';

/**
 * The knowledge service's API behind the gateway (internal tokens only; the tenant is the
 * caller's). Uploads are the document itself as the body, with its Content-Type and `?title=`.
 * Managers and admins write (knowledge:write); every role reads (knowledge:read).
 */
@Controller('internal/documents')
@UseGuards(InternalAuthGuard)
@UseInterceptors(TenantContextInterceptor)
export class DocumentsController {
  constructor(@Inject(DocumentsService) private readonly documents: DocumentsService) {}

  @Post()
  @HttpCode(202)
  @Allow('knowledge:write')
  upload(@CurrentPrincipal() p: Principal, @Headers('content-type') type: string | undefined, @Body() body: unknown, @Query() query: unknown): Promise<DocumentDto> {
    return this.documents.upload(p, type, body, query);
  }

  @Put(':id')
  @HttpCode(202)
  @Allow('knowledge:write')
  replace(@CurrentPrincipal() p: Principal, @Param('id') id: string, @Headers('content-type') type: string | undefined, @Body() body: unknown, @Query() query: unknown): Promise<DocumentDto> {
    return this.documents.replace(p, parseUuidParam(id), type, body, query);
  }

  @Get()
  @Allow('knowledge:read')
  list(@CurrentPrincipal() p: Principal, @Query() query: unknown): Promise<{ documents: DocumentDto[]; next: string | null }> {
    return this.documents.list(p.tenantId, query);
  }

  @Get(':id')
  @Allow('knowledge:read')
  get(@CurrentPrincipal() p: Principal, @Param('id') id: string): Promise<DocumentDto> {
    return this.documents.get(p.tenantId, parseUuidParam(id));
  }

  @Delete(':id')
  @HttpCode(204)
  @Allow('knowledge:write')
  async delete(@CurrentPrincipal() p: Principal, @Param('id') id: string): Promise<void> {
    await this.documents.delete(p, parseUuidParam(id));
  }
}
