import { parseTenantId, type TenantId } from '@hotdash/contracts';
import type { PlatformConfig } from '@hotdash/platform-config';
import { WeaviateVectorStore, type VectorStore } from '@hotdash/platform-vector';

/**
 * The vector namespaces (Weaviate tenants) a spec or benchmark makes, directly or through a
 * sign-up's saga, deleted together at its end (100 to a request): `track` every tenant whose
 * namespace may exist (deleting one that does not is a no-op), or `create` them here; then
 * `deleteAll()` in afterAll. Specs leave no namespaces behind: each one loaded in Weaviate keeps
 * ~11 files open and costs it CPU (issue 15).
 */
export class VectorNamespaces {
  private readonly ids = new Set<TenantId>();
  private collection: Promise<void> | undefined;

  /** On `store` (not closed here), or on the local collection (KnowledgeChunk) through a store of its own, closed by deleteAll(). */
  constructor(
    private readonly store: VectorStore,
    private readonly ownsStore = false,
  ) {}

  static local(config: Pick<PlatformConfig, 'weaviate'>): VectorNamespaces {
    return new VectorNamespaces(WeaviateVectorStore.fromConfig(config), true);
  }

  /** Remembers tenants whose namespace something else may have created (a sign-up, a restore). */
  track(...tenantIds: string[]): void {
    for (const id of tenantIds) this.ids.add(parseTenantId(id));
  }

  /**
   * Creates the tenants' namespaces (batched) and remembers them; the collection first when it does
   * not exist yet (a fresh Weaviate: the knowledge service makes it at its start, which a spec that
   * runs no knowledge service never sees).
   */
  async create(...tenantIds: TenantId[]): Promise<void> {
    this.track(...tenantIds);
    this.collection ??= this.store.ensureCollection().catch((err: unknown) => {
      this.collection = undefined;
      throw err;
    });
    await this.collection;
    await this.store.createTenants(tenantIds);
  }

  get size(): number {
    return this.ids.size;
  }

  /** Deletes every remembered namespace; closes the store when it is this helper's own. */
  async deleteAll(): Promise<void> {
    const ids = [...this.ids];
    this.ids.clear();
    try {
      await this.store.deleteTenants(ids);
    } finally {
      if (this.ownsStore) await this.store.close();
    }
  }
}
