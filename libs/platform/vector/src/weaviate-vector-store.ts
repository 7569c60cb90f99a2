import { parseTenantId, type TenantId } from '@hotdash/contracts';
import type { PlatformConfig } from '@hotdash/platform-config';
import {
  VectorBatchError,
  VectorStoreConfigError,
  VectorStoreRequestError,
  VectorStoreTimeoutError,
  VectorStoreUnavailableError,
  VectorTenantNotFoundError,
} from './errors';
import { ChunkHit, KnowledgeChunk, VectorStore } from './vector-store';

export const DEFAULT_KNOWLEDGE_COLLECTION = 'KnowledgeChunk';

export interface WeaviateVectorStoreOptions {
  /** Base URL of Weaviate's REST API, e.g. `http://127.0.0.1:18080`. */
  url: string;
  /** Collection (Weaviate class) name: starts with a capital letter, then letters, digits, `_`. */
  collection?: string;
  /** Time limit of each HTTP request, in milliseconds. Default 10 000. */
  timeoutMs?: number;
  /** Objects per `/v1/batch/objects` request. Default 100. */
  batchSize?: number;
  /** Highest `limit` accepted by search. Default 1 000. */
  maxSearchLimit?: number;
  /** The fetch implementation (default: Node's global fetch). */
  fetch?: typeof fetch;
}

const COLLECTION_NAME = /^[A-Z][A-Za-z0-9_]{0,254}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Weaviate's rule for tenant names; a platform TenantId (a lowercase UUID) always satisfies it. */
const WEAVIATE_TENANT_NAME = /^[A-Za-z0-9_-]{1,64}$/;
const TENANT_NOT_FOUND = /tenant not found/i;
const ALREADY_EXISTS = /already exists/i;

/**
 * The Weaviate tenant name of a platform tenant: the TenantId itself (a lowercase UUID, which
 * Weaviate's `[A-Za-z0-9_-]{1,64}` accepts). Re-validated here so that a value cast to TenantId
 * without parseTenantId() fails before any request is sent.
 */
export function weaviateTenantName(tenantId: TenantId): string {
  if (typeof tenantId !== 'string') throw new TypeError('a tenant id is required for every vector store operation');
  const name: string = parseTenantId(tenantId);
  if (!WEAVIATE_TENANT_NAME.test(name)) throw new TypeError(`tenant id ${name} cannot be a Weaviate tenant name`);
  return name;
}

interface Answer {
  status: number;
  ok: boolean;
  body: unknown;
  operation: string;
}

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** What Weaviate said: `{error: [{message}]}` (REST), `{message}` (routing), or the raw text. */
function weaviateMessage(body: unknown, status: number): string {
  if (isObject(body)) {
    if (Array.isArray(body['error'])) {
      const msgs = body['error'].map((e) => (isObject(e) && typeof e['message'] === 'string' ? e['message'] : JSON.stringify(e)));
      if (msgs.length > 0) return msgs.join('; ');
    }
    if (typeof body['message'] === 'string') return body['message'];
  }
  if (typeof body === 'string' && body.trim() !== '') return body.trim().slice(0, 500);
  return body === undefined || body === '' ? `no message (HTTP ${status})` : JSON.stringify(body).slice(0, 500);
}

function graphqlErrors(body: unknown): string | undefined {
  if (!isObject(body) || !Array.isArray(body['errors']) || body['errors'].length === 0) return undefined;
  return body['errors'].map((e) => (isObject(e) && typeof e['message'] === 'string' ? e['message'] : JSON.stringify(e))).join('; ');
}

/**
 * Why a fetch failed: the first network error code on its cause chain (`fetch failed` → cause →
 * code, or an AggregateError of them), else the innermost message (e.g. `bad port`).
 */
function networkReason(err: unknown): string {
  let cur: unknown = err;
  let message = 'fetch failed';
  for (let depth = 0; depth < 6 && isObjectLike(cur); depth++) {
    if (typeof cur['code'] === 'string') return cur['code'];
    if (typeof cur['message'] === 'string' && cur['message'] !== '') message = cur['message'];
    cur = Array.isArray(cur['errors']) && cur['errors'].length > 0 ? cur['errors'][0] : cur['cause'];
  }
  return message;
}

function isObjectLike(v: unknown): v is Record<string, unknown> {
  return (typeof v === 'object' || typeof v === 'function') && v !== null;
}

function checkVector(vector: readonly number[], what: string): void {
  if (!Array.isArray(vector) || vector.length === 0) throw new TypeError(`${what}: the vector must be a non-empty array of numbers`);
  for (const x of vector) if (typeof x !== 'number' || !Number.isFinite(x)) throw new TypeError(`${what}: the vector holds a value that is not a finite number`);
}

/**
 * {@link VectorStore} on Weaviate's REST API (native multi-tenancy, DESIGN 3.5): one collection
 * with multi-tenancy enabled and automatic tenant creation off, one Weaviate tenant per platform
 * tenant, named by {@link weaviateTenantName}. Every object request names the tenant; Weaviate
 * itself refuses one that does not. Vectors are supplied by the platform (vectorizer `none`,
 * cosine distance).
 */
export class WeaviateVectorStore extends VectorStore {
  readonly collection: string;
  readonly url: string;
  private readonly timeoutMs: number;
  private readonly batchSize: number;
  private readonly maxSearchLimit: number;
  private readonly fetchImpl: typeof fetch;

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
    this.timeoutMs = positive('timeoutMs', options.timeoutMs, 10_000);
    this.batchSize = positive('batchSize', options.batchSize, 100);
    this.maxSearchLimit = positive('maxSearchLimit', options.maxSearchLimit, 1_000);
    this.fetchImpl = options.fetch ?? fetch;
  }

  /** The store at `config.weaviate.url` (HOTDASH_WEAVIATE_URL). */
  static fromConfig(config: Pick<PlatformConfig, 'weaviate'>, options: Omit<WeaviateVectorStoreOptions, 'url'> = {}): WeaviateVectorStore {
    return new WeaviateVectorStore({ ...options, url: config.weaviate.url });
  }

  // ------------------------------------------------------------------ collection

  async ensureCollection(): Promise<void> {
    const existing = await this.readCollection();
    if (existing) return this.checkCollection(existing);
    const created = await this.send('ensureCollection', 'POST', '/v1/schema', this.collectionDefinition());
    if (created.ok) return;
    // Another caller created it between our read and our write: success, if it is what we need.
    if (created.status === 422 && ALREADY_EXISTS.test(weaviateMessage(created.body, created.status))) {
      const now = await this.readCollection();
      if (now) return this.checkCollection(now);
    }
    throw this.refusal(created);
  }

  private collectionDefinition(): Json {
    return {
      class: this.collection,
      description: 'Knowledge-base chunks, one Weaviate tenant per platform tenant',
      vectorizer: 'none',
      vectorIndexType: 'hnsw',
      vectorIndexConfig: { distance: 'cosine' },
      multiTenancyConfig: { enabled: true, autoTenantCreation: false, autoTenantActivation: false },
      properties: [
        // Exact-match filter key: `field` tokenization keeps the whole id as one token, so Equal
        // never matches a document whose id merely shares a hyphen-separated part.
        { name: 'documentId', dataType: ['text'], tokenization: 'field', indexFilterable: true, indexSearchable: false },
        { name: 'chunkIndex', dataType: ['int'] },
        { name: 'text', dataType: ['text'], tokenization: 'word' },
        { name: 'title', dataType: ['text'], tokenization: 'word' },
        { name: 'sourceVersion', dataType: ['int'] },
      ],
    };
  }

  private async readCollection(): Promise<Json | undefined> {
    const r = await this.send('ensureCollection', 'GET', `/v1/schema/${this.collection}`);
    if (r.status === 404) return undefined;
    if (!r.ok || !isObject(r.body)) throw this.refusal(r);
    return r.body;
  }

  /** Fails closed on a collection of that name that would not isolate tenants. */
  private checkCollection(definition: Json): void {
    const mt = definition['multiTenancyConfig'];
    if (!isObject(mt) || mt['enabled'] !== true) {
      throw new VectorStoreConfigError(
        `collection ${this.collection} exists but multi-tenancy is not enabled on it: refusing to use it (tenants would not be isolated); drop it or configure another collection name`,
      );
    }
    if (mt['autoTenantCreation'] === true) {
      throw new VectorStoreConfigError(
        `collection ${this.collection} creates tenants automatically on write: refusing to use it (tenants are created by provisioning only); disable autoTenantCreation`,
      );
    }
  }

  // ------------------------------------------------------------------ tenants

  async createTenant(tenantId: TenantId): Promise<void> {
    const name = weaviateTenantName(tenantId);
    const r = await this.send('createTenant', 'POST', this.tenantsPath(), [{ name, activityStatus: 'ACTIVE' }]);
    if (r.ok) return;
    // Weaviate 1.35 answers 200 for an existing tenant; older versions answer 422 "already exists".
    if (r.status === 422 && ALREADY_EXISTS.test(weaviateMessage(r.body, r.status))) return;
    throw this.refusal(r);
  }

  async deleteTenant(tenantId: TenantId): Promise<void> {
    const name = weaviateTenantName(tenantId);
    // Deleting a tenant that does not exist is answered 200.
    const r = await this.send('deleteTenant', 'DELETE', this.tenantsPath(), [name]);
    if (!r.ok) throw this.refusal(r);
  }

  async tenantExists(tenantId: TenantId): Promise<boolean> {
    const name = weaviateTenantName(tenantId);
    // GET rather than HEAD: a refusal then carries Weaviate's message.
    const r = await this.send('tenantExists', 'GET', `${this.tenantsPath()}/${name}`);
    if (r.status === 404) return false;
    if (r.ok) return true;
    throw this.refusal(r);
  }

  /** Tenant names that are not platform TenantIds (none are ever created by this class) are left out. */
  async listTenants(): Promise<TenantId[]> {
    const r = await this.send('listTenants', 'GET', this.tenantsPath());
    if (!r.ok || !Array.isArray(r.body)) throw this.refusal(r);
    const ids: TenantId[] = [];
    for (const t of r.body) {
      const name = isObject(t) ? t['name'] : undefined;
      if (typeof name === 'string' && UUID.test(name)) ids.push(parseTenantId(name));
    }
    return ids.sort();
  }

  private tenantsPath(): string {
    return `/v1/schema/${this.collection}/tenants`;
  }

  // ------------------------------------------------------------------ objects

  /**
   * Writes in batches of `batchSize`. Throws VectorBatchError naming every object Weaviate did not
   * write (earlier batches stay written; writing the same chunks again is safe), or
   * VectorTenantNotFoundError when the tenant has no namespace. Weaviate may keep the properties
   * of an object whose vector it rejected: rewrite or delete those ids.
   */
  async upsertChunks(tenantId: TenantId, chunks: readonly KnowledgeChunk[]): Promise<void> {
    const tenant = weaviateTenantName(tenantId);
    if (!Array.isArray(chunks)) throw new TypeError('chunks must be an array');
    if (chunks.length === 0) return;
    const objects = this.toObjects(tenant, chunks);
    for (let i = 0; i < objects.length; i += this.batchSize) {
      const slice = objects.slice(i, i + this.batchSize);
      const r = await this.send('upsertChunks', 'POST', '/v1/batch/objects', { objects: slice }, tenant);
      if (!r.ok || !Array.isArray(r.body)) throw this.refusal(r, tenant);
      const failures: { id: string; message: string }[] = [];
      r.body.forEach((item, k) => {
        const id = isObject(item) && typeof item['id'] === 'string' ? item['id'] : String(slice[k]?.['id']);
        const result = isObject(item) ? item['result'] : undefined;
        const errors = isObject(result) && isObject(result['errors']) ? result['errors']['error'] : undefined;
        const failed = (isObject(result) && result['status'] === 'FAILED') || (Array.isArray(errors) && errors.length > 0);
        if (!failed) return;
        const message = Array.isArray(errors) && errors.length > 0 ? weaviateMessage({ error: errors }, r.status) : 'failed without a message';
        failures.push({ id, message });
      });
      if (r.body.length !== slice.length) failures.push({ id: '(batch)', message: `Weaviate answered ${r.body.length} results for ${slice.length} objects` });
      if (failures.length === 0) continue;
      if (failures.every((f) => TENANT_NOT_FOUND.test(f.message))) {
        throw new VectorTenantNotFoundError(tenant, r.operation, r.status, failures[0]!.message);
      }
      throw new VectorBatchError(tenant, failures, slice.length);
    }
  }

  private toObjects(tenant: string, chunks: readonly KnowledgeChunk[]): Json[] {
    const seen = new Set<string>();
    let dimensions: number | undefined;
    return chunks.map((c, i) => {
      const what = `chunk ${i}`;
      if (!isObject(c)) throw new TypeError(`${what} is not an object`);
      if (typeof c.id !== 'string' || !UUID.test(c.id)) throw new TypeError(`${what}: id must be a UUID`);
      const id = c.id.toLowerCase();
      if (seen.has(id)) throw new TypeError(`${what}: id ${id} appears twice in one call`);
      seen.add(id);
      checkVector(c.vector, `chunk ${id}`);
      dimensions ??= c.vector.length;
      if (c.vector.length !== dimensions) throw new TypeError(`chunk ${id}: vector has ${c.vector.length} dimensions, the others ${dimensions}`);
      if (typeof c.documentId !== 'string' || c.documentId === '') throw new TypeError(`chunk ${id}: documentId must be a non-empty string`);
      for (const k of ['chunkIndex', 'sourceVersion'] as const) {
        if (!Number.isSafeInteger(c[k]) || c[k] < 0) throw new TypeError(`chunk ${id}: ${k} must be a non-negative integer`);
      }
      for (const k of ['text', 'title'] as const) if (typeof c[k] !== 'string') throw new TypeError(`chunk ${id}: ${k} must be a string`);
      return {
        class: this.collection,
        id,
        tenant,
        vector: [...c.vector],
        properties: { documentId: c.documentId, chunkIndex: c.chunkIndex, text: c.text, title: c.title, sourceVersion: c.sourceVersion },
      };
    });
  }

  async deleteByDocument(tenantId: TenantId, documentId: string): Promise<number> {
    const tenant = weaviateTenantName(tenantId);
    if (typeof documentId !== 'string' || documentId === '') throw new TypeError('documentId must be a non-empty string');
    const body = {
      match: { class: this.collection, where: { path: ['documentId'], operator: 'Equal', valueText: documentId } },
      output: 'minimal',
      dryRun: false,
    };
    let deleted = 0;
    // One request deletes at most QUERY_MAXIMUM_RESULTS objects (`limit` in the answer): repeat until done.
    for (;;) {
      const r = await this.send('deleteByDocument', 'DELETE', `/v1/batch/objects?tenant=${encodeURIComponent(tenant)}`, body, tenant);
      if (!r.ok || !isObject(r.body) || !isObject(r.body['results'])) throw this.refusal(r, tenant);
      const { matches, successful, failed, limit } = r.body['results'];
      const n = (v: unknown): number => (typeof v === 'number' ? v : 0);
      deleted += n(successful);
      if (n(failed) > 0) throw new VectorStoreRequestError(r.operation, r.status, `${n(failed)} of ${n(matches)} objects of document ${JSON.stringify(documentId)} were not deleted`);
      if (n(successful) === 0 || n(matches) < n(limit) || n(limit) === 0) return deleted;
    }
  }

  async search(tenantId: TenantId, vector: readonly number[], limit: number): Promise<ChunkHit[]> {
    const tenant = weaviateTenantName(tenantId);
    checkVector(vector, 'search');
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > this.maxSearchLimit) throw new RangeError(`search limit must be an integer from 1 to ${this.maxSearchLimit}, got ${limit}`);
    // Every value put into the query was validated above (tenant name, finite numbers, integer).
    const query =
      `{ Get { ${this.collection}(tenant: ${JSON.stringify(tenant)}, nearVector: {vector: [${vector.map((x) => String(x)).join(',')}]}, limit: ${limit}) ` +
      `{ documentId chunkIndex text title _additional { id distance } } } }`;
    const data = await this.graphql('search', query, tenant);
    const get = isObject(data['Get']) ? data['Get'][this.collection] : undefined;
    if (!Array.isArray(get)) throw new VectorStoreRequestError('search', 200, `unexpected GraphQL answer: ${JSON.stringify(data).slice(0, 300)}`);
    return get.map((o: unknown): ChunkHit => {
      const obj = isObject(o) ? o : {};
      const add = isObject(obj['_additional']) ? obj['_additional'] : {};
      return {
        id: String(add['id']),
        documentId: String(obj['documentId'] ?? ''),
        chunkIndex: typeof obj['chunkIndex'] === 'number' ? obj['chunkIndex'] : -1,
        text: String(obj['text'] ?? ''),
        title: String(obj['title'] ?? ''),
        distance: typeof add['distance'] === 'number' ? add['distance'] : Number.NaN,
      };
    });
  }

  async countObjects(tenantId: TenantId): Promise<number> {
    const tenant = weaviateTenantName(tenantId);
    const data = await this.graphql('countObjects', `{ Aggregate { ${this.collection}(tenant: ${JSON.stringify(tenant)}) { meta { count } } } }`, tenant);
    const rows = isObject(data['Aggregate']) ? data['Aggregate'][this.collection] : undefined;
    const meta = Array.isArray(rows) && isObject(rows[0]) ? rows[0]['meta'] : undefined;
    const count = isObject(meta) ? meta['count'] : undefined;
    if (typeof count !== 'number') throw new VectorStoreRequestError('countObjects', 200, `unexpected GraphQL answer: ${JSON.stringify(data).slice(0, 300)}`);
    return count;
  }

  // ------------------------------------------------------------------ HTTP

  private async graphql(label: string, query: string, tenant: string): Promise<Json> {
    const r = await this.send(label, 'POST', '/v1/graphql', { query }, tenant);
    if (!r.ok) throw this.refusal(r, tenant);
    const errors = graphqlErrors(r.body);
    if (errors !== undefined) {
      if (TENANT_NOT_FOUND.test(errors)) throw new VectorTenantNotFoundError(tenant, r.operation, r.status, errors);
      throw new VectorStoreRequestError(r.operation, r.status, errors);
    }
    if (!isObject(r.body) || !isObject(r.body['data'])) throw new VectorStoreRequestError(r.operation, r.status, `no data in the GraphQL answer`);
    return r.body['data'];
  }

  /** The error for a refused request: VectorTenantNotFoundError when Weaviate says the tenant is unknown. */
  private refusal(r: Answer, tenant?: string): VectorStoreRequestError {
    const message = weaviateMessage(r.body, r.status);
    if (tenant !== undefined && TENANT_NOT_FOUND.test(message)) return new VectorTenantNotFoundError(tenant, r.operation, r.status, message);
    return new VectorStoreRequestError(r.operation, r.status, r.ok ? `unexpected answer: ${message}` : message);
  }

  private async send(label: string, method: string, path: string, body?: unknown, tenant?: string): Promise<Answer> {
    const operation = `${label} (${method} ${path.split('?')[0]}${tenant === undefined ? '' : `, tenant ${tenant}`})`;
    const headers: Record<string, string> = { accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    let status: number;
    let ok: boolean;
    let text: string;
    try {
      const res = await this.fetchImpl(`${this.url}${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      status = res.status;
      ok = res.ok;
      text = await res.text();
    } catch (err) {
      // Checked by name: the DOMException may come from another realm (test sandboxes).
      if (isObjectLike(err) && (err['name'] === 'TimeoutError' || err['name'] === 'AbortError')) throw new VectorStoreTimeoutError(operation, this.timeoutMs);
      throw new VectorStoreUnavailableError(this.url, networkReason(err), { cause: err });
    }
    let parsed: unknown = text;
    if (text !== '') {
      try {
        parsed = JSON.parse(text);
      } catch {
        // not JSON: kept as text for the error message
      }
    }
    return { status, ok, body: parsed, operation };
  }
}
