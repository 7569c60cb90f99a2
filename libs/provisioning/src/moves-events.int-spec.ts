// Events across a live tenant move: a tenant writes events before, during and after its move from
// shard-1 to shard-2, while a relay publishes each shard's outbox to Kafka (as the relay app does).
// Every committed event reaches Kafka exactly once, in the order the tenant wrote them (one
// partition per tenant key), whichever shard's relay published it; none is left unpublished. The
// target's relay lags behind another tenant's backlog, as a busy shard's does.
//
// Needs a server running with wal_level=logical (deploy/local/infra.sh starts it so).
import { Global, INestApplication, Module } from '@nestjs/common';
import { Topics, type TenantMoveRun } from '@hotdash/contracts';
import { Queue } from 'bullmq';
import { DatabaseModule, newId, type ShardInfo } from '@hotdash/platform-db';
import { createHttpApp } from '@hotdash/platform-http';
import { SagaEngine } from '@hotdash/platform-jobs';
import { createKafkaClient, OutboxRelay, publishInTx, type KafkaClientPort } from '@hotdash/platform-messaging';
import { internalAuthorization, KafkaProbe, opsCaller, TestWorld, waitFor, WorldTenant } from '@hotdash/testing';
import { TENANT_MOVE_CHECKPOINT } from './moves/tenant-move.saga';
import { ProvisioningModule } from './provisioning.module';
import { PROVISIONING_SAGA_QUEUE } from './provisioning.tokens';

jest.setTimeout(180_000);

/** The saga's checkpoints, recorded: the spec checks that events were written inside the move. */
const hits: string[] = [];
/** A saga queue of the spec's own: no other process's worker takes its steps. */
const queue = `hotdash-moves-events-${newId().slice(-12)}`;

@Global()
@Module({
  providers: [
    { provide: TENANT_MOVE_CHECKPOINT, useValue: (point: string) => void hits.push(point) },
    { provide: PROVISIONING_SAGA_QUEUE, useValue: queue },
  ],
  exports: [TENANT_MOVE_CHECKPOINT, PROVISIONING_SAGA_QUEUE],
})
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
/** The spec's tenants, removed in afterAll. */
const made: WorldTenant[] = [];

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
  const ids = made.map((t) => t.id);
  for (const s of [s1, s2]) {
    const c = await world.connectSuperuser(s.database);
    try {
      for (const t of made) await c.query('select erase_tenant($1)', [t.id]);
      await c.query('delete from tenant_fences where tenant_id = any($1)', [ids]);
    } finally {
      await c.end();
    }
  }
  const owner = await world.connect(world.dbs.controlLocation, 'owner');
  try {
    await owner.query(`delete from sagas where tenant_id = any($1)`, [ids]);
    await owner.query('delete from ops_actions where target = any($1)', [ids]);
    await owner.query('delete from tenant_placements where tenant_id = any($1)', [ids]);
    await owner.query('delete from tenants where id = any($1)', [ids]);
  } finally {
    await owner.end();
  }
  const q = new Queue(queue, { connection: { host: world.config.redis.host, port: world.config.redis.port } });
  await q.obliterate({ force: true }).catch(() => undefined);
  await q.close();
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
  const busy = await world.createTenant('move events backlog', s2);
  made.push(t, busy);
  const run = `move-events-${t.id.slice(-8)}`;
  const committed: string[] = [];
  const failures: string[] = [];
  let during = 0;
  let moving = false;

  // Before: a burst, published from shard-1.
  for (let n = 0; n < 30; n++) committed.push(await writeEvent(t, run, committed.length));
  await waitFor('the first events on Kafka', async () => probe.envelopes().filter((e) => e.correlationId === run).length >= 30, 30_000, 20);

  // The target's relay behind another tenant's backlog (written in one transaction, published in seq order before anything written later).
  await world.tenantDb.withTenant(busy.id, async (tx) => {
    for (let n = 0; n < 1500; n++) await publishInTx(tx, 'tenant.created', { tenantId: busy.id, name: `backlog #${n}`, plan: 'basic', shard: 'busy', createdBy: 'moves-events-spec' }, { tenantId: busy.id, producer: 'moves-events-spec', correlationId: `${run}-backlog` });
  });

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

  // Both outboxes drained of the tenant's events: nothing left that a relay could publish later (a
  // row published from the source and copied pending to the target would be published again here).
  const pendingOn = async (s: ShardInfo) => {
    const c = await world.connectSuperuser(s.database);
    try {
      return (await c.query<{ n: number }>(`select count(*)::int as n from outbox where tenant_id = $1 and published_at is null`, [t.id])).rows[0]!.n;
    } finally {
      await c.end();
    }
  };
  await waitFor('both outboxes drained of the tenant’s events', async () => (await pendingOn(s1)) + (await pendingOn(s2)) === 0, 90_000, 100);
  // A last event, written after the drain on the tenant's shard: the relay publishes in seq order and
  // the tenant's events share one partition, so once the probe has it, it has everything before it.
  const sentinel = await writeEvent(t, run, committed.length);
  await waitFor('the last event on Kafka', async () => probe.envelopes().some((e) => e.id === sentinel), 60_000, 50);
  committed.push(sentinel);

  const seen = probe.envelopes().filter((e) => e.correlationId === run).map((e) => e.id);
  const dupes = seen.filter((id, i) => seen.indexOf(id) !== i);
  expect(dupes).toEqual([]);
  expect(seen).toEqual(committed);
  console.log(`move events: ${committed.length} events (${during} during the move) delivered once each, in order`);
});
