import { randomUUID } from 'node:crypto';
import { Admin, Consumer, Kafka, logLevel, Producer } from 'kafkajs';
import type {
  ConsumerOptions,
  IncomingRecord,
  KafkaClientOptions,
  KafkaClientPort,
  KafkaConsumerPort,
  KafkaProducerPort,
  OutgoingRecord,
  PartitionOffsets,
  RecordHandler,
  TopicSpec,
} from './kafka.port';

/** readRange() gives up after this long (a reader that cannot join its throwaway group, a broker gone). */
const READ_RANGE_TIMEOUT_MS = 20_000;

process.env.KAFKAJS_NO_PARTITIONER_WARNING ??= '1';

function headersOf(raw: Record<string, unknown> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw ?? {})) {
    if (v === undefined || v === null) continue;
    out[k] = Array.isArray(v) ? String(v[0]) : Buffer.isBuffer(v) ? v.toString('utf8') : String(v);
  }
  return out;
}

class KafkajsProducer implements KafkaProducerPort {
  constructor(private readonly producer: Producer) {}

  async send(records: OutgoingRecord[]): Promise<void> {
    if (records.length === 0) return;
    const byTopic = new Map<string, OutgoingRecord[]>();
    for (const r of records) byTopic.set(r.topic, [...(byTopic.get(r.topic) ?? []), r]);
    await this.producer.sendBatch({
      acks: -1,
      topicMessages: [...byTopic].map(([topic, rs]) => ({
        topic,
        messages: rs.map((r) => ({ key: r.key, value: r.value, headers: r.headers })),
      })),
    });
  }

  close(): Promise<void> {
    return this.producer.disconnect();
  }
}

class KafkajsConsumer implements KafkaConsumerPort {
  constructor(
    private readonly consumer: Consumer,
    private readonly options: ConsumerOptions,
  ) {}

  async run(handler: RecordHandler): Promise<void> {
    await this.consumer.subscribe({ topics: this.options.topics, fromBeginning: this.options.fromBeginning ?? true });
    await this.consumer.run({
      autoCommit: true,
      autoCommitInterval: 200,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: 3,
      eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale, commitOffsetsIfNecessary }) => {
        const max = this.options.maxBatch ?? 100;
        for (let i = 0; i < batch.messages.length; i += max) {
          if (!isRunning() || isStale()) break;
          const chunk = batch.messages.slice(i, i + max);
          await handler(
            chunk.map((m) => ({
              topic: batch.topic,
              partition: batch.partition,
              offset: m.offset,
              key: m.key ? m.key.toString('utf8') : null,
              value: m.value ?? Buffer.alloc(0),
              headers: headersOf(m.headers),
            })),
          );
          // Only handled records' offsets are resolved, so only handled records are ever committed.
          resolveOffset(chunk[chunk.length - 1]!.offset);
          await heartbeat();
        }
        await commitOffsetsIfNecessary();
      },
    });
  }

  close(): Promise<void> {
    return this.consumer.disconnect();
  }
}

/** kafkajs 2.x adapter. Works against Kafka 4 (it speaks protocol versions Kafka 4 still accepts). */
export class KafkajsClient implements KafkaClientPort {
  readonly name = 'kafkajs';
  private readonly kafka: Kafka;
  private admin?: Admin;
  /** The admin client of ping(): on a client of its own, without retries. */
  private pingAdmin?: Admin;
  private readonly opened: { disconnect(): Promise<void> }[] = [];

  constructor(private readonly options: KafkaClientOptions) {
    this.kafka = new Kafka({
      clientId: options.clientId,
      brokers: options.brokers,
      logLevel: logLevel.NOTHING,
      retry: { initialRetryTime: 100, retries: 8 },
    });
  }

  async producer(): Promise<KafkaProducerPort> {
    const p = this.kafka.producer({ idempotent: true, maxInFlightRequests: 5, allowAutoTopicCreation: false });
    await p.connect();
    this.opened.push(p);
    return new KafkajsProducer(p);
  }

  async consumer(options: ConsumerOptions): Promise<KafkaConsumerPort> {
    await this.pinGroupStart(options).catch((err: Error) => options.onError?.(new Error(`the start of consumer group ${options.groupId} could not be pinned: ${err.message}`)));
    const c = this.kafka.consumer({
      groupId: options.groupId,
      sessionTimeout: options.sessionTimeoutMs ?? 10_000,
      heartbeatInterval: 1_000,
      allowAutoTopicCreation: false,
      retry: { retries: 10 },
    });
    // kafkajs restarts a crashed consumer itself (handler rejection, lost broker); report it.
    c.on(c.events.CRASH, (e) => options.onError?.(e.payload.error));
    await c.connect();
    this.opened.push(c);
    return new KafkajsConsumer(c, options);
  }

  /**
   * Writes a new group's start down before it first consumes (as the platformatic adapter does; see
   * its pinGroupStart): each partition without a committed offset for the group gets its first
   * offset, or its end for fromBeginning false, so the group never re-decides where to start.
   */
  private async pinGroupStart(options: ConsumerOptions): Promise<void> {
    if (options.topics.length === 0) return;
    const admin = await this.connectedAdmin();
    const unpinned = async () =>
      (await admin.fetchOffsets({ groupId: options.groupId, topics: options.topics }))
        .map((t) => ({ topic: t.topic, partitions: t.partitions.filter((p) => Number(p.offset) < 0).map((p) => p.partition) }))
        .filter((t) => t.partitions.length > 0);
    for (const t of await unpinned()) {
      const bounds = new Map((await admin.fetchTopicOffsets(t.topic)).map((o) => [o.partition, options.fromBeginning === false ? o.high : o.low]));
      try {
        await admin.setOffsets({ groupId: options.groupId, topic: t.topic, partitions: t.partitions.map((partition) => ({ partition, offset: bounds.get(partition) ?? '0' })) });
      } catch (err) {
        // Refused while members of the group consume: fine when one of them pinned or committed it.
        if ((await unpinned()).some((u) => u.topic === t.topic)) options.onError?.(new Error(`the start of consumer group ${options.groupId} could not be pinned: ${(err as Error).message}`));
      }
    }
  }

  private async connectedAdmin(): Promise<Admin> {
    this.admin ??= this.kafka.admin();
    await this.admin.connect();
    return this.admin;
  }

  async ensureTopics(topics: TopicSpec[]): Promise<void> {
    const admin = await this.connectedAdmin();
    const existing = new Set(await admin.listTopics());
    const missing = topics.filter((t) => !existing.has(t.topic));
    if (missing.length === 0) return;
    await admin.createTopics({
      waitForLeaders: true,
      topics: missing.map((t) => ({ topic: t.topic, numPartitions: t.partitions, replicationFactor: 1 })),
    });
  }

  async offsets(topic: string): Promise<PartitionOffsets[]> {
    const admin = await this.connectedAdmin();
    return (await admin.fetchTopicOffsets(topic)).map((o) => ({ partition: o.partition, low: o.low, high: o.high })).sort((x, y) => x.partition - y.partition);
  }

  /**
   * kafkajs has no group-less fetch in its public API (its consumer always joins a group), so this
   * joins a throwaway group of its own (`hotdash-range-reader-<client id>-<uuid>`, one member, nothing committed),
   * seeks the partition to `fromOffset`, reads, leaves, and deletes the group.
   */
  async readRange(topic: string, partition: number, fromOffset: string, max: number): Promise<IncomingRecord[]> {
    if (max <= 0) return [];
    const bounds = (await this.offsets(topic)).find((p) => p.partition === partition);
    if (!bounds) throw new Error(`Kafka topic ${topic} has no partition ${partition}`);
    const from = BigInt(fromOffset) < BigInt(bounds.low) ? BigInt(bounds.low) : BigInt(fromOffset);
    const end = BigInt(bounds.high);
    if (from >= end) return [];
    const groupId = `hotdash-range-reader-${this.options.clientId}-${randomUUID()}`;
    const consumer = this.kafka.consumer({ groupId, sessionTimeout: 10_000, heartbeatInterval: 1_000, allowAutoTopicCreation: false, maxWaitTimeInMs: 100, retry: { retries: 2 } });
    const out: IncomingRecord[] = [];
    /** The next offset to hand out. */
    let next = from;
    try {
      await consumer.connect();
      await consumer.subscribe({ topics: [topic], fromBeginning: false });
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`reading ${topic}/${partition} from ${from} did not finish within ${READ_RANGE_TIMEOUT_MS} ms`)), READ_RANGE_TIMEOUT_MS);
        const done = (err?: Error) => {
          clearTimeout(timer);
          if (err) reject(err);
          else resolve();
        };
        consumer.on(consumer.events.CRASH, (e) => done(e.payload.error));
        consumer
          .run({
            autoCommit: false,
            eachBatchAutoResolve: false,
            eachBatch: async ({ batch }) => {
              if (batch.topic !== topic || batch.partition !== partition || out.length >= max) return;
              // A batch fetched before the seek took effect (from the partition's end) is not ours.
              const first = batch.firstOffset();
              if (first === null || BigInt(first) > next) return;
              for (const m of batch.messages) {
                const offset = BigInt(m.offset);
                if (offset < next || offset >= end) continue;
                out.push({ topic, partition, offset: m.offset, key: m.key ? m.key.toString('utf8') : null, value: m.value ?? Buffer.alloc(0), headers: headersOf(m.headers) });
                next = offset + 1n;
                if (out.length >= max) break;
              }
              if (out.length >= max || BigInt(batch.lastOffset()) >= end - 1n) done();
            },
          })
          .then(() => consumer.seek({ topic, partition, offset: from.toString() }))
          .catch(done);
      });
    } finally {
      await consumer.disconnect().catch(() => undefined);
      const admin = await this.connectedAdmin();
      await admin.deleteGroups([groupId]).catch(() => undefined /* never created (it did not get to join), or already gone */);
    }
    return out;
  }

  async ping(): Promise<void> {
    // A client of its own: the main one's cluster connects with its retries (seconds against a broker that is down).
    this.pingAdmin ??= new Kafka({ clientId: this.options.clientId, brokers: this.options.brokers, logLevel: logLevel.NOTHING, retry: { retries: 0 } }).admin({ retry: { retries: 0 } });
    // connect() is a no-op while connected and reconnects after the broker went away.
    await this.pingAdmin.connect();
    await this.pingAdmin.fetchTopicMetadata({ topics: [] });
  }

  async close(): Promise<void> {
    const all = [...this.opened, ...(this.admin ? [this.admin] : []), ...(this.pingAdmin ? [this.pingAdmin] : [])];
    this.opened.length = 0;
    this.admin = undefined;
    this.pingAdmin = undefined;
    await Promise.allSettled(all.map((c) => c.disconnect()));
  }
}
