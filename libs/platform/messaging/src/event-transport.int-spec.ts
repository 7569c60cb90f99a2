// The Kafka event transport against the real broker and shards: tenant context and withTenant()
// around handlers, inbox de-duplication, transactional effects across retries, and poison events
// (invalid, or always failing) dead-lettered with their headers and the error while other tenants'
// events keep flowing; database contention waited out without using attempts.
import { Controller, INestMicroservice, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Ctx, Payload } from '@nestjs/microservices';
import { AuditEvents, deadLetterTopic, DlqHeaders, Envelope, EventHeaders, TenantCreatedV1, TenantEvents, Topics } from '@hotdash/contracts';
import { currentTenantContext } from '@hotdash/platform-tenancy';
import { newId } from '@hotdash/platform-db';
import { deleteConsumerGroups, KafkaProbe, TestWorld, waitFor, WorldTenant } from '@hotdash/testing';
import { buildEnvelope, publishInTx } from './outbox';
import { EventContext, EventPattern, KafkaEventTransport } from './event-transport';
import { headersFor } from './headers';
import { EventErrorsFilter } from './event-errors.filter';
import { createKafkaClient, KafkaClientPort, KafkaProducerPort } from './kafka';
import { busForSpec } from './kafka/in-process.testing';

const MAX_ATTEMPTS = 3;
const UNKNOWN_TENANT_GRACE_MS = 1_500;
/** Tenants whose placement is "about to happen" (as a running provisioning saga would say). */
const awaited = new Set<string>();
const calls: { id: string; name: string; tenantFromContext: string; attempt: number }[] = [];
/** Callbacks registered with ctx.afterCommit() that ran: the attempt that registered them, and whether its effect was committed by then. */
const afterRuns: { id: string; attempt: number; committed: number; tenantFromContext: string }[] = [];
/** Callbacks registered with ctx.beforeCommit() that ran: the attempt that registered them, and how many of the event's effects its transaction held by then. */
const beforeRuns: { id: string; attempt: number; effectsInTx: number }[] = [];
const logs: string[] = [];

@Controller()
class ProbeHandlers {
  @EventPattern(TenantEvents.CREATED)
  async onCreated(@Payload() e: Envelope<'tenant.created', TenantCreatedV1>, @Ctx() ctx: EventContext): Promise<void> {
    calls.push({ id: e.id, name: e.payload.name, tenantFromContext: currentTenantContext().tenantId, attempt: ctx.attempt });
    // An effect in the handler's transaction: it must exist exactly once, whatever happens.
    await publishInTx(ctx.tx, AuditEvents.RECORDED, { entryId: newId(), seq: 1, sourceEventId: e.id, sourceEventType: e.type, hash: 'a'.repeat(64) }, {
      tenantId: e.tenantId as never,
      producer: 'transport-spec',
      correlationId: e.correlationId,
      causationId: e.id,
    });
    if (e.payload.name.startsWith('after-commit')) {
      const attempt = ctx.attempt;
      ctx.afterCommit(async () => {
        if (e.payload.name === 'after-commit throws') throw new Error('the queue is down');
        // Read on another connection: only a committed effect is visible there.
        const committed = await world.tenantDb.withTenant(e.tenantId as never, async (tx) =>
          Number((await tx.db.selectFrom('outbox').select((eb) => eb.fn.countAll<string>().as('n')).where('envelope', '@>', JSON.stringify({ causationId: e.id, producer: 'transport-spec' })).executeTakeFirstOrThrow()).n),
        );
        afterRuns.push({ id: e.id, attempt, committed, tenantFromContext: currentTenantContext().tenantId });
      });
      if (e.payload.name === 'after-commit flaky' && ctx.attempt < 2) throw new Error('fails once, after registering its callback');
    }
    if (e.payload.name.startsWith('before-commit')) {
      const attempt = ctx.attempt;
      ctx.beforeCommit(async () => {
        // In the handler's own transaction, after its handler: the handler's effect is there to see.
        const { n } = await ctx.tx.db
          .selectFrom('outbox')
          .select((eb) => eb.fn.countAll<string>().as('n'))
          .where('envelope', '@>', JSON.stringify({ causationId: e.id, producer: 'transport-spec' }))
          .executeTakeFirstOrThrow();
        beforeRuns.push({ id: e.id, attempt, effectsInTx: Number(n) });
        if (e.payload.name === 'before-commit throws' && attempt < 2) throw new Error('the group write failed');
      });
    }
    if (e.payload.name === 'poison') throw new Error('always fails');
    // Refused for contention (a lock not had in time; the embedded database's wait for its turn) more times than it has attempts.
    if (e.payload.name === 'contended' && calls.filter((c) => c.id === e.id).length <= MAX_ATTEMPTS + 1)
      throw Object.assign(new Error('canceling statement due to lock timeout'), { code: '55P03' });
    if (e.payload.name === 'flaky' && ctx.attempt < 2) throw new Error('fails once');
  }
}

@Module({ controllers: [ProbeHandlers] })
class ProbeModule {}

const world = new TestWorld();
afterAll(() => world.close());

// Both Kafka adapters and the in-process bus (embedded mode) must behave the same under the transport.
describe.each(['platformatic', 'kafkajs', 'in-process'] as const)('with the %s client', (clientName) => {
  const bus = busForSpec(clientName);
  let kafka: KafkaClientPort;
  let producer: KafkaProducerPort;
  let app: INestMicroservice;
  let dlq: KafkaProbe;
  let a: WorldTenant;
  let b: WorldTenant;
  const consumer = `transport-spec-${clientName}-${newId()}`;

  function created(t: WorldTenant, name: string): Envelope {
    return buildEnvelope(TenantEvents.CREATED, { tenantId: t.id, name, plan: 'basic', shard: t.shard.name, createdBy: 'spec' }, { tenantId: t.id, producer: 'spec', correlationId: newId() });
  }

  async function send(e: Envelope): Promise<void> {
    await producer.send([{ topic: Topics.TENANTS, key: e.tenantId, value: JSON.stringify(e), headers: headersFor(e) }]);
  }

  async function effects(t: WorldTenant, eventId: string): Promise<number> {
    return world.tenantDb.withTenant(t.id, async (tx) => {
      const { n } = await tx.db
        .selectFrom('outbox')
        .select((eb) => eb.fn.countAll<string>().as('n'))
        .where('envelope', '@>', JSON.stringify({ causationId: eventId, producer: 'transport-spec' }))
        .executeTakeFirstOrThrow();
      return Number(n);
    });
  }

  beforeAll(async () => {
    ({ a, b } = await world.twoTenantWorld());
    await bus.start(); // in-process: the DLQ probe's own client shares the spec's bus
    kafka = createKafkaClient({ brokers: world.config.kafka.brokers, clientId: 'transport-spec' }, clientName);
    producer = await kafka.producer();
    dlq = await KafkaProbe.start(deadLetterTopic(Topics.TENANTS));
    app = await NestFactory.createMicroservice(ProbeModule, {
      strategy: new KafkaEventTransport({ consumer, kafka, tenantDb: world.tenantDb, maxAttempts: MAX_ATTEMPTS, backoffMs: 20, fromBeginning: false, unknownTenantGraceMs: UNKNOWN_TENANT_GRACE_MS, awaitPlacement: async (t) => awaited.has(t), log: (m) => logs.push(m) }),
      logger: false,
    });
    app.useGlobalFilters(new EventErrorsFilter());
    await app.listen();
    // A new group starting at "latest" sees only what is produced after it joined: ping until it answers.
    await waitFor(
      'the consumer group to be consuming',
      async () => {
        const ping = created(b, `ping ${newId()}`);
        await send(ping);
        await new Promise((r) => setTimeout(r, 300));
        return calls.some((c) => c.id === ping.id);
      },
      60_000,
      0,
    );
  }, 90_000);

  afterAll(async () => {
    await app?.close();
    await dlq?.close();
    await kafka?.close();
    if (clientName !== 'in-process') await deleteConsumerGroups([consumer]);
    await bus.stop();
  }, 30_000);

  it('runs handlers in the event tenant context, inside withTenant, exactly once per event id', async () => {
    const e = created(a, 'hello');
    await send(e);
    await send(e); // Kafka may deliver twice; so may a producer retry
    await waitFor('the event to be handled', async () => calls.some((c) => c.id === e.id));
    await new Promise((r) => setTimeout(r, 500));
    expect(calls.filter((c) => c.id === e.id)).toEqual([{ id: e.id, name: 'hello', tenantFromContext: a.id, attempt: 1 }]);
    expect(await effects(a, e.id)).toBe(1);
    // The effect is tenant A's: invisible from tenant B.
    expect(await effects(b, e.id)).toBe(0);
  });

  it('retries a failing handler with its effects rolled back, applying them once when it succeeds', async () => {
    const e = created(a, 'flaky');
    await send(e);
    await waitFor('the retry to succeed', async () => calls.filter((c) => c.id === e.id).length === 2);
    expect(calls.filter((c) => c.id === e.id).map((c) => c.attempt)).toEqual([1, 2]);
    expect(await effects(a, e.id)).toBe(1);
  });

  it('dead-letters an always-failing event after N attempts with its headers and the error; other tenants keep flowing', async () => {
    const poison = created(a, 'poison');
    const others = [created(b, 'b-1'), created(b, 'b-2'), created(a, 'a-after-poison'), created(b, 'b-3')];
    await send(poison);
    for (const o of others) await send(o);

    const dead = await waitFor('the poison event in the DLQ', async () => dlq.records.find((r) => r.headers[EventHeaders.ID] === poison.id), 30_000);
    expect(dead.headers).toMatchObject({
      ...headersFor(poison),
      [DlqHeaders.ERROR]: 'always fails',
      [DlqHeaders.ERROR_CODE]: 'handler-failed',
      [DlqHeaders.CONSUMER]: consumer,
      [DlqHeaders.ATTEMPTS]: String(MAX_ATTEMPTS),
      [DlqHeaders.ORIGINAL_TOPIC]: Topics.TENANTS,
    });
    expect(JSON.parse(dead.value.toString())).toEqual(poison);
    expect(calls.filter((c) => c.id === poison.id)).toHaveLength(MAX_ATTEMPTS);
    expect(await effects(a, poison.id)).toBe(0);

    // A handler is called before its transaction commits: wait for the effects, then check each is there once.
    await waitFor('every other event to be handled', async () => {
      for (const o of others) if ((await effects(o.tenantId === a.id ? a : b, o.id)) === 0) return false;
      return true;
    });
    for (const o of others) expect(await effects(o.tenantId === a.id ? a : b, o.id)).toBe(1);
  }, 60_000);

  it('waits out database contention without using attempts: an event refused for a lock more times than it has attempts is applied once, not dead-lettered', async () => {
    const e = created(a, 'contended');
    await send(e);
    await waitFor('the contended event applied', async () => (await effects(a, e.id)) === 1, 30_000);
    const tries = calls.filter((c) => c.id === e.id);
    expect(tries).toHaveLength(MAX_ATTEMPTS + 2);
    expect(tries.every((c) => c.attempt === 1)).toBe(true);
    expect(logs.some((l) => l.includes(e.id) && l.includes('waits for the database (contention)'))).toBe(true);
    expect(dlq.records.some((r) => r.headers[EventHeaders.ID] === e.id)).toBe(false);
  }, 30_000);

  it('runs after-commit callbacks once the handler’s transaction committed, never for a rolled-back attempt; a failing one is logged, not redelivered', async () => {
    const ok = created(a, 'after-commit');
    const flaky = created(b, 'after-commit flaky');
    const throws = created(a, 'after-commit throws');
    for (const e of [ok, flaky, throws]) await send(e);
    await waitFor('the callbacks to run', async () => afterRuns.some((r) => r.id === ok.id) && afterRuns.some((r) => r.id === flaky.id));
    await waitFor('the failing callback logged', async () => logs.some((l) => l.includes(throws.id)));
    // Room for a wrong second run or a redelivery: each tenant's events are handled in order, so once
    // a later event of each tenant is through, nothing of the earlier ones is still to come.
    const sentinels = [created(a, `sentinel ${newId()}`), created(b, `sentinel ${newId()}`)];
    for (const e of sentinels) await send(e);
    await waitFor('later events of both tenants handled', async () => sentinels.every((e) => calls.some((c) => c.id === e.id)));
    // After the commit: the handler's effect was already visible from another connection, in the event's tenant context.
    expect(afterRuns.filter((r) => r.id === ok.id)).toEqual([{ id: ok.id, attempt: 1, committed: 1, tenantFromContext: a.id }]);
    // The first attempt registered a callback and rolled back: only the retry's ran.
    expect(calls.filter((c) => c.id === flaky.id).map((c) => c.attempt)).toEqual([1, 2]);
    expect(afterRuns.filter((r) => r.id === flaky.id)).toEqual([{ id: flaky.id, attempt: 2, committed: 1, tenantFromContext: b.id }]);
    // A throwing callback: the event stays applied once, is not retried, not dead-lettered; the log names tenant and event, not the payload.
    expect(calls.filter((c) => c.id === throws.id).map((c) => c.attempt)).toEqual([1]);
    expect(await effects(a, throws.id)).toBe(1);
    expect(dlq.records.some((r) => r.headers[EventHeaders.ID] === throws.id)).toBe(false);
    const line = logs.find((l) => l.includes(throws.id))!;
    expect(line).toContain(a.id);
    expect(line).toContain('the queue is down');
    expect(line).not.toContain('after-commit throws');
  }, 60_000);

  it('runs before-commit callbacks in the handler’s transaction after its handlers; a failing one rolls the event back and it is replayed', async () => {
    const ok = created(a, 'before-commit');
    const throws = created(b, 'before-commit throws');
    for (const e of [ok, throws]) await send(e);
    await waitFor('both events applied', async () => (await effects(a, ok.id)) === 1 && (await effects(b, throws.id)) === 1);
    expect(beforeRuns.filter((r) => r.id === ok.id)).toEqual([{ id: ok.id, attempt: 1, effectsInTx: 1 }]);
    // The callback failed in the group's transaction (which event is to blame is not known there): the
    // group rolled back with the handler's effect and the event was replayed alone (attempt 1 again),
    // failed again, and its retry (attempt 2) committed, with one effect.
    expect(beforeRuns.filter((r) => r.id === throws.id).map((r) => [r.attempt, r.effectsInTx])).toEqual([
      [1, 1],
      [1, 1],
      [2, 1],
    ]);
    expect(calls.filter((c) => c.id === throws.id).map((c) => c.attempt)).toEqual([1, 1, 2]);
    expect(dlq.records.some((r) => r.headers[EventHeaders.ID] === throws.id)).toBe(false);
  }, 60_000);

  it('dead-letters invalid records at once: malformed JSON, a bad envelope, an invalid payload, an unknown tenant, a type header that is not the envelope’s', async () => {
    const tag = newId();
    const badEnvelope = { ...created(b, 'x'), tenantId: 'not-a-uuid' };
    const badPayload = { ...created(b, 'x'), payload: { name: 42 } };
    const unknownTenant = created({ ...b, id: newId() as never }, 'ghost');
    const relabelled = { ...created(b, 'x'), type: TenantEvents.SUSPENDED };
    const sends: { value: string; headers: Record<string, string> }[] = [
      // A type this consumer has no handler for, by its header: skipped unread (its own consumers validate it), never dead-lettered here.
      { value: `{"not json ${tag}`, headers: { 'x-tag': tag, 'x-case': 'foreign', [EventHeaders.TYPE]: TenantEvents.ACTIVATED } },
      { value: JSON.stringify(relabelled), headers: { 'x-tag': tag, 'x-case': 'mismatch', [EventHeaders.TYPE]: TenantEvents.CREATED } },
      { value: `{"not json ${tag}`, headers: { 'x-tag': tag, 'x-case': 'malformed' } },
      { value: JSON.stringify(badEnvelope), headers: { 'x-tag': tag, 'x-case': 'envelope' } },
      { value: JSON.stringify(badPayload), headers: { 'x-tag': tag, 'x-case': 'payload' } },
      { value: JSON.stringify(unknownTenant), headers: { 'x-tag': tag, 'x-case': 'tenant' } },
    ];
    await producer.send(sends.map((s) => ({ topic: Topics.TENANTS, key: b.id, value: s.value, headers: s.headers })));
    const byCase = await waitFor('five dead letters', async () => {
      const mine = dlq.records.filter((r) => r.headers['x-tag'] === tag);
      return mine.length >= 5 ? Object.fromEntries(mine.map((r) => [r.headers['x-case'], r.headers])) : undefined;
    });
    // Sent first on the same partition: handled (skipped) before the others were dead-lettered.
    expect(byCase.foreign).toBeUndefined();
    expect(byCase.mismatch).toMatchObject({ [DlqHeaders.ERROR_CODE]: 'invalid-envelope', [DlqHeaders.ATTEMPTS]: '1' });
    expect(byCase.mismatch![DlqHeaders.ERROR]).toMatch(/type header/);
    expect(byCase.malformed).toMatchObject({ [DlqHeaders.ERROR_CODE]: 'malformed-json', [DlqHeaders.ATTEMPTS]: '1' });
    expect(byCase.envelope).toMatchObject({ [DlqHeaders.ERROR_CODE]: 'invalid-envelope', [DlqHeaders.ATTEMPTS]: '1' });
    expect(byCase.envelope![DlqHeaders.ERROR]).toMatch(/tenantId/);
    expect(byCase.payload).toMatchObject({ [DlqHeaders.ERROR_CODE]: 'invalid-payload', [DlqHeaders.ATTEMPTS]: '1' });
    // An unknown tenant may be moments from being placed: it is retried before it is dead-lettered.
    expect(byCase.tenant).toMatchObject({ [DlqHeaders.ERROR_CODE]: 'unknown-tenant', [DlqHeaders.ATTEMPTS]: String(MAX_ATTEMPTS) });
  }, 60_000);

  it('applies an event whose tenant is placed moments after it occurred (a saga’s first event precedes the placement)', async () => {
    const lateId = newId();
    awaited.add(lateId); // its provisioning is under way
    const early = created({ ...b, id: lateId as never }, 'before placement');
    await send(early);
    await new Promise((r) => setTimeout(r, 400)); // past maxAttempts with this spec's backoff, within the grace period
    const late = await world.createTenant('placed late', undefined, lateId);
    await waitFor('the early event applied', async () => (await effects(late, early.id)) === 1, 10_000);
    expect(dlq.records.some((r) => r.headers[EventHeaders.ID] === early.id)).toBe(false);
  }, 30_000);
});
