import { ALL_TOPICS, deadLetterTopic, type Envelope } from '@hotdash/contracts';
import { Databases, DbLocation, listen, Listener } from '@hotdash/platform-db';
import { headersFor } from './headers';
import type { KafkaProducerPort } from './kafka/kafka.port';

export interface RelayOptions {
  /** Rows per batch (one Kafka send, one update). */
  batchSize?: number;
  /** Fallback poll interval when no NOTIFY arrives (ms). */
  pollIntervalMs?: number;
  /** Called after every published batch; used by tests and progress logs. */
  onPublished?: (count: number) => void;
  onError?: (err: Error) => void;
  /** Test seam: called after Kafka acknowledged a batch and before the rows are marked published. */
  afterSend?: (count: number) => void;
}

interface OutboxRow {
  id: string;
  topic: string;
  key: string;
  envelope: Envelope;
}

/** Topics an outbox row may name; anything else can never be published. */
const PUBLISHABLE = new Set<string>(ALL_TOPICS.flatMap((t) => [t, deadLetterTopic(t)]));
/** Kafka's default message.max.bytes is about 1 MB; keep a margin for headers and batching. */
const MAX_EVENT_BYTES = 900_000;

// Serialises drains of one database across relay instances so that one tenant's events are
// published in the order they were written; SKIP LOCKED keeps a blocked instance from waiting.
const DRAIN_LOCK_KEY = 7_201_126_002;

/**
 * Publishes one database's outbox to Kafka: batches in seq order, `FOR UPDATE SKIP LOCKED`, woken by
 * LISTEN/NOTIFY (the insert trigger notifies at commit), falling back to polling. A row is marked
 * published only after Kafka acknowledged it, in the same transaction that locked it: a crash in
 * between republishes the batch, and consumers' inboxes drop the duplicates.
 */
export class OutboxRelay {
  private running = false;
  private wake?: () => void;
  private listener?: Listener;
  private loop?: Promise<void>;
  private pending = true;

  constructor(
    private readonly dbs: Databases,
    readonly location: DbLocation,
    private readonly producer: KafkaProducerPort,
    private readonly options: RelayOptions = {},
  ) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.listener = listen(this.dbs, this.location, 'relay', 'hotdash_outbox', () => this.notify());
    this.loop = this.run();
  }

  private notify(): void {
    this.pending = true;
    this.wake?.();
  }

  private async run(): Promise<void> {
    const poll = this.options.pollIntervalMs ?? 1_000;
    let backoff = 100;
    while (this.running) {
      try {
        this.pending = false;
        const n = await this.drainOnce();
        backoff = 100;
        if (n > 0 || this.pending) continue;
      } catch (err) {
        this.options.onError?.(err as Error);
        await new Promise((r) => setTimeout(r, backoff));
        backoff = Math.min(backoff * 2, 5_000);
        continue;
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, poll);
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.wake = undefined;
    }
  }

  /** Publishes one batch; returns how many events it published (0 when idle or another relay holds the lock). */
  async drainOnce(): Promise<number> {
    const batchSize = this.options.batchSize ?? 500;
    const prisma = this.dbs.shard(this.location, 'relay');
    const count = await prisma.$transaction(
      async (tx) => {
        const [lock] = await tx.$queryRaw<{ locked: boolean }[]>`select pg_try_advisory_xact_lock(${DRAIN_LOCK_KEY}::bigint) as locked`;
        if (!lock?.locked) return 0;
        const rows = await tx.$queryRaw<OutboxRow[]>`select id::text as id, topic, key, envelope from outbox
          where published_at is null and failed_at is null order by seq limit ${batchSize} for update skip locked`;
        if (rows.length === 0) return 0;
        const records = rows.map((r) => ({ id: r.id, topic: r.topic, key: r.key, value: JSON.stringify(r.envelope), headers: headersFor(r.envelope) }));
        // Rows that can never be published are set aside with the reason, not retried forever.
        const poison = records.filter((r) => !PUBLISHABLE.has(r.topic) || Buffer.byteLength(r.value) > MAX_EVENT_BYTES);
        for (const p of poison) {
          const reason = PUBLISHABLE.has(p.topic) ? `event of ${Buffer.byteLength(p.value)} bytes exceeds ${MAX_EVENT_BYTES}` : `unknown topic ${JSON.stringify(p.topic)}`;
          this.options.onError?.(new Error(`outbox row ${p.id} set aside: ${reason}`));
          await tx.$executeRaw`update outbox set failed_at = now(), last_error = ${reason} where id = ${p.id}::uuid`;
        }
        const sendable = records.filter((r) => !poison.includes(r));
        if (sendable.length > 0) {
          await this.producer.send(sendable.map(({ id: _id, ...r }) => r));
          this.options.afterSend?.(sendable.length);
          await tx.$executeRaw`update outbox set published_at = now() where id = any(${sendable.map((r) => r.id)}::uuid[])`;
        }
        return rows.length;
      },
      { timeout: 60_000, maxWait: 10_000 },
    );
    if (count > 0) this.options.onPublished?.(count);
    return count;
  }

  async stop(): Promise<void> {
    this.running = false;
    this.wake?.();
    await this.listener?.close();
    await this.loop;
  }
}
