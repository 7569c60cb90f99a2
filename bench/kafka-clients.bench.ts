/**
 * kafkajs vs @platformatic/kafka, used directly (not through the port), against the local broker.
 *
 *   scripts/run node -r @swc-node/register bench/kafka-clients.bench.ts
 *
 * Per round (fresh topic each, deleted afterwards):
 *   produce: N JSON messages (~300 B) keyed by one of 50 tenant ids, in batches of 100 messages, one
 *            awaited send() per batch, idempotent producer, acks=all, Java-compatible murmur2 partitioner;
 *   consume: a fresh consumer group reads the N messages from the beginning until all are seen
 *            (per-message callback, no offset commits), timed from the start of the consumer
 *            (connect + group join included) to the last message.
 * Rounds alternate kafkajs, platformatic, kafkajs, platformatic, ...; the table shows medians. Topics
 * and consumer groups are deleted after each round.
 *
 * Env: KAFKA_BROKERS (default 127.0.0.1:19092), BENCH_N (20000), BENCH_ROUNDS (per client, 4),
 * BENCH_PARTITIONS (6).
 */
process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1';

import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import * as Platformatic from '@platformatic/kafka';
import { Kafka, logLevel } from 'kafkajs';

const BROKERS = (process.env.KAFKA_BROKERS ?? '127.0.0.1:19092').split(',');
const N = Number(process.env.BENCH_N ?? 20_000);
const ROUNDS = Math.max(3, Number(process.env.BENCH_ROUNDS ?? 4));
const PARTITIONS = Number(process.env.BENCH_PARTITIONS ?? 6);
const BATCH = 100;
const TENANTS = Array.from({ length: 50 }, (_, i) => `tenant-${String(i).padStart(2, '0')}`);
const OVERALL_TIMEOUT_MS = 5 * 60_000;
const PHASE_TIMEOUT_MS = 90_000;
const RUN_ID = `${Date.now()}-${randomUUID().slice(0, 6)}`;

type ClientName = 'kafkajs' | 'platformatic';
interface Msg {
  key: string;
  value: string;
}
interface RoundResult {
  client: ClientName;
  round: number;
  produceRate: number;
  consumeRate: number;
  /** consume rate from the first to the last message (group join excluded) */
  steadyRate: number;
  joinMs: number;
}

const kafka = new Kafka({ clientId: `bench-${RUN_ID}`, brokers: BROKERS, logLevel: logLevel.ERROR });
const admin = kafka.admin();
const createdTopics = new Set<string>();
const results: RoundResult[] = [];

function messages(): Msg[] {
  const padding = 'x'.repeat(115);
  return Array.from({ length: N }, (_, seq) => {
    const tenantId = TENANTS[seq % TENANTS.length]!;
    const value = JSON.stringify({
      eventId: randomUUID(),
      tenantId,
      type: 'conversation.message.created',
      seq,
      occurredAt: new Date(1_700_000_000_000 + seq).toISOString(),
      payload: { text: padding },
    });
    return { key: tenantId, value };
  });
}

function withTimeout<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${PHASE_TIMEOUT_MS} ms`)), PHASE_TIMEOUT_MS);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function groupId(client: ClientName, topic: string): string {
  return `${topic}-${client === 'kafkajs' ? 'kjs' : 'plt'}-group`;
}

async function createTopic(topic: string): Promise<void> {
  await admin.createTopics({ topics: [{ topic, numPartitions: PARTITIONS, replicationFactor: 1 }], waitForLeaders: true });
  createdTopics.add(topic);
}

async function deleteTopics(topics: string[]): Promise<void> {
  if (topics.length === 0) return;
  await admin.deleteTopics({ topics, timeout: 10_000 });
  for (const t of topics) createdTopics.delete(t);
}

async function assertTopicHolds(topic: string, expected: number): Promise<void> {
  const offsets = await admin.fetchTopicOffsets(topic);
  const total = offsets.reduce((sum, o) => sum + Number(o.high) - Number(o.low), 0);
  if (total !== expected) throw new Error(`${topic} holds ${total} messages, expected ${expected}`);
}

// ---------------------------------------------------------------------------------------------- kafkajs

async function kafkajsProduce(topic: string, msgs: Msg[]): Promise<number> {
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  try {
    const start = performance.now();
    for (let i = 0; i < msgs.length; i += BATCH) {
      await producer.send({ topic, acks: -1, messages: msgs.slice(i, i + BATCH) });
    }
    return performance.now() - start;
  } finally {
    await producer.disconnect();
  }
}

async function kafkajsConsume(topic: string): Promise<{ totalMs: number; steadyMs: number; joinMs: number }> {
  const consumer = kafka.consumer({ groupId: groupId('kafkajs', topic), maxWaitTimeInMs: 1_000 });
  let seen = 0;
  let first = 0;
  let joined = 0;
  let done!: () => void;
  const allSeen = new Promise<void>((resolve) => (done = resolve));
  consumer.on(consumer.events.GROUP_JOIN, () => (joined ||= performance.now()));
  const start = performance.now();
  try {
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachMessage: async () => {
        if (seen === 0) first = performance.now();
        if (++seen === N) done();
      },
    });
    await withTimeout(allSeen, `kafkajs consume of ${topic}`);
    const end = performance.now();
    return { totalMs: end - start, steadyMs: end - first, joinMs: joined - start };
  } finally {
    await consumer.disconnect();
  }
}

// ------------------------------------------------------------------------------------ @platformatic/kafka

async function platformaticProduce(topic: string, msgs: Msg[]): Promise<number> {
  const producer = new Platformatic.Producer<string, string, string, string>({
    clientId: `bench-plt-${RUN_ID}`,
    bootstrapBrokers: BROKERS,
    idempotent: true,
    acks: Platformatic.ProduceAcks.ALL,
    serializers: Platformatic.stringSerializers,
    // Same partitions as kafkajs' DefaultPartitioner (the library default hashes differently).
    partitioner: Platformatic.compatibilityPartitioner,
  });
  try {
    const start = performance.now();
    for (let i = 0; i < msgs.length; i += BATCH) {
      const batch = msgs.slice(i, i + BATCH).map((m) => ({ topic, key: m.key, value: m.value }));
      await producer.send({ messages: batch });
    }
    return performance.now() - start;
  } finally {
    await producer.close();
  }
}

async function platformaticConsume(topic: string): Promise<{ totalMs: number; steadyMs: number; joinMs: number }> {
  const consumer = new Platformatic.Consumer({
    clientId: `bench-plt-${RUN_ID}`,
    bootstrapBrokers: BROKERS,
    groupId: groupId('platformatic', topic),
    autocommit: false,
    maxWaitTime: 1_000,
  });
  let seen = 0;
  let first = 0;
  let joined = 0;
  let done!: () => void;
  const allSeen = new Promise<void>((resolve) => (done = resolve));
  consumer.on('consumer:group:join', () => (joined ||= performance.now()));
  const start = performance.now();
  let stream: Platformatic.MessagesStream<Buffer, Buffer, Buffer, Buffer> | undefined;
  try {
    stream = await consumer.consume({
      topics: [topic],
      autocommit: false,
      mode: Platformatic.MessagesStreamModes.COMMITTED,
      fallbackMode: Platformatic.MessagesStreamFallbackModes.EARLIEST,
    });
    let failed: ((err: Error) => void) | undefined;
    const streamError = new Promise<never>((_, reject) => (failed = reject));
    stream.on('error', (err) => failed?.(err));
    stream.on('data', () => {
      if (seen === 0) first = performance.now();
      if (++seen === N) done();
    });
    await withTimeout(Promise.race([allSeen, streamError]), `platformatic consume of ${topic}`);
    const end = performance.now();
    return { totalMs: end - start, steadyMs: end - first, joinMs: joined - start };
  } finally {
    await stream?.close().catch(() => undefined);
    await consumer.close(true);
  }
}

// ------------------------------------------------------------------------------------------------ driver

async function round(client: ClientName, roundNo: number, msgs: Msg[]): Promise<RoundResult> {
  const topic = `bench-${client}-${RUN_ID}-r${roundNo}`;
  await createTopic(topic);
  try {
    const produceMs = client === 'kafkajs' ? await kafkajsProduce(topic, msgs) : await platformaticProduce(topic, msgs);
    await assertTopicHolds(topic, N);
    const c = client === 'kafkajs' ? await kafkajsConsume(topic) : await platformaticConsume(topic);
    return {
      client,
      round: roundNo,
      produceRate: (N / produceMs) * 1000,
      consumeRate: (N / c.totalMs) * 1000,
      steadyRate: (N / c.steadyMs) * 1000,
      joinMs: c.joinMs,
    };
  } finally {
    await deleteTopics([topic]).catch((err) => console.error(`could not delete ${topic}: ${String(err)}`));
    await admin.deleteGroups([groupId(client, topic)]).catch(() => undefined); // absent if consume never ran
  }
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function fmt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

function report(): void {
  const of = (client: ClientName) => results.filter((r) => r.client === client);
  const k = of('kafkajs');
  const p = of('platformatic');
  if (k.length === 0 || p.length === 0) {
    console.log('not enough rounds completed for a comparison');
    return;
  }
  const rows: [string, (r: RoundResult) => number][] = [
    ['produce (msgs/s)', (r) => r.produceRate],
    ['consume (msgs/s, incl. group join)', (r) => r.consumeRate],
    ['consume (msgs/s, first→last message)', (r) => r.steadyRate],
  ];
  console.log(`\nN=${N} messages/round (~300 B JSON, 50 tenant keys, batches of ${BATCH}), ${PARTITIONS} partitions, ` +
    `rounds: kafkajs ${k.length}, platformatic ${p.length}; medians\n`);
  console.log('| metric | kafkajs 2.2.4 | @platformatic/kafka 2.12.1 | platformatic / kafkajs |');
  console.log('|---|---:|---:|---:|');
  for (const [label, pick] of rows) {
    const mk = median(k.map(pick));
    const mp = median(p.map(pick));
    console.log(`| ${label} | ${fmt(mk)} | ${fmt(mp)} | ${(mp / mk).toFixed(2)}× |`);
  }
  console.log(`| consumer start → group joined (ms) | ${fmt(median(k.map((r) => r.joinMs)))} | ${fmt(median(p.map((r) => r.joinMs)))} | |`);
}

async function cleanup(): Promise<void> {
  await deleteTopics([...createdTopics]).catch((err) => console.error(`cleanup failed: ${String(err)}`));
  await admin.disconnect().catch(() => undefined);
}

async function main(): Promise<void> {
  const overall = setTimeout(() => {
    console.error(`overall timeout (${OVERALL_TIMEOUT_MS / 1000} s) reached; partial results:`);
    report();
    void cleanup().finally(() => process.exit(2));
  }, OVERALL_TIMEOUT_MS);
  overall.unref();

  await admin.connect();
  const msgs = messages();
  const avgBytes = msgs.reduce((s, m) => s + Buffer.byteLength(m.value), 0) / msgs.length;
  console.log(`brokers ${BROKERS.join(',')}; N=${N}; avg value ${avgBytes.toFixed(0)} B; ${ROUNDS} rounds per client`);
  try {
    for (let i = 0; i < ROUNDS * 2; i++) {
      const client: ClientName = i % 2 === 0 ? 'kafkajs' : 'platformatic';
      const r = await round(client, i, msgs);
      results.push(r);
      console.log(
        `round ${i + 1}/${ROUNDS * 2} ${client.padEnd(12)} produce ${fmt(r.produceRate).padStart(7)} msg/s, ` +
          `consume ${fmt(r.consumeRate).padStart(7)} msg/s (first→last ${fmt(r.steadyRate)}, join ${fmt(r.joinMs)} ms)`,
      );
    }
    report();
  } finally {
    clearTimeout(overall);
    await cleanup();
  }
}

main().then(
  () => {
    // Everything is closed; make sure a stray handle cannot keep the process alive.
    setTimeout(() => process.exit(0), 2_000).unref();
  },
  (err) => {
    console.error(err);
    report();
    void cleanup().finally(() => process.exit(1));
  },
);
