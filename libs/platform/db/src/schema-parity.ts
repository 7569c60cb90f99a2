// Schema parity: reads a Prisma schema (with Prisma's own parser) and a migrated database's
// catalogue into one shape, and lists every difference between the two. Used by
// schema-parity.int-spec.ts; not exported from the library (it loads @prisma/internals, a
// development dependency that arrives with prisma-kysely).
//
// Compared, per table of the public schema: columns (type as format_type prints it, nullability,
// default), the primary key (name, columns), every index (name, unique or not, method, key columns
// with their sort order, partial predicate) and every foreign key (columns, referenced table and
// columns, ON DELETE / ON UPDATE actions).
// Deliberately not compared, because a Prisma schema cannot express them (the migrations are their
// only record): CHECK constraints, row-level security and policies (catalog-guard.ts checks those),
// triggers, functions, sequences (beyond a column defaulting to one: autoincrement()), grants,
// storage parameters, comments, collations, index operator classes and NULLS FIRST/LAST,
// foreign-key deferrability, and expression indexes (skipped: Prisma indexes name fields only).
// Also not compared: the names of foreign-key constraints (Prisma's DMMF does not carry a
// relation's `map`), whether a unique index is backed by a constraint or was made with
// `create unique index` (PostgreSQL enforces both alike), and the order of columns.
import { getDMMF } from '@prisma/internals';
import type { Client } from 'pg';

export interface ColumnShape {
  /** As PostgreSQL's format_type() prints it: `uuid`, `timestamp(6) with time zone`, `text[]`… */
  type: string;
  nullable: boolean;
  /** Normalised (see normaliseSqlDefault): `now()`, `autoincrement()`, `literal:0`, `sql:<expr>`; null for none. */
  default: string | null;
}

export interface TableShape {
  columns: Record<string, ColumnShape>;
  /** `name (col, col)`, or null for a table without one. */
  primaryKey: string | null;
  /** By index name: `unique btree (col, col DESC) where <predicate>`. The primary key's index is not listed. */
  indexes: Record<string, string>;
  /** By `(cols) → table(cols)`: `on delete <action> on update <action>`. */
  foreignKeys: Record<string, string>;
}

export type SchemaShape = Record<string, TableShape>;

/** The migration runner's bookkeeping table (libs/platform/db/src/migrate/runner.ts): not part of the data model. */
export const RUNNER_TABLES = ['hotdash_migrations'];

const PG_NAME_LIMIT = 63;

// ---------------------------------------------------------------------------------------------
// The Prisma side

type Dmmf = Awaited<ReturnType<typeof getDMMF>>;
type DmmfModel = Dmmf['datamodel']['models'][number];
type DmmfField = DmmfModel['fields'][number];

/** Prisma's native type attributes (@db.X) as PostgreSQL's format_type() prints them. */
const NATIVE_TYPES: Record<string, (args: readonly string[]) => string> = {
  Uuid: () => 'uuid',
  Text: () => 'text',
  VarChar: (a) => (a.length ? `character varying(${a[0]})` : 'character varying'),
  Char: (a) => (a.length ? `character(${a[0]})` : 'character(1)'),
  Citext: () => 'citext',
  Inet: () => 'inet',
  Xml: () => 'xml',
  Bit: (a) => (a.length ? `bit(${a[0]})` : 'bit(1)'),
  VarBit: (a) => (a.length ? `bit varying(${a[0]})` : 'bit varying'),
  Boolean: () => 'boolean',
  SmallInt: () => 'smallint',
  Integer: () => 'integer',
  BigInt: () => 'bigint',
  Oid: () => 'oid',
  Real: () => 'real',
  DoublePrecision: () => 'double precision',
  Decimal: (a) => (a.length ? `numeric(${a.join(',')})` : 'numeric'),
  Money: () => 'money',
  Timestamptz: (a) => (a.length ? `timestamp(${a[0]}) with time zone` : 'timestamp with time zone'),
  Timestamp: (a) => (a.length ? `timestamp(${a[0]}) without time zone` : 'timestamp without time zone'),
  Timetz: (a) => (a.length ? `time(${a[0]}) with time zone` : 'time with time zone'),
  Time: (a) => (a.length ? `time(${a[0]}) without time zone` : 'time without time zone'),
  Date: () => 'date',
  Json: () => 'json',
  JsonB: () => 'jsonb',
  ByteA: () => 'bytea',
};

/** The column type Prisma gives a scalar without @db on PostgreSQL. */
const DEFAULT_TYPES: Record<string, string> = {
  String: 'text',
  Boolean: 'boolean',
  Int: 'integer',
  BigInt: 'bigint',
  Float: 'double precision',
  Decimal: 'numeric(65,30)',
  DateTime: 'timestamp(3) without time zone',
  Json: 'jsonb',
  Bytes: 'bytea',
};

function columnType(field: DmmfField, enumTypes: ReadonlyMap<string, string>): string {
  let base: string;
  if (field.kind === 'enum') base = enumTypes.get(field.type) ?? field.type;
  else if (field.nativeType) {
    const [name, args] = field.nativeType;
    const render = NATIVE_TYPES[name];
    base = render ? render(args) : `unsupported native type @db.${name}`;
  } else base = DEFAULT_TYPES[field.type] ?? `unsupported Prisma type ${field.type}`;
  return field.isList ? `${base}[]` : base;
}

/** A Prisma @default as the normalised form of the SQL default it stands for (null: no SQL default). */
function prismaDefault(field: DmmfField): string | null {
  if (!field.hasDefaultValue || field.default === undefined) return null;
  const d = field.default as unknown;
  if (Array.isArray(d)) return `sql:ARRAY[${d.map(String).join(', ')}]`;
  if (d !== null && typeof d === 'object') {
    const fn = d as { name: string; args: readonly unknown[] };
    switch (fn.name) {
      case 'now':
        return 'now()';
      case 'autoincrement':
        return 'autoincrement()';
      case 'dbgenerated':
        return fn.args.length ? normaliseSqlDefault(String(fn.args[0])) : null;
      default:
        // uuid(), cuid(), nanoid(), ulid()…: filled in by Prisma Client, not by the database.
        return null;
    }
  }
  return `literal:${String(d)}`;
}

/** Prisma's default constraint and index names (ConstraintNames in prisma-engines), truncated to PostgreSQL's limit. */
function defaultName(table: string, columns: readonly string[], suffix: 'pkey' | 'key' | 'idx'): string {
  const stem = suffix === 'pkey' ? table : `${table}_${columns.join('_')}`;
  const room = PG_NAME_LIMIT - suffix.length - 1;
  return `${stem.length > room ? stem.slice(0, room) : stem}_${suffix}`;
}

function describeIndex(unique: boolean, method: string, columns: readonly string[], predicate: string | null): string {
  return `${unique ? 'unique ' : ''}${method} (${columns.join(', ')})${predicate ? ` where ${predicate}` : ''}`;
}

function describeForeignKey(onDelete: string, onUpdate: string): string {
  return `on delete ${onDelete} on update ${onUpdate}`;
}

/** Prisma's referential actions as PostgreSQL's words; unset ones take Prisma's defaults. */
function referentialAction(action: string | undefined, fallback: string): string {
  const words: Record<string, string> = { Cascade: 'cascade', Restrict: 'restrict', NoAction: 'no action', SetNull: 'set null', SetDefault: 'set default' };
  return words[action ?? fallback] ?? `unknown action ${action}`;
}

/**
 * The `where: raw("…")` predicates of partial indexes, by model, index kind and fields. Prisma's DMMF
 * does not carry them (the partialIndexes preview feature), so they are read from the schema text:
 * one @@index/@@unique attribute per line, as Prisma's formatter writes them. (@mrleebo/prisma-ast
 * would parse them too, but it needs an ESM-only parser that Jest's module sandbox cannot load.)
 */
function partialPredicates(schemaText: string): Map<string, string> {
  const predicates = new Map<string, string>();
  for (const model of schemaText.matchAll(/^model\s+(\w+)\s*\{([\s\S]*?)^\}/gm)) {
    for (const line of model[2]!.split('\n')) {
      const attr = /^\s*@@(index|unique)\(\s*\[([^\]]*)\](.*)\)\s*$/.exec(line);
      if (!attr || !/\bwhere\s*:/.test(attr[3]!)) continue;
      const raw = /\bwhere\s*:\s*raw\(\s*("(?:[^"\\]|\\.)*")\s*\)/.exec(attr[3]!);
      if (!raw) throw new Error(`${model[1]}: only where: raw("…") predicates are understood: ${line.trim()}`);
      const fields = [...attr[2]!.matchAll(/(\w+)\s*(\([^)]*\))?/g)].map((f) => f[1]!);
      const key = `${model[1]}|${attr[1] === 'unique' ? 'unique' : 'normal'}|${fields.join(',')}`;
      if (predicates.has(key)) throw new Error(`${model[1]}: two partial indexes on (${fields.join(', ')}); give them different fields`);
      predicates.set(key, JSON.parse(raw[1]!) as string);
    }
  }
  return predicates;
}

/** The shape a Prisma schema describes, read with Prisma's own parser (which also validates it). */
export async function shapeFromPrismaSchema(schemaText: string): Promise<SchemaShape> {
  const dmmf = await getDMMF({ datamodel: schemaText });
  const predicates = partialPredicates(schemaText);
  const models = new Map(dmmf.datamodel.models.map((m) => [m.name, m]));
  const enumTypes = new Map(dmmf.datamodel.enums.map((e) => [e.name, e.dbName ?? e.name]));
  const tableOf = (m: DmmfModel) => m.dbName ?? m.name;
  const columnOf = (m: DmmfModel, fieldName: string) => {
    const f = m.fields.find((x) => x.name === fieldName);
    return f?.dbName ?? fieldName;
  };
  const shape: SchemaShape = {};

  for (const model of dmmf.datamodel.models) {
    const table: TableShape = { columns: {}, primaryKey: null, indexes: {}, foreignKeys: {} };
    for (const field of model.fields) {
      if (field.kind === 'object') {
        const from = field.relationFromFields ?? [];
        if (!from.length) continue; // the other side of a relation: no column, no constraint
        const target = models.get(field.type);
        if (!target) throw new Error(`${model.name}.${field.name}: unknown model ${field.type}`);
        const key = `(${from.map((f) => columnOf(model, f)).join(', ')}) → ${tableOf(target)}(${(field.relationToFields ?? []).map((f) => columnOf(target, f)).join(', ')})`;
        const fromRequired = from.every((f) => model.fields.find((x) => x.name === f)?.isRequired);
        table.foreignKeys[key] = describeForeignKey(
          referentialAction(field.relationOnDelete, fromRequired ? 'Restrict' : 'SetNull'),
          referentialAction(field.relationOnUpdate, 'Cascade'),
        );
        continue;
      }
      const type = field.kind === 'unsupported' ? `unsupported(${field.type})` : columnType(field, enumTypes);
      table.columns[field.dbName ?? field.name] = { type, nullable: !field.isRequired, default: prismaDefault(field) };
    }
    shape[tableOf(model)] = table;
  }

  for (const index of dmmf.datamodel.indexes) {
    const model = models.get(index.model)!;
    const table = shape[tableOf(model)]!;
    const columns = index.fields.map((f) => columnOf(model, f.name));
    const keyed = index.fields.map((f) => `${columnOf(model, f.name)}${f.sortOrder === 'desc' ? ' DESC' : ''}`);
    if (index.type === 'id') {
      table.primaryKey = `${index.dbName ?? defaultName(tableOf(model), columns, 'pkey')} (${columns.join(', ')})`;
      continue;
    }
    if (index.type === 'fulltext') throw new Error(`${model.name}: fulltext indexes are not supported on PostgreSQL`);
    const unique = index.type === 'unique';
    const predicateKey = `${model.name}|${index.type}|${index.fields.map((f) => f.name).join(',')}`;
    const predicate = predicates.get(predicateKey) ?? null;
    predicates.delete(predicateKey);
    const name = index.dbName ?? defaultName(tableOf(model), columns, unique ? 'key' : 'idx');
    table.indexes[name] = describeIndex(unique, (index.algorithm ?? 'BTree').toLowerCase(), keyed, predicate);
  }
  if (predicates.size) throw new Error(`partial index predicates matched no index: ${[...predicates.keys()].join('; ')}`);
  return shape;
}

// ---------------------------------------------------------------------------------------------
// The database side

/**
 * A column default as PostgreSQL prints it (pg_get_expr), normalised so that it compares with
 * Prisma's: `now()`, `autoincrement()` (a sequence's nextval, or an identity), `literal:<value>` for
 * a constant of any type, `sql:<expression>` for anything else.
 */
export function normaliseSqlDefault(expr: string): string {
  const e = expr.trim();
  if (/^(now\(\)|CURRENT_TIMESTAMP)$/i.test(e)) return 'now()';
  if (/^nextval\('[^']+'::regclass\)$/.test(e)) return 'autoincrement()';
  const quoted = /^'((?:[^']|'')*)'::[a-z][a-z0-9_ ]*(\(\d+(,\d+)?\))?(\[\])?$/i.exec(e);
  if (quoted) return `literal:${quoted[1]!.replace(/''/g, "'")}`;
  if (/^-?\d+(\.\d+)?$/.test(e) || /^(true|false)$/.test(e)) return `literal:${e}`;
  return `sql:${e}`;
}

const ACTIONS: Record<string, string> = { a: 'no action', r: 'restrict', c: 'cascade', n: 'set null', d: 'set default' };

/** The shape of the tables in a database's public schema, as its catalogue records it. */
export async function shapeFromDatabase(client: Client, excludeTables: readonly string[] = RUNNER_TABLES): Promise<SchemaShape> {
  const shape: SchemaShape = {};
  const tables = await client.query<{ relname: string }>(
    `select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
     where n.nspname = 'public' and c.relkind in ('r', 'p') and not c.relispartition order by c.relname`,
  );
  for (const t of tables.rows) if (!excludeTables.includes(t.relname)) shape[t.relname] = { columns: {}, primaryKey: null, indexes: {}, foreignKeys: {} };

  const columns = await client.query<{ table: string; column: string; type: string; notnull: boolean; def: string | null; identity: string }>(
    `select c.relname as table, a.attname as column, format_type(a.atttypid, a.atttypmod) as type, a.attnotnull as notnull,
            pg_get_expr(d.adbin, d.adrelid) as def, a.attidentity as identity
     from pg_class c join pg_namespace n on n.oid = c.relnamespace
     join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
     left join pg_attrdef d on d.adrelid = c.oid and d.adnum = a.attnum
     where n.nspname = 'public' and c.relkind in ('r', 'p') order by c.relname, a.attnum`,
  );
  for (const c of columns.rows) {
    const table = shape[c.table];
    if (!table) continue;
    const def = c.identity ? 'autoincrement()' : c.def === null ? null : normaliseSqlDefault(c.def);
    table.columns[c.column] = { type: c.type, nullable: !c.notnull, default: def };
  }

  const indexes = await client.query<{ table: string; name: string; primary: boolean; unique: boolean; method: string; predicate: string | null; expressions: boolean; keys: string[] }>(
    `select t.relname as table, i.relname as name, x.indisprimary as primary, x.indisunique as unique, am.amname as method,
            pg_get_expr(x.indpred, x.indrelid) as predicate, x.indexprs is not null as expressions,
            array(select pg_get_indexdef(x.indexrelid, k, true) || case when x.indoption[k - 1] & 1 = 1 then ' DESC' else '' end
                  from generate_series(1, x.indnkeyatts) k order by k) as keys
     from pg_index x join pg_class i on i.oid = x.indexrelid join pg_class t on t.oid = x.indrelid
     join pg_namespace n on n.oid = t.relnamespace join pg_am am on am.oid = i.relam
     where n.nspname = 'public' order by t.relname, i.relname`,
  );
  for (const ix of indexes.rows) {
    const table = shape[ix.table];
    if (!table) continue;
    // Expression indexes (on lower(email) and the like): a Prisma index can only name fields.
    if (ix.expressions) continue;
    if (ix.primary) table.primaryKey = `${ix.name} (${ix.keys.join(', ')})`;
    else table.indexes[ix.name] = describeIndex(ix.unique, ix.method, ix.keys, ix.predicate);
  }

  const fks = await client.query<{ table: string; columns: string[]; references: string; ref_columns: string[]; on_delete: string; on_update: string }>(
    `select t.relname as table, r.relname as references, con.confdeltype as on_delete, con.confupdtype as on_update,
            array(select a.attname from unnest(con.conkey) with ordinality k(num, ord)
                  join pg_attribute a on a.attrelid = con.conrelid and a.attnum = k.num order by k.ord)::text[] as columns,
            array(select a.attname from unnest(con.confkey) with ordinality k(num, ord)
                  join pg_attribute a on a.attrelid = con.confrelid and a.attnum = k.num order by k.ord)::text[] as ref_columns
     from pg_constraint con join pg_class t on t.oid = con.conrelid join pg_class r on r.oid = con.confrelid
     join pg_namespace n on n.oid = t.relnamespace
     where con.contype = 'f' and n.nspname = 'public' order by t.relname, con.conname`,
  );
  for (const fk of fks.rows) {
    const table = shape[fk.table];
    if (!table) continue;
    table.foreignKeys[`(${fk.columns.join(', ')}) → ${fk.references}(${fk.ref_columns.join(', ')})`] = describeForeignKey(
      ACTIONS[fk.on_delete] ?? fk.on_delete,
      ACTIONS[fk.on_update] ?? fk.on_update,
    );
  }
  return shape;
}

// ---------------------------------------------------------------------------------------------
// The comparison

function describeColumn(c: ColumnShape): string {
  return `${c.type}, ${c.nullable ? 'nullable' : 'not null'}${c.default === null ? '' : `, default ${c.default}`}`;
}

/**
 * Every difference between what a Prisma schema describes and what a database holds, one readable
 * line each, sorted (an empty list means they agree).
 */
export function diffShapes(schema: SchemaShape, database: SchemaShape): string[] {
  const out: string[] = [];
  const tables = new Set([...Object.keys(schema), ...Object.keys(database)]);
  for (const name of tables) {
    const s = schema[name];
    const d = database[name];
    if (!s) {
      out.push(`table ${name}: in the database, not in the schema (columns ${Object.keys(d!.columns).join(', ')})`);
      continue;
    }
    if (!d) {
      out.push(`table ${name}: in the schema, not in the database`);
      continue;
    }
    for (const col of new Set([...Object.keys(s.columns), ...Object.keys(d.columns)])) {
      const sc = s.columns[col];
      const dc = d.columns[col];
      if (!sc) out.push(`${name}.${col}: column in the database, not in the schema (${describeColumn(dc!)})`);
      else if (!dc) out.push(`${name}.${col}: column in the schema, not in the database (${describeColumn(sc)})`);
      else {
        if (sc.type !== dc.type) out.push(`${name}.${col}: type is ${dc.type} in the database, ${sc.type} in the schema`);
        if (sc.nullable !== dc.nullable) out.push(`${name}.${col}: ${dc.nullable ? 'nullable' : 'not null'} in the database, ${sc.nullable ? 'nullable' : 'not null'} in the schema`);
        if (sc.default !== dc.default) out.push(`${name}.${col}: default is ${dc.default ?? 'none'} in the database, ${sc.default ?? 'none'} in the schema`);
      }
    }
    if (s.primaryKey !== d.primaryKey) out.push(`${name}: primary key is ${d.primaryKey ?? 'none'} in the database, ${s.primaryKey ?? 'none'} in the schema`);
    for (const ix of new Set([...Object.keys(s.indexes), ...Object.keys(d.indexes)])) {
      const si = s.indexes[ix];
      const di = d.indexes[ix];
      if (si === di) continue;
      if (!si) out.push(`${name}: index ${ix} in the database, not in the schema (${di})`);
      else if (!di) out.push(`${name}: index ${ix} in the schema, not in the database (${si})`);
      else out.push(`${name}: index ${ix} is ${di} in the database, ${si} in the schema`);
    }
    for (const fk of new Set([...Object.keys(s.foreignKeys), ...Object.keys(d.foreignKeys)])) {
      const sf = s.foreignKeys[fk];
      const df = d.foreignKeys[fk];
      if (sf === df) continue;
      if (!sf) out.push(`${name}: foreign key ${fk} in the database, not in the schema (${df})`);
      else if (!df) out.push(`${name}: foreign key ${fk} in the schema, not in the database (${sf})`);
      else out.push(`${name}: foreign key ${fk} is ${df} in the database, ${sf} in the schema`);
    }
  }
  return out.sort();
}
