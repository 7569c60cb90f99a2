/**
 * Prototype mover: one tenant from SOURCE to TARGET by PostgreSQL logical replication with a row
 * filter (one publication per move over every replicated tenant table), the outbox and mail outbox
 * moved by the mover itself, a cut-over under the tenant's pause, verification, clean-up.
 * A saga in miniature: each step is idempotent, its state persisted in STATE (a JSON file standing
 * in for the saga tables) after it completes; SIGKILL it anywhere and run it again to resume, or
 * run with ACTION=abort to undo (before the cut-over's decision).
 *
 *   SOURCE=a TARGET=c scripts/run node -r @swc-node/register bench/prototypes/tenant-move/move-lr.ts
 * Env: SOURCE, TARGET (shard names of lib.ts), STATE (/tmp/tmove-state.json), ACTION (run|abort),
 *      LAG_S (seconds of catch-up lag sampling, 5), STOP_AFTER (a step name: stop there, for tests).
 * Prints one JSON line per step with its timings.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Client } from 'pg';
import { CONTROL, Loc, MOVING_TENANT, SHARDS, clusterCpuSeconds, connect, sleep, tenantTables } from './lib';

const T = MOVING_TENANT;
const STATE = process.env.STATE ?? '/tmp/tmove-state.json';
const LAG_S = Number(process.env.LAG_S ?? 5);
const PAUSE_LOCK_TIMEOUT_MS = 300;
const CATCHUP_BUDGET_MS = 500;
/** Tables whose pending rows are work for a shard-wide worker (relay, mail dispatcher): never replicated. */
const QUEUES = ['outbox', 'mail_outbox'] as const;

interface State {
  moveId: string;
  name: string;
  tenant: string;
  source: string;
  target: string;
  fromVersion?: number;
  done: string[];
  outboxLowWm?: Record<string, string>;
  /** xmin of the snapshot horizon when the last queue pass began: every transaction older had ended. */
  passXmin?: string;
  /** the subscription's oid on the target: its table-sync slots on the source are named after it */
  subOid?: string;
  marker: number;
  decided?: boolean;
  timings: Record<string, unknown>;
}

function load(): State {
  if (existsSync(STATE)) return JSON.parse(readFileSync(STATE, 'utf8')) as State;
  const moveId = randomUUID();
  return { moveId, name: 'tmove_' + moveId.replace(/-/g, '').slice(0, 16), tenant: T, source: process.env.SOURCE ?? 'a', target: process.env.TARGET ?? 'c', done: [], marker: 0, timings: {} };
}
function save(s: State): void {
  writeFileSync(STATE + '.tmp', JSON.stringify(s, null, 1));
  renameSync(STATE + '.tmp', STATE);
}

const t0 = performance.now();
/** Test seam: SIGKILL this process at a named point (no clean-up of any kind runs). */
function killPoint(name: string): void {
  if (process.env.KILL_AT === name) {
    console.log(JSON.stringify({ step: 'SIGKILL', at: name }));
    process.kill(process.pid, 'SIGKILL');
  }
}
const ms = (from: number) => Math.round((performance.now() - from) * 10) / 10;
function report(step: string, data: Record<string, unknown>): void {
  console.log(JSON.stringify({ step, at: ms(t0), epoch: Date.now(), ...data }));
}

/** A connection string the target's apply worker uses to reach the source. */
const conninfo = (s: Loc) => `host=${s.host} port=${s.port} dbname=${s.database} user=postgres application_name=tmove_apply`;

async function asTenant(c: Client): Promise<void> {
  // The owner/superuser sessions of the mover: UTC text forms for checksums.
  await c.query("set timezone = 'UTC'; set extra_float_digits = 1");
}

// ------------------------------------------------------------------------------------------ steps

async function fenceTarget(st: State, tgt: Client): Promise<void> {
  const tables = await tenantTables(tgt);
  for (const t of tables) {
    const { rows } = await tgt.query(`select 1 from ${t} where tenant_id = $1 limit 1`, [T]);
    if (rows.length > 0) throw new Error(`target already holds rows of the tenant in ${t}: refused (non-retryable)`);
  }
  await tgt.query('insert into tenant_fences (tenant_id, move_id) values ($1, $2) on conflict (tenant_id) do nothing', [T, st.moveId]);
}

async function replicatedTables(c: Client): Promise<string[]> {
  return [...(await tenantTables(c)).filter((t) => !(QUEUES as readonly string[]).includes(t)), 'tenant_move_markers'];
}

async function createPublication(st: State, src: Client): Promise<void> {
  const exists = await src.query('select 1 from pg_publication where pubname = $1', [st.name]);
  if (exists.rowCount) return;
  // The tenant id is a validated UUID literal (a publication's WHERE takes no parameters).
  if (!/^[0-9a-f-]{36}$/.test(T)) throw new Error('bad tenant id');
  const list = (await replicatedTables(src)).map((t) => `${t} where (tenant_id = '${T}'::uuid)`).join(', ');
  await src.query(`create publication ${st.name} for table ${list}`);
}

async function createSlot(st: State, src: Client): Promise<number> {
  const exists = await src.query('select 1 from pg_replication_slots where slot_name = $1', [st.name]);
  if (exists.rowCount) return 0;
  const s = performance.now();
  // Made here, not by CREATE SUBSCRIPTION: on the same cluster that would wait for its own transaction.
  await src.query("select pg_create_logical_replication_slot($1, 'pgoutput')", [st.name]);
  return ms(s);
}

async function createSubscription(st: State, tgt: Client, source: Loc): Promise<void> {
  const exists = await tgt.query<{ oid: string }>('select oid::text from pg_subscription where subname = $1', [st.name]);
  if (exists.rowCount) {
    st.subOid = exists.rows[0]!.oid;
    return;
  }
  await tgt.query(`create subscription ${st.name} connection '${conninfo(source)}' publication ${st.name}
    with (create_slot = false, slot_name = '${st.name}', copy_data = true, enabled = true)`);
  st.subOid = (await tgt.query<{ oid: string }>('select oid::text from pg_subscription where subname = $1', [st.name])).rows[0]!.oid;
}

/**
 * Copies the queue tables' finished rows (immutable: published / sent / set aside) in pages; returns
 * rows copied. Records the pass's transaction horizon (pg_snapshot_xmin when it began): every
 * transaction older than it had ended, so a row this pass could not see, or that changed after it
 * (published since), carries a newer xmin. The cut-over takes those rows and the ones still
 * pending, nothing else. (A created_at watermark, the pass's start less the 10 s transaction limit,
 * is also correct but drags every row of the last 15 s into the pause; a seq watermark is wrong:
 * seq is drawn at insert, not at commit.)
 */
async function copyQueueHistory(st: State, src: Client, tgt: Client): Promise<Record<string, number>> {
  const copied: Record<string, number> = {};
  const { rows: nowRows } = await src.query<{ wm: Date; xmin: string }>("select now() - interval '15 seconds' wm, pg_snapshot_xmin(pg_current_snapshot())::text xmin");
  st.passXmin = nowRows[0]!.xmin;
  st.outboxLowWm = {};
  for (const q of QUEUES) {
    const finishedCol = q === 'outbox' ? 'published_at' : 'sent_at';
    const cols = (await src.query<{ c: string }>(`select attname c from pg_attribute where attrelid = $1::regclass and attnum > 0 and not attisdropped and attname <> 'seq' order by attnum`, [q])).rows.map((r) => r.c);
    let wm = nowRows[0]!.wm;
    // Rows travel as the database's own JSON text (json_agg): through JS values a timestamptz would
    // lose its microseconds (Date) and the copy would differ from the source.
    let after: [string, string] | undefined;
    copied[q] = 0;
    for (;;) {
      // Keyset pages: the outbox by seq (OUTBOX_KEY=seq, with an index on (tenant_id, seq): a range
      // scan per page), else by (created_at, id) (the tenant's rows sorted again for every page).
      const bySeq = q === 'outbox' && process.env.OUTBOX_KEY === 'seq';
      const { rows: page } = await src.query<{ j: string | null }>(
        bySeq
          ? `select json_agg(x order by x.seq)::text j from (select * from outbox where tenant_id = $1 ${after ? 'and seq > $2' : ''} order by seq limit 2000) x`
          : `select json_agg(x order by x.created_at, x.id)::text j from (select * from ${q} where tenant_id = $1 ${after ? 'and (created_at, id) > ($2::timestamptz, $3)' : ''} order by created_at, id limit 2000) x`,
        [T, ...(after ? (bySeq ? [after[0]] : after) : [])],
      );
      if (!page[0]!.j) break;
      const rows = JSON.parse(page[0]!.j) as Record<string, unknown>[];
      const last = rows[rows.length - 1] as { created_at: string; id: string; seq: number };
      after = bySeq ? [String(last.seq), ''] : [last.created_at, last.id];
      const finished = rows.filter((r) => r[finishedCol] || r.failed_at);
      for (const r of rows) if (!(r[finishedCol] || r.failed_at) && new Date(r.created_at as string) < wm) wm = new Date(r.created_at as string);
      if (finished.length > 0) {
        const r = await tgt.query(
          `insert into ${q} (${cols.join(', ')}) select ${cols.join(', ')} from json_populate_recordset(null::${q}, $1) ${q === 'outbox' ? 'order by seq' : ''} on conflict (id) do nothing`,
          [JSON.stringify(finished)],
        );
        copied[q] += r.rowCount ?? 0;
      }
    }
    st.outboxLowWm[q] = wm.toISOString();
  }
  return copied;
}

async function waitSync(st: State, tgt: Client): Promise<{ ms: number; states: string }> {
  const s = performance.now();
  for (;;) {
    const { rows } = await tgt.query<{ srsubstate: string; n: string }>(
      'select srsubstate, count(*) n from pg_subscription_rel where srsubid = (select oid from pg_subscription where subname = $1) group by 1',
      [st.name],
    );
    const states = rows.map((r) => `${r.srsubstate}:${r.n}`).join(' ');
    if (rows.length === 1 && rows[0]!.srsubstate === 'r') return { ms: ms(s), states };
    if (performance.now() - s > 300) killPoint('copying');
    const errs = await tgt.query<{ apply_error_count: string; sync_error_count: string }>('select apply_error_count, sync_error_count from pg_stat_subscription_stats where subname = $1', [st.name]);
    const e = errs.rows[0];
    if (e && (Number(e.apply_error_count) > 0 || Number(e.sync_error_count) > 0)) throw new Error(`subscription errors: apply ${e.apply_error_count}, sync ${e.sync_error_count} (see the target's log)`);
    await sleep(20);
  }
}

async function markerRoundTrip(st: State, src: Client, tgt: Client, budgetMs = 10_000): Promise<number> {
  const n = ++st.marker;
  const s = performance.now();
  await src.query(
    'insert into tenant_move_markers (tenant_id, move_id, n) values ($1, $2, $3) on conflict (tenant_id, move_id) do update set n = excluded.n, at = now()',
    [T, st.moveId, n],
  );
  for (;;) {
    const { rows } = await tgt.query<{ n: string }>('select n from tenant_move_markers where tenant_id = $1 and move_id = $2', [T, st.moveId]);
    if (rows[0] && Number(rows[0].n) >= n) return ms(s);
    if (performance.now() - s > budgetMs) return -1;
    await sleep(1);
  }
}

function procCpuS(pid: number | undefined): number {
  if (!pid) return 0;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return 0;
  }
}

/** The walsender of the move's slot (source) and the subscription's apply worker (target). */
async function replicationPids(st: State, src: Client, tgt: Client): Promise<{ walsender?: number; apply?: number }> {
  const w = await src.query<{ active_pid: number }>('select active_pid from pg_replication_slots where slot_name = $1', [st.name]);
  const a = await tgt.query<{ pid: number }>('select pid from pg_stat_subscription where subname = $1 and relid is null', [st.name]);
  return { walsender: w.rows[0]?.active_pid ?? undefined, apply: a.rows[0]?.pid ?? undefined };
}

async function sampleLag(st: State, src: Client, tgt: Client): Promise<Record<string, unknown>> {
  const pids = await replicationPids(st, src, tgt);
  const cpu0 = { walsender: procCpuS(pids.walsender), apply: procCpuS(pids.apply) };
  const started = performance.now();
  const marker: number[] = [];
  const flushLagBytes: number[] = [];
  const end = performance.now() + LAG_S * 1000;
  while (performance.now() < end) {
    marker.push(await markerRoundTrip(st, src, tgt));
    const { rows } = await src.query<{ lag: string }>(
      'select pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn) lag from pg_replication_slots where slot_name = $1',
      [st.name],
    );
    flushLagBytes.push(Number(rows[0]?.lag ?? -1));
    await sleep(200);
  }
  marker.sort((a, b) => a - b);
  flushLagBytes.sort((a, b) => a - b);
  const q = (xs: number[], p: number) => xs[Math.min(xs.length - 1, Math.floor(xs.length * p))];
  const secs = (performance.now() - started) / 1000;
  const cpuShare = { walsender: (procCpuS(pids.walsender) - cpu0.walsender) / secs, apply: (procCpuS(pids.apply) - cpu0.apply) / secs };
  return {
    markerMs: { p50: q(marker, 0.5), p90: q(marker, 0.9), max: q(marker, 1) },
    confirmedFlushLagBytes: { p50: q(flushLagBytes, 0.5), max: q(flushLagBytes, 1) },
    samples: marker.length,
    cpuCoresUsed: { walsender: Math.round(cpuShare.walsender * 1000) / 1000, apply: Math.round(cpuShare.apply * 1000) / 1000 },
  };
}

/** Columns compared per table: everything but what a move may legitimately change (queue state, outbox seq). */
async function checksumColumns(c: Client, table: string): Promise<string[]> {
  const skip: Record<string, string[]> = { outbox: ['seq', 'published_at', 'failed_at', 'last_error'], mail_outbox: ['sent_at', 'failed_at', 'last_error'] };
  const { rows } = await c.query<{ c: string }>('select attname c from pg_attribute where attrelid = $1::regclass and attnum > 0 and not attisdropped order by attnum', [table]);
  return rows.map((r) => r.c).filter((x) => !(skip[table] ?? []).includes(x));
}

/** Per table: count and sum(hashtext(row text)) of the tenant's rows (order-independent; one pass over the tenant index). */
async function checksums(c: Client, tables: string[]): Promise<{ sums: Record<string, string>; ms: number }> {
  const s = performance.now();
  const sums: Record<string, string> = {};
  for (const t of tables) {
    const cols = await checksumColumns(c, t);
    const { rows } = await c.query<{ n: string; h: string }>(`select count(*) n, coalesce(sum(hashtext(row(${cols.join(', ')})::text)::bigint), 0) h from ${t} where tenant_id = $1`, [T]);
    sums[t] = `${rows[0]!.n}/${rows[0]!.h}`;
  }
  return { sums, ms: ms(s) };
}

function diff(a: Record<string, string>, b: Record<string, string>): string[] {
  return Object.keys(a).filter((k) => a[k] !== b[k]).map((k) => `${k}: ${a[k]} vs ${b[k]}`);
}

/**
 * The tenant's pause: the exclusive side of the advisory lock every tenant transaction takes shared
 * (new ones queue behind it, in-flight ones finish first), then the catch-up marker. Returns the
 * held connection (commit or rollback releases the pause) or undefined when the pause could not
 * be had within its budget (nothing changed; try again later).
 */
async function pause(st: State, src: Loc, srcM: Client, tgt: Client): Promise<{ L: Client; lockMs: number; catchUpMs: number } | undefined> {
  const L = await connect(src, 'postgres', 'tmove-pause');
  await L.query('begin');
  await L.query(`set local lock_timeout = '${PAUSE_LOCK_TIMEOUT_MS}ms'`);
  const s = performance.now();
  try {
    await L.query('select pg_advisory_xact_lock(72011260, hashtext($1))', [T]);
  } catch (err) {
    await L.end();
    report('pause-refused', { reason: (err as Error).message });
    return undefined;
  }
  const lockMs = ms(s);
  const catchUpMs = await markerRoundTrip(st, srcM, tgt, CATCHUP_BUDGET_MS);
  if (catchUpMs < 0) {
    await L.query('rollback');
    await L.end();
    report('pause-refused', { reason: 'target did not catch up within budget' });
    return undefined;
  }
  return { L, lockMs, catchUpMs };
}

/**
 * Copies the queue rows the history passes did not take to the target, HELD (set aside under
 * `moving-in:<move>`: the target's relay and mail dispatcher skip them), and sets the source's
 * pending ones aside, in the pause's own transaction L (which holds the tenant's pause and, from
 * here, the relay's drain lock). Nothing on the source is changed unless L commits, and L's commit
 * is the decision (it also inserts the fence): a crash before it leaves the source as it was (its
 * relay goes on publishing in order) and only held copies on the target, which a resume replaces
 * and an abort deletes.
 */
async function moveQueueRemainder(st: State, L: Client, tgt: Client): Promise<Record<string, number>> {
  const moved: Record<string, number> = {};
  const tag = `moving:${st.moveId}`;
  const held = `moving-in:${st.moveId}`;
  const s0 = performance.now();
  await L.query('select pg_advisory_xact_lock(7201126002)');
  moved.drainLockMs = ms(s0);
  killPoint('queues-locked');
  for (const q of QUEUES) {
    const done = q === 'outbox' ? 'published_at' : 'sent_at';
    const { rows: j } = await L.query<{ j: string | null }>(
      `with r as (select * from ${q} where tenant_id = $1 and (age(xmin) <= age(($2::bigint % 4294967296)::text::xid) or ${done} is null) ${q === 'outbox' ? 'order by seq' : ''} for update)
       select json_agg(r ${q === 'outbox' ? 'order by r.seq' : ''})::text j from r`,
      [T, st.passXmin],
    );
    const rows = JSON.parse(j[0]!.j ?? '[]') as Record<string, unknown>[];
    const toCopy = rows.map((r) => (!r[done] && !r.failed_at ? { ...r, failed_at: new Date().toISOString(), last_error: held } : r));
    const cols = (await checksumColumns(L, q)).concat(q === 'outbox' ? ['published_at', 'failed_at', 'last_error'] : ['sent_at', 'failed_at', 'last_error']);
    // A held copy left by an earlier attempt takes the source's current state (published since, or not).
    const ins = await tgt.query(
      `insert into ${q} as t (${cols.join(', ')}) select ${cols.join(', ')} from json_populate_recordset(null::${q}, $1) ${q === 'outbox' ? 'order by seq' : ''}
       on conflict (id) do update set ${done} = excluded.${done}, failed_at = excluded.failed_at, last_error = excluded.last_error where t.last_error = $2`,
      [JSON.stringify(toCopy), held],
    );
    moved[q] = ins.rowCount ?? 0;
    moved[`${q}Pending`] = toCopy.filter((r) => r.last_error === held).length;
    await L.query(`update ${q} set failed_at = now(), last_error = $2 where tenant_id = $1 and ${done} is null and failed_at is null`, [T, tag]);
    moved[`${q}Ms`] = ms(s0);
  }
  killPoint('outbox-moved');
  return moved;
}

async function dropReplication(st: State, src: Client, tgt: Client): Promise<void> {
  const sub = await tgt.query('select 1 from pg_subscription where subname = $1', [st.name]);
  if (sub.rowCount) {
    await tgt.query(`alter subscription ${st.name} disable`);
    await tgt.query(`alter subscription ${st.name} set (slot_name = none)`);
    await tgt.query(`drop subscription ${st.name}`);
  }
  // The walsender of a just-disabled subscription may still hold the slot for a moment.
  for (let i = 0; i < 100; i++) {
    const { rows } = await src.query<{ active: boolean }>('select active from pg_replication_slots where slot_name = $1', [st.name]);
    if (rows.length === 0) break;
    if (!rows[0]!.active) {
      await src.query('select pg_drop_replication_slot($1)', [st.name]);
      break;
    }
    await sleep(50);
  }
  // Table-sync slots of a subscription dropped with slot_name = none during its initial copy stay on
  // the source (pg_<suboid>_sync_<relid>_<sysid>): drop them too, or they hold WAL for ever.
  for (let i = 0; st.subOid && i < 100; i++) {
    const { rows } = await src.query<{ slot_name: string; active: boolean }>('select slot_name, active from pg_replication_slots where slot_name like $1', [`pg_${st.subOid}_sync_%`]);
    if (rows.length === 0) break;
    for (const r of rows) if (!r.active) await src.query('select pg_drop_replication_slot($1)', [r.slot_name]);
    await sleep(50);
  }
  await src.query(`drop publication if exists ${st.name}`);
}

/** Tenant tables, children before the tables they reference (the order erase_tenant deletes in). */
async function deleteOrder(c: Client): Promise<string[]> {
  let remaining = await tenantTables(c);
  const { rows } = await c.query<{ child: string; parent: string }>(
    `select child.relname child, parent.relname parent from pg_constraint con join pg_class child on child.oid = con.conrelid join pg_class parent on parent.oid = con.confrelid where con.contype = 'f'`,
  );
  const order: string[] = [];
  while (remaining.length > 0) {
    const free = remaining.filter((t) => !rows.some((r) => r.parent === t && r.child !== t && remaining.includes(r.child)));
    if (free.length === 0) throw new Error('foreign-key cycle');
    order.push(...free);
    remaining = remaining.filter((t) => !free.includes(t));
  }
  return order;
}

/** Deletes the tenant's rows of every tenant table in batches (short transactions); the fence stays. */
async function deleteTenantRows(c: Client, batch = 5000): Promise<number> {
  let total = 0;
  for (const t of await deleteOrder(c)) {
    for (;;) {
      const r = await c.query(`delete from ${t} where ctid = any(array(select ctid from ${t} where tenant_id = $1 limit ${batch}))`, [T]);
      total += r.rowCount ?? 0;
      if ((r.rowCount ?? 0) < batch) break;
    }
  }
  await c.query('delete from tenant_move_markers where tenant_id = $1', [T]);
  return total;
}

// ------------------------------------------------------------------------------------------- main

async function main(): Promise<void> {
  const st = load();
  save(st);
  const source = SHARDS[st.source]!;
  const target = SHARDS[st.target]!;
  const src = await connect(source, 'postgres', 'tmove-mover');
  const srcM = await connect(source, 'postgres', 'tmove-marker');
  const tgt = await connect(target, 'postgres', 'tmove-mover');
  const control = await connect(CONTROL, 'postgres', 'tmove-mover');
  for (const c of [src, srcM, tgt]) await asTenant(c);
  const stopAfter = process.env.STOP_AFTER;
  const step = async (name: string, fn: () => Promise<Record<string, unknown> | void>) => {
    if (st.done.includes(name)) return;
    const s = performance.now();
    const cpu0 = [clusterCpuSeconds(54339), clusterCpuSeconds(54340)];
    const data = (await fn()) ?? {};
    const cpu = [clusterCpuSeconds(54339) - cpu0[0]!, clusterCpuSeconds(54340) - cpu0[1]!].map((x) => Math.round(x * 100) / 100);
    st.done.push(name);
    st.timings[name] = { ms: ms(s), ...data };
    save(st);
    report(name, { ms: ms(s), pgCpuS: { '54339': cpu[0], '54340': cpu[1] }, ...data });
    if (stopAfter === name) {
      console.log(`stopping after ${name} (STOP_AFTER)`);
      process.exit(0);
    }
  };

  if (process.env.ACTION === 'abort') {
    await abort(st, src, tgt);
    for (const c of [src, srcM, tgt, control]) await c.end();
    return;
  }

  report('start', { moveId: st.moveId, source: source.name, target: target.name, resumed: st.done.length > 0 });
  await step('fence-target', () => fenceTarget(st, tgt));
  await step('publication', () => createPublication(st, src));
  await step('slot', async () => ({ createMs: await createSlot(st, src) }));
  await step('subscription', () => createSubscription(st, tgt, source));
  await step('wait-sync', async () => waitSync(st, tgt));
  await step('copy-queues', async () => ({ copied: await copyQueueHistory(st, src, tgt), lowWm: st.outboxLowWm }));
  await step('catch-up', async () => sampleLag(st, src, tgt));
  await step('copy-queues-again', async () => ({ copied: await copyQueueHistory(st, src, tgt) }));
  await step('verify', async () => {
    // A short pause gives both sides the same state: snapshots taken while it holds, compared after.
    const s = performance.now();
    const p = await pause(st, source, srcM, tgt);
    if (!p) throw new Error('verification pause refused; retry');
    const S = await connect(source, 'postgres', 'tmove-verify');
    const V = await connect(target, 'postgres', 'tmove-verify');
    for (const c of [S, V]) {
      await asTenant(c);
      await c.query('begin isolation level repeatable read');
      await c.query('select 1');
    }
    await p.L.query('commit');
    await p.L.end();
    const pauseMs = ms(s);
    const tables = (await replicatedTables(src)).filter((t) => t !== 'tenant_move_markers');
    const [a, b] = await Promise.all([checksums(S, tables), checksums(V, tables)]);
    for (const c of [S, V]) await c.end();
    const mismatches = diff(a.sums, b.sums);
    if (mismatches.length) throw new Error(`checksums differ (abort the move): ${mismatches.join('; ')}`);
    // The same sums as md5 of the rows in key order, for the cost comparison.
    const s2 = performance.now();
    for (const t of tables) {
      const cols = await checksumColumns(src, t);
      await src.query(`select md5(string_agg(row(${cols.join(', ')})::text, '' order by ctid)) from ${t} where tenant_id = $1`, [T]);
    }
    return { pauseMs, lockMs: p.lockMs, catchUpMs: p.catchUpMs, sumMsSource: a.ms, sumMsTarget: b.ms, md5StringAggMsSource: ms(s2), tables: tables.length, rows: Object.values(a.sums).reduce((n, x) => n + Number(x.split('/')[0]), 0) };
  });
  await step('cutover', async () => cutover(st, source, target, src, srcM, tgt, control));
  await step('drop-replication', async () => {
    await dropReplication(st, src, tgt);
    killPoint('replication-dropped');
  });
  await step('post-verify', async () => {
    // The source is frozen since the fence (its pending queue rows set aside); the target as it was in
    // the pause is the snapshot opened then. A mover that restarted since has lost that snapshot:
    // the pre-cut-over verification stands alone then.
    if (!targetAtCutover) return { skipped: 'the snapshot of the pause is gone (the mover restarted)' };
    const tables = (await tenantTables(src)).filter((t) => t !== 'tenant_fences');
    const [a, b] = await Promise.all([checksums(src, tables), checksums(targetAtCutover, tables)]);
    await targetAtCutover.end();
    const differing = diff(a.sums, b.sums);
    if (differing.length) throw new Error(`after the cut-over the copies differ; source rows kept: ${differing.join('; ')}`);
    return { tables: tables.length, sumMsSource: a.ms, sumMsTarget: b.ms };
  });
  await step('cleanup-source', async () => {
    const s = performance.now();
    killPoint('cleanup');
    const n = await deleteTenantRows(src);
    return { deleted: n, ms: ms(s) };
  });
  report('done', { totalMs: ms(t0) });
  for (const c of [src, srcM, tgt, control]) await c.end();
}

/** The target as it was in the cut-over's pause (a repeatable-read transaction opened while the pause held). */
let targetAtCutover: Client | undefined;

async function cutover(st: State, source: Loc, target: Loc, src: Client, srcM: Client, tgt: Client, control: Client): Promise<Record<string, unknown>> {
  const { rows: pl } = await control.query<{ shard_id: string; version: number }>('select shard_id, version from tenant_placements where tenant_id = $1', [T]);
  st.fromVersion ??= pl[0]!.version;
  const decided = (await src.query('select 1 from tenant_fences where tenant_id = $1 and move_id = $2', [T, st.moveId])).rowCount;
  if (!decided) {
    for (let attempt = 1; ; attempt++) {
      const s = performance.now();
      const p = await pause(st, source, srcM, tgt);
      if (!p) {
        if (attempt >= 10) throw new Error('could not pause the tenant');
        await sleep(200 * attempt);
        continue;
      }
      const tMarker = ms(s);
      killPoint('cutover-paused');
      const moved = await moveQueueRemainder(st, p.L, tgt);
      const tQueues = ms(s);
      targetAtCutover = await connect(target, 'postgres', 'tmove-postverify');
      await asTenant(targetAtCutover);
      await targetAtCutover.query('begin isolation level repeatable read');
      await targetAtCutover.query('select 1');
      // The decision, one commit of the source: the fence (the source refuses the tenant from now on
      // and names the target), the pending queue rows set aside, the pause and drain lock released.
      await p.L.query('insert into tenant_fences (tenant_id, move_id, moved_to_shard, placement_version) values ($1, $2, $3, $4)', [T, st.moveId, target.id, st.fromVersion + 1]);
      await p.L.query('commit');
      st.decided = true;
      save(st);
      const tDecided = ms(s);
      killPoint('cutover-decided');
      // Then the target goes live: held queue rows released and its fence lifted, in one transaction
      // (until it commits both copies refuse the tenant: its transactions wait and retry, none is lost).
      await openTarget(st, tgt);
      const tOpen = ms(s);
      await control.query('update tenant_placements set shard_id = $2, version = $3 where tenant_id = $1 and version = $4', [T, target.id, st.fromVersion + 1, st.fromVersion]);
      const tPlacement = ms(s);
      await p.L.end();
      return { attempt, pauseMs: tOpen, lockMs: p.lockMs, catchUpMs: p.catchUpMs, markerDoneAt: tMarker, queuesDoneAt: tQueues, decidedAt: tDecided, targetOpenAt: tOpen, placementAt: tPlacement, moved };
    }
  }
  // Resumed after the decision: open the target, finish the placement (both idempotent).
  await openTarget(st, tgt);
  await control.query('update tenant_placements set shard_id = $2, version = $3 where tenant_id = $1 and version = $4', [T, target.id, st.fromVersion + 1, st.fromVersion]);
  return { resumedAfterDecision: true };
}

/** After the decision: the target's held queue rows released and its fence lifted, atomically. */
async function openTarget(st: State, tgt: Client): Promise<void> {
  const held = `moving-in:${st.moveId}`;
  await tgt.query('begin');
  await tgt.query('update outbox set failed_at = null, last_error = null where tenant_id = $1 and last_error = $2', [T, held]);
  await tgt.query('update mail_outbox set failed_at = null, last_error = null where tenant_id = $1 and last_error = $2', [T, held]);
  await tgt.query('delete from tenant_fences where tenant_id = $1 and move_id = $2', [T, st.moveId]);
  await tgt.query('commit');
}

/** Compensation of everything before the decision: the tenant stays whole on its source. */
async function abort(st: State, src: Client, tgt: Client): Promise<void> {
  const decided = (await src.query('select 1 from tenant_fences where tenant_id = $1 and move_id = $2', [T, st.moveId])).rowCount;
  if (decided || st.decided) throw new Error('the move was decided (source fenced): it can only be finished, not aborted');
  const s = performance.now();
  await dropReplication(st, src, tgt);
  // Nothing of the source changed before the decision (the cut-over's source side is one
  // transaction); the target's held queue copies were never published and go with its rows.
  const restored = 0;
  const deleted = await deleteTenantRows(tgt);
  await tgt.query('delete from tenant_fences where tenant_id = $1 and move_id = $2', [T, st.moveId]);
  await src.query('delete from tenant_move_markers where tenant_id = $1', [T]);
  report('aborted', { ms: ms(s), targetRowsDeleted: deleted, outboxRestored: restored });
  renameSync(STATE, STATE + '.aborted');
}

main().then(() => process.exit(0), (err) => {
  report('failed', { error: (err as Error).message });
  process.exit(1);
});

