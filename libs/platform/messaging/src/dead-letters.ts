import {
  ALL_TOPICS,
  deadLetterIdOf,
  DlqHeaders,
  DLQ_TOPICS,
  EventHeaders,
  REPLAYED_FROM_HEADER,
  type DeadLetterFilter,
  type DeadLetterRef,
} from '@hotdash/contracts';
import type { IncomingRecord, KafkaClientPort, KafkaProducerPort, OutgoingRecord } from './kafka/kafka.port';

/** Records read from a partition at a time, newest first. */
const CHUNK = 200;
/** Most records one list() reads (the page ends early, with a cursor, past this). */
export const MAX_SCANNED = 5_000;

/** A dead letter as its headers describe it (the envelope is not parsed for a list). */
export interface DeadLetterRecord {
  id: string;
  ref: DeadLetterRef;
  record: IncomingRecord;
  originalTopic: string | null;
  eventId: string | null;
  eventType: string | null;
  tenantId: string | null;
  consumer: string | null;
  code: string | null;
  error: string | null;
  attempts: number | null;
  failedAt: string | null;
  replayedFrom: string | null;
}

/** The dead-letter topic a filter's topic names (`hotdash.tickets` or `hotdash.tickets.dlq`), or undefined when it names none. */
export function deadLetterTopicOf(topic: string): string | undefined {
  if (DLQ_TOPICS.includes(topic)) return topic;
  return (ALL_TOPICS as readonly string[]).includes(topic) ? `${topic}.dlq` : undefined;
}

export function describeDeadLetter(record: IncomingRecord): DeadLetterRecord {
  const h = record.headers;
  const ref = { topic: record.topic, partition: record.partition, offset: record.offset };
  const attempts = h[DlqHeaders.ATTEMPTS] !== undefined && /^\d+$/.test(h[DlqHeaders.ATTEMPTS]!) ? Number(h[DlqHeaders.ATTEMPTS]) : null;
  return {
    id: deadLetterIdOf(ref),
    ref,
    record,
    originalTopic: h[DlqHeaders.ORIGINAL_TOPIC] ?? null,
    eventId: h[EventHeaders.ID] ?? null,
    eventType: h[EventHeaders.TYPE] ?? null,
    tenantId: h[EventHeaders.TENANT] ?? null,
    consumer: h[DlqHeaders.CONSUMER] ?? null,
    code: h[DlqHeaders.ERROR_CODE] ?? null,
    error: h[DlqHeaders.ERROR] ?? null,
    attempts,
    failedAt: h[DlqHeaders.FAILED_AT] ?? null,
    replayedFrom: h[REPLAYED_FROM_HEADER] ?? null,
  };
}

/** Whether a dead letter matches a filter whose topic was already resolved to its dead-letter topic. */
export function matchesFilter(d: DeadLetterRecord, f: Omit<DeadLetterFilter, 'topic'>): boolean {
  return (f.consumer === undefined || d.consumer === f.consumer) && (f.code === undefined || d.code === f.code) && (f.tenant === undefined || d.tenantId?.toLowerCase() === f.tenant.toLowerCase());
}

/**
 * Where a listing stands: per dead-letter partition (`topic/partition`), the offset below which it
 * has not been read yet (exclusive). Fixed at the first page: later dead letters wait for a new listing.
 */
export type ListPosition = Record<string, string>;

export function encodeCursor(position: ListPosition): string {
  return Buffer.from(JSON.stringify({ v: 1, p: position })).toString('base64url');
}

/** The position a cursor holds, or undefined when it is not one list() handed out. */
export function decodeCursor(cursor: string): ListPosition | undefined {
  try {
    const parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { v?: unknown; p?: unknown };
    if (parsed.v !== 1 || !parsed.p || typeof parsed.p !== 'object' || Array.isArray(parsed.p)) return undefined;
    const out: ListPosition = {};
    for (const [k, v] of Object.entries(parsed.p)) {
      const m = /^(.+)\/(\d{1,5})$/.exec(k);
      if (!m || !DLQ_TOPICS.includes(m[1]!) || typeof v !== 'string' || !/^\d{1,19}$/.test(v)) return undefined;
      out[k] = v;
    }
    return out;
  } catch {
    return undefined;
  }
}

/** The headers a replay sends: the original ones (the dead-letter ones left out) and where it was replayed from. */
export function replayHeaders(d: DeadLetterRecord): Record<string, string> {
  const dlq = new Set<string>(Object.values(DlqHeaders));
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(d.record.headers)) if (!dlq.has(k) && k !== REPLAYED_FROM_HEADER) headers[k] = v;
  headers[REPLAYED_FROM_HEADER] = d.id;
  return headers;
}

/** A partition read backwards, a chunk at a time. */
class BackwardPartition {
  private buffer: DeadLetterRecord[] = [];
  /** Not read yet: offsets in [low, hi). */
  private hi: bigint;
  /** The offset below which nothing has been handed out (the cursor's value for this partition). */
  position: bigint;

  constructor(
    private readonly kafka: KafkaClientPort,
    readonly topic: string,
    readonly partition: number,
    private readonly low: bigint,
    hi: bigint,
  ) {
    this.hi = hi;
    this.position = hi;
  }

  /** The newest record not handed out yet, reading a chunk when needed; undefined when the partition is exhausted. */
  async head(): Promise<DeadLetterRecord | undefined> {
    while (this.buffer.length === 0 && this.hi > this.low) {
      const from = this.hi - BigInt(CHUNK) > this.low ? this.hi - BigInt(CHUNK) : this.low;
      const hi = this.hi;
      const records = await this.kafka.readRange(this.topic, this.partition, from.toString(), Number(hi - from));
      this.buffer = records.filter((r) => BigInt(r.offset) < hi).map(describeDeadLetter).reverse();
      this.hi = from;
      if (this.buffer.length === 0) this.position = from; // a gap (retention): nothing to hand out above `from`
    }
    return this.buffer[0];
  }

  take(): DeadLetterRecord {
    const d = this.buffer.shift()!;
    this.position = BigInt(d.ref.offset);
    return d;
  }
}

/** Newer first: failed-at, then the record's offset (within a partition, offsets follow time). */
function newer(a: DeadLetterRecord, b: DeadLetterRecord): boolean {
  const ta = a.failedAt ?? '';
  const tb = b.failedAt ?? '';
  if (ta !== tb) return ta > tb;
  return BigInt(a.ref.offset) > BigInt(b.ref.offset);
}

/**
 * Reads and replays the dead-letter topics (`<topic>.dlq`, where KafkaEventTransport writes what a
 * consumer gave up on) through the Kafka port's readRange: no consumer group is joined, nothing is
 * committed, so reading changes nothing. Only the platform's dead-letter topics are ever read.
 */
export class DeadLetterReader {
  private producer?: Promise<KafkaProducerPort>;

  constructor(private readonly kafka: KafkaClientPort) {}

  /**
   * One page of the dead letters of `topics` that `accept`s, newest first (by failed-at across
   * partitions), from `position` (a cursor's) or from each partition's end now.
   */
  async list(topics: readonly string[], accept: (d: DeadLetterRecord) => boolean, limit: number, position?: ListPosition): Promise<{ items: DeadLetterRecord[]; next: ListPosition | null; scanned: number }> {
    const partitions: BackwardPartition[] = [];
    for (const topic of topics) {
      for (const p of await this.kafka.offsets(topic)) {
        const key = `${topic}/${p.partition}`;
        const low = BigInt(p.low);
        let hi = BigInt(p.high);
        if (position) {
          const at = position[key];
          if (at === undefined) continue; // not part of this listing (empty when it started)
          if (BigInt(at) < hi) hi = BigInt(at);
        }
        if (hi > low) partitions.push(new BackwardPartition(this.kafka, topic, p.partition, low, hi));
      }
    }
    const items: DeadLetterRecord[] = [];
    let scanned = 0;
    for (;;) {
      let best: BackwardPartition | undefined;
      let bestHead: DeadLetterRecord | undefined;
      for (const p of partitions) {
        const head = await p.head();
        if (head && (!bestHead || newer(head, bestHead))) {
          best = p;
          bestHead = head;
        }
      }
      if (!best || items.length >= limit || scanned >= MAX_SCANNED) break;
      const d = best.take();
      scanned++;
      if (accept(d)) items.push(d);
    }
    const open = await Promise.all(partitions.map(async (p) => ((await p.head()) ? p : undefined)));
    const rest = open.filter((p): p is BackwardPartition => p !== undefined);
    const next = rest.length ? Object.fromEntries(rest.map((p) => [`${p.topic}/${p.partition}`, p.position.toString()])) : null;
    return { items, next, scanned };
  }

  /** The dead letter at exactly this topic, partition and offset, or undefined. */
  async get(ref: DeadLetterRef): Promise<DeadLetterRecord | undefined> {
    if (!DLQ_TOPICS.includes(ref.topic)) return undefined;
    const bounds = (await this.kafka.offsets(ref.topic)).find((p) => p.partition === ref.partition);
    if (!bounds || BigInt(ref.offset) < BigInt(bounds.low) || BigInt(ref.offset) >= BigInt(bounds.high)) return undefined;
    const [record] = await this.kafka.readRange(ref.topic, ref.partition, ref.offset, 1);
    return record && record.offset === ref.offset ? describeDeadLetter(record) : undefined;
  }

  /** Where a replay of `d` goes (its original topic, when that is a platform topic), or undefined when it cannot be replayed. */
  replayTarget(d: DeadLetterRecord): string | undefined {
    return d.originalTopic && (ALL_TOPICS as readonly string[]).includes(d.originalTopic) && `${d.originalTopic}.dlq` === d.ref.topic ? d.originalTopic : undefined;
  }

  /** Sends the dead letter's record back to its original topic: same key and value, its original headers and REPLAYED_FROM_HEADER. */
  async replay(d: DeadLetterRecord): Promise<string> {
    const topic = this.replayTarget(d);
    if (!topic) throw new Error(`dead letter ${d.id} does not name a platform topic to replay to`);
    const out: OutgoingRecord = { topic, key: d.record.key ?? '', value: d.record.value.toString('utf8'), headers: replayHeaders(d) };
    this.producer ??= this.kafka.producer();
    await (await this.producer).send([out]);
    return topic;
  }

  async close(): Promise<void> {
    const p = this.producer;
    this.producer = undefined;
    if (p) await (await p).close().catch(() => undefined);
  }
}
