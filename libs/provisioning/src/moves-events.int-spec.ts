// Events across a live tenant move: a tenant writes events before, during and after its move from
// shard-1 to shard-2, while a relay publishes each shard's outbox to Kafka (as the relay app does).
// Every committed event reaches Kafka exactly once, in the order the tenant wrote them (one
// partition per tenant key), whichever shard's relay published it; none is left unpublished.
//
// Needs a server running with wal_level=logical (deploy/local/infra.sh starts it so).
import { Global, INestApplication, Module } from '@nestjs/common';
import { Topics, type TenantMoveRun } from '@hotdash/contracts';
import { DatabaseModule, type ShardInfo } from '@hotdash/platform-db';
import { createHttpApp } from '@hotdash/platform-http';
import { SagaEngine } from '@hotdash/platform-jobs';
import { createKafkaClient, OutboxRelay, publishInTx, type KafkaClientPort } from '@hotdash/platform-messaging';
import { internalAuthorization, KafkaProbe, opsCaller, TestWorld, waitFor, WorldTenant } from '@hotdash/testing';
import { TENANT_MOVE_CHECKPOINT } from './moves/tenant-move.saga';
import { ProvisioningModule } from './provisioning.module';

jest.setTimeout(180_000);

/** The saga's checkpoints, recorded: the spec checks that events were written inside the move. */
const hits: string[] = [];

@Global()
@Module({ providers: [{ provide: TENANT_MOVE_CHECKPOINT, useValue: (point: string) => void hits.push(point) }], exports: [TENANT_MOVE_CHECKPOINT] })
class CheckpointModule {}

@Module({ imports: [DatabaseModule.forRoot(), CheckpointModule, ProvisioningModule] })
class TestAppModule {}

const world = new TestWorld();
let app: INestApplication;
let base: string;
let s1: ShardInfo;
let s2: ShardInfo;
let kafka: KafkaClientPort;
let relays: OutboxRelay[] = [];
let probe: KafkaProbe;

beforeAll(async () => {
  const shards = await world.shards();
  [s1, s2] = [shards[0]!, shards[1]!];
  probe = await KafkaProbe.start(Topics.TENANTS);
  kafka = createKafkaClient({ brokers: world.config.kafka.brokers, clientId: 'moves-events-spec' });
  const producer = await kafka.producer();
  relays = [s1, s2].map((s) => new OutboxRelay(world.dbs, s, producer, { batchSize: 20 }));
  for (const r of relays) r.start();
  app = await createHttpApp(TestAppModule, { logger: false });
  app.get(SagaEngine).startWorker();
  await app.listen(0, '127.0.0.1');
  base = `http://127.0.0.1:${app.getHttpServer().address().port}`;
});
afterAll(async () => {
  await app?.close();
  await Promise.all(relays.map((r) => r.stop()));
  await kafka?.close();
  await probe?.close();
  await world.close();
});

const call = async (method: string, path: string, body?: unknown) =>
  fetch(`${base}${path}`, {
    method,
    headers: { 'content-type': 'application/json', authorization: await internalAuthorization('provisioning', opsCaller('carol')) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });

/** One event of the tenant, committed on whichever shard serves it now; its sequence number in the name. */
const writeEvent = (t: WorldTenant, run: string, n: number) =>
  world.tenantDb.withTenant(t.id, async (tx) => (await publishInTx(tx, 'tenant.created', { tenantId: t.id, name: `${run} #${n}`, plan: 'basic', shard: 'moving', createdBy: 'moves-events-spec' }, { tenantId: t.id, producer: 'moves-events-spec', correlationId: run })).id);

it('delivers the events written before, during and after a move exactly once, in order', async () => {
  const t = await world.createTenant('move events T', s1);
  const run = `move-events-${t.id.slice(-8)}`;
  const committed: string[] = [];
  const failures: string[] = [];
  let during = 0;
  let moving = false;

  // Before: a burst, published from shard-1.
  for (let n = 0; n < 30; n++) committed.push(await writeEvent(t, run, committed.length));
  await waitFor('the first events on Kafka', async () => probe.envelopes().filter((e) => e.correlationId === run).length >= 30, 30_000, 20);

  // During: a steady stream (one event at a time, as a tenant's requests come) while the move runs.
  let writing = true;
  const writer = (async () => {
    while (writing) {
      try {
        committed.push(await writeEvent(t, run, committed.length));
        if (moving) during++;
      } catch (err) {
        failures.push((err as Error).message);
      }
    }
  })();
  let moved: TenantMoveRun;
  try {
    const res = await call('POST', `/tenants/${t.id}/move`, { shard: s2.name });
    expect(res.status).toBe(202);
    moving = true;
    const started = (await res.json()) as TenantMoveRun;
    moved = await waitFor(
      `move ${started.id} to finish`,
      async () => {
        const r = (await (await call('GET', `/tenants/${t.id}/moves/${started.id}`)).json()) as TenantMoveRun;
        return ['succeeded', 'rolled-back', 'failed'].includes(r.status) ? r : undefined;
      },
      150_000,
      100,
    );
    moving = false;
  } finally {
    writing = false;
    await writer;
  }
  expect(moved).toMatchObject({ status: 'succeeded' });
  expect(failures).toEqual([]);
  expect(during).toBeGreaterThan(0);
  expect(hits).toEqual(expect.arrayContaining(['cut-over:paused']));

  // After: a burst, published from shard-2.
  for (let n = 0; n < 30; n++) committed.push(await writeEvent(t, run, committed.length));
  expect((await world.router.placementOf(t.id)).shard.name).toBe(s2.name);

  await waitFor('every committed event on Kafka', async () => {
    const seen = new Set(probe.envelopes().filter((e) => e.correlationId === run).map((e) => e.id));
    return committed.every((id) => seen.has(id));
  }, 60_000, 50);
  // Both outboxes drained of this tenant's events (none pending anywhere that a relay could publish again).
  const pending = await Promise.all(
    [s1, s2].map(async (s) => {
      const c = await world.connectSuperuser(s.database);
      try {
        return (await c.query<{ n: number }>(`select count(*)::int as n from outbox where tenant_id = $1 and published_at is null`, [t.id])).rows[0]!.n;
      } finally {
        await c.end();
      }
    }),
  );
  expect(pending).toEqual([0, 0]);

  const seen = probe.envelopes().filter((e) => e.correlationId === run).map((e) => e.id);
  const dupes = seen.filter((id, i) => seen.indexOf(id) !== i);
  expect(dupes).toEqual([]);
  expect(seen).toEqual(committed);
  console.log(`move events: ${committed.length} events (${during} during the move) delivered once each, in order`);
});
