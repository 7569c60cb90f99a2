import { sql, type QueryExecutorProvider } from 'kysely';
import type { TenantId } from '@hotdash/contracts';
import type { ShardInfo } from './databases';
import type { TenantDatabase } from './tenant-database';
import { readTenantTables } from './tenant-tables';
import { TenantFencedError, type TenantTransaction } from './tenant-transaction';

/** A tenant's size on one shard: its rows in every tenant table, and its share of those tables' bytes on disk. */
export interface TenantSize {
  rows: number;
  bytes: number;
}

export interface ShardTenantSizes {
  /** Per tenant asked for; null when the shard refused to open the tenant (fenced: a move is taking it away or bringing it in). */
  tenants: Map<TenantId, TenantSize | null>;
  /** The size on disk (heap, TOAST and indexes) of the tenant tables that hold rows of the tenants measured: what their bytes add up to. */
  tableBytes: number;
}

/**
 * Each tenant's size on a shard, cheaply: its row count in every tenant table of the shard's
 * catalogue (one statement per tenant, inside its own row-level security context, each count an
 * index(-only) scan of its slice of the table's `tenant_id` index), times the table's bytes on disk
 * per row (`pg_total_relation_size` over the rows counted for all the tenants asked for). So a tenant
 * weighs its share of each table: heap, TOAST and indexes, in proportion to its rows; the tenants of
 * a shard add up to the size of its tenant tables that hold rows (an empty table's pages are no one's). Reading every row instead (`sum(pg_column_size(t.*))`)
 * would weigh a tenant exactly but cost as much as copying it: every heap page and TOAST chunk of
 * every tenant, on every shard of the region, for a plan. The estimate's error: a tenant whose rows
 * are much wider than its tables' average (large documents) weighs less than it should.
 *
 * Pass every tenant placed on the shard (the bytes per row are shared out over the rows counted).
 * Runs `concurrency` tenant transactions at once (default 4). A shard that cannot be reached
 * throws.
 */
export async function measureTenantSizes(tenantDb: TenantDatabase, shard: ShardInfo, tenantIds: readonly TenantId[], options: { concurrency?: number } = {}): Promise<ShardTenantSizes> {
  const rowsOf = new Map<TenantId, number[] | null>();
  // Set by the first tenant transaction that opens (a holder: TypeScript does not follow assignments made in callbacks).
  const read: { catalogue?: { tables: string[]; bytes: number[] } } = {};
  const count = async (tenantId: TenantId): Promise<void> => {
    try {
      await tenantDb.withTenantOnShard(shard, tenantId, async (tx) => {
        // The first tenant's transaction also reads which tables there are and their size.
        const catalogue = (read.catalogue ??= await tableSizes(tx.db));
        rowsOf.set(tenantId, catalogue.tables.length ? await rowCounts(tx, tenantId, catalogue.tables) : []);
      });
    } catch (err) {
      if (!(err instanceof TenantFencedError)) throw err;
      rowsOf.set(tenantId, null);
    }
  };
  // The first tenants one at a time until one has read the catalogue, then the rest `concurrency` at once.
  let next = 0;
  while (next < tenantIds.length && !read.catalogue) await count(tenantIds[next++]!);
  const rest = tenantIds.slice(next);
  await Promise.all(
    Array.from({ length: Math.min(options.concurrency ?? 4, rest.length) }, async () => {
      while (rest.length) await count(rest.shift()!);
    }),
  );

  const tenants = new Map<TenantId, TenantSize | null>();
  if (!read.catalogue) {
    for (const id of tenantIds) tenants.set(id, null);
    return { tenants, tableBytes: 0 };
  }
  const { tables, bytes } = read.catalogue;
  const totals = tables.map((_, i) => [...rowsOf.values()].reduce((sum, r) => sum + (r?.[i] ?? 0), 0));
  const perRow = tables.map((_, i) => (totals[i]! > 0 ? bytes[i]! / totals[i]! : 0));
  for (const id of tenantIds) {
    const r = rowsOf.get(id);
    tenants.set(id, r ? { rows: r.reduce((a, b) => a + b, 0), bytes: Math.round(r.reduce((sum, n, i) => sum + n * perRow[i]!, 0)) } : null);
  }
  return { tenants, tableBytes: bytes.reduce((sum, b, i) => sum + (totals[i]! > 0 ? b : 0), 0) };
}

/** The tenant tables of the shard (the catalogue's) with their size on disk. */
async function tableSizes(db: QueryExecutorProvider): Promise<{ tables: string[]; bytes: number[] }> {
  const tables = (await readTenantTables(db)).map((t) => t.name);
  if (!tables.length) return { tables, bytes: [] };
  const { rows } = await sql<{ name: string; bytes: string }>`
    select c.relname::text as name, pg_total_relation_size(c.oid)::text as bytes
    from pg_class c join pg_namespace s on s.oid = c.relnamespace
    where s.nspname = 'public' and c.relkind = 'r' and c.relname = any(${tables}::text[])`.execute(db);
  const size = new Map(rows.map((r) => [r.name, Number(r.bytes)]));
  return { tables, bytes: tables.map((t) => size.get(t) ?? 0) };
}

/** The tenant's rows in each table, in one statement (its own context: row-level security shows its rows only; the explicit filter is for the index). */
async function rowCounts(tx: TenantTransaction, tenantId: TenantId, tables: readonly string[]): Promise<number[]> {
  const columns = tables.map((t, i) => sql`(select count(*) from ${sql.table(t)} where tenant_id = ${tenantId})::text as ${sql.id(`c${i}`)}`);
  const { rows } = await sql<Record<string, string>>`select ${sql.join(columns)}`.execute(tx.db);
  return tables.map((_, i) => Number(rows[0]![`c${i}`]));
}
