import { createHash } from 'node:crypto';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { sql } from 'kysely';
import { documentListQuery, documentReplaceQuery, documentUploadQuery, type DocumentType, KnowledgeEvents, MAX_DOCUMENT_BYTES, TenantId } from '@hotdash/contracts';
import { actorOf, Principal } from '@hotdash/platform-auth';
import { FieldCipher } from '@hotdash/platform-crypto';
import { newId, TenantDatabase, TenantDirectory, TenantStatusCache, TenantTx } from '@hotdash/platform-db';
import { notFound, parseInput, ProblemException } from '@hotdash/platform-http';
import { jobCorrelation, type JobQueue, TenantJobData } from '@hotdash/platform-jobs';
import { publishInTx } from '@hotdash/platform-messaging';
import { tryCurrentTenantContext } from '@hotdash/platform-tenancy';
import { VectorStore } from '@hotdash/platform-vector';
import { documentTypeOf } from './documents/extract-text';

/** FieldCipher's field of a document's sealed source (kb_documents.source_enc). */
export const KB_SOURCE_FIELD = 'kb_documents.source';

export const KNOWLEDGE_QUEUE = Symbol('KNOWLEDGE_QUEUE');
export const KNOWLEDGE_PRODUCER = 'knowledge';

/** A version's indexing job id (`again`: a request that must run although that job is kept as finished). */
const ingestionJobId = (job: Pick<IngestionJob, 'documentId' | 'version'>, again?: string): string => `${job.documentId}-v${job.version}${again ? `-${again}` : ''}`;

export interface IngestionJob extends TenantJobData {
  tenantId: string;
  documentId: string;
  version: number;
}

/** A document handed in by another service (knowledge.document-submitted), its text decrypted. */
export interface SubmittedDocument {
  documentId: string;
  title: string;
  contentType: DocumentType;
  text: string;
  /** Who handed it in: the document's creator. */
  by: string;
  correlationId: string;
  causationId: string;
}

/** A document as its tenant sees it: what it is, and how far its indexing has come. */
export interface DocumentDto {
  id: string;
  title: string;
  contentType: string;
  bytes: number;
  version: number;
  /** queued → indexing → indexed, or failed (then `error` says why). */
  state: 'queued' | 'indexing' | 'indexed' | 'failed';
  /** Percent of the current version indexed. */
  progress: number;
  chunks: number;
  error: string | null;
  createdAt: string;
  updatedAt: string;
  indexedAt: string | null;
}

interface Row {
  id: string;
  title: string;
  content_type: string;
  /** int8: a string from Kysely, as the driver reads it. */
  bytes: bigint | number | string;
  version: number;
  status: string;
  progress: number;
  chunk_count: number;
  error: string | null;
  created_at: Date;
  updated_at: Date;
  indexed_at: Date | null;
}

/** The columns of a Row, for Kysely selects and returning clauses on kb_documents. */
const COLUMNS = ['id', 'title', 'content_type', 'bytes', 'version', 'status', 'progress', 'chunk_count', 'error', 'created_at', 'updated_at', 'indexed_at'] as const;


export function toDto(r: Row): DocumentDto {
  return {
    id: r.id,
    title: r.title,
    contentType: r.content_type,
    bytes: Number(r.bytes),
    version: r.version,
    state: r.status === 'stored' ? 'queued' : (r.status as DocumentDto['state']),
    progress: r.progress,
    chunks: r.chunk_count,
    error: r.error,
    createdAt: r.created_at.toISOString(),
    updatedAt: r.updated_at.toISOString(),
    indexedAt: r.indexed_at?.toISOString() ?? null,
  };
}

/**
 * A tenant's knowledge-base documents: upload, replace (a new version, indexed at once; the old
 * version's passages go when the new ones are in), delete (passages gone with it), read state and
 * progress. The plan's knowledge-base size is enforced on every upload, exactly (one upload of a
 * tenant at a time decides against the sum of its documents). Indexing runs as ingestion jobs.
 */
@Injectable()
export class DocumentsService {
  private readonly logger = new Logger('knowledge');

  constructor(
    @Inject(TenantDatabase) private readonly db: TenantDatabase,
    @Inject(TenantDirectory) private readonly directory: TenantDirectory,
    @Inject(VectorStore) private readonly vectors: VectorStore,
    @Inject(KNOWLEDGE_QUEUE) private readonly queue: JobQueue<IngestionJob>,
    @Inject(TenantStatusCache) private readonly statuses: TenantStatusCache,
    @Inject(FieldCipher) private readonly cipher: FieldCipher,
  ) {}

  /**
   * Seals a source stored in the clear (a document stored before sources were sealed): the clear
   * source (or text content) sealed into source_enc and emptied, in the tenant's transaction with the
   * row locked. False when there was nothing in the clear (sealed meanwhile, replaced, or gone).
   */
  async sealSource(tenantId: TenantId, documentId: string): Promise<boolean> {
    return this.db.withTenant(tenantId, async (tx) => {
      const d = await tx.db.selectFrom('kb_documents').select(['source', 'content']).where('id', '=', documentId).forUpdate().executeTakeFirst();
      if (!d || (d.source === null && d.content === '')) return false;
      const bytes = d.source ?? Buffer.from(d.content, 'utf8');
      await tx.db.updateTable('kb_documents').set(await this.sealed(tenantId, bytes)).where('id', '=', documentId).execute();
      return true;
    });
  }

  /** The source as stored: sealed under the tenant's data key (the clear columns left empty). */
  private async sealed(tenantId: TenantId, bytes: Buffer): Promise<{ source: null; content: ''; source_enc: Buffer }> {
    return { source: null, content: '', source_enc: await this.cipher.encryptBytes(tenantId, KB_SOURCE_FIELD, bytes) };
  }

  async upload(caller: Principal, contentType: string | undefined, body: unknown, query: unknown): Promise<DocumentDto> {
    const { title } = parseInput(documentUploadQuery, query);
    const { type, bytes, limit } = await this.incoming(caller.tenantId, contentType, body);
    const id = newId();
    const row = await this.db.withTenant(caller.tenantId, async (tx) => {
      await this.checkRoom(tx, caller.tenantId, bytes.length, limit);
      const r = await tx.db
        .insertInto('kb_documents')
        .values({ id, tenant_id: caller.tenantId, title, ...(await this.sealed(caller.tenantId, bytes)), bytes: String(bytes.length), status: 'queued', content_type: type, sha256: sha256(bytes), version: 1, created_by: actorOf(caller) })
        .returning(COLUMNS)
        .$castTo<Row>()
        .executeTakeFirst();
      await publishInTx(tx, KnowledgeEvents.DOCUMENTS_STORED, { tenantId: caller.tenantId, documents: [{ documentId: id, title, bytes: bytes.length }] }, this.meta(caller.tenantId));
      return r!;
    });
    await this.enqueue({ tenantId: caller.tenantId, documentId: id, version: 1, ...jobCorrelation(tryCurrentTenantContext()) });
    return toDto(row);
  }

  /** A new version of the document (its type may change): indexed at once, the old version's passages go when the new ones are in. */
  async replace(caller: Principal, documentId: string, contentType: string | undefined, body: unknown, query: unknown): Promise<DocumentDto> {
    const { title } = parseInput(documentReplaceQuery, query);
    const { type, bytes, limit } = await this.incoming(caller.tenantId, contentType, body);
    const row = await this.db.withTenant(caller.tenantId, async (tx) => {
      const old = await tx.db.selectFrom('kb_documents').select(['version', 'bytes', 'title']).where('id', '=', documentId).forUpdate().executeTakeFirst();
      if (!old) throw notFound(`document ${documentId}`);
      await this.checkRoom(tx, caller.tenantId, bytes.length - Number(old.bytes), limit);
      const version = old.version + 1;
      const r = await tx.db
        .updateTable('kb_documents')
        .set({ title: title ?? old.title, ...(await this.sealed(caller.tenantId, bytes)), bytes: String(bytes.length), status: 'queued', content_type: type, sha256: sha256(bytes), version, progress: 0, error: null, updated_at: sql`now()` })
        .where('id', '=', documentId)
        .returning(COLUMNS)
        .$castTo<Row>()
        .executeTakeFirst();
      const meta = this.meta(caller.tenantId);
      await publishInTx(tx, KnowledgeEvents.DOCUMENT_REMOVED, { tenantId: caller.tenantId, documentId, version: old.version, bytes: Number(old.bytes), reason: 'replaced', by: actorOf(caller) }, meta);
      await publishInTx(tx, KnowledgeEvents.DOCUMENTS_STORED, { tenantId: caller.tenantId, documents: [{ documentId, title: r!.title, bytes: bytes.length }] }, meta);
      return r!;
    });
    await this.enqueue({ tenantId: caller.tenantId, documentId, version: row.version, ...jobCorrelation(tryCurrentTenantContext()) });
    return toDto(row);
  }

  async get(tenantId: TenantId, documentId: string): Promise<DocumentDto> {
    const [r] = await this.db.readOnce(tenantId, (db) => db.selectFrom('kb_documents').select(COLUMNS).where('id', '=', documentId).$castTo<Row>());
    if (!r) throw notFound(`document ${documentId}`);
    return toDto(r);
  }

  async list(tenantId: TenantId, query: unknown): Promise<{ documents: DocumentDto[]; next: string | null }> {
    const q = parseInput(documentListQuery, query);
    const limit = q.limit ?? 50;
    const rows = await this.db.withTenant(tenantId, (tx) => {
      let select = tx.db.selectFrom('kb_documents').select(COLUMNS);
      if (q.before) select = select.where('created_at', '<', new Date(q.before));
      return select.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(limit + 1).$castTo<Row>().execute();
    });
    const page = rows.slice(0, limit);
    return { documents: page.map(toDto), next: rows.length > limit ? page[page.length - 1]!.created_at.toISOString() : null };
  }

  /** Deletes the document and its passages; its storage is freed (knowledge.document-removed). */
  async delete(caller: Principal, documentId: string): Promise<void> {
    await this.statuses.assertWritable(caller.tenantId);
    await this.db.withTenant(caller.tenantId, async (tx) => {
      const old = await tx.db.deleteFrom('kb_documents').where('id', '=', documentId).returning(['version', 'bytes']).executeTakeFirst();
      if (!old) throw notFound(`document ${documentId}`);
      await publishInTx(
        tx,
        KnowledgeEvents.DOCUMENT_REMOVED,
        { tenantId: caller.tenantId, documentId, version: old.version, bytes: Number(old.bytes), reason: 'deleted', by: actorOf(caller) },
        this.meta(caller.tenantId),
      );
    });
    // After the commit: an ingestion job still running finds the row gone and removes what it wrote.
    await this.vectors.deleteByDocument(caller.tenantId, documentId);
  }

  /**
   * After a pilot import (tenant.imported) or a restore (tenant.restored): the tenant's documents
   * still waiting or being indexed when its pilot was fenced or its archive taken (their jobs stayed
   * in the pilot's queue, or were not in the archive) are made waiting again (an
   * indexing one back to queued, its progress reset) in the caller's transaction; the caller queues
   * the versions returned once it has committed (a queueing lost then is the stored-documents
   * sweep's). A version already queued on the platform is not queued twice (the job id is the version's).
   */
  async waitingToQueueAgain(tx: TenantTx): Promise<{ documentId: string; version: number }[]> {
    await tx.db.updateTable('kb_documents').set({ status: 'queued', progress: 0, updated_at: sql`now()` }).where('status', '=', 'indexing').execute();
    const rows = await tx.db.selectFrom('kb_documents').select(['id', 'version']).where('status', 'in', ['stored', 'queued']).orderBy('created_at').execute();
    return rows.map((r) => ({ documentId: r.id, version: r.version }));
  }

  /**
   * Queues a version the stored-documents sweep found waiting past its grace period. When the
   * version's job is kept as finished (completed or failed) although the document still waits (a
   * restore brought back the row as it was before that job ran, and its own re-queueing failed),
   * queueing it under the same id would do nothing: it is queued again under an id of the sweep's.
   */
  async enqueueWaiting(job: IngestionJob): Promise<boolean> {
    const kept = await this.queue.get(ingestionJobId(job)).catch(() => undefined);
    const finished = kept?.state === 'completed' || kept?.state === 'failed';
    return this.enqueue(job, finished ? `sweep-${Date.now()}` : undefined);
  }

  /**
   * Queues the indexing of a document version; the job id makes a second request for the same
   * version a no-op. `again` names a request that must run even so (a restore: the version's job
   * may be kept as done in the queue, though the archive caught the document before it ended;
   * indexing a version twice rewrites the same chunks). Never throws: false when the queue refused
   * it (logged; the sweep retries).
   */
  async enqueue(job: IngestionJob, again?: string): Promise<boolean> {
    try {
      await this.queue.add('index', job, { jobId: ingestionJobId(job, again), attempts: 5, backoff: { type: 'exponential', delayMs: 1_000 }, keepCompleted: 1_000, keepFailed: 5_000 });
      return true;
    } catch (err) {
      // The row is committed, waiting to be indexed: the stored-documents sweep queues it.
      this.logger.warn(`queueing document ${job.documentId} v${job.version} of tenant ${job.tenantId} failed (${(err as Error).message}); the stored-documents sweep will queue it`);
      return false;
    }
  }

  /**
   * Stores a document another service submitted (knowledge.document-submitted: provisioning's
   * initial documents) as an upload is stored — against the plan's knowledge-base size, version 1,
   * queued, announced with knowledge.documents-stored — in the caller's transaction (the event
   * consumer's, with its inbox row). Once per document id: one already stored is left as it is
   * (false). The caller queues its indexing once the transaction has committed (the event handler
   * with ctx.afterCommit); the stored-documents sweep catches a queueing that never happened.
   */
  async storeSubmitted(tx: TenantTx, tenantId: TenantId, doc: SubmittedDocument): Promise<boolean> {
    const known = await tx.db.selectFrom('kb_documents').select('id').where('id', '=', doc.documentId).executeTakeFirst();
    if (known) return false;
    const bytes = Buffer.from(doc.text, 'utf8');
    await this.checkRoom(tx, tenantId, bytes.length, await this.planLimit(tenantId));
    const stored = await tx.db
      .insertInto('kb_documents')
      .values({ id: doc.documentId, tenant_id: tenantId, title: doc.title, ...(await this.sealed(tenantId, bytes)), bytes: String(bytes.length), status: 'queued', content_type: doc.contentType, sha256: sha256(bytes), version: 1, created_by: doc.by })
      .onConflict((oc) => oc.column('id').doNothing())
      .returning('id')
      .executeTakeFirst();
    if (!stored) return false;
    await publishInTx(
      tx,
      KnowledgeEvents.DOCUMENTS_STORED,
      { tenantId, documents: [{ documentId: doc.documentId, title: doc.title, bytes: bytes.length }] },
      { tenantId, producer: KNOWLEDGE_PRODUCER, correlationId: doc.correlationId, causationId: doc.causationId },
    );
    return true;
  }

  /** An upload's type and bytes, checked, once the tenant is known to take writes; with its plan's knowledge-base size. */
  private async incoming(tenantId: TenantId, contentType: string | undefined, body: unknown): Promise<{ type: DocumentType; bytes: Buffer; limit: number }> {
    const type = documentTypeOf(contentType);
    const bytes = this.bytesOf(body);
    await this.statuses.assertWritable(tenantId);
    return { type, bytes, limit: await this.planLimit(tenantId) };
  }

  private bytesOf(body: unknown): Buffer {
    if (!Buffer.isBuffer(body) || body.length === 0) {
      throw new ProblemException(400, 'empty-document', 'Empty document', 'Send the document itself as the request body, with its Content-Type.');
    }
    if (body.length > MAX_DOCUMENT_BYTES) throw new ProblemException(413, 'payload-too-large', 'Document too large', `A document may be at most ${MAX_DOCUMENT_BYTES} bytes.`);
    return body;
  }

  private async planLimit(tenantId: TenantId): Promise<number> {
    const t = await this.directory.of(tenantId, { maxAgeMs: 0 });
    if (!t) throw notFound(`tenant ${tenantId}`);
    return t.plan.knowledgeBaseBytes;
  }

  /** Refuses an upload that would take the tenant past its plan's knowledge-base size; uploads of one tenant decide one at a time. */
  private async checkRoom(tx: TenantTx, tenantId: TenantId, adding: number, limit: number): Promise<void> {
    await tx.db.selectNoFrom((eb) => eb.fn('pg_advisory_xact_lock', [eb.fn('hashtextextended', [eb.val(`kb-size:${tenantId}`), eb.lit(0)])]).as('locked')).execute();
    // sum(int8) is numeric: a string from the driver, exact.
    const { used } = await tx.db.selectFrom('kb_documents').select((eb) => eb.fn.coalesce(eb.fn.sum<string | null>('bytes'), eb.val('0')).as('used')).executeTakeFirstOrThrow();
    if (Number(used) + adding > limit) {
      throw new ProblemException(
        422,
        'knowledge-base-full',
        'Knowledge base full',
        `The knowledge base holds ${Number(used)} of the plan's ${limit} bytes; this document needs ${adding} more. Delete documents or upgrade the plan.`,
      );
    }
  }

  private meta(tenantId: TenantId) {
    return { tenantId, producer: KNOWLEDGE_PRODUCER, correlationId: tryCurrentTenantContext()?.correlationId ?? newId() };
  }
}

function sha256(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}
