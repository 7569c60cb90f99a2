// Quota reservations against the real shards: exact under concurrency, idempotent, committed and
// released once, expired holds given back, plan changes applied to the next reservation, one
// quota.exceeded per period, and another tenant's reservation exactly as missing as none.
import { newId, TenantDirectory } from '@hotdash/platform-db';
import { ProblemException } from '@hotdash/platform-http';
import { TestWorld, WorldTenant } from '@hotdash/testing';
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
  await world.tenantDb.withTenant(t.id, (tx) => tx.$executeRaw`insert into quota_counters (tenant_id, metric, period_start, used) values (${t.id}::uuid, 'tickets', ${periodOf('tickets')}::date, ${used})`);
  return t;
}

const counter = async (t: WorldTenant) =>
  (await world.tenantDb.withTenant(t.id, (tx) => tx.$queryRaw<{ used: bigint; reserved: bigint }[]>`select used, reserved from quota_counters where metric = 'tickets'`))[0]!;

it('admits exactly 100 of 1,000 concurrent reservations against 100 remaining', async () => {
  const t = await tenantWithUsed(4_900); // Basic: 5,000 tickets a month
  const results = await Promise.allSettled(Array.from({ length: 1_000 }, () => quota.reserve(t.id, 'tickets', 1)));
  const ok = results.filter((r) => r.status === 'fulfilled');
  const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  expect(ok).toHaveLength(100);
  expect(refused).toHaveLength(900);
  expect(refused.every((r) => r.reason instanceof ProblemException && r.reason.status === 429 && r.reason.code === 'quota-exceeded')).toBe(true);
  expect(await counter(t)).toEqual({ used: 4_900n, reserved: 100n });
  // One quota.exceeded for the period, however many refusals.
  const events = await world.tenantDb.withTenant(t.id, (tx) => tx.$queryRaw<{ envelope: { payload: Record<string, unknown> } }[]>`select envelope from outbox where type = 'quota.exceeded'`);
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
  expect(await counter(t)).toEqual({ used: 4_999n, reserved: 0n });
  // A hold that expires is given back to the next reservation.
  await quota.reserve(t.id, 'tickets', 1, { ttlMs: 1 });
  await new Promise((r) => setTimeout(r, 20));
  const next = await quota.reserve(t.id, 'tickets', 1);
  expect(next.remaining).toBe(0);
  expect(await counter(t)).toEqual({ used: 4_999n, reserved: 1n });
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
  expect(await counter(a)).toEqual({ used: 0n, reserved: 1n }); // untouched
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
    tx.$queryRaw<{ metric: string; used: bigint }[]>`select metric, used from quota_counters where metric = 'storage_bytes'`,
  );
  expect(rows).toEqual([{ metric: 'storage_bytes', used: 600n }]);
  const daily = await world.tenantDb.withTenant(t.id, (tx) => tx.$queryRaw<{ metric: string; amount: bigint }[]>`select metric, amount from usage_daily order by metric`);
  expect(daily).toEqual([
    { metric: 'model_tokens', amount: 42n },
    { metric: 'storage_bytes', amount: 600n },
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
  const daily = await world.tenantDb.withTenant(t.id, (tx) => tx.$queryRaw<{ metric: string; amount: bigint }[]>`select metric, amount from usage_daily`);
  expect(daily).toEqual([{ metric: 'model_tokens', amount: 1_600n }]);
});

it('counts tickets integrations deliver on Kafka against the month, and not the API’s (the gateway reserved those)', async () => {
  const handler = new QuotaEventsHandler(quota);
  const t = await tenantWithUsed(10);
  const token = 'v1.AAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA';
  const ticket = (channel: 'api' | 'chat' | 'email') =>
    buildEnvelope(
      TicketEvents.RECEIVED,
      { tenantId: t.id, ticketId: newId(), externalId: null, channel, customerNameEnc: token, customerEmailEnc: token, subjectEnc: null, bodyEnc: token, receivedAt: new Date().toISOString() },
      { tenantId: t.id, producer: 'integration', correlationId: newId() },
    );
  await world.tenantDb.withTenant(t.id, async (tx) => {
    for (const channel of ['chat', 'email', 'api'] as const) await handler.onTicketReceived(ticket(channel), { tx } as never);
  });
  expect(await counter(t)).toEqual({ used: 12n, reserved: 0n });
  const daily = await world.tenantDb.withTenant(t.id, (tx) => tx.$queryRaw<{ metric: string; amount: bigint }[]>`select metric, amount from usage_daily`);
  expect(daily).toEqual([{ metric: 'tickets', amount: 2n }]);
});
