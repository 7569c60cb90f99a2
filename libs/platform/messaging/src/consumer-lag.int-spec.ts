// A consumer's lag as a metric (hotdash_kafka_consumer_lag) against the real broker: per group,
// topic and partition, the records after the last one handled, read from the broker at each scrape;
// and the same on the in-process bus.
import { Kafka, logLevel } from 'kafkajs';
import { loadConfig, readSetting } from '@hotdash/platform-config';
import { newId } from '@hotdash/platform-db';
import { metricsText, startMetrics, stopMetrics } from '@hotdash/platform-http';
import { waitFor } from '@hotdash/testing';
import { withConsumerLag } from './consumer-lag';
import { createKafkaClient, type KafkaClientName, type KafkaClientPort } from './kafka';
import { busForSpec } from './kafka/in-process.testing';

jest.setTimeout(60_000);

const config = loadConfig();
const admin = new Kafka({ clientId: 'lag-spec-admin', brokers: config.kafka.brokers, logLevel: logLevel.NOTHING }).admin();

beforeAll(async () => {
  await admin.connect();
  await startMetrics({ service: 'lag-spec' });
});

afterAll(async () => {
  await stopMetrics();
  await admin.disconnect();
});

// The configured Kafka client, and the in-process bus (embedded mode).
describe.each([readSetting('HOTDASH_KAFKA_CLIENT'), 'in-process'] as KafkaClientName[])('with the %s client', (clientName) => {
  const topic = `spec-lag-${newId()}`;
  const group = `spec-lag-${newId().slice(-12)}`;
  const bus = busForSpec(clientName);
  let kafka: KafkaClientPort;

  beforeAll(async () => {
    await bus.start();
    kafka = withConsumerLag(createKafkaClient({ brokers: config.kafka.brokers, clientId: `lag-spec-${newId().slice(-12)}` }, clientName), group);
    await kafka.ensureTopics([{ topic, partitions: 1 }]);
  });

  afterAll(async () => {
    await kafka?.close();
    await bus.stop();
    if (clientName === 'in-process') return;
    await admin.deleteGroups([group]).catch(() => undefined);
    await admin.deleteTopics({ topics: [topic] }).catch((err: Error) => console.warn(`deleting ${topic}: ${err.message}`));
  });

  const lag = async (): Promise<number | undefined> => {
    const line = (await metricsText()).split('\n').find((l) => l.startsWith(`hotdash_kafka_consumer_lag{group="${group}",topic="${topic}",partition="0"`));
    return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
  };

  it('reports the records after the last one handled, per group, topic and partition, and nothing for partitions not consumed from', async () => {
    const producer = await kafka.producer();
    const send = (n: number) => producer.send(Array.from({ length: n }, (_, i) => ({ topic, key: 'k', value: `r${i}`, headers: {} })));
    await send(3);
    expect(await lag()).toBeUndefined();
    let handled = 0;
    const consumer = await kafka.consumer({ groupId: group, topics: [topic], fromBeginning: true });
    await consumer.run(async (records) => {
      handled += records.length;
    });
    await waitFor('the three records handled', async () => handled === 3);
    await waitFor('no lag once they are handled', async () => (await lag()) === 0);
    // Stopped, then two more records: two behind.
    await consumer.close();
    await send(2);
    expect(await lag()).toBe(2);
    await producer.close();
  });
});
