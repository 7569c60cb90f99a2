/** Vectors for texts, one per text, in order; with the tokens the provider counted (metered per tenant). */
export interface Embeddings {
  vectors: number[][];
  model: string;
  /** Tokens the provider billed for (0 for the local embedder). */
  tokens: number;
}

/**
 * The embedding port (knowledge ingestion, retrieval queries). Adapters: {@link LocalEmbedder}
 * (default: deterministic, offline) and {@link OpenAiEmbedder} (any OpenAI-compatible
 * `/embeddings` API). An abstract class so that it can also serve as a Nest injection token.
 */
export abstract class Embedder {
  /** Dimensions of every vector this embedder returns (the vector store is sized by it). */
  abstract readonly dimensions: number;
  /** Model name recorded with each chunk and each draft. */
  abstract readonly model: string;
  abstract embed(texts: readonly string[]): Promise<Embeddings>;
}
