import { sql, type QueryExecutorProvider } from 'kysely';

/** A column of a tenant table, as the catalogue describes it. */
export interface TenantTableColumn {
  name: string;
  /** The SQL type as PostgreSQL prints it (`format_type`): `uuid`, `text[]`, `timestamp(6) with time zone`. */
  type: string;
  /** bytea: copied as bytes (base64 in text forms), not as PostgreSQL's text. */
  bytea: boolean;
  /** Has a collation (text-like): ordered byte-wise (`collate "C"`) wherever an order must be the same on every database. */
  collatable: boolean;
  nullable: boolean;
  /** A generated column: computed by the database, never written. */
  generated: boolean;
  /** An identity column GENERATED ALWAYS: writing its value needs OVERRIDING SYSTEM VALUE. */
  identityAlways: boolean;
}

/** A table with a `tenant_id` column, as the shard's catalogue describes it. */
export interface TenantTable {
  name: string;
  /** Primary key columns in key order (empty when the table has none: every column orders its rows then). */
  primaryKey: string[];
  /** Columns in table order. */
  columns: TenantTableColumn[];
  /** Tenant tables this one references by foreign key (itself left out). */
  references: string[];
}

export class TenantTableCycleError extends Error {
  constructor(readonly tables: string[]) {
    super(`foreign keys between ${tables.join(', ')} form a cycle: no parents-first order exists`);
    this.name = 'TenantTableCycleError';
  }
}

interface ColumnRow {
  table_name: string;
  column_name: string;
  type: string;
  bytea: boolean;
  collatable: boolean;
  nullable: boolean;
  generated: boolean;
  identity_always: boolean;
}

/**
 * Tables with a `tenant_id` that are not the tenant's data but a tenant move's bookkeeping (which
 * shard serves the tenant, the move's catch-up markers): never archived, restored or compared with
 * the tenant's rows (a move replicates its markers itself).
 */
export const SHARD_BOOKKEEPING_TABLES: readonly string[] = ['tenant_fences', 'tenant_move_markers'];

/**
 * Every table of schema `public` with a `tenant_id` column on the database `db` is connected to
 * (but {@link SHARD_BOOKKEEPING_TABLES}),
 * with its primary key, columns and the tenant tables it references, in dependency order (parents
 * first, so rows can be inserted in this order and deleted in the reverse). Read from the catalogue
 * (the tables `erase_tenant()` erases, the bookkeeping aside), so a table a later migration adds is included without
 * a list to keep. Works as any role: the catalogue is readable by all. The one description of "a
 * tenant's tables" for everything that copies a tenant whole: backups and restores, tenant moves.
 */
export async function readTenantTables(db: QueryExecutorProvider): Promise<TenantTable[]> {
  const tenantTables = sql`(select c.oid from pg_class c join pg_namespace s on s.oid = c.relnamespace
      join pg_attribute t on t.attrelid = c.oid and t.attname = 'tenant_id' and not t.attisdropped
      where s.nspname = 'public' and c.relkind = 'r' and c.relname <> all(${[...SHARD_BOOKKEEPING_TABLES]}::text[]))`;
  const columns = await sql<ColumnRow>`
    select c.relname::text as table_name, a.attname::text as column_name, format_type(a.atttypid, a.atttypmod) as type,
           a.atttypid = 'bytea'::regtype as bytea, a.attcollation <> 0 as collatable, not a.attnotnull as nullable,
           a.attgenerated <> '' as generated, a.attidentity = 'a' as identity_always
    from pg_class c join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
    where c.oid in ${tenantTables}
    order by c.relname, a.attnum`.execute(db);
  const keys = await sql<{ table_name: string; columns: string[] }>`
    select c.relname::text as table_name, array_agg(a.attname::text order by k.ord) as columns
    from pg_constraint con join pg_class c on c.oid = con.conrelid
    cross join lateral unnest(con.conkey) with ordinality k(attnum, ord)
    join pg_attribute a on a.attrelid = c.oid and a.attnum = k.attnum
    where con.contype = 'p' and c.oid in ${tenantTables}
    group by c.relname`.execute(db);
  const references = await sql<{ child: string; parent: string }>`
    select distinct child.relname::text as child, parent.relname::text as parent
    from pg_constraint con join pg_class child on child.oid = con.conrelid join pg_class parent on parent.oid = con.confrelid
    where con.contype = 'f' and child.oid in ${tenantTables} and parent.oid in ${tenantTables} and child.oid <> parent.oid`.execute(db);

  const tables = new Map<string, TenantTable>();
  for (const r of columns.rows) {
    let t = tables.get(r.table_name);
    if (!t) tables.set(r.table_name, (t = { name: r.table_name, primaryKey: [], columns: [], references: [] }));
    t.columns.push({ name: r.column_name, type: r.type, bytea: r.bytea, collatable: r.collatable, nullable: r.nullable, generated: r.generated, identityAlways: r.identity_always });
  }
  for (const k of keys.rows) tables.get(k.table_name)!.primaryKey = k.columns;
  for (const f of references.rows) tables.get(f.child)!.references.push(f.parent);
  for (const t of tables.values()) t.references.sort();
  return orderByDependencies([...tables.values()]);
}

/**
 * Tables in dependency order: every table after the tables it references (parents first); among
 * tables free to go, by name, so the order is the same on every database with the same schema.
 * References to tables not in the list are ignored. A cycle of foreign keys has no such order:
 * TenantTableCycleError names the tables in it.
 */
export function orderByDependencies<T extends Pick<TenantTable, 'name' | 'references'>>(tables: readonly T[]): T[] {
  const byName = new Map(tables.map((t) => [t.name, t]));
  const waiting = new Map(tables.map((t) => [t.name, new Set(t.references.filter((r) => r !== t.name && byName.has(r)))]));
  const ordered: T[] = [];
  while (waiting.size > 0) {
    const ready = [...waiting].filter(([, deps]) => deps.size === 0).map(([name]) => name).sort();
    if (ready.length === 0) throw new TenantTableCycleError([...waiting.keys()].sort());
    for (const name of ready) {
      waiting.delete(name);
      ordered.push(byName.get(name)!);
      for (const deps of waiting.values()) deps.delete(name);
    }
  }
  return ordered;
}
