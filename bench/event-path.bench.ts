/**
 * The event path: outbox → relay → Kafka → KafkaEventTransport, against a raw produce → consume
 * baseline through the same Kafka port, for both Kafka clients in one run; with
 * BENCH_CLIENTS=platformatic,in-process (or any list holding `in-process`), the same path on the
 * embedded mode's in-process bus (no broker; its logs fdatasync'd in a temporary HOTDASH_BUS_DIR,
 * removed at the end, unless HOTDASH_BUS_DIR is set), and the in-process : Kafka ratios printed.
 *
 *   scripts/run node -r @swc-node/register bench/event-path.bench.ts
 *
 * Per client (HOTDASH_KAFKA_CLIENT values kafkajs and platformatic, via createKafkaClient's second
 * argument), in one process:
 *   a  project path: two tenants created with TestWorld on shard-1 (hotdash_shard_1); events written
 *      with publishManyInTx (one multi-row outbox insert) inside TenantDatabase.withTenant, 10 per transaction, BENCH_WRITERS
 *      transactions in flight, alternating tenants; an OutboxRelay on shard-1 publishes them; a
 *      KafkaEventTransport (Nest microservice, unique consumer group, fromBeginning false, its own
 *      pools as a separate consumer service would have) runs an @EventPattern handler that only
 *      records the arrival time (inside the transport's withTenant + inbox insert).
 *      Throughput = N / (first commit → last handled).
 *   b  baseline: the same N envelopes (same JSON, same headers, same keys) produced in batches of
 *      10 with the same number of sends in flight, through the port (createKafkaClient(...).producer()
 *      / .consumer()), to a fresh bench topic with the same partition count, consumed by a handler
 *      that only records the arrival. Throughput = N / (first send acknowledged → last consumed).
 *   c  latency: events written through the project path at a steady rate (BENCH_RATES events/s,
 *      the first is the target's 1000/s, then a lower one the consumer can sustain) for
 *      BENCH_LATENCY_S seconds each, one event per transaction, paced; latency = handler arrival −
 *      the moment withTenant resolved (same process, same clock); p50/p95/p99/max, with the split at
 *      the moment Kafka acknowledged the relay's send.
 * The process's CPU use (user + system ÷ wall) is printed per phase: writers, relay and consumer
 * share one Node thread here, as they would not in production.
 * Both consumers are pinged until they answer before anything is measured; a warm-up batch goes
 * through a and b first. Cleanup: the relay, the transport, the consumers and producers are closed;
 * the bench topic and the consumer groups are deleted; the bench tenants' outbox rows and the bench
 * consumers' inbox rows are deleted (superuser, unix socket). The two tenants stay in the control
 * plane (like every spec's).
 *
 * Event type: BENCH_EVENT_TYPE, default `audit.recorded` (topic hotdash.audit, which no service
 * consumes). `tenant.created` works too, but hotdash.tenants is replayed from its beginning by the
 * e2e specs' audit consumers (fresh groups, earliest), which would then have to chew through every
 * bench event (each an audit-chain write) before their own. The measured path is the same code
 * either way; the envelopes are ~510 B and ~405 B of JSON. A full run leaves about 45,000 events on the
 * event type's topic (per client: 500 warm-up, 2 × 5,000, 10,000 + 2,000 paced); KafkaProbe
 * consumers that read the topic from its beginning will read them too.
 *
 * Env: BENCH_N (5000), BENCH_ROUNDS (2), BENCH_WRITERS (4), BENCH_RATES (1000,200), BENCH_LATENCY_S (10),
 * BENCH_CLIENTS (kafkajs,platformatic), BENCH_EVENT_TYPE.
 */
import { sql } from 'kysely';
import 'reflect-metadata';
process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1';

import { performance } from 'node:perf_hooks';
import { Controller, INestMicroservice, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Ctx, Payload } from '@nestjs/microservices';
import { EventPattern } from '@hotdash/platform-messaging';
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import { AuditEvents, Envelope, EventHeaders, TenantEvents } from '@hotdash/contracts';
import { newId, ShardInfo } from '@hotdash/platform-db';
import {
  buildEnvelope,
  createKafkaClient,
  EventContext,
  EventMeta,
  headersFor,
  KafkaClientName,
  KafkaClientPort,
  KafkaConsumerPort,
  KafkaEventTransport,
  KafkaProducerPort,
  OutboxRelay,
  OutgoingRecord,
  publishInTx,
  publishManyInTx,
} from '@hotdash/platform-messaging';
import { TestWorld, WorldTenant } from '@hotdash/testing';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

type BenchEventType = typeof AuditEvents.RECORDED | typeof TenantEvents.CREATED;
const EVENT_TYPE = (process.env.BENCH_EVENT_TYPE ?? AuditEvents.RECORDED) as BenchEventType;
if (EVENT_TYPE !== AuditEvents.RECORDED && EVENT_TYPE !== TenantEvents.CREATED) throw new Error(`BENCH_EVENT_TYPE must be audit.recorded or tenant.created`);
const N = Number(process.env.BENCH_N ?? 5_000);
const PER_TX = 10;
const WRITERS = Number(process.env.BENCH_WRITERS ?? 4);
const RATES = (process.env.BENCH_RATES ?? '1000,200').split(',').map(Number);
const LATENCY_S = Number(process.env.BENCH_LATENCY_S ?? 10);
const WARMUP = 500;
const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 2));
const CLIENTS = (process.env.BENCH_CLIENTS ?? 'kafkajs,platformatic').split(',').map((c) => c.trim()) as KafkaClientName[];
const PARTITIONS = 6; // as libs/platform/messaging/src/topics-cli.ts creates the platform's topics
const MAX_OUTSTANDING = 2_000; // paced writes not yet committed; beyond this the pace is not kept
const PHASE_TIMEOUT_MS = 90_000;
const OVERALL_TIMEOUT_MS = 6 * 60_000 - 20_000;
const RUN_ID = newId().slice(-12);
const BENCH_TOPIC = `bench.event-path.${RUN_ID}`;

// ------------------------------------------------------------------------------------ arrivals

/** Handler arrival time per event id, for the current client's transport. */
const arrived = new Map<string, number>();
/** Kafka-acknowledged time per event id (relay sends through a recording wrapper). */
const acked = new Map<string, number>();
/** Partition each tenant's events arrived on (the consumer's parallelism is bounded by it). */
const partitionOf = new Map<string, number>();
let onArrival: (() => void) | undefined;

@Controller()
class BenchHandlers {
  @EventPattern(EVENT_TYPE)
  onEvent(@Payload() e: Envelope, @Ctx() ctx: EventContext): void {
    arrived.set(e.id, performance.now());
    partitionOf.set(e.tenantId, ctx.record.partition);
    onArrival?.();
  }
}

@Module({ controllers: [BenchHandlers] })
class BenchModule {}

/** Resolves when `done()` is true, re-checked on each arrival; rejects after `timeoutMs`. */
function until(what: string, done: () => boolean, timeoutMs = PHASE_TIMEOUT_MS): Promise<void> {
  if (done()) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      clearInterval(poll);
      onArrival = undefined;
      reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
    }, timeoutMs);
    const poll = setInterval(check, 50); // arrivals are also checked by polling (baseline consumers)
    function check(): void {
      if (!done()) return;
      clearTimeout(timer);
      clearInterval(poll);
      onArrival = undefined;
      resolve();
    }
    onArrival = check;
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** An O(1)-amortised "have all these ids arrived?" check (called on every arrival). */
function allIn(ids: string[], seen: Map<string, number>): () => boolean {
  let next = 0;
  return () => {
    while (next < ids.length && seen.has(ids[next]!)) next++;
    return next === ids.length;
  };
}

// ------------------------------------------------------------------------------------ payloads

function payloadFor(t: WorldTenant, i: number): never {
  const p =
    EVENT_TYPE === AuditEvents.RECORDED
      ? { entryId: newId(), seq: i + 1, sourceEventId: newId(), sourceEventType: 'tenant.created', hash: 'ab'.repeat(32) }
      : { tenantId: t.id, name: `bench ${i}`, plan: 'basic', shard: t.shard.name, createdBy: 'bench' };
  return p as never;
}

function metaFor(t: WorldTenant): EventMeta {
  return { tenantId: t.id, producer: 'bench-event-path', correlationId: RUN_ID };
}

// ---------------------------------------------------------------------------------- statistics

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}
const fmt = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '–');
const ms = (n: number) => (Number.isFinite(n) ? n.toFixed(1) : '–');

interface ThroughputResult {
  rate: number;
  /** this process's CPU time ÷ wall time over the run (1.0 = one core) */
  cpu: number;
  /** from the start of the first write/send instead of its end */
  rateFromStart: number;
  writeMs: number;
  totalMs: number;
}
interface LatencyResult {
  rate: number;
  cpu: number;
  written: number;
  achievedRate: number;
  handled: number;
  failed: number;
  total: number[];
  commitToAck: number[];
  ackToHandler: number[];
}
interface ClientResult {
  client: KafkaClientName;
  a: ThroughputResult[];
  b: ThroughputResult[];
  c: LatencyResult[];
  partitions?: string;
  error?: string;
}
const results: ClientResult[] = [];

// ------------------------------------------------------------------------------------- phases

/** Records when Kafka acknowledged each relayed record. */
function recordingProducer(inner: KafkaProducerPort): KafkaProducerPort {
  return {
    async send(records: OutgoingRecord[]) {
      await inner.send(records);
      const now = performance.now();
      for (const r of records) {
        const id = r.headers[EventHeaders.ID];
        if (id) acked.set(id, now);
      }
    },
    close: () => inner.close(),
  };
}

/** a: N events through withTenant + publishInTx, PER_TX per transaction, WRITERS in flight. */
async function projectThroughput(world: TestWorld, tenants: WorldTenant[], n: number): Promise<ThroughputResult> {
  const ids: string[] = [];
  let firstCommit = Infinity;
  let lastCommit = 0;
  let nextTx = 0;
  const txs = Math.ceil(n / PER_TX);
  const cpu0 = process.cpuUsage();
  const start = performance.now();
  const writer = async () => {
    while (nextTx < txs) {
      const k = nextTx++;
      const t = tenants[k % tenants.length]!;
      const written = await world.tenantDb.withTenant(t.id, async (tx) => {
        const batch = [];
        for (let j = k * PER_TX; j < Math.min((k + 1) * PER_TX, n); j++) batch.push({ type: EVENT_TYPE, payload: payloadFor(t, j), meta: metaFor(t) });
        return (await publishManyInTx(tx, batch)).map((e) => e.id);
      });
      const now = performance.now();
      firstCommit = Math.min(firstCommit, now);
      lastCommit = Math.max(lastCommit, now);
      ids.push(...written);
    }
  };
  await Promise.all(Array.from({ length: WRITERS }, writer));
  await until(`${n} events to be handled`, allIn(ids, arrived));
  const last = ids.reduce((m, id) => Math.max(m, arrived.get(id)!), 0);
  return { cpu: cpuShare(cpu0, start), rate: (n / (last - firstCommit)) * 1000, rateFromStart: (n / (last - start)) * 1000, writeMs: lastCommit - start, totalMs: last - start };
}

/** b: the same N envelopes produced raw in batches of PER_TX, WRITERS sends in flight. */
async function baselineThroughput(producer: KafkaProducerPort, tenants: WorldTenant[], n: number, seen: Map<string, number>): Promise<ThroughputResult> {
  const batches: OutgoingRecord[][] = [];
  for (let k = 0; k * PER_TX < n; k++) {
    const t = tenants[k % tenants.length]!;
    const batch: OutgoingRecord[] = [];
    for (let j = k * PER_TX; j < Math.min((k + 1) * PER_TX, n); j++) {
      const e = buildEnvelope(EVENT_TYPE, payloadFor(t, j), metaFor(t));
      batch.push({ topic: BENCH_TOPIC, key: e.tenantId, value: JSON.stringify(e), headers: headersFor(e) });
    }
    batches.push(batch);
  }
  const ids = batches.flat().map((r) => r.headers[EventHeaders.ID]!);
  let firstAck = Infinity;
  let lastAck = 0;
  let next = 0;
  const cpu0 = process.cpuUsage();
  const start = performance.now();
  const sender = async () => {
    while (next < batches.length) {
      await producer.send(batches[next++]!);
      const now = performance.now();
      firstAck = Math.min(firstAck, now);
      lastAck = Math.max(lastAck, now);
    }
  };
  await Promise.all(Array.from({ length: WRITERS }, sender));
  await until(`${n} raw records to be consumed`, allIn(ids, seen));
  const last = ids.reduce((m, id) => Math.max(m, seen.get(id)!), 0);
  return { cpu: cpuShare(cpu0, start), rate: (n / (last - firstAck)) * 1000, rateFromStart: (n / (last - start)) * 1000, writeMs: lastAck - start, totalMs: last - start };
}

function cpuShare(cpu0: NodeJS.CpuUsage, t0: number): number {
  const c = process.cpuUsage(cpu0);
  return (c.user + c.system) / 1000 / (performance.now() - t0);
}

/** c: one event per transaction at RATE events/s for LATENCY_S seconds, then wait for the stragglers. */
async function latency(world: TestWorld, tenants: WorldTenant[], RATE: number): Promise<LatencyResult> {
  const cpu0 = process.cpuUsage();
  const committed = new Map<string, number>();
  let issued = 0;
  let outstanding = 0;
  let failed = 0;
  const target = RATE * LATENCY_S;
  const writes: Promise<void>[] = [];
  const start = performance.now();
  while (issued < target) {
    const due = Math.min(target, Math.floor(((performance.now() - start) / 1000) * RATE));
    while (issued < due && outstanding < MAX_OUTSTANDING) {
      const t = tenants[issued % tenants.length]!;
      const i = issued++;
      outstanding++;
      writes.push(
        world.tenantDb
          .withTenant(t.id, (tx) => publishInTx(tx, EVENT_TYPE, payloadFor(t, i), metaFor(t)))
          .then(
            (e) => void committed.set(e.id, performance.now()),
            () => void failed++,
          )
          .finally(() => outstanding--),
      );
    }
    await sleep(1);
  }
  await Promise.all(writes);
  const writeSeconds = (performance.now() - start) / 1000;
  await until(`${committed.size} paced events to be handled`, allIn([...committed.keys()], arrived)).catch((err: Error) => console.error(`  ${err.message}`));
  const total: number[] = [];
  const commitToAck: number[] = [];
  const ackToHandler: number[] = [];
  let handled = 0;
  for (const [id, c] of committed) {
    const h = arrived.get(id);
    const k = acked.get(id);
    if (k !== undefined) commitToAck.push(k - c);
    if (h === undefined) continue;
    handled++;
    total.push(h - c);
    if (k !== undefined) ackToHandler.push(h - k);
  }
  const asc = (x: number[]) => x.sort((p, q) => p - q);
  return { rate: RATE, cpu: cpuShare(cpu0, start), written: committed.size, achievedRate: committed.size / writeSeconds, handled, failed, total: asc(total), commitToAck: asc(commitToAck), ackToHandler: asc(ackToHandler) };
}

/**
 * What one handled event costs the consumer in the database: sequential withTenant transactions with
 * the transport's inbox insert (no Kafka), with synchronous commit as configured and without it.
 */
async function consumerCost(consumerWorld: TestWorld, t: WorldTenant, consumer: string): Promise<{ syncMs: number; asyncMs: number; fsyncOff: boolean }> {
  const n = 300;
  const run = async (async: boolean) => {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      await consumerWorld.tenantDb.withTenant(t.id, async (tx) => {
        if (async) await sql`set local synchronous_commit = off`.execute(tx.db).then((r) => Number(r.numAffectedRows ?? 0));
        await sql`insert into inbox (tenant_id, consumer, event_id) values (${t.id}::uuid, ${consumer}, ${newId()}::uuid) on conflict do nothing`.execute(tx.db).then((r) => Number(r.numAffectedRows ?? 0));
      });
    }
    return (performance.now() - t0) / n;
  };
  await run(false); // warm-up
  const syncMs = await run(false);
  const asyncMs = await run(true);
  const fsync = await consumerWorld.tenantDb.withTenant(t.id, (tx) => sql<{ fsync: string }>`select current_setting('fsync') as fsync`.execute(tx.db).then((r) => r.rows));
  return { syncMs, asyncMs, fsyncOff: fsync[0]?.fsync === 'off' };
}

// --------------------------------------------------------------------------------------- driver

interface Cleanup {
  groups: string[];
  consumers: string[];
}

async function runClient(client: KafkaClientName, world: TestWorld, consumerWorld: TestWorld, shard: ShardInfo, tenants: WorldTenant[], cleanup: Cleanup, order: 'ab' | 'ba'): Promise<void> {
  const result: ClientResult = { client, a: [], b: [], c: [] };
  results.push(result);
  arrived.clear();
  acked.clear();
  const kafka: KafkaClientPort = createKafkaClient({ brokers: world.config.kafka.brokers, clientId: `bench-event-path-${client}` }, client);
  const consumer = `bench-event-path-${client}-${RUN_ID}`;
  const rawGroup = `bench-event-path-raw-${client}-${RUN_ID}`;
  cleanup.groups.push(consumer, rawGroup);
  cleanup.consumers.push(consumer);
  let app: INestMicroservice | undefined;
  let relay: OutboxRelay | undefined;
  let rawConsumer: KafkaConsumerPort | undefined;
  const rawSeen = new Map<string, number>();
  try {
    const relayProducer = recordingProducer(await kafka.producer());
    relay = new OutboxRelay(world.dbs, shard, relayProducer, { onError: (e) => console.error(`  [relay] ${e.message}`) });
    relay.start();
    app = await NestFactory.createMicroservice(BenchModule, {
      strategy: new KafkaEventTransport({ consumer, kafka, tenantDb: consumerWorld.tenantDb, fromBeginning: false, log: (m) => console.error(`  ${m}`) }),
      logger: false,
    });
    await app.listen();
    // The bench topic was made on the broker; the in-process bus makes its own.
    if (client === 'in-process') await kafka.ensureTopics([{ topic: BENCH_TOPIC, partitions: PARTITIONS }]);
    const rawProducer = await kafka.producer();
    rawConsumer = await kafka.consumer({ groupId: rawGroup, topics: [BENCH_TOPIC], fromBeginning: false });
    await rawConsumer.run(async (rs) => {
      for (const r of rs) {
        const id = r.headers[EventHeaders.ID];
        if (id) rawSeen.set(id, performance.now());
        onArrival?.();
      }
    });

    // A new group starting at "latest" sees only what is produced after it joined: ping until it answers.
    const joinStart = performance.now();
    for (let i = 0; ; i++) {
      const t = tenants[0]!;
      const ping = await world.tenantDb.withTenant(t.id, (tx) => publishInTx(tx, EVENT_TYPE, payloadFor(t, 0), metaFor(t)));
      const ok = await until('ping', () => arrived.has(ping.id), 1_000).then(() => true, () => false);
      if (ok) break;
      if (performance.now() - joinStart > 60_000) throw new Error('the transport did not start consuming within 60 s');
    }
    for (;;) {
      const e = buildEnvelope(EVENT_TYPE, payloadFor(tenants[0]!, 0), metaFor(tenants[0]!));
      await rawProducer.send([{ topic: BENCH_TOPIC, key: e.tenantId, value: JSON.stringify(e), headers: headersFor(e) }]);
      const ok = await until('raw ping', () => rawSeen.has(e.id), 1_000).then(() => true, () => false);
      if (ok) break;
      if (performance.now() - joinStart > 90_000) throw new Error('the raw consumer did not start consuming within 90 s');
    }
    console.log(`[${client}] consumers ready after ${ms((performance.now() - joinStart) / 1000)} s; warm-up ${WARMUP} events per path`);
    await projectThroughput(world, tenants, WARMUP);
    await baselineThroughput(rawProducer, tenants, WARMUP, rawSeen);

    // Rounds alternate the order: ab ba … (or ba ab … for the other client).
    for (let round = 0; round < ROUNDS; round++) {
      const seq = (round % 2 === 0 ? order : [...order].reverse().join('')).split('') as ('a' | 'b')[];
      for (const path of seq) {
        if (path === 'a') {
          const a = await projectThroughput(world, tenants, N);
          result.a.push(a);
          console.log(`[${client}] a project path: ${fmt(a.rate)} events/s (first commit → last handled; all committed after ${fmt(a.writeMs)} ms, all handled after ${fmt(a.totalMs)} ms; CPU ${a.cpu.toFixed(2)} cores)`);
        } else {
          const b = await baselineThroughput(rawProducer, tenants, N, rawSeen);
          result.b.push(b);
          console.log(`[${client}] b raw produce → consume: ${fmt(b.rate)} msgs/s (first ack → last consumed; all acked after ${fmt(b.writeMs)} ms, all consumed after ${fmt(b.totalMs)} ms; CPU ${b.cpu.toFixed(2)} cores)`);
        }
      }
    }
    result.partitions = tenants.map((t, i) => `${'AB'[i]}→${partitionOf.get(t.id) ?? '?'}`).join(' ');
    console.log(`[${client}] partitions of the two tenants: ${result.partitions}`);

    for (const rate of RATES) {
      console.log(`[${client}] c latency: ${rate} events/s for ${LATENCY_S} s, one event per transaction…`);
      const c = await latency(world, tenants, rate);
      result.c.push(c);
      console.log(
        `[${client}] c wrote ${fmt(c.written)} (${fmt(c.achievedRate)}/s achieved, ${c.failed} failed), handled ${fmt(c.handled)}` +
          // Rows another process's relay on shard-1 took (a spec running meanwhile) went to Kafka: an in-process bus never sees them.
          `${c.handled < c.written ? ` (${fmt(c.written - c.commitToAck.length)} not sent by this relay)` : ''}; ` +
          `commit→handler p50 ${ms(percentile(c.total, 50))} p95 ${ms(percentile(c.total, 95))} p99 ${ms(percentile(c.total, 99))} max ${ms(c.total.at(-1) ?? NaN)} ms; ` +
          `CPU ${c.cpu.toFixed(2)} cores`,
      );
    }
  } catch (err) {
    result.error = (err as Error).message;
    console.error(`[${client}] failed: ${(err as Error).stack}`);
  } finally {
    await app?.close().catch((e: Error) => console.error(`  closing the transport: ${e.message}`));
    await rawConsumer?.close().catch((e: Error) => console.error(`  closing the raw consumer: ${e.message}`));
    await relay?.stop().catch((e: Error) => console.error(`  stopping the relay: ${e.message}`));
    await kafka.close().catch((e: Error) => console.error(`  closing the Kafka client: ${e.message}`));
  }
}

function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const v = [...values].sort((x, y) => x - y);
  const mid = Math.floor(v.length / 2);
  return v.length % 2 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
}

function report(): void {
  console.log(
    `\nshard-1 (hotdash_shard_1), event ${EVENT_TYPE}, 2 tenants on 2 of ${PARTITIONS} partitions; throughput: N=${N} per run, ${PER_TX} per transaction / per send, ` +
      `${WRITERS} in flight, median of ${ROUNDS} runs per path; latency: ${LATENCY_S} s at each rate, one event per transaction\n`,
  );
  console.log('| client | a project path (events/s) | b raw produce→consume (msgs/s) | a/b (target ≥ 0.5×) | CPU during a / b (cores) |');
  console.log('|---|---:|---:|---:|---:|');
  for (const r of results) {
    const a = median(r.a.map((x) => x.rate));
    const b = median(r.b.map((x) => x.rate));
    const ratio = a / b;
    console.log(
      `| ${r.client}${r.error ? ` (failed: ${r.error})` : ''} | ${fmt(a)} | ${fmt(b)} | ` +
        `${Number.isFinite(ratio) ? `${ratio.toFixed(2)}× ${ratio >= 0.5 ? 'MET' : 'MISSED'}` : '–'} | ` +
        `${median(r.a.map((x) => x.cpu)).toFixed(2)} / ${median(r.b.map((x) => x.cpu)).toFixed(2)} |`,
    );
  }
  console.log('\ncommit → handler latency (ms), split at the moment Kafka acknowledged the relay\'s send:');
  console.log('| client | paced rate (achieved) | p50 | p95 | p99 (target < 100 ms) | max | commit→acked p50 / p99 | acked→handler p50 / p99 | handled / written | CPU (cores) |');
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of results) {
    for (const c of r.c) {
      const p99 = percentile(c.total, 99);
      console.log(
        `| ${r.client} | ${c.rate}/s (${fmt(c.achievedRate)}/s) | ${ms(percentile(c.total, 50))} | ${ms(percentile(c.total, 95))} | ` +
          `${ms(p99)} ${Number.isFinite(p99) ? (p99 < 100 ? 'MET' : 'MISSED') : ''} | ${ms(c.total.at(-1) ?? NaN)} | ` +
          `${ms(percentile(c.commitToAck, 50))} / ${ms(percentile(c.commitToAck, 99))} | ${ms(percentile(c.ackToHandler, 50))} / ${ms(percentile(c.ackToHandler, 99))} | ` +
          `${fmt(c.handled)} / ${fmt(c.written)} | ${c.cpu.toFixed(2)} |`,
      );
    }
  }
}

/** The in-process bus against each Kafka client of the run: throughput of a and b, commit → handler latency at each rate. */
function reportRatios(): void {
  const bus = results.find((r) => r.client === 'in-process' && !r.error);
  const kafkas = results.filter((r) => r.client !== 'in-process' && !r.error);
  if (!bus || kafkas.length === 0) return;
  console.log('\nin-process bus : Kafka (throughput: higher is better for the bus above 1; latency: lower is better for the bus below 1):');
  console.log('| against | a project path events/s | b raw msgs/s | latency p50 at each rate | latency p99 at each rate |');
  console.log('|---|---:|---:|---:|---:|');
  for (const k of kafkas) {
    const ratio = (x: number, y: number) => (Number.isFinite(x / y) ? `${(x / y).toFixed(2)}×` : '–');
    const a = ratio(median(bus.a.map((x) => x.rate)), median(k.a.map((x) => x.rate)));
    const b = ratio(median(bus.b.map((x) => x.rate)), median(k.b.map((x) => x.rate)));
    const at = (p: number) =>
      bus.c.map((c) => {
        const kc = k.c.find((x) => x.rate === c.rate);
        return `${c.rate}/s ${kc ? ratio(percentile(c.total, p), percentile(kc.total, p)) : '–'}`;
      }).join(', ');
    console.log(`| ${k.client} | ${a} | ${b} | ${at(50)} | ${at(99)} |`);
  }
}

async function main(): Promise<void> {
  // The in-process bus in a directory of the run's own, unless one is named.
  const busDir = CLIENTS.includes('in-process') && !process.env.HOTDASH_BUS_DIR ? mkdtempSync(join(tmpdir(), 'hotdash-bench-bus-')) : undefined;
  if (busDir) process.env.HOTDASH_BUS_DIR = busDir;
  const world = new TestWorld();
  const consumerWorld = new TestWorld(); // the consumer side's own pools, as a separate service would have
  const admin = new Kafka({ clientId: `bench-event-path-admin`, brokers: world.config.kafka.brokers, logLevel: logLevel.NOTHING }).admin();
  const cleanup: Cleanup = { groups: [], consumers: [] };
  let tenants: WorldTenant[] = [];
  let shard: ShardInfo | undefined;
  let finished = false;

  const tidy = async () => {
    await admin.deleteTopics({ topics: [BENCH_TOPIC], timeout: 10_000 }).catch(() => undefined);
    if (cleanup.groups.length) await admin.deleteGroups(cleanup.groups).catch(() => undefined);
    await admin.disconnect().catch(() => undefined);
    // The bench's rows: its tenants' outbox rows, its consumers' inbox rows (on every shard: the
    // transport also handled other producers' events of the same type).
    try {
      for (const s of await world.shards()) {
        const su = await world.connectSuperuser(s.database);
        try {
          if (tenants.length) await su.query('delete from outbox where tenant_id = any($1::uuid[]) and published_at is not null', [tenants.map((t) => t.id)]);
          if (cleanup.consumers.length) await su.query('delete from inbox where consumer = any($1::text[])', [cleanup.consumers]);
        } finally {
          await su.end();
        }
      }
    } catch (err) {
      console.error(`cleanup of the bench rows failed: ${(err as Error).message}`);
    }
    await consumerWorld.close();
    await world.close();
    if (busDir) rmSync(busDir, { recursive: true, force: true });
  };

  const overall = setTimeout(() => {
    if (finished) return;
    console.error(`overall timeout (${OVERALL_TIMEOUT_MS / 1000} s) reached; partial results:`);
    report();
    process.exit(2);
  }, OVERALL_TIMEOUT_MS);
  overall.unref();

  try {
    shard = (await world.shards()).find((s) => s.database === 'hotdash_shard_1');
    if (!shard) throw new Error('shard hotdash_shard_1 is not registered; run npm run db:migrate');
    // Two tenants whose keys land on different partitions (the Java/kafkajs murmur2 partitioner, which
    // both adapters use), so every run has the same shape: one tenant per partition.
    const partition = Partitioners.DefaultPartitioner();
    const partitionOfKey = (key: string) =>
      partition({ topic: 'x', message: { key, value: null }, partitionMetadata: Array.from({ length: PARTITIONS }, (_, id) => ({ partitionErrorCode: 0, partitionId: id, leader: 0, replicas: [0], isr: [0] })) });
    tenants = [await world.createTenant(`bench event-path A ${RUN_ID}`, shard)];
    for (let i = 0; tenants.length < 2 && i < 10; i++) {
      const t = await world.createTenant(`bench event-path B ${RUN_ID}`, shard);
      if (partitionOfKey(t.id) !== partitionOfKey(tenants[0]!.id)) tenants.push(t);
    }
    if (tenants.length < 2) throw new Error('could not place two tenants on different partitions');
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: BENCH_TOPIC, numPartitions: PARTITIONS, replicationFactor: 1 }], waitForLeaders: true });
    const backlog = await world.connectSuperuser('hotdash_shard_1').then(async (c) => {
      const r = await c.query<{ n: number }>('select count(*)::int as n from outbox where published_at is null');
      await c.end();
      return r.rows[0]!.n;
    });
    const diagConsumer = `bench-event-path-diag-${RUN_ID}`;
    cleanup.consumers.push(diagConsumer);
    const cost = await consumerCost(consumerWorld, tenants[0]!, diagConsumer);
    console.log(
      `one consumer-side transaction (withTenant + inbox insert, sequential): ${cost.syncMs.toFixed(2)} ms; ` +
        `with synchronous_commit off: ${cost.asyncMs.toFixed(2)} ms${cost.fsyncOff ? ' (fsync is off on this server)' : ''}`,
    );
    console.log(`run ${RUN_ID}: clients ${CLIENTS.join(', ')}; event ${EVENT_TYPE}; tenants ${tenants.map((t) => t.id).join(', ')}; unpublished outbox rows on shard-1 before start: ${backlog}`);
    for (const [i, client] of CLIENTS.entries()) await runClient(client, world, consumerWorld, shard, tenants, cleanup, i % 2 === 0 ? 'ab' : 'ba');
    report();
    reportRatios();
  } finally {
    finished = true;
    clearTimeout(overall);
    await tidy();
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
    process.exit(1);
  },
);
