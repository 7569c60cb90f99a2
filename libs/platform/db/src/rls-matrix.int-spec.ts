// RLS matrix: every tenant-owned table of every shard × select/insert/update/delete ×
// {own tenant, other tenant, no context}, as the application role. The tables are read from the
// catalogue, so a table added later is covered without touching this spec. On the stack (both shards)
// and on the embedded databases (PGlite, shard-1).
import { Client } from 'pg';
import { newId } from './ids';
import { DB_MODES, EMBEDDED_START_MS, ModeWorld, TestWorld, worldFor, WorldTenant } from '@hotdash/testing';

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

/**
 * Values that satisfy the CHECK constraints of enum-like columns. A table added later with such a
 * column fails this spec until its value is listed here: that is deliberate.
 */
const CHECKED_VALUES: Record<string, unknown> = {
  'users.role': 'admin',
  'users.status': 'invited',
  'kb_documents.status': 'stored',
  'model_configs.mode': 'platform',
  'approval_workflows.approver_roles': '{admin}',
  'refresh_tokens.status': 'active',
  'api_keys.role': 'operator',
  'api_keys.scopes': '{drafts:read}',
  'usage_daily.metric': 'api_calls',
  'quota_counters.metric': 'tickets',
  'quota_reservations.status': 'held',
  'tickets.channel': 'api',
  'tickets.status': 'drafting',
  'drafts.status': 'failed',
  'drafting_profiles.model_mode': 'platform',
  'queue_members.role': 'operator',
  'queue_members.status': 'active',
  'export_runs.kind': 'tenant',
  'queue_workflows.workflows': '[]',
  'ticket_slas.first_decision_minutes': 60,
  'ticket_slas.workflow_key': 'general',
  'subject_erasures.subject_ref': 'a'.repeat(64),
};

/** Foreign keys within the shard: (table.column) → referenced table; filled from the seeded row of that table. */
let foreignKeys = new Map<string, string>();
const seededIds = new Map<string, string>();

function valueFor(table: string, col: Column, tenantId: string): unknown {
  if (col.name === 'tenant_id') return tenantId;
  const checked = CHECKED_VALUES[`${table}.${col.name}`];
  if (checked !== undefined) return checked;
  const ref = foreignKeys.get(`${table}.${col.name}`);
  if (ref) return seededIds.get(ref);
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
    case 'date':
      return '2026-01-01';
    case 'boolean':
      return false;
    case 'ARRAY':
      return '{probe}';
    default:
      return `probe-${newId()}`;
  }
}

/** An INSERT of a plausible row for `tenantId`, filling every required column (and only those). */
function insertSql(table: string, columns: Column[], tenantId: string): { text: string; values: unknown[]; id?: unknown } {
  const cols = columns.filter((c) => c.name === 'tenant_id' || (!c.nullable && !c.hasDefault));
  const values = cols.map((c) => valueFor(table, c, tenantId));
  return {
    text: `insert into ${table} (${cols.map((c) => c.name).join(', ')}) values (${cols.map((_, i) => `$${i + 1}`).join(', ')})`,
    values,
    id: values[cols.findIndex((c) => c.name === 'id')],
  };
}

/** Tables whose primary key is tenant_id alone hold one row per tenant. */
const singletons = new Set<string>();

async function loadConstraints(c: Client): Promise<void> {
  // pg_catalog, not information_schema: the latter hides constraints of tables the role does not own.
  const fks = await c.query<{ tbl: string; col: string; ref: string }>(`
    select cl.relname as tbl, a.attname as col, rcl.relname as ref
    from pg_constraint con
    join pg_class cl on cl.oid = con.conrelid
    join pg_class rcl on rcl.oid = con.confrelid
    join lateral unnest(con.conkey) with ordinality as k(attnum, n) on true
    join pg_attribute a on a.attrelid = con.conrelid and a.attnum = k.attnum
    where con.contype = 'f' and a.attname <> 'tenant_id'`);
  foreignKeys = new Map(fks.rows.map((r) => [`${r.tbl}.${r.col}`, r.ref]));
  const pks = await c.query<{ tbl: string }>(`
    select cl.relname as tbl from pg_constraint con join pg_class cl on cl.oid = con.conrelid
    join pg_attribute a on a.attrelid = con.conrelid and a.attnum = any(con.conkey)
    where con.contype = 'p' group by cl.relname having array_agg(a.attname::text) = array['tenant_id']`);
  for (const r of pks.rows) singletons.add(r.tbl);
}

/** Referenced tables first, so foreign keys find their seeded row. */
function seedOrder<T extends { table: string }>(tables: T[]): T[] {
  const refs = (t: string) => [...foreignKeys].filter(([k]) => k.startsWith(`${t}.`)).map(([, v]) => v);
  const out: T[] = [];
  const visit = (t: T, seen: Set<string>): void => {
    if (out.includes(t) || seen.has(t.table)) return;
    seen.add(t.table);
    for (const r of refs(t.table)) {
      const dep = tables.find((x) => x.table === r);
      if (dep) visit(dep, seen);
    }
    out.push(t);
  };
  for (const t of tables) visit(t, new Set());
  return out;
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

describe.each(DB_MODES)('on the %s databases', (mode) => {
  let modes: ModeWorld;
  let world: TestWorld;
  let a: WorldTenant;
  let b: WorldTenant;
  let shardsUnderTest: Awaited<ReturnType<TestWorld['shards']>>;
  const shardNames = mode === 'stack' ? ['shard-1', 'shard-2'] : ['shard-1'];

  beforeAll(async () => {
    modes = await worldFor(mode);
    world = modes.world;
    ({ a, b } = await world.twoTenantWorld());
    shardsUnderTest = await world.shards();
  }, EMBEDDED_START_MS);
  afterAll(() => modes?.close());

  it('covers at least the tables the platform has today on every shard', async () => {
    expect(shardsUnderTest.length).toBeGreaterThanOrEqual(shardNames.length);
    for (const shard of shardsUnderTest) {
      const c = await world.connect(shard, 'owner');
      const tables = (await tenantTables(c)).map((t) => t.table);
      await c.end();
      expect(tables).toEqual(expect.arrayContaining(['audit_log', 'inbox', 'outbox']));
    }
  });

  describe.each(shardNames)('on %s', (shardName) => {
    let app: Client;
    let tables: { table: string; columns: Column[] }[];
    const privileges = new Map<string, Set<string>>();

    beforeAll(async () => {
      const shard = shardsUnderTest.find((s) => s.name === shardName)!;
      app = await world.connect(shard, 'app');
      await loadConstraints(app);
      tables = seedOrder(await tenantTables(app));
      for (const t of tables) {
        const { rows } = await app.query<{ p: string }>(
          `select p from unnest(array['SELECT','INSERT','UPDATE','DELETE']) p where has_table_privilege(current_user, $1, p)`,
          [t.table],
        );
        privileges.set(t.table, new Set(rows.map((r) => r.p)));
      }
      // Seed one row of tenant A in every table, as tenant A; a table the application role may only
      // read (tenant_fences: the mover writes it) as the owner, whom the forced policies bind too.
      const owner = await world.connect(shard, 'owner');
      try {
        for (const t of tables) {
          const by = privileges.get(t.table)!.has('INSERT') ? app : privileges.get(t.table)!.has('SELECT') ? owner : undefined;
          if (!by) continue;
          const ins = insertSql(t.table, t.columns, a.id);
          await inContext(by, a.id, () => by.query(ins.text, ins.values));
          if (ins.id) seededIds.set(t.table, String(ins.id));
        }
      } finally {
        await owner.end();
      }
    });
    afterAll(async () => {
      // The seeded rows are not real data (an outbox row with a made-up topic, mail without an address):
      // remove them as the owner, who is subject to the forced policies too, so in tenant A's context.
      const shard = shardsUnderTest.find((s) => s.name === shardName)!;
      const owner = await world.connect(shard, 'owner');
      try {
        await inContext(owner, a.id, async () => {
          for (const t of [...tables].reverse()) await owner.query(`delete from ${t.table} where tenant_id = $1`, [a.id]);
        });
      } finally {
        await owner.end();
        await app?.end();
      }
    });

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
        // Probe only, rolled back; a one-row-per-tenant table gives up its row inside the probe first.
        const attempt = inContext(app, ctx(), async () => {
          if (singletons.has(t.table) && label === 'own tenant' && privileges.get(t.table)!.has('DELETE')) await app.query(`delete from ${t.table} where tenant_id = $1`, [a.id]);
          await app.query(ins.text, ins.values);
          throw Object.assign(new Error('rollback'), { probe: true });
        });
        if (!privileges.get(t.table)!.has('INSERT')) await expect(attempt).rejects.toThrow(/permission denied/);
        else if (label === 'own tenant') {
          // Written (and rolled back), or stopped by the primary key of the row seeded for A with the
          // same fixed values (audit_heads, quota_counters): either way RLS let the row through.
          const err = (await attempt.then(() => undefined, (e: unknown) => e)) as { probe?: boolean; message?: string };
          expect({ table: t.table, passedRls: err?.probe === true || /duplicate key/.test(err?.message ?? '') }).toEqual({ table: t.table, passedRls: true });
        }
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
});
