import { z } from 'zod';
import { uuidSchema } from './envelope';

export const KnowledgeEvents = {
  /**
   * Another service handed a document in for a tenant's knowledge base (provisioning: the sign-up's
   * initial documents). A request, not a fact: knowledge stores it as an upload is stored (once per
   * document id) and publishes knowledge.documents-stored. The content travels encrypted with the
   * tenant's data key. Consumed by: knowledge.
   */
  DOCUMENT_SUBMITTED: 'knowledge.document-submitted',
  /**
   * Documents were stored for a tenant's knowledge base and wait to be chunked, embedded and indexed.
   * Published by knowledge only. Consumed by: knowledge (queues the indexing), quota, audit.
   */
  DOCUMENTS_STORED: 'knowledge.documents-stored',
  /** A document version is indexed: its passages are searchable. Consumed by: quota (embedding tokens), audit. */
  DOCUMENT_INDEXED: 'knowledge.document-indexed',
  /** A document version could not be indexed (unreadable, or retries exhausted). Consumed by: audit. */
  DOCUMENT_FAILED: 'knowledge.document-failed',
  /** A document version left the knowledge base (deleted, or replaced by a new one): its storage is freed. Consumed by: quota, audit. */
  DOCUMENT_REMOVED: 'knowledge.document-removed',
} as const;

/** The field name a submitted document's content is encrypted under (FieldCipher binds it with the tenant). */
export const SUBMITTED_DOCUMENT_CONTENT_FIELD = 'kb_documents.submitted_content';

/** Most characters of a submitted document's text (the sign-up's limit per document). */
export const MAX_SUBMITTED_DOCUMENT_CHARS = 200_000;

export const knowledgeDocumentSubmittedV1 = z
  .object({
    tenantId: uuidSchema,
    /** Chosen by the submitter: the document's id in the knowledge base, so a second submission of it is a no-op. */
    documentId: uuidSchema,
    title: z.string().min(1).max(500),
    contentType: z.enum(['text/plain', 'text/markdown']),
    /**
     * The text (UTF-8), a FieldCipher token under SUBMITTED_DOCUMENT_CONTENT_FIELD. At most
     * MAX_SUBMITTED_DOCUMENT_CHARS characters (≤ 600 kB of UTF-8, ~800 k token characters), so one
     * document is one event under the relay's 900 kB per event.
     */
    content: z
      .string()
      .max(820_000)
      .regex(/^v1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/, 'must be a value encrypted with the tenant data key'),
    /** Who handed it in (`saga:<id>`, `service:<name>`), recorded as the document's creator. */
    by: z.string().min(1).max(200),
  })
  .strict();
export type KnowledgeDocumentSubmittedV1 = z.infer<typeof knowledgeDocumentSubmittedV1>;

export const knowledgeDocumentsStoredV1 = z
  .object({
    tenantId: uuidSchema,
    documents: z.array(z.object({ documentId: uuidSchema, title: z.string().min(1).max(500), bytes: z.number().int().min(0) }).strict()).min(1).max(1000),
  })
  .strict();
export type KnowledgeDocumentsStoredV1 = z.infer<typeof knowledgeDocumentsStoredV1>;

export const knowledgeDocumentIndexedV1 = z
  .object({
    tenantId: uuidSchema,
    documentId: uuidSchema,
    version: z.number().int().min(1),
    chunks: z.number().int().min(0),
    model: z.string().min(1).max(200),
    /** Tokens the embedding model billed (0 for the offline embedder). */
    tokens: z.number().int().min(0),
  })
  .strict();
export type KnowledgeDocumentIndexedV1 = z.infer<typeof knowledgeDocumentIndexedV1>;

export const knowledgeDocumentFailedV1 = z
  .object({ tenantId: uuidSchema, documentId: uuidSchema, version: z.number().int().min(1), code: z.string().min(1).max(100), reason: z.string().min(1).max(1000) })
  .strict();
export type KnowledgeDocumentFailedV1 = z.infer<typeof knowledgeDocumentFailedV1>;

export const knowledgeDocumentRemovedV1 = z
  .object({ tenantId: uuidSchema, documentId: uuidSchema, version: z.number().int().min(1), bytes: z.number().int().min(0), reason: z.enum(['deleted', 'replaced']), by: z.string().min(1).max(200) })
  .strict();
export type KnowledgeDocumentRemovedV1 = z.infer<typeof knowledgeDocumentRemovedV1>;
