// The knowledge API's shapes shared by the knowledge service and the gateway (its OpenAPI document
// and its body parsers).
import { z } from 'zod';

/** The document types the knowledge base takes, by media type. */
export const DOCUMENT_TYPES = ['text/plain', 'text/markdown', 'text/html', 'application/pdf'] as const;
export type DocumentType = (typeof DOCUMENT_TYPES)[number];

/** Other names the same types go by. */
export const DOCUMENT_TYPE_ALIASES: Readonly<Record<string, DocumentType>> = { 'text/x-markdown': 'text/markdown', 'application/xhtml+xml': 'text/html' };

/** Every media type an upload may carry (the body parsers take these as raw bytes). */
export const KNOWLEDGE_UPLOAD_TYPES: readonly string[] = [...DOCUMENT_TYPES, ...Object.keys(DOCUMENT_TYPE_ALIASES)];

/** Largest document accepted, in bytes. */
export const MAX_DOCUMENT_BYTES = 20 * 1024 * 1024;

const title = z
  .string()
  .trim()
  .min(1, 'title must not be empty')
  .max(500)
  .refine((s) => !/[\u0000-\u001f\u007f]/.test(s), 'title must be one line without control characters');

/** Query of an upload (the body is the document itself). */
export const documentUploadQuery = z.object({ title }).strict();
/** Query of a replacement: the title may change too. */
export const documentReplaceQuery = z.object({ title: title.optional() }).strict();
/** Query of the document list: newest first, `before` the `next` of the previous page. */
export const documentListQuery = z
  .object({ limit: z.coerce.number().int().min(1).max(200).optional(), before: z.iso.datetime({ offset: true }).optional() })
  .strict();

/** A document as its tenant sees it: what it is, and how far its indexing has come (the OpenAPI response schema). */
export const documentView = z.object({
  id: z.uuid(),
  title: z.string(),
  contentType: z.string(),
  bytes: z.number().int(),
  version: z.number().int(),
  state: z.enum(['queued', 'indexing', 'indexed', 'failed']),
  progress: z.number(),
  chunks: z.number().int(),
  error: z.string().nullable(),
  createdAt: z.string(),
  updatedAt: z.string(),
  indexedAt: z.string().nullable(),
});
export const documentListView = z.object({ documents: z.array(documentView), next: z.string().nullable() });
