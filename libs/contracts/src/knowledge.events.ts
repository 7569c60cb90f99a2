import { z } from 'zod';
import { uuidSchema } from './envelope';

export const KnowledgeEvents = {
  /**
   * Documents were stored for a tenant's knowledge base and wait to be chunked, embedded and indexed.
   * Consumed by: knowledge (once it exists), audit.
   */
  DOCUMENTS_STORED: 'knowledge.documents-stored',
  /** A document version is indexed: its passages are searchable. Consumed by: quota (embedding tokens), audit. */
  DOCUMENT_INDEXED: 'knowledge.document-indexed',
  /** A document version could not be indexed (unreadable, or retries exhausted). Consumed by: audit. */
  DOCUMENT_FAILED: 'knowledge.document-failed',
  /** A document version left the knowledge base (deleted, or replaced by a new one): its storage is freed. Consumed by: quota, audit. */
  DOCUMENT_REMOVED: 'knowledge.document-removed',
} as const;

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
