import type { TenantId } from '@hotdash/contracts';
import type { HybridHit, VectorStore } from './vector-store';

/** What retrieval needs of an embedder (libs/platform/models' Embedder fits). */
export interface QueryEmbedder {
  embed(texts: readonly string[]): Promise<{ vectors: number[][]; tokens: number }>;
}

/**
 * The tenant's passages best matching a question (hybrid: its words and its embedding), for a
 * drafting prompt. Only ever the tenant's own namespace: the store takes the tenant explicitly.
 * `tokens` is what the embedder billed for the question (metered with the model's).
 */
export async function retrievePassages(
  tenantId: TenantId,
  question: string,
  limit: number,
  deps: { embedder: QueryEmbedder; vectors: VectorStore },
): Promise<{ hits: HybridHit[]; tokens: number }> {
  const { vectors, tokens } = await deps.embedder.embed([question]);
  const hits = await deps.vectors.hybridSearch(tenantId, { text: question, vector: vectors[0]!, limit });
  return { hits, tokens };
}
