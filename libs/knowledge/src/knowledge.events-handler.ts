import { Controller, Inject } from '@nestjs/common';
import { Ctx, EventPattern, Payload } from '@nestjs/microservices';
import { Envelope, KnowledgeDocumentsStoredV1, KnowledgeEvents } from '@hotdash/contracts';
import { jobCorrelation } from '@hotdash/platform-jobs';
import type { EventContext } from '@hotdash/platform-messaging';
import { DocumentsService } from './documents.service';

/**
 * Queues the indexing of stored documents announced by any service (provisioning's initial
 * documents; the knowledge service's own uploads, in case queueing after the upload failed). The
 * job id is the document version's, so a version already queued is not queued twice.
 */
@Controller()
export class KnowledgeEventsHandler {
  constructor(@Inject(DocumentsService) private readonly documents: DocumentsService) {}

  @EventPattern(KnowledgeEvents.DOCUMENTS_STORED)
  async onStored(@Payload() event: Envelope<typeof KnowledgeEvents.DOCUMENTS_STORED, KnowledgeDocumentsStoredV1>, @Ctx() ctx: EventContext): Promise<void> {
    const ids = event.payload.documents.map((d) => d.documentId);
    const rows = await ctx.tx.$queryRaw<{ id: string; version: number }[]>`
      select id::text, version from kb_documents where id = any(${ids}::uuid[]) and status in ('stored', 'queued')`;
    for (const r of rows) await this.documents.enqueue({ tenantId: event.tenantId, documentId: r.id, version: r.version, ...jobCorrelation(event) });
  }
}
