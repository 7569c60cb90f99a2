import { mkdirSync } from 'node:fs';
import * as lancedb from '@lancedb/lancedb';
import { Field, FixedSizeList, Float32, Int32, Schema, Utf8 } from 'apache-arrow';
import type { TenantId } from '@hotdash/contracts';
import { VectorStoreConfigError, VectorStoreError, VectorStoreRequestError, VectorTenantNotFoundError } from './errors';
import { checkDocumentId, checkHybridQuery, checkLimit, checkVector, checkVersion, namespaceOf, tenantIdsOf, validChunks } from './validation';
import { ChunkHit, HybridHit, HybridQuery, KnowledgeChunk, VectorStore } from './vector-store';

export interface LanceDbVectorStoreOptions {
  /** Folder of the database (created when missing). */
  directory: string;
  /** Dimensions of every vector (the embedder's): a table's vector column has a fixed size. */
  dimensions: number;
  /** Highest `limit` accepted by search. Default 1 000. */
  maxSearchLimit?: number;
}

/** Table of a tenant: `tenant_<TenantId>`; nothing else in the folder is a tenant's. */
const TABLE_PREFIX = 'tenant_';
const COLUMNS = ['id', 'documentId', 'chunkIndex', 'text', 'title'];

interface Row {
  id: string;
  documentId: string;
  chunkIndex: number;
  text: string;
  title: string;
  sourceVersion: number;
  vector: number[];
  _distance?: number;
  _relevance_score?: number;
}

/**
 * {@link VectorStore} embedded in the process on LanceDB (`@lancedb/lancedb`, files in one folder),
 * for the single-process mode: one table per tenant (`tenant_<id>`), so one tenant's chunks are
 * never in a file another tenant's query reads. Search is exact cosine nearest neighbours; hybrid
 * search fuses a BM25 full-text ranking over the text (a full-text index made with the first
 * write) with the vector ranking by reciprocal rank fusion.
 */
export class LanceDbVectorStore extends VectorStore {
  readonly directory: string;
  private readonly dimensions: number;
  private readonly maxSearchLimit: number;
  private db: Promise<lancedb.Connection> | undefined;
  /** Tables whose full-text index exists (made once, on the first write). */
  private readonly indexed = new Set<string>();

  constructor(options: LanceDbVectorStoreOptions) {
    super();
    if (typeof options.directory !== 'string' || options.directory === '') throw new VectorStoreConfigError('the LanceDB directory is required');
    if (!Number.isSafeInteger(options.dimensions) || options.dimensions <= 0) throw new VectorStoreConfigError(`dimensions must be a positive integer, got ${options.dimensions}`);
    this.directory = options.directory;
    this.dimensions = options.dimensions;
    this.maxSearchLimit = options.maxSearchLimit ?? 1_000;
  }

  async close(): Promise<void> {
    const db = this.db;
    this.db = undefined;
    if (db) (await db).close();
  }

  async ensureCollection(): Promise<void> {
    await this.connection();
  }

  async createTenant(tenantId: TenantId): Promise<void> {
    const table = tableOf(tenantId);
    const db = await this.connection();
    await db.createEmptyTable(table, this.schema(), { mode: 'create', existOk: true });
  }

  async deleteTenant(tenantId: TenantId): Promise<void> {
    const table = tableOf(tenantId);
    const db = await this.connection();
    if ((await db.tableNames()).includes(table)) await db.dropTable(table);
    this.indexed.delete(table);
  }

  async tenantExists(tenantId: TenantId): Promise<boolean> {
    const table = tableOf(tenantId);
    return (await (await this.connection()).tableNames()).includes(table);
  }

  async listTenants(): Promise<TenantId[]> {
    const names = await (await this.connection()).tableNames();
    return tenantIdsOf(names.filter((n) => n.startsWith(TABLE_PREFIX)).map((n) => n.slice(TABLE_PREFIX.length)));
  }

  /** Inserts or replaces by id (one merge: a chunk written again replaces the earlier one). */
  async upsertChunks(tenantId: TenantId, chunks: readonly KnowledgeChunk[]): Promise<void> {
    const table = tableOf(tenantId);
    const valid = validChunks(chunks);
    if (valid.length === 0) return;
    for (const c of valid) {
      if (c.vector.length !== this.dimensions) throw new TypeError(`chunk ${c.id}: vector has ${c.vector.length} dimensions, the store ${this.dimensions}`);
    }
    const t = await this.table(table, tenantId, 'upsertChunks');
    const rows = valid.map((c) => ({ id: c.id, documentId: c.documentId, chunkIndex: c.chunkIndex, text: c.text, title: c.title, sourceVersion: c.sourceVersion, vector: c.vector as number[] }));
    await this.guard('upsertChunks', () => t.mergeInsert('id').whenMatchedUpdateAll().whenNotMatchedInsertAll().execute(rows));
    // Rows written after the index are still searched (unindexed rows are scanned), so it is made once.
    if (!(await this.hasTextIndex(table, t))) {
      await this.guard('upsertChunks', () => t.createIndex('text', { config: lancedb.Index.fts() }));
      this.indexed.add(table);
    }
  }

  async deleteByDocument(tenantId: TenantId, documentId: string, options: { olderThanVersion?: number } = {}): Promise<number> {
    const table = tableOf(tenantId);
    checkDocumentId(documentId);
    checkVersion(options.olderThanVersion);
    const t = await this.table(table, tenantId, 'deleteByDocument');
    const where = `documentId = ${sqlString(documentId)}${options.olderThanVersion === undefined ? '' : ` AND sourceVersion < ${options.olderThanVersion}`}`;
    const n = await t.countRows(where);
    if (n > 0) await this.guard('deleteByDocument', () => t.delete(where));
    return n;
  }

  async search(tenantId: TenantId, vector: readonly number[], limit: number): Promise<ChunkHit[]> {
    const table = tableOf(tenantId);
    checkVector(vector, 'search');
    checkLimit(limit, this.maxSearchLimit);
    this.checkDimensions(vector);
    const t = await this.table(table, tenantId, 'search');
    const rows = (await this.guard('search', () =>
      t
        .vectorSearch(vector as number[])
        .distanceType('cosine')
        .select([...COLUMNS, '_distance'])
        .limit(limit)
        .toArray(),
    )) as Row[];
    return rows.map((r) => ({ ...hit(r), distance: r._distance ?? Number.NaN }));
  }

  async hybridSearch(tenantId: TenantId, query: HybridQuery): Promise<HybridHit[]> {
    const table = tableOf(tenantId);
    checkHybridQuery(query, this.maxSearchLimit);
    this.checkDimensions(query.vector);
    const t = await this.table(table, tenantId, 'hybridSearch');
    const words = query.text.trim();
    // No words to match, or nothing written yet (no full-text index): the vector ranking alone.
    if (words === '' || !(await this.hasTextIndex(table, t))) {
      return (await this.search(tenantId, query.vector, query.limit)).map(({ distance, ...h }) => ({ ...h, score: 1 - distance / 2 }));
    }
    const reranker = await lancedb.rerankers.RRFReranker.create();
    const rows = (await this.guard('hybridSearch', () =>
      t
        .query()
        .fullTextSearch(words, { columns: ['text'] })
        .nearestTo(query.vector as number[])
        .distanceType('cosine')
        .rerank(reranker)
        // No select(): one projection cannot name both sub-queries' scores (_score, _distance).
        .limit(query.limit)
        .toArray(),
    )) as Row[];
    return rows.map((r) => ({ ...hit(r), score: r._relevance_score ?? 0 }));
  }

  async countObjects(tenantId: TenantId): Promise<number> {
    const table = tableOf(tenantId);
    return (await this.table(table, tenantId, 'countObjects')).countRows();
  }

  async *exportChunks(tenantId: TenantId, pageSize = 500): AsyncIterable<KnowledgeChunk[]> {
    const table = tableOf(tenantId);
    checkLimit(pageSize, 10_000);
    const t = await this.table(table, tenantId, 'exportChunks');
    // Tables of the embedded mode are small: read whole, then handed out in id order.
    const rows = ((await this.guard('exportChunks', () => t.query().select([...COLUMNS, 'sourceVersion', 'vector']).toArray())) as Row[]).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    for (let i = 0; i < rows.length; i += pageSize)
      yield rows.slice(i, i + pageSize).map((r) => ({ ...hit(r), sourceVersion: Number(r.sourceVersion), vector: Array.from(r.vector) }));
  }

  // ------------------------------------------------------------------ internals

  private connection(): Promise<lancedb.Connection> {
    if (!this.db) {
      mkdirSync(this.directory, { recursive: true });
      this.db = lancedb.connect(this.directory);
    }
    return this.db;
  }

  private async table(table: string, tenantId: TenantId, operation: string): Promise<lancedb.Table> {
    const db = await this.connection();
    try {
      return await db.openTable(table);
    } catch (err) {
      if (/not found|does not exist/i.test((err as Error).message)) throw new VectorTenantNotFoundError(tenantId, operation, undefined, 'no table for this tenant');
      throw new VectorStoreRequestError(operation, undefined, (err as Error).message);
    }
  }

  /** Whether the table's full-text index exists; once seen, remembered (it is never dropped while the table lives). */
  private async hasTextIndex(table: string, t: lancedb.Table): Promise<boolean> {
    if (this.indexed.has(table)) return true;
    if (!(await t.listIndices()).some((i) => i.columns.includes('text'))) return false;
    this.indexed.add(table);
    return true;
  }

  private async guard<T>(operation: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof VectorStoreError) throw err;
      throw new VectorStoreRequestError(operation, undefined, (err as Error).message.slice(0, 1_000));
    }
  }

  private checkDimensions(vector: readonly number[]): void {
    if (vector.length !== this.dimensions) throw new TypeError(`the query vector has ${vector.length} dimensions, the store ${this.dimensions}`);
  }

  private schema(): Schema {
    return new Schema([
      new Field('id', new Utf8(), false),
      new Field('documentId', new Utf8(), false),
      new Field('chunkIndex', new Int32(), false),
      new Field('text', new Utf8(), false),
      new Field('title', new Utf8(), false),
      new Field('sourceVersion', new Int32(), false),
      new Field('vector', new FixedSizeList(this.dimensions, new Field('item', new Float32(), true)), false),
    ]);
  }
}

function tableOf(tenantId: TenantId): string {
  return `${TABLE_PREFIX}${namespaceOf(tenantId)}`;
}

/** A SQL string literal for LanceDB's filters (single quotes doubled). */
function sqlString(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}

function hit(r: Row): Omit<ChunkHit, 'distance'> {
  return { id: r.id, documentId: r.documentId, chunkIndex: Number(r.chunkIndex), text: r.text, title: r.title };
}
