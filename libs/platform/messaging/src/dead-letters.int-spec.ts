// The Kafka port's reader (offsets, readRange) against the real broker, with both adapters: a
// partition's bounds, a range read from an offset with its key, value and headers, the end as it was
// when called, an empty partition; no consumer group is left behind (kafkajs reads through a
// throwaway group it deletes; platformatic never joins one). The dead-letter API over it:
// libs/provisioning/src/dead-letters/dead-letters.int-spec.ts.
import { Kafka, logLevel } from 'kafkajs';
import { loadConfig } from '@hotdash/platform-config';
import { newId } from '@hotdash/platform-db';
import { waitFor } from '@hotdash/testing';
import { createKafkaClient, type KafkaClientPort, type KafkaProducerPort } from './kafka';
import { busForSpec } from './kafka/in-process.testing';

jest.setTimeout(60_000);

const config = loadConfig();
const admin = new Kafka({ clientId: 'range-spec-admin', brokers: config.kafka.brokers, logLevel: logLevel.NOTHING }).admin();
const topics: string[] = [];

beforeAll(() => admin.connect());
afterAll(async () => {
  if (topics.length) await admin.deleteTopics({ topics }).catch((err: Error) => console.warn(`deleting ${topics.join(', ')}: ${err.message}`));
  await admin.disconnect();
});

// The in-process bus (embedded mode) too; its topics are files in a temporary directory, and it has no consumer groups on the broker to look for.
describe.each(['platformatic', 'kafkajs', 'in-process'] as const)('with the %s client', (clientName) => {
  const bus = busForSpec(clientName);
  const clientId = `range-spec-${clientName}-${newId().slice(-12)}`;
  const topic = `spec-range-${clientName}-${newId()}`;
  let kafka: KafkaClientPort;
  let producer: KafkaProducerPort;

  beforeAll(async () => {
    if (clientName !== 'in-process') topics.push(topic);
    await bus.start();
    kafka = createKafkaClient({ brokers: config.kafka.brokers, clientId }, clientName);
    await kafka.ensureTopics([{ topic, partitions: 3 }]);
    producer = await kafka.producer();
  });

  afterAll(async () => {
    await kafka?.close();
    await bus.stop();
  });

  it('reads a partition’s records by offset range, and leaves no consumer group behind', async () => {
    const empty = await kafka.offsets(topic);
    expect(empty).toEqual([0, 1, 2].map((partition) => ({ partition, low: '0', high: '0' })));
    const sent = Array.from({ length: 5 }, (_, i) => ({ topic, key: 'one-key', value: JSON.stringify({ n: i, text: 'ünïcode' }), headers: { 'hotdash-event-id': `e-${i}`, 'hotdash-dlq-error': `error ${i}` } }));
    await producer.send(sent);
    const bounds = await kafka.offsets(topic);
    const used = bounds.filter((b) => b.high !== '0');
    expect(used).toEqual([{ partition: used[0]!.partition, low: '0', high: '5' }]);
    const p = used[0]!.partition;

    const whole = await kafka.readRange(topic, p, '0', 100);
    expect(whole.map((r) => ({ topic: r.topic, partition: r.partition, offset: r.offset, key: r.key, value: r.value.toString('utf8'), headers: r.headers }))).toEqual(
      sent.map((s, i) => ({ topic, partition: p, offset: String(i), key: 'one-key', value: s.value, headers: s.headers })),
    );
    expect((await kafka.readRange(topic, p, '2', 2)).map((r) => r.offset)).toEqual(['2', '3']);
    expect((await kafka.readRange(topic, p, '4', 10)).map((r) => r.offset)).toEqual(['4']);
    expect(await kafka.readRange(topic, p, '5', 10)).toEqual([]);
    expect(await kafka.readRange(topic, (p + 1) % 3, '0', 10)).toEqual([]);
    await expect(kafka.readRange(topic, 7, '0', 1)).rejects.toThrow(/no partition 7/);

    // Nothing of this client's reads is a consumer group now (kafkajs deleted its throwaway groups; platformatic joined none).
    const groups = await waitFor(
      'no range-reader group of this client',
      async () => {
        const { groups: all } = await admin.listGroups();
        const mine = all.filter((g) => g.groupId.startsWith(`hotdash-range-reader-${clientId}`));
        return mine.length === 0 ? all : undefined;
      },
      10_000,
    );
    expect(groups.filter((g) => g.groupId.includes(clientId))).toEqual([]);
  });
});
