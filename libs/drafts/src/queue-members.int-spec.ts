// Drafts' queue members against the real shards: kept from operator.* events (applied as the
// transport applies them, in the event tenant's transaction), never from provisioning's users.
// An invited operator is given tickets once joined; a team change moves what a team lead sees and
// may assign; a promotion stops new tickets; a removal hands the open tickets on and is final;
// replayed and overtaken events change nothing; another tenant's events change nothing here.
import { sql } from 'kysely';
import { OperatorEvents, OperatorRole, OperatorStatus, TenantId } from '@hotdash/contracts';
import type { Principal } from '@hotdash/platform-auth';
import { FieldCipher, LocalKms, TenantKeyring } from '@hotdash/platform-crypto';
import { newId, TenantStatusCache } from '@hotdash/platform-db';
import { buildEnvelope, NonRetryableError } from '@hotdash/platform-messaging';
import { createAccount, TestAccount, TestWorld, problemOf } from '@hotdash/testing';
import { DraftsEventsHandler } from './drafts.events-handler';
import { OperatorEvent } from './queue-members';
import { TicketsService } from './tickets.service';

jest.setTimeout(60_000);

const world = new TestWorld();
const cipher = new FieldCipher(new TenantKeyring(world.dbs, LocalKms.fromEnv()));
const tickets = new TicketsService(world.tenantDb, cipher, new TenantStatusCache(world.dbs));
const handler = new DraftsEventsHandler(tickets);
const accounts: TestAccount[] = [];

/** A tenant with its admin (the fixture seeds the admin's queue member, as the admin's events would). */
async function tenant(): Promise<TestAccount> {
  const acc = await createAccount(world, 'admin');
  accounts.push(acc);
  return acc;
}

afterAll(async () => {
  for (const acc of accounts) await world.tenantDb.withTenant(acc.tenantId, (tx) => sql`select * from erase_tenant(${acc.tenantId}::uuid)`.execute(tx.db));
  await world.close();
});

const as = (tenantId: TenantId, userId: string, role: Principal['role']): Principal => ({
  kind: 'user',
  tenantId,
  subject: userId,
  role,
  sessionId: newId(),
  scopes: ['*'],
  issuedAt: Date.now(),
  tokenId: newId(),
});

/** Instants a second apart from a common base: the `at` of successive changes of one operator. */
const base = Date.now();
const at = (k: number) => new Date(base + k * 1000).toISOString();

interface State {
  role: OperatorRole;
  team: string | null;
  status: OperatorStatus;
  at: string;
}

/** An operator.* event as provisioning writes it (with the operator's state after the change), or without the state (`state: null`) as older events are. */
function event(type: OperatorEvent['type'], tenantId: TenantId, userId: string, state: State | null, envelopeTenant: TenantId = tenantId): OperatorEvent {
  const by = 'user:spec';
  const s = state ?? undefined;
  const meta = { tenantId: envelopeTenant, producer: 'provisioning', correlationId: newId() };
  switch (type) {
    case OperatorEvents.INVITED:
      return buildEnvelope(type, { tenantId, userId, role: state?.role ?? 'operator', by, state: s }, meta);
    case OperatorEvents.JOINED:
      return buildEnvelope(type, { tenantId, userId, state: s }, meta);
    case OperatorEvents.ROLE_CHANGED:
      return buildEnvelope(type, { tenantId, userId, from: 'operator', to: state?.role ?? 'operator', by, state: s }, meta);
    case OperatorEvents.TEAM_CHANGED:
      return buildEnvelope(type, { tenantId, userId, from: null, to: state?.team ?? null, by, state: s }, meta);
    case OperatorEvents.REMOVED:
      return buildEnvelope(type, { tenantId, userId, by, state: s }, meta);
  }
}

/** Applies an event as the transport does: in a transaction of the tenant `inTenant` (the envelope's, unless a spec says otherwise). */
async function apply(e: OperatorEvent, inTenant: TenantId = e.tenantId as TenantId): Promise<void> {
  await world.tenantDb.withTenant(inTenant, async (tx) => {
    const ctx = { tx } as never;
    if (e.type === OperatorEvents.INVITED) await handler.onOperatorInvited(e, ctx);
    else if (e.type === OperatorEvents.JOINED) await handler.onOperatorJoined(e, ctx);
    else if (e.type === OperatorEvents.ROLE_CHANGED) await handler.onOperatorRoleChanged(e, ctx);
    else if (e.type === OperatorEvents.TEAM_CHANGED) await handler.onOperatorTeamChanged(e, ctx);
    else await handler.onOperatorRemoved(e, ctx);
  });
}

/** An operator invited (at k) and joined (at k + 1), through their events. */
async function joinedOperator(t: TenantId, team: string | null, k = 0, role: OperatorRole = 'operator'): Promise<string> {
  const userId = newId();
  await apply(event(OperatorEvents.INVITED, t, userId, { role, team: null, status: 'invited', at: at(k) }));
  await apply(event(OperatorEvents.JOINED, t, userId, { role, team: null, status: 'active', at: at(k + 1) }));
  if (team !== null) await apply(event(OperatorEvents.TEAM_CHANGED, t, userId, { role, team, status: 'active', at: at(k + 2) }));
  return userId;
}

async function member(t: TenantId, userId: string): Promise<{ role: string; team: string | null; status: string } | undefined> {
  return world.tenantDb.withTenant(t, (tx) => tx.db.selectFrom('queue_members').select(['role', 'team', 'status']).where('user_id', '=', userId).executeTakeFirst());
}

let n = 0;
const newTicket = async (acc: TestAccount) => {
  n += 1;
  return (await tickets.create(as(acc.tenantId, acc.userId, 'admin'), { customer: { name: `Kim ${n}`, email: `kim${n}@customer.test` }, body: `Order ${n} is late` })).ticket;
};

const problem = problemOf;

it('gives an invited operator tickets once they joined, not before', async () => {
  const acc = await tenant();
  const t = acc.tenantId;
  const userId = newId();
  await apply(event(OperatorEvents.INVITED, t, userId, { role: 'operator', team: null, status: 'invited', at: at(0) }));
  expect(await member(t, userId)).toEqual({ role: 'operator', team: null, status: 'invited' });
  expect((await newTicket(acc)).assigneeId).toBeNull();
  const waiting = await newTicket(acc);
  expect(await problem(tickets.assign(as(t, acc.userId, 'admin'), waiting.id, { assigneeId: userId }))).toEqual({ status: 422, code: 'unknown-assignee' });

  await apply(event(OperatorEvents.JOINED, t, userId, { role: 'operator', team: null, status: 'active', at: at(1) }));
  expect(await member(t, userId)).toEqual({ role: 'operator', team: null, status: 'active' });
  expect((await newTicket(acc)).assigneeId).toBe(userId);
  expect((await tickets.assign(as(t, acc.userId, 'admin'), waiting.id, { assigneeId: userId })).assigneeId).toBe(userId);
});

it('keeps the newest state whatever order the events arrive in, and a replay changes nothing', async () => {
  const acc = await tenant();
  const t = acc.tenantId;
  const userId = newId();
  const invited = event(OperatorEvents.INVITED, t, userId, { role: 'operator', team: null, status: 'invited', at: at(0) });
  const joined = event(OperatorEvents.JOINED, t, userId, { role: 'operator', team: null, status: 'active', at: at(1) });
  const moved = event(OperatorEvents.TEAM_CHANGED, t, userId, { role: 'operator', team: 'red', status: 'active', at: at(2) });
  // Overtaken: the join and the move arrive before the invitation.
  await apply(moved);
  await apply(joined);
  await apply(invited);
  expect(await member(t, userId)).toEqual({ role: 'operator', team: 'red', status: 'active' });
  // Replayed.
  for (const e of [invited, joined, moved]) await apply(e);
  expect(await member(t, userId)).toEqual({ role: 'operator', team: 'red', status: 'active' });
  expect((await newTicket(acc)).assigneeId).toBe(userId);
});

it('moves what a team lead sees and may assign with the team changes, and stops new tickets for a promoted operator', async () => {
  const acc = await tenant();
  const t = acc.tenantId;
  const lead = await joinedOperator(t, null, 0);
  const red = await joinedOperator(t, 'red', 10);
  const blue = await joinedOperator(t, 'blue', 20);
  const admin = as(t, acc.userId, 'admin');
  const redTicket = await newTicket(acc);
  const blueTicket = await newTicket(acc);
  const leadTicket = await newTicket(acc);
  await tickets.assign(admin, redTicket.id, { assigneeId: red });
  await tickets.assign(admin, blueTicket.id, { assigneeId: blue });
  await tickets.assign(admin, leadTicket.id, { assigneeId: lead });
  const seenBy = async (p: Principal) => (await tickets.list(p, {})).tickets.map((x) => x.id).sort();

  // Promoted to team lead (the token says team_lead from now on), in no team yet: their own tickets only, and no new ones.
  await apply(event(OperatorEvents.ROLE_CHANGED, t, lead, { role: 'team_lead', team: null, status: 'active', at: at(3) }));
  const asLead = as(t, lead, 'team_lead');
  expect(await seenBy(asLead)).toEqual([leadTicket.id]);
  const later = [await newTicket(acc), await newTicket(acc), await newTicket(acc)];
  for (const x of later) expect([red, blue]).toContain(x.assigneeId);
  const redsLater = later.filter((x) => x.assigneeId === red).map((x) => x.id);
  expect(await problem(tickets.assign(asLead, leadTicket.id, { assigneeId: red }))).toEqual({ status: 403, code: 'outside-team' });

  // Into team red: red's tickets too, not blue's; may give red a ticket, not blue.
  await apply(event(OperatorEvents.TEAM_CHANGED, t, lead, { role: 'team_lead', team: 'red', status: 'active', at: at(4) }));
  expect(await seenBy(asLead)).toEqual([redTicket.id, leadTicket.id, ...redsLater].sort());
  expect(await problem(tickets.get(asLead, blueTicket.id))).toEqual({ status: 404, code: 'not-found' });
  expect((await tickets.assign(asLead, leadTicket.id, { assigneeId: red })).assigneeId).toBe(red);
  expect(await problem(tickets.assign(asLead, redTicket.id, { assigneeId: blue }))).toEqual({ status: 403, code: 'outside-team' });

  // Red's operator moves to blue: their tickets leave the red lead's queue.
  await apply(event(OperatorEvents.TEAM_CHANGED, t, red, { role: 'operator', team: 'blue', status: 'active', at: at(15) }));
  expect(await seenBy(asLead)).toEqual([]);
  // A late event of an earlier change (red's team as it was at 12) changes nothing.
  await apply(event(OperatorEvents.TEAM_CHANGED, t, red, { role: 'operator', team: 'red', status: 'active', at: at(12) }));
  expect(await member(t, red)).toMatchObject({ team: 'blue' });
  expect(await seenBy(asLead)).toEqual([]);
});

it('hands a removed operator’s open tickets on and gives them none again, whatever arrives later', async () => {
  const acc = await tenant();
  const t = acc.tenantId;
  const admin = as(t, acc.userId, 'admin');
  const stays = await joinedOperator(t, 'red', 0);
  const leaves = await joinedOperator(t, 'red', 10);
  const open = [await newTicket(acc), await newTicket(acc), await newTicket(acc), await newTicket(acc)];
  for (const x of open) await tickets.assign(admin, x.id, { assigneeId: leaves });

  await apply(event(OperatorEvents.REMOVED, t, leaves, { role: 'operator', team: 'red', status: 'removed', at: at(13) }));
  expect(await member(t, leaves)).toMatchObject({ status: 'removed' });
  for (const x of open) expect((await tickets.get(admin, x.id)).assigneeId).toBe(stays);
  expect(await problem(tickets.assign(admin, open[0]!.id, { assigneeId: leaves }))).toEqual({ status: 422, code: 'unknown-assignee' });
  // Events that arrive after the removal (even stamped later, as a faulty producer could) do not bring them back.
  await apply(event(OperatorEvents.JOINED, t, leaves, { role: 'operator', team: 'red', status: 'active', at: at(12) }));
  await apply(event(OperatorEvents.ROLE_CHANGED, t, leaves, { role: 'operator', team: 'red', status: 'active', at: at(14) }));
  await apply(event(OperatorEvents.JOINED, t, leaves, null));
  expect(await member(t, leaves)).toMatchObject({ status: 'removed' });
  for (let i = 0; i < 3; i++) expect((await newTicket(acc)).assigneeId).toBe(stays);
});

it('applies events written before they carried the operator’s state, change by change', async () => {
  const acc = await tenant();
  const t = acc.tenantId;
  const userId = newId();
  await apply(event(OperatorEvents.INVITED, t, userId, null));
  expect(await member(t, userId)).toEqual({ role: 'operator', team: null, status: 'invited' });
  await apply(event(OperatorEvents.JOINED, t, userId, null));
  // A later event with the state (stamped well after the older events' occurredAt).
  await apply(event(OperatorEvents.TEAM_CHANGED, t, userId, { role: 'operator', team: 'green', status: 'active', at: at(10_000) }));
  expect(await member(t, userId)).toEqual({ role: 'operator', team: 'green', status: 'active' });
  expect((await newTicket(acc)).assigneeId).toBe(userId);
});

describe('another tenant', () => {
  let a: TestAccount;
  let b: TestAccount;
  let bOperator: string;
  let bTicket: string;

  beforeAll(async () => {
    a = await tenant();
    b = await tenant();
    bOperator = await joinedOperator(b.tenantId, 'red', 0);
    bTicket = (await newTicket(b)).id;
  });

  /** B's projection and queue as B sees them. */
  async function bUnchanged(): Promise<void> {
    expect(await member(b.tenantId, bOperator)).toEqual({ role: 'operator', team: 'red', status: 'active' });
    expect((await tickets.get(as(b.tenantId, b.userId, 'admin'), bTicket)).assigneeId).toBe(bOperator);
    expect((await newTicket(b)).assigneeId).toBe(bOperator);
  }

  it('refuses an event of tenant A whose payload names tenant B, and changes nothing in B', async () => {
    const forged = event(OperatorEvents.REMOVED, b.tenantId, bOperator, { role: 'operator', team: 'red', status: 'removed', at: at(50) }, a.tenantId);
    await expect(apply(forged)).rejects.toThrow(NonRetryableError);
    await bUnchanged();
  });

  it('lets an event of tenant A about B’s operator id touch only A’s rows', async () => {
    await apply(event(OperatorEvents.REMOVED, a.tenantId, bOperator, { role: 'operator', team: 'red', status: 'removed', at: at(50) }));
    await apply(event(OperatorEvents.TEAM_CHANGED, a.tenantId, bOperator, null));
    // In A: a removed stranger (never assignable); in B: nothing happened.
    expect(await member(a.tenantId, bOperator)).toEqual({ role: 'operator', team: 'red', status: 'removed' });
    await bUnchanged();
  });

  it('cannot write B’s members from A’s transaction even when the event says B throughout (row-level security)', async () => {
    const ofB = event(OperatorEvents.TEAM_CHANGED, b.tenantId, bOperator, { role: 'operator', team: 'blue', status: 'active', at: at(60) });
    await expect(apply(ofB, a.tenantId)).rejects.toThrow(/row-level security/);
    await bUnchanged();
    // Applied in B's own transaction, the same event does move B's operator: the refusal above was not for want of an effect.
    await apply(ofB);
    expect(await member(b.tenantId, bOperator)).toMatchObject({ team: 'blue' });
  });
});
