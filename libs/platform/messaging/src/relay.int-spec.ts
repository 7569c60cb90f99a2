// The relay sets aside an outbox row that can never be published (unknown topic, too large) with
// the reason, and publishes the events behind it instead of stalling the whole shard; it spaces its
// drains so that a steady flow of commits goes out in batches.
import { deadLetterTopic, Topics } from '@hotdash/contracts';
import { newId } from '@hotdash/platform-db';
import { KafkaProbe, sleep, TestWorld, waitFor } from '@hotdash/testing';
import { readSetting } from '@hotdash/platform-config';
import { createKafkaClient, type KafkaClientName } from './kafka';
import { busForSpec } from './kafka/in-process.testing';
import { publishInTx } from './outbox';
import { OutboxRelay } from './relay';

// The probe reads the tenants topic from its beginning, which grows with every run on a developer's machine.
jest.setTimeout(60_000);

const world = new TestWorld();
afterAll(() => world.close());

// The configured Kafka client, and the in-process bus (embedded mode): the relay only sees the port's producer.
describe.each([readSetting('HOTDASH_KAFKA_CLIENT'), 'in-process'] as KafkaClientName[])('with the %s client', (clientName) => {
  const bus = busForSpec(clientName);
  beforeAll(() => bus.start());
  afterAll(() => bus.stop());

  it('sets aside unpublishable rows and publishes the events behind them', async () => {
    const { a } = await world.twoTenantWorld();
    const probe = await KafkaProbe.start(Topics.TENANTS);
    const kafka = createKafkaClient({ brokers: world.config.kafka.brokers, clientId: 'relay-spec' }, clientName);
    const errors: string[] = [];
    const relay = new OutboxRelay(world.dbs, a.shard, await kafka.producer(), { onError: (e) => errors.push(e.message) });
    const bad = newId();
    const huge = newId();
    try {
      const good = await world.tenantDb.withTenant(a.id, async (tx) => {
        await tx.db.insertInto('outbox').values({ id: bad, tenant_id: a.id, topic: 'no.such.topic', key: a.id, type: 'tenant.created', version: 1, envelope: '{}' }).execute();
        await tx.db.insertInto('outbox').values({ id: huge, tenant_id: a.id, topic: Topics.TENANTS, key: a.id, type: 'tenant.created', version: 1, envelope: JSON.stringify({ pad: 'x'.repeat(1_000_000) }) }).execute();
        return publishInTx(tx, 'tenant.created', { tenantId: a.id, name: 'behind the poison', plan: 'basic', shard: a.shard.name, createdBy: 'spec' }, { tenantId: a.id, producer: 'relay-spec', correlationId: 'c' });
      });
      relay.start();
      await waitFor('the good event on Kafka', async () => probe.envelopes().some((e) => e.id === good.id), 30_000);
      // The relay commits its marks after Kafka acknowledged the batch: the event can be read before that.
      const rows = await waitFor('the unpublishable rows set aside', async () => {
        const r = await world.tenantDb.withTenant(a.id, (tx) =>
          tx.db.selectFrom('outbox').select(['id', 'published_at', 'failed_at', 'last_error']).where('id', 'in', [bad, huge]).orderBy('seq').execute(),
        );
        return r.every((row) => row.failed_at !== null) ? r : undefined;
      }, 10_000);
      expect(rows).toEqual([
        { id: bad, published_at: null, failed_at: expect.any(Date), last_error: 'unknown topic "no.such.topic"' },
        { id: huge, published_at: null, failed_at: expect.any(Date), last_error: expect.stringMatching(/exceeds/) },
      ]);
      expect(errors.some((e) => e.includes(bad))).toBe(true);
    } finally {
      await relay.stop();
      await kafka.close();
      await probe.close();
    }
  });

  it('spaces its drains: rows committed within the interval go out in one batch, the first row after a quiet spell at once', async () => {
    // A scratch shard no other relay drains; the rows go to a dead-letter topic, which no service consumes.
    const name = `hotdash_spec_relay_${newId().replace(/-/g, '').slice(-12)}`;
    const location = await world.createScratchShardDatabase(name);
    const su = await world.connectSuperuser(name);
    const kafka = createKafkaClient({ brokers: world.config.kafka.brokers, clientId: 'relay-spec' }, clientName);
    const batches: { n: number; at: number }[] = [];
    const spacing = 2_000;
    const relay = new OutboxRelay(world.dbs, location, await kafka.producer(), { minDrainIntervalMs: spacing, pollIntervalMs: 60_000, onPublished: (n) => batches.push({ n, at: performance.now() }) });
    const tenant = newId();
    const row = () => su.query(`insert into outbox (id, tenant_id, topic, key, type, version, envelope) values ($1, $2, $3, $4, 'tenant.created', 1, '{}')`, [newId(), tenant, deadLetterTopic(Topics.TENANTS), tenant]);
    try {
      relay.start();
      await row(); // the producer's first send connects to the broker: not what is timed here
      await waitFor('a first row published', async () => batches.length === 1, 20_000, 20);
      // A quiet spell: after a drain that published, the relay drains once more an interval later (for
      // rows that came meanwhile); quiet means that follow-up found nothing and an interval has passed since.
      await sleep(2 * spacing + 500);
      const first = performance.now();
      await row();
      await waitFor('the next row published', async () => batches.length === 2, 10_000, 20);
      expect(batches[1]!.n).toBe(1);
      expect(batches[1]!.at - first).toBeLessThan(spacing * 0.75);
      for (let i = 0; i < 5; i++) await row(); // five commits, each notifying
      await waitFor('the five rows published', async () => batches.reduce((n, b) => n + b.n, 0) === 7, 10_000, 20);
      expect(batches.map((b) => b.n)).toEqual([1, 1, 5]);
      expect(batches[2]!.at - batches[1]!.at).toBeGreaterThanOrEqual(spacing * 0.9);
    } finally {
      await relay.stop();
      await kafka.close();
      await su.end();
      await world.dropScratchDatabase(name);
    }
  });
});
