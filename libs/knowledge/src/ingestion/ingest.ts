import { createHash } from 'node:crypto';
import type { TenantId } from '@hotdash/contracts';
import type { Embedder } from '@hotdash/platform-models';
import type { KnowledgeChunk, VectorStore } from '@hotdash/platform-vector';
import { chunkText, ChunkingOptions } from '../documents/chunking';
import type { DocumentType } from '@hotdash/contracts';
import { extractText } from '../documents/extract-text';

export interface DocumentToIndex {
  tenantId: TenantId;
  documentId: string;
  /** Goes up by one with each replacement: chunks of earlier versions are deleted once this one is written. */
  version: number;
  title: string;
  type: DocumentType;
  bytes: Uint8Array;
}

export interface IndexingOutcome {
  chunks: number;
  /** Tokens the embedder billed (metered per tenant). */
  tokens: number;
  model: string;
  /** Old chunks removed (a replaced document's earlier versions). */
  removed: number;
  pages?: number;
}

export interface IngestionDeps {
  embedder: Embedder;
  vectors: VectorStore;
  chunking?: ChunkingOptions;
  /** Chunks embedded and written per step (progress is reported after each). Default 32. */
  batchSize?: number;
}

/** A chunk's id: the same document, version and position always give the same id, so a retried job rewrites rather than adds. */
export function chunkId(tenantId: string, documentId: string, version: number, index: number): string {
  const h = createHash('sha256').update(`${tenantId}\n${documentId}\n${version}\n${index}`).digest('hex');
  // Shaped as a UUID (version nibble 5, RFC 4122 variant), as the vector stores want.
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${((parseInt(h[16]!, 16) & 0x3) | 0x8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/**
 * Indexes one version of a document in its tenant's namespace: text extracted, cut into passages,
 * embedded and written in batches (`onProgress` after each, 0–100), then the chunks of earlier
 * versions deleted, so a replaced document's old passages disappear as soon as the new ones are
 * in. Idempotent: chunk ids derive from (tenant, document, version, position), so running it again
 * after a crash rewrites the same chunks.
 */
export async function indexDocument(doc: DocumentToIndex, deps: IngestionDeps, onProgress: (percent: number) => Promise<void> | void = () => undefined): Promise<IndexingOutcome> {
  const { text, pages } = await extractText(doc.type, doc.bytes);
  await onProgress(10);
  const passages = chunkText(text, deps.chunking);
  const batchSize = deps.batchSize ?? 32;
  let tokens = 0;
  let model = deps.embedder.model;
  for (let i = 0; i < passages.length; i += batchSize) {
    const slice = passages.slice(i, i + batchSize);
    // The title goes with each passage into the embedding, so a passage is found by what its document is about too.
    const embedded = await deps.embedder.embed(slice.map((p) => `${doc.title}\n\n${p}`));
    tokens += embedded.tokens;
    model = embedded.model;
    const chunks: KnowledgeChunk[] = slice.map((p, k) => ({
      id: chunkId(doc.tenantId, doc.documentId, doc.version, i + k),
      vector: embedded.vectors[k]!,
      documentId: doc.documentId,
      chunkIndex: i + k,
      text: p,
      title: doc.title,
      sourceVersion: doc.version,
    }));
    await deps.vectors.upsertChunks(doc.tenantId, chunks);
    await onProgress(10 + Math.floor((85 * Math.min(i + batchSize, passages.length)) / passages.length));
  }
  const removed = await deps.vectors.deleteByDocument(doc.tenantId, doc.documentId, { olderThanVersion: doc.version });
  await onProgress(100);
  return { chunks: passages.length, tokens, model, removed, pages };
}
