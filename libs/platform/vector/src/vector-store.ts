import type { TenantId } from '@hotdash/contracts';

/** One chunk of a knowledge-base document, with its embedding. */
export interface KnowledgeChunk {
  /** UUID of the chunk; writing the same id again in the same tenant replaces it. */
  id: string;
  vector: readonly number[];
  documentId: string;
  chunkIndex: number;
  text: string;
  title: string;
  /** Version of the document the chunk was cut from (re-indexing writes a higher one). */
  sourceVersion: number;
}

/** A chunk found by {@link VectorStore.search}, nearest first. */
export interface ChunkHit {
  id: string;
  documentId: string;
  chunkIndex: number;
  text: string;
  title: string;
  /** Cosine distance to the query vector: 0 is identical, 2 is opposite. */
  distance: number;
}

/** A chunk found by {@link VectorStore.hybridSearch}, best first. */
export interface HybridHit {
  id: string;
  documentId: string;
  chunkIndex: number;
  text: string;
  title: string;
  /** The fused relevance of the keyword and vector rankings: higher is better (compare within one answer only). */
  score: number;
}

export interface HybridQuery {
  /** The words to match (BM25 over the chunks' text). */
  text: string;
  /** The query's embedding (same model and dimensions as the chunks'). */
  vector: readonly number[];
  limit: number;
}

/**
 * The knowledge-base vector store port: one collection, one namespace per platform tenant
 * (DESIGN 3.5). Every data method takes the tenant explicitly and works only inside that tenant's
 * namespace; there is no call that reads or writes across tenants. Adapters:
 * {@link WeaviateVectorStore} (the service mode) and {@link LanceDbVectorStore} (embedded, for the
 * single-process mode), both held to the same contract tests (vector-store.contract.ts).
 *
 * An abstract class rather than an interface so that it can also serve as a Nest injection token.
 */
export abstract class VectorStore {
  /** Creates the collection when missing. Idempotent and safe under concurrent callers. */
  abstract ensureCollection(): Promise<void>;

  /** Creates the tenant's namespace; a no-op when it exists. */
  abstract createTenant(tenantId: TenantId): Promise<void>;

  /** Deletes the tenant's namespace and every object in it; a no-op when it does not exist. */
  abstract deleteTenant(tenantId: TenantId): Promise<void>;

  /** Creates many tenants' namespaces (bulk provisioning, benchmarks); adapters send them in batches where the store can. */
  async createTenants(tenantIds: readonly TenantId[]): Promise<void> {
    for (const t of tenantIds) await this.createTenant(t);
  }

  /** Deletes many tenants' namespaces (spec and benchmark clean-up); adapters send them in batches where the store can. */
  async deleteTenants(tenantIds: readonly TenantId[]): Promise<void> {
    for (const t of tenantIds) await this.deleteTenant(t);
  }

  abstract tenantExists(tenantId: TenantId): Promise<boolean>;

  /** The platform tenants that have a namespace. */
  abstract listTenants(): Promise<TenantId[]>;

  /** Writes (inserts or replaces by id) chunks into the tenant's namespace. */
  abstract upsertChunks(tenantId: TenantId, chunks: readonly KnowledgeChunk[]): Promise<void>;

  /**
   * Deletes the tenant's chunks of one document (with `olderThanVersion`, only those cut from an
   * earlier version: a re-indexed document's old chunks); returns how many were deleted.
   */
  abstract deleteByDocument(tenantId: TenantId, documentId: string, options?: { olderThanVersion?: number }): Promise<number>;

  /** The tenant's `limit` chunks nearest to `vector`, nearest first. */
  abstract search(tenantId: TenantId, vector: readonly number[], limit: number): Promise<ChunkHit[]>;

  /**
   * The tenant's `limit` chunks best matching both the words and the vector (keyword and vector
   * rankings fused), best first: what retrieval for drafting uses.
   */
  abstract hybridSearch(tenantId: TenantId, query: HybridQuery): Promise<HybridHit[]>;

  /** How many chunks the tenant's namespace holds. */
  abstract countObjects(tenantId: TenantId): Promise<number>;

  /**
   * Every chunk of the tenant's namespace with its vector and properties exactly as stored, a page
   * of at most `pageSize` at a time, in id order: a copy of the namespace (tenant backups; written
   * back with upsertChunks). VectorTenantNotFoundError when the tenant has no namespace.
   */
  abstract exportChunks(tenantId: TenantId, pageSize?: number): AsyncIterable<KnowledgeChunk[]>;

  /** Releases the store's connections or files; the store may not be used afterwards. */
  abstract close(): Promise<void>;
}
