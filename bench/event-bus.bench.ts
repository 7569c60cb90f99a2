/**
 * The bus alone, through the messaging port: send → handler latency and raw throughput of the
 * in-process bus (embedded mode, issue 18) against Kafka (@platformatic/kafka by default), in one
 * process, no database. bench/event-path.bench.ts measures the whole outbox → relay → bus →
 * transport path; this isolates the bus's share of it.
 *
 *   scripts/run node -r @swc-node/register bench/event-bus.bench.ts
 *
 * Per client: a fresh topic of 6 partitions (the platform's count), one consumer group (one member,
 * fromBeginning false) whose handler records the arrival time;
 *   latency     one record per send, paced at BENCH_RATE/s (200) for BENCH_SECONDS (10), 20 keys
 *               (tenants); latency = handler arrival − the moment send() was called (includes the
 *               bus's durability: Kafka's acks=all, the bus's fdatasync) and − the moment it resolved;
 *   throughput  BENCH_N (20,000) records in sends of 10, 4 sends in flight; rate = N / (first send →
 *               last handled).
 * The in-process bus writes to a temporary directory (removed at the end); the Kafka topic and group
 * are deleted at the end.
 *
 * Env: BENCH_CLIENTS (platformatic,in-process), BENCH_RATE, BENCH_SECONDS, BENCH_N.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Kafka, logLevel } from 'kafkajs';
import { loadConfig } from '@hotdash/platform-config';
import { newId } from '@hotdash/platform-db';
import { createKafkaClient, type KafkaClientName, type OutgoingRecord } from '@hotdash/platform-messaging';

const CLIENTS = (process.env.BENCH_CLIENTS ?? 'platformatic,in-process').split(',').map((c) => c.trim()) as KafkaClientName[];
const RATE = Number(process.env.BENCH_RATE ?? 200);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const N = Number(process.env.BENCH_N ?? 20_000);
const PARTITIONS = 6;
const KEYS = Array.from({ length: 20 }, () => newId());
const VALUE = JSON.stringify({ pad: 'x'.repeat(400) }); // about an envelope's size

interface Result {
  client: KafkaClientName;
  sendToHandler: number[];
  ackToHandler: number[];
  sendMs: number[];
  rate: number;
  cpu: number;
}

const percentile = (sorted: number[], p: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]! : NaN);
const ms = (n: number) => (Number.isFinite(n) ? n.toFixed(2) : '–');
const sleep = (t: number) => new Promise((r) => setTimeout(r, t));

async function until(what: string, done: () => boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

async function run(client: KafkaClientName, brokers: string[]): Promise<Result> {
  const topic = `bench.event-bus.${client}.${newId().slice(-12)}`;
  const kafka = createKafkaClient({ brokers, clientId: `bench-event-bus-${client}` }, client);
  const arrived = new Map<string, number>();
  try {
    await kafka.ensureTopics([{ topic, partitions: PARTITIONS }]);
    const consumer = await kafka.consumer({ groupId: topic, topics: [topic], fromBeginning: false });
    await consumer.run(async (records) => {
      const now = performance.now();
      for (const r of records) arrived.set(r.headers['x-id']!, now);
    });
    const producer = await kafka.producer();
    const record = (id: string, i: number): OutgoingRecord => ({ topic, key: KEYS[i % KEYS.length]!, value: VALUE, headers: { 'x-id': id } });
    // Ready: a new "latest" group sees what is produced after it joined.
    for (;;) {
      const id = newId();
      await producer.send([record(id, 0)]);
      const ok = await until('ping', () => arrived.has(id), 1_000).then(() => true, () => false);
      if (ok) break;
    }
    // Latency, paced.
    const sent = new Map<string, { at: number; acked: number }>();
    const sends: Promise<void>[] = [];
    const total = RATE * SECONDS;
    const start = performance.now();
    for (let i = 0; i < total; ) {
      const due = Math.min(total, Math.floor(((performance.now() - start) / 1000) * RATE));
      for (; i < due; i++) {
        const id = newId();
        const at = performance.now();
        sends.push(producer.send([record(id, i)]).then(() => void sent.set(id, { at, acked: performance.now() })));
      }
      await sleep(1);
    }
    await Promise.all(sends);
    await until('the paced records', () => [...sent.keys()].every((id) => arrived.has(id)));
    const sendToHandler: number[] = [];
    const ackToHandler: number[] = [];
    const sendMs: number[] = [];
    for (const [id, s] of sent) {
      const h = arrived.get(id)!;
      sendToHandler.push(h - s.at);
      ackToHandler.push(h - s.acked);
      sendMs.push(s.acked - s.at);
    }
    // Throughput.
    const ids = Array.from({ length: N }, () => newId());
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        while (next < N) {
          const from = next;
          next += 10;
          await producer.send(ids.slice(from, from + 10).map((id, j) => record(id, from + j)));
        }
      }),
    );
    await until('the throughput records', () => ids.every((id) => arrived.has(id)));
    const last = ids.reduce((m, id) => Math.max(m, arrived.get(id)!), 0);
    const c = process.cpuUsage(cpu0);
    await consumer.close();
    await producer.close();
    const asc = (x: number[]) => x.sort((a, b) => a - b);
    return { client, sendToHandler: asc(sendToHandler), ackToHandler: asc(ackToHandler), sendMs: asc(sendMs), rate: (N / (last - t0)) * 1000, cpu: (c.user + c.system) / 1000 / (last - t0) };
  } finally {
    await kafka.close().catch(() => undefined);
    if (client !== 'in-process') {
      const admin = new Kafka({ clientId: 'bench-event-bus-admin', brokers, logLevel: logLevel.NOTHING }).admin();
      await admin.connect();
      await admin.deleteGroups([topic]).catch(() => undefined);
      await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
      await admin.disconnect();
    }
  }
}

async function main(): Promise<void> {
  const busDir = mkdtempSync(join(tmpdir(), 'hotdash-bench-bus-'));
  process.env.HOTDASH_BUS_DIR ??= busDir;
  const brokers = loadConfig().kafka.brokers;
  const results: Result[] = [];
  try {
    for (const client of CLIENTS) {
      const r = await run(client, brokers);
      results.push(r);
      console.log(`[${client}] send→handler p50 ${ms(percentile(r.sendToHandler, 50))} p99 ${ms(percentile(r.sendToHandler, 99))} ms; ${Math.round(r.rate).toLocaleString('en-US')} records/s`);
    }
  } finally {
    rmSync(busDir, { recursive: true, force: true });
  }
  console.log(`\n${RATE}/s paced for ${SECONDS} s, one record per send, 20 keys over ${PARTITIONS} partitions; throughput: ${N} records in sends of 10, 4 in flight\n`);
  console.log('| client | send→handler p50 | p99 | send (until acknowledged) p50 / p99 | acknowledged→handler p50 / p99 | records/s | CPU (cores) |');
  console.log('|---|---:|---:|---:|---:|---:|---:|');
  for (const r of results) {
    console.log(
      `| ${r.client} | ${ms(percentile(r.sendToHandler, 50))} | ${ms(percentile(r.sendToHandler, 99))} | ${ms(percentile(r.sendMs, 50))} / ${ms(percentile(r.sendMs, 99))} | ` +
        `${ms(percentile(r.ackToHandler, 50))} / ${ms(percentile(r.ackToHandler, 99))} | ${Math.round(r.rate).toLocaleString('en-US')} | ${r.cpu.toFixed(2)} |`,
    );
  }
  const bus = results.find((r) => r.client === 'in-process');
  for (const k of results.filter((r) => r.client !== 'in-process')) {
    if (!bus) break;
    const ratio = (x: number, y: number) => `${(x / y).toPrecision(2)}×`;
    console.log(
      `\nin-process ÷ ${k.client}: send→handler p50 ${ratio(percentile(bus.sendToHandler, 50), percentile(k.sendToHandler, 50))}, ` +
        `p99 ${ratio(percentile(bus.sendToHandler, 99), percentile(k.sendToHandler, 99))}; throughput ${ratio(bus.rate, k.rate)}`,
    );
  }
}

main().then(
  () => setTimeout(() => process.exit(0), 1_000).unref(),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
