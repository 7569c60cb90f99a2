/**
 * PlatformaticKafkaClient against the local broker (127.0.0.1:19092 unless KAFKA_BROKERS is set).
 * (@platformatic/kafka is ESM-only: jest.setup.ts maps it to Node's own loader for every spec.)
 */
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
const closeGroup = `it-plt-close-group-${runId}`;
const PARTITIONS = 3;
const COUNT = 200;
const KEYS = Array.from({ length: 10 }, (_, i) => `tenant-${i}`);

/** Resolves with `promise`, or rejects once `ms` passed without it settling. */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Polls `check` until it holds (bounded). */
async function waitUntil(what: string, check: () => boolean, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/**
 * Runs the consumer until `until` holds for the records received so far (bounded), then closes it
 * (outside the handler: close() waits for the handler in flight). Resolves with what was received.
 */
async function consumeUntil(
  consumer: KafkaConsumerPort,
  until: (received: IncomingRecord[]) => boolean,
  ms = 30_000,
): Promise<IncomingRecord[]> {
  const received: IncomingRecord[] = [];
  let done!: () => void;
  const reached = new Promise<void>((resolve) => (done = resolve));
  const handler: RecordHandler = async (records) => {
    received.push(...records);
    if (until(received)) done();
  };
  try {
    await within(consumer.run(handler), ms, 'run() to resolve');
    await within(reached, ms, `the records (got ${received.length} so far)`);
  } finally {
    await consumer.close();
  }
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
      await admin.deleteGroups({ groups: [ordersGroup, failGroup, closeGroup] }).catch(() => undefined);
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
      for (const r of received) seen.add(JSON.parse(r.value.toString()).seq);
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

  it('run() resolves once subscribed; a rejected record is not committed and is redelivered first after a backoff', async () => {
    const groupId = failGroup;
    const key = 'tenant-fail';
    const calls: string[] = []; // every handler call, failed ones included
    const handled: IncomingRecord[] = []; // the calls that succeeded
    const errors: Error[] = [];
    const boom = new Error('handler failed on 5');
    let failedOnce = false;
    // One record per batch, so the failing record is the whole batch that is delivered again.
    const consumer = await client.consumer({ groupId, topics: [failTopic], maxBatch: 1, onError: (err) => errors.push(err) });
    try {
      // Nothing is produced yet: run() must not wait for records (Nest awaits it during listen()).
      await within(
        consumer.run(async ([record]) => {
          const value = record!.value.toString();
          calls.push(value);
          if (value === '5' && !failedOnce) {
            failedOnce = true;
            throw boom;
          }
          handled.push(record!);
        }),
        30_000,
        'run() to resolve',
      );
      expect(calls).toEqual([]);

      const producer = await client.producer();
      await producer.send(
        Array.from({ length: 10 }, (_, seq) => ({ topic: failTopic, key, value: String(seq), headers: { 'x-seq': String(seq) } })),
      );
      await producer.close();

      await waitUntil('all ten records handled', () => handled.length >= 10);
      // One key, one partition: 0-4 handled, 5 failed and nothing after it was handed over until
      // 5 came again (after the backoff, from the committed offset) and succeeded.
      expect(calls).toEqual(['0', '1', '2', '3', '4', '5', '5', '6', '7', '8', '9']);
      expect(handled.map((r) => r.value.toString())).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
      expect(new Set(handled.map((r) => r.partition)).size).toBe(1);
      expect(handled[5]!.headers).toEqual({ 'x-seq': '5' });
      expect(errors).toEqual([boom]);
    } finally {
      await consumer.close();
    }
    await consumer.close(); // idempotent

    // Everything was committed (5 included, once it succeeded): the group's next consumer only gets
    // what is produced from now on.
    const producer = await client.producer();
    await producer.send([{ topic: failTopic, key, value: 'marker', headers: { marker: 'yes' } }]);
    await producer.close();
    const next = await consumeUntil(await client.consumer({ groupId, topics: [failTopic] }), (received) =>
      received.some((r) => r.headers.marker === 'yes'),
    );
    expect(next.map((r) => r.value.toString())).toEqual(['marker']);
  });

  it('close() stops a consumer that keeps failing, also while it waits to retry', async () => {
    const errors: Error[] = [];
    let calls = 0;
    const consumer = await client.consumer({ groupId: closeGroup, topics: [failTopic], onError: (err) => errors.push(err) });
    await within(
      consumer.run(async () => {
        calls++;
        throw new Error('always fails');
      }),
      30_000,
      'run() to resolve',
    );
    // The failTopic already holds records (previous test): the first one fails at once.
    await waitUntil('the first failure to be reported', () => errors.length >= 1);
    await within(consumer.close(), 30_000, 'close() to resolve'); // during (or right before) the backoff wait
    const callsAtClose = calls;
    await new Promise((resolve) => setTimeout(resolve, 1_500)); // longer than the first backoff
    expect(calls).toBe(callsAtClose);
    expect(errors.map((e) => e.message)).toEqual(Array(errors.length).fill('always fails'));
  });
});
