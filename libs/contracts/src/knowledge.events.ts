import { z } from 'zod';
import { uuidSchema } from './envelope';

export const KnowledgeEvents = {
  /**
   * Documents were stored for a tenant's knowledge base and wait to be chunked, embedded and indexed.
   * Consumed by: knowledge (once it exists), audit.
   */
  DOCUMENTS_STORED: 'knowledge.documents-stored',
} as const;

export const knowledgeDocumentsStoredV1 = z
  .object({
    tenantId: uuidSchema,
    documents: z.array(z.object({ documentId: uuidSchema, title: z.string().min(1).max(500), bytes: z.number().int().min(0) }).strict()).min(1).max(1000),
  })
  .strict();
export type KnowledgeDocumentsStoredV1 = z.infer<typeof knowledgeDocumentsStoredV1>;
