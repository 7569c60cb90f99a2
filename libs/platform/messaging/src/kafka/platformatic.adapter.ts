import type {
  Admin,
  CommitOptionsPartition,
  Consumer,
  Message,
  MessagesStream,
  Producer,
} from '@platformatic/kafka';
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
import { ConsumerBackoff } from './consumer-backoff';

/**
 * @platformatic/kafka is ESM-only. Node 24 `require()`s it natively, but Jest (without
 * --experimental-vm-modules) cannot, so it is loaded lazily: importing this file never loads the
 * library, only using the client does. Under Jest, jest.setup.ts maps the module to Node's own
 * loader.
 */
type PlatformaticKafka = typeof import('@platformatic/kafka');
let library: Promise<PlatformaticKafka> | undefined;
function loadLibrary(): Promise<PlatformaticKafka> {
  library ??= import('@platformatic/kafka');
  return library;
}

type StringProducer = Producer<string, string, string, string>;
/** Key and headers as strings; the value stays the raw Buffer (the port hands out bytes). */
type RecordConsumer = Consumer<string, Buffer, string, string>;
type RecordMessage = Message<string, Buffer, string, string>;
type RecordStream = MessagesStream<string, Buffer, string, string>;

/** Handled offsets are committed at most this often (and on close). */
const COMMIT_INTERVAL_MS = 200;
/** Local queue bounds: the stream is paused above HIGH and resumed below LOW. */
const QUEUE_HIGH = 1024;
const QUEUE_LOW = 256;
/** Wait before consuming again after a failure: doubles per failure, back to the start after a handled record. */
const DEFAULT_SESSION_TIMEOUT_MS = 30_000;
const TOPIC_READY_TIMEOUT_MS = 10_000;
/** readRange(): bytes asked for per fetch, and the longest it runs. */
const READ_RANGE_FETCH_BYTES = 4 * 1024 * 1024;
const READ_RANGE_TIMEOUT_MS = 20_000;
/** A record batch's attribute bit of control batches (transaction markers), which hold no records to hand out. */
const CONTROL_BATCH = 1 << 5;

function partitionKey(topic: string, partition: number): string {
  return `${topic}\u0000${partition}`;
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

class PlatformaticProducer implements KafkaProducerPort {
  private closed = false;

  constructor(
    private readonly producer: StringProducer,
    private readonly onClose: () => void,
  ) {}

  async send(records: OutgoingRecord[]): Promise<void> {
    if (this.closed) throw new Error('Kafka producer is closed');
    if (records.length === 0) return;
    // One send() covers every partition and broker of the batch and resolves only when each
    // partition's produce request was acknowledged (acks=all, idempotent).
    await this.producer.send({
      messages: records.map((r) => ({ topic: r.topic, key: r.key, value: r.value, headers: r.headers })),
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.onClose();
    await this.producer.close();
  }
}

/** One consume stream and what became of it. A failed attempt is torn down and a new one started. */
interface Attempt {
  stream: RecordStream;
  /** The stream (or the consumer under it) failed: tear this attempt down and start another one. */
  failure?: Error;
  /** The stream closed (by itself, or because this attempt is being torn down). */
  ended: boolean;
}

/**
 * Sequential consumer: one record at a time (hence strictly in order per partition), autocommit
 * off, the next offset of the last handled record of each partition committed every
 * COMMIT_INTERVAL_MS, on close, and when an attempt is torn down.
 *
 * run() resolves once the first consume stream exists; a background loop then hands the records
 * over until close(). When the handler rejects (or the stream fails), the loop stops handing records
 * over, commits what was handled, closes the stream, reports the error through
 * `ConsumerOptions.onError`, waits (ConsumerBackoff: 500 ms doubling up to 15 s, back to the
 * start after a record was handled) and consumes again from the committed offsets: the failed
 * record comes first. The member stays in the group meanwhile; consuming again rejoins it.
 */
class PlatformaticConsumer implements KafkaConsumerPort {
  private started = false;
  private closing = false;
  private closePromise?: Promise<void>;
  /** The background loop; never rejects. */
  private loopDone?: Promise<void>;
  private attempt?: Attempt;
  private readonly backoffWait = new ConsumerBackoff();
  /** Ends the backoff wait early (close()). */
  /** The group is rebalancing (since this time): hand nothing over until the new assignment is known. */
  private rebalancingSince?: number;

  private readonly queue: RecordMessage[] = [];
  private wakeUp?: () => void;

  /** Next offset to commit per partition (handled offset + 1), not yet committed. */
  private readonly pending = new Map<string, CommitOptionsPartition>();
  /** Next offset expected per partition; older records (re-fetched after a rebalance) are skipped. */
  private readonly nextOffset = new Map<string, bigint>();
  private inflightCommit?: Promise<void>;
  private commitTimer?: NodeJS.Timeout;

  constructor(
    private readonly lib: PlatformaticKafka,
    private readonly consumer: RecordConsumer,
    private readonly options: ConsumerOptions,
    private readonly rebalanceTimeoutMs: number,
    private readonly onClose: () => void,
  ) {
    consumer.on('consumer:group:rebalance', this.onRebalance);
    consumer.on('consumer:group:join', this.onJoin);
    // The consumer emits 'error' when a rejoin failed; unlistened, that would crash the process.
    consumer.on('error', this.onConsumerError);
  }

  async run(handler: RecordHandler): Promise<void> {
    if (this.started) throw new Error('Kafka consumer is already running');
    if (this.closing) throw new Error('Kafka consumer is closed');
    this.started = true;
    let subscribed!: (err?: Error) => void;
    const ready = new Promise<void>((resolve, reject) => (subscribed = (err) => (err ? reject(err) : resolve())));
    this.loopDone = this.loop(handler, subscribed).catch((err: unknown) => {
      subscribed(asError(err)); // no-op once settled
      this.report(asError(err));
    });
    try {
      await ready;
    } catch (err) {
      this.started = false; // nothing is running: run() may be called again
      throw err;
    }
  }

  close(): Promise<void> {
    this.closePromise ??= this.shutdown();
    return this.closePromise;
  }

  /** Consumes until close(), starting a new attempt after each failure. */
  private async loop(handler: RecordHandler, subscribed: (err?: Error) => void): Promise<void> {
    let first = true;
    while (!this.closing) {
      let failure: Error | undefined;
      try {
        const attempt = await this.subscribe();
        if (first) {
          first = false;
          this.commitTimer = setInterval(() => {
            this.commit().catch(() => undefined /* kept pending; retried next tick, on teardown and on close */);
          }, COMMIT_INTERVAL_MS);
          subscribed();
        }
        failure = await this.drain(attempt, handler);
      } catch (err) {
        failure = asError(err);
        if (first) {
          // Could not even subscribe: run() rejects (or, when close() got in first, just resolves).
          subscribed(this.closing ? undefined : failure);
          return;
        }
      }
      await this.teardown();
      if (this.closing) break;
      this.report(failure ?? new Error('Kafka consumer stopped unexpectedly'));
      await this.backoff();
    }
  }

  /** Creates the consume stream (rejoining the group), resuming from the committed offsets. */
  private async subscribe(): Promise<Attempt> {
    const { MessagesStreamModes, MessagesStreamFallbackModes } = this.lib;
    this.rebalancingSince = undefined;
    const stream = await this.consumer.consume({
      topics: this.options.topics,
      autocommit: false,
      mode: MessagesStreamModes.COMMITTED,
      fallbackMode:
        this.options.fromBeginning === false ? MessagesStreamFallbackModes.LATEST : MessagesStreamFallbackModes.EARLIEST,
    });
    const attempt: Attempt = { stream, ended: false };
    this.attempt = attempt;
    // The listeners stay attached for the stream's whole life (an 'error' without a listener would
    // crash the process); once the attempt is over they only touch that stale attempt.
    stream.on('data', (message: RecordMessage) => {
      if (this.attempt !== attempt) return;
      this.queue.push(message);
      if (this.queue.length >= QUEUE_HIGH) stream.pause();
      this.wake();
    });
    stream.on('error', (err: Error) => {
      attempt.failure ??= err;
      if (this.attempt === attempt) this.wake();
    });
    stream.on('close', () => {
      attempt.ended = true;
      if (this.attempt === attempt) this.wake();
    });
    return attempt;
  }

  /**
   * Hands the records over one at a time until close() (resolves undefined) or a failure (resolves
   * with it): a handler rejection, a stream error, the stream ending by itself.
   */
  private async drain(attempt: Attempt, handler: RecordHandler): Promise<Error | undefined> {
    const { stream } = attempt;
    while (!this.closing) {
      if (attempt.failure) return attempt.failure;
      if (this.rebalancingSince !== undefined && Date.now() - this.rebalancingSince > this.rebalanceTimeoutMs) {
        this.rebalancingSince = undefined; // no join was reported: do not stall forever
      }
      const batch = this.rebalancingSince === undefined ? this.takeBatch() : [];
      if (batch.length === 0) {
        if (this.rebalancingSince === undefined && this.queue.length > 0) continue; // only stale records were dropped
        // The stream ended without us closing it: the library closed it underneath us.
        if (attempt.ended) return attempt.failure ?? new Error('Kafka consumer stream ended unexpectedly');
        await new Promise<void>((resolve) => {
          this.wakeUp = resolve;
          if (this.rebalancingSince !== undefined) setTimeout(resolve, 1_000).unref();
        });
        this.wakeUp = undefined;
        continue;
      }
      if (this.queue.length <= QUEUE_LOW && stream.isPaused()) stream.resume();

      try {
        await handler(batch.map((m) => this.toRecord(m)));
      } catch (err) {
        // Not committed, nor anything after it: the next attempt resumes from this batch.
        return asError(err);
      }
      this.backoffWait.reset();
      for (const message of batch) {
        const key = partitionKey(message.topic, message.partition);
        this.nextOffset.set(key, message.offset + 1n);
        this.pending.set(key, {
          topic: message.topic,
          partition: message.partition,
          offset: message.offset + 1n,
          leaderEpoch: message.leaderEpoch,
        });
      }
    }
    return undefined;
  }

  /** Takes up to maxBatch queued records that are still ours and not yet handled, in arrival order. */
  private takeBatch(): RecordMessage[] {
    const max = this.options.maxBatch ?? 100;
    const batch: RecordMessage[] = [];
    while (batch.length < max && this.queue.length > 0) {
      const message = this.queue.shift()!;
      if (!this.isAssigned(message.topic, message.partition)) continue; // revoked: the new owner takes it
      const expected = this.nextOffset.get(partitionKey(message.topic, message.partition));
      if (expected !== undefined && message.offset < expected) continue; // already handled here
      batch.push(message);
    }
    return batch;
  }

  /** Ends the current attempt: commits what was handled, drops what was not, closes the stream. */
  private async teardown(): Promise<void> {
    const attempt = this.attempt;
    this.attempt = undefined;
    this.queue.length = 0;
    try {
      await this.commit();
    } catch {
      // Kept pending: retried by the timer, the next teardown and close(). Uncommitted handled
      // records are at worst delivered again (and skipped here by the nextOffset guard).
    }
    await attempt?.stream.close().catch(() => undefined /* the stream is gone either way */);
  }

  /** Waits before the next attempt; close() ends the wait at once. */
  private async backoff(): Promise<void> {
    if (this.closing) return;
    await this.backoffWait.wait();
  }

  private async shutdown(): Promise<void> {
    this.closing = true;
    this.wake();
    this.backoffWait.cancel();
    await this.loopDone; // the record being handled (if any) finishes first, then the attempt is torn down
    clearInterval(this.commitTimer);
    this.consumer.off('consumer:group:rebalance', this.onRebalance);
    this.consumer.off('consumer:group:join', this.onJoin);
    let commitError: unknown;
    try {
      await this.commit();
    } catch (err) {
      commitError = err;
    }
    this.queue.length = 0;
    try {
      await this.consumer.close(true); // leaves the group (closing any stream left)
    } finally {
      this.onClose();
    }
    if (commitError) throw asError(commitError);
  }

  /** Commits the latest handled offset of each partition; one commit in flight at a time. */
  private async commit(): Promise<void> {
    while (this.inflightCommit) await this.inflightCommit.catch(() => undefined);
    if (this.pending.size === 0) return;
    const offsets = [...this.pending.values()].filter((o) => this.isAssigned(o.topic, o.partition));
    this.pending.clear();
    if (offsets.length === 0) return;
    const inflight = this.consumer.commit({ offsets });
    this.inflightCommit = inflight;
    try {
      await inflight;
    } catch (err) {
      // Keep them for the next attempt unless a newer offset of the partition is already pending.
      for (const o of offsets) {
        const key = partitionKey(o.topic, o.partition);
        if (!this.pending.has(key)) this.pending.set(key, o);
      }
      throw err;
    } finally {
      this.inflightCommit = undefined;
    }
  }

  private isAssigned(topic: string, partition: number): boolean {
    const assignments = this.consumer.assignments;
    if (!assignments) return false;
    return assignments.some((a) => a.topic === topic && a.partitions.includes(partition));
  }

  private readonly onRebalance = (): void => {
    // The member is about to rejoin: stop handing records over and commit what was handled while
    // this generation still owns the partitions.
    this.rebalancingSince ??= Date.now();
    this.commit().catch(() => undefined);
  };

  private readonly onJoin = (): void => {
    this.rebalancingSince = undefined;
    // Drop what belongs to partitions this member no longer owns; their new owner resumes from the
    // committed offset. Owned partitions are re-fetched from the committed offset by the stream and
    // the nextOffset guard skips what was already handled here.
    for (let i = this.queue.length - 1; i >= 0; i--) {
      const m = this.queue[i]!;
      if (!this.isAssigned(m.topic, m.partition)) this.queue.splice(i, 1);
    }
    this.wake();
  };

  private readonly onConsumerError = (err: Error): void => {
    // A failed rejoin: the current attempt is torn down and the next one joins again. Between
    // attempts (or once closing) there is nothing to do: the next consume() rejoins anyway.
    const attempt = this.attempt;
    if (!attempt || this.closing) return;
    attempt.failure ??= asError(err);
    this.wake();
  };

  private report(err: Error): void {
    try {
      this.options.onError?.(err);
    } catch {
      // A throwing error callback must not stop the consumer.
    }
  }

  private wake(): void {
    this.wakeUp?.();
  }

  private toRecord(message: RecordMessage): IncomingRecord {
    const headers: Record<string, string> = {};
    for (const [k, v] of message.headerEntries) headers[String(k)] = v ?? '';
    return {
      topic: message.topic,
      partition: message.partition,
      offset: message.offset.toString(),
      key: message.key ?? null,
      value: message.value ?? Buffer.alloc(0),
      headers,
    };
  }
}

export class PlatformaticKafkaClient implements KafkaClientPort {
  readonly name = 'platformatic';
  private admin?: Admin;
  private readonly open = new Set<{ close(): Promise<void> }>();
  private closed = false;

  constructor(private readonly options: KafkaClientOptions) {}

  async producer(): Promise<KafkaProducerPort> {
    this.assertOpen();
    const lib = await loadLibrary();
    const producer = new lib.Producer<string, string, string, string>({
      clientId: this.options.clientId,
      bootstrapBrokers: this.options.brokers,
      idempotent: true,
      acks: lib.ProduceAcks.ALL,
      serializers: lib.stringSerializers,
      // The library's default partitioner hashes with `murmur2 >>> 0`; Java clients and kafkajs use
      // `murmur2 & 0x7fffffff`, so the same key would land on another partition after a switch.
      partitioner: lib.compatibilityPartitioner,
      // The idempotent producer retries forever unless told otherwise; bound it so send() rejects.
      retries: 5,
    });
    const port: PlatformaticProducer = new PlatformaticProducer(producer, () => this.open.delete(port));
    this.open.add(port);
    return port;
  }

  async consumer(options: ConsumerOptions): Promise<KafkaConsumerPort> {
    this.assertOpen();
    const lib = await loadLibrary();
    await this.pinGroupStart(lib, options).catch((err: unknown) => options.onError?.(new Error(`the start of consumer group ${options.groupId} could not be pinned: ${asError(err).message}`)));
    const sessionTimeout = options.sessionTimeoutMs ?? DEFAULT_SESSION_TIMEOUT_MS;
    const rebalanceTimeout = Math.max(sessionTimeout, 60_000);
    const consumer = new lib.Consumer<string, Buffer, string, string>({
      clientId: this.options.clientId,
      bootstrapBrokers: this.options.brokers,
      groupId: options.groupId,
      sessionTimeout,
      rebalanceTimeout,
      heartbeatInterval: Math.min(3_000, Math.floor(sessionTimeout / 3)),
      autocommit: false,
      maxWaitTime: 1_000,
      deserializers: {
        key: lib.stringDeserializer,
        headerKey: lib.stringDeserializer,
        headerValue: lib.stringDeserializer,
        // value: the default no-op deserializer hands out the raw Buffer
      },
    });
    const port: PlatformaticConsumer = new PlatformaticConsumer(lib, consumer, options, rebalanceTimeout, () => this.open.delete(port));
    this.open.add(port);
    return port;
  }

  async ensureTopics(topics: TopicSpec[]): Promise<void> {
    this.assertOpen();
    if (topics.length === 0) return;
    const lib = await loadLibrary();
    const admin = this.adminOf(lib);
    const existing = new Set(await admin.listTopics());
    const missing = topics.filter((t) => !existing.has(t.topic));
    await Promise.all(
      missing.map(async (t) => {
        try {
          await admin.createTopics({ topics: [t.topic], partitions: t.partitions, replicas: 1 });
        } catch (err) {
          // Created concurrently by someone else: fine.
          if (!lib.findErrorBy(asError(err), 'apiId', 'TOPIC_ALREADY_EXISTS')) throw err;
        }
      }),
    );
    if (missing.length > 0) await this.waitForLeaders(admin, missing.map((t) => t.topic));
  }

  async ping(): Promise<void> {
    this.assertOpen();
    const lib = await loadLibrary();
    // No topic, forced (not answered from the cache), no retry: the broker's answer or its error. The
    // library shares one request among overlapping calls, so probes never pile up on a hung broker.
    await this.adminOf(lib).metadata({ topics: [], forceUpdate: true, retries: 0 });
  }

  async offsets(topic: string): Promise<PartitionOffsets[]> {
    this.assertOpen();
    const lib = await loadLibrary();
    const admin = this.adminOf(lib);
    const metadata = await admin.metadata({ topics: [topic] });
    const count = metadata.topics.get(topic)?.partitions.length ?? 0;
    if (count === 0) throw new Error(`Kafka topic ${topic} does not exist`);
    const partitions = Array.from({ length: count }, (_, i) => i);
    const list = async (timestamp: bigint) => {
      const [t] = await admin.listOffsets({ topics: [{ name: topic, partitions: partitions.map((partitionIndex) => ({ partitionIndex, timestamp })) }] });
      return new Map((t?.partitions ?? []).map((p) => [p.partitionIndex, p.offset]));
    };
    const [low, high] = await Promise.all([list(lib.ListOffsetTimestamps.EARLIEST), list(lib.ListOffsetTimestamps.LATEST)]);
    return partitions.map((partition) => ({ partition, low: String(low.get(partition) ?? 0n), high: String(high.get(partition) ?? 0n) }));
  }

  /**
   * Plain Fetch requests to the partition's leader through a consumer that never joins its group
   * (no JoinGroup, no commit: the group id the library requires is never seen by the broker), closed
   * before returning.
   */
  async readRange(topic: string, partition: number, fromOffset: string, max: number): Promise<IncomingRecord[]> {
    this.assertOpen();
    if (max <= 0) return [];
    const lib = await loadLibrary();
    const bounds = (await this.offsets(topic)).find((p) => p.partition === partition);
    if (!bounds) throw new Error(`Kafka topic ${topic} has no partition ${partition}`);
    const end = BigInt(bounds.high);
    let position = BigInt(fromOffset) < BigInt(bounds.low) ? BigInt(bounds.low) : BigInt(fromOffset);
    if (position >= end) return [];
    const metadata = await this.adminOf(lib).metadata({ topics: [topic], forceUpdate: true });
    const meta = metadata.topics.get(topic);
    const leader = meta?.partitions[partition]?.leader;
    if (!meta || leader === undefined || leader < 0) throw new Error(`Kafka topic ${topic} partition ${partition} has no leader`);
    const reader = new lib.Consumer({ clientId: this.options.clientId, bootstrapBrokers: this.options.brokers, groupId: `hotdash-range-reader-${this.options.clientId}`, autocommit: false });
    reader.topics.track(topic); // its metadata (topic id, leader) known to the reader too; no group is joined for it
    const out: IncomingRecord[] = [];
    const deadline = Date.now() + READ_RANGE_TIMEOUT_MS;
    const text = (b: Buffer | null | undefined) => (b ? b.toString('utf8') : '');
    try {
      while (out.length < max && position < end) {
        if (Date.now() > deadline) throw new Error(`reading ${topic}/${partition} did not finish within ${READ_RANGE_TIMEOUT_MS} ms`);
        const response = await reader.fetch({
          node: leader,
          maxWaitTime: 100,
          minBytes: 1,
          maxBytes: READ_RANGE_FETCH_BYTES,
          topics: [{ topicId: meta.id, partitions: [{ partition, fetchOffset: position, currentLeaderEpoch: -1, lastFetchedEpoch: -1, partitionMaxBytes: READ_RANGE_FETCH_BYTES }] }],
        });
        const answered = response.responses.flatMap((t) => t.partitions).find((p) => p.partitionIndex === partition);
        if (answered && answered.errorCode !== 0) throw new Error(`Kafka answered error ${answered.errorCode} fetching ${topic}/${partition} at ${position}`);
        const before = position;
        for (const batch of answered?.records ?? []) {
          const next = batch.firstOffset + BigInt(batch.lastOffsetDelta) + 1n;
          if (!(batch.attributes & CONTROL_BATCH)) {
            for (const r of batch.records) {
              const offset = batch.firstOffset + BigInt(r.offsetDelta);
              if (offset < position || offset >= end || out.length >= max) continue;
              const headers: Record<string, string> = {};
              for (const [k, v] of r.headers) headers[text(k)] = text(v);
              out.push({ topic, partition, offset: offset.toString(), key: r.key ? r.key.toString('utf8') : null, value: r.value ?? Buffer.alloc(0), headers });
            }
          }
          if (next > position) position = next;
          if (out.length >= max) break;
        }
        if (position === before && (answered?.records?.length ?? 0) === 0) {
          // Nothing below the end came back (the end moved down: records deleted meanwhile): done.
          if (BigInt(answered?.highWatermark ?? end) <= position) break;
        }
      }
    } finally {
      await reader.close(true).catch(() => undefined);
    }
    return out;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const results = await Promise.allSettled([...[...this.open].map((c) => c.close()), this.admin?.close()]);
    this.open.clear();
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  private adminOf(lib: PlatformaticKafka): Admin {
    return (this.admin ??= new lib.Admin({ clientId: this.options.clientId, bootstrapBrokers: this.options.brokers }));
  }

  /**
   * Writes a new group's start down before it first consumes: each partition of its topics that has
   * no committed offset for the group gets one, its first offset (or its end, for fromBeginning
   * false). From then on the group resumes from committed offsets only. Left to the library's
   * fallback, a group that had committed nothing yet re-decided where to start on every join: a
   * member killed before its first commit came back at the then end of a "latest" group (skipping
   * what was produced while it was down), and a partition that came back to a member after a
   * rebalance resumed at that member's old fetch position (skipping what it had fetched and
   * dropped). A pin that cannot be written (members of the group already consuming, the broker
   * unreachable) is reported through onError and leaves the start to the library, as before.
   */
  private async pinGroupStart(lib: PlatformaticKafka, options: ConsumerOptions): Promise<void> {
    if (options.topics.length === 0) return;
    const admin = this.adminOf(lib);
    const metadata = await admin.metadata({ topics: options.topics });
    const topics = options.topics.map((name) => ({ name, partitionIndexes: (metadata.topics.get(name)?.partitions ?? []).map((_, i) => i) }));
    const unpinned = async () => {
      const [group] = await admin.listConsumerGroupOffsets({ groups: [{ groupId: options.groupId, topics }] });
      return topics
        .map(({ name, partitionIndexes }) => {
          const committed = new Map((group?.topics.find((t) => t.name === name)?.partitions ?? []).map((p) => [p.partitionIndex, p.committedOffset]));
          return { name, partitions: partitionIndexes.filter((i) => (committed.get(i) ?? -1n) < 0n) };
        })
        .filter((t) => t.partitions.length > 0);
    };
    const missing = await unpinned();
    if (missing.length === 0) return;
    const timestamp = options.fromBeginning === false ? lib.ListOffsetTimestamps.LATEST : lib.ListOffsetTimestamps.EARLIEST;
    const listed = await admin.listOffsets({ topics: missing.map((t) => ({ name: t.name, partitions: t.partitions.map((partitionIndex) => ({ partitionIndex, timestamp })) })) });
    try {
      await admin.alterConsumerGroupOffsets({
        groupId: options.groupId,
        topics: listed.map((t) => ({ name: t.name, partitionOffsets: t.partitions.map((p) => ({ partition: p.partitionIndex, offset: p.offset })) })),
      });
    } catch (err) {
      // Refused while members of the group consume (another instance starting at the same time): fine
      // when that one pinned it first or committed since.
      if ((await unpinned()).length > 0) options.onError?.(new Error(`the start of consumer group ${options.groupId} could not be pinned: ${asError(err).message}`));
    }
  }

  /** New topics take a moment to get partition leaders; producing before that only burns retries. */
  private async waitForLeaders(admin: Admin, topics: string[]): Promise<void> {
    const deadline = Date.now() + TOPIC_READY_TIMEOUT_MS;
    for (;;) {
      try {
        const metadata = await admin.metadata({ topics, forceUpdate: true });
        const ready = topics.every((name) => {
          const topic = metadata.topics.get(name);
          return !!topic && topic.partitions.length > 0 && topic.partitions.every((p) => p && p.leader >= 0);
        });
        if (ready) return;
      } catch (err) {
        if (Date.now() >= deadline) throw err;
      }
      if (Date.now() >= deadline) throw new Error(`Kafka topics not ready: ${topics.join(', ')}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('Kafka client is closed');
  }
}
