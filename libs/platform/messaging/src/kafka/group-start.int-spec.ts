// Where a new consumer group starts, with both Kafka adapters against the local broker: the start is
// written down (committed) for every partition before the group first consumes, so it is decided
// once. A new "latest" group whose member was stopped before it committed anything on a partition
// (a service killed moments after its first start) comes back to where it first started, not to
// the partition's end at its second start: what was produced while it was down is read. And a new
// group that starts from the beginning reads what was produced before it existed.
import { randomUUID } from 'node:crypto';
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import { waitFor } from '@hotdash/testing';
import { createKafkaClient, KafkaClientName } from './index';
import { partitionOfKey } from './in-process.adapter';
import { busForSpec } from './in-process.testing';
import type { IncomingRecord, KafkaClientPort } from './kafka.port';

jest.setTimeout(60_000);

const brokers = (process.env.KAFKA_BROKERS ?? '127.0.0.1:19092').split(',');
const runId = `${Date.now()}-${randomUUID().slice(0, 8)}`;
const admin = new Kafka({ clientId: `group-start-${runId}`, brokers, logLevel: logLevel.NOTHING }).admin();
const producer = new Kafka({ clientId: `group-start-${runId}`, brokers, logLevel: logLevel.NOTHING }).producer({ createPartitioner: Partitioners.DefaultPartitioner });
const topics: string[] = [];
const groups: string[] = [];

beforeAll(async () => {
  await admin.connect();
  await producer.connect();
});

afterAll(async () => {
  await producer.disconnect();
  await admin.deleteGroups(groups).catch(() => undefined);
  await admin.deleteTopics({ topics }).catch(() => undefined);
  await admin.disconnect();
});

/** A topic of two partitions of the spec's own. */
async function kafkaTopic(name: string): Promise<string> {
  const t = `it-group-start-${name}-${runId}`;
  await admin.createTopics({ waitForLeaders: true, topics: [{ topic: t, numPartitions: 2, replicationFactor: 1 }] });
  topics.push(t);
  return t;
}

const kafkaSend = (t: string, partition: number, value: string) => producer.send({ topic: t, messages: [{ partition, value }] });

// The in-process bus (embedded mode) too: its topics are made and written through the port (a key
// that lands on the partition), in a temporary directory that outlives each test's client.
describe.each<KafkaClientName>(['platformatic', 'kafkajs', 'in-process'])('%s', (name) => {
  let client: KafkaClientPort;
  const bus = busForSpec(name);
  beforeAll(() => bus.start());
  afterAll(() => bus.stop());
  beforeEach(() => {
    client = createKafkaClient({ brokers, clientId: `group-start-${name}-${runId}` }, name);
  });
  afterEach(() => client.close());

  const topic = async (label: string): Promise<string> => {
    if (name !== 'in-process') return kafkaTopic(label);
    const t = `it-group-start-${label}-${runId}`;
    await client.ensureTopics([{ topic: t, partitions: 2 }]);
    return t;
  };
  const send = async (t: string, partition: number, value: string): Promise<void> => {
    if (name !== 'in-process') return void (await kafkaSend(t, partition, value));
    let key = 0;
    while (partitionOfKey(`k${key}`, 2) !== partition) key++;
    const producer = await client.producer();
    await producer.send([{ topic: t, key: `k${key}`, value, headers: {} }]);
    await producer.close();
  };

  /** A member of the group, consuming into `seen` until closed. */
  async function member(t: string, groupId: string, fromBeginning: boolean, seen: string[]) {
    const consumer = await client.consumer({ groupId, topics: [t], fromBeginning, sessionTimeoutMs: 6_000 });
    await consumer.run(async (records: IncomingRecord[]) => void seen.push(...records.map((r) => r.value.toString('utf8'))));
    return consumer;
  }

  it('brings a new "latest" group stopped before its first commit on a partition back to where it first started', async () => {
    const t = await topic(`latest-${name}`);
    const groupId = `it-group-start-latest-${name}-${runId}`;
    groups.push(groupId);
    await send(t, 1, 'before the group existed');
    const seen: string[] = [];
    const first = await member(t, groupId, false, seen);
    // Consuming: a ping on partition 0 comes through (so its offset is committed; partition 1 has seen nothing).
    let pings = 0;
    await waitFor('the first member consuming', async () => {
      await send(t, 0, `ping ${++pings}`);
      return seen.some((v) => v.startsWith('ping'));
    }, 45_000, 500);
    await first.close();
    // Produced while no member runs: partition 1 never had a record handled, so nothing was committed for it by consuming.
    await send(t, 1, 'while down 1');
    await send(t, 0, 'while down 0');
    const again: string[] = [];
    const second = await member(t, groupId, false, again);
    try {
      await waitFor('the second member consuming', async () => {
        await send(t, 1, 'after restart');
        return again.includes('after restart');
      }, 45_000, 500);
      expect(again).toEqual(expect.arrayContaining(['while down 0', 'while down 1']));
      expect(again).not.toContain('before the group existed');
    } finally {
      await second.close();
    }
  });

  it('reads, in a new group starting from the beginning, what was produced before the group existed', async () => {
    const t = await topic(`earliest-${name}`);
    const groupId = `it-group-start-earliest-${name}-${runId}`;
    groups.push(groupId);
    await send(t, 0, 'early 0');
    await send(t, 1, 'early 1');
    const seen: string[] = [];
    const consumer = await member(t, groupId, true, seen);
    try {
      await waitFor('the records produced before the group existed', async () => seen.includes('early 0') && seen.includes('early 1'), 45_000);
    } finally {
      await consumer.close();
    }
  });
});
