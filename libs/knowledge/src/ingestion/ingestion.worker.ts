import { sql } from 'kysely';
import { type DocumentType, KnowledgeEvents, parseTenantId, TenantId } from '@hotdash/contracts';
import type { PlatformConfig } from '@hotdash/platform-config';
import { FieldCipher } from '@hotdash/platform-crypto';
import { newId, TenantDatabase, TenantNotPlacedError } from '@hotdash/platform-db';
import { jobOutcomeMetrics, ProblemException } from '@hotdash/platform-http';
import { type ClosableTenantSlots, FailNow, inTenantJob, type JobsPort, type JobWorker, QueueName, retryLaterWhenStoresDown, type RunningJob, tenantSlotsFor } from '@hotdash/platform-jobs';
import { publishInTx } from '@hotdash/platform-messaging';
import type { Embedder } from '@hotdash/platform-models';
import { VectorStore, VectorTenantNotFoundError } from '@hotdash/platform-vector';
import { IngestionJob, KB_SOURCE_FIELD, KNOWLEDGE_PRODUCER } from '../documents.service';
import { indexDocument } from './ingest';

export interface IngestionWorkerOptions {
  /** Jobs this process runs at once. Default 4. */
  concurrency?: number;
  /** Jobs of one tenant running at once across every worker (DESIGN.md §5). Default 2. */
  perTenant?: number;
  log?: (message: string) => void;
}

interface DocumentRow {
  version: number;
  status: string;
  title: string;
  content_type: DocumentType;
  source: Buffer | null;
  content: string;
  source_enc: Buffer | null;
}

/**
 * Indexes document versions (BullMQ, queue hotdash-knowledge-ingestion): reads the version from the
 * tenant's shard, indexes it (libs/knowledge ingest) with its progress written to the row, then
 * marks it indexed and announces knowledge.document-indexed in one transaction — only if that
 * version is still the document's current one: a document deleted meanwhile has what the job wrote
 * removed, a replaced one is left to the newer version's job. An unreadable document fails at once
 * (knowledge.document-failed); other errors are retried with backoff, and fail after the last try.
 * Each tenant runs at most `perTenant` jobs at once across all workers.
 */
export class IngestionWorker {
  private worker: JobWorker | undefined;
  /** Per-tenant caps (Redis on the stack, this process's counts in embedded mode). */
  readonly slots: ClosableTenantSlots;

  constructor(
    private readonly config: PlatformConfig,
    private readonly db: TenantDatabase,
    private readonly vectors: VectorStore,
    private readonly embedder: Embedder,
    private readonly cipher: FieldCipher,
    private readonly jobs: JobsPort,
    private readonly options: IngestionWorkerOptions = {},
  ) {
    this.slots = tenantSlotsFor(config, jobs, QueueName.KNOWLEDGE_INGESTION, { cap: options.perTenant ?? 2, leaseMs: 15 * 60_000 });
  }

  start(): void {
    if (this.worker) return;
    this.worker = this.jobs.worker<IngestionJob, string>(QueueName.KNOWLEDGE_INGESTION, this.slots.wrapJob(retryLaterWhenStoresDown((job) => this.process(job), { log: this.options.log })), {
      concurrency: this.options.concurrency ?? 4,
      onOutcome: jobOutcomeMetrics((o) => {
        // A FailNow was reported by the job itself; other failures are told once, after the last try.
        if (o.outcome === 'failed' && o.final && !(o.error instanceof FailNow) && o.error?.name !== 'UnrecoverableError') {
          void this.fail(o.job.data, 'indexing-failed', o.error?.message ?? 'indexing failed').catch(() => undefined);
        }
      }),
      onError: (err) => this.options.log?.(`[ingestion] ${err.message}`),
    });
  }

  async close(): Promise<void> {
    await this.worker?.close();
    this.worker = undefined;
    await this.slots.close();
  }

  /** Indexes one document version, in the tenant's context with the correlation of what queued it. */
  process(job: RunningJob<IngestionJob>): Promise<string> {
    return inTenantJob(QueueName.KNOWLEDGE_INGESTION, job.data, () => this.index(job));
  }

  private async index(job: RunningJob<IngestionJob>): Promise<string> {
    const { documentId, version } = job.data;
    const tenantId = parseTenantId(job.data.tenantId);
    let doc: DocumentRow | undefined;
    try {
      doc = await this.db.withTenant(tenantId, (tx) =>
        tx.db.selectFrom('kb_documents').select(['version', 'status', 'title', 'content_type', 'source', 'content', 'source_enc']).where('id', '=', documentId).$castTo<DocumentRow>().executeTakeFirst(),
      );
    } catch (err) {
      // The tenant is gone (offboarded, or its provisioning undone): nothing to index.
      if (err instanceof TenantNotPlacedError) return 'tenant-gone';
      throw err;
    }
    if (!doc || doc.version !== version || doc.status === 'indexed' || doc.status === 'failed') return 'skipped';
    await this.db.withTenant(tenantId, (tx) =>
      tx.db.updateTable('kb_documents').set({ status: 'indexing', progress: 0, updated_at: sql`now()` }).where('id', '=', documentId).where('version', '=', version).execute(),
    );
    // The source sealed under the tenant's key (a row of before sealing: in the clear until the sealing sweep reaches it).
    let bytes: Buffer;
    try {
      bytes = doc.source_enc ? await this.cipher.decryptBytes(tenantId, KB_SOURCE_FIELD, doc.source_enc) : (doc.source ?? Buffer.from(doc.content, 'utf8'));
    } catch (err) {
      // A destroyed key (offboarding) or a sealed source that does not open: no retry makes it readable.
      await this.fail(job.data, 'source-unreadable', (err as Error).message).catch(() => undefined);
      throw new FailNow(`the source of document ${documentId} v${version} cannot be read: ${(err as Error).message}`);
    }
    let last = 0;
    let outcome;
    try {
      outcome = await indexDocument(
        { tenantId, documentId, version, title: doc.title, type: doc.content_type, bytes },
        { embedder: this.embedder, vectors: this.vectors },
        async (percent) => {
          // Written when it moved by 5 points or more (or finished): a progress bar, not a write per chunk.
          if (percent < 100 && percent - last < 5) return;
          last = percent;
          await this.db.withTenant(tenantId, (tx) =>
            tx.db.updateTable('kb_documents').set({ progress: Math.min(percent, 99) }).where('id', '=', documentId).where('version', '=', version).execute(),
          );
        },
      );
    } catch (err) {
      if (err instanceof ProblemException && err.status < 500) {
        await this.fail(job.data, err.code, err.detail ?? err.message);
        throw new FailNow(err.message);
      }
      // No namespace for the tenant: retrying will not make one (provisioning creates it before any document).
      if (err instanceof VectorTenantNotFoundError) {
        await this.fail(job.data, err.code, 'the tenant has no knowledge-base namespace; ask the platform team to repair the tenant');
        throw new FailNow(err.message);
      }
      throw err;
    }
    const current = await this.db.withTenant(tenantId, async (tx) => {
      const { numUpdatedRows } = await tx.db
        .updateTable('kb_documents')
        .set({ status: 'indexed', progress: 100, chunk_count: outcome.chunks, embedding_model: outcome.model, error: null, indexed_at: sql`now()`, updated_at: sql`now()` })
        .where('id', '=', documentId)
        .where('version', '=', version)
        .executeTakeFirst();
      if (Number(numUpdatedRows) === 0) return false;
      await publishInTx(
        tx,
        KnowledgeEvents.DOCUMENT_INDEXED,
        { tenantId, documentId, version, chunks: outcome.chunks, model: outcome.model, tokens: outcome.tokens },
        { tenantId, producer: KNOWLEDGE_PRODUCER, correlationId: job.data.correlationId ?? newId(), causationId: job.data.causationId ?? null },
      );
      return true;
    });
    if (!current) {
      const still = await this.db.withTenant(tenantId, (tx) => tx.db.selectFrom('kb_documents').select('version').where('id', '=', documentId).executeTakeFirst());
      // Deleted while this job ran: its passages go too. Replaced: the newer version's job removes this one's.
      if (!still) await this.vectors.deleteByDocument(tenantId, documentId);
      return 'superseded';
    }
    return 'indexed';
  }

  /** Marks the version failed (if it is still the current one) and announces it. */
  private async fail(job: IngestionJob, code: string, reason: string): Promise<void> {
    const tenantId = parseTenantId(job.tenantId) as TenantId;
    await this.db.withTenant(tenantId, async (tx) => {
      const { numUpdatedRows } = await tx.db
        .updateTable('kb_documents')
        .set({ status: 'failed', error: reason.slice(0, 1000), updated_at: sql`now()` })
        .where('id', '=', job.documentId)
        .where('version', '=', job.version)
        .executeTakeFirst();
      if (Number(numUpdatedRows) === 0) return;
      await publishInTx(
        tx,
        KnowledgeEvents.DOCUMENT_FAILED,
        { tenantId, documentId: job.documentId, version: job.version, code: code.slice(0, 100), reason: reason.slice(0, 1000) || 'no reason given' },
        { tenantId, producer: KNOWLEDGE_PRODUCER, correlationId: job.correlationId ?? newId(), causationId: job.causationId ?? null },
      );
    });
  }
}
