import { join } from 'node:path';
import type { PlatformConfig } from '@hotdash/platform-config';
import { LanceDbVectorStore } from './lancedb-vector-store';
import type { VectorStore } from './vector-store';
import { WeaviateVectorStore } from './weaviate-vector-store';

/**
 * The platform's vector store from the environment: HOTDASH_VECTOR_STORE=weaviate (default) or
 * lancedb (embedded, in HOTDASH_LANCEDB_DIR, default .local/lancedb). `dimensions` is the
 * embedder's. The knowledge service (indexing) and ai-drafting (retrieval) both build theirs here.
 */
export function vectorStoreFromEnv(config: PlatformConfig, dimensions: number, env: NodeJS.ProcessEnv = process.env): VectorStore {
  const kind = env.HOTDASH_VECTOR_STORE ?? 'weaviate';
  if (kind === 'weaviate') return WeaviateVectorStore.fromConfig(config);
  if (kind === 'lancedb') return new LanceDbVectorStore({ directory: env.HOTDASH_LANCEDB_DIR ?? join(process.cwd(), '.local', 'lancedb'), dimensions });
  throw new Error(`HOTDASH_VECTOR_STORE must be weaviate or lancedb, got ${kind}`);
}
