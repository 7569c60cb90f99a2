import { createHash } from 'node:crypto';
import { Body, Controller, Delete, Get, Headers, Inject, Param, Post, Put, Query, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { documentListQuery, documentListView, documentReplaceQuery, documentUploadQuery, documentView, KNOWLEDGE_UPLOAD_TYPES, MAX_DOCUMENT_BYTES } from '@hotdash/contracts';
import { Allow, Audited, CurrentPrincipal, Principal } from '@hotdash/platform-auth';
import { ApiDoc, parseUuidParam } from '@hotdash/platform-http';
import { IdempotentReplies, storedReply } from './idempotency';
import { passThrough, plainQuery, sendStored, ServiceClient } from './service-client';

type CallOptions = Parameters<ServiceClient['call']>[4];

/** The upload as the knowledge service takes it: the raw document with its type; anything else is passed on for it to refuse. */
function upload(body: unknown, contentType: string | undefined, query: unknown): CallOptions {
  const q = plainQuery(query);
  if (Buffer.isBuffer(body)) return { query: q, raw: { body, contentType: contentType ?? 'application/octet-stream' } };
  return { query: q, ...(body === undefined || body === null ? {} : { body }), headers: { 'content-type': contentType } };
}

/**
 * The tenant's knowledge base (served by the knowledge service): managers and admins upload
 * (the document itself as the body: text/plain, text/markdown, text/html or application/pdf, up to
 * 20 MB, `?title=`), replace and delete documents; every role lists them and follows their
 * indexing (state and percentage). Every call is an access entry of the tenant.
 */
@Controller('documents')
@Audited('document')
export class DocumentsProxyController {
  constructor(
    @Inject(ServiceClient) private readonly services: ServiceClient,
    @Inject(IdempotentReplies) private readonly idempotency: IdempotentReplies,
  ) {}

  @ApiDoc({ summary: 'Upload a document (202; indexed in the background: follow GET /documents/{id}); Idempotency-Key makes retries safe', query: documentUploadQuery, rawBody: KNOWLEDGE_UPLOAD_TYPES, bodyLimitBytes: MAX_DOCUMENT_BYTES, status: 202, response: documentView })
  @Post()
  @Allow('knowledge:write')
  async upload(
    @CurrentPrincipal() p: Principal,
    @Body() body: unknown,
    @Query() query: unknown,
    @Headers('content-type') type: string | undefined,
    @Headers('idempotency-key') key: string | undefined,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const fingerprint = { query: plainQuery(query), type, sha256: Buffer.isBuffer(body) ? createHash('sha256').update(body).digest('hex') : JSON.stringify(body ?? null) };
    const r = await this.idempotency.once({ tenantId: p.tenantId, route: 'POST /documents' }, key, fingerprint, async () =>
      storedReply(await this.services.call('knowledge', 'POST', '/internal/documents', p, upload(body, type, query))),
    );
    await sendStored(reply, r);
  }

  @ApiDoc({ summary: "The tenant's documents, newest first (limit, before)", query: documentListQuery, response: documentListView })
  @Get()
  @Allow('knowledge:read')
  list(@CurrentPrincipal() p: Principal, @Query() query: unknown, @Res() reply: FastifyReply): Promise<void> {
    return passThrough(reply, this.services.get('knowledge', '/internal/documents', p, plainQuery(query)));
  }

  @ApiDoc({ summary: 'A document: its state (queued, indexing, indexed, failed) and percentage indexed', resource: 'document', response: documentView })
  @Get(':id')
  @Allow('knowledge:read')
  get(@CurrentPrincipal() p: Principal, @Param('id') id: string, @Res() reply: FastifyReply): Promise<void> {
    return passThrough(reply, this.services.get('knowledge', `/internal/documents/${parseUuidParam(id)}`, p));
  }

  @ApiDoc({ summary: 'Replace a document with a new version (re-indexed at once; its old passages disappear)', query: documentReplaceQuery, rawBody: KNOWLEDGE_UPLOAD_TYPES, bodyLimitBytes: MAX_DOCUMENT_BYTES, status: 202, resource: 'document', response: documentView })
  @Put(':id')
  @Allow('knowledge:write')
  replace(@CurrentPrincipal() p: Principal, @Param('id') id: string, @Body() body: unknown, @Query() query: unknown, @Headers('content-type') type: string | undefined, @Res() reply: FastifyReply): Promise<void> {
    return passThrough(reply, this.services.call('knowledge', 'PUT', `/internal/documents/${parseUuidParam(id)}`, p, upload(body, type, query)));
  }

  @ApiDoc({ summary: 'Delete a document and its passages', status: 204, resource: 'document' })
  @Delete(':id')
  @Allow('knowledge:write')
  remove(@CurrentPrincipal() p: Principal, @Param('id') id: string, @Res() reply: FastifyReply): Promise<void> {
    return passThrough(reply, this.services.call('knowledge', 'DELETE', `/internal/documents/${parseUuidParam(id)}`, p));
  }
}
