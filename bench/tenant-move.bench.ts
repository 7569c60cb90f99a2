/**
 * Live tenant move under load (issue 14, Benchmarks): a tenant of BENCH_ROWS rows (100,000 by
 * default, spread over its tables as a working tenant's are) moved from one shard to another by the
 * product's own path, the move use-case (MoveTenantHandler: checks, preflight, then the tenant-move
 * saga on the saga engine, followed through its run as `hotdash-ops moves watch` does), while:
 *
 *   - the moving tenant writes ~BENCH_RATE operations a second (200), open loop (each operation
 *     starts on schedule however long earlier ones wait, so a paused tenant's writes pile up and
 *     their wait is measured from when they were due): new ticket + an event in its outbox 25%,
 *     ticket update 20%, inbox 15%, draft 10%, audit append (advisory lock, head update) 10%,
 *     refresh-token rotation 10%, usage upsert 6%, document delete 4%;
 *   - it reads continuously (its newest 20 audit entries, one read after another, 2 ms apart);
 *   - BENCH_OTHERS (3) other tenants on each of the two shards are read continuously
 *     (BENCH_OTHER_READERS loops per shard, the read of bench/tenant-read.bench.ts: the newest 20
 *     audit entries under RLS);
 *   - a relay stand-in per shard "publishes" the moving tenant's events (relayStandIn), so that its
 *     pending queue is as short as under a running relay.
 *
 * Every transaction goes through withTenant on the driver (the tenant gate in its opening; a fenced
 * shard re-routes it), in this process's own Databases (pool HOTDASH_DB_POOL_SIZE, default 10 per
 * shard: one service process serving every tenant). The saga's steps run in a child process (this
 * file again, as the provisioning service's saga worker: its own Databases, its shard router told by
 * NOTIFY like everyone's), on a queue of its own (`bench-move-<id>`), so no other process's saga
 * worker takes them; this process starts the move and follows its run. BENCH_SAGA_IN_PROCESS=1 runs
 * the worker in this process instead (the mover then shares the event loop with the load).
 *
 *   scripts/run node -r @swc-node/register bench/tenant-move.bench.ts
 *   BENCH_ROWS=10000 BENCH_BEFORE_S=5 scripts/run node -r @swc-node/register bench/tenant-move.bench.ts   # quick trial
 *
 * Windows (by when an operation started): "before" BENCH_BEFORE_S (20) seconds of the same load
 * before the move, "during" the move (its start call to its run reported succeeded), "after" a
 * window as long as the move (at most BENCH_AFTER_MAX_S, 180) with the same load once it is done:
 * the baseline of the other tenants' read p99.
 *
 * Checked after the load stopped: every committed write is on the target exactly as often as it was
 * committed (inserted rows by id, ticket update counts, audit chain length and head, the usage
 * counter, deleted documents absent, every event in the outbox), every event published exactly once
 * and in commit order across the two shards, nothing of the tenant left on the source but its fence,
 * the placement on the target. Printed: the saga's steps (time, detail: the cut-over's pause), the
 * moving tenant's write waits and read latencies and the other tenants' reads per window, and per
 * step of the move (with the moving tenant's write tries and the refusals its transactions met).
 *
 * Seeding: bulk INSERT … SELECT as the superuser (bypasses RLS) on the source, proportions of
 * bench/prototypes/tenant-move/seed.sql. Tenants are created straight in the control plane (no
 * sign-up, no Weaviate namespace), all named `bench-move …`: a run first removes every such tenant
 * left by an interrupted run (its moves' publication, slot and subscription; its rows on every shard
 * with erase_tenant, fences included; its control records; the moves' ops actions, actor
 * `ops:bench-move`) and the bench's BullMQ queues (`bench-move-*`), and removes its own at the end.
 *
 * Env: BENCH_ROWS (100000), BENCH_RATE (200), BENCH_OTHERS (3 per shard, at least 2),
 * BENCH_OTHER_READERS (2 loops per shard), BENCH_BEFORE_S (20), BENCH_AFTER_MAX_S (180),
 * BENCH_SOURCE (shard-1), BENCH_TARGET (shard-2), BENCH_SAGA_IN_PROCESS=1, BENCH_KEEP=1 (leave the
 * tenants, for a look).
 */
import { loadavg } from 'node:os';
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { sql } from 'kysely';
import { Queue } from 'bullmq';
import Redis from 'ioredis';
import type { Client } from 'pg';
import { AuditEvents, parseTenantId, type TenantId, type TenantMoveRun } from '@hotdash/contracts';
import { newId, TenantMover, type ShardInfo, type TenantMove } from '@hotdash/platform-db';
import { redisConnection, SagaEngine } from '@hotdash/platform-jobs';
import { publishInTx } from '@hotdash/platform-messaging';
import { MoveTenantHandler, ShardsRepository, TenantArchiveRunsRepository, TENANT_MOVE_SAGA, tenantMoveSaga, type TenantMoveInput } from '@hotdash/provisioning';
import { startProcess, TestWorld, type ServiceProcess } from '@hotdash/testing';

const ROWS = Number(process.env.BENCH_ROWS ?? 100_000);
const RATE = Number(process.env.BENCH_RATE ?? 200);
const OTHERS = Math.max(2, Number(process.env.BENCH_OTHERS ?? 3));
const OTHER_READERS = Math.max(1, Number(process.env.BENCH_OTHER_READERS ?? 2));
const BEFORE_S = Number(process.env.BENCH_BEFORE_S ?? 20);
const AFTER_MAX_S = Number(process.env.BENCH_AFTER_MAX_S ?? 180);
const SOURCE = process.env.BENCH_SOURCE ?? 'shard-1';
const TARGET = process.env.BENCH_TARGET ?? 'shard-2';
const KEEP = process.env.BENCH_KEEP === '1';
const SAGA_IN_PROCESS = process.env.BENCH_SAGA_IN_PROCESS === '1';
const NAME_PREFIX = 'bench-move ';
/** The ops actor the moves are started as (their ops_actions rows are removed by actor). */
const ACTOR = 'ops:bench-move';
const WARMUP_S = 5;
/** Rows of an "other" tenant, relative to the moving one's 100,000 (2,000 rows, 600 audit entries). */
const OTHER_SCALE = 0.02;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const t0 = performance.now();
const now = () => performance.now() - t0;
/** Wall-clock time (ms since epoch) of a `now()` instant. */
const epochOf = (at: number) => performance.timeOrigin + t0 + at;
const loads = (label: string) => `${label} ${loadavg().map((x) => x.toFixed(2)).join(' / ')}`;
const loadLog: string[] = [];

// ------------------------------------------------------------------------------------------ seeding

/**
 * The statements that give tenant $1 about 100,000 × k rows over its tables (the prototype's
 * proportions: audit 30%, outbox history 20%, inbox 16%, tickets and drafts 10% each, …).
 */
function seedStatements(k: number): string[] {
  const n = (x: number) => Math.max(1, Math.round(x * k));
  return [
    `insert into users (id, tenant_id, email_enc, email_hash, display_name, role, status, password_hash, team)
       select gen_random_uuid(), $1::uuid, 'v1.' || md5(random()::text) || md5(random()::text), md5($1::uuid::text || i), 'User ' || i,
              (array['operator','team_lead','manager','admin'])[1 + i % 4], 'active', 'scrypt$' || md5(i::text), 'team-' || (i % 5)
         from generate_series(1, ${n(200)}) i`,
    `insert into queue_members (tenant_id, user_id, role, team, status, updated_at) select tenant_id, id, role, team, status, now() from users where tenant_id = $1::uuid`,
    `insert into invitations (id, tenant_id, user_id, token_hash, expires_at)
       select gen_random_uuid(), $1::uuid, id, md5(random()::text) || md5(id::text), now() + interval '7 days' from users where tenant_id = $1::uuid`,
    `insert into auth_sessions (id, tenant_id, user_id, expires_at, ip, user_agent)
       select gen_random_uuid(), $1::uuid, u.id, now() + interval '30 days', '10.0.0.' || (i % 250), 'Mozilla/5.0 bench'
         from users u, generate_series(1, 10) i where u.tenant_id = $1::uuid`,
    `insert into refresh_tokens (id, tenant_id, session_id, token_hash, status, expires_at)
       select gen_random_uuid(), $1::uuid, s.id, md5(random()::text) || md5(s.id::text || i), (array['active','rotated'])[1 + i % 2], now() + interval '30 days'
         from auth_sessions s, generate_series(1, 2) i where s.tenant_id = $1::uuid`,
    `insert into password_resets (id, tenant_id, user_id, token_hash, expires_at)
       select gen_random_uuid(), $1::uuid, id, md5(random()::text) || 'pr', now() + interval '1 hour' from users where tenant_id = $1::uuid limit ${n(100)}`,
    `insert into api_keys (id, tenant_id, name, prefix, key_hash, role, scopes, created_by)
       select gen_random_uuid(), $1::uuid, 'key ' || i, 'hdk_' || substr(md5(random()::text), 1, 16), md5(random()::text) || md5(i::text), 'operator', '{tickets:read,tickets:write}', gen_random_uuid()
         from generate_series(1, ${n(50)}) i`,
    `insert into approval_workflows (id, tenant_id, key, name, approver_roles, sla_minutes, is_default)
       select gen_random_uuid(), $1::uuid, 'wf' || i, 'Workflow ' || i, '{team_lead,manager}', 60, i = 1 from generate_series(1, 3) i`,
    `insert into tenant_settings (tenant_id, brand_voice, policies, sla) values ($1::uuid, 'friendly', 'Be nice', '{"firstResponseMinutes": 60}')`,
    `insert into model_configs (tenant_id, mode, provider, model) values ($1::uuid, 'platform', 'platform', 'platform-default')`,
    `insert into drafting_profiles (tenant_id, version, changed_at, company_name, brand_voice, policies, model_mode, model_provider, model_name)
       values ($1::uuid, 1, now(), 'Bench Co', 'friendly', '{be nice}', 'platform', 'platform', 'platform-default')`,
    `insert into kb_documents (id, tenant_id, title, content, bytes, status, sha256)
       select gen_random_uuid(), $1::uuid, 'Doc ' || i, repeat(md5(i::text), 30), 960, 'indexed', encode(sha256(i::text::bytea), 'hex')
         from generate_series(1, ${n(500)}) i`,
    `insert into mail_outbox (id, tenant_id, to_enc, subject, body, kind, sent_at)
       select gen_random_uuid(), $1::uuid, 'v1.' || md5(random()::text), 'Welcome', repeat('x', 200), 'invitation', now() from generate_series(1, ${n(1000)}) i`,
    `insert into tickets (id, tenant_id, channel, customer_name_enc, customer_email_enc, subject_enc, body_enc, status, received_at)
       select gen_random_uuid(), $1::uuid, 'api', 'v1.' || md5(random()::text), 'v1.' || md5(random()::text), 'v1.' || md5(random()::text),
              'v1.' || repeat(md5(random()::text), 4), 'pending', now() - make_interval(secs => i)
         from generate_series(1, ${n(10000)}) i`,
    `insert into drafts (id, tenant_id, ticket_id, attempt, status, body_enc, citations, model, prompt_tokens, completion_tokens)
       select gen_random_uuid(), $1::uuid, id, 1, 'pending', 'v1.' || repeat(md5(id::text), 6), '[{"chunk":"c1","score":0.8}]', 'extractive', 500, 120
         from tickets where tenant_id = $1::uuid`,
    `insert into audit_log (id, tenant_id, seq, event_id, event_type, actor_id, occurred_at, recorded_at, payload, prev_hash, hash)
       select gen_random_uuid(), $1::uuid, i, gen_random_uuid(), 'ticket.received', 'user:bench', now(), now(),
              jsonb_build_object('ticketId', gen_random_uuid(), 'n', i), md5((i - 1)::text) || md5('p'), md5(i::text) || md5('h')
         from generate_series(1, ${n(30000)}) i`,
    `insert into audit_heads (tenant_id, seq, hash) values ($1::uuid, ${n(30000)}, 'head')`,
    `insert into outbox (id, tenant_id, topic, key, type, version, envelope, published_at)
       select gen_random_uuid(), $1::uuid, 'hotdash.audit', $1::uuid::text, 'audit.recorded', 1,
              jsonb_build_object('id', gen_random_uuid(), 'type', 'audit.recorded', 'tenantId', $1::uuid, 'payload', jsonb_build_object('n', i, 'pad', repeat('y', 200))), now()
         from generate_series(1, ${n(20000)}) i`,
    `insert into inbox (tenant_id, consumer, event_id)
       select $1::uuid, (array['audit','quota','drafts','ai-drafting'])[1 + i % 4], gen_random_uuid() from generate_series(1, ${n(15719)}) i`,
    `insert into usage_daily (tenant_id, day, metric, amount)
       select $1::uuid, current_date - d, m, d * 10 from generate_series(0, ${n(250)} - 1) d, unnest(array['tickets','model_tokens','api_calls','storage_bytes']) m`,
    `insert into quota_counters (tenant_id, metric, period_start, used)
       select $1::uuid, m, (date_trunc('month', current_date) - make_interval(months => p))::date, p from generate_series(0, 11) p, unnest(array['tickets','storage_bytes']) m`,
    `insert into quota_reservations (id, tenant_id, metric, period_start, amount, status, expires_at)
       select gen_random_uuid(), $1::uuid, 'tickets', date_trunc('month', current_date)::date, 1, 'committed', now() + interval '1 hour' from generate_series(1, ${n(5000)}) i`,
  ];
}

/** Seeds a tenant as the superuser (one transaction); returns its row count. */
async function seed(world: TestWorld, shard: ShardInfo, tenantId: TenantId, k: number): Promise<number> {
  const su = await world.connectSuperuser(shard.database);
  try {
    await su.query('begin');
    for (const s of seedStatements(k)) await su.query(s, [tenantId]);
    await su.query('commit');
    return await tenantRowCount(su, tenantId);
  } finally {
    await su.end();
  }
}

async function tenantTables(c: Client): Promise<string[]> {
  const { rows } = await c.query<{ t: string }>(
    `select c.relname as t from pg_class c join pg_namespace n on n.oid = c.relnamespace
       join pg_attribute a on a.attrelid = c.oid and a.attname = 'tenant_id' and not a.attisdropped
      where n.nspname = 'public' and c.relkind = 'r' and c.relname not in ('tenant_fences', 'tenant_move_markers') order by 1`,
  );
  return rows.map((r) => r.t);
}

async function tenantRowCount(c: Client, tenantId: string): Promise<number> {
  let total = 0;
  for (const t of await tenantTables(c)) total += Number((await c.query(`select count(*)::bigint as n from ${c.escapeIdentifier(t)} where tenant_id = $1`, [tenantId])).rows[0].n);
  return total;
}

// ------------------------------------------------------------------------------------------ cleanup

/**
 * Removes every `bench-move …` tenant: the replication objects of its moves (when a run stopped in
 * the middle of one), its rows on every shard (erase_tenant, fences and markers included), then its
 * control records.
 */
async function cleanup(world: TestWorld, mover: TenantMover): Promise<number> {
  const control = await world.connectSuperuser(world.config.db.controlDatabase);
  try {
    await control.query('delete from ops_actions where actor = $1', [ACTOR]);
    const ids = (await control.query<{ id: string }>(`select id from tenants where name like $1`, [`${NAME_PREFIX}%`])).rows.map((r) => r.id);
    if (ids.length === 0) return 0;
    const moves = await control.query<{ input: TenantMoveInput; oid: string | null }>(`select input, state->'subscribe'->>'subscriptionOid' as oid from sagas where type = $1 and tenant_id = any($2::uuid[])`, [TENANT_MOVE_SAGA, ids]);
    const shards = await world.shards();
    for (const { input, oid } of moves.rows) {
      const byId = (id: string) => shards.find((s) => s.id === id);
      const source = byId(input.source.id);
      const target = byId(input.target.id);
      if (!source || !target) continue;
      const m: TenantMove = { moveId: input.moveId, tenantId: parseTenantId(input.tenantId), source, target };
      await mover.dropReplication(m, oid ?? undefined).catch((err: Error) => console.warn(`cleanup: replication of move ${m.moveId}: ${err.message}`));
    }
    // The shards the bench's tenants may have rows on: where they are placed, the moves' sources and
    // targets, and the bench's two shards (other sessions register and drop shards of their own).
    const placed = (await control.query<{ shard_id: string }>('select distinct shard_id from tenant_placements where tenant_id = any($1::uuid[])', [ids])).rows.map((r) => r.shard_id);
    const touched = new Set([...placed, ...moves.rows.flatMap(({ input }) => [input.source.id, input.target.id])]);
    for (const shard of shards.filter((s) => touched.has(s.id) || s.name === SOURCE || s.name === TARGET)) {
      const su = await world.connectSuperuser(shard.database).catch((err: Error) => console.warn(`cleanup: shard ${shard.name}: ${err.message}`));
      if (!su) continue;
      try {
        for (const id of ids) await su.query('select count(*) from erase_tenant($1::uuid)', [id]);
        await su.query('delete from tenant_fences where tenant_id = any($1::uuid[])', [ids]);
      } finally {
        await su.end();
      }
    }
    await control.query('begin');
    for (const table of ['sagas', 'tenant_keys', 'tenant_placements', 'offboarding_records', 'tenant_archive_runs', 'outbox']) await control.query(`delete from ${table} where tenant_id = any($1::uuid[])`, [ids]);
    await control.query('delete from tenants where id = any($1::uuid[])', [ids]);
    await control.query('commit');
    return ids.length;
  } finally {
    await control.end();
  }
}

/** The bench's BullMQ queues (`bench-move-*`, this run's and an interrupted run's), obliterated. */
async function removeQueues(world: TestWorld): Promise<number> {
  const redis = new Redis({ host: world.config.redis.host, port: world.config.redis.port, maxRetriesPerRequest: 2 });
  const names = new Set<string>();
  try {
    for await (const batch of redis.scanStream({ match: 'bull:bench-move-*', count: 1000 })) for (const k of batch as string[]) names.add(k.split(':')[1]!);
  } finally {
    redis.disconnect();
  }
  for (const name of names) {
    const q = new Queue(name, { connection: redisConnection(world.config) });
    await q.obliterate({ force: true });
    await q.close();
  }
  return names.size;
}

// ------------------------------------------------------------------------------------------ the load

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
function pick(): Op {
  let r = Math.random() * 100;
  for (const [op, w] of MIX) if ((r -= w) < 0) return op;
  return 'inbox';
}

interface Sample {
  at: number;
  ms: number;
  ok: boolean;
}

/** What the moving tenant committed (recorded after each commit: a re-routed transaction's first try leaves nothing). */
const committed = {
  tickets: [] as string[],
  ticketUpdates: new Map<string, number>(),
  drafts: [] as string[],
  inbox: [] as string[],
  events: [] as string[],
  audit: 0,
  tokens: 0,
  deletedDocuments: [] as string[],
  usage: 0,
};
const draftAttempts = new Map<string, number>();
/** When each try of a write's transaction began (a re-routed write tries again), and when a shard refused the tenant (the router told of a fence). */
const attempts: number[] = [];
const refusals: number[] = [];
/** Per committed event: when its transaction's last try began and when it committed (`now()` ms). */
const eventTimes = new Map<string, [number, number]>();
/** What the relay stand-ins published, in the order they did (`now()` ms, shard, event id). */
const published: { at: number; shard: string; id: string }[] = [];
const writes: (Sample & { op: Op; shard: string })[] = [];
const writeErrors: string[] = [];
const ownReads: Sample[] = [];
const readErrors: string[] = [];
const otherReads: Record<string, Sample[]> = {};
let stopping = false;
/** The relay stand-ins stop after the load, once they published what it committed. */
let relaysStopping = false;
const relayErrors: string[] = [];

async function writeOnce(world: TestWorld, t: TenantId, op: Op, tokenIds: string[], documentIds: string[]): Promise<string> {
  let effect: (() => void) | undefined;
  let began = 0;
  const shard = await world.tenantDb.withTenant(t, async (tx, s) => {
    effect = undefined;
    began = now();
    attempts.push(began);
    switch (op) {
      case 'ticket': {
        const id = newId();
        await tx.db
          .insertInto('tickets')
          .values({ id, tenant_id: t, channel: 'api', customer_name_enc: 'v1.n', customer_email_enc: 'v1.e', body_enc: `v1.${'b'.repeat(120)}`, status: 'drafting', received_at: sql<Date>`now()` })
          .execute();
        const e = await publishInTx(
          tx,
          AuditEvents.RECORDED,
          { entryId: randomUUID(), seq: 1, sourceEventId: randomUUID(), sourceEventType: 'ticket.received', hash: 'a'.repeat(64) },
          { tenantId: t, producer: 'bench-move', correlationId: id },
        );
        effect = () => {
          committed.tickets.push(id);
          committed.events.push(e.id);
          eventTimes.set(e.id, [began, now()]);
        };
        break;
      }
      case 'ticket-update': {
        const id = committed.tickets[Math.floor(Math.random() * committed.tickets.length)];
        if (!id) break;
        const r = await tx.db.updateTable('tickets').set({ attempt: sql<number>`attempt + 1`, status: 'pending', updated_at: sql<Date>`now()` }).where('id', '=', id).executeTakeFirst();
        if (r.numUpdatedRows !== 1n) throw new Error(`ticket ${id} missing on shard ${s.name}`);
        effect = () => committed.ticketUpdates.set(id, (committed.ticketUpdates.get(id) ?? 0) + 1);
        break;
      }
      case 'draft': {
        const ticket = committed.tickets[Math.floor(Math.random() * committed.tickets.length)];
        if (!ticket) break;
        const attempt = (draftAttempts.get(ticket) ?? 0) + 1;
        draftAttempts.set(ticket, attempt);
        const id = newId();
        await tx.db.insertInto('drafts').values({ id, tenant_id: t, ticket_id: ticket, attempt, status: 'pending', body_enc: `v1.${'d'.repeat(200)}` }).execute();
        effect = () => committed.drafts.push(id);
        break;
      }
      case 'inbox': {
        const ev = newId();
        await tx.db.insertInto('inbox').values({ tenant_id: t, consumer: 'bench-move', event_id: ev }).execute();
        effect = () => committed.inbox.push(ev);
        break;
      }
      case 'audit': {
        await sql`select pg_advisory_xact_lock(hashtextextended(${`audit:${t}`}, 0))`.execute(tx.db);
        const head = await tx.db.selectFrom('audit_heads').select(['seq']).executeTakeFirstOrThrow();
        const seq = (BigInt(head.seq) + 1n).toString();
        await tx.db
          .insertInto('audit_log')
          .values({ id: newId(), tenant_id: t, seq, event_id: newId(), event_type: 'bench', actor_id: 'user:bench', occurred_at: sql<Date>`now()`, recorded_at: sql<Date>`now()`, payload: JSON.stringify({ n: seq }), prev_hash: 'p', hash: `h${seq}` })
          .execute();
        await tx.db.updateTable('audit_heads').set({ seq, hash: `h${seq}`, updated_at: sql<Date>`now()` }).execute();
        effect = () => committed.audit++;
        break;
      }
      case 'token': {
        const id = tokenIds[Math.floor(Math.random() * tokenIds.length)]!;
        await tx.db.updateTable('refresh_tokens').set({ used_at: sql<Date>`now()`, status: 'rotated' }).where('id', '=', id).execute();
        effect = () => committed.tokens++;
        break;
      }
      case 'document-delete': {
        const id = documentIds.pop();
        if (!id) break;
        const r = await tx.db.deleteFrom('kb_documents').where('id', '=', id).executeTakeFirst();
        if (r.numDeletedRows !== 1n) throw new Error(`document ${id} missing on shard ${s.name}`);
        effect = () => committed.deletedDocuments.push(id);
        break;
      }
      case 'usage': {
        await tx.db
          .insertInto('usage_daily')
          .values({ tenant_id: t, day: sql<Date>`current_date + 400`, metric: 'api_calls', amount: '1' })
          .onConflict((oc) => oc.columns(['tenant_id', 'day', 'metric']).doUpdateSet({ amount: sql<string>`usage_daily.amount + 1` }))
          .execute();
        effect = () => committed.usage++;
        break;
      }
    }
    return s.name;
  });
  effect?.();
  return shard;
}

/** ~RATE operations a second, open loop: operation i is due at i / RATE s; its wait is measured from then. */
async function writer(world: TestWorld, t: TenantId, tokenIds: string[], documentIds: string[]): Promise<void> {
  const interval = 1000 / RATE;
  const start = now();
  const inFlight = new Set<Promise<void>>();
  for (let i = 0; !stopping; i++) {
    const due = start + i * interval;
    if (due > now()) await sleep(due - now());
    if (stopping) break;
    const op = pick();
    const p = (async () => {
      try {
        const shard = await writeOnce(world, t, op, tokenIds, documentIds);
        writes.push({ at: due, ms: now() - due, ok: true, op, shard });
      } catch (err) {
        writes.push({ at: due, ms: now() - due, ok: false, op, shard: '?' });
        if (writeErrors.length < 20) writeErrors.push(`${op}: ${(err as Error).message}`);
      }
    })();
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
  }
  await Promise.all(inFlight);
}

const readAudit = (world: TestWorld, t: TenantId) =>
  world.tenantDb.withTenant(t, (tx) =>
    tx.db.selectFrom('audit_log').select(['id', 'tenant_id', 'seq', 'event_id', 'event_type', 'actor_id', 'occurred_at', 'recorded_at', 'payload', 'prev_hash', 'hash']).orderBy('seq', 'desc').limit(20).execute(),
  );

async function reader(world: TestWorld, tenants: TenantId[], sink: Sample[], pauseMs: number): Promise<void> {
  while (!stopping) {
    const t = tenants[Math.floor(Math.random() * tenants.length)]!;
    const s = now();
    try {
      const rows = await readAudit(world, t);
      if (rows.length !== 20) throw new Error(`read ${rows.length} audit entries of tenant ${t}, expected 20`);
      sink.push({ at: s, ms: now() - s, ok: true });
    } catch (err) {
      sink.push({ at: s, ms: now() - s, ok: false });
      if (readErrors.length < 20) readErrors.push(`${t}: ${(err as Error).message}`);
    }
    if (pauseMs) await sleep(pauseMs);
  }
}

/**
 * A relay stand-in for the moving tenant on one shard: as the relay role, the tenant's unpublished
 * events in seq order (`for update skip locked`, as the relay takes them), "published" by recording
 * their ids and setting published_at, every 20 ms. Only this tenant's rows (the shards are shared
 * with other sessions' work: their events are not touched) and without the relay's drain lock (a
 * real relay running on the shard would otherwise find it taken); the cut-over's row locks on the
 * queue keep the two from racing. It keeps the tenant's pending events as few as a running relay
 * would, so the cut-over moves what it would move in production.
 */
async function relayStandIn(world: TestWorld, shard: ShardInfo, t: TenantId): Promise<void> {
  let c: Client | undefined;
  while (!relaysStopping) {
    try {
      c ??= await world.connect(shard, 'relay');
      await c.query('begin');
      const { rows } = await c.query<{ id: string }>('select id from outbox where tenant_id = $1 and published_at is null and failed_at is null order by seq limit 500 for update skip locked', [t]);
      if (rows.length) {
        await c.query('update outbox set published_at = now() where id = any($1::uuid[])', [rows.map((r) => r.id)]);
        await c.query('commit');
        const at = now();
        for (const r of rows) published.push({ at, shard: shard.name, id: r.id });
      } else await c.query('commit');
    } catch (err) {
      if (relayErrors.length < 20) relayErrors.push(`relay stand-in ${shard.name}: ${(err as Error).message}`);
      await c?.end().catch(() => undefined);
      c = undefined;
    }
    await sleep(20);
  }
  await c?.end().catch(() => undefined);
}

/**
 * Events: each committed one published exactly once (by the stand-ins, over both shards), and none
 * published before an event whose transaction committed before its own began (per-tenant order,
 * across the move).
 */
function checkEvents(): string[] {
  const problems: string[] = [];
  const seen = new Map<string, number>();
  for (const p of published) seen.set(p.id, (seen.get(p.id) ?? 0) + 1);
  const twice = [...seen.values()].filter((n) => n > 1).length;
  const lost = committed.events.filter((id) => !seen.has(id)).length;
  if (twice) problems.push(`events: ${twice} published twice`);
  if (lost) problems.push(`events: ${lost} committed but never published`);
  const byCommit = [...eventTimes.entries()].sort((a, b) => a[1][1] - b[1][1]);
  const done = new Set<string>();
  let k = 0;
  let outOfOrder = 0;
  for (const p of published) {
    done.add(p.id);
    const began = eventTimes.get(p.id)?.[0];
    if (began === undefined) continue;
    while (k < byCommit.length && done.has(byCommit[k]![0])) k++;
    // The earliest-committed event not yet published: did it commit before this one began?
    if (k < byCommit.length && byCommit[k]![1][1] < began) outOfOrder++;
  }
  if (outOfOrder) problems.push(`events: ${outOfOrder} published ahead of an event that committed before they began`);
  return problems;
}

// ------------------------------------------------------------------------------------------ report

const pct = (xs: number[], p: number) => (xs.length ? [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil((p / 100) * xs.length) - 1)]! : NaN);
const f1 = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : '–');
const inWindow = <T extends Sample>(xs: T[], [a, b]: [number, number]) => xs.filter((x) => x.at >= a && x.at < b);

function windowRow(label: string, xs: Sample[]): string {
  const ok = xs.filter((x) => x.ok).map((x) => x.ms);
  return `| ${label} | ${xs.length} | ${xs.length - ok.length} | ${f1(pct(ok, 50))} | ${f1(pct(ok, 99))} | ${f1(Math.max(...ok))} |`;
}

// ------------------------------------------------------------------------------------------ verify

async function verify(world: TestWorld, mover: TenantMover, t: TenantId, source: ShardInfo, target: ShardInfo, seededAudit: number): Promise<string[]> {
  const problems: string[] = [];
  const placement = await world.router.placementOf(t);
  if (placement.shard.id !== target.id) problems.push(`placement: on ${placement.shard.name}, expected ${target.name}`);
  const db = await world.connectSuperuser(target.database);
  try {
    const present = async (table: string, col: string, ids: string[]) => {
      const { rows } = await db.query<{ n: number }>(`select count(*)::int as n from ${table} where tenant_id = $1 and ${col} = any($2::uuid[])`, [t, ids]);
      if (rows[0]!.n !== ids.length) problems.push(`${table}: ${rows[0]!.n} of ${ids.length} committed rows on the target`);
    };
    await present('tickets', 'id', committed.tickets);
    await present('drafts', 'id', committed.drafts);
    await present('inbox', 'event_id', committed.inbox);
    await present('outbox', 'id', committed.events);
    const updated = [...committed.ticketUpdates.entries()];
    const { rows: att } = await db.query<{ id: string; attempt: number }>('select id, attempt from tickets where tenant_id = $1 and id = any($2::uuid[])', [t, updated.map(([id]) => id)]);
    const wrong = att.filter((r) => r.attempt !== 1 + committed.ticketUpdates.get(r.id)!);
    if (wrong.length) problems.push(`tickets: ${wrong.length} with an update lost or applied twice`);
    const { rows: docs } = await db.query<{ n: number }>('select count(*)::int as n from kb_documents where tenant_id = $1 and id = any($2::uuid[])', [t, committed.deletedDocuments]);
    if (docs[0]!.n) problems.push(`kb_documents: ${docs[0]!.n} deleted rows are back`);
    const { rows: audit } = await db.query<{ n: number; m: number }>('select count(*)::int as n, max(seq)::int as m from audit_log where tenant_id = $1', [t]);
    const { rows: head } = await db.query<{ s: number }>('select seq::int as s from audit_heads where tenant_id = $1', [t]);
    const expected = seededAudit + committed.audit;
    if (audit[0]!.n !== expected || audit[0]!.m !== expected || head[0]?.s !== expected) problems.push(`audit: ${audit[0]!.n} entries, max seq ${audit[0]!.m}, head ${head[0]?.s}; expected ${expected}`);
    const { rows: usage } = await db.query<{ a: number }>(`select amount::int as a from usage_daily where tenant_id = $1 and day = current_date + 400 and metric = 'api_calls'`, [t]);
    if ((usage[0]?.a ?? 0) !== committed.usage) problems.push(`usage: counter ${usage[0]?.a ?? 0}, ${committed.usage} increments committed`);
  } finally {
    await db.end();
  }
  const left = await mover.tenantRowsOn(source, t);
  if (left.length) problems.push(`source ${source.name} still holds rows of the tenant in ${left.join(', ')}`);
  return problems;
}

// ------------------------------------------------------------------------------------------ main

/** The saga's engine: the tenant-move saga on the bench's own queue. */
function moveEngine(ops: TestWorld, mover: TenantMover, queueName: string): SagaEngine {
  return new SagaEngine(ops.dbs, ops.config, { queueName, log: (m) => console.warn(m) }).register(tenantMoveSaga({ mover, control: ops.control, tenantDb: ops.tenantDb, router: ops.router }));
}

/** Worker mode (BENCH_MOVE_WORKER_QUEUE set): this file as the provisioning service's saga worker, in a process of its own. */
async function sagaWorker(queueName: string): Promise<void> {
  const ops = new TestWorld();
  const engine = moveEngine(ops, new TenantMover(ops.config), queueName);
  engine.startWorker();
  console.log('saga worker ready');
  await new Promise<void>((resolve) => process.once('SIGTERM', () => resolve()));
  await engine.close();
  await ops.close();
}

async function main(): Promise<void> {
  loadLog.push(loads('start: load average'));
  // The load's process (every tenant's transactions, this one) and the saga worker's (the
  // provisioning service's role: a child process unless BENCH_SAGA_IN_PROCESS=1).
  const world = new TestWorld();
  const ops = new TestWorld();
  const mover = new TenantMover(ops.config);
  const queueName = `bench-move-${newId()}`;
  const engine = moveEngine(ops, mover, queueName);
  const handler = new MoveTenantHandler(engine, ops.control, new ShardsRepository(), new TenantArchiveRunsRepository(), mover);
  let worker: ServiceProcess | undefined;

  const removed = await cleanup(world, mover);
  const queues = await removeQueues(world);
  if (removed || queues) console.log(`removed ${removed} bench-move tenants and ${queues} queues left by an earlier run`);

  const shards = await world.shards();
  const source = shards.find((s) => s.name === SOURCE);
  const target = shards.find((s) => s.name === TARGET);
  if (!source || !target) throw new Error(`shards ${SOURCE} and ${TARGET} must be registered (have: ${shards.map((s) => s.name).join(', ')})`);

  try {
    // The moving tenant and the others, seeded.
    const moving = await world.createTenant(`${NAME_PREFIX}moving`, source);
    const t = moving.id;
    let s0 = now();
    const rows = await seed(world, source, t, ROWS / 100_000);
    console.log(`tenant ${t} seeded on ${source.name}: ${rows.toLocaleString('en-US')} rows in ${((now() - s0) / 1000).toFixed(1)} s`);
    const seededAudit = Math.max(1, Math.round(30_000 * (ROWS / 100_000)));
    const others: Record<string, TenantId[]> = { [source.name]: [], [target.name]: [] };
    s0 = now();
    for (const shard of [source, target]) {
      for (let i = 0; i < OTHERS; i++) {
        const o = await world.createTenant(`${NAME_PREFIX}other ${shard.name} ${i}`, shard);
        await seed(world, shard, o.id, OTHER_SCALE);
        others[shard.name]!.push(o.id);
      }
    }
    console.log(`${OTHERS} other tenants on each of ${source.name} and ${target.name}, ${Math.round(OTHER_SCALE * 100_000)} rows each, seeded in ${((now() - s0) / 1000).toFixed(1)} s`);
    for (const shard of [source, target]) {
      const su = await world.connectSuperuser(shard.database);
      await su.query('analyze');
      await su.end();
    }
    const su = await world.connectSuperuser(source.database);
    const tokenIds = (await su.query<{ id: string }>('select id from refresh_tokens where tenant_id = $1 limit 500', [t])).rows.map((r) => r.id);
    const documentIds = (await su.query<{ id: string }>('select id from kb_documents where tenant_id = $1', [t])).rows.map((r) => r.id);
    await su.end();

    // Counts the refusals the load's transactions meet (each re-routes them).
    const fenced = world.router.fenced.bind(world.router);
    world.router.fenced = (...args: Parameters<typeof fenced>) => {
      refusals.push(now());
      return fenced(...args);
    };
    if (SAGA_IN_PROCESS) engine.startWorker();
    else {
      worker = startProcess('bench/tenant-move.bench.ts', { BENCH_MOVE_WORKER_QUEUE: queueName });
      const ready = now() + 60_000;
      while (!worker.output().includes('saga worker ready')) {
        if (now() > ready || worker.child.exitCode !== null) throw new Error(`the saga worker did not start:\n${worker.output()}`);
        await sleep(50);
      }
    }
    // The load starts; the other tenants' readers record per shard.
    const relays = [relayStandIn(world, source, t), relayStandIn(world, target, t)];
    const loops: Promise<void>[] = [writer(world, t, tokenIds, documentIds), reader(world, [t], ownReads, 2)];
    for (const shard of [source, target]) {
      const sink = (otherReads[shard.name] = []);
      for (let i = 0; i < OTHER_READERS; i++) loops.push(reader(world, others[shard.name]!, sink, 2));
    }
    console.log(`load: ${RATE} writes/s open loop + continuous reads on ${t}; ${OTHER_READERS} readers of the other tenants per shard; warm-up ${WARMUP_S} s, before-window ${BEFORE_S} s`);
    await sleep(WARMUP_S * 1000);
    const before: [number, number] = [now(), now() + BEFORE_S * 1000];
    await sleep(BEFORE_S * 1000);

    // The move, through the use-case and the saga.
    loadLog.push(loads('move start: load average'));
    const moveStart = now();
    const started = await handler.start(t, { shard: target.name }, ACTOR);
    if ('dryRun' in started) throw new Error('unexpected dry run');
    console.log(`move ${started.id}: ${source.name} → ${target.name} started`);
    let run: TenantMoveRun = started;
    let lastPhase: string | null = null;
    for (;;) {
      run = await handler.run(t, started.id);
      if (run.phase !== lastPhase) {
        lastPhase = run.phase;
        if (run.phase) console.log(`  ${((now() - moveStart) / 1000).toFixed(1)} s: ${run.phase}`);
      }
      if (['succeeded', 'rolled-back', 'failed'].includes(run.status)) break;
      await sleep(100);
    }
    const moveEnd = now();
    loadLog.push(loads('move end: load average'));
    const during: [number, number] = [moveStart, moveEnd];
    const afterLen = Math.min(moveEnd - moveStart, AFTER_MAX_S * 1000);
    const after: [number, number] = [moveEnd, moveEnd + afterLen];
    console.log(`move ${run.status} in ${((moveEnd - moveStart) / 1000).toFixed(1)} s; after-window ${(afterLen / 1000).toFixed(1)} s of the same load`);
    await sleep(afterLen);
    stopping = true;
    await Promise.all(loops);
    // The stand-ins publish what the last writes committed, then stop.
    const drained = now() + 10_000;
    const unpublished = () => {
      const ids = new Set(published.map((p) => p.id));
      return committed.events.some((id) => !ids.has(id));
    };
    while (now() < drained && unpublished()) await sleep(50);
    relaysStopping = true;
    await Promise.all(relays);
    loadLog.push(loads('end: load average'));

    // ---------------------------------------------------------------------------------- report
    console.log(`\nmove of a ${rows.toLocaleString('en-US')}-row tenant ${source.name} → ${target.name}: ${run.status}${run.error ? ` (${run.error})` : ''}`);
    console.log(`total ${((moveEnd - moveStart) / 1000).toFixed(2)} s (start call → run reported succeeded, polled every 100 ms)\n`);
    console.log('| step | took (ms) | detail |');
    console.log('|---|---:|---|');
    for (const s of run.steps) {
      const took = s.startedAt && s.completedAt ? new Date(s.completedAt).getTime() - new Date(s.startedAt).getTime() : NaN;
      console.log(`| ${s.id} | ${Number.isFinite(took) ? took : '–'} | ${JSON.stringify(s.detail ?? null)} |`);
    }
    const cut = run.steps.find((s) => s.id === 'cut-over');
    const cutAt = cut?.startedAt ? new Date(cut.startedAt).getTime() : NaN;

    const w = <T extends Sample>(xs: T[]) => ({ before: inWindow(xs, before), during: inWindow(xs, during), after: inWindow(xs, after) });
    const ww = w(writes);
    console.log('\nmoving tenant, writes (wait = due → committed) and reads (latency):\n');
    console.log('| window | operations | failed | p50 (ms) | p99 (ms) | max (ms) |');
    console.log('|---|---:|---:|---:|---:|---:|');
    for (const k of ['before', 'during', 'after'] as const) console.log(windowRow(`writes ${k}`, ww[k]));
    const rr = w(ownReads);
    for (const k of ['before', 'during', 'after'] as const) console.log(windowRow(`reads ${k}`, rr[k]));
    const longest = [...ww.during].filter((x) => x.ok).sort((a, b) => b.ms - a.ms).slice(0, 5);
    console.log(
      `\nlongest write waits during the move: ${longest.map((x) => `${x.ms.toFixed(0)} ms (${x.op}, due ${Number.isFinite(cutAt) ? `${((epochOf(x.at) - cutAt) / 1000).toFixed(2)} s after the cut-over step began` : `${((x.at - moveStart) / 1000).toFixed(1)} s into the move`})`).join('; ')}`,
    );
    const onTarget = ww.during.filter((x) => x.shard === target.name).length;
    console.log(`writes during the move committed on ${target.name}: ${onTarget} of ${ww.during.length}`);

    console.log('\nother tenants, reads per shard:\n');
    console.log('| shard, window | reads | failed | p50 (ms) | p99 (ms) | max (ms) |');
    console.log('|---|---:|---:|---:|---:|---:|');
    const ratios: string[] = [];
    for (const name of [source.name, target.name]) {
      const o = w(otherReads[name]!);
      for (const k of ['before', 'during', 'after'] as const) console.log(windowRow(`${name} ${k}`, o[k]));
      const p = (xs: Sample[]) => pct(xs.filter((x) => x.ok).map((x) => x.ms), 99);
      ratios.push(`${name}: during/after ${(p(o.during) / p(o.after)).toFixed(2)}×, during/before ${(p(o.during) / p(o.before)).toFixed(2)}×`);
    }
    console.log(`\nother tenants' read p99, during the move vs without one: ${ratios.join('; ')}`);
    // Which step of the move the other tenants' slow reads fall in (both shards).
    const all = Object.values(otherReads).flat();
    console.log('\nother tenants (both shards) by step of the move, and the moving tenant\'s writes:\n');
    console.log('| step | reads | p99 (ms) | max (ms) | writes due | write p99 (ms) | write max (ms) | write tries | refusals |');
    console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|');
    for (const s of run.steps) {
      if (!s.startedAt || !s.completedAt) continue;
      const [a, b] = [new Date(s.startedAt).getTime(), new Date(s.completedAt).getTime()];
      const within = (at: number) => epochOf(at) >= a && epochOf(at) < b;
      const of = (xs: Sample[]) => xs.filter((x) => x.ok && within(x.at)).map((x) => x.ms);
      const r = of(all);
      const wr = of(writes);
      console.log(
        `| ${s.id} | ${r.length} | ${f1(pct(r, 99))} | ${f1(Math.max(...r))} | ${wr.length} | ${f1(pct(wr, 99))} | ${f1(Math.max(...wr))} | ${attempts.filter(within).length} | ${refusals.filter(within).length} |`,
      );
    }
    console.log(`refusals (a fenced shard answering a transaction of the moving tenant, which re-routes it): ${refusals.length} in all`);

    // ---------------------------------------------------------------------------------- verify
    const problems = [...(await verify(world, mover, t, source, target, seededAudit)), ...checkEvents()];
    const failedWrites = writes.filter((x) => !x.ok).length;
    const failedReads = ownReads.filter((x) => !x.ok).length + Object.values(otherReads).reduce((n, xs) => n + xs.filter((x) => !x.ok).length, 0);
    console.log(
      `\ncommitted by the moving tenant: ${writes.length - failedWrites} writes (tickets ${committed.tickets.length}, updates ${[...committed.ticketUpdates.values()].reduce((a, b) => a + b, 0)}, drafts ${committed.drafts.length}, inbox ${committed.inbox.length}, events ${committed.events.length}, audit ${committed.audit}, token rotations ${committed.tokens}, document deletes ${committed.deletedDocuments.length}, usage ${committed.usage})`,
    );
    console.log(`failed writes ${failedWrites}, failed reads ${failedReads} (of ${ownReads.length} own and ${Object.values(otherReads).reduce((n, xs) => n + xs.length, 0)} other tenants' reads)`);
    if (writeErrors.length) console.log(`  write errors: ${writeErrors.slice(0, 5).join(' | ')}`);
    if (readErrors.length) console.log(`  read errors: ${readErrors.slice(0, 5).join(' | ')}`);
    if (relayErrors.length) console.log(`  relay stand-in errors: ${relayErrors.slice(0, 5).join(' | ')}`);
    const bySource = published.filter((p) => p.shard === source.name).length;
    console.log(`events published by the relay stand-ins: ${bySource} on ${source.name}, ${published.length - bySource} on ${target.name}`);
    console.log(
      `lost or duplicated writes: ${problems.length ? problems.join('; ') : '0 (every committed write on the target exactly once, every event published exactly once and in order; the source holds nothing of the tenant but its fence)'}`,
    );
    console.log(`\n${loadLog.join('\n')}`);
    if (run.status !== 'succeeded' || problems.length || failedWrites || failedReads) process.exitCode = 1;
  } finally {
    stopping = true;
    relaysStopping = true;
    await worker?.stop();
    await engine.close();
    if (!KEEP) {
      const n = await cleanup(world, mover);
      const q = await removeQueues(world);
      console.log(`cleanup: removed ${n} bench-move tenants (rows on every shard, fences, control records) and ${q} queue`);
    }
    await ops.close();
    await world.close();
  }
}

(process.env.BENCH_MOVE_WORKER_QUEUE ? sagaWorker(process.env.BENCH_MOVE_WORKER_QUEUE) : main()).then(
  () => setTimeout(() => process.exit(process.exitCode ?? 0), 1_000).unref(),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
