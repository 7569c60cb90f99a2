// The dead-letter API as the provisioning service serves it (DeadLettersModule over HTTP, the
// gateway's internal tokens), against the real Kafka and shards: a consumer (KafkaEventTransport)
// dead-letters an event its handler refuses; the API lists it (newest first, filtered) and shows it
// with its original headers, the error and the envelope as written; after the cause is fixed a
// replay is applied exactly once by the consumer (its inbox); a second replay is refused (409), and a
// forced one is skipped by the inbox; a set replay by filter lists it as already replayed; bad ids,
// topics and cursors are 400s that read nothing; tenant credentials and anonymous callers are
// refused on every route, and a tenant filter shows nothing of another tenant.
import { Controller, INestApplication, INestMicroservice, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Ctx, Payload } from '@nestjs/microservices';
import { EventPattern } from '@hotdash/platform-messaging';
import {
  DlqHeaders,
  DlqProblems,
  Envelope,
  REPLAYED_FROM_HEADER,
  TenantCreatedV1,
  TenantEvents,
  Topics,
  type DeadLetterDetail,
  type DeadLetterList,
  type DeadLetterReplayResult,
  type DeadLetterReplays,
} from '@hotdash/contracts';
import { ANONYMOUS_CALLER, InternalCaller } from '@hotdash/platform-auth';
import { DatabaseModule, newId } from '@hotdash/platform-db';
import { createHttpApp } from '@hotdash/platform-http';
import { buildEnvelope, createKafkaClient, EventContext, EventErrorsFilter, headersFor, KafkaClientPort, KafkaEventTransport, KafkaProducerPort, NonRetryableError } from '@hotdash/platform-messaging';
import { deleteConsumerGroups, internalAuthorization, opsCaller, tenantUser, TestWorld, waitFor, WorldTenant } from '@hotdash/testing';
import { DeadLettersModule } from './dead-letters.module';

jest.setTimeout(60_000);

/** Event names the handler refuses for now (the "cause" an operator fixes before replaying). */
const broken = new Set<string>();
/** Successful applications: the handler's transaction committed with its inbox row. */
const applied: { id: string; name: string; replayedFrom: string | undefined }[] = [];

@Controller()
class SpecHandlers {
  @EventPattern(TenantEvents.CREATED)
  async onCreated(@Payload() e: Envelope<'tenant.created', TenantCreatedV1>, @Ctx() ctx: EventContext): Promise<void> {
    if (!e.payload.name.startsWith('dlq-spec ')) return;
    if (broken.has(e.payload.name)) throw new NonRetryableError(`the handler cannot take ${e.payload.name} yet`, 'spec-refused');
    ctx.afterCommit(() => void applied.push({ id: e.id, name: e.payload.name, replayedFrom: ctx.record.headers[REPLAYED_FROM_HEADER] }));
  }
}

@Module({ controllers: [SpecHandlers] })
class SpecConsumerModule {}

@Module({ imports: [DatabaseModule.forRoot(), DeadLettersModule.register()] })
class SpecApiModule {}

const world = new TestWorld();
const consumer = `dlq-spec-${newId()}`;
const subject = `dlq-spec-${newId()}`;
const operator = opsCaller(subject);
const actor = `ops:${subject}`;
let kafka: KafkaClientPort;
let producer: KafkaProducerPort;
let consumerApp: INestMicroservice;
let api: INestApplication;
let base: string;
let a: WorldTenant;
let b: WorldTenant;

interface Answer<T> {
  status: number;
  body: T & { code?: string; detail?: string };
}

async function call<T>(method: string, path: string, body?: unknown, caller: InternalCaller = operator): Promise<Answer<T>> {
  const headers: Record<string, string> = body === undefined ? {} : { 'content-type': 'application/json' };
  if (caller !== ANONYMOUS_CALLER) headers.authorization = await internalAuthorization('provisioning', caller);
  const res = await fetch(`${base}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : {}) as Answer<T>['body'] };
}

const pathOf = (id: string) => `/dead-letters/${id}`;
const listMine = (extra = '') => call<DeadLetterList>('GET', `/dead-letters?topic=${Topics.TENANTS}&consumer=${consumer}${extra}`);

function created(t: WorldTenant, name: string): Envelope {
  return buildEnvelope(TenantEvents.CREATED, { tenantId: t.id, name, plan: 'basic', shard: t.shard.name, createdBy: 'dlq-spec' }, { tenantId: t.id, producer: 'dlq-spec', correlationId: newId() });
}

async function send(e: Envelope): Promise<void> {
  await producer.send([{ topic: Topics.TENANTS, key: e.tenantId, value: JSON.stringify(e), headers: headersFor(e) }]);
}

/** Sends an event of the tenant and waits for it to be applied: everything of the tenant before it (same partition) has been handled. */
async function barrier(t: WorldTenant): Promise<void> {
  const e = created(t, `dlq-spec barrier ${newId()}`);
  await send(e);
  await waitFor('the barrier event to be applied', async () => applied.some((x) => x.id === e.id), 30_000);
}

beforeAll(async () => {
  ({ a, b } = await world.twoTenantWorld());
  kafka = createKafkaClient({ brokers: world.config.kafka.brokers, clientId: 'dlq-spec' });
  producer = await kafka.producer();
  consumerApp = await NestFactory.createMicroservice(SpecConsumerModule, {
    strategy: new KafkaEventTransport({ consumer, kafka, tenantDb: world.tenantDb, maxAttempts: 2, backoffMs: 20, fromBeginning: false, unknownTenant: 'skip' }),
    logger: false,
  });
  consumerApp.useGlobalFilters(new EventErrorsFilter());
  await consumerApp.listen();
  // A new group starting at "latest" sees only what is produced after it joined: ping until one of the pings is applied.
  const pings = new Set<string>();
  await waitFor(
    'the consumer group to be consuming',
    async () => {
      if (applied.some((x) => pings.has(x.id))) return true;
      const ping = created(b, `dlq-spec ping ${newId()}`);
      pings.add(ping.id);
      await send(ping);
      return false;
    },
    45_000,
    300,
  );
  api = await createHttpApp(SpecApiModule, { logger: false });
  await api.listen(0, '127.0.0.1');
  base = `http://127.0.0.1:${(api.getHttpServer().address() as { port: number }).port}`;
}, 90_000);

afterAll(async () => {
  await api?.close();
  await consumerApp?.close();
  await kafka?.close();
  await deleteConsumerGroups([consumer]);
  const owner = await world.connect(world.dbs.controlLocation, 'owner');
  try {
    await owner.query('delete from ops_actions where actor = $1', [actor]);
  } finally {
    await owner.end();
  }
  await world.close();
}, 30_000);

it('lists and shows a dead letter, replays it once the cause is fixed (applied exactly once), refuses a second replay and lets the inbox skip a forced one', async () => {
  const name = `dlq-spec broken ${newId()}`;
  broken.add(name);
  const e = created(a, name);
  await send(e);

  // Listed, newest first, with what an operator acts on.
  const listed = await waitFor('the dead letter in the list', async () => (await listMine()).body.items?.find((d) => d.eventId === e.id), 30_000);
  expect(listed).toMatchObject({
    topic: `${Topics.TENANTS}.dlq`,
    originalTopic: Topics.TENANTS,
    eventType: TenantEvents.CREATED,
    tenantId: a.id,
    consumer,
    code: 'spec-refused',
    attempts: 1,
    replayed: false,
    replays: 0,
    replayedFrom: null,
  });
  expect(listed.id).toBe(`${listed.topic}/${listed.partition}/${listed.offset}`);
  expect(Date.now() - Date.parse(listed.failedAt!)).toBeLessThan(60_000);
  expect(applied.filter((x) => x.id === e.id)).toEqual([]);

  // Shown with its original headers, the error, and the envelope as it was written.
  const shown = await call<DeadLetterDetail>('GET', pathOf(listed.id));
  expect(shown.status).toBe(200);
  expect(shown.body.headers).toMatchObject({ ...headersFor(e), [DlqHeaders.ERROR_CODE]: 'spec-refused', [DlqHeaders.CONSUMER]: consumer, [DlqHeaders.ORIGINAL_TOPIC]: Topics.TENANTS });
  expect(shown.body.error).toBe(`the handler cannot take ${name} yet`);
  expect(shown.body.envelope).toEqual(JSON.parse(JSON.stringify(e)));
  expect([shown.body.key, shown.body.value, shown.body.replayHistory]).toEqual([a.id, null, []]);

  // The cause fixed, a replay goes back to the topic and is applied once.
  broken.delete(name);
  const replayed = await call<DeadLetterReplayResult>('POST', `${pathOf(listed.id)}/replay`, {});
  expect([replayed.status, replayed.body]).toEqual([200, { id: listed.id, outcome: 'replayed', to: Topics.TENANTS, eventId: e.id, eventType: TenantEvents.CREATED, tenantId: a.id, forced: false }]);
  await waitFor('the replayed event to be applied', async () => applied.some((x) => x.id === e.id), 30_000);
  expect(applied.filter((x) => x.id === e.id)).toEqual([{ id: e.id, name, replayedFrom: listed.id }]);
  const after = (await listMine()).body.items.find((d) => d.id === listed.id)!;
  expect([after.replayed, after.replays, typeof after.lastReplayedAt]).toEqual([true, 1, 'string']);

  // A second replay is refused and sends nothing; forced, it is sent and the inbox skips it.
  const again = await call<DeadLetterReplayResult>('POST', `${pathOf(listed.id)}/replay`, {});
  expect([again.status, again.body.code]).toEqual([409, DlqProblems.ALREADY_REPLAYED]);
  expect(again.body.detail).toContain(actor);
  const forced = await call<DeadLetterReplayResult>('POST', `${pathOf(listed.id)}/replay`, { force: true });
  expect([forced.status, forced.body.outcome, forced.body.forced]).toEqual([200, 'replayed', true]);
  await barrier(a); // the forced replay is on tenant A's partition before this one: handled (skipped) by now
  expect(applied.filter((x) => x.id === e.id)).toHaveLength(1);
  const history = (await call<DeadLetterDetail>('GET', pathOf(listed.id))).body.replayHistory;
  expect(history.map((h) => [h.actor, h.forced])).toEqual([
    [actor, false],
    [actor, true],
  ]);

  // A set by filter: a dry run lists it, already replayed; without force nothing is sent.
  const set = await call<DeadLetterReplays>('POST', '/dead-letters/replays', { filter: { topic: Topics.TENANTS, consumer }, dryRun: false });
  expect(set.status).toBe(200);
  expect(set.body.results.filter((r) => r.id === listed.id).map((r) => r.outcome)).toEqual(['already-replayed']);
  const byId = await call<DeadLetterReplays>('POST', '/dead-letters/replays', { ids: [listed.id, `${listed.topic}/${listed.partition}/999999999`], dryRun: true, force: true });
  expect(byId.body.results.map((r) => [r.id, r.outcome])).toEqual([
    [listed.id, 'would-replay'],
    [`${listed.topic}/${listed.partition}/999999999`, 'not-found'],
  ]);
  await barrier(a);
  expect(applied.filter((x) => x.id === e.id)).toHaveLength(1);
});

it('pages newest first and filters by tenant: tenant B’s filter shows nothing of A’s', async () => {
  const names = [0, 1, 2].map((i) => `dlq-spec page ${i} ${newId()}`);
  for (const n of names) broken.add(n);
  const events = [created(a, names[0]!), created(b, names[1]!), created(a, names[2]!)];
  for (const e of events) await send(e);
  await waitFor('three dead letters', async () => (await listMine()).body.items.filter((d) => events.some((e) => e.id === d.eventId)).length === 3, 30_000);

  const ids: string[] = [];
  let cursor: string | null = null;
  for (let i = 0; i < 20 && ids.length < 3; i++) {
    const page: Answer<DeadLetterList> = await listMine(`&limit=1${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    expect(page.status).toBe(200);
    expect(page.body.items.length).toBeLessThanOrEqual(1);
    for (const d of page.body.items) if (events.some((e) => e.id === d.eventId)) ids.push(d.eventId!);
    cursor = page.body.nextCursor;
    if (!cursor) break;
  }
  // Failed-at order: each was dead-lettered in turn (A's two and B's one on their own partitions).
  const failedAt = new Map((await listMine()).body.items.map((d) => [d.eventId, d.failedAt!]));
  expect(ids).toEqual([...events].sort((x, y) => failedAt.get(y.id)!.localeCompare(failedAt.get(x.id)!)).map((e) => e.id));

  const ofB = (await listMine(`&tenant=${b.id}`)).body.items;
  expect(ofB.length).toBeGreaterThan(0);
  expect(ofB.every((d) => d.tenantId === b.id)).toBe(true);
  expect(ofB.map((d) => d.eventId)).toContain(events[1]!.id);
  expect(ofB.map((d) => d.eventId)).not.toContain(events[0]!.id);
});

it('answers bad ids, topics and cursors with 400 and a stable code, and a missing offset with 404', async () => {
  const cases: [string, string, number, string][] = [
    ['GET', '/dead-letters/hotdash.tenants/0/0', 400, DlqProblems.INVALID_ID],
    ['GET', '/dead-letters/__consumer_offsets/0/0', 400, DlqProblems.INVALID_ID],
    ['GET', `/dead-letters/${Topics.TENANTS}.dlq/x/0`, 400, DlqProblems.INVALID_ID],
    ['GET', `/dead-letters/${Topics.TENANTS}.dlq/0/99999999999`, 404, DlqProblems.NOT_FOUND],
    ['POST', `/dead-letters/${Topics.TENANTS}.dlq/0/99999999999/replay`, 404, DlqProblems.NOT_FOUND],
    ['GET', '/dead-letters?topic=secrets', 400, DlqProblems.UNKNOWN_TOPIC],
    ['GET', '/dead-letters?cursor=bm9wZQ', 400, DlqProblems.INVALID_CURSOR],
    ['GET', '/dead-letters?limit=0', 400, 'validation-failed'],
    ['GET', '/dead-letters?tenant=not-a-uuid', 400, 'validation-failed'],
    ['GET', '/dead-letters?other=1', 400, 'unknown-field'],
  ];
  for (const [method, path, status, code] of cases) {
    const r = await call(method, path, method === 'POST' ? {} : undefined);
    expect([path, r.status, r.body.code]).toEqual([path, status, code]);
  }
  const bad = await call('POST', '/dead-letters/replays', { ids: ['hotdash.tenants/0/0'], dryRun: true });
  expect(bad.status).toBe(400);
  const both = await call('POST', '/dead-letters/replays', { dryRun: true });
  expect(both.status).toBe(400);
});

it('refuses tenant credentials (403) and anonymous callers (401) on every route', async () => {
  const id = `${Topics.TENANTS}.dlq/0/0`;
  const routes: [string, string, unknown][] = [
    ['GET', '/dead-letters', undefined],
    ['GET', `/dead-letters?tenant=${a.id}`, undefined],
    ['GET', pathOf(id), undefined],
    ['POST', `${pathOf(id)}/replay`, { force: true }],
    ['POST', '/dead-letters/replays', { filter: { tenant: a.id }, dryRun: false, force: true }],
  ];
  for (const [method, path, body] of routes) {
    for (const role of ['admin', 'manager'] as const) expect([path, role, (await call(method, path, body, tenantUser(a.id, role))).status]).toEqual([path, role, 403]);
    expect([path, (await call(method, path, body, tenantUser(b.id))).status]).toEqual([path, 403]);
    expect([path, (await call(method, path, body, ANONYMOUS_CALLER)).status]).toEqual([path, 401]);
  }
});
