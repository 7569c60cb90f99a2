/**
 * PlatformaticKafkaClient against the local broker (127.0.0.1:19092 unless KAFKA_BROKERS is set).
 *
 * @platformatic/kafka is ESM-only and Jest cannot require ESM without --experimental-vm-modules, so the
 * module is mapped to the copy loaded by Node's own loader (Node 24 requires ESM natively).
 */
jest.mock('@platformatic/kafka', () => {
  const vm = jest.requireActual<typeof import('node:vm')>('node:vm');
  const nodeProcess = vm.runInThisContext('process') as NodeJS.Process;
  return nodeProcess.getBuiltinModule('node:module').createRequire(__filename)('@platformatic/kafka');
});

import { randomUUID } from 'node:crypto';
import type { IncomingRecord, KafkaConsumerPort, RecordHandler } from './kafka.port';
import { PlatformaticKafkaClient } from './platformatic.adapter';

jest.setTimeout(60_000);

const brokers = (process.env.KAFKA_BROKERS ?? '127.0.0.1:19092').split(',');
const runId = `${Date.now()}-${randomUUID().slice(0, 8)}`;
const ordersTopic = `it-plt-orders-${runId}`;
const failTopic = `it-plt-fail-${runId}`;
const ordersGroup = `it-plt-group-${runId}`;
const failGroup = `it-plt-fail-group-${runId}`;
const PARTITIONS = 3;
const COUNT = 200;
const KEYS = Array.from({ length: 10 }, (_, i) => `tenant-${i}`);

/**
 * Runs the consumer until `until` holds for the records received so far, then closes it (outside
 * the handler: close() waits for the handler in flight). Resolves with what was received.
 */
async function consumeUntil(
  consumer: KafkaConsumerPort,
  until: (received: IncomingRecord[]) => boolean,
  onRecord?: RecordHandler,
): Promise<IncomingRecord[]> {
  const received: IncomingRecord[] = [];
  let done!: () => void;
  const reached = new Promise<void>((resolve) => (done = resolve));
  const running = consumer.run(async (record) => {
    await onRecord?.(record);
    received.push(record);
    if (until(received)) done();
  });
  running.then(done, done); // stop waiting if run() ends by itself; its outcome is awaited below
  await reached;
  await consumer.close();
  await running;
  if (!until(received)) throw new Error(`run() returned after ${received.length} records`);
  return received;
}

describe('PlatformaticKafkaClient (integration)', () => {
  const client = new PlatformaticKafkaClient({ brokers, clientId: `it-plt-${runId}` });

  beforeAll(async () => {
    await client.ensureTopics([
      { topic: ordersTopic, partitions: PARTITIONS },
      { topic: failTopic, partitions: PARTITIONS },
    ]);
    // Idempotent: a second call with existing topics is a no-op.
    await client.ensureTopics([{ topic: ordersTopic, partitions: PARTITIONS }]);
  });

  afterAll(async () => {
    await client.close();
    const { Admin } = await import('@platformatic/kafka');
    const admin = new Admin({ clientId: `it-plt-cleanup-${runId}`, bootstrapBrokers: brokers });
    try {
      await admin.deleteTopics({ topics: [ordersTopic, failTopic] });
      await admin.deleteGroups({ groups: [ordersGroup, failGroup] }).catch(() => undefined);
    } finally {
      await admin.close();
    }
  });

  it('delivers every record in per-key order with headers, commits, and does not redeliver', async () => {
    const producer = await client.producer();
    const records = Array.from({ length: COUNT }, (_, seq) => {
      const key = KEYS[seq % KEYS.length]!;
      return {
        topic: ordersTopic,
        key,
        value: JSON.stringify({ seq, key }),
        headers: { 'x-seq': String(seq), 'x-tenant': key, 'content-type': 'application/json' },
      };
    });
    for (let i = 0; i < records.length; i += 50) await producer.send(records.slice(i, i + 50));

    const groupId = ordersGroup;
    const seen = new Set<number>();
    const first = await consumeUntil(await client.consumer({ groupId, topics: [ordersTopic] }), (received) => {
      seen.add(JSON.parse(received[received.length - 1]!.value.toString()).seq);
      return seen.size === COUNT;
    });

    expect(seen.size).toBe(COUNT);
    expect(first).toHaveLength(COUNT); // no duplicates in a clean run
    const partitionOf = new Map<string, number>();
    const lastSeqOf = new Map<string, number>();
    for (const r of first) {
      expect(Buffer.isBuffer(r.value)).toBe(true);
      expect(typeof r.offset).toBe('string');
      const body = JSON.parse(r.value.toString()) as { seq: number; key: string };
      expect(r.key).toBe(body.key);
      expect(r.topic).toBe(ordersTopic);
      expect(r.headers).toEqual({ 'x-seq': String(body.seq), 'x-tenant': body.key, 'content-type': 'application/json' });
      // One key, one partition, strictly increasing sequence.
      expect(partitionOf.get(body.key) ?? r.partition).toBe(r.partition);
      partitionOf.set(body.key, r.partition);
      expect(body.seq).toBeGreaterThan(lastSeqOf.get(body.key) ?? -1);
      lastSeqOf.set(body.key, body.seq);
    }
    const partitionsUsed = new Set(partitionOf.values());
    expect(partitionsUsed.size).toBeGreaterThan(1);

    // Same group again: one marker per used partition, sent after the first consumer closed. Records
    // of a partition arrive in order, so anything redelivered would show up before that partition's
    // marker; the consumer stops once every marker arrived.
    const markerKeys = [...partitionsUsed].map((p) => [...partitionOf].find(([, q]) => q === p)![0]);
    await producer.send(markerKeys.map((key) => ({ topic: ordersTopic, key, value: 'marker', headers: { marker: 'yes' } })));
    await producer.close();
    const second = await consumeUntil(
      await client.consumer({ groupId, topics: [ordersTopic] }),
      (received) => received.filter((r) => r.headers.marker === 'yes').length === markerKeys.length,
    );
    expect(second.map((r) => r.value.toString())).toEqual(markerKeys.map(() => 'marker'));
  });

  it('does not commit a record whose handler rejected and redelivers it to the next consumer', async () => {
    const producer = await client.producer();
    const key = 'tenant-fail';
    await producer.send(
      Array.from({ length: 10 }, (_, seq) => ({ topic: failTopic, key, value: String(seq), headers: { 'x-seq': String(seq) } })),
    );
    await producer.close();

    const groupId = failGroup;
    const handled: string[] = [];
    const failing = await client.consumer({ groupId, topics: [failTopic] });
    const boom = new Error('handler failed on 5');
    const run = failing.run(async (record) => {
      if (record.value.toString() === '5') throw boom;
      handled.push(record.value.toString());
    });
    await expect(run).rejects.toBe(boom);
    await failing.close(); // already stopped by the failure; must be harmless
    expect(handled).toEqual(['0', '1', '2', '3', '4']);

    const next = await consumeUntil(
      await client.consumer({ groupId, topics: [failTopic] }),
      (received) => received.some((r) => r.value.toString() === '9'),
    );
    // 0-4 were committed before the failure; 5 was not and comes first.
    expect(next.map((r) => r.value.toString())).toEqual(['5', '6', '7', '8', '9']);
    expect(next[0]!.headers).toEqual({ 'x-seq': '5' });
  });
});
