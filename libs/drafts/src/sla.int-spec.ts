// The approval SLA against the real shards (issue 16 item 1): drafts keeps the approval workflows
// from their event (newest version wins), a new ticket takes its due time from the default workflow
// of the moment, the sweep flags a ticket past it and escalates it to the team lead exactly once
// (swept twice, by two sweeps at once, and by a fresh sweep as after a restart), the queue shows and
// filters it, the metrics count it; a first decision in time clears it. Another tenant sees none of
// it. Time is driven by the sweep's clock (its `now`), never by waiting.
import { sql } from 'kysely';
import { SlaEvents, SupportFields, TenantEvents, TenantId, TicketSlaBreachedV1 } from '@hotdash/contracts';
import type { Principal } from '@hotdash/platform-auth';
import { FieldCipher, LocalKms, TenantKeyring } from '@hotdash/platform-crypto';
import { newId, TenantStatusCache } from '@hotdash/platform-db';
import { buildEnvelope, NonRetryableError } from '@hotdash/platform-messaging';
import { addOperator, createAccount, problemOf, TestAccount, TestWorld } from '@hotdash/testing';
import { DecisionsService } from './decisions.service';
import { DraftMetricsService } from './draft-metrics';
import { DraftsEventsHandler } from './drafts.events-handler';
import { SlaSweep } from './sla.sweep';
import { TicketsService } from './tickets.service';

jest.setTimeout(60_000);

const world = new TestWorld();
const cipher = new FieldCipher(new TenantKeyring(world.dbs, LocalKms.fromEnv()));
const statuses = new TenantStatusCache(world.dbs);
const tickets = new TicketsService(world.tenantDb, cipher, statuses);
const decisions = new DecisionsService(world.tenantDb, cipher, statuses, tickets);
const metrics = new DraftMetricsService(world.tenantDb);
const handler = new DraftsEventsHandler(tickets);
/** A sweep as the drafts service makes one (its timer off: the spec runs it), on the spec's clock. */
const newSweep = () => new SlaSweep(world.dbs, world.router, world.tenantDb, statuses, { intervalMs: 0, firstRunMs: 0, batch: 500, now: () => new Date() });
const sweep = newSweep();
const accounts: TestAccount[] = [];

afterAll(async () => {
  for (const acc of accounts) await world.tenantDb.withTenant(acc.tenantId, (tx) => sql`select * from erase_tenant(${acc.tenantId}::uuid)`.execute(tx.db));
  await world.close();
});

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

interface Team {
  admin: TestAccount;
  operator: TestAccount;
  lead: TestAccount;
}

/** A tenant with an admin, one operator (team red, given every ticket) and red's team lead. */
async function tenant(): Promise<Team> {
  const admin = await createAccount(world, 'admin');
  accounts.push(admin);
  return { admin, operator: await addOperator(world, admin, 'operator', 'red'), lead: await addOperator(world, admin, 'team_lead', 'red') };
}

/** tenant.approval-workflows-changed as provisioning's settings API publishes it, applied as the transport does (in the envelope tenant's transaction). */
async function workflowsChanged(acc: TestAccount, version: number, minutes: number, escalate: boolean, payloadTenant: TenantId = acc.tenantId): Promise<void> {
  const event = buildEnvelope(
    TenantEvents.APPROVAL_WORKFLOWS_CHANGED,
    {
      tenantId: payloadTenant,
      version,
      changedAt: new Date().toISOString(),
      by: `user:${acc.userId}`,
      workflows: [
        { key: 'escalations', name: 'Escalations', approverRoles: ['team_lead', 'admin'], isDefault: false, sla: { firstDecisionMinutes: 5, escalateToTeamLead: true } },
        { key: 'general', name: 'General queue', approverRoles: ['operator', 'team_lead'], isDefault: true, sla: { firstDecisionMinutes: minutes, escalateToTeamLead: escalate } },
      ],
    },
    { tenantId: acc.tenantId, producer: 'provisioning', correlationId: newId() },
  );
  await world.tenantDb.withTenant(acc.tenantId, (tx) => handler.onApprovalWorkflowsChanged(event, { tx } as never));
}

let n = 0;
async function newTicket(acc: TestAccount) {
  n += 1;
  return (await tickets.create(as(acc, 'admin'), { customer: { name: `Sam ${n}`, email: `sam${n}@customer.test` }, body: `Order ${n} never arrived` })).ticket;
}

/** What ai-drafting would publish for the ticket's first attempt, applied as the event handler does. */
async function drafted(tenantId: TenantId, ticketId: string): Promise<string> {
  const draftId = newId();
  const bodyEnc = await cipher.encrypt(tenantId, SupportFields.DRAFT_BODY, 'Hello Sam, your order is on its way.');
  await world.tenantDb.withTenant(tenantId, (tx) =>
    tickets.onGenerated(tx, { tenantId, ticketId, draftId, attempt: 1, bodyEnc, citations: [], model: 'offline-extractive-1', usage: { promptTokens: 1, completionTokens: 1 } }),
  );
  return draftId;
}

type Outboxed = { type: string; envelope: { tenantId: string; payload: TicketSlaBreachedV1 } };
const breachEvents = (tenantId: TenantId) =>
  world.tenantDb.withTenant(tenantId, (tx) => tx.db.selectFrom('outbox').select(['type', 'envelope']).where('type', '=', SlaEvents.BREACHED).orderBy('seq').$castTo<Outboxed>().execute());

const minutes = (m: number) => m * 60_000;
const day = (d: Date) => d.toISOString().slice(0, 10);
/** The metrics over today and tomorrow (a sweep's clock runs up to two hours ahead). */
const slaMetrics = async (acc: TestAccount) => (await metrics.metrics(acc.tenantId, { from: day(new Date()), to: day(new Date(Date.now() + 86_400_000)) })).sla;

it('keeps the approval workflows from their event: the newest version applies, a replayed or older one changes nothing, a payload of another tenant is refused', async () => {
  const { admin } = await tenant();
  const kept = () => world.tenantDb.withTenant(admin.tenantId, (tx) => tx.db.selectFrom('queue_workflows').select(['version', 'workflows']).executeTakeFirst());
  await workflowsChanged(admin, 3, 30, true);
  expect(await kept()).toMatchObject({ version: 3, workflows: expect.arrayContaining([{ key: 'general', name: 'General queue', isDefault: true, firstDecisionMinutes: 30, escalateToTeamLead: true }]) });
  await workflowsChanged(admin, 2, 7, false);
  await workflowsChanged(admin, 3, 7, false);
  expect((await kept())!.version).toBe(3);
  expect(((await kept())!.workflows as { firstDecisionMinutes: number }[]).map((w) => w.firstDecisionMinutes)).toEqual([5, 30]);
  const other = await tenant();
  await expect(workflowsChanged(admin, 9, 1, false, other.admin.tenantId)).rejects.toBeInstanceOf(NonRetryableError);
  expect((await kept())!.version).toBe(3);
});

it('gives a new ticket its due time from the default workflow of the moment; a change applies to later tickets only; a tenant without workflows gives none', async () => {
  const { admin } = await tenant();
  const before = await newTicket(admin);
  expect(before).toMatchObject({ slaDueAt: null, slaBreached: false, slaBreachedAt: null, slaEscalatedTo: null });

  await workflowsChanged(admin, 2, 60, true);
  const first = await newTicket(admin);
  expect(Date.parse(first.slaDueAt!) - Date.parse(first.receivedAt)).toBe(minutes(60));
  expect(await tickets.get(as(admin, 'admin'), first.id)).toMatchObject({ slaDueAt: first.slaDueAt, slaBreached: false });

  await workflowsChanged(admin, 3, 15, true);
  const second = await newTicket(admin);
  expect(Date.parse(second.slaDueAt!) - Date.parse(second.receivedAt)).toBe(minutes(15));
  // The stored ticket keeps the SLA it was given.
  expect((await tickets.get(as(admin, 'admin'), first.id)).slaDueAt).toBe(first.slaDueAt);
  expect((await tickets.get(as(admin, 'admin'), before.id)).slaDueAt).toBeNull();
});

describe('a ticket past its SLA', () => {
  let team: Team;
  let late: string;
  let quiet: string;
  let breaches: TicketSlaBreachedV1[];

  beforeAll(async () => {
    team = await tenant();
    await workflowsChanged(team.admin, 2, 60, true);
    late = (await newTicket(team.admin)).id;
    quiet = (await newTicket(team.admin)).id;
    // Past the hour for both; `quiet` gets its draft approved first (a late decision, before the sweep saw it).
    await decisions.approve(as(team.operator, 'operator'), await drafted(team.admin.tenantId, quiet));
    breaches = await sweep.runOnce(new Date(Date.now() + minutes(61)));
  });

  it('is flagged and escalated to the assignee’s team lead, with one ticket.sla-breached', async () => {
    const mine = breaches.filter((b) => b.tenantId === team.admin.tenantId);
    expect(mine).toEqual([expect.objectContaining({ ticketId: late, workflowKey: 'general', firstDecisionMinutes: 60, assigneeId: team.operator.userId, escalation: 'team_lead', escalatedTo: team.lead.userId })]);
    const t = await tickets.get(as(team.lead, 'team_lead'), late);
    expect(t).toMatchObject({ slaBreached: true, slaBreachedAt: mine[0]!.breachedAt, slaEscalatedTo: team.lead.userId, slaDueAt: mine[0]!.dueAt });
    const events = await breachEvents(team.admin.tenantId);
    expect(events.map((e) => e.envelope.payload)).toEqual(mine);
    expect(events.every((e) => e.envelope.tenantId === team.admin.tenantId)).toBe(true);
  });

  it('is escalated once: swept again, by two sweeps at once, and by a fresh sweep (a restart), nothing more happens', async () => {
    const later = new Date(Date.now() + minutes(90));
    expect((await sweep.runOnce(later)).filter((b) => b.tenantId === team.admin.tenantId)).toEqual([]);
    const [a, b] = await Promise.all([newSweep().sweepTenant(team.admin.tenantId, later), newSweep().sweepTenant(team.admin.tenantId, later)]);
    expect([...a, ...b]).toEqual([]);
    expect(await breachEvents(team.admin.tenantId)).toHaveLength(1);
    // The second ticket, made now, breaches on its own and only once when two sweeps race for it.
    const third = (await newTicket(team.admin)).id;
    const [c, d] = await Promise.all([newSweep().sweepTenant(team.admin.tenantId, later), newSweep().sweepTenant(team.admin.tenantId, new Date(Date.now() + minutes(100)))]);
    expect([...c, ...d].map((x) => x.ticketId)).toEqual([third]);
    expect(await breachEvents(team.admin.tenantId)).toHaveLength(2);
  });

  it('is shown in the queue and found by the breached filter', async () => {
    const flagged = await tickets.list(as(team.admin, 'admin'), { breached: 'true' });
    expect(flagged.tickets.map((t) => t.id)).toContain(late);
    expect(flagged.tickets.map((t) => t.id)).not.toContain(quiet);
    expect(flagged.tickets.every((t) => t.slaBreached && t.slaBreachedAt !== null)).toBe(true);
    const others = await tickets.list(as(team.admin, 'admin'), { breached: 'false' });
    expect(others.tickets.map((t) => t.id)).toEqual([quiet]);
    expect(others.tickets[0]).toMatchObject({ slaBreached: false, slaDueAt: null });
    // The operator it is assigned to sees it flagged in their own queue.
    expect((await tickets.list(as(team.operator, 'operator'), { breached: 'true' })).tickets.map((t) => t.id)).toContain(late);
    expect(await problemOf(tickets.list(as(team.admin, 'admin'), { breached: 'yes' }))).toEqual({ status: 400, code: 'validation-failed' });
  });

  it('is counted in the metrics: breaches, and decisions made within the SLA', async () => {
    // quiet was decided an hour before it was due; late and the third ticket breached.
    expect(await slaMetrics(team.admin)).toEqual({ breached: 2, decided: 1, withinSla: 1, withinSlaRate: 1, openBreached: 2 });
    // A decision after the breach is a decision outside the SLA; the breach stays on the ticket.
    await decisions.reply(as(team.operator, 'operator'), late, { body: 'Sorry for the wait, Sam: it ships today.' });
    expect(await tickets.get(as(team.admin, 'admin'), late)).toMatchObject({ slaBreached: true, slaDueAt: null });
    expect(await slaMetrics(team.admin)).toEqual({ breached: 2, decided: 2, withinSla: 1, withinSlaRate: 0.5, openBreached: 1 });
  });
});

it('is cleared by a first decision in time (reject, or a reply by hand): a later sweep flags nothing', async () => {
  const team = await tenant();
  await workflowsChanged(team.admin, 2, 30, false);
  const rejected = (await newTicket(team.admin)).id;
  const replied = (await newTicket(team.admin)).id;
  const left = (await newTicket(team.admin)).id;
  await decisions.reject(as(team.operator, 'operator'), await drafted(team.admin.tenantId, rejected), { reason: 'Too short.' });
  await decisions.reply(as(team.operator, 'operator'), replied, { body: 'It ships today.' });
  for (const id of [rejected, replied]) expect(await tickets.get(as(team.admin, 'admin'), id)).toMatchObject({ slaDueAt: null, slaBreached: false });
  // A regeneration is no decision: the rejection already was the first.
  await decisions.regenerate(as(team.operator, 'operator'), rejected);
  const flagged = await sweep.sweepTenant(team.admin.tenantId, new Date(Date.now() + minutes(120)));
  // The workflow does not escalate: flagged only.
  expect(flagged).toEqual([expect.objectContaining({ ticketId: left, escalation: 'none', escalatedTo: null })]);
  expect(await slaMetrics(team.admin)).toMatchObject({ breached: 1, decided: 2, withinSla: 2, withinSlaRate: 1 });
});

it('flags without escalating when the assignee’s team has no team lead', async () => {
  const admin = await createAccount(world, 'admin');
  accounts.push(admin);
  const operator = await addOperator(world, admin, 'operator', 'blue');
  await workflowsChanged(admin, 2, 10, true);
  const t = (await newTicket(admin)).id;
  expect(await sweep.sweepTenant(admin.tenantId, new Date(Date.now() + minutes(11)))).toEqual([
    expect.objectContaining({ ticketId: t, assigneeId: operator.userId, escalation: 'no_team_lead', escalatedTo: null }),
  ]);
});

it('never shows tenant B anything of tenant A’s SLA: queue, ticket, metrics, events, sweep', async () => {
  const a = await tenant();
  const b = await tenant();
  await workflowsChanged(a.admin, 2, 5, true);
  const theirs = (await newTicket(a.admin)).id;
  const mine = (await newTicket(b.admin)).id;
  const at = new Date(Date.now() + minutes(6));
  // Sweeping B flags nothing of A's.
  expect(await sweep.sweepTenant(b.admin.tenantId, at)).toEqual([]);
  expect((await sweep.sweepTenant(a.admin.tenantId, at)).map((x) => x.ticketId)).toEqual([theirs]);
  expect((await tickets.list(as(b.admin, 'admin'), { breached: 'true' })).tickets).toEqual([]);
  expect((await tickets.list(as(b.admin, 'admin'), {})).tickets.map((t) => t.id)).toEqual([mine]);
  expect(await problemOf(tickets.get(as(b.admin, 'admin'), theirs))).toEqual({ status: 404, code: 'not-found' });
  expect(await slaMetrics(b.admin)).toEqual({ breached: 0, decided: 0, withinSla: 0, withinSlaRate: null, openBreached: 0 });
  expect(await breachEvents(b.admin.tenantId)).toEqual([]);
  // B's own workflows are B's: A's event never reached B's copy.
  expect(await world.tenantDb.withTenant(b.admin.tenantId, (tx) => tx.db.selectFrom('queue_workflows').selectAll().execute())).toEqual([]);
  expect(await world.tenantDb.withTenant(b.admin.tenantId, (tx) => tx.db.selectFrom('ticket_slas').selectAll().execute())).toEqual([]);
  // The sweep's cross-tenant read gives tenant ids only, and the application role reads no SLA without a tenant.
  const shard = await world.router.shardOf(a.admin.tenantId);
  const c = await world.connect(shard, 'app');
  try {
    // B's ticket has no SLA; A's is flagged already: neither is overdue-and-unflagged. A new one of A's is.
    const next = (await newTicket(a.admin)).id;
    await c.query('begin');
    const { rows, fields } = await c.query<{ tenant_id: string }>(`select * from sla_overdue_tenants(now() + interval '1 day', 1000)`);
    expect(fields.map((f) => f.name)).toEqual(['tenant_id']);
    expect(rows.map((r) => r.tenant_id)).toContain(a.admin.tenantId);
    expect(rows.map((r) => r.tenant_id)).not.toContain(b.admin.tenantId);
    expect(JSON.stringify(rows)).not.toContain(next);
    // Without a tenant the role sees no SLA, in the transaction that called the function too, and
    // setting the function's switch gives it nothing (the policy is the owner's).
    expect((await c.query('select count(*)::int as n from ticket_slas')).rows).toEqual([{ n: 0 }]);
    await c.query(`select set_config('hotdash.sla_sweep', 'on', true)`);
    expect((await c.query('select count(*)::int as n from ticket_slas')).rows).toEqual([{ n: 0 }]);
    // In B's context, A's SLAs stay invisible.
    await c.query(`select set_config('app.tenant_id', $1, true)`, [b.admin.tenantId]);
    expect((await c.query('select count(*)::int as n from ticket_slas')).rows).toEqual([{ n: 0 }]);
  } finally {
    await c.query('rollback');
    await c.end();
  }
});
