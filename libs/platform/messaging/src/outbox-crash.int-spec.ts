// Outbox crash: the relay process is SIGKILLed between commit and publish, round after round, at two
// crash points drawn from a seed (CRASH_SEED replays a run; the seed is printed), each drawn at
// least once: killed by the spec at a random moment while it runs (before it connected, mid-batch
// or after it drained), and killed by itself right after Kafka acknowledged a batch, before the
// batch was marked published (it says so on stdout first). The spec asserts that each crash it
// claims happened: every "after send" round died by that SIGKILL after its marker, every "random"
// round's relay was alive when the spec killed it. Every committed event is published at least once
// (a batch sent before an "after send" crash goes again: nothing marked it); no event of a
// rolled-back transaction ever is. With the configured Kafka client and with the in-process bus
// (embedded mode): there the killed relays' bus is the same directory each time (one process at a
// time holds it; a killed one's lock is taken over), and the probe opens it after the last kill.
import { Topics } from '@hotdash/contracts';
import { newId } from '@hotdash/platform-db';
import { crashSeed, KafkaProbe, seededRandom, shuffled, sleep, startProcess, TestWorld, waitFor, WorldTenant } from '@hotdash/testing';
import { readSetting } from '@hotdash/platform-config';
import { createKafkaClient, type KafkaClientName } from './kafka';
import { busForSpec } from './kafka/in-process.testing';
import { OutboxRelay } from './relay';
import { publishInTx } from './outbox';

type CrashPoint = 'random' | 'after-send';
/** Rounds (each a relay process killed); CRASH_ROUNDS runs more, e.g. 20 for a longer drill. */
const ROUNDS = Math.max(2, Number(process.env.CRASH_ROUNDS ?? 8));
const SEED = crashSeed();
const world = new TestWorld();
let a: WorldTenant;
let b: WorldTenant;

beforeAll(async () => {
  ({ a, b } = await world.twoTenantWorld());
});
afterAll(async () => {
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

describe.each([readSetting('HOTDASH_KAFKA_CLIENT'), 'in-process'] as KafkaClientName[])('with the %s client', (clientName) => {
  const bus = busForSpec(clientName);
  let probe: KafkaProbe | undefined;

  beforeAll(async () => {
    await bus.start(); // in-process: the relay children inherit HOTDASH_KAFKA_CLIENT and HOTDASH_BUS_DIR
    // Only what is published from now on: the topic holds every earlier spec's events. (The
    // in-process bus is new and empty; its probe starts after the kills, the bus being one process's.)
    if (clientName !== 'in-process') probe = await KafkaProbe.start(Topics.TENANTS, { from: 'end' });
  });
  afterAll(async () => {
    await probe?.close();
    await bus.stop();
  });

  it(`publishes every committed event and none rolled back, across ${ROUNDS} relay kills at seeded crash points`, async () => {
    console.log(`outbox crash spec: seed ${SEED} (CRASH_SEED=${SEED} replays it)`);
    const random = seededRandom(SEED);
    const drawn: CrashPoint[] = ['random', 'after-send'];
    while (drawn.length < ROUNDS) drawn.push(random() < 0.5 ? 'random' : 'after-send');
    const plan = shuffled(drawn, random);

    const committed: string[] = [];
    const rolledBack: string[] = [];
    const run = newId();
    const hit: CrashPoint[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      for (let i = 0; i < 12; i++) {
        const t = i % 2 ? a : b;
        const commit = i % 4 !== 3;
        (commit ? committed : rolledBack).push(await writeEvent(t, `crash ${run} ${round}.${i}`, commit));
      }
      const point = plan[round]!;
      const relay = startProcess('libs/testing/src/children/relay.child.ts', {
        HOTDASH_RELAY_LOCATION: JSON.stringify({ host: a.shard.host, port: a.shard.port, database: a.shard.database }),
        // The round's 9 new events are waiting: the relay's first batch is sent, then it dies.
        HOTDASH_RELAY_CRASH_AFTER_SEND: point === 'after-send' ? '1' : '0',
      });
      if (point === 'after-send') {
        await waitFor(`the relay of round ${round} to kill itself after a send`, async () => relay.child.exitCode !== null || relay.child.signalCode !== null, 20_000, 20);
        if (relay.child.signalCode === 'SIGKILL' && /^crash-after-send \d+$/m.test(relay.output())) hit.push(point);
        else console.log(`round ${round}: the relay did not die after a send (exit ${relay.child.exitCode}, ${relay.child.signalCode}):\n${relay.output()}`);
      } else {
        // Killed at a random moment: before it connected, mid-batch, or after it drained.
        await sleep(Math.floor(random() * 1_500));
        if (relay.child.exitCode === null && relay.child.signalCode === null) hit.push(point);
        await relay.kill();
      }
    }
    // Each crash the spec claims happened, in the rounds it was drawn for.
    expect(hit).toEqual(plan);

    probe ??= await KafkaProbe.start(Topics.TENANTS);
    const reader = probe;
    // A relay that is left alone publishes whatever the killed ones did not.
    const kafka = createKafkaClient({ brokers: world.config.kafka.brokers, clientId: 'crash-spec' }, clientName);
    const relay = new OutboxRelay(world.dbs, a.shard, await kafka.producer(), { batchSize: 50 });
    relay.start();
    try {
      await waitFor(
        'every committed event on Kafka',
        async () => {
          const seen = new Set(reader.envelopes().map((e) => e.id));
          return committed.every((id) => seen.has(id));
        },
        60_000,
      );
      await sleep(1000);
    } finally {
      await relay.stop();
      await kafka.close();
    }
    const seen = reader.envelopes().map((e) => e.id);
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
    // Duplicates are allowed (a crash after the send republishes the batch; consumers' inboxes drop
    // them). The batch may hold other specs' rows of the shard, so they are counted, not asserted.
    const ours = seen.filter((id) => committed.includes(id));
    const afterSend = plan.filter((p) => p === 'after-send').length;
    console.log(`outbox crash: ${committed.length} committed, ${rolledBack.length} rolled back, ${ours.length - committed.length} duplicates, ${afterSend} crashes after a send, ${ROUNDS - afterSend} random kills`);
  }, 120_000);
});
