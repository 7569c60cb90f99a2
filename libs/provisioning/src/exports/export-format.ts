import { createCipheriv, createDecipheriv, hkdfSync, randomBytes, type KeyObject } from 'node:crypto';
import { once } from 'node:events';
import { pipeline } from 'node:stream/promises';
import { PassThrough, type Readable, type Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { createGunzip, createGzip, type Gzip } from 'node:zlib';
import { EXPORT_FORMAT, EXPORT_FORMAT_VERSION, type ExportKind, type TenantId } from '@hotdash/contracts';
import { DecryptionFailedError, type FieldCipher, SubjectKeyDestroyedError, SubjectKeyMissingError } from '@hotdash/platform-crypto';
import type { CopiedValue, TenantTableColumn } from '@hotdash/platform-db';

/*
 * An export file (docs/exports.md): JSON lines, one JSON object a line, each with its `type`:
 *   {"type":"export","format":"hotdash-data-export","formatVersion":1,"id":…,"kind":"tenant","tenantId":…,"createdAt":…}
 *   {"type":"table","table":"users","columns":["id","tenant_id","email",…],"decrypted":{"email":"email_enc"},"redacted":["password_hash"],"rowsEstimated":12}
 *   {"type":"row","table":"users","values":{"id":"0193…","email":"dana@example.test",…}}   its rows, in key order
 *   {"type":"table-end","table":"users","rows":12,"undecryptable":{}}
 *   …                                                                                       every table, parents first
 *   {"type":"end","tables":31,"rows":1234}                                                  (a truncated file has none)
 * Stored gzip-compressed and encrypted (AES-256-GCM under a key derived from the tenant's data key,
 * the export id as salt and additional data); downloaded decrypted and decompressed.
 */

/** A column of an export, and what is done with its stored value. */
export interface ExportColumn {
  /** The key the value has in a row's `values` (the column's name; without `_enc` when decrypted). */
  key: string;
  column: TenantTableColumn;
  /** `plain`: the stored value (typed, see valueOf); `decrypt`: a FieldCipher value opened with `field`; `redacted`: left out. */
  treatment: 'plain' | 'decrypt' | 'redacted';
  /** The FieldCipher field (additional data) the column's values were sealed with. */
  field?: string;
  /** A plain json column holding sealed values under these keys (key → FieldCipher field): exported opened, under the key without `Enc`. */
  sealedInJson?: Readonly<Record<string, string>>;
}

/**
 * Credentials: never exported, neither in the clear nor as stored (password, token and key hashes;
 * the tenant's write-only secrets: its model API key, its identity provider's client secret).
 */
const CREDENTIAL = /(^|_)(password|secret|token|key)_(hash|enc)$/;

/**
 * FieldCipher fields whose name is not `<table>.<column without _enc>` (the convention every other
 * encrypted column follows): a ticket's reply is sealed as a reply body.
 */
const FIELD_OF_COLUMN: Readonly<Record<string, string>> = { 'tickets.reply_body_enc': 'replies.body' };

/**
 * json columns that hold FieldCipher values inside: a draft's cited passages carry each passage's
 * text sealed under the tenant's key (`textEnc`, draft.generated v2), exported opened as `text`.
 */
const SEALED_IN_JSON: Readonly<Record<string, Readonly<Record<string, string>>>> = { 'drafts.citations': { textEnc: 'drafts.cited_passage' } };

/**
 * How each column of a table is exported, from its name alone (no table is named in the export's
 * code): `*_enc` columns hold FieldCipher values the platform can open, exported decrypted under the
 * name without `_enc` (`<name>_decrypted` where the table has a column of that name too);
 * credentials are left out; everything else as stored.
 */
export function exportColumnsOf(table: string, columns: readonly TenantTableColumn[]): ExportColumn[] {
  const names = new Set(columns.map((c) => c.name));
  return columns.map((column) => {
    if (CREDENTIAL.test(column.name)) return { key: column.name, column, treatment: 'redacted' };
    if (column.name.endsWith('_enc')) {
      const base = column.name.slice(0, -'_enc'.length);
      // A table may keep an older plain column of the same name (kb_documents.source): the decrypted value is then `<name>_decrypted`.
      return { key: names.has(base) ? `${base}_decrypted` : base, column, treatment: 'decrypt', field: FIELD_OF_COLUMN[`${table}.${column.name}`] ?? `${table}.${base}` };
    }
    const sealedInJson = SEALED_IN_JSON[`${table}.${column.name}`];
    return { key: column.name, column, treatment: 'plain', ...(sealedInJson ? { sealedInJson } : {}) };
  });
}

/**
 * A stored value as JSON: PostgreSQL's text form (platform/db CopiedValue: timestamps in UTC ISO
 * style, numerics exact, bytea as base64), except booleans (true/false), 16- and 32-bit integers
 * and finite floats (numbers) and json/jsonb (the JSON value itself). bigint and numeric stay text
 * (JSON numbers lose precision beyond 2^53).
 */
export function valueOf(v: CopiedValue, c: TenantTableColumn): unknown {
  if (v === null) return null;
  switch (c.type) {
    case 'boolean':
      return v === 't';
    case 'smallint':
    case 'integer':
      return Number(v);
    case 'real':
    case 'double precision': {
      const n = Number(v);
      return Number.isFinite(n) ? n : v;
    }
    case 'json':
    case 'jsonb':
      return JSON.parse(v) as unknown;
    default:
      return v;
  }
}

/**
 * A value that cannot be opened, for good: not a token of this field, or sealed under a data
 * subject's key that was destroyed (an erased subject) or is gone. A tenant key's errors and
 * outages are not among them: they fail the export.
 */
export function unreadable(err: unknown): boolean {
  return err instanceof DecryptionFailedError || err instanceof SubjectKeyDestroyedError || err instanceof SubjectKeyMissingError;
}

/** Opens one table's rows for the export: values typed, `_enc` columns decrypted, credentials left out; counts what did not decrypt. */
export class RowOpener {
  readonly undecryptable: Record<string, number> = {};

  constructor(
    private readonly cipher: FieldCipher,
    private readonly tenantId: TenantId,
    readonly columns: readonly ExportColumn[],
  ) {}

  async open(row: readonly CopiedValue[]): Promise<Record<string, unknown>> {
    const out: Record<string, unknown> = {};
    for (let i = 0; i < this.columns.length; i++) {
      const c = this.columns[i]!;
      const v = row[i] ?? null;
      if (c.treatment === 'redacted') continue;
      if (c.treatment === 'plain' && c.sealedInJson && v !== null) out[c.key] = await this.openJson(c, valueOf(v, c.column), c.sealedInJson);
      else if (c.treatment === 'plain' || v === null) out[c.key] = valueOf(v, c.column);
      else out[c.key] = await this.decrypt(c, v);
    }
    return out;
  }

  /** A json value with its sealed keys opened (`textEnc` → `text`), arrays and objects walked; what cannot be opened stays sealed and is counted. */
  private async openJson(c: ExportColumn, value: unknown, sealed: Readonly<Record<string, string>>): Promise<unknown> {
    if (Array.isArray(value)) return Promise.all(value.map((v) => this.openJson(c, v, sealed)));
    if (value === null || typeof value !== 'object') return value;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      const field = sealed[k];
      if (!field || typeof v !== 'string') {
        out[k] = field ? v : await this.openJson(c, v, sealed);
        continue;
      }
      try {
        out[k.replace(/Enc$/, '')] = await this.cipher.decrypt(this.tenantId, field, v);
      } catch (err) {
        if (!unreadable(err)) throw err;
        this.undecryptable[`${c.key}.${k}`] = (this.undecryptable[`${c.key}.${k}`] ?? 0) + 1;
        out[k] = v;
      }
    }
    return out;
  }

  private async decrypt(c: ExportColumn, v: string): Promise<string> {
    try {
      // bytea (a document's sealed upload) comes as base64 and goes out as base64 of the plaintext.
      return c.column.bytea ? (await this.cipher.decryptBytes(this.tenantId, c.field!, Buffer.from(v, 'base64'))).toString('base64') : await this.cipher.decrypt(this.tenantId, c.field!, v);
    } catch (err) {
      if (!unreadable(err)) throw err;
      // Kept as stored (the export must not lose it), and counted in the table's end line.
      this.undecryptable[c.key] = (this.undecryptable[c.key] ?? 0) + 1;
      return v;
    }
  }
}

/** What a table's header line says of its columns: the keys its rows have, which were decrypted (key → stored column) and which were left out. */
export interface TableHeader {
  columns: string[];
  decrypted: Record<string, string>;
  redacted: string[];
}

export function headerOf(columns: readonly ExportColumn[]): TableHeader {
  return {
    columns: columns.filter((c) => c.treatment !== 'redacted').map((c) => c.key),
    decrypted: Object.fromEntries(columns.filter((c) => c.treatment === 'decrypt').map((c) => [c.key, c.column.name])),
    redacted: columns.filter((c) => c.treatment === 'redacted').map((c) => c.key),
  };
}

export const EXPORT_CIPHER = 'aes-256-gcm';

/** How a stored export file is sealed (kept in its run; the key is derived again from the tenant's data key). */
export interface ExportSealing {
  algorithm: typeof EXPORT_CIPHER;
  /** base64 */
  iv: string;
  /** base64 */
  tag: string;
}

/** The file key of one export: HKDF-SHA256 of the tenant's data key, the export id as salt. Destroying the tenant's key makes every export of it unreadable. */
export function exportFileKey(dataKey: KeyObject, exportId: string): Buffer {
  return Buffer.from(hkdfSync('sha256', dataKey, Buffer.from(exportId, 'utf8'), Buffer.from('hotdash data export v1', 'utf8'), 32));
}

export interface ExportSummary {
  tables: number;
  rows: number;
}

/** Writes an export's JSON lines to `out`, gzip-compressed and then encrypted with `key`, honouring back-pressure (memory stays flat). */
export class ExportWriter {
  private readonly gzip: Gzip = createGzip();
  private readonly cipher;
  private readonly iv = randomBytes(12);
  private readonly done: Promise<void>;
  private table: { name: string; rows: number } | undefined;
  private tables = 0;
  private rows = 0;

  constructor(
    private readonly out: Writable,
    key: Buffer,
    exportId: string,
  ) {
    this.cipher = createCipheriv(EXPORT_CIPHER, key, this.iv);
    this.cipher.setAAD(Buffer.from(exportId, 'utf8'));
    this.gzip.pipe(this.cipher).pipe(out);
    this.done = finished(out);
    this.done.catch(() => undefined);
  }

  private async line(value: unknown): Promise<void> {
    if (!this.gzip.write(`${JSON.stringify(value)}\n`)) await Promise.race([once(this.gzip, 'drain'), this.done]);
  }

  header(h: { id: string; kind: ExportKind; tenantId: TenantId; createdAt: string; subjectRef?: string }): Promise<void> {
    return this.line({ type: 'export', format: EXPORT_FORMAT, formatVersion: EXPORT_FORMAT_VERSION, ...h });
  }

  /** Starts a table: its header line (`columns` as headerOf describes them), then its rows. */
  async beginTable(name: string, header: TableHeader, rowsEstimated: number): Promise<void> {
    if (this.table) throw new Error(`table ${this.table.name} not ended`);
    this.table = { name, rows: 0 };
    await this.line({ type: 'table', table: name, columns: header.columns, decrypted: header.decrypted, redacted: header.redacted, rowsEstimated });
  }

  async row(values: Record<string, unknown>): Promise<void> {
    const t = this.table;
    if (!t) throw new Error('a row outside a table');
    t.rows++;
    this.rows++;
    await this.line({ type: 'row', table: t.name, values });
  }

  async endTable(undecryptable: Record<string, number>): Promise<number> {
    const t = this.table;
    if (!t) throw new Error('no table to end');
    this.table = undefined;
    this.tables++;
    await this.line({ type: 'table-end', table: t.name, rows: t.rows, undecryptable });
    return t.rows;
  }

  /** Writes the end line and closes the file: how it is sealed, and what it holds. */
  async end(): Promise<{ sealing: ExportSealing; summary: ExportSummary }> {
    if (this.table) throw new Error(`table ${this.table.name} not ended`);
    const summary = { tables: this.tables, rows: this.rows };
    await this.line({ type: 'end', ...summary });
    this.gzip.end();
    await this.done;
    return { sealing: { algorithm: EXPORT_CIPHER, iv: this.iv.toString('base64'), tag: this.cipher.getAuthTag().toString('base64') }, summary };
  }

  /**
   * Stops writing (a failed export): the output is destroyed with `err`. `.pipe()` forwards no
   * errors, so the gzip and cipher streams are destroyed without one (an 'error' event with no
   * listener would end the process: a failed export took its service down with it); `out`'s error
   * is what `done` (and anyone waiting on the output) sees.
   */
  abort(err: Error): void {
    this.gzip.unpipe();
    this.cipher.unpipe();
    this.gzip.destroy();
    this.cipher.destroy();
    this.out.destroy(err);
  }
}

/**
 * The export's JSON lines from its stored file: decrypted and decompressed as it is read. The GCM
 * tag is checked when the file ends: a changed byte fails the stream there (a download is cut off
 * before its end line, so a reader sees it is incomplete).
 */
export function openExportFile(input: Readable, key: Buffer, exportId: string, sealing: Pick<ExportSealing, 'iv' | 'tag'>): Readable {
  const decipher = createDecipheriv(EXPORT_CIPHER, key, Buffer.from(sealing.iv, 'base64'));
  decipher.setAAD(Buffer.from(exportId, 'utf8'));
  decipher.setAuthTag(Buffer.from(sealing.tag, 'base64'));
  const out = new PassThrough();
  pipeline(input, decipher, createGunzip(), out).catch((err: Error) => out.destroy(err));
  return out;
}
