import { Admin, Consumer, Kafka, logLevel, Producer } from 'kafkajs';
import type {
  ConsumerOptions,
  KafkaClientOptions,
  KafkaClientPort,
  KafkaConsumerPort,
  KafkaProducerPort,
  OutgoingRecord,
  RecordHandler,
  TopicSpec,
} from './kafka.port';

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
