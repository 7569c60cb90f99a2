// RLS matrix: every tenant-owned table of every shard × select/insert/update/delete ×
// {own tenant, other tenant, no context}, as the application role. The tables are read from the
// catalogue, so a table added later is covered without touching this spec.
import { Client } from 'pg';
import { newId } from './ids';
import { TestWorld, WorldTenant } from '@hotdash/testing';

interface Column {
  name: string;
  type: string;
  nullable: boolean;
  hasDefault: boolean;
}

async function tenantTables(c: Client): Promise<{ table: string; columns: Column[] }[]> {
  const { rows } = await c.query<{ table_name: string; column_name: string; data_type: string; is_nullable: string; column_default: string | null }>(
    `select table_name, column_name, data_type, is_nullable, column_default from information_schema.columns
     where table_schema = 'public' and table_name in (select table_name from information_schema.columns where table_schema = 'public' and column_name = 'tenant_id')
     order by table_name, ordinal_position`,
  );
  const byTable = new Map<string, Column[]>();
  for (const r of rows) {
    byTable.set(r.table_name, [...(byTable.get(r.table_name) ?? []), { name: r.column_name, type: r.data_type, nullable: r.is_nullable === 'YES', hasDefault: r.column_default !== null }]);
  }
  return [...byTable].map(([table, columns]) => ({ table, columns }));
}

function valueFor(col: Column, tenantId: string): unknown {
  if (col.name === 'tenant_id') return tenantId;
  switch (col.type) {
    case 'uuid':
      return newId();
    case 'bigint':
    case 'integer':
    case 'smallint':
      return Math.floor(Math.random() * 1_000_000) + 1;
    case 'jsonb':
    case 'json':
      return JSON.stringify({ probe: true });
    case 'timestamp with time zone':
    case 'timestamp without time zone':
      return new Date();
    case 'boolean':
      return false;
    default:
      return `probe-${newId()}`;
  }
}

/** An INSERT of a plausible row for `tenantId`, filling every required column. */
function insertSql(table: string, columns: Column[], tenantId: string): { text: string; values: unknown[] } {
  const cols = columns.filter((c) => !c.hasDefault || c.name === 'tenant_id');
  return {
    text: `insert into ${table} (${cols.map((c) => c.name).join(', ')}) values (${cols.map((_, i) => `$${i + 1}`).join(', ')})`,
    values: cols.map((c) => valueFor(c, tenantId)),
  };
}

/** A column an UPDATE can set to itself (touching no key): enough to exercise USING and WITH CHECK. */
function updatableColumn(columns: Column[]): string {
  return (columns.find((c) => !['id', 'tenant_id', 'seq', 'event_id'].includes(c.name)) ?? columns[0]!).name;
}

async function inContext<T>(c: Client, tenantId: string | null, fn: () => Promise<T>): Promise<T> {
  await c.query('begin');
  try {
    if (tenantId) await c.query(`select set_config('app.tenant_id', $1, true)`, [tenantId]);
    const r = await fn();
    await c.query('commit');
    return r;
  } catch (err) {
    await c.query('rollback');
    throw err;
  }
}

const world = new TestWorld();
let a: WorldTenant;
let b: WorldTenant;
let shardsUnderTest: Awaited<ReturnType<TestWorld['shards']>>;

beforeAll(async () => {
  ({ a, b } = await world.twoTenantWorld());
  shardsUnderTest = await world.shards();
});
afterAll(() => world.close());

it('covers at least the tables the platform has today on every shard', async () => {
  expect(shardsUnderTest.length).toBeGreaterThanOrEqual(2);
  for (const shard of shardsUnderTest) {
    const c = await world.connect(shard, 'owner');
    const tables = (await tenantTables(c)).map((t) => t.table);
    await c.end();
    expect(tables).toEqual(expect.arrayContaining(['audit_log', 'inbox', 'outbox']));
  }
});

describe.each(['shard-1', 'shard-2'])('on %s', (shardName) => {
  let app: Client;
  let tables: { table: string; columns: Column[] }[];
  const privileges = new Map<string, Set<string>>();

  beforeAll(async () => {
    const shard = shardsUnderTest.find((s) => s.name === shardName)!;
    app = await world.connect(shard, 'app');
    tables = await tenantTables(app);
    for (const t of tables) {
      const { rows } = await app.query<{ p: string }>(
        `select p from unnest(array['SELECT','INSERT','UPDATE','DELETE']) p where has_table_privilege(current_user, $1, p)`,
        [t.table],
      );
      privileges.set(t.table, new Set(rows.map((r) => r.p)));
    }
    // Seed one row of tenant A in every table, as tenant A.
    for (const t of tables) {
      if (!privileges.get(t.table)!.has('INSERT')) continue;
      const ins = insertSql(t.table, t.columns, a.id);
      await inContext(app, a.id, () => app.query(ins.text, ins.values));
    }
  });
  afterAll(() => app?.end());

  it('the application role is not the owner, a superuser or RLS-exempt', async () => {
    const { rows } = await app.query<{ rolsuper: boolean; rolbypassrls: boolean }>('select rolsuper, rolbypassrls from pg_roles where rolname = current_user');
    expect(rows[0]).toEqual({ rolsuper: false, rolbypassrls: false });
  });

  const contexts = [
    ['own tenant', () => a.id],
    ['other tenant', () => b.id],
    ['no context', () => null],
  ] as const;

  it.each(contexts)('select as %s', async (label, ctx) => {
    for (const t of tables) {
      if (!privileges.get(t.table)!.has('SELECT')) continue;
      const { rows } = await inContext(app, ctx(), () => app.query(`select tenant_id::text from ${t.table} where tenant_id = $1`, [a.id]));
      if (label === 'own tenant') expect({ table: t.table, rows: rows.length > 0 }).toEqual({ table: t.table, rows: true });
      else expect({ table: t.table, rows: rows.length }).toEqual({ table: t.table, rows: 0 });
      // Without a filter, nothing but the context's own rows is visible.
      const all = await inContext(app, ctx(), () => app.query<{ tenant_id: string }>(`select distinct tenant_id::text from ${t.table}`));
      const visible = all.rows.map((r) => r.tenant_id);
      if (label === 'no context') expect(visible).toEqual([]);
      else expect(visible.every((id) => id === ctx())).toBe(true);
    }
  });

  it.each(contexts)('insert of a tenant-A row as %s', async (label, ctx) => {
    for (const t of tables) {
      const ins = insertSql(t.table, t.columns, a.id);
      const attempt = inContext(app, ctx(), () => app.query(ins.text, ins.values));
      if (!privileges.get(t.table)!.has('INSERT')) await expect(attempt).rejects.toThrow(/permission denied/);
      else if (label === 'own tenant') await expect(attempt).resolves.toBeDefined();
      else await expect(attempt).rejects.toThrow(/row-level security/);
    }
  });

  it.each(contexts)('update of tenant-A rows as %s', async (label, ctx) => {
    for (const t of tables) {
      const col = updatableColumn(t.columns);
      const attempt = inContext(app, ctx(), () => app.query(`update ${t.table} set ${col} = ${col} where tenant_id = $1`, [a.id]));
      if (!privileges.get(t.table)!.has('UPDATE')) {
        await expect(attempt).rejects.toThrow(/permission denied/);
        continue;
      }
      const r = await attempt;
      if (label === 'own tenant') expect({ table: t.table, updated: (r.rowCount ?? 0) > 0 }).toEqual({ table: t.table, updated: true });
      else expect({ table: t.table, updated: r.rowCount }).toEqual({ table: t.table, updated: 0 });
    }
  });

  it('update cannot move a row to another tenant', async () => {
    for (const t of tables) {
      if (!privileges.get(t.table)!.has('UPDATE')) continue;
      await expect(inContext(app, a.id, () => app.query(`update ${t.table} set tenant_id = $1 where tenant_id = $2`, [b.id, a.id]))).rejects.toThrow(/row-level security|permission denied/);
    }
  });

  it.each(contexts)('delete of tenant-A rows as %s', async (label, ctx) => {
    for (const t of tables) {
      const attempt = inContext(app, ctx(), async () => {
        const r = await app.query(`delete from ${t.table} where tenant_id = $1`, [a.id]);
        // Probe only: roll the own-tenant delete back so later cases still find rows.
        throw Object.assign(new Error('rollback'), { rowCount: r.rowCount });
      });
      if (!privileges.get(t.table)!.has('DELETE')) {
        await expect(attempt).rejects.toThrow(/permission denied/);
        continue;
      }
      const err = (await attempt.catch((e: unknown) => e)) as { rowCount: number };
      if (label === 'own tenant') expect({ table: t.table, deleted: err.rowCount > 0 }).toEqual({ table: t.table, deleted: true });
      else expect({ table: t.table, deleted: err.rowCount }).toEqual({ table: t.table, deleted: 0 });
    }
  });

  it('tenant A rows are intact after every attempt by others', async () => {
    for (const t of tables) {
      if (!privileges.get(t.table)!.has('SELECT')) continue;
      const { rows } = await inContext(app, a.id, () => app.query(`select count(*)::int as n from ${t.table}`));
      expect({ table: t.table, n: rows[0].n > 0 }).toEqual({ table: t.table, n: true });
    }
  });
});
