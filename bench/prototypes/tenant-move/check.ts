/**
 * After a move experiment: does the tenant's current shard hold every write the load committed, was
 * every event published exactly once (and the source's before the target's), is the source empty
 * of the tenant, and does row-level security hold on the target?
 *
 *   scripts/run node -r @swc-node/register bench/prototypes/tenant-move/check.ts [load.json]
 */
import { readFileSync } from 'node:fs';
import { CONTROL, MOVING_TENANT, SHARDS, connect, openingFor, pool, shardById, tenantTables, txOn } from './lib';

const T = MOVING_TENANT;
const file = process.argv[2] ?? '/tmp/tmove-load.json';

void (async () => {
  const load = JSON.parse(readFileSync(file, 'utf8'));
  const c = load.committed;
  const control = await connect(CONTROL);
  const placement = (await control.query('select shard_id, version from tenant_placements where tenant_id = $1', [T])).rows[0];
  await control.end();
  const shard = shardById(placement.shard_id);
  const db = await connect(shard);
  const problems: string[] = [];
  const missing = async (table: string, col: string, ids: string[]) => {
    const { rows } = await db.query(`select count(*)::int n from ${table} where tenant_id = $1 and ${col} = any($2)`, [T, ids]);
    if (rows[0].n !== ids.length) problems.push(`${table}: ${ids.length - rows[0].n} of ${ids.length} committed rows missing`);
  };
  await missing('tickets', 'id', c.tickets);
  await missing('drafts', 'id', c.drafts);
  await missing('inbox', 'event_id', c.inbox);
  await missing('outbox', 'id', c.events);
  const upd = Object.entries(c.ticketUpdates as Record<string, number>);
  const { rows: att } = await db.query('select id, attempt from tickets where id = any($1)', [upd.map(([id]) => id)]);
  const bad = att.filter((r) => r.attempt !== 1 + (c.ticketUpdates[r.id] as number));
  if (bad.length) problems.push(`tickets: ${bad.length} with a lost or doubled update`);
  const { rows: docs } = await db.query('select count(*)::int n from kb_documents where id = any($1)', [c.deletedDocuments]);
  if (docs[0].n) problems.push(`kb_documents: ${docs[0].n} deleted rows came back`);
  const { rows: audit } = await db.query('select count(*)::int n, max(seq)::int m from audit_log where tenant_id = $1', [T]);
  const { rows: head } = await db.query('select seq::int s from audit_heads where tenant_id = $1', [T]);
  if (audit[0].n !== 30000 + c.audit || audit[0].m !== audit[0].n || head[0].s !== audit[0].n) problems.push(`audit: ${audit[0].n} rows, max seq ${audit[0].m}, head ${head[0]?.s}, expected ${30000 + c.audit}`);
  const { rows: usage } = await db.query("select amount::int a from usage_daily where tenant_id = $1 and day = current_date + 400 and metric = 'api_calls'", [T]);
  if ((usage[0]?.a ?? 0) !== c.usage) problems.push(`usage: ${usage[0]?.a} vs ${c.usage} increments`);

  // Events: each committed one published exactly once; every source event before every target event.
  const all: { id: string; shard: string; at: number }[] = [];
  for (const [s, list] of Object.entries(load.published as Record<string, { id: string; at: number }[]>)) for (const e of list) all.push({ ...e, shard: s });
  const seen = new Map<string, number>();
  for (const e of all) seen.set(e.id, (seen.get(e.id) ?? 0) + 1);
  const dup = [...seen.values()].filter((n) => n > 1).length;
  const lost = (c.events as string[]).filter((id) => !seen.has(id)).length;
  if (dup) problems.push(`events: ${dup} published twice`);
  if (lost) problems.push(`events: ${lost} committed but never published`);
  const byShard = Object.fromEntries(Object.entries(load.published as Record<string, unknown[]>).map(([k, v]) => [k, v.length]));
  // Order: an event whose transaction committed before another's began must be published first
  // (it has the lower seq on its shard; the relay publishes in seq order), across the move too.
  const times = (load.eventTimes ?? {}) as Record<string, [number, number, string]>;
  const inOrder = [...all].sort((x, y) => x.at - y.at).filter((e) => times[e.id]);
  const byEnd = Object.entries(times).sort((x, y) => x[1][1] - y[1][1]);
  const publishedIds = new Set<string>();
  let k = 0;
  let outOfOrder = 0;
  let example = '';
  for (const e of inOrder) {
    publishedIds.add(e.id);
    const start = times[e.id]![0];
    while (k < byEnd.length && publishedIds.has(byEnd[k]![0])) k++;
    // The oldest-committed event not yet published: did it commit before this one began?
    if (k < byEnd.length && byEnd[k]![1][1] < start) {
      outOfOrder++;
      example ||= `${byEnd[k]![0]} (committed at ${byEnd[k]![1][1]} on ${byEnd[k]![1][2]}) published after ${e.id} (begun at ${start} on ${times[e.id]![2]}, published from ${e.shard})`;
    }
  }
  if (outOfOrder) problems.push(`events: ${outOfOrder} published before an event that committed before they began, e.g. ${example}`);

  // The source holds nothing of the tenant but its fence.
  const leftovers: string[] = [];
  for (const s of Object.values(SHARDS)) {
    if (s.name === shard.name) continue;
    const o = await connect(s);
    for (const t of await tenantTables(o)) {
      const { rows } = await o.query(`select count(*)::int n from ${t} where tenant_id = $1`, [T]);
      if (rows[0].n) leftovers.push(`${s.name}.${t}: ${rows[0].n}`);
    }
    await o.end();
  }

  // RLS on the target: another tenant's context sees none of the moved rows; no context sees nothing.
  const p = pool(shard, 'hotdash_app', 1);
  const other = '0193bbbb-0000-7000-8000-00000000ffff';
  const seenByOther = await txOn(p, openingFor('plain', other), (tx) => tx.db.selectFrom('tickets').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow());
  const noCtx = await p.query('select count(*)::int n from tickets');
  await p.end();
  if (Number(seenByOther.n) !== 0 || noCtx.rows[0].n !== 0) problems.push('RLS: moved rows visible outside the tenant');
  await db.end();

  console.log(
    JSON.stringify({
      placement: `${shard.name} v${placement.version}`,
      committed: { tickets: c.tickets.length, updates: upd.length, drafts: c.drafts.length, inbox: c.inbox.length, events: c.events.length, audit: c.audit, deletes: c.deletedDocuments.length, usage: c.usage },
      publishedByShard: byShard,
      leftoversOnOtherShards: leftovers,
      problems,
    }),
  );
})();
