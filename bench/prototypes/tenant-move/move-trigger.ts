/**
 * The alternative to logical replication, measured: trigger-based change capture + a batched copy.
 * Per move: row triggers on every tenant table of the source, their WHEN clause naming the tenant
 * (other tenants' writes never call the function), record (table, key) into a change table; the
 * mover copies the tenant table by table (parents first, keyset pages, rows as the database's JSON,
 * upserts) and then replays the recorded keys (the row's current state re-read from the source and
 * upserted on the target, or deleted there when gone). The cut-over drains the change table under
 * the same pause. This prototype stops there: it measures copy, lag and the drain in the pause,
 * then undoes itself (the cut-over proper is the same as move-lr.ts).
 *
 *   SOURCE=a TARGET=c scripts/run node -r @swc-node/register bench/prototypes/tenant-move/move-trigger.ts
 */
import { performance } from 'node:perf_hooks';
import { Client } from 'pg';
import { MOVING_TENANT, SHARDS, clusterCpuSeconds, connect, sleep, tenantTables } from './lib';

const T = MOVING_TENANT;
const source = SHARDS[process.env.SOURCE ?? 'a']!;
const target = SHARDS[process.env.TARGET ?? 'c']!;
const LAG_S = Number(process.env.LAG_S ?? 5);
const ms = (from: number) => Math.round((performance.now() - from) * 10) / 10;
const t0 = performance.now();
const report = (step: string, data: Record<string, unknown>) => console.log(JSON.stringify({ step, at: ms(t0), epoch: Date.now(), ...data }));

async function pkTypes(c: Client, table: string, cols: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const col of cols) {
    const { rows } = await c.query<{ t: string }>('select format_type(atttypid, atttypmod) t from pg_attribute where attrelid = $1::regclass and attname = $2', [table, col]);
    out.push(rows[0]!.t);
  }
  return out;
}

async function pkOf(c: Client, table: string): Promise<string[]> {
  const { rows } = await c.query<{ a: string }>(
    `select a.attname a from pg_index i cross join unnest(i.indkey) with ordinality k(attnum, ord) join pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.attnum
      where i.indrelid = $1::regclass and i.indisprimary order by k.ord`,
    [table],
  );
  return rows.map((r) => r.a);
}

/** Tenant tables, parents before the tables that reference them. */
async function parentsFirst(c: Client, tables: string[]): Promise<string[]> {
  const { rows } = await c.query<{ child: string; parent: string }>(
    `select child.relname child, parent.relname parent from pg_constraint con join pg_class child on child.oid = con.conrelid join pg_class parent on parent.oid = con.confrelid where con.contype = 'f'`,
  );
  const order: string[] = [];
  let remaining = [...tables];
  while (remaining.length) {
    const free = remaining.filter((t) => !rows.some((r) => r.child === t && r.parent !== t && remaining.includes(r.parent)));
    order.push(...free);
    remaining = remaining.filter((t) => !free.includes(t));
  }
  return order;
}

async function installCapture(src: Client, tables: string[]): Promise<number> {
  const s = performance.now();
  await src.query(`create table if not exists tmove_changes (seq bigserial primary key, tbl text not null, pk jsonb not null)`);
  // Security definer: it runs for the application and relay roles' writes, which may not touch the
  // change table themselves. (Without it every write of the tenant, and every relay batch that
  // includes one of its rows, fails: seen in the first run of this prototype.)
  await src.query(`create or replace function tmove_capture() returns trigger language plpgsql security definer set search_path = public as $$
    declare r record; k jsonb;
    begin
      r := case when tg_op = 'DELETE' then old else new end;
      select jsonb_object_agg(key, value) into k from jsonb_each(to_jsonb(r)) where key = any(tg_argv);
      insert into tmove_changes (tbl, pk) values (tg_table_name, k);
      if tg_op = 'UPDATE' and to_jsonb(old) -> 'tenant_id' is distinct from to_jsonb(new) -> 'tenant_id' then
        select jsonb_object_agg(key, value) into k from jsonb_each(to_jsonb(old)) where key = any(tg_argv);
        insert into tmove_changes (tbl, pk) values (tg_table_name, k);
      end if;
      return null;
    end $$`);
  // One transaction: every table captures from the same instant (CREATE TRIGGER locks each table
  // SHARE ROW EXCLUSIVE until the commit: the tenant's and everyone's writes wait that long).
  await src.query('begin');
  for (const t of tables) {
    const args = (t === 'outbox' ? ['id'] : await pkOf(src, t)).map((a) => `'${a}'`).join(', ');
    await src.query(`create trigger tmove_capture_ins after insert on ${t} for each row when (new.tenant_id = '${T}'::uuid) execute function tmove_capture(${args})`);
    await src.query(`create trigger tmove_capture_upd after update on ${t} for each row when (new.tenant_id = '${T}'::uuid or old.tenant_id = '${T}'::uuid) execute function tmove_capture(${args})`);
    await src.query(`create trigger tmove_capture_del after delete on ${t} for each row when (old.tenant_id = '${T}'::uuid) execute function tmove_capture(${args})`);
  }
  await src.query('commit');
  return ms(s);
}

async function removeCapture(src: Client, tables: string[]): Promise<void> {
  await src.query('begin');
  for (const t of tables) for (const k of ['ins', 'upd', 'del']) await src.query(`drop trigger if exists tmove_capture_${k} on ${t}`);
  await src.query('commit');
  await src.query('drop table if exists tmove_changes');
  await src.query('drop function if exists tmove_capture()');
}

async function columns(c: Client, t: string): Promise<string[]> {
  const { rows } = await c.query<{ c: string }>('select attname c from pg_attribute where attrelid = $1::regclass and attnum > 0 and not attisdropped order by attnum', [t]);
  return rows.map((r) => r.c);
}

async function upsert(tgt: Client, t: string, json: string, pk: string[], cols: string[]): Promise<number> {
  const set = cols.filter((c) => !pk.includes(c)).map((c) => `${c} = excluded.${c}`);
  const r = await tgt.query(
    `insert into ${t} (${cols.join(', ')}) select ${cols.join(', ')} from json_populate_recordset(null::${t}, $1) on conflict (${pk.join(', ')}) do ${set.length ? `update set ${set.join(', ')}` : 'nothing'}`,
    [json],
  );
  return r.rowCount ?? 0;
}

/** The batched copy: each table in keyset pages of 2000 rows, travelling as the database's JSON. */
const perTable: Record<string, number> = {};
async function copyAll(src: Client, tgt: Client, tables: string[], meta: Map<string, Meta>): Promise<number> {
  let total = 0;
  for (const t of tables) {
    const { pk, pkTypes: types, cols } = meta.get(t)!;
    const key = pk;
    let after: string | undefined;
    for (;;) {
      const { rows } = await src.query<{ j: string | null; last: string | null }>(
        `select json_agg(x)::text j, (array_agg(json_build_array(${key.map((k) => `x.${k}`).join(', ')})::text order by ${key.map((k) => `x.${k} desc`).join(', ')}))[1] last
           from (select * from ${t} where tenant_id = $1 ${after ? `and (${key.join(', ')}) > (select ${key.map((_, i) => `(j->>${i})::${types[i]}`).join(', ')} from (select $2::json j) z)` : ''} order by ${key.join(', ')} limit 2000) x`,
        after ? [T, after] : [T],
      );
      if (!rows[0]!.j) break;
      const n = await upsert(tgt, t, rows[0]!.j, pk, cols);
      total += n;
      perTable[t] = (perTable[t] ?? 0) + n;
      after = rows[0]!.last!;
    }
  }
  return total;
}

/** Replays recorded changes: takes a batch off the change table, re-reads those rows, upserts or deletes them. */
async function replay(src: Client, tgt: Client, meta: Map<string, Meta>, order: string[]): Promise<number> {
  await src.query('begin');
  const { rows } = await src.query<{ tbl: string; pk: Record<string, unknown> }>('delete from tmove_changes where seq in (select seq from tmove_changes order by seq limit 5000 for update skip locked) returning tbl, pk');
  const byTable = new Map<string, Map<string, Record<string, unknown>>>();
  for (const r of rows) {
    const m = byTable.get(r.tbl) ?? new Map();
    m.set(JSON.stringify(r.pk), r.pk);
    byTable.set(r.tbl, m);
  }
  for (const t of order) {
    const keys = byTable.get(t);
    if (!keys) continue;
    const { pk, pkTypes: types, cols } = meta.get(t)!;
    const list = JSON.stringify([...keys.values()]);
    // Keys compared in their own types, so the primary key's index is used.
    const inList = (alias: string) => `(${pk.map((k) => `${alias}.${k}`).join(', ')}) in (select ${pk.map((k, i) => `(e->>'${k}')::${types[i]}`).join(', ')} from json_array_elements($1::json) e)`;
    const { rows: cur } = await src.query<{ j: string | null }>(`select json_agg(x)::text j from ${t} x where ${inList('x')}`, [list]);
    if (cur[0]!.j) await upsert(tgt, t, cur[0]!.j, t === 'outbox' ? ['id'] : pk, cols);
    // Keys recorded but gone from the source: deleted there.
    await tgt.query(
      `delete from ${t} y where ${inList('y')} and (${pk.map((k) => `y.${k}`).join(', ')}) not in (select ${pk.map((k, i) => `(g->>'${k}')::${types[i]}`).join(', ')} from json_array_elements($2::json) g)`,
      [list, cur[0]!.j ?? '[]'],
    );
  }
  await src.query('commit');
  return rows.length;
}

interface Meta {
  pk: string[];
  pkTypes: string[];
  cols: string[];
}

async function main(): Promise<void> {
  const src = await connect(source, 'postgres', 'tmove-trigger');
  const tgt = await connect(target, 'postgres', 'tmove-trigger');
  for (const c of [src, tgt]) await c.query("set timezone = 'UTC'; set extra_float_digits = 1");
  await tgt.query('set session_replication_role = replica');
  // session_replication_role = replica on the target: foreign keys and triggers of the target are not
  // checked while pages arrive in any order (a superuser setting, like the apply worker's).
  // The queues (outbox, mail_outbox) need the treatment move-lr.ts gives them whatever copies the
  // rest (a pending row copied as such is published by the target's relay as well): left out here.
  const tables = (await tenantTables(src)).filter((t) => !['tenant_fences_norls', 'outbox', 'mail_outbox'].includes(t));
  const order = await parentsFirst(src, tables);
  const meta = new Map<string, Meta>();
  for (const t of order) {
    // The outbox is keyed by id here (its seq is the target's own).
    const pk = t === 'outbox' ? ['id'] : await pkOf(src, t);
    meta.set(t, { pk, pkTypes: await pkTypes(src, t, pk), cols: (await columns(src, t)).filter((c) => !(t === 'outbox' && c === 'seq')) });
  }

  const installMs = await installCapture(src, tables);
  report('capture-installed', { ms: installMs, tables: tables.length });
  try {
    await measure(src, tgt, tables, order, meta);
  } finally {
    // Undo: triggers and change table off the source, the copy off the target.
    const u = performance.now();
    await removeCapture(src, tables);
    await tgt.query('begin');
    for (const t of [...order].reverse()) await tgt.query(`delete from ${t} where tenant_id = $1`, [T]);
    await tgt.query('commit');
    report('undone', { ms: ms(u) });
    await src.end();
    await tgt.end();
  }
}

async function measure(src: Client, tgt: Client, tables: string[], order: string[], meta: Map<string, Meta>): Promise<void> {
  const cpu0 = [clusterCpuSeconds(54339), clusterCpuSeconds(54340)];
  const s = performance.now();
  const copied = await copyAll(src, tgt, order, meta);
  report('copied', { ms: ms(s), rows: copied, perTable, pgCpuS: [clusterCpuSeconds(54339) - cpu0[0]!, clusterCpuSeconds(54340) - cpu0[1]!].map((x) => Math.round(x * 100) / 100) });

  // Catch-up: replay until the change table is empty, then keep replaying, measuring the lag of a
  // fresh change (a marker update of the tenant's settings) to the target.
  let replayed = 0;
  const s2 = performance.now();
  for (let n = await replay(src, tgt, meta, order); n > 0; n = await replay(src, tgt, meta, order)) replayed += n;
  report('caught-up', { ms: ms(s2), replayed });
  const lags: number[] = [];
  const end = performance.now() + LAG_S * 1000;
  const cpu1 = [clusterCpuSeconds(54339), clusterCpuSeconds(54340)];
  while (performance.now() < end) {
    const m = performance.now();
    const mark = `mark-${Math.random()}`;
    await src.query('update tenant_settings set policies = $2 where tenant_id = $1', [T, mark]);
    for (const deadline = performance.now() + 10_000; performance.now() < deadline; ) {
      await replay(src, tgt, meta, order);
      const { rows } = await tgt.query('select 1 from tenant_settings where tenant_id = $1 and policies = $2', [T, mark]);
      if (rows.length) break;
      await sleep(5);
    }
    lags.push(ms(m));
    await sleep(100);
  }
  lags.sort((a, b) => a - b);
  const secs = (performance.now() - (end - LAG_S * 1000)) / 1000;
  report('lag', { p50: lags[Math.floor(lags.length / 2)], max: lags[lags.length - 1], samples: lags.length, pgCoresUsed: [clusterCpuSeconds(54339) - cpu1[0]!, clusterCpuSeconds(54340) - cpu1[1]!].map((x) => Math.round((x / secs) * 100) / 100) });

  // The drain a cut-over would do in its pause: take the pause, replay what is left.
  const L = await connect(source, 'postgres', 'tmove-pause');
  const p = performance.now();
  await L.query('begin');
  await L.query('select pg_advisory_xact_lock(72011260, hashtext($1))', [T]);
  let last = 0;
  for (let n = await replay(src, tgt, meta, order); n > 0; n = await replay(src, tgt, meta, order)) last += n;
  await L.query('rollback');
  await L.end();
  report('drain-in-pause', { ms: ms(p), replayed: last });

}

main().then(
  () => process.exit(0),
  (err) => {
    report('failed', { error: (err as Error).message });
    process.exit(1);
  },
);
