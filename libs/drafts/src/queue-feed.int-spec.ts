// The queue's live changes against the real shards (queue-feed.ts, tenant migration
// 20261220100000_queue_changes): each subscriber hears the changes of the tickets of its own queue
// only (operators their own, a team lead the team's, managers and admins all), as ids and kinds
// (never ticket text); another tenant's subscriber hears nothing of them (the attacker's side:
// tenant B listens while A works); an operator whose ticket is taken away hears `unassigned`; an
// SLA breach is `sla-breached`; a transaction over 100 tickets is one `resync`; the listener's
// connection killed and back is a `resync` and changes flow again; shutdown closes every stream.
import { sql } from 'kysely';
import { QueueStreamEvents, SupportFields, TenantId } from '@hotdash/contracts';
import type { Principal } from '@hotdash/platform-auth';
import { FieldCipher, LocalKms, TenantKeyring } from '@hotdash/platform-crypto';
import { newId, TenantStatusCache } from '@hotdash/platform-db';
import { addOperator, createAccount, problemOf, TestAccount, TestWorld, waitFor } from '@hotdash/testing';
import { QueueFeed, QueueSink } from './queue-feed';
import { TicketsService } from './tickets.service';

jest.setTimeout(60_000);

const world = new TestWorld();
const cipher = new FieldCipher(new TenantKeyring(world.dbs, LocalKms.fromEnv()));
const tickets = new TicketsService(world.tenantDb, cipher, new TenantStatusCache(world.dbs));
const feed = new QueueFeed(world.tenantDb, world.dbs, { heartbeatMs: 60_000, batchMs: 10 });

interface Recorded extends QueueSink {
  frames: { event: string; data: Record<string, unknown> }[];
  closed: string[];
  changes(): { ticketId: string; kind: string }[];
  count(event: string): number;
}

function recorder(): Recorded {
  const r: Recorded = {
    frames: [],
    closed: [],
    send: (event, data) => void r.frames.push({ event, data: data as Record<string, unknown> }),
    heartbeat: () => undefined,
    close: (reason) => void r.closed.push(reason),
    changes: () => r.frames.filter((f) => f.event === QueueStreamEvents.CHANGE).map((f) => f.data as { ticketId: string; kind: string }),
    count: (event) => r.frames.filter((f) => f.event === event).length,
  };
  return r;
}

const as = (acc: TestAccount, role: Principal['role']): Principal => ({ kind: 'user', tenantId: acc.tenantId, subject: acc.userId, role, sessionId: newId(), scopes: ['*'], issuedAt: Date.now(), tokenId: newId() });
const has = (r: Recorded, ticketId: string, kind: string) => r.changes().some((c) => c.ticketId === ticketId && c.kind === kind);
const about = (r: Recorded, ticketId: string) => r.changes().filter((c) => c.ticketId === ticketId);
const ticketBody = (n: number) => ({ customer: { name: `Queue Customer ${n}`, email: `queue${n}@customer.test` }, subject: `Queue subject ${n}`, body: `Queue message body ${n}` });

let admin: TestAccount;
let red1: TestAccount;
let red2: TestAccount;
let lead: TestAccount;
let other: TestAccount;
const sinks: Record<'admin' | 'red1' | 'red2' | 'lead' | 'other', Recorded> = { admin: recorder(), red1: recorder(), red2: recorder(), lead: recorder(), other: recorder() };
const ends: (() => void)[] = [];

beforeAll(async () => {
  admin = await createAccount(world, 'admin');
  red1 = await addOperator(world, admin, 'operator', 'red');
  red2 = await addOperator(world, admin, 'operator', 'red');
  lead = await addOperator(world, admin, 'team_lead', 'red');
  other = await createAccount(world, 'admin');
  ends.push(await feed.subscribe(as(admin, 'admin'), sinks.admin));
  ends.push(await feed.subscribe(as(red1, 'operator'), sinks.red1));
  ends.push(await feed.subscribe(as(red2, 'operator'), sinks.red2));
  ends.push(await feed.subscribe(as(lead, 'team_lead'), sinks.lead));
  ends.push(await feed.subscribe(as(other, 'admin'), sinks.other));
  await waitFor('every stream ready', async () => Object.values(sinks).every((s) => s.count(QueueStreamEvents.READY) === 1));
});

afterAll(async () => {
  for (const end of ends) end();
  await feed.beforeApplicationShutdown();
  await world.close();
});

it("tells each caller about the tickets of its own queue only, as ids and kinds; another tenant's listener hears nothing of them", async () => {
  const t = (await tickets.create(as(admin, 'admin'), ticketBody(1))).ticket;
  const owner = t.assigneeId === red1.userId ? 'red1' : 'red2';
  const notOwner = owner === 'red1' ? 'red2' : 'red1';
  for (const who of ['admin', 'lead', owner] as const) await waitFor(`${who} told of the new ticket`, async () => has(sinks[who], t.id, 'created'));

  // Its draft arrives (as ai-drafting's event is applied): draft-ready for those who see it.
  const bodyEnc = await cipher.encrypt(admin.tenantId, SupportFields.DRAFT_BODY, 'Queue draft text');
  await world.tenantDb.withTenant(admin.tenantId, (tx) =>
    tickets.onGenerated(tx, { tenantId: admin.tenantId, ticketId: t.id, draftId: newId(), attempt: 1, bodyEnc, citations: [], model: 'offline-extractive-1', usage: { promptTokens: 0, completionTokens: 0 } }),
  );
  for (const who of ['admin', 'lead', owner] as const) await waitFor(`${who} told of the draft`, async () => has(sinks[who], t.id, 'draft-ready'));

  // Barriers: a ticket given to the other operator, one in tenant B. Changes reach a tenant's
  // listeners in commit order, so once a barrier is heard, anything earlier would have been.
  const barrier = (await tickets.create(as(admin, 'admin'), ticketBody(2))).ticket;
  const notOwnerAccount = notOwner === 'red1' ? red1 : red2;
  if (barrier.assigneeId !== notOwnerAccount.userId) await tickets.assign(as(admin, 'admin'), barrier.id, { assigneeId: notOwnerAccount.userId });
  await waitFor(`${notOwner} told of its own ticket`, async () => about(sinks[notOwner], barrier.id).length > 0);
  const foreign = (await tickets.create(as(other, 'admin'), ticketBody(3))).ticket;
  await waitFor('tenant B told of its own ticket', async () => has(sinks.other, foreign.id, 'created'));
  await waitFor('tenant A’s admin told of the barrier', async () => about(sinks.admin, barrier.id).length > 0);

  expect(about(sinks[notOwner], t.id)).toEqual([]);
  // Tenant B's listener: its own ticket, nothing of A's; A's listeners nothing of B's.
  expect(new Set(sinks.other.changes().map((c) => c.ticketId))).toEqual(new Set([foreign.id]));
  for (const who of ['admin', 'red1', 'red2', 'lead'] as const) expect(about(sinks[who], foreign.id)).toEqual([]);
  // Ids and kinds only: nothing a customer wrote, in any frame of any stream.
  for (const s of Object.values(sinks)) {
    for (const f of s.changes()) expect(Object.keys(f).sort()).toEqual(['kind', 'ticketId']);
    const text = JSON.stringify(s.frames);
    for (const secret of ['Queue Customer', 'queue1@customer.test', 'Queue subject', 'Queue message body', 'Queue draft text']) expect(text).not.toContain(secret);
  }
});

it('tells an operator whose ticket is given away that it left, and the new assignee that it came', async () => {
  const t = (await tickets.create(as(admin, 'admin'), ticketBody(4))).ticket;
  const [from, to] = t.assigneeId === red1.userId ? (['red1', 'red2'] as const) : (['red2', 'red1'] as const);
  await waitFor('the assignee told', async () => has(sinks[from], t.id, 'created'));
  await tickets.assign(as(admin, 'admin'), t.id, { assigneeId: (to === 'red1' ? red1 : red2).userId });
  await waitFor('the previous assignee told it left', async () => has(sinks[from], t.id, 'unassigned'));
  await waitFor('the new assignee told it came', async () => has(sinks[to], t.id, 'assigned'));
  await waitFor('the admin told', async () => has(sinks.admin, t.id, 'assigned'));
});

it('announces an SLA breach, and a transaction over 100 tickets as one resync', async () => {
  const t = (await tickets.create(as(admin, 'admin'), ticketBody(5))).ticket;
  await world.tenantDb.withTenant(admin.tenantId, (tx) =>
    tx.db.insertInto('ticket_slas').values({ tenant_id: admin.tenantId, ticket_id: t.id, workflow_key: 'standard', first_decision_minutes: 1, escalate_to_team_lead: false, due_at: new Date(Date.now() - 60_000) }).execute(),
  );
  await world.tenantDb.withTenant(admin.tenantId, (tx) => tx.db.updateTable('ticket_slas').set({ breached_at: sql<Date>`now()` }).where('ticket_id', '=', t.id).execute());
  await waitFor('the breach announced', async () => has(sinks.admin, t.id, 'sla-breached'));

  const before = { admin: sinks.admin.count(QueueStreamEvents.RESYNC), other: sinks.other.count(QueueStreamEvents.RESYNC), changes: sinks.admin.changes().length };
  const many = Array.from({ length: 101 }, (_, i) => ({
    id: newId(),
    tenant_id: admin.tenantId,
    channel: 'api',
    customer_name_enc: 'v1.x.y',
    customer_email_enc: 'v1.x.y',
    body_enc: 'v1.x.y',
    status: 'drafting' as const,
    attempt: 1,
    received_at: new Date(),
    subject_ref: i.toString(16).padStart(64, 'b'),
  }));
  await world.tenantDb.withTenant(admin.tenantId, (tx) => tx.db.insertInto('tickets').values(many).execute());
  await waitFor('one resync', async () => sinks.admin.count(QueueStreamEvents.RESYNC) === before.admin + 1);
  // Not 101 changes; and nothing for tenant B.
  const last = (await tickets.create(as(admin, 'admin'), ticketBody(6))).ticket;
  await waitFor('a later change', async () => has(sinks.admin, last.id, 'created'));
  expect(sinks.admin.changes().length).toBe(before.changes + 1);
  expect(sinks.admin.count(QueueStreamEvents.RESYNC)).toBe(before.admin + 1);
  expect(sinks.other.count(QueueStreamEvents.RESYNC)).toBe(before.other);
  // Their deletion in one statement: one more resync (heard before the next test counts).
  await world.tenantDb.withTenant(admin.tenantId, (tx) => tx.db.deleteFrom('tickets').where('id', 'in', many.map((m) => m.id)).execute());
  await waitFor('one resync for the deletion', async () => sinks.admin.count(QueueStreamEvents.RESYNC) === before.admin + 2);
});

it("tells every stream to re-read when the listener's connection was lost, and hears changes again once it is back", async () => {
  const shard = await world.tenantDb.router.shardOf(admin.tenantId as TenantId);
  const listener = feed.listenerOf(shard)!;
  const pid = listener.backendPid()!;
  const before = sinks.admin.count(QueueStreamEvents.RESYNC);
  const su = await world.connectSuperuser(shard.database);
  try {
    await su.query('select pg_terminate_backend($1)', [pid]);
  } finally {
    await su.end();
  }
  // Listening again on a new connection, and every stream told to re-read (what was sent meanwhile is lost).
  await waitFor('a resync after the reconnect', async () => sinks.admin.count(QueueStreamEvents.RESYNC) > before && sinks.red1.count(QueueStreamEvents.RESYNC) > 0, 20_000);
  expect([listener.backendPid() !== undefined, listener.backendPid() !== pid]).toEqual([true, true]);
  const t = (await tickets.create(as(admin, 'admin'), ticketBody(7))).ticket;
  await waitFor('a change after the reconnect', async () => has(sinks.admin, t.id, 'created'));
});

it('ends every stream with closed (shutdown) and takes no new one once shutting down', async () => {
  const own = new QueueFeed(world.tenantDb, world.dbs, { heartbeatMs: 60_000 });
  const a = recorder();
  const b = recorder();
  await own.subscribe(as(admin, 'admin'), a);
  await own.subscribe(as(other, 'admin'), b);
  await waitFor('both ready', async () => a.count(QueueStreamEvents.READY) === 1 && b.count(QueueStreamEvents.READY) === 1);
  await own.beforeApplicationShutdown();
  expect([a.closed, b.closed]).toEqual([['shutdown'], ['shutdown']]);
  expect(own.subscribers).toBe(0);
  expect(await problemOf(own.subscribe(as(admin, 'admin'), recorder()))).toEqual({ status: 503, code: 'shutting-down' });
});
