import weaviate, { type Collection, type CollectionConfigCreate, Filters, type WeaviateClient } from 'weaviate-client';
import type { TenantId } from '@hotdash/contracts';
import type { PlatformConfig } from '@hotdash/platform-config';
import {
  VectorBatchError,
  VectorStoreConfigError,
  VectorStoreError,
  VectorStoreRequestError,
  VectorStoreTimeoutError,
  VectorStoreUnavailableError,
  VectorTenantNotFoundError,
} from './errors';
import { checkDocumentId, checkHybridQuery, checkLimit, checkVector, checkVersion, namespaceOf, tenantIdsOf, validChunks } from './validation';
import type { TenantActivityLog } from './tenant-activity';
import { ChunkHit, HybridHit, HybridQuery, KnowledgeChunk, VectorStore } from './vector-store';

export const DEFAULT_KNOWLEDGE_COLLECTION = 'KnowledgeChunk';

export interface WeaviateVectorStoreOptions {
  /** Base URL of Weaviate's HTTP API, e.g. `http://127.0.0.1:18080`. */
  url: string;
  /** Port of Weaviate's gRPC API on the same host (data and queries go over gRPC). Default 50051. */
  grpcPort?: number;
  /** Collection name: starts with a capital letter, then letters, digits, `_`. */
  collection?: string;
  /** Time limit of each request, in milliseconds. Default 10 000. */
  timeoutMs?: number;
  /** Writes of one upsertChunks call in flight at once. Default 32. */
  writesInFlight?: number;
  /** Highest `limit` accepted by search. Default 1 000. */
  maxSearchLimit?: number;
  /**
   * Where each use of a namespace is recorded for the idle sweep (IdleTenantSweep): the processes
   * that read and write namespaces share one (RedisTenantActivityLog). Closed with the store.
   */
  activity?: TenantActivityLog;
  /** A namespace's use is recorded at most once per this many ms per process. Default 30 000. */
  touchEveryMs?: number;
}

/** A namespace's activity status as Weaviate reports it: ACTIVE (HOT) is loaded on use; INACTIVE (COLD) holds no open file and no memory. */
export type NamespaceStatus = 'ACTIVE' | 'INACTIVE' | 'OFFLOADED' | 'OFFLOADING' | 'ONLOADING';

/** Tenants per tenants request (create, update, delete): what the client itself sends per update request. */
export const TENANTS_PER_REQUEST = 100;

const COLLECTION_NAME = /^[A-Z][A-Za-z0-9_]{0,254}$/;
const TENANT_NOT_FOUND = /tenant not found|tenant .* not found/i;
const ALREADY_EXISTS = /already exists/i;
/** A Weaviate not reached, or shutting down or starting up (its shards closed or not loaded yet: "no read replica found"). */
const UNREACHABLE = /ECONNREFUSED|ENOTFOUND|EHOSTUNREACH|ECONNRESET|UNAVAILABLE|fetch failed|connect|no read replica found|shutting down|not ready/i;
// A cold tenant that Weaviate did not activate (a collection without auto-activation), or a request
// that raced the tenant's deactivation in Weaviate 1.35 (measured while a tenant was deactivated
// every 20–200 ms under 6–10 concurrent requests: ~1–5% of them failed with these): activated and
// tried once more (the data operations are idempotent).
const NOT_ACTIVE = /tenant not active|implicit activation of tenant|closed tracker|tracker is closed|error getting local shard/i;
// A deactivation refused because a request is using the tenant right now.
const IN_USE = /still in use/i;
const PROPERTIES = ['documentId', 'chunkIndex', 'text', 'title'] as const;

export type ChunkProperties = { documentId: string; chunkIndex: number; text: string; title: string; sourceVersion: number };

/** The Weaviate tenant name of a platform tenant: the TenantId itself (see namespaceOf). */
export const weaviateTenantName = namespaceOf;

/**
 * {@link VectorStore} on Weaviate through the official client (`weaviate-client` v3: schema and
 * tenants over HTTP, data and queries over gRPC), with Weaviate's native multi-tenancy (DESIGN 3.5):
 * one collection with multi-tenancy on and automatic tenant creation off, one Weaviate tenant per
 * platform tenant. Every data call goes through the tenant's handle (`withTenant`), so Weaviate
 * itself refuses a request for a tenant that has no namespace. Vectors are supplied by the
 * platform (no vectorizer, cosine distance); hybrid search fuses BM25 over the text with the
 * vector ranking (relative score fusion).
 *
 * Per-tenant cost (issue 15): a namespace is created INACTIVE (COLD: no shard loaded, no open
 * file) and the collection has automatic tenant activation on, so Weaviate loads it on its first
 * read or write; IdleTenantSweep puts namespaces nobody used for a while back to INACTIVE. A loaded
 * namespace holds ~11 open files and background work in Weaviate: thousands of them loaded at once
 * exhausted the local server's 20,000 open files and slowed every request.
 */
/**
 * The knowledge collection as the store creates it: self-provided vectors (cosine HNSW), one
 * Weaviate tenant per platform tenant, the chunk's properties. Tenants are created by provisioning
 * only (no automatic creation: a write to a tenant that has none is refused); a cold tenant is loaded
 * by its first read or write (`autoTenantActivation`; false gives the collection as it was before
 * issue 15, which the benchmark and the in-place switch's spec start from).
 */
export function knowledgeCollectionConfig(name: string, options: { autoTenantActivation?: boolean } = {}): CollectionConfigCreate<ChunkProperties> {
  return {
    name,
    description: 'Knowledge-base chunks, one Weaviate tenant per platform tenant',
    vectorizers: weaviate.configure.vectors.selfProvided({ vectorIndexConfig: weaviate.configure.vectorIndex.hnsw({ distanceMetric: 'cosine' }) }),
    multiTenancy: weaviate.configure.multiTenancy({ enabled: true, autoTenantCreation: false, autoTenantActivation: options.autoTenantActivation ?? true }),
    properties: [
      // Exact-match filter key: `field` tokenization keeps the whole id as one token, so equal()
      // never matches a document whose id merely shares a hyphen-separated part.
      { name: 'documentId', dataType: 'text', tokenization: 'field', indexFilterable: true, indexSearchable: false },
      { name: 'chunkIndex', dataType: 'int' },
      { name: 'text', dataType: 'text', tokenization: 'word' },
      { name: 'title', dataType: 'text', tokenization: 'word' },
      { name: 'sourceVersion', dataType: 'int' },
    ],
  };
}

export class WeaviateVectorStore extends VectorStore {
  readonly collection: string;
  readonly url: string;
  private readonly grpcPort: number;
  private readonly timeoutMs: number;
  private readonly writesInFlight: number;
  private readonly maxSearchLimit: number;
  private readonly touchEveryMs: number;
  /** Where uses are recorded (shared with the idle sweep), if anywhere. */
  readonly activity: TenantActivityLog | undefined;
  /** When this process last recorded a use of each namespace. */
  private readonly touched = new Map<string, number>();
  private client: Promise<WeaviateClient> | undefined;

  constructor(options: WeaviateVectorStoreOptions) {
    super();
    const collection = options.collection ?? DEFAULT_KNOWLEDGE_COLLECTION;
    if (!COLLECTION_NAME.test(collection)) {
      throw new VectorStoreConfigError(`invalid collection name ${JSON.stringify(collection)} (a capital letter, then letters, digits or '_')`);
    }
    let url: URL;
    try {
      url = new URL(options.url);
    } catch {
      throw new VectorStoreConfigError(`invalid Weaviate URL ${JSON.stringify(options.url)}`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new VectorStoreConfigError(`Weaviate URL must be http(s), got ${url.protocol}`);
    const positive = (name: string, v: number | undefined, fallback: number): number => {
      if (v === undefined) return fallback;
      if (!Number.isSafeInteger(v) || v <= 0) throw new VectorStoreConfigError(`${name} must be a positive integer, got ${v}`);
      return v;
    };
    this.collection = collection;
    this.url = url.toString().replace(/\/+$/, '');
    this.grpcPort = positive('grpcPort', options.grpcPort, 50051);
    this.timeoutMs = positive('timeoutMs', options.timeoutMs, 10_000);
    this.writesInFlight = positive('writesInFlight', options.writesInFlight, 32);
    this.maxSearchLimit = positive('maxSearchLimit', options.maxSearchLimit, 1_000);
    this.touchEveryMs = positive('touchEveryMs', options.touchEveryMs, 30_000);
    this.activity = options.activity;
  }

  /** The store at `config.weaviate` (HOTDASH_WEAVIATE_URL, HOTDASH_WEAVIATE_GRPC_PORT). */
  static fromConfig(config: Pick<PlatformConfig, 'weaviate'>, options: Omit<WeaviateVectorStoreOptions, 'url' | 'grpcPort'> = {}): WeaviateVectorStore {
    return new WeaviateVectorStore({ ...options, url: config.weaviate.url, grpcPort: config.weaviate.grpcPort });
  }

  /**
   * Readiness (the `weaviate` probe of the services that use it): Weaviate's own
   * `/v1/.well-known/ready` over plain HTTP, independent of the client's state; resolves on 200,
   * rejects with the status, the connection error or the time limit.
   */
  async ready(timeoutMs = 1_500): Promise<void> {
    let res: Response;
    try {
      res = await fetch(`${this.url}/v1/.well-known/ready`, { signal: AbortSignal.timeout(timeoutMs) });
    } catch (err) {
      const e = err as Error & { cause?: Error };
      throw new Error(`Weaviate at ${this.url}: ${e.name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : `${e.message}${e.cause?.message ? ` (${e.cause.message})` : ''}`}`);
    }
    await res.body?.cancel().catch(() => undefined);
    if (!res.ok) throw new Error(`Weaviate at ${this.url} is not ready (HTTP ${res.status})`);
  }

  /** Closes the client's connections (HTTP agent, gRPC channel) and the activity log. */
  async close(): Promise<void> {
    const c = this.client;
    this.client = undefined;
    if (c) await (await c.catch(() => undefined))?.close();
    await this.activity?.close();
  }

  // ------------------------------------------------------------------ collection

  async ensureCollection(): Promise<void> {
    await this.run('ensureCollection', undefined, async (client) => {
      if (!(await client.collections.exists(this.collection))) {
        try {
          await client.collections.create<ChunkProperties>(knowledgeCollectionConfig(this.collection));
          return;
        } catch (err) {
          // Another caller created it between our check and our write: fine, if it is what we need.
          if (!ALREADY_EXISTS.test((err as Error).message)) throw err;
        }
      }
      const config = await client.collections.use(this.collection).config.get();
      if (!config.multiTenancy.enabled) {
        throw new VectorStoreConfigError(
          `collection ${this.collection} exists but multi-tenancy is not enabled on it: refusing to use it (tenants would not be isolated); drop it or configure another collection name`,
        );
      }
      if (config.multiTenancy.autoTenantCreation) {
        throw new VectorStoreConfigError(
          `collection ${this.collection} creates tenants automatically on write: refusing to use it (tenants are created by provisioning only); disable autoTenantCreation`,
        );
      }
      if (!config.multiTenancy.autoTenantActivation) {
        // Created before cold namespaces (issue 15): Weaviate updates multiTenancyConfig's automatic
        // flags in place (only `enabled` is fixed), so the collection and its data stay as they are.
        await this.use(client).config.update({ multiTenancy: weaviate.reconfigure.multiTenancy({ autoTenantActivation: true }) });
      }
    });
  }

  // ------------------------------------------------------------------ tenants

  /** Creates the namespace INACTIVE (cold): nothing is loaded until its first read or write. An existing namespace keeps its status. */
  async createTenant(tenantId: TenantId): Promise<void> {
    await this.createTenants([tenantId]);
  }

  /** Creates the namespaces INACTIVE, TENANTS_PER_REQUEST to a request (measured: ~6 ms a request of 100 with 10,000 tenants, ~2 ms for one). */
  override async createTenants(tenantIds: readonly TenantId[]): Promise<void> {
    const names = [...new Set(tenantIds.map(namespaceOf))];
    for (const part of batches(names)) {
      await this.run('createTenant', undefined, async (client) => {
        try {
          await this.use(client).tenants.create(part.map((name) => ({ name, activityStatus: 'INACTIVE' as const })));
        } catch (err) {
          // Weaviate 1.35 answers 200 for an existing tenant; older versions 422 "already exists".
          if (!ALREADY_EXISTS.test((err as Error).message)) throw err;
        }
      });
    }
  }

  async deleteTenant(tenantId: TenantId): Promise<void> {
    await this.deleteTenants([tenantId]);
  }

  /** Deletes the namespaces (and every object in them), TENANTS_PER_REQUEST to a request; deleting one that does not exist succeeds. */
  override async deleteTenants(tenantIds: readonly TenantId[]): Promise<void> {
    const names = [...new Set(tenantIds.map(namespaceOf))];
    for (const part of batches(names)) {
      await this.run('deleteTenant', undefined, (client) => this.use(client).tenants.remove(part.map((name) => ({ name }))));
      for (const n of part) this.touched.delete(n);
      await this.activity?.forget(part).catch(() => undefined);
    }
  }

  /** Every platform namespace with its activity status (none while the collection does not exist). */
  async tenantStatuses(): Promise<Map<TenantId, NamespaceStatus>> {
    return this.run('tenantStatuses', undefined, async (client) =>
      this.unlessNoCollection(client, new Map<TenantId, NamespaceStatus>(), async () => {
        const out = new Map<TenantId, NamespaceStatus>();
        for (const [name, t] of Object.entries(await this.use(client).tenants.get())) {
          const [id] = tenantIdsOf([name]); // platform tenants only
          if (id) out.set(id, t.activityStatus);
        }
        return out;
      }),
    );
  }

  /**
   * Sets the namespaces INACTIVE (cold): Weaviate unloads them (their files closed); the next read
   * or write loads them again. TENANTS_PER_REQUEST to a request; Weaviate refuses a request naming
   * a namespace that a request is using right now ("still in use"): that batch is then tried one
   * namespace at a time and the ones in use are left active (reported in `inUse`).
   */
  async deactivateTenants(tenantIds: readonly TenantId[]): Promise<{ deactivated: TenantId[]; inUse: TenantId[] }> {
    const deactivated: TenantId[] = [];
    const inUse: TenantId[] = [];
    const update = (names: readonly string[]) =>
      this.run('deactivateTenants', undefined, (client) => this.use(client).tenants.update(names.map((name) => ({ name, activityStatus: 'INACTIVE' as const }))));
    for (const part of batches([...new Set(tenantIds.map(namespaceOf))])) {
      try {
        await update(part);
        deactivated.push(...tenantIdsOf(part));
        continue;
      } catch (err) {
        if (!IN_USE.test((err as Error).message)) throw err;
      }
      for (const name of part) {
        try {
          await update([name]);
          deactivated.push(...tenantIdsOf([name]));
        } catch (err) {
          if (!IN_USE.test((err as Error).message)) throw err;
          inUse.push(...tenantIdsOf([name]));
        }
      }
    }
    return { deactivated: deactivated.sort(), inUse: inUse.sort() };
  }

  /** Whether the tenant's namespace exists: false too while the collection itself does not (no tenant was ever created). */
  async tenantExists(tenantId: TenantId): Promise<boolean> {
    const name = namespaceOf(tenantId);
    return this.run('tenantExists', undefined, async (client) => this.unlessNoCollection(client, false, async () => (await this.use(client).tenants.getByName(name)) !== null));
  }

  /** Every tenant namespace; none while the collection does not exist. */
  async listTenants(): Promise<TenantId[]> {
    return this.run('listTenants', undefined, async (client) => this.unlessNoCollection(client, [], async () => tenantIdsOf(Object.keys(await this.use(client).tenants.get()))));
  }

  /** `fn`, or `none` when it failed because the collection does not exist yet (Weaviate answers 422 "class not found"). */
  private async unlessNoCollection<T>(client: WeaviateClient, none: T, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (!(await client.collections.exists(this.collection))) return none;
      throw err;
    }
  }

  // ------------------------------------------------------------------ objects

  /**
   * Writes the chunks (a write replaces an object of the same id). Throws VectorBatchError naming
   * every object Weaviate did not write (the others stay written; writing the same chunks again is
   * safe), or VectorTenantNotFoundError when the tenant has no namespace.
   */
  async upsertChunks(tenantId: TenantId, chunks: readonly KnowledgeChunk[]): Promise<void> {
    const tenant = namespaceOf(tenantId);
    const valid = validChunks(chunks);
    if (valid.length === 0) return;
    await this.run('upsertChunks', tenant, async (client) => {
      const handle = this.use(client).withTenant(tenant);
      const failures: { id: string; message: string }[] = [];
      // One object per insertMany, `writesInFlight` of them at once over the one gRPC connection:
      // weaviate-client 3.14 serialises a batch one object per timer tick, then polls for the end
      // every 500 ms, so any batch of two or more objects takes at least half a second however
      // fast the server is (measured: 516 ms per call, 15 ms of it in Weaviate). A batch of one is
      // serialised before the first poll and goes out at once.
      let next = 0;
      const writer = async (): Promise<void> => {
        while (next < valid.length) {
          const c = valid[next++]!;
          const result = await handle.data.insertMany([
            {
              id: c.id,
              vectors: c.vector as number[],
              properties: { documentId: c.documentId, chunkIndex: c.chunkIndex, text: c.text, title: c.title, sourceVersion: c.sourceVersion },
            },
          ]);
          for (const e of Object.values(result.errors)) failures.push({ id: c.id, message: e.message });
        }
      };
      await Promise.all(Array.from({ length: Math.min(this.writesInFlight, valid.length) }, writer));
      if (failures.length === 0) return;
      // Not active (see run): thrown so that run() activates the tenant and writes the batch again.
      const inactive = failures.find((f) => NOT_ACTIVE.test(f.message));
      if (inactive) throw new Error(inactive.message);
      if (failures.every((f) => TENANT_NOT_FOUND.test(f.message))) throw new VectorTenantNotFoundError(tenant, 'upsertChunks', undefined, failures[0]!.message);
      throw new VectorBatchError(tenant, failures, valid.length);
    });
  }

  async deleteByDocument(tenantId: TenantId, documentId: string, options: { olderThanVersion?: number } = {}): Promise<number> {
    const tenant = namespaceOf(tenantId);
    checkDocumentId(documentId);
    checkVersion(options.olderThanVersion);
    return this.run('deleteByDocument', tenant, async (client) => {
      const handle = this.use(client).withTenant(tenant);
      const byDocument = handle.filter.byProperty('documentId').equal(documentId);
      const where =
        options.olderThanVersion === undefined ? byDocument : Filters.and(byDocument, handle.filter.byProperty('sourceVersion').lessThan(options.olderThanVersion));
      let deleted = 0;
      // One request deletes at most QUERY_MAXIMUM_RESULTS objects: repeat until none match.
      for (;;) {
        const r = await handle.data.deleteMany(where);
        deleted += r.successful;
        if (r.failed > 0) throw new VectorStoreRequestError('deleteByDocument', undefined, `${r.failed} of ${r.matches} objects of document ${JSON.stringify(documentId)} were not deleted`);
        if (r.successful === 0 || r.matches === r.successful) return deleted;
      }
    });
  }

  async search(tenantId: TenantId, vector: readonly number[], limit: number): Promise<ChunkHit[]> {
    const tenant = namespaceOf(tenantId);
    checkVector(vector, 'search');
    checkLimit(limit, this.maxSearchLimit);
    return this.run('search', tenant, async (client) => {
      const r = await this.use(client)
        .withTenant(tenant)
        .query.nearVector(vector as number[], { limit, returnMetadata: ['distance'], returnProperties: [...PROPERTIES] });
      return r.objects.map((o) => ({ id: o.uuid, ...hitProperties(o.properties), distance: o.metadata?.distance ?? Number.NaN }));
    });
  }

  async hybridSearch(tenantId: TenantId, query: HybridQuery): Promise<HybridHit[]> {
    const tenant = namespaceOf(tenantId);
    checkHybridQuery(query, this.maxSearchLimit);
    return this.run('hybridSearch', tenant, async (client) => {
      const handle = this.use(client).withTenant(tenant);
      // No words to match (a query of only punctuation): the vector ranking alone.
      if (query.text.trim() === '') {
        const r = await handle.query.nearVector(query.vector as number[], { limit: query.limit, returnMetadata: ['distance'], returnProperties: [...PROPERTIES] });
        return r.objects.map((o) => ({ id: o.uuid, ...hitProperties(o.properties), score: 1 - (o.metadata?.distance ?? 2) / 2 }));
      }
      const r = await handle.query.hybrid(query.text, {
        vector: query.vector as number[],
        alpha: 0.5,
        fusionType: 'RelativeScore',
        queryProperties: ['text', 'title'],
        limit: query.limit,
        returnMetadata: ['score'],
        returnProperties: [...PROPERTIES],
      });
      return r.objects.map((o) => ({ id: o.uuid, ...hitProperties(o.properties), score: o.metadata?.score ?? 0 }));
    });
  }

  async countObjects(tenantId: TenantId): Promise<number> {
    const tenant = namespaceOf(tenantId);
    return this.run('countObjects', tenant, async (client) => (await this.use(client).withTenant(tenant).aggregate.overAll()).totalCount);
  }

  async *exportChunks(tenantId: TenantId, pageSize = 500): AsyncIterable<KnowledgeChunk[]> {
    const tenant = namespaceOf(tenantId);
    checkLimit(pageSize, 10_000);
    let after: string | undefined;
    for (;;) {
      // The `after` cursor pages in id order; the client's own iterator fetches a page per object.
      const page = await this.run('exportChunks', tenant, async (client) =>
        (await this.use(client).withTenant(tenant).query.fetchObjects({ limit: pageSize, after, includeVector: true, returnProperties: [...PROPERTIES, 'sourceVersion'] })).objects,
      );
      if (page.length === 0) return;
      yield page.map((o) => {
        const vectors = o.vectors as Record<string, number[] | undefined>;
        const vector = vectors.default ?? Object.values(vectors)[0];
        if (!vector) throw new VectorStoreRequestError('exportChunks', undefined, `object ${o.uuid} has no vector`);
        return { id: o.uuid, vector, ...hitProperties(o.properties), sourceVersion: Number(o.properties.sourceVersion) };
      });
      if (page.length < pageSize) return;
      after = page[page.length - 1]!.uuid;
    }
  }

  // ------------------------------------------------------------------ client

  private use(client: WeaviateClient): Collection<ChunkProperties> {
    return client.collections.use<string, ChunkProperties>(this.collection);
  }

  private connect(): Promise<WeaviateClient> {
    if (!this.client) {
      const url = new URL(this.url);
      const secure = url.protocol === 'https:';
      const seconds = Math.max(1, Math.ceil(this.timeoutMs / 1000));
      this.client = weaviate
        .connectToCustom({
          httpHost: url.hostname,
          httpPort: Number(url.port || (secure ? 443 : 80)),
          httpSecure: secure,
          grpcHost: url.hostname,
          grpcPort: this.grpcPort,
          grpcSecure: secure,
          timeout: { init: seconds, query: seconds, insert: seconds },
        })
        .catch((err: unknown) => {
          // Not kept: the next call tries again (Weaviate may just be starting).
          this.client = undefined;
          throw err;
        });
    }
    return this.client;
  }

  /**
   * Runs one operation with the client, turning the client's errors into the library's. An
   * operation on a tenant's data records the use (activity log) and, when Weaviate answers that the
   * tenant is not active (cold in a collection without auto-activation, or a deactivation that
   * raced the request), activates it and tries once more: the data operations are idempotent.
   */
  private async run<T>(operation: string, tenant: string | undefined, fn: (client: WeaviateClient) => Promise<T>): Promise<T> {
    if (tenant !== undefined) this.touch(tenant);
    try {
      const client = await this.connect();
      try {
        return await fn(client);
      } catch (err) {
        if (tenant === undefined || !NOT_ACTIVE.test(err instanceof Error ? err.message : String(err))) throw err;
        await this.use(client)
          .tenants.activate(tenant)
          .catch(() => undefined);
        return await fn(client);
      }
    } catch (err) {
      throw this.translate(err, operation, tenant);
    }
  }

  /** Records a use of the namespace, at most once per touchEveryMs in this process; never fails the operation. */
  private touch(tenant: string): void {
    const log = this.activity;
    if (!log) return;
    const now = Date.now();
    const last = this.touched.get(tenant);
    if (last !== undefined && now - last < this.touchEveryMs) return;
    if (this.touched.size >= 50_000) for (const [n, at] of this.touched) if (now - at >= this.touchEveryMs) this.touched.delete(n);
    this.touched.set(tenant, now);
    log.touch([tenant], now).catch(() => this.touched.delete(tenant));
  }

  private translate(err: unknown, operation: string, tenant: string | undefined): Error {
    if (err instanceof VectorStoreError || err instanceof TypeError || err instanceof RangeError) return err;
    const message = err instanceof Error ? err.message : String(err);
    // The client's error classes are not exported: told apart by name (it names each after its class).
    const name = err instanceof Error ? err.name : '';
    const code = (err as { code?: unknown }).code;
    const status = name === 'WeaviateUnexpectedStatusCodeError' && typeof code === 'number' ? code : undefined;
    if (tenant !== undefined && TENANT_NOT_FOUND.test(message)) return new VectorTenantNotFoundError(tenant, operation, status, message);
    if (name === 'WeaviateRequestTimeoutError' || /DEADLINE_EXCEEDED|timed? ?out|aborted/i.test(message)) return new VectorStoreTimeoutError(operation, this.timeoutMs);
    if (name === 'WeaviateStartUpError' || (status === undefined && UNREACHABLE.test(message))) return new VectorStoreUnavailableError(this.url, message.slice(0, 300), { cause: err });
    return new VectorStoreRequestError(operation, status, message.slice(0, 1_000));
  }
}

function hitProperties(p: Partial<ChunkProperties>): Omit<ChunkHit, 'id' | 'distance'> {
  return {
    documentId: String(p.documentId ?? ''),
    chunkIndex: typeof p.chunkIndex === 'number' ? p.chunkIndex : -1,
    text: String(p.text ?? ''),
    title: String(p.title ?? ''),
  };
}

function batches<T>(items: readonly T[], size = TENANTS_PER_REQUEST): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** The readiness probe of a vector store: Weaviate's ready endpoint; none for the embedded store (LanceDB), which is no server. */
export function vectorStoreProbe(store: VectorStore): ((timeoutMs: number) => Promise<void>) | undefined {
  return store instanceof WeaviateVectorStore ? (timeoutMs) => store.ready(timeoutMs) : undefined;
}
