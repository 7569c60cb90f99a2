import { createHash } from 'node:crypto';
import { once } from 'node:events';
import type { Readable, Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { StringDecoder } from 'node:string_decoder';
import { createGunzip, createGzip, type Gzip } from 'node:zlib';
import { archiveManifest, type ArchiveManifest, type ArchiveSummary } from '@hotdash/contracts';
import { TableDigest, type CopiedValue } from '@hotdash/platform-db';
import type { KnowledgeChunk } from '@hotdash/platform-vector';
import { ARCHIVE_CIPHER, openingDecipher, sealingCipher } from './archive-crypto';

/*
 * An archive's data file: gzip of JSON lines, encrypted (archive-crypto.ts), in this order:
 *   {"section":"table","name":"users","columns":["id","tenant_id",…]}   one per table, parents first
 *   ["0193…","0193…",…]                                                 its rows, one JSON array each
 *   …
 *   {"section":"vectors"}
 *   ["<chunk id>","<document id>",<chunk index>,"<title>","<text>",<source version>,[<vector>…]]
 *   {"section":"end"}                                                   (a truncated file has none)
 * Row values are PostgreSQL's text forms (bytea as base64, NULL as null: platform/db CopiedValue);
 * a table's checksum is sha256 over its row lines (each followed by "\n"), the vectors' over theirs:
 * what the manifest records, and what reading the restored rows back must give again.
 */

/** A vector object as one archive line (fixed order: the line is also what its checksum covers). */
export type ChunkLine = [id: string, documentId: string, chunkIndex: number, title: string, text: string, sourceVersion: number, vector: number[]];

export const chunkLine = (c: KnowledgeChunk): ChunkLine => [c.id, c.documentId, c.chunkIndex, c.title, c.text, c.sourceVersion, [...c.vector]];
export const chunkOf = (l: ChunkLine): KnowledgeChunk => ({ id: l[0], documentId: l[1], chunkIndex: l[2], title: l[3], text: l[4], sourceVersion: l[5], vector: l[6] });

/** sha256 over vector lines, as the manifest records it. */
export class VectorDigest {
  private readonly hash = createHash('sha256');
  private count = 0;
  private dims: number | null = null;

  add(c: KnowledgeChunk): void {
    this.hash.update(JSON.stringify(chunkLine(c)));
    this.hash.update('\n');
    this.count++;
    this.dims ??= c.vector.length;
  }

  digest(): { objects: number; dimensions: number | null; sha256: string } {
    return { objects: this.count, dimensions: this.dims, sha256: this.hash.digest('hex') };
  }
}

/** Writes an archive's data (gzip, then encrypted with `key`) to `out`, with per-table and vector checksums as it goes. */
export class ArchiveWriter {
  private readonly gzip: Gzip = createGzip();
  private readonly sealing: ReturnType<typeof sealingCipher>;
  private readonly done: Promise<void>;
  private table: { name: string; columns: string[]; primaryKey: string[]; digest: TableDigest } | undefined;
  readonly tables: ArchiveManifest['tables'] = [];
  private vectorDigest: VectorDigest | undefined;

  constructor(out: Writable, key: Buffer, archiveId: string) {
    this.sealing = sealingCipher(key, archiveId);
    this.gzip.pipe(this.sealing.cipher).pipe(out);
    this.done = finished(out);
    // An error of the file is the writer's: the next write or end rejects with it.
    this.done.catch(() => undefined);
  }

  private async line(value: unknown): Promise<void> {
    if (!this.gzip.write(`${JSON.stringify(value)}\n`)) await Promise.race([once(this.gzip, 'drain'), this.done]);
  }

  async beginTable(name: string, columns: string[], primaryKey: string[]): Promise<void> {
    this.closeTable();
    this.table = { name, columns, primaryKey, digest: new TableDigest() };
    await this.line({ section: 'table', name, columns });
  }

  async rows(rows: readonly CopiedValue[][]): Promise<void> {
    const t = this.table;
    if (!t) throw new Error('rows before a table');
    for (const r of rows) {
      t.digest.add(r);
      await this.line(r);
    }
  }

  /** Rows written of the table being written. */
  get tableRows(): number {
    return this.table?.digest.rows ?? 0;
  }

  async beginVectors(): Promise<void> {
    this.closeTable();
    this.vectorDigest = new VectorDigest();
    await this.line({ section: 'vectors' });
  }

  async chunks(chunks: readonly KnowledgeChunk[]): Promise<void> {
    const d = this.vectorDigest;
    if (!d) throw new Error('chunks before the vectors section');
    for (const c of chunks) {
      d.add(c);
      await this.line(chunkLine(c));
    }
  }

  /** Ends the data; the tables' and the vectors' counts and checksums, and how the data is sealed. */
  async end(): Promise<{ tables: ArchiveManifest['tables']; vectors: ArchiveManifest['vectors']; sealing: ArchiveManifest['sealing'] }> {
    this.closeTable();
    const vectors = (this.vectorDigest ?? new VectorDigest()).digest();
    await this.line({ section: 'end' });
    this.gzip.end();
    await this.done;
    const sealing = { algorithm: ARCHIVE_CIPHER, keyDerivation: 'hkdf-sha256', iv: this.sealing.iv.toString('base64'), tag: this.sealing.cipher.getAuthTag().toString('base64') } as const;
    return { tables: this.tables, vectors, sealing };
  }

  private closeTable(): void {
    const t = this.table;
    if (!t) return;
    this.table = undefined;
    this.tables.push({ name: t.name, columns: t.columns, primaryKey: t.primaryKey, ...t.digest.digest() });
  }
}

export class ArchiveCorruptError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ArchiveCorruptError';
  }
}

export type ArchiveItem =
  | { kind: 'table'; name: string; columns: string[] }
  | { kind: 'row'; values: CopiedValue[] }
  | { kind: 'vectors' }
  | { kind: 'chunk'; chunk: KnowledgeChunk }
  | { kind: 'end' };

const isValue = (v: unknown): v is CopiedValue => v === null || typeof v === 'string';

function isChunkLine(v: unknown[]): v is ChunkLine {
  return (
    v.length === 7 &&
    typeof v[0] === 'string' &&
    typeof v[1] === 'string' &&
    Number.isInteger(v[2]) &&
    typeof v[3] === 'string' &&
    typeof v[4] === 'string' &&
    Number.isInteger(v[5]) &&
    Array.isArray(v[6]) &&
    (v[6] as unknown[]).every((x) => typeof x === 'number' && Number.isFinite(x))
  );
}

/** What opens an archive's data: the key derived from the tenant's data key, the archive's id and its sealing (manifest). */
export interface ArchiveOpening {
  key: Buffer;
  archiveId: string;
  sealing: Pick<ArchiveManifest['sealing'], 'iv' | 'tag'>;
}

/**
 * The items of an archive's data in order; `stats` ends with the file's size and sha256 once the
 * generator is exhausted. ArchiveCorruptError for anything that is not the format (a truncated file
 * ends without its end marker; a changed byte, or another key, fails the decryption's check).
 */
export async function* readArchiveData(input: Readable, opening: ArchiveOpening, stats: { bytes: number; sha256: string } = { bytes: 0, sha256: '' }): AsyncGenerator<ArchiveItem> {
  const hash = createHash('sha256');
  input.on('data', (chunk: Buffer) => {
    hash.update(chunk);
    stats.bytes += chunk.length;
  });
  const decipher = openingDecipher(opening.key, opening.archiveId, opening.sealing);
  const gunzip = createGunzip();
  input.on('error', (err) => decipher.destroy(err));
  decipher.on('error', (err) => gunzip.destroy(err));
  input.pipe(decipher).pipe(gunzip);
  let section: 'none' | 'table' | 'vectors' | 'end' = 'none';
  let columns = 0;
  let n = 0;
  const item = (line: string): ArchiveItem => {
    n++;
    if (section === 'end') throw new ArchiveCorruptError(`line ${n}: data after the end marker`);
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch {
      throw new ArchiveCorruptError(`line ${n} is not JSON`);
    }
    if (Array.isArray(v)) {
      if (section === 'table') {
        if (v.length !== columns || !v.every(isValue)) throw new ArchiveCorruptError(`line ${n}: a row must be ${columns} values (text or null)`);
        return { kind: 'row', values: v };
      }
      if (section === 'vectors') {
        if (!isChunkLine(v)) throw new ArchiveCorruptError(`line ${n}: not a vector object`);
        return { kind: 'chunk', chunk: chunkOf(v) };
      }
      throw new ArchiveCorruptError(`line ${n}: a row outside any section`);
    }
    const s = v as { section?: unknown; name?: unknown; columns?: unknown };
    if (s.section === 'table' && typeof s.name === 'string' && Array.isArray(s.columns) && s.columns.every((c) => typeof c === 'string')) {
      if (section === 'vectors') throw new ArchiveCorruptError(`line ${n}: a table after the vectors`);
      section = 'table';
      columns = s.columns.length;
      return { kind: 'table', name: s.name, columns: s.columns as string[] };
    }
    if (s.section === 'vectors') {
      section = 'vectors';
      return { kind: 'vectors' };
    }
    if (s.section === 'end') {
      section = 'end';
      return { kind: 'end' };
    }
    throw new ArchiveCorruptError(`line ${n}: not a section marker`);
  };
  const decoder = new StringDecoder('utf8');
  // A line may span many chunks (a large document): its parts are kept apart until its end is seen.
  let parts: string[] = [];
  try {
    for await (const chunk of gunzip as AsyncIterable<Buffer>) {
      const text = decoder.write(chunk);
      let start = 0;
      for (let end = text.indexOf('\n'); end >= 0; end = text.indexOf('\n', start)) {
        parts.push(text.slice(start, end));
        yield item(parts.join(''));
        parts = [];
        start = end + 1;
      }
      if (start < text.length) parts.push(text.slice(start));
    }
    parts.push(decoder.end());
    const last = parts.join('');
    if (last !== '') yield item(last);
  } catch (err) {
    if (err instanceof ArchiveCorruptError) throw err;
    throw new ArchiveCorruptError(`the data cannot be read: ${(err as Error).message}`);
  } finally {
    gunzip.destroy();
    decipher.destroy();
    input.destroy();
  }
  // (set by item(): the compiler cannot see that)
  if ((section as string) !== 'end') throw new ArchiveCorruptError('the data ends without its end marker (truncated)');
  stats.sha256 = hash.digest('hex');
}

/** The manifest, validated (ArchiveCorruptError when it is not one of this format). */
export function parseManifest(raw: unknown, id: string): ArchiveManifest {
  const r = archiveManifest.safeParse(raw);
  if (!r.success) throw new ArchiveCorruptError(`the manifest of ${id} is not a ${'hotdash-tenant-archive'} manifest of a version this build reads: ${r.error.issues[0]?.path.join('.')}: ${r.error.issues[0]?.message}`);
  if (r.data.id !== id) throw new ArchiveCorruptError(`the manifest stored as ${id} names ${r.data.id}`);
  return r.data;
}

/**
 * Reads the whole data file and checks it against its manifest: size and sha256 of the file, the
 * tables in the manifest's order with its columns, each table's row count and checksum, the vector
 * objects' count and checksum. ArchiveCorruptError names the first difference.
 */
export async function verifyArchiveData(input: Readable, m: ArchiveManifest, key: Buffer, onProgress?: (rows: number) => void): Promise<void> {
  const stats = { bytes: 0, sha256: '' };
  const seen: ArchiveManifest['tables'] = [];
  let table: { name: string; columns: string[]; digest: TableDigest } | undefined;
  let vectors: VectorDigest | undefined;
  let rows = 0;
  const close = () => {
    if (table) seen.push({ name: table.name, columns: table.columns, primaryKey: m.tables[seen.length]?.primaryKey ?? [], ...table.digest.digest() });
    table = undefined;
  };
  for await (const item of readArchiveData(input, { key, archiveId: m.id, sealing: m.sealing }, stats)) {
    if (item.kind === 'table') {
      close();
      table = { name: item.name, columns: item.columns, digest: new TableDigest() };
    } else if (item.kind === 'row') {
      table!.digest.add(item.values);
      if (++rows % 1_000 === 0) onProgress?.(rows);
    } else if (item.kind === 'vectors') {
      close();
      vectors = new VectorDigest();
    } else if (item.kind === 'chunk') vectors!.add(item.chunk);
    else close();
  }
  if (stats.bytes !== m.data.bytes || stats.sha256 !== m.data.sha256) throw new ArchiveCorruptError(`the data file is not the one the manifest names (${stats.bytes} bytes, sha256 ${stats.sha256.slice(0, 12)}…; manifest: ${m.data.bytes} bytes, ${m.data.sha256.slice(0, 12)}…)`);
  if (seen.length !== m.tables.length) throw new ArchiveCorruptError(`the data holds ${seen.length} tables, the manifest ${m.tables.length}`);
  seen.forEach((t, i) => {
    const e = m.tables[i]!;
    if (t.name !== e.name || JSON.stringify(t.columns) !== JSON.stringify(e.columns)) throw new ArchiveCorruptError(`table ${i + 1} of the data is ${t.name}, the manifest's ${e.name} (or its columns differ)`);
    if (t.rows !== e.rows || t.sha256 !== e.sha256) throw new ArchiveCorruptError(`table ${t.name}: ${t.rows} rows with checksum ${t.sha256.slice(0, 12)}…, the manifest says ${e.rows} with ${e.sha256.slice(0, 12)}…`);
  });
  const v = (vectors ?? new VectorDigest()).digest();
  if (v.objects !== m.vectors.objects || v.sha256 !== m.vectors.sha256) throw new ArchiveCorruptError(`vectors: ${v.objects} objects with checksum ${v.sha256.slice(0, 12)}…, the manifest says ${m.vectors.objects} with ${m.vectors.sha256.slice(0, 12)}…`);
  onProgress?.(rows);
}

/** How an archive is listed. */
export function summaryOf(m: ArchiveManifest): ArchiveSummary {
  return {
    id: m.id,
    tenantId: m.tenant.id,
    tenantSlug: m.tenant.slug,
    createdAt: m.createdAt,
    createdBy: m.createdBy,
    shard: m.tenant.shard,
    schemaLatest: m.schema.latest,
    rows: m.tables.reduce((n, t) => n + t.rows, 0),
    vectors: m.vectors.objects,
    bytes: m.data.bytes,
  };
}
