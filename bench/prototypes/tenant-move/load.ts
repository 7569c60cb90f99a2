/**
 * The moving tenant's traffic during a move experiment: ~RATE write operations a second (open loop:
 * each starts on schedule, however long the earlier ones wait), a reader reading continuously, and
 * an outbox relay stand-in per shard (publishes = records the ids, marks published_at, under the
 * relay's drain lock, as the relay role). Every transaction goes through GatedTenants (the gate in
 * the opening, placement cached until NOTIFY, re-route on a fence).
 *
 *   scripts/run node -r @swc-node/register bench/prototypes/tenant-move/load.ts
 * Env: RATE (200), DURATION_S (60), OUT (/tmp/tmove-load.json). SIGTERM ends it early (results kept).
 *
 * What it writes to OUT: every committed operation (what the final shard must hold), the events
 * each relay published (exactly once, in order), the longest waits (scheduled start → commit) and
 * when they happened, read failures and read latency.
 */
import { writeFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { sql } from 'kysely';
import { Client } from 'pg';
import { GatedTenants, MOVING_TENANT, SHARDS, connect, openingFor, sleep, txOn } from './lib';

const RATE = Number(process.env.RATE ?? 200);
const DURATION_S = Number(process.env.DURATION_S ?? 60);
const OUT = process.env.OUT ?? '/tmp/tmove-load.json';
const T = MOVING_TENANT;

type Op = 'ticket' | 'ticket-update' | 'draft' | 'inbox' | 'audit' | 'token' | 'document-delete' | 'usage';
const MIX: [Op, number][] = [
  ['ticket', 25],
  ['ticket-update', 20],
  ['draft', 10],
  ['inbox', 15],
  ['audit', 10],
  ['token', 10],
  ['document-delete', 4],
  ['usage', 6],
];

const gated = new GatedTenants(16);
const committed = {
  tickets: [] as string[],
  ticketUpdates: {} as Record<string, number>,
  drafts: [] as string[],
  inbox: [] as string[],
  events: [] as string[],
  audit: 0,
  tokens: {} as Record<string, number>,
  deletedDocuments: [] as string[],
  usage: 0,
};
const waits: { at: number; ms: number; op: Op; shard: string }[] = [];
/** per event: when its transaction's last attempt began, when it committed, on which shard */
const eventTimes: Record<string, [number, number, string]> = {};
const failures: { at: number; op: string; error: string }[] = [];
const reads = { ok: 0, failed: 0, maxMs: 0, errors: [] as string[], lat: [] as number[] };
const published: Record<string, { id: string; seq: string; at: number }[]> = { a: [], b: [], c: [] };
let draftCounter = new Map<string, number>();
let tokenIds: string[] = [];
let documentIds: string[] = [];
const t0 = performance.now();
const now = () => performance.now() - t0;

function pick(): Op {
  let r = Math.random() * 100;
  for (const [op, w] of MIX) if ((r -= w) < 0) return op;
  return 'inbox';
}

/** One operation in one tenant transaction; its effect is recorded only after the commit (a re-routed attempt overwrites it). */
async function run(op: Op): Promise<string> {
  let effect: (() => void) | undefined;
  const shardName = await gated.withTenant(T, async (tx, shard) => {
    effect = undefined;
    const startedAt = now();
    switch (op) {
      case 'ticket': {
        const id = randomUUID();
        const ev = randomUUID();
        await tx.db
          .insertInto('tickets')
          .values({ id, tenant_id: T, channel: 'api', customer_name_enc: 'v1.n', customer_email_enc: 'v1.e', body_enc: 'v1.' + 'b'.repeat(120), status: 'drafting', received_at: sql`now()` })
          .execute();
        await tx.db
          .insertInto('outbox')
          .values({ id: ev, tenant_id: T, topic: 'hotdash.tickets', key: T, type: 'ticket.received', version: 1, envelope: JSON.stringify({ id: ev, type: 'ticket.received', tenantId: T, payload: { ticketId: id } }) })
          .execute();
        effect = () => {
          committed.tickets.push(id);
          committed.events.push(ev);
          eventTimes[ev] = [Math.round(startedAt * 10) / 10, Math.round(now() * 10) / 10, shard.name];
        };
        break;
      }
      case 'ticket-update': {
        const id = committed.tickets[Math.floor(Math.random() * committed.tickets.length)];
        if (!id) return shard.name;
        const r = await tx.db.updateTable('tickets').set({ attempt: sql`attempt + 1`, status: 'pending', updated_at: sql`now()` }).where('id', '=', id).executeTakeFirst();
        if (r.numUpdatedRows !== 1n) throw new Error(`ticket ${id} missing on shard ${shard.name}`);
        effect = () => (committed.ticketUpdates[id] = (committed.ticketUpdates[id] ?? 0) + 1);
        break;
      }
      case 'draft': {
        const ticket = committed.tickets[Math.floor(Math.random() * committed.tickets.length)];
        if (!ticket) return shard.name;
        const attempt = (draftCounter.get(ticket) ?? 0) + 1;
        draftCounter.set(ticket, attempt);
        const id = randomUUID();
        await tx.db.insertInto('drafts').values({ id, tenant_id: T, ticket_id: ticket, attempt, status: 'pending', body_enc: 'v1.' + 'd'.repeat(200) }).execute();
        effect = () => committed.drafts.push(id);
        break;
      }
      case 'inbox': {
        const ev = randomUUID();
        await tx.db.insertInto('inbox').values({ tenant_id: T, consumer: 'bench', event_id: ev }).execute();
        effect = () => committed.inbox.push(ev);
        break;
      }
      case 'audit': {
        await sql`select pg_advisory_xact_lock(hashtextextended(${'audit:' + T}, 0))`.execute(tx.db);
        const head = await tx.db.selectFrom('audit_heads').select(['seq']).executeTakeFirstOrThrow();
        const seq = BigInt(head.seq as unknown as string) + 1n;
        await tx.db
          .insertInto('audit_log')
          .values({ id: randomUUID(), tenant_id: T, seq: seq.toString(), event_id: randomUUID(), event_type: 'bench', actor_id: 'user:x', occurred_at: sql`now()`, recorded_at: sql`now()`, payload: JSON.stringify({ n: seq.toString() }), prev_hash: 'p', hash: 'h' + seq })
          .execute();
        await tx.db.updateTable('audit_heads').set({ seq: seq.toString(), hash: 'h' + seq, updated_at: sql`now()` }).execute();
        effect = () => committed.audit++;
        break;
      }
      case 'token': {
        const id = tokenIds[Math.floor(Math.random() * tokenIds.length)]!;
        await tx.db.updateTable('refresh_tokens').set({ used_at: sql`now()`, status: 'rotated' }).where('id', '=', id).execute();
        effect = () => (committed.tokens[id] = (committed.tokens[id] ?? 0) + 1);
        break;
      }
      case 'document-delete': {
        const id = documentIds.pop();
        if (!id) return shard.name;
        const r = await tx.db.deleteFrom('kb_documents').where('id', '=', id).executeTakeFirst();
        if (r.numDeletedRows !== 1n) throw new Error(`document ${id} missing on shard ${shard.name}`);
        effect = () => committed.deletedDocuments.push(id);
        break;
      }
      case 'usage': {
        await tx.db
          .insertInto('usage_daily')
          .values({ tenant_id: T, day: sql`current_date + 400`, metric: 'api_calls', amount: '1' })
          .onConflict((oc) => oc.columns(['tenant_id', 'day', 'metric']).doUpdateSet({ amount: sql`usage_daily.amount + 1` }))
          .execute();
        effect = () => committed.usage++;
        break;
      }
    }
    return shard.name;
  });
  effect?.();
  return shardName;
}

async function writer(stopAt: number): Promise<void> {
  const interval = 1000 / RATE;
  const inFlight = new Set<Promise<void>>();
  for (let i = 0; now() < stopAt && !stopping; i++) {
    const due = i * interval;
    if (due > now()) await sleep(due - now());
    const op = pick();
    const scheduled = due;
    const p = (async () => {
      try {
        const shard = await run(op);
        const ms = now() - scheduled;
        waits.push({ at: scheduled, ms, op, shard });
      } catch (err) {
        failures.push({ at: scheduled, op, error: (err as Error).message });
      }
    })();
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
  }
  await Promise.all(inFlight);
}

async function reader(stopAt: number): Promise<void> {
  while (now() < stopAt && !stopping) {
    const s = now();
    try {
      await gated.withTenant(T, (tx) => tx.db.selectFrom('tickets').select(['id', 'status']).orderBy('created_at', 'desc').limit(20).execute());
      reads.ok++;
      const ms = now() - s;
      reads.lat.push(ms);
      reads.maxMs = Math.max(reads.maxMs, ms);
    } catch (err) {
      reads.failed++;
      if (reads.errors.length < 20) reads.errors.push((err as Error).message);
    }
    await sleep(2);
  }
}

/** Other tenants of a shard, read continuously (the gate in their openings too): their latency during the move. */
const others: Record<string, [number, number][]> = {};
async function otherReader(name: string, stopAt: number): Promise<void> {
  const admin = await connect(SHARDS[name]!);
  const tenants = (await admin.query<{ tenant_id: string }>('select tenant_id from tenant_settings where tenant_id <> $1', [T])).rows.map((r) => r.tenant_id);
  await admin.end();
  const list = (others[name] = [] as [number, number][]);
  const p = gated.poolOf(SHARDS[name]!);
  while (now() < stopAt && !stopping) {
    const t = tenants[Math.floor(Math.random() * tenants.length)]!;
    const s = now();
    try {
      await txOn(p, openingFor('gate-merged', t), (tx) => tx.db.selectFrom('tickets').select(['id', 'status']).orderBy('created_at', 'desc').limit(20).execute());
      list.push([Math.round(s), Math.round((now() - s) * 100) / 100]);
    } catch {
      list.push([Math.round(s), -1]);
    }
    await sleep(5);
  }
}

async function relay(name: string, stopAt: number): Promise<void> {
  let c: Client | undefined;
  while (now() < stopAt + 3000 && !stopping) {
    try {
      c ??= await connect(SHARDS[name]!, 'hotdash_relay', 'tmove-relay');
      await c.query('begin');
      const lock = await c.query<{ l: boolean }>('select pg_try_advisory_xact_lock(7201126002) l');
      if (lock.rows[0]!.l) {
        const { rows } = await c.query<{ id: string; seq: string; tenant_id: string }>(
          'select id, seq, tenant_id from outbox where published_at is null and failed_at is null order by seq limit 500 for update skip locked',
        );
        const at = now();
        for (const r of rows) if (r.tenant_id === T) published[name]!.push({ id: r.id, seq: r.seq, at });
        if (rows.length > 0) await c.query('update outbox set published_at = now() where id = any($1)', [rows.map((r) => r.id)]);
      }
      await c.query('commit');
    } catch {
      await c?.end().catch(() => undefined);
      c = undefined;
    }
    await sleep(20);
  }
  await c?.end().catch(() => undefined);
}

let stopping = false;
process.on('SIGTERM', () => (stopping = true));

void (async () => {
  await gated.start();
  const admin = await connect((await gated.placement(T)).shard);
  tokenIds = (await admin.query<{ id: string }>('select id from refresh_tokens where tenant_id = $1 limit 500', [T])).rows.map((r) => r.id);
  documentIds = (await admin.query<{ id: string }>('select id from kb_documents where tenant_id = $1', [T])).rows.map((r) => r.id);
  await admin.end();
  draftCounter = new Map();
  // Every process keeps warm connections to the shards a tenant may move to (PREWARM=0: not).
  if (process.env.PREWARM !== '0') for (const s of Object.values(SHARDS)) await Promise.all(Array.from({ length: 16 }, () => gated.poolOf(s).query('select 1')));
  const stopAt = DURATION_S * 1000;
  console.log(`load: ${RATE} ops/s for ${DURATION_S} s on tenant ${T}`);
  await Promise.all([writer(stopAt), reader(stopAt), relay('a', stopAt), relay('b', stopAt), relay('c', stopAt), otherReader('a', stopAt), otherReader(process.env.OTHER_TARGET ?? 'c', stopAt)]);
  await gated.close();
  waits.sort((x, y) => y.ms - x.ms);
  const lat = reads.lat.sort((x, y) => x - y);
  const result = {
    epochStart: Date.now() - now(),
    rate: RATE,
    durationS: DURATION_S,
    ops: waits.length,
    failures,
    reroutes: gated.reroutes,
    notifications: gated.notifications,
    longestWaits: waits.slice(0, 15),
    allWaits: waits.map((w) => [Math.round(w.at), Math.round(w.ms * 10) / 10, w.shard]),
    readLat: reads.lat.length,
    others,
    writeP99: [...waits].sort((x, y) => x.ms - y.ms)[Math.floor(waits.length * 0.99)]?.ms,
    reads: { ok: reads.ok, failed: reads.failed, maxMs: reads.maxMs, p99: lat[Math.floor(lat.length * 0.99)], errors: reads.errors },
    committed,
    eventTimes,
    published,
  };
  writeFileSync(OUT, JSON.stringify(result));
  console.log(
    JSON.stringify({ ops: result.ops, failures: failures.length, firstFailures: failures.slice(0, 3), reroutes: result.reroutes, notifications: result.notifications, maxWait: waits[0], writeP99: result.writeP99, reads: { ...result.reads, errors: result.reads.errors.slice(0, 3) } }),
  );
})();
