import { parseTenantId, type TenantId } from '@hotdash/contracts';
import type { HybridQuery, KnowledgeChunk } from './vector-store';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** The namespace rule both adapters meet (Weaviate's tenant names); a platform TenantId (a lowercase UUID) always does. */
const NAMESPACE_NAME = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * The namespace name of a platform tenant: the TenantId itself. Re-validated here so that a value
 * cast to TenantId without parseTenantId() fails before any request is sent.
 */
export function namespaceOf(tenantId: TenantId): string {
  if (typeof tenantId !== 'string') throw new TypeError('a tenant id is required for every vector store operation');
  const name: string = parseTenantId(tenantId);
  if (!NAMESPACE_NAME.test(name)) throw new TypeError(`tenant id ${name} cannot name a vector namespace`);
  return name;
}

/** Namespace names that are platform TenantIds (anything else was not created by the platform and is left out). */
export function tenantIdsOf(names: Iterable<string>): TenantId[] {
  const ids: TenantId[] = [];
  for (const n of names) if (UUID.test(n)) ids.push(parseTenantId(n));
  return ids.sort();
}

export function checkVector(vector: readonly number[], what: string): void {
  if (!Array.isArray(vector) || vector.length === 0) throw new TypeError(`${what}: the vector must be a non-empty array of numbers`);
  for (const x of vector) if (typeof x !== 'number' || !Number.isFinite(x)) throw new TypeError(`${what}: the vector holds a value that is not a finite number`);
}

export function checkLimit(limit: number, max: number): void {
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > max) throw new RangeError(`search limit must be an integer from 1 to ${max}, got ${limit}`);
}

export function checkDocumentId(documentId: string): void {
  if (typeof documentId !== 'string' || documentId === '') throw new TypeError('documentId must be a non-empty string');
}

export function checkVersion(version: number | undefined): void {
  if (version !== undefined && (!Number.isSafeInteger(version) || version < 0)) throw new TypeError(`olderThanVersion must be a non-negative integer, got ${version}`);
}

export function checkHybridQuery(q: HybridQuery, maxLimit: number): void {
  if (!q || typeof q !== 'object') throw new TypeError('hybrid search needs a query object');
  if (typeof q.text !== 'string') throw new TypeError('hybrid search: text must be a string');
  checkVector(q.vector, 'hybrid search');
  checkLimit(q.limit, maxLimit);
}

/**
 * Chunks checked before anything is written (ids are UUIDs and unique in the call, vectors finite
 * and of one dimension, indexes non-negative integers), ids lower-cased.
 */
export function validChunks(chunks: readonly KnowledgeChunk[]): KnowledgeChunk[] {
  if (!Array.isArray(chunks)) throw new TypeError('chunks must be an array');
  const seen = new Set<string>();
  let dimensions: number | undefined;
  return chunks.map((c, i) => {
    const what = `chunk ${i}`;
    if (!c || typeof c !== 'object') throw new TypeError(`${what} is not an object`);
    if (typeof c.id !== 'string' || !UUID.test(c.id)) throw new TypeError(`${what}: id must be a UUID`);
    const id = c.id.toLowerCase();
    if (seen.has(id)) throw new TypeError(`${what}: id ${id} appears twice in one call`);
    seen.add(id);
    checkVector(c.vector, `chunk ${id}`);
    dimensions ??= c.vector.length;
    if (c.vector.length !== dimensions) throw new TypeError(`chunk ${id}: vector has ${c.vector.length} dimensions, the others ${dimensions}`);
    checkDocumentId(c.documentId);
    for (const k of ['chunkIndex', 'sourceVersion'] as const) {
      if (!Number.isSafeInteger(c[k]) || c[k] < 0) throw new TypeError(`chunk ${id}: ${k} must be a non-negative integer`);
    }
    for (const k of ['text', 'title'] as const) if (typeof c[k] !== 'string') throw new TypeError(`chunk ${id}: ${k} must be a string`);
    return { ...c, id, vector: [...c.vector] };
  });
}
