/**
 * The platform's port onto Kafka. Nothing outside libs/platform/messaging imports a Kafka client;
 * the adapters (kafkajs.adapter.ts, platformatic.adapter.ts) implement this and the benchmark in
 * bench/kafka-clients.bench.ts decides which one is the default (see docs/benchmarks.md).
 */
export interface OutgoingRecord {
  topic: string;
  /** Partition key: the tenant id, so one tenant's events stay in order. */
  key: string;
  value: string;
  headers: Record<string, string>;
}

export interface IncomingRecord {
  topic: string;
  partition: number;
  offset: string;
  key: string | null;
  value: Buffer;
  headers: Record<string, string>;
}

export interface KafkaProducerPort {
  /** Sends with acks=all from an idempotent producer; resolves once every record is acknowledged. */
  send(records: OutgoingRecord[]): Promise<void>;
  close(): Promise<void>;
}

export interface ConsumerOptions {
  groupId: string;
  topics: string[];
  /**
   * Where a new group starts: each partition's first offset (default true) or its end. The adapters
   * commit that start for every partition without a committed offset before the group first
   * consumes, so it is decided once: a member stopped before its first commit resumes there.
   */
  fromBeginning?: boolean;
  sessionTimeoutMs?: number;
  /** Most records handed to one handler call (default 100). */
  maxBatch?: number;
  /** Errors the consumer recovered from (a handler rejection, a lost connection). */
  onError?: (err: Error) => void;
}

/**
 * Handles the records that are ready, in arrival order: at most `ConsumerOptions.maxBatch` of them,
 * possibly from several partitions, each partition's records in offset order. The offsets are
 * committed only after the returned promise resolves (at-least-once delivery: the consumer's inbox
 * makes effects exactly-once). The handler must keep the order of records with the same key. The
 * transport above handles everything it can (retries, dead-lettering) before returning, so a
 * rejection means infrastructure trouble (the database is down): the adapter then commits none of
 * the batch, reports the error through `ConsumerOptions.onError`, and resumes from the last
 * committed offsets after a backoff, so the batch is delivered again.
 */
export type RecordHandler = (records: IncomingRecord[]) => Promise<void>;

export interface KafkaConsumerPort {
  /** Starts consuming; resolves once the consumer is subscribed (consumption goes on in the background until close()). */
  run(handler: RecordHandler): Promise<void>;
  /** Stops consuming, commits what was handled, leaves the group. */
  close(): Promise<void>;
}

export interface TopicSpec {
  topic: string;
  partitions: number;
}

/** A partition's bounds: records are at offsets low ≤ offset < high (high: the next offset to be written). */
export interface PartitionOffsets {
  partition: number;
  low: string;
  high: string;
}

export interface KafkaClientPort {
  readonly name: string;
  producer(): Promise<KafkaProducerPort>;
  consumer(options: ConsumerOptions): Promise<KafkaConsumerPort>;
  /** Creates the topics that are missing; existing topics are left alone. */
  ensureTopics(topics: TopicSpec[]): Promise<void>;
  /**
   * Readiness: one cheap round trip to a broker (a metadata request for no topic), without retries,
   * so a broker that is down fails at once with the connection's error. Callers bound the wait.
   */
  ping(): Promise<void>;
  /** Each partition's bounds, in partition order (a topic that does not exist rejects). */
  offsets(topic: string): Promise<PartitionOffsets[]>;
  /**
   * Reads one partition's records from `fromOffset` on, at most `max` of them and none at or past
   * the partition's end as it was when called (so it never waits for new records), in offset order.
   * Joins no consumer group that outlives the call and commits nothing (a reader, not a consumer:
   * the dead-letter tools, docs/operations.md "Dead letters"). A record's offset may be above
   * `fromOffset` (a record removed by retention), and fewer than `max` come back only at the end.
   */
  readRange(topic: string, partition: number, fromOffset: string, max: number): Promise<IncomingRecord[]>;
  close(): Promise<void>;
}

export interface KafkaClientOptions {
  brokers: string[];
  clientId: string;
}
