// One owner per table (DESIGN.md §2, table-owners.ts): every lib's queries — SQL texts, Kysely
// calls, Prisma model calls — touch only the tables it owns, the reads infrastructure makes by
// design, and the debts still listed. The scanner is shown to catch each form on a made-up source.
import { readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { libSources, REPO_ROOT } from '@hotdash/testing';
import { INFRASTRUCTURE_READS, OWNERSHIP_DEBTS, TABLE_OWNERS } from './table-owners';

const ROOT = REPO_ROOT;

/** Tables and Prisma model accessors of both schemas (`model Tenant { … @@map("tenants") }` → tenant → tenants). */
function schemaTables(): { tables: Set<string>; models: Map<string, string> } {
  const tables = new Set<string>();
  const models = new Map<string, string>();
  for (const schema of ['control', 'tenant']) {
    const text = readFileSync(join(ROOT, 'prisma', schema, 'schema.prisma'), 'utf8');
    for (const m of text.matchAll(/^model (\w+) \{[\s\S]*?@@map\("(\w+)"\)[\s\S]*?^\}/gm)) {
      tables.add(m[2]!);
      models.set(m[1]!.charAt(0).toLowerCase() + m[1]!.slice(1), m[2]!);
    }
  }
  return { tables, models };
}

const { tables: TABLES, models: MODELS } = schemaTables();

/** The tables a source text touches. Comments are left out; every form the platform queries with is read. */
export function tablesTouched(source: string): Set<string> {
  const code = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  const found = new Set<string>();
  for (const m of code.matchAll(/\b(?:from|join|into|update|table|using)\s+"?(\w+)"?/gi)) if (TABLES.has(m[1]!)) found.add(m[1]!);
  // Kysely: a common table expression the source names itself (`.with('expired', …)`) is not a table.
  const ctes = new Set([...code.matchAll(/\.with(?:Recursive)?\(\s*['"](\w+)['"]/g)].map((m) => m[1]!));
  for (const m of code.matchAll(/\b(?:selectFrom|insertInto|updateTable|deleteFrom|mergeInto|innerJoin|leftJoin|rightJoin|fullJoin|using)\(\s*['"](\w+)(?:\s+as\s+\w+)?['"]/g)) if (!ctes.has(m[1]!)) found.add(m[1]!);
  for (const m of code.matchAll(/\.(\w+)\.(?:findUnique|findUniqueOrThrow|findFirst|findFirstOrThrow|findMany|create|createMany|update|updateMany|upsert|delete|deleteMany|count|aggregate|groupBy)\(/g)) {
    const table = MODELS.get(m[1]!);
    if (table) found.add(table);
  }
  return found;
}

/** What each lib touches, table by table, with the files. */
function touches(): Map<string, Map<string, string[]>> {
  const result = new Map<string, Map<string, string[]>>();
  for (const [lib, files] of libSources()) {
    const byTable = new Map<string, string[]>();
    for (const file of files) for (const t of tablesTouched(readFileSync(file, 'utf8'))) byTable.set(t, [...(byTable.get(t) ?? []), relative(ROOT, file)]);
    result.set(lib, byTable);
  }
  return result;
}

const allowed = (lib: string, table: string) =>
  TABLE_OWNERS[table] === lib || INFRASTRUCTURE_READS[lib]?.includes(table) || OWNERSHIP_DEBTS.some((d) => d.lib === lib && d.table === table);

it('gives every table of the schemas exactly one owner, and names no table that does not exist', () => {
  expect([...TABLES].filter((t) => !TABLE_OWNERS[t]).sort()).toEqual([]);
  expect(Object.keys(TABLE_OWNERS).filter((t) => !TABLES.has(t))).toEqual([]);
  expect(TABLES.size).toBeGreaterThanOrEqual(29);
});

it('lets each lib touch only the tables it owns (or reads by design, or still owes)', () => {
  const found = touches();
  const violations: string[] = [];
  for (const [lib, byTable] of found)
    for (const [table, files] of byTable) if (!allowed(lib, table)) violations.push(`${lib} touches ${table} (owner: ${TABLE_OWNERS[table]}) in ${files.join(', ')}`);
  expect(violations).toEqual([]);
  // Owners actually use what they own (a table nobody queries is a sign the map is off).
  expect(found.get('drafts')?.has('tickets')).toBe(true);
  expect(found.get('audit')?.has('audit_log')).toBe(true);
});

it('lists no debt that has been paid: the list only shrinks', () => {
  const found = touches();
  const paid = OWNERSHIP_DEBTS.filter((d) => !found.get(d.lib)?.has(d.table)).map((d) => `${d.lib} → ${d.table}`);
  expect(paid).toEqual([]);
});

it('catches every form of query on a made-up source', () => {
  const source = `
    // select * from tenants   (a comment: not a query)
    await sql\`select t.id from tickets t join users u on u.id = t.assignee_id\`.execute(tx.db);
    await tx.db.selectFrom('kb_documents').selectAll().execute();
    await tx.db.insertInto("audit_log").values(row).execute();
    await this.control.client.tenant.findUnique({ where: { id } });
    await sql\`update quota_counters set used = used + 1\`.execute(tx.db);
    await sql\`delete from mail_outbox where id = \${id}\`.execute(tx.db);
    await tx.db.with('gone', (db) => db.deleteFrom('drafts').returning('id')).selectFrom('gone').selectAll().execute();
    await tx.db.selectFrom('queue_members as m').innerJoin('invitations as i', 'i.user_id', 'm.user_id').select('m.role').execute();
  `;
  expect([...tablesTouched(source)].sort()).toEqual(['audit_log', 'drafts', 'invitations', 'kb_documents', 'mail_outbox', 'queue_members', 'quota_counters', 'tenants', 'tickets', 'users']);
  // As the code of the quota service, all but its own counters would be violations.
  expect([...tablesTouched(source)].filter((t) => !allowed('quota', t)).sort()).toEqual(['audit_log', 'drafts', 'invitations', 'kb_documents', 'mail_outbox', 'queue_members', 'tenants', 'tickets', 'users']);
});
