import { ALL_TOPICS, deadLetterTopic, EventHeaders, type Envelope } from '@hotdash/contracts';
import { Kysely, sql } from 'kysely';
import { Databases, DbLocation, listen, Listener, withShardTransaction, type TenantDB } from '@hotdash/platform-db';
import { contextFromTraceparent, endSpan, NO_SPAN, SpanKind, spanTraceparent, startSpan, TENANT_ID_ATTRIBUTE } from '@hotdash/platform-telemetry';
import { headersFor } from './headers';
import type { KafkaProducerPort } from './kafka/kafka.port';

export interface RelayOptions {
  /** Rows per batch (one Kafka send, one update). */
  batchSize?: number;
  /** Fallback poll interval when no NOTIFY arrives (ms). */
  pollIntervalMs?: number;
  /**
   * Drains start at least this long after the previous one started (ms, default 10): under a steady
   * flow of commits each drain (a write transaction: lock, select, Kafka send, mark, commit) takes
   * every row written meanwhile instead of one or two, at most this much later. The first row after
   * a quiet spell goes at once. 0 drains on every wake-up.
   */
  minDrainIntervalMs?: number;
  /** Called after every published batch; used by tests and progress logs. */
  onPublished?: (count: number) => void;
  onError?: (err: Error) => void;
  /** Test seam: called after Kafka acknowledged a batch and before the rows are marked published. */
  afterSend?: (count: number) => void;
}

/** The outbox table, the same in the control database and in every shard. */
type OutboxDB = Pick<TenantDB, 'outbox'>;

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
  private readonly isControl: boolean;

  constructor(
    private readonly dbs: Databases,
    readonly location: DbLocation,
    private readonly producer: KafkaProducerPort,
    private readonly options: RelayOptions = {},
  ) {
    const c = dbs.controlLocation;
    this.isControl = location.host === c.host && location.port === c.port && location.database === c.database;
  }

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
    const batchSize = this.options.batchSize ?? 500;
    const spacing = this.options.minDrainIntervalMs ?? 10;
    let lastDrain = -Infinity;
    let backoff = 100;
    while (this.running) {
      try {
        const early = lastDrain + spacing - performance.now();
        if (early > 0) await new Promise((r) => setTimeout(r, early)); // rows committed meanwhile join this drain
        lastDrain = performance.now();
        this.pending = false;
        const n = await this.drainOnce();
        backoff = 100;
        // Again at once only when the batch was full or a row was committed meanwhile (its NOTIFY came
        // after `pending` was cleared, so none is missed): a batch that was not full took every row
        // committed before it looked, and another look would only find none (a transaction of three
        // round trips per wake-up, for nothing).
        if (n >= batchSize || this.pending) continue;
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
    // One transaction as the relay role, on the driver: the control database's or a shard's (same outbox table).
    const options = { timeoutMs: 60_000 };
    const count = this.isControl
      ? await this.dbs.withControl((tx) => this.drainIn(tx.db), { ...options, role: 'relay' })
      : await withShardTransaction(this.dbs, this.location, (tx) => this.drainIn(tx.db), options);
    if (count > 0) this.options.onPublished?.(count);
    return count;
  }

  private async drainIn(db: Kysely<OutboxDB>): Promise<number> {
    const batchSize = this.options.batchSize ?? 500;
    const lock = await db.selectNoFrom((eb) => eb.fn<boolean>('pg_try_advisory_xact_lock', [eb.lit(DRAIN_LOCK_KEY)]).as('locked')).executeTakeFirst();
    if (!lock?.locked) return 0;
    const rows = await db
      .selectFrom('outbox')
      .select(['id', 'topic', 'key', 'envelope'])
      .where('published_at', 'is', null)
      .where('failed_at', 'is', null)
      .orderBy('seq')
      .limit(batchSize)
      .forUpdate()
      .skipLocked()
      .$castTo<OutboxRow>()
      .execute();
    if (rows.length === 0) return 0;
    const records = rows.map((r) => ({ id: r.id, topic: r.topic, key: r.key, value: JSON.stringify(r.envelope), headers: headersFor(r.envelope), envelope: r.envelope }));
    // Rows that can never be published are set aside with the reason, not retried forever.
    const poison = records.filter((r) => !PUBLISHABLE.has(r.topic) || Buffer.byteLength(r.value) > MAX_EVENT_BYTES);
    for (const p of poison) {
      const reason = PUBLISHABLE.has(p.topic) ? `event of ${Buffer.byteLength(p.value)} bytes exceeds ${MAX_EVENT_BYTES}` : `unknown topic ${JSON.stringify(p.topic)}`;
      this.options.onError?.(new Error(`outbox row ${p.id} set aside: ${reason}`));
      await db.updateTable('outbox').set({ failed_at: sql`now()`, last_error: reason }).where('id', '=', p.id).execute();
    }
    const sendable = records.filter((r) => !poison.includes(r));
    if (sendable.length > 0) {
      const spans = sendable.map((r) => sendSpan(r));
      try {
        await this.producer.send(sendable.map(({ id: _id, envelope: _e, ...r }) => r));
      } catch (err) {
        for (const s of spans) endSpan(s, err);
        throw err;
      }
      for (const s of spans) endSpan(s);
      this.options.afterSend?.(sendable.length);
      // One array parameter (`= any($1)`): the same statement text whatever the batch's size.
      const ids = sendable.map((r) => r.id);
      await db
        .updateTable('outbox')
        .set({ published_at: sql`now()` })
        .where((eb) => eb('id', '=', eb.fn.any(eb.val(ids))))
        .execute();
    }
    return rows.length;
  }

  async stop(): Promise<void> {
    this.running = false;
    this.wake?.();
    await this.listener?.close();
    await this.loop;
  }
}

/**
 * The relay's span of one event's send (kind producer), in the trace its envelope names: its
 * traceparent replaces the envelope's in the record's headers, so the consumer's span follows the
 * send. An event published without a trace (tracing off where it was written) gets no span here.
 */
function sendSpan(r: { topic: string; headers: Record<string, string>; envelope: Envelope }) {
  if (!r.envelope.traceparent) return NO_SPAN;
  const span = startSpan(`send ${r.topic}`, {
    kind: SpanKind.PRODUCER,
    parent: contextFromTraceparent(r.envelope.traceparent),
    attributes: {
      [TENANT_ID_ATTRIBUTE]: r.envelope.tenantId,
      'messaging.system': 'kafka',
      'messaging.operation.type': 'send',
      'messaging.destination.name': r.topic,
      'messaging.message.id': r.envelope.id,
      'hotdash.event.type': r.envelope.type,
    },
  });
  const traceparent = spanTraceparent(span);
  if (traceparent) r.headers[EventHeaders.TRACEPARENT] = traceparent;
  return span;
}
