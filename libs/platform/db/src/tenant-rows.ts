import { createHash, type Hash } from 'node:crypto';
import { sql, type RawBuilder } from 'kysely';
import type { TenantId } from '@hotdash/contracts';
import type { TenantTransaction } from './tenant-transaction';
import type { TenantTable, TenantTableColumn } from './tenant-tables';

/**
 * A column's value in a tenant copy: PostgreSQL's own text form of it (under {@link useCanonicalText}),
 * base64 for bytea, null for NULL. Text in, the same text out: the column's input function reads back
 * exactly the value that was written out (timestamps to the microsecond, numerics with their scale,
 * floats in their shortest exact form, jsonb as stored), whatever the driver would have made of it.
 */
export type CopiedValue = string | null;

/** Rows read per round trip. */
const FETCH_ROWS = 1_000;
/** Bind parameters in one statement: PostgreSQL takes at most 65 535. */
const MAX_PARAMETERS = 30_000;
const MAX_ROWS_PER_INSERT = 1_000;

/**
 * Makes every value's text form the same on every shard for the rest of the transaction: UTC,
 * ISO dates, PostgreSQL intervals, shortest exact floats, hex bytea. Call it first in a transaction
 * that reads ({@link readTenantRows}) or writes ({@link insertTenantRows}) copied values.
 */
export async function useCanonicalText(tx: TenantTransaction): Promise<void> {
  await sql`select set_config('TimeZone', 'UTC', true), set_config('DateStyle', 'ISO, YMD', true), set_config('IntervalStyle', 'postgres', true),
    set_config('extra_float_digits', '1', true), set_config('bytea_output', 'hex', true)`.execute(tx.db);
}

/** The columns of `table` named in `names` (all of them by default), in that order; an unknown name throws. */
export function columnsOf(table: TenantTable, names?: readonly string[]): TenantTableColumn[] {
  if (!names) return table.columns;
  return names.map((n) => {
    const c = table.columns.find((x) => x.name === n);
    if (!c) throw new Error(`table ${table.name} has no column ${n}`);
    return c;
  });
}

/** The key rows are read in: the primary key (else every column), text-like columns byte-wise, so the order is the same on every database. */
function orderBy(table: TenantTable): RawBuilder<unknown> {
  const keys = table.primaryKey.length ? columnsOf(table, table.primaryKey) : table.columns.filter((c) => !c.generated);
  return sql.join(keys.map((c) => (c.collatable ? sql`${sql.ref(c.name)} collate "C"` : sql.ref(c.name))));
}

/**
 * The tenant's rows of one table, `columns` of each, in key order, a page at a time, through a
 * cursor of the caller's transaction (run it in a `snapshot` transaction for a consistent copy of
 * several tables). Values are {@link CopiedValue}s: call {@link useCanonicalText} first.
 */
export async function* readTenantRows(tx: TenantTransaction, tenantId: TenantId, table: TenantTable, columns: readonly TenantTableColumn[] = table.columns): AsyncGenerator<CopiedValue[][]> {
  const cursor = `tenant_rows_${table.name}`.slice(0, 63);
  const list = sql.join(columns.map((c, i) => sql`${c.bytea ? sql.ref(c.name) : sql`${sql.ref(c.name)}::text`} as ${sql.id(`c${i}`)}`));
  await sql`declare ${sql.id(cursor)} no scroll cursor for select ${list} from ${sql.table(table.name)} where tenant_id = ${tenantId} order by ${orderBy(table)}`.execute(tx.db);
  try {
    for (;;) {
      const page = await sql<Record<string, string | Buffer | null>>`fetch forward ${sql.lit(FETCH_ROWS)} from ${sql.id(cursor)}`.execute(tx.db);
      if (page.rows.length) yield page.rows.map((r) => columns.map((c, i) => textOf(r[`c${i}`] ?? null, c)));
      if (page.rows.length < FETCH_ROWS) return;
    }
  } finally {
    // After a failure the transaction is aborted and refuses the close: the failure is what counts.
    if (!tx.closedBy) await sql`close ${sql.id(cursor)}`.execute(tx.db).catch(() => undefined);
  }
}

function textOf(v: string | Buffer | null, c: TenantTableColumn): CopiedValue {
  if (v === null) return null;
  if (Buffer.isBuffer(v)) return v.toString('base64');
  if (c.bytea) throw new Error(`column ${c.name}: expected bytes`);
  return v;
}

/**
 * Inserts copied rows of one table for the caller's tenant transaction (row-level security checks
 * each row's tenant_id), `columns` in the rows' order; several rows per statement. Generated columns
 * must not be among them; an identity column GENERATED ALWAYS keeps the copied value.
 */
export async function insertTenantRows(tx: TenantTransaction, table: TenantTable, columns: readonly TenantTableColumn[], rows: readonly CopiedValue[][]): Promise<void> {
  const generated = columns.find((c) => c.generated);
  if (generated) throw new Error(`${table.name}.${generated.name} is generated: it cannot be written`);
  const perStatement = Math.max(1, Math.min(MAX_ROWS_PER_INSERT, Math.floor(MAX_PARAMETERS / Math.max(columns.length, 1))));
  const names = sql.join(columns.map((c) => sql.ref(c.name)));
  const overriding = columns.some((c) => c.identityAlways) ? sql`overriding system value` : sql``;
  for (let i = 0; i < rows.length; i += perStatement) {
    const values = rows.slice(i, i + perStatement).map((row) => {
      if (row.length !== columns.length) throw new Error(`a row of ${table.name} has ${row.length} values for ${columns.length} columns`);
      // Text parameters without a type: PostgreSQL reads each with the target column's input function.
      return sql`(${sql.join(row.map((v, j) => (v !== null && columns[j]!.bytea ? sql`${Buffer.from(v, 'base64')}` : sql`${v}`)))})`;
    });
    await sql`insert into ${sql.table(table.name)} (${names}) ${overriding} values ${sql.join(values)}`.execute(tx.db);
  }
}

/** Whether the tenant has any row in the table (its tenant_id index answers). */
export async function hasTenantRows(tx: TenantTransaction, tenantId: TenantId, table: Pick<TenantTable, 'name'>): Promise<boolean> {
  const r = await sql<{ found: boolean }>`select exists (select 1 from ${sql.table(table.name)} where tenant_id = ${tenantId}) as found`.execute(tx.db);
  return r.rows[0]!.found;
}

/** How many rows the tenant has in the table. */
export async function countTenantRows(tx: TenantTransaction, tenantId: TenantId, table: Pick<TenantTable, 'name'>): Promise<number> {
  const r = await sql<{ n: string }>`select count(*)::text as n from ${sql.table(table.name)} where tenant_id = ${tenantId}`.execute(tx.db);
  return Number(r.rows[0]!.n);
}

/**
 * Row count and checksum of a table's copied rows in key order: sha256 over each row as a JSON array
 * of its values, one per line. The same rows give the same digest on any shard (the order and the
 * text forms are canonical), so a copy is verified by reading it back.
 */
export class TableDigest {
  private readonly hash: Hash = createHash('sha256');
  private count = 0;

  add(row: readonly CopiedValue[]): void {
    this.hash.update(JSON.stringify(row));
    this.hash.update('\n');
    this.count++;
  }

  get rows(): number {
    return this.count;
  }

  /** The hex digest (the digest ends the object: add nothing afterwards). */
  digest(): { rows: number; sha256: string } {
    return { rows: this.count, sha256: this.hash.digest('hex') };
  }
}

/** Count and checksum of the tenant's rows of a table, `columns` of each, read in the caller's transaction. */
export async function digestTenantRows(tx: TenantTransaction, tenantId: TenantId, table: TenantTable, columns: readonly TenantTableColumn[] = table.columns): Promise<{ rows: number; sha256: string }> {
  const d = new TableDigest();
  for await (const page of readTenantRows(tx, tenantId, table, columns)) for (const row of page) d.add(row);
  return d.digest();
}
