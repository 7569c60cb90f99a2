// The approval queue against the real shards: who sees which ticket (operators their own, team
// leads their team's, managers and admins all; another tenant nothing), the draft lifecycle and
// its events (approve, edit with the diff kept, reject then regenerate, failed then reply by hand),
// encryption of everything a customer or an operator wrote, and bad input that changes nothing.
import { sql } from 'kysely';
import { DraftEvents, OperatorEvents, SupportFields, TenantEvents, TenantId, TicketEvents } from '@hotdash/contracts';
import type { Principal } from '@hotdash/platform-auth';
import { DecryptionFailedError, FieldCipher, LocalKms, TenantKeyring } from '@hotdash/platform-crypto';
import { newId, TenantStatusCache } from '@hotdash/platform-db';
import { buildEnvelope } from '@hotdash/platform-messaging';
import { addOperator, createAccount, TestAccount, TestWorld, problemOf } from '@hotdash/testing';
import { DecisionsService } from './decisions.service';
import { DraftMetricsService } from './draft-metrics';
import { DraftsEventsHandler } from './drafts.events-handler';
import { TicketsService } from './tickets.service';

jest.setTimeout(60_000);

const world = new TestWorld();
const cipher = new FieldCipher(new TenantKeyring(world.dbs, LocalKms.fromEnv()));
const statuses = new TenantStatusCache(world.dbs);
const tickets = new TicketsService(world.tenantDb, cipher, statuses);
const decisions = new DecisionsService(world.tenantDb, cipher, statuses, tickets);
const metrics = new DraftMetricsService(world.tenantDb);
const handler = new DraftsEventsHandler(tickets);
const removed = (userId: string) => buildEnvelope(OperatorEvents.REMOVED, { tenantId: admin.tenantId, userId, by: `user:${admin.userId}` }, { tenantId: admin.tenantId, producer: 'provisioning', correlationId: newId() });
/** An operator moved between teams, as provisioning publishes it, applied as the transport does (in the tenant's transaction). */
const moveTeam = (userId: string, from: string, to: string) =>
  world.tenantDb.withTenant(admin.tenantId, (tx) =>
    handler.onOperatorTeamChanged(
      buildEnvelope(
        OperatorEvents.TEAM_CHANGED,
        { tenantId: admin.tenantId, userId, from, to, by: `user:${admin.userId}`, state: { role: 'operator', team: to, status: 'active', at: new Date().toISOString() } },
        { tenantId: admin.tenantId, producer: 'provisioning', correlationId: newId() },
      ),
      { tx } as never,
    ),
  );

const as = (acc: TestAccount, role: Principal['role']): Principal => ({
  kind: 'user',
  tenantId: acc.tenantId,
  subject: acc.userId,
  role,
  sessionId: newId(),
  scopes: ['*'],
  issuedAt: Date.now(),
  tokenId: newId(),
});

let admin: TestAccount;
let red1: TestAccount;
let red2: TestAccount;
let blue: TestAccount;
let lead: TestAccount;
let other: TestAccount;

const ticketBody = (n: number) => ({ customer: { name: `Dana Customer ${n}`, email: `dana${n}@customer.test` }, subject: `Refund ${n}`, body: `Where is my refund for order ${n}?` });

/** What ai-drafting would publish for the ticket's current attempt, applied as the event handler does. */
async function generated(tenantId: TenantId, ticketId: string, attempt: number, text: string, draftId = newId()): Promise<string> {
  const bodyEnc = await cipher.encrypt(tenantId, SupportFields.DRAFT_BODY, text);
  await world.tenantDb.withTenant(tenantId, (tx) =>
    tickets.onGenerated(tx, { tenantId, ticketId, draftId, attempt, bodyEnc, citations: [{ chunkId: newId(), documentId: 'refunds', title: 'Refunds' }], model: 'offline-extractive-1', usage: { promptTokens: 80, completionTokens: 12 } }),
  );
  return draftId;
}

type OutboxEvent = { type: string; envelope: { version: number; payload: Record<string, unknown>; causationId?: string; correlationId?: string } };
async function events(tenantId: TenantId): Promise<OutboxEvent[]> {
  return world.tenantDb.withTenant(tenantId, (tx) => tx.db.selectFrom('outbox').select(['type', 'envelope']).orderBy('seq').$castTo<OutboxEvent>().execute());
}

const problem = problemOf;

beforeAll(async () => {
  admin = await createAccount(world, 'admin');
  red1 = await addOperator(world, admin, 'operator', 'red');
  red2 = await addOperator(world, admin, 'operator', 'red');
  blue = await addOperator(world, admin, 'operator', 'blue');
  lead = await addOperator(world, admin, 'team_lead', 'red');
  other = await createAccount(world, 'admin');
});

afterAll(() => world.close());

it('answers a new ticket with what a read of it returns (built from the insert, nothing read back)', async () => {
  const own = await createAccount(world, 'admin');
  const op = await addOperator(world, own, 'operator', 'red');
  const { ticket, created } = await tickets.create(as(own, 'admin'), { ...ticketBody(99), externalId: `answer-${newId()}` });
  expect(created).toBe(true);
  expect(ticket).toEqual(await tickets.get(as(own, 'admin'), ticket.id));
  expect(ticket).toMatchObject({ status: 'drafting', attempt: 1, assigneeId: op.userId, drafts: [], reply: null, customer: { name: 'Dana Customer 99', email: 'dana99@customer.test' }, subject: 'Refund 99' });
  const again = await tickets.create(as(own, 'admin'), { ...ticketBody(99), externalId: ticket.externalId! });
  expect(again).toEqual({ ticket, created: false });
});

it('shows the operator each cited passage with its text, kept from draft.generated version 2 under the tenant’s key; a version 1 draft’s citations have none', async () => {
  const own = await createAccount(world, 'admin');
  const t = (await tickets.create(as(own, 'admin'), ticketBody(15))).ticket;
  const passage = 'A refund reaches the card within five business days.';
  const textEnc = await cipher.encrypt(own.tenantId, SupportFields.CITED_PASSAGE, passage);
  const bodyEnc = await cipher.encrypt(own.tenantId, SupportFields.DRAFT_BODY, 'Hello Dana, your refund is on its way.');
  const chunkId = newId();
  const documentId = newId();
  await world.tenantDb.withTenant(own.tenantId, (tx) =>
    tickets.onGenerated(tx, { tenantId: own.tenantId, ticketId: t.id, draftId: newId(), attempt: 1, bodyEnc, citations: [{ chunkId, documentId, title: 'Refunds', textEnc }], model: 'offline-extractive-1', usage: { promptTokens: 0, completionTokens: 0 } }),
  );
  const shown = await tickets.get(as(own, 'admin'), t.id);
  expect(shown.drafts[0]!.citations).toEqual([{ chunkId, documentId, title: 'Refunds', text: passage }]);
  // Stored as the event carried it: a token, no plaintext in the row; and never in the draft's text.
  const [row] = await world.tenantDb.withTenant(own.tenantId, (tx) => sql<{ citations: string }>`select citations::text as citations from drafts where ticket_id = ${t.id}`.execute(tx.db)).then((r) => r.rows);
  expect(row!.citations).not.toContain('five business days');
  expect(shown.drafts[0]!.body).not.toContain(passage);

  const older = (await tickets.create(as(own, 'admin'), ticketBody(16))).ticket;
  await generated(own.tenantId, older.id, 1, 'Not a version 2 draft.');
  expect((await tickets.get(as(own, 'admin'), older.id)).drafts[0]!.citations.map((c) => c.text)).toEqual([null]);
});

it('shows a draft only when it was stored by this event: a draft of the same attempt already stored leaves the ticket as it was', async () => {
  const own = await createAccount(world, 'admin');
  const t = (await tickets.create(as(own, 'admin'), ticketBody(14))).ticket;
  const before = await tickets.get(as(own, 'admin'), t.id);
  // A draft of attempt 1 already stored (the ticket still drafting): the event's draft conflicts with it and is not kept.
  const stored = newId();
  await world.tenantDb.withTenant(own.tenantId, (tx) => tx.db.insertInto('drafts').values({ id: stored, tenant_id: own.tenantId, ticket_id: t.id, attempt: 1, status: 'failed', failure_code: 'x', failure_reason: 'x' }).execute());
  await generated(own.tenantId, t.id, 1, 'Not kept.');
  const after = await tickets.get(as(own, 'admin'), t.id);
  expect(after).toMatchObject({ status: 'drafting', currentDraftId: null, updatedAt: before.updatedAt });
  expect(after.drafts.map((d) => d.id)).toEqual([stored]);
});

it('after a restore, asks for a new draft of every ticket the archive caught drafting, as the next attempt; a late draft of the old attempt is kept as superseded; another tenant is untouched', async () => {
  const own = await createAccount(world, 'admin');
  const bystander = await createAccount(world, 'admin');
  const drafting = (await tickets.create(as(own, 'admin'), ticketBody(21))).ticket;
  const pending = (await tickets.create(as(own, 'admin'), ticketBody(22))).ticket;
  await generated(own.tenantId, pending.id, 1, 'Already drafted.');
  const elsewhere = (await tickets.create(as(bystander, 'admin'), ticketBody(23))).ticket;
  const runId = newId();
  const restored = buildEnvelope(TenantEvents.RESTORED, { tenantId: own.tenantId, archiveId: `${own.tenantId}_20261206T101500123Z`, runId, shard: 'shard-1' }, { tenantId: own.tenantId, producer: 'provisioning', correlationId: runId });
  await world.tenantDb.withTenant(own.tenantId, (tx) => handler.onTenantRestored(restored, { tx } as never));

  expect(await tickets.get(as(own, 'admin'), drafting.id)).toMatchObject({ status: 'drafting', attempt: 2, currentDraftId: null });
  expect(await tickets.get(as(own, 'admin'), pending.id)).toMatchObject({ status: 'pending', attempt: 1 });
  const requested = (await events(own.tenantId)).filter((e) => e.type === DraftEvents.REQUESTED);
  expect(requested.map((e) => e.envelope.payload)).toEqual([expect.objectContaining({ ticketId: drafting.id, attempt: 2, by: `restore:${runId}` })]);
  expect(requested[0]!.envelope).toMatchObject({ correlationId: runId, causationId: restored.id });
  expect(await cipher.decrypt(own.tenantId, SupportFields.BODY, requested[0]!.envelope.payload.bodyEnc as string)).toBe('Where is my refund for order 21?');
  // The bystander's drafting ticket: not asked for, not changed.
  expect(await tickets.get(as(bystander, 'admin'), elsewhere.id)).toMatchObject({ status: 'drafting', attempt: 1 });
  expect((await events(bystander.tenantId)).filter((e) => e.type === DraftEvents.REQUESTED)).toEqual([]);

  // The old attempt's draft, should its job have run after all, is kept but not shown; the new one is.
  await generated(own.tenantId, drafting.id, 1, 'From the job the archive did not hold.');
  const second = await generated(own.tenantId, drafting.id, 2, 'Drafted again after the restore.');
  const shown = await tickets.get(as(own, 'admin'), drafting.id);
  expect(shown).toMatchObject({ status: 'pending', currentDraftId: second });
  expect(shown.drafts.map((d) => [d.attempt, d.status])).toEqual([
    [1, 'superseded'],
    [2, 'pending'],
  ]);
});

describe('queue visibility', () => {
  let ids: Record<string, string[]>;

  beforeAll(async () => {
    const made = [];
    for (let i = 0; i < 6; i++) made.push((await tickets.create(as(admin, 'admin'), ticketBody(i))).ticket);
    ids = {};
    for (const t of made) (ids[t.assigneeId!] ??= []).push(t.id);
  });

  it('spreads new tickets over the active operators, the least loaded first', () => {
    expect(Object.keys(ids).sort()).toEqual([red1.userId, red2.userId, blue.userId].sort());
    for (const owned of Object.values(ids)) expect(owned).toHaveLength(2);
  });

  it('shows an operator their own tickets only; another operator’s ticket is a 404 like a missing one', async () => {
    const mine = await tickets.list(as(red1, 'operator'), {});
    expect(mine.tickets.map((t) => t.id).sort()).toEqual([...ids[red1.userId]!].sort());
    const foreign = await problem(tickets.get(as(red1, 'operator'), ids[blue.userId]![0]!));
    const missing = await problem(tickets.get(as(red1, 'operator'), newId()));
    expect(foreign).toEqual(missing);
    expect(foreign).toEqual({ status: 404, code: 'not-found' });
  });

  it('shows a team lead their team’s tickets, a manager and an admin all of them, another tenant none', async () => {
    const team = await tickets.list(as(lead, 'team_lead'), {});
    expect(team.tickets.map((t) => t.id).sort()).toEqual([...ids[red1.userId]!, ...ids[red2.userId]!].sort());
    expect(await problem(tickets.get(as(lead, 'team_lead'), ids[blue.userId]![0]!))).toEqual({ status: 404, code: 'not-found' });
    expect((await tickets.list(as(admin, 'manager'), {})).tickets).toHaveLength(6);
    expect((await tickets.list(as(other, 'admin'), {})).tickets).toHaveLength(0);
    for (const id of Object.values(ids).flat()) expect(await problem(tickets.get(as(other, 'admin'), id))).toEqual({ status: 404, code: 'not-found' });
  });

  it('lets a team lead reassign within the team only, and applies a move between teams as soon as its event is in', async () => {
    const id = ids[red1.userId]![0]!;
    expect((await tickets.assign(as(lead, 'team_lead'), id, { assigneeId: red2.userId })).assigneeId).toBe(red2.userId);
    expect(await problem(tickets.assign(as(lead, 'team_lead'), id, { assigneeId: blue.userId }))).toEqual({ status: 403, code: 'outside-team' });
    expect(await problem(tickets.assign(as(lead, 'team_lead'), ids[blue.userId]![0]!, { assigneeId: red1.userId }))).toEqual({ status: 404, code: 'not-found' });
    expect(await problem(tickets.assign(as(admin, 'admin'), id, { assigneeId: newId() }))).toEqual({ status: 422, code: 'unknown-assignee' });
    await moveTeam(red2.userId, 'red', 'blue');
    try {
      expect(await problem(tickets.get(as(lead, 'team_lead'), id))).toEqual({ status: 404, code: 'not-found' });
    } finally {
      await moveTeam(red2.userId, 'blue', 'red');
    }
    await tickets.assign(as(admin, 'admin'), id, { assigneeId: red1.userId });
  });
});

it('gives a removed operator’s open tickets to the other operators, and keeps their replied ones', async () => {
  const leaving = await addOperator(world, admin, 'operator', 'red');
  const made = [];
  // The newcomer has the fewest open tickets: the next ones are theirs.
  for (let i = 0; i < 2; i++) made.push((await tickets.create(as(admin, 'admin'), ticketBody(40 + i))).ticket);
  expect(made.map((t) => t.assigneeId)).toEqual([leaving.userId, leaving.userId]);
  await decisions.reply(as(leaving, 'operator'), made[0]!.id, { body: 'Done.' });
  await world.tenantDb.withTenant(admin.tenantId, async (tx) => {
    // An event written before events carried the operator's state: the removal alone.
    expect(await handler.onOperatorRemoved(removed(leaving.userId), { tx } as never)).toBeUndefined();
  });
  const after = await Promise.all(made.map((t) => tickets.get(as(admin, 'admin'), t.id)));
  expect(after[0]!.assigneeId).toBe(leaving.userId);
  expect([red1.userId, red2.userId, blue.userId]).toContain(after[1]!.assigneeId);
});

describe('draft lifecycle', () => {
  it('approve: the draft goes out as the reply (draft.approved, reply.sent); a second decision is a 409', async () => {
    const t = (await tickets.create(as(admin, 'admin'), ticketBody(10))).ticket;
    expect(t.status).toBe('drafting');
    const draftId = await generated(admin.tenantId, t.id, 1, 'Hello Dana, refunds take 5 days.');
    const owner = t.assigneeId === red1.userId ? red1 : t.assigneeId === red2.userId ? red2 : blue;
    const pending = await tickets.get(as(owner, 'operator'), t.id);
    expect(pending).toMatchObject({ status: 'pending', currentDraftId: draftId, drafts: [{ id: draftId, status: 'pending', body: 'Hello Dana, refunds take 5 days.' }] });
    const done = await decisions.approve(as(owner, 'operator'), draftId);
    expect(done).toMatchObject({ status: 'replied', reply: { body: 'Hello Dana, refunds take 5 days.', draftId, by: `user:${owner.userId}` } });
    expect(await problem(decisions.approve(as(owner, 'operator'), draftId))).toEqual({ status: 409, code: 'draft-not-pending' });
    const mine = (await events(admin.tenantId)).filter((e) => e.envelope.payload.ticketId === t.id).map((e) => e.type);
    expect(mine).toEqual([TicketEvents.RECEIVED, DraftEvents.APPROVED, TicketEvents.REPLY_SENT]);
  });

  it('edit: the edited text is sent and the change kept (draft.edited with the counts); another operator cannot touch it', async () => {
    const t = (await tickets.create(as(admin, 'admin'), ticketBody(11))).ticket;
    const draftId = await generated(admin.tenantId, t.id, 1, 'Refunds take 5 days.');
    const stranger = t.assigneeId === blue.userId ? red1 : blue;
    expect(await problem(decisions.edit(as(stranger, 'operator'), draftId, { body: 'Refunds take 3 days.' }))).toEqual({ status: 404, code: 'not-found' });
    const done = await decisions.edit(as(admin, 'admin'), draftId, { body: 'Refunds take 3 days.' });
    expect(done.reply!.body).toBe('Refunds take 3 days.');
    expect(done.drafts[0]).toMatchObject({ status: 'edited', body: 'Refunds take 5 days.', editedBody: 'Refunds take 3 days.', changed: { charactersAdded: 1, charactersRemoved: 1 } });
    expect(done.drafts[0]!.diff).toContain('+Refunds take 3 days.');
    const edited = (await events(admin.tenantId)).find((e) => e.type === DraftEvents.EDITED && e.envelope.payload.draftId === draftId)!;
    expect(edited.envelope.payload.changed).toEqual({ charactersAdded: 1, charactersRemoved: 1 });
  });

  it('reject, then regenerate: draft.requested for attempt 2 with the ticket encrypted; the rejected draft can no longer be approved', async () => {
    const t = (await tickets.create(as(admin, 'admin'), ticketBody(12))).ticket;
    const first = await generated(admin.tenantId, t.id, 1, 'A poor draft.');
    expect(await problem(decisions.reject(as(admin, 'admin'), first, { reason: '' }))).toEqual({ status: 400, code: 'validation-failed' });
    const rejected = await decisions.reject(as(admin, 'admin'), first, { reason: 'Wrong policy cited' });
    expect(rejected).toMatchObject({ status: 'rejected', drafts: [{ status: 'rejected', rejectReason: 'Wrong policy cited' }] });
    expect(await problem(decisions.approve(as(admin, 'admin'), first))).toEqual({ status: 409, code: 'draft-not-pending' });
    const again = await decisions.regenerate(as(admin, 'admin'), t.id);
    expect(again).toMatchObject({ status: 'drafting', attempt: 2 });
    expect(await problem(decisions.regenerate(as(admin, 'admin'), t.id))).toEqual({ status: 409, code: 'cannot-regenerate' });
    const requested = (await events(admin.tenantId)).find((e) => e.type === DraftEvents.REQUESTED && e.envelope.payload.ticketId === t.id)!;
    expect(requested.envelope.payload).toMatchObject({ attempt: 2, by: `user:${admin.userId}` });
    expect(await cipher.decrypt(admin.tenantId, SupportFields.BODY, requested.envelope.payload.bodyEnc as string)).toBe('Where is my refund for order 12?');
    // The next draft is written knowing the rejected one and why (draft.requested v2), encrypted as in the draft's row.
    expect(requested.envelope).toMatchObject({ version: 2 });
    const [earlier, ...more] = requested.envelope.payload.earlierDrafts as { attempt: number; bodyEnc: string; rejectReasonEnc: string; editedBodyEnc: string | null }[];
    expect(more).toEqual([]);
    expect(earlier).toMatchObject({ attempt: 1, editedBodyEnc: null });
    expect(await cipher.decrypt(admin.tenantId, SupportFields.DRAFT_BODY, earlier!.bodyEnc)).toBe('A poor draft.');
    expect(await cipher.decrypt(admin.tenantId, SupportFields.REJECT_REASON, earlier!.rejectReasonEnc)).toBe('Wrong policy cited');
    expect(JSON.stringify(requested.envelope)).not.toMatch(/Wrong policy cited|A poor draft/);
    // A late copy of attempt 1 is kept as superseded; attempt 2 is what the operator sees.
    await generated(admin.tenantId, t.id, 1, 'A late duplicate of the first draft.');
    const second = await generated(admin.tenantId, t.id, 2, 'A better draft.');
    const shown = await tickets.get(as(admin, 'admin'), t.id);
    expect(shown).toMatchObject({ status: 'pending', currentDraftId: second });
    expect(shown.drafts.map((d) => [d.attempt, d.status])).toEqual([
      [1, 'rejected'],
      [2, 'pending'],
    ]);

  });

  it('a failed draft leaves the ticket for a hand-written reply; nothing is lost', async () => {
    const t = (await tickets.create(as(admin, 'admin'), ticketBody(13))).ticket;
    await world.tenantDb.withTenant(admin.tenantId, (tx) =>
      tickets.onFailed(tx, { tenantId: admin.tenantId, ticketId: t.id, draftId: newId(), attempt: 1, code: 'model-unavailable', reason: 'the model answered 503 three times' }),
    );
    const failed = await tickets.get(as(admin, 'admin'), t.id);
    expect(failed).toMatchObject({ status: 'draft_failed', body: 'Where is my refund for order 13?', drafts: [{ status: 'failed', failure: { code: 'model-unavailable' } }] });
    const replied = await decisions.reply(as(admin, 'admin'), t.id, { body: 'Sorry for the wait: your refund left today.' });
    expect(replied).toMatchObject({ status: 'replied', reply: { body: 'Sorry for the wait: your refund left today.', draftId: null } });
    expect(await problem(decisions.reply(as(admin, 'admin'), t.id, { body: 'twice' }))).toEqual({ status: 409, code: 'already-replied' });
  });

  it('measures acceptance rate, edit rate and time to approval', async () => {
    const m = await metrics.metrics(admin.tenantId, {});
    expect(m).toMatchObject({ approved: 1, edited: 1, rejected: 1, decided: 3, failed: 1, acceptanceRate: 0.6667, editRate: 0.5 });
    expect(m.timeToApproval!.p50).toBeGreaterThanOrEqual(0);
    expect(m.open.pending).toBe(1);
    expect((await metrics.metrics(other.tenantId, {})).decided).toBe(0);
  });

  it('rejects with the operator’s own version (kept, not sent); the next regeneration carries every earlier draft’s reason and edit, oldest first', async () => {
    const t = (await tickets.create(as(admin, 'admin'), ticketBody(15))).ticket;
    await decisions.reject(as(admin, 'admin'), await generated(admin.tenantId, t.id, 1, 'First try.'), { reason: 'Wrong topic' });
    await decisions.regenerate(as(admin, 'admin'), t.id);
    const second = await generated(admin.tenantId, t.id, 2, 'Second try, far too long.');
    expect(await problem(decisions.reject(as(admin, 'admin'), second, { reason: 'Too long', editedBody: ' ' }))).toEqual({ status: 400, code: 'validation-failed' });
    const rejected = await decisions.reject(as(admin, 'admin'), second, { reason: 'Too long', editedBody: 'Your refund for order 15 left today.' });
    expect(rejected).toMatchObject({ status: 'rejected', reply: null, drafts: [{ attempt: 1 }, { attempt: 2, status: 'rejected', rejectReason: 'Too long', editedBody: 'Your refund for order 15 left today.' }] });
    await decisions.regenerate(as(admin, 'admin'), t.id);
    const third = (await events(admin.tenantId)).find((e) => e.type === DraftEvents.REQUESTED && e.envelope.payload.ticketId === t.id && e.envelope.payload.attempt === 3)!;
    const earlier = third.envelope.payload.earlierDrafts as { attempt: number; bodyEnc: string; rejectReasonEnc: string; editedBodyEnc: string | null }[];
    expect(earlier.map((d) => [d.attempt, d.editedBodyEnc === null])).toEqual([
      [1, true],
      [2, false],
    ]);
    const open = (field: string, token: string) => cipher.decrypt(admin.tenantId, field, token);
    expect(await open(SupportFields.REJECT_REASON, earlier[0]!.rejectReasonEnc)).toBe('Wrong topic');
    expect(await open(SupportFields.DRAFT_BODY, earlier[1]!.bodyEnc)).toBe('Second try, far too long.');
    expect(await open(SupportFields.REJECT_REASON, earlier[1]!.rejectReasonEnc)).toBe('Too long');
    expect(await open(SupportFields.EDITED_BODY, earlier[1]!.editedBodyEnc!)).toBe('Your refund for order 15 left today.');

    // Asked for again after a pilot import (the ticket still drafting attempt 3): the same earlier drafts go with it.
    const importId = newId();
    await world.tenantDb.withTenant(admin.tenantId, (tx) => tickets.resumeAfterImport(tx, admin.tenantId, { importId } as never, { correlationId: newId(), causationId: newId() }));
    const resumed = (await events(admin.tenantId)).find((e) => e.type === DraftEvents.REQUESTED && e.envelope.payload.ticketId === t.id && e.envelope.payload.by === `import:${importId}`)!;
    expect(resumed.envelope.payload).toMatchObject({ attempt: 3, earlierDrafts: earlier });
  });
});

describe('encryption and bad input', () => {
  it('keeps no customer text, draft or reply in plaintext in the rows or the events; another tenant’s key does not open them', async () => {
    const secret = `Kowalczyk-${newId().slice(-6)}`;
    const t = (await tickets.create(as(admin, 'admin'), { customer: { name: secret, email: `${secret}@customer.test` }, subject: `${secret} subject`, body: `${secret} body` })).ticket;
    const draftId = await generated(admin.tenantId, t.id, 1, `Dear ${secret}`);
    await decisions.edit(as(admin, 'admin'), draftId, { body: `Dear ${secret}, edited` });
    const raw = await world.tenantDb.withTenant(admin.tenantId, (tx) =>
      sql<{ row: string }>`select row_to_json(t)::text as row from tickets t where id = ${t.id}::uuid
        union all select row_to_json(d)::text from drafts d where ticket_id = ${t.id}::uuid
        union all select envelope::text from outbox where envelope->'payload'->>'ticketId' = ${t.id}`.execute(tx.db).then((r) => r.rows),
    );
    expect(raw.length).toBeGreaterThanOrEqual(5);
    for (const r of raw) expect(r.row).not.toContain(secret);
    const [row] = await world.tenantDb.withTenant(admin.tenantId, (tx) => sql<{ body_enc: string }>`select body_enc from tickets where id = ${t.id}::uuid`.execute(tx.db).then((r) => r.rows));
    await expect(cipher.decrypt(other.tenantId, SupportFields.BODY, row!.body_enc)).rejects.toBeInstanceOf(DecryptionFailedError);
    expect(await cipher.decrypt(admin.tenantId, SupportFields.BODY, row!.body_enc)).toBe(`${secret} body`);
  });

  it('refuses a ticket without a body, an unknown field or a malformed address with a 400, writing nothing', async () => {
    const count = () => world.tenantDb.withTenant(admin.tenantId, async (tx) => (await sql<{ n: number }>`select (select count(*) from tickets)::int + (select count(*) from outbox)::int as n`.execute(tx.db).then((r) => r.rows))[0]!.n);
    const before = await count();
    const { body: _body, ...noBody } = ticketBody(20);
    expect(await problem(tickets.create(as(admin, 'admin'), noBody))).toEqual({ status: 400, code: 'validation-failed' });
    expect(await problem(tickets.create(as(admin, 'admin'), { ...ticketBody(21), body: '   ' }))).toEqual({ status: 400, code: 'validation-failed' });
    expect(await problem(tickets.create(as(admin, 'admin'), { ...ticketBody(22), priority: 'high' }))).toEqual({ status: 400, code: 'unknown-field' });
    expect(await problem(tickets.create(as(admin, 'admin'), { ...ticketBody(23), customer: { name: 'Dana', email: 'not-an-address' } }))).toEqual({ status: 400, code: 'validation-failed' });
    expect(await problem(tickets.create(as(admin, 'admin'), { ...ticketBody(24), body: 'x'.repeat(20_001) }))).toEqual({ status: 400, code: 'validation-failed' });
    expect(await count()).toBe(before);
  });

  it('answers a ticket sent again with the same externalId with the ticket already made', async () => {
    const body = { ...ticketBody(30), externalId: `zendesk-${newId()}` };
    const results = await Promise.all(Array.from({ length: 5 }, () => tickets.create(as(admin, 'admin'), body)));
    expect(new Set(results.map((r) => r.ticket.id)).size).toBe(1);
    expect(results.filter((r) => r.created)).toHaveLength(1);
  });

  it('stores a ticket an integration submits once, announces it as ticket.received with its first draft id, and waits for a draft of a ticket not stored yet', async () => {
    const enc = (f: string, v: string) => cipher.encrypt(admin.tenantId, f, v);
    const externalId = `chat-${newId()}`;
    const submitted = {
      tenantId: admin.tenantId,
      externalId,
      channel: 'chat' as const,
      customerNameEnc: await enc(SupportFields.CUSTOMER_NAME, 'Lee'),
      customerEmailEnc: await enc(SupportFields.CUSTOMER_EMAIL, 'lee@customer.test'),
      subjectEnc: null,
      bodyEnc: await enc(SupportFields.BODY, 'My parcel is late'),
      receivedAt: new Date().toISOString(),
    };
    await expect(generated(admin.tenantId, newId(), 1, 'early')).rejects.toThrow(/not stored yet/);
    const meta = { correlationId: newId(), causationId: newId() };
    // Delivered twice (a retried integration): one ticket, one ticket.received.
    const stored: boolean[] = [];
    for (let i = 0; i < 2; i++) stored.push(await world.tenantDb.withTenant(admin.tenantId, (tx) => tickets.onSubmitted(tx, submitted, meta)));
    expect(stored).toEqual([true, false]);
    const announced = (await events(admin.tenantId)).filter((e) => e.type === TicketEvents.RECEIVED && e.envelope.payload.externalId === externalId);
    expect(announced).toHaveLength(1);
    const received = announced[0]!.envelope.payload;
    const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
    expect(received).toMatchObject({ externalId, channel: 'chat', quotaReservationId: null, draftId: expect.stringMatching(uuid), ticketId: expect.stringMatching(uuid) });
    expect(announced[0]!.envelope).toMatchObject({ causationId: meta.causationId, correlationId: meta.correlationId });
    const ticket = await tickets.get(as(admin, 'admin'), received.ticketId as string);
    expect(ticket).toMatchObject({ channel: 'chat', status: 'drafting', customer: { name: 'Lee' }, body: 'My parcel is late', subject: null });
    expect(ticket.assigneeId).not.toBeNull();
    // The draft ai-drafting writes under that id puts the ticket in front of its operator.
    await generated(admin.tenantId, ticket.id, 1, 'Sorry about the delay', received.draftId as string);
    expect((await tickets.get(as(admin, 'admin'), ticket.id)).drafts[0]).toMatchObject({ id: received.draftId, status: 'pending' });
  });
});
