import { Controller, Inject } from '@nestjs/common';
import { Ctx, Payload } from '@nestjs/microservices';
import { EventPattern } from '@hotdash/platform-messaging';
import { Envelope, KnowledgeDocumentSubmittedV1, KnowledgeEvents, parseTenantId, SUBMITTED_DOCUMENT_CONTENT_FIELD, TenantEvents, TenantImportedV1, TenantRestoredV1 } from '@hotdash/contracts';
import { FieldCipher } from '@hotdash/platform-crypto';
import { ProblemException } from '@hotdash/platform-http';
import { jobCorrelation } from '@hotdash/platform-jobs';
import { type EventContext, NonRetryableError } from '@hotdash/platform-messaging';
import { DocumentsService } from './documents.service';

/**
 * Knowledge's event handlers: documents other services hand in (provisioning's initial documents)
 * are stored as uploads are, and queued for indexing once the consumer's transaction has committed
 * (ctx.afterCommit). Knowledge does not consume its own knowledge.documents-stored (issue 13 item 5):
 * a queueing that failed, or a process that died between the commit and the queueing, is caught by
 * the stored-documents sweep (StoredDocumentsSweep).
 */
@Controller()
export class KnowledgeEventsHandler {
  constructor(
    @Inject(DocumentsService) private readonly documents: DocumentsService,
    @Inject(FieldCipher) private readonly cipher: FieldCipher,
  ) {}

  /** Stores a submitted document once per id, and queues its indexing after the commit. */
  @EventPattern(KnowledgeEvents.DOCUMENT_SUBMITTED)
  async onSubmitted(@Payload() event: Envelope<typeof KnowledgeEvents.DOCUMENT_SUBMITTED, KnowledgeDocumentSubmittedV1>, @Ctx() ctx: EventContext): Promise<void> {
    const p = event.payload;
    const tenantId = parseTenantId(event.tenantId);
    let text: string;
    try {
      text = await this.cipher.decrypt(tenantId, SUBMITTED_DOCUMENT_CONTENT_FIELD, p.content);
    } catch (err) {
      throw new NonRetryableError(`the submitted document ${p.documentId} cannot be decrypted: ${(err as Error).message}`, 'undecryptable');
    }
    let stored: boolean;
    try {
      stored = await this.documents.storeSubmitted(ctx.tx, tenantId, {
        documentId: p.documentId,
        title: p.title,
        contentType: p.contentType,
        text,
        by: p.by,
        correlationId: event.correlationId,
        causationId: event.id,
      });
    } catch (err) {
      // The knowledge base is full: asking again will not make room.
      if (err instanceof ProblemException && err.status < 500) throw new NonRetryableError(`${err.code}: ${err.detail ?? err.message}`, err.code);
      throw err;
    }
    // Queued only once the row is committed (a job that ran before the commit would not find it);
    // if this fails or the process dies first, the sweep queues it. A submission already stored
    // was queued when it was stored (or is the sweep's to catch).
    if (stored) ctx.afterCommit(() => this.documents.enqueue({ tenantId, documentId: p.documentId, version: 1, ...jobCorrelation(event) }));
  }

  /** A pilot's tenant imported: its documents waiting or being indexed at the cut-over (their jobs stayed on the pilot) are queued again once this commits. */
  @EventPattern(TenantEvents.IMPORTED)
  async onTenantImported(@Payload() event: Envelope<typeof TenantEvents.IMPORTED, TenantImportedV1>, @Ctx() ctx: EventContext): Promise<void> {
    await this.queueWaitingAgain(event, ctx);
  }

  /** A tenant restored from an archive: its documents the archive caught waiting or being indexed are queued again once this commits, under job ids of the restore's own. */
  @EventPattern(TenantEvents.RESTORED)
  async onTenantRestored(@Payload() event: Envelope<typeof TenantEvents.RESTORED, TenantRestoredV1>, @Ctx() ctx: EventContext): Promise<void> {
    await this.queueWaitingAgain(event, ctx, `restore-${event.payload.runId}`);
  }

  /** The tenant's waiting and indexing documents made waiting in the event's transaction, queued once it commits (`again`: DocumentsService.enqueue's). */
  private async queueWaitingAgain(event: Envelope, ctx: EventContext, again?: string): Promise<void> {
    const tenantId = parseTenantId(event.tenantId);
    const waiting = await this.documents.waitingToQueueAgain(ctx.tx);
    if (waiting.length === 0) return;
    ctx.afterCommit(async () => {
      for (const w of waiting) await this.documents.enqueue({ tenantId, documentId: w.documentId, version: w.version, ...jobCorrelation(event) }, again);
    });
  }
}
