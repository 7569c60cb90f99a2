// Outbox crash: the relay is killed (SIGKILL) between commit and publish, 20 times — at random
// moments, and sometimes exactly after Kafka acknowledged a batch but before it was marked published.
// Every committed event is published at least once; no event of a rolled-back transaction ever is.
import { Topics } from '@hotdash/contracts';
import { newId } from '@hotdash/platform-db';
import { KafkaProbe, sleep, startProcess, TestWorld, waitFor, WorldTenant } from '@hotdash/testing';
import { createKafkaClient } from './kafka';
import { OutboxRelay } from './relay';
import { publishInTx } from './outbox';

const ROUNDS = 20;
const world = new TestWorld();
let a: WorldTenant;
let b: WorldTenant;
let probe: KafkaProbe;

beforeAll(async () => {
  ({ a, b } = await world.twoTenantWorld());
  probe = await KafkaProbe.start(Topics.TENANTS);
});
afterAll(async () => {
  await probe.close();
  await world.close();
});

async function writeEvent(t: WorldTenant, name: string, commit: boolean): Promise<string> {
  let id = '';
  await world.tenantDb
    .withTenant(t.id, async (tx) => {
      const e = await publishInTx(tx, 'tenant.created', { tenantId: t.id, name, plan: 'basic', shard: t.shard.name, createdBy: 'crash-spec' }, { tenantId: t.id, producer: 'crash-spec', correlationId: name });
      id = e.id;
      if (!commit) throw new Error('roll back');
    })
    .catch((err: Error) => {
      if (err.message !== 'roll back') throw err;
    });
  return id;
}

it(`publishes every committed event and none rolled back, across ${ROUNDS} relay kills`, async () => {
  const committed: string[] = [];
  const rolledBack: string[] = [];
  const run = newId();
  let selfCrashes = 0;
  for (let round = 0; round < ROUNDS; round++) {
    for (let i = 0; i < 12; i++) {
      const t = i % 2 ? a : b;
      const commit = i % 4 !== 3;
      (commit ? committed : rolledBack).push(await writeEvent(t, `crash ${run} ${round}.${i}`, commit));
    }
    const relay = startProcess('libs/testing/src/children/relay.child.ts', {
      HOTDASH_RELAY_LOCATION: JSON.stringify({ host: a.shard.host, port: a.shard.port, database: a.shard.database }),
      HOTDASH_RELAY_CRASH_AFTER_SEND: round % 2 ? '0.5' : '0',
    });
    // Kill it at a random moment: before it connected, mid-batch, or after it drained.
    await sleep(Math.floor(Math.random() * 2500));
    if (relay.child.exitCode === null && relay.child.signalCode === null) await relay.kill();
    else selfCrashes++;
    await relay.kill();
  }

  // A relay that is left alone publishes whatever the killed ones did not.
  const kafka = createKafkaClient({ brokers: world.config.kafka.brokers, clientId: 'crash-spec' });
  const relay = new OutboxRelay(world.dbs, a.shard, await kafka.producer(), { batchSize: 50 });
  relay.start();
  try {
    await waitFor(
      'every committed event on Kafka',
      async () => {
        const seen = new Set(probe.envelopes().map((e) => e.id));
        return committed.every((id) => seen.has(id));
      },
      60_000,
    );
    await sleep(1000);
  } finally {
    await relay.stop();
    await kafka.close();
  }
  const seen = probe.envelopes().map((e) => e.id);
  const seenSet = new Set(seen);
  expect(committed.filter((id) => !seenSet.has(id))).toEqual([]);
  expect(rolledBack.filter((id) => seenSet.has(id))).toEqual([]);
  // Nothing of ours is left unpublished in the outbox.
  const pending = await world.tenantDb.withTenant(a.id, (tx) =>
    tx.db
      .selectFrom('outbox')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .where('published_at', 'is', null)
      .where('envelope', '@>', JSON.stringify({ producer: 'crash-spec' }))
      .executeTakeFirstOrThrow(),
  );
  expect(Number(pending.n)).toBe(0);
  // Duplicates are allowed (a crash after send republishes the batch; consumers' inboxes drop them).
  const ours = seen.filter((id) => committed.includes(id));
  console.log(`outbox crash: ${committed.length} committed, ${rolledBack.length} rolled back, ${ours.length - committed.length} duplicates, ${selfCrashes} crash-after-send exits`);
}, 300_000);
