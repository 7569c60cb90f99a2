// Quota reservations against the real shards: exact under concurrency, idempotent, committed and
// released once, expired holds given back, plan changes applied to the next reservation, one
// quota.exceeded per period, and another tenant's reservation exactly as missing as none.
import { sql } from 'kysely';
import { newId, TenantDirectory } from '@hotdash/platform-db';
import { ProblemException } from '@hotdash/platform-http';
import { TestWorld, waitFor, WorldTenant } from '@hotdash/testing';
import { DraftEvents, KnowledgeEvents, TicketEvents } from '@hotdash/contracts';
import { buildEnvelope } from '@hotdash/platform-messaging';
import { QuotaEventsHandler } from './quota.events-handler';
import { periodOf, QuotaService } from './quota.service';

jest.setTimeout(120_000);

const world = new TestWorld({ poolSize: 10 });
const quota = new QuotaService(world.tenantDb, new TenantDirectory(world.dbs));
afterAll(() => world.close());

/** A tenant whose ticket counter for this month already has `used` tickets. */
async function tenantWithUsed(used: number, plan = 'basic'): Promise<WorldTenant> {
  const t = await world.createTenant();
  await world.dbs.control().tenant.update({ where: { id: t.id }, data: { planCode: plan } });
  await world.tenantDb.withTenant(t.id, (tx) => sql`insert into quota_counters (tenant_id, metric, period_start, used) values (${t.id}::uuid, 'tickets', ${periodOf('tickets')}::date, ${used})`.execute(tx.db).then((r) => Number(r.numAffectedRows ?? 0)));
  return t;
}

const counter = async (t: WorldTenant) =>
  (await world.tenantDb.withTenant(t.id, (tx) => sql<{ used: number; reserved: number }>`select used::int, reserved::int from quota_counters where metric = 'tickets'`.execute(tx.db).then((r) => r.rows)))[0]!;

it('admits exactly 100 of 1,000 concurrent reservations against 100 remaining', async () => {
  const t = await tenantWithUsed(4_900); // Basic: 5,000 tickets a month
  const results = await Promise.allSettled(Array.from({ length: 1_000 }, () => quota.reserve(t.id, 'tickets', 1)));
  const ok = results.filter((r) => r.status === 'fulfilled');
  const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  expect(ok).toHaveLength(100);
  expect(refused).toHaveLength(900);
  expect(refused.every((r) => r.reason instanceof ProblemException && r.reason.status === 429 && r.reason.code === 'quota-exceeded')).toBe(true);
  expect(await counter(t)).toEqual({ used: 4_900, reserved: 100 });
  // One quota.exceeded for the period, however many refusals.
  const events = await world.tenantDb.withTenant(t.id, (tx) => sql<{ envelope: { payload: Record<string, unknown> } }>`select envelope from outbox where type = 'quota.exceeded'`.execute(tx.db).then((r) => r.rows));
  expect(events).toHaveLength(1);
  expect(events[0]!.envelope.payload).toMatchObject({ metric: 'tickets', limit: 5_000, requested: 1, plan: 'basic', periodStart: periodOf('tickets') });
});

it('commits and releases once, is idempotent per key, and gives expired holds back', async () => {
  const t = await tenantWithUsed(4_998);
  const a = await quota.reserve(t.id, 'tickets', 1, { idempotencyKey: 'ticket-a' });
  const again = await quota.reserve(t.id, 'tickets', 1, { idempotencyKey: 'ticket-a' });
  expect(again.reservationId).toBe(a.reservationId);
  const b = await quota.reserve(t.id, 'tickets', 1);
  expect(b.remaining).toBe(0);
  await expect(quota.reserve(t.id, 'tickets', 1)).rejects.toMatchObject({ code: 'quota-exceeded' });
  expect((await quota.commit(t.id, a.reservationId)).status).toBe('committed');
  expect((await quota.commit(t.id, a.reservationId)).status).toBe('committed');
  await expect(quota.release(t.id, a.reservationId)).rejects.toMatchObject({ status: 409, code: 'reservation-settled' });
  expect((await quota.release(t.id, b.reservationId)).remaining).toBe(1);
  expect(await counter(t)).toEqual({ used: 4_999, reserved: 0 });
  // A hold that expires is given back to the next reservation.
  await quota.reserve(t.id, 'tickets', 1, { ttlMs: 1 });
  await new Promise((r) => setTimeout(r, 20));
  const next = await quota.reserve(t.id, 'tickets', 1);
  expect(next.remaining).toBe(0);
  expect(await counter(t)).toEqual({ used: 4_999, reserved: 1 });
  const usage = await quota.usage(t.id, periodOf('tickets'), new Date().toISOString().slice(0, 10));
  expect(usage.days.filter((d) => d.metric === 'tickets').reduce((n, d) => n + d.amount, 0)).toBe(1);
  expect(usage.quotas.find((q) => q.metric === 'tickets')).toMatchObject({ limit: 5_000, used: 4_999, reserved: 1, remaining: 0 });
});

it('applies an upgrade and a downgrade to the very next reservation', async () => {
  const t = await tenantWithUsed(6_000, 'enterprise'); // 20,000 a month
  expect((await quota.reserve(t.id, 'tickets', 1)).remaining).toBe(20_000 - 6_001);
  await world.dbs.control().tenant.update({ where: { id: t.id }, data: { planCode: 'basic' } }); // 5,000: already over
  await expect(quota.reserve(t.id, 'tickets', 1)).rejects.toMatchObject({ code: 'quota-exceeded' });
  await world.dbs.control().tenant.update({ where: { id: t.id }, data: { planCode: 'enterprise' } });
  expect((await quota.reserve(t.id, 'tickets', 1)).remaining).toBe(20_000 - 6_002);
});

it("as tenant B, tenant A's reservation is exactly as missing as one that does not exist", async () => {
  const a = await tenantWithUsed(0);
  const b = await tenantWithUsed(0);
  const r = await quota.reserve(a.id, 'tickets', 1);
  const foreign = (await quota.commit(b.id, r.reservationId).catch((e: ProblemException) => e)) as ProblemException;
  const missing = (await quota.commit(b.id, newId()).catch((e: ProblemException) => e)) as ProblemException;
  expect([foreign.status, foreign.code]).toEqual([404, 'not-found']);
  expect([missing.status, missing.code]).toEqual([404, 'not-found']);
  expect(await counter(a)).toEqual({ used: 0, reserved: 1 }); // untouched
  expect((await quota.usage(b.id, '2026-01-01', '2026-12-31')).days).toEqual([]);
});

it('refuses nonsense amounts', async () => {
  const t = await tenantWithUsed(0);
  for (const amount of [0, -1, 1.5]) await expect(quota.reserve(t.id, 'tickets', amount)).rejects.toMatchObject({ status: 400 });
});

it('meters knowledge storage as a level (stored up, removed down) and embedding tokens as model tokens', async () => {
  const handler = new QuotaEventsHandler(quota);
  const t = await world.createTenant();
  const meta = { tenantId: t.id, producer: 'knowledge', correlationId: newId() };
  const documentId = newId();
  const ctx = (tx: unknown) => ({ tx }) as never;
  await world.tenantDb.withTenant(t.id, async (tx) => {
    await handler.onDocumentsStored(buildEnvelope(KnowledgeEvents.DOCUMENTS_STORED, { tenantId: t.id, documents: [{ documentId, title: 'FAQ', bytes: 1_000 }] }, meta), ctx(tx));
    await handler.onDocumentRemoved(buildEnvelope(KnowledgeEvents.DOCUMENT_REMOVED, { tenantId: t.id, documentId, version: 1, bytes: 400, reason: 'replaced', by: 'user:x' }, meta), ctx(tx));
    await handler.onDocumentIndexed(buildEnvelope(KnowledgeEvents.DOCUMENT_INDEXED, { tenantId: t.id, documentId, version: 2, chunks: 3, model: 'text-embedding-3-small', tokens: 42 }, meta), ctx(tx));
    await handler.onDocumentIndexed(buildEnvelope(KnowledgeEvents.DOCUMENT_INDEXED, { tenantId: t.id, documentId, version: 3, chunks: 3, model: 'local-hash-384', tokens: 0 }, meta), ctx(tx));
  });
  const rows = await world.tenantDb.withTenant(t.id, (tx) =>
    sql<{ metric: string; used: number }>`select metric, used::int from quota_counters where metric = 'storage_bytes'`.execute(tx.db).then((r) => r.rows),
  );
  expect(rows).toEqual([{ metric: 'storage_bytes', used: 600 }]);
  const daily = await world.tenantDb.withTenant(t.id, (tx) => sql<{ metric: string; amount: number }>`select metric, amount::int from usage_daily order by metric`.execute(tx.db).then((r) => r.rows));
  expect(daily).toEqual([
    { metric: 'model_tokens', amount: 42 },
    { metric: 'storage_bytes', amount: 600 },
  ]);
});

it('meters a generated draft’s prompt and completion tokens as model tokens, and nothing for a draft without any', async () => {
  const handler = new QuotaEventsHandler(quota);
  const t = await world.createTenant();
  const meta = { tenantId: t.id, producer: 'ai-drafting', correlationId: newId() };
  const draft = (promptTokens: number, completionTokens: number) =>
    buildEnvelope(
      DraftEvents.GENERATED,
      { tenantId: t.id, ticketId: newId(), draftId: newId(), attempt: 1, bodyEnc: 'v1.AAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA', citations: [], model: 'gpt-test', usage: { promptTokens, completionTokens } },
      meta,
    );
  await world.tenantDb.withTenant(t.id, async (tx) => {
    await handler.onDraftGenerated(draft(1_200, 80), { tx } as never);
    await handler.onDraftGenerated(draft(0, 0), { tx } as never);
    await handler.onDraftGenerated(draft(300, 20), { tx } as never);
  });
  const daily = await world.tenantDb.withTenant(t.id, (tx) => sql<{ metric: string; amount: number }>`select metric, amount::int from usage_daily`.execute(tx.db).then((r) => r.rows));
  expect(daily).toEqual([{ metric: 'model_tokens', amount: 1_600 }]);
});

it('meters a draft’s tokens once per draft: a second draft.generated of the same draft (another event id: its job ran twice) meters nothing', async () => {
  const handler = new QuotaEventsHandler(quota);
  const t = await world.createTenant();
  const meta = { tenantId: t.id, producer: 'ai-drafting', correlationId: newId() };
  const draftId = newId();
  const generated = (id: string) =>
    buildEnvelope(
      DraftEvents.GENERATED,
      { tenantId: t.id, ticketId: newId(), draftId: id, attempt: 1, bodyEnc: 'v1.AAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA', citations: [], model: 'gpt-test', usage: { promptTokens: 1_000, completionTokens: 50 } },
      meta,
    );
  const first = generated(draftId);
  const again = generated(draftId);
  expect(again.id).not.toBe(first.id);
  await world.tenantDb.withTenant(t.id, (tx) => handler.onDraftGenerated(first, { tx } as never));
  await world.tenantDb.withTenant(t.id, (tx) => handler.onDraftGenerated(again, { tx } as never));
  await world.tenantDb.withTenant(t.id, (tx) => handler.onDraftGenerated(generated(newId()), { tx } as never)); // another draft: metered
  const daily = await world.tenantDb.withTenant(t.id, (tx) => sql<{ metric: string; amount: number }>`select metric, amount::int from usage_daily`.execute(tx.db).then((r) => r.rows));
  expect(daily).toEqual([{ metric: 'model_tokens', amount: 2_100 }]);
  const recorded = await world.tenantDb.withTenant(t.id, (tx) => sql<{ n: number }>`select count(*)::int as n from outbox where type = 'usage.recorded'`.execute(tx.db).then((r) => r.rows[0]!.n));
  expect(recorded).toBe(2);
});

describe('tickets count once, from ticket.received', () => {
  const token = 'v1.AAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA';
  const received = (t: WorldTenant, channel: 'api' | 'chat' | 'email', quotaReservationId: string | null = null, ticketId = newId()) =>
    buildEnvelope(
      TicketEvents.RECEIVED,
      { tenantId: t.id, ticketId, externalId: null, channel, customerNameEnc: token, customerEmailEnc: token, subjectEnc: null, bodyEnc: token, receivedAt: new Date().toISOString(), draftId: newId(), quotaReservationId },
      { tenantId: t.id, producer: 'drafts', correlationId: newId() },
    );
  const handle = (t: WorldTenant, e: ReturnType<typeof received>) => world.tenantDb.withTenant(t.id, (tx) => new QuotaEventsHandler(quota).onTicketReceived(e, { tx } as never));
  const dailyTickets = async (t: WorldTenant) => (await quota.usage(t.id, '2000-01-01', '2100-12-31')).days.filter((d) => d.metric === 'tickets').reduce((n, d) => n + d.amount, 0);

  it('counts a ticket without a hold (an integration’s) as it arrives, whatever its channel', async () => {
    const t = await tenantWithUsed(10);
    for (const channel of ['chat', 'email', 'api'] as const) await handle(t, received(t, channel));
    expect(await counter(t)).toEqual({ used: 13, reserved: 0 });
    expect(await dailyTickets(t)).toBe(3);
  });

  it('turns the gateway’s hold into the usage: the ticket is counted once, never twice', async () => {
    const t = await tenantWithUsed(10);
    const hold = await quota.reserve(t.id, 'tickets', 1, { ttlMs: 60_000 });
    expect(await counter(t)).toEqual({ used: 10, reserved: 1 });
    await handle(t, received(t, 'api', hold.reservationId));
    expect(await counter(t)).toEqual({ used: 11, reserved: 0 });
    expect(await dailyTickets(t)).toBe(1);
    // The hold is settled: the gateway can no longer release it, nor commit it a second time.
    await expect(quota.release(t.id, hold.reservationId)).rejects.toMatchObject({ status: 409, code: 'reservation-settled' });
    expect((await quota.commit(t.id, hold.reservationId)).status).toBe('committed');
    expect(await counter(t)).toEqual({ used: 11, reserved: 0 });
  });

  it('still counts a stored ticket whose hold was released or expired first (the caller gave up, the ticket was stored)', async () => {
    const t = await tenantWithUsed(10);
    const released = await quota.reserve(t.id, 'tickets', 1);
    await quota.release(t.id, released.reservationId);
    await handle(t, received(t, 'api', released.reservationId));
    const expired = await quota.reserve(t.id, 'tickets', 1, { ttlMs: 1 });
    await waitFor('the hold to expire', async () => Date.parse(expired.expiresAt) < Date.now());
    await quota.reserve(t.id, 'tickets', 1, { ttlMs: 60_000 }); // gives the expired hold back
    await handle(t, received(t, 'api', expired.reservationId));
    expect(await counter(t)).toEqual({ used: 12, reserved: 1 });
    expect(await dailyTickets(t)).toBe(2);
  });

  it('counts a ticket once per ticket: a second ticket.received of it (a replay under another event id) counts nothing, held or not', async () => {
    const t = await tenantWithUsed(10);
    // An integration's ticket, announced twice.
    const plain = received(t, 'email');
    await handle(t, plain);
    await handle(t, received(t, 'email', null, plain.payload.ticketId));
    // An API ticket whose hold expired and was given back while a service was down, then announced twice.
    const hold = await quota.reserve(t.id, 'tickets', 1, { ttlMs: 1 });
    await waitFor('the hold to expire', async () => Date.parse(hold.expiresAt) < Date.now());
    await quota.reserve(t.id, 'tickets', 1, { ttlMs: 60_000 }); // gives the expired hold back
    const api = received(t, 'api', hold.reservationId);
    await handle(t, api);
    await handle(t, received(t, 'api', hold.reservationId, api.payload.ticketId));
    expect(await counter(t)).toEqual({ used: 12, reserved: 1 });
    expect(await dailyTickets(t)).toBe(2);
  });

  it('gives back a hold still held that a second announcement of an already counted ticket names', async () => {
    const t = await tenantWithUsed(0);
    const ticket = received(t, 'chat');
    await handle(t, ticket);
    const hold = await quota.reserve(t.id, 'tickets', 1, { ttlMs: 60_000 });
    await handle(t, received(t, 'api', hold.reservationId, ticket.payload.ticketId));
    expect(await counter(t)).toEqual({ used: 1, reserved: 0 });
    await expect(quota.commit(t.id, hold.reservationId)).rejects.toMatchObject({ status: 409, code: 'reservation-settled' });
    expect(await dailyTickets(t)).toBe(1);
  });

  it("as tenant B, a ticket naming tenant A's hold settles nothing of A's and counts once for B", async () => {
    const a = await tenantWithUsed(0);
    const b = await tenantWithUsed(0);
    const hold = await quota.reserve(a.id, 'tickets', 1, { ttlMs: 60_000 });
    await handle(b, received(b, 'api', hold.reservationId));
    expect(await counter(a)).toEqual({ used: 0, reserved: 1 });
    expect(await counter(b)).toEqual({ used: 1, reserved: 0 });
  });
});
