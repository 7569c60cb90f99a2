// A pilot import decides, for every control-plane table, what happens to the pilot tenant's rows in
// it (pilot-control-tables.ts, shown by every dry run): a control table that holds a tenant's rows
// and is not listed fails here, so a new one is carried or explicitly left behind, never forgotten.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '@hotdash/testing';
import { PILOT_CONTROL_TABLES } from './pilot-control-tables';

/** The control schema's tables, and which of them hold a tenant's rows (a tenant id column, or the tenants table itself). */
function controlTables(): { table: string; perTenant: boolean }[] {
  const text = readFileSync(join(REPO_ROOT, 'prisma', 'control', 'schema.prisma'), 'utf8');
  return [...text.matchAll(/^model \w+ \{([\s\S]*?)^\}/gm)].map((m) => {
    const body = m[1]!;
    const table = /@@map\("(\w+)"\)/.exec(body)![1]!;
    return { table, perTenant: table === 'tenants' || /@map\("tenant_id"\)/.test(body) || /\bsagaId\b/.test(body) };
  });
}

it('says for every control table with a tenant’s rows whether an import carries them, and how or why not', () => {
  const listed = new Map(PILOT_CONTROL_TABLES.map((t) => [t.table, t]));
  const tables = controlTables();
  expect(tables.filter((t) => t.perTenant && !listed.has(t.table)).map((t) => t.table)).toEqual([]);
  // Nothing listed that the schema does not have, and every entry says something.
  expect([...listed.keys()].filter((t) => !tables.some((x) => x.table === t))).toEqual([]);
  for (const t of PILOT_CONTROL_TABLES) expect(t.how.length).toBeGreaterThan(20);
  // What the import brings over itself.
  expect(PILOT_CONTROL_TABLES.filter((t) => t.carried).map((t) => t.table)).toEqual(['tenants', 'tenant_keys', 'subject_keys']);
});
