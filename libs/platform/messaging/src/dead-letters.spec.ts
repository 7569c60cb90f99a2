// DeadLetterReader over an in-memory Kafka port (the real adapters' readRange/offsets are covered by
// dead-letters.int-spec.ts): newest-first merging across partitions and topics, pages that hand out
// every dead letter exactly once and keep their view fixed, filters, exact-offset lookups that read
// only dead-letter topics, and the record a replay sends.
import { DlqHeaders, EventHeaders, REPLAYED_FROM_HEADER, Topics } from '@hotdash/contracts';
import { DeadLetterReader, decodeCursor, describeDeadLetter, encodeCursor, matchesFilter, replayHeaders, type DeadLetterRecord, type ListPosition } from './dead-letters';
import type { IncomingRecord, KafkaClientPort, KafkaProducerPort, OutgoingRecord, PartitionOffsets } from './kafka/kafka.port';

class MemoryKafka implements KafkaClientPort {
  readonly name = 'memory';
  readonly topics = new Map<string, IncomingRecord[][]>();
  /** Records removed from the start of each partition (retention): offsets below are gone. */
  readonly low = new Map<string, number>();
  readonly sent: OutgoingRecord[] = [];
  reads = 0;

  add(topic: string, partition: number, headers: Record<string, string>, value = '{}', key: string | null = 'k'): IncomingRecord {
    const parts = this.topics.get(topic) ?? Array.from({ length: 3 }, () => []);
    this.topics.set(topic, parts);
    const r: IncomingRecord = { topic, partition, offset: String(parts[partition]!.length), key, value: Buffer.from(value), headers };
    parts[partition]!.push(r);
    return r;
  }

  async offsets(topic: string): Promise<PartitionOffsets[]> {
    const parts = this.topics.get(topic) ?? Array.from({ length: 3 }, () => []);
    return parts.map((p, partition) => ({ partition, low: String(this.low.get(`${topic}/${partition}`) ?? 0), high: String(p.length) }));
  }

  async readRange(topic: string, partition: number, fromOffset: string, max: number): Promise<IncomingRecord[]> {
    this.reads++;
    const low = this.low.get(`${topic}/${partition}`) ?? 0;
    return (this.topics.get(topic)?.[partition] ?? []).filter((r) => Number(r.offset) >= Math.max(low, Number(fromOffset))).slice(0, max);
  }

  async producer(): Promise<KafkaProducerPort> {
    return { send: async (rs) => void this.sent.push(...rs), close: async () => undefined };
  }
  consumer(): never {
    throw new Error('not used');
  }
  async ensureTopics(): Promise<void> {}
  async ping(): Promise<void> {}
  async close(): Promise<void> {}
}

const DLQ_TICKETS = `${Topics.TICKETS}.dlq`;
const DLQ_DRAFTS = `${Topics.DRAFTS}.dlq`;
const TENANT_A = '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b';
const TENANT_B = '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5c';

const at = (second: number) => new Date(Date.UTC(2026, 11, 6, 0, 0, second)).toISOString();
function dead(original: string, failedAtSecond: number, over: Record<string, string> = {}): Record<string, string> {
  return {
    [EventHeaders.ID]: `event-${failedAtSecond}`,
    [EventHeaders.TYPE]: 'ticket.received',
    [EventHeaders.TENANT]: TENANT_A,
    [DlqHeaders.ERROR]: 'boom',
    [DlqHeaders.ERROR_CODE]: 'handler-failed',
    [DlqHeaders.CONSUMER]: 'drafts',
    [DlqHeaders.ATTEMPTS]: '5',
    [DlqHeaders.ORIGINAL_TOPIC]: original,
    [DlqHeaders.ORIGINAL_PARTITION]: '1',
    [DlqHeaders.ORIGINAL_OFFSET]: '7',
    [DlqHeaders.FAILED_AT]: at(failedAtSecond),
    ...over,
  };
}

const all = () => true;

async function everyPage(reader: DeadLetterReader, topics: string[], accept: (d: DeadLetterRecord) => boolean, limit: number): Promise<string[][]> {
  const pages: string[][] = [];
  let position: ListPosition | undefined;
  for (let i = 0; i < 100; i++) {
    const page = await reader.list(topics, accept, limit, position);
    pages.push(page.items.map((d) => d.id));
    if (!page.next) return pages;
    position = decodeCursor(encodeCursor(page.next));
    expect(position).toEqual(page.next);
  }
  throw new Error('the listing never ended');
}

describe('DeadLetterReader.list', () => {
  it('merges partitions and topics newest first by failed-at, and pages hand out each dead letter exactly once', async () => {
    const kafka = new MemoryKafka();
    // Seconds chosen so that the newest-first order interleaves partitions and topics.
    const seconds: [string, number, number][] = [
      [DLQ_TICKETS, 0, 1],
      [DLQ_TICKETS, 1, 2],
      [DLQ_DRAFTS, 2, 3],
      [DLQ_TICKETS, 0, 4],
      [DLQ_TICKETS, 2, 5],
      [DLQ_DRAFTS, 0, 6],
      [DLQ_TICKETS, 1, 7],
      [DLQ_TICKETS, 0, 8],
    ];
    const ids = new Map<number, string>();
    for (const [topic, partition, s] of seconds) {
      const r = kafka.add(topic, partition, dead(topic === DLQ_TICKETS ? Topics.TICKETS : Topics.DRAFTS, s));
      ids.set(s, `${topic}/${partition}/${r.offset}`);
    }
    const expected = [8, 7, 6, 5, 4, 3, 2, 1].map((s) => ids.get(s)!);
    const reader = new DeadLetterReader(kafka);
    const one = await reader.list([DLQ_TICKETS, DLQ_DRAFTS], all, 100);
    expect(one.items.map((d) => d.id)).toEqual(expected);
    expect([one.next, one.scanned]).toEqual([null, 8]);
    for (const limit of [1, 3, 5]) {
      const pages = await everyPage(reader, [DLQ_TICKETS, DLQ_DRAFTS], all, limit);
      expect(pages.flat()).toEqual(expected);
      expect(pages.slice(0, -1).every((p) => p.length === limit)).toBe(true);
    }
  });

  it('keeps a listing’s view fixed: dead letters written after its first page wait for a new listing', async () => {
    const kafka = new MemoryKafka();
    for (let s = 1; s <= 4; s++) kafka.add(DLQ_TICKETS, s % 2, dead(Topics.TICKETS, s));
    const reader = new DeadLetterReader(kafka);
    const first = await reader.list([DLQ_TICKETS], all, 2);
    expect(first.items.map((d) => d.failedAt)).toEqual([at(4), at(3)]);
    kafka.add(DLQ_TICKETS, 0, dead(Topics.TICKETS, 9));
    kafka.add(DLQ_TICKETS, 2, dead(Topics.TICKETS, 10)); // a partition that was empty when the listing started
    const second = await reader.list([DLQ_TICKETS], all, 10, first.next!);
    expect(second.items.map((d) => d.failedAt)).toEqual([at(2), at(1)]);
    expect(second.next).toBeNull();
    expect((await reader.list([DLQ_TICKETS], all, 2)).items.map((d) => d.failedAt)).toEqual([at(10), at(9)]);
  });

  it('filters by consumer, code and tenant, reading on past what does not match', async () => {
    const kafka = new MemoryKafka();
    for (let s = 1; s <= 450; s++) kafka.add(DLQ_TICKETS, s % 3, dead(Topics.TICKETS, s % 60, { [DlqHeaders.FAILED_AT]: new Date(Date.UTC(2026, 11, 6, 0, 0, 0, s)).toISOString(), [DlqHeaders.CONSUMER]: s % 150 === 0 ? 'audit' : 'drafts', [EventHeaders.TENANT]: s === 150 ? TENANT_B : TENANT_A }));
    const reader = new DeadLetterReader(kafka);
    const audit = (d: DeadLetterRecord) => matchesFilter(d, { consumer: 'audit' });
    const page = await reader.list([DLQ_TICKETS], audit, 10);
    expect(page.items.map((d) => d.record.offset)).toEqual(['149', '99', '49'].map(String)); // 450, 300, 150 → partition 0, offsets 149, 99, 49
    expect(page.items.every((d) => d.ref.partition === 0)).toBe(true);
    expect(page.scanned).toBe(450);
    expect((await reader.list([DLQ_TICKETS], (d) => matchesFilter(d, { consumer: 'audit', tenant: TENANT_B.toUpperCase() }), 10)).items.map((d) => d.record.offset)).toEqual(['49']);
    expect((await reader.list([DLQ_TICKETS], (d) => matchesFilter(d, { code: 'unknown-tenant' }), 10)).items).toEqual([]);
    // Paging a filter: the same three, one per page.
    expect((await everyPage(reader, [DLQ_TICKETS], audit, 1)).flat()).toEqual(page.items.map((d) => d.id));
  });

  it('skips what retention removed', async () => {
    const kafka = new MemoryKafka();
    for (let s = 1; s <= 5; s++) kafka.add(DLQ_TICKETS, 0, dead(Topics.TICKETS, s));
    kafka.low.set(`${DLQ_TICKETS}/0`, 3);
    const reader = new DeadLetterReader(kafka);
    expect((await everyPage(reader, [DLQ_TICKETS], all, 1)).flat()).toEqual([`${DLQ_TICKETS}/0/4`, `${DLQ_TICKETS}/0/3`]);
  });
});

describe('DeadLetterReader.get and replay', () => {
  it('finds a dead letter at exactly its offset, only on a dead-letter topic', async () => {
    const kafka = new MemoryKafka();
    kafka.add(DLQ_TICKETS, 1, dead(Topics.TICKETS, 1));
    const r = kafka.add(DLQ_TICKETS, 1, dead(Topics.TICKETS, 2));
    kafka.add(Topics.TICKETS, 1, dead(Topics.TICKETS, 3));
    const reader = new DeadLetterReader(kafka);
    expect((await reader.get({ topic: DLQ_TICKETS, partition: 1, offset: r.offset }))?.failedAt).toBe(at(2));
    expect(await reader.get({ topic: DLQ_TICKETS, partition: 1, offset: '2' })).toBeUndefined();
    expect(await reader.get({ topic: DLQ_TICKETS, partition: 0, offset: '0' })).toBeUndefined();
    expect(await reader.get({ topic: Topics.TICKETS, partition: 1, offset: '0' })).toBeUndefined();
    kafka.low.set(`${DLQ_TICKETS}/1`, 2);
    expect(await reader.get({ topic: DLQ_TICKETS, partition: 1, offset: r.offset })).toBeUndefined();
  });

  it('replays the record to its original topic: same key and value, the original headers and hotdash-replayed-from, no dead-letter headers', async () => {
    const kafka = new MemoryKafka();
    const value = JSON.stringify({ id: 'event-1', payload: { body: { ciphertext: 'x' } } });
    const original = { [EventHeaders.ID]: 'event-1', [EventHeaders.TYPE]: 'ticket.received', [EventHeaders.TENANT]: TENANT_A, traceparent: '00-abc-def-01' };
    // A record that was itself a replay and failed again: its old replayed-from is replaced.
    const r = kafka.add(DLQ_TICKETS, 2, { ...dead(Topics.TICKETS, 1), ...original, [REPLAYED_FROM_HEADER]: `${DLQ_TICKETS}/0/0` }, value, TENANT_A);
    const reader = new DeadLetterReader(kafka);
    const d = (await reader.get({ topic: DLQ_TICKETS, partition: 2, offset: r.offset }))!;
    expect(d.replayedFrom).toBe(`${DLQ_TICKETS}/0/0`);
    expect(await reader.replay(d)).toBe(Topics.TICKETS);
    expect(kafka.sent).toEqual([{ topic: Topics.TICKETS, key: TENANT_A, value, headers: { ...original, [REPLAYED_FROM_HEADER]: `${DLQ_TICKETS}/2/0` } }]);
    await reader.close();
  });

  it('refuses to replay a record whose original topic is not its dead-letter topic’s, or none', async () => {
    const kafka = new MemoryKafka();
    const reader = new DeadLetterReader(kafka);
    const elsewhere = describeDeadLetter(kafka.add(DLQ_TICKETS, 0, dead(Topics.TENANTS, 1)));
    const unnamed = describeDeadLetter(kafka.add(DLQ_TICKETS, 0, dead(Topics.TICKETS, 2, { [DlqHeaders.ORIGINAL_TOPIC]: 'somewhere.else' })));
    for (const d of [elsewhere, unnamed]) {
      expect(reader.replayTarget(d)).toBeUndefined();
      await expect(reader.replay(d)).rejects.toThrow(/does not name a platform topic/);
    }
    expect(kafka.sent).toEqual([]);
    expect(replayHeaders(unnamed)).not.toHaveProperty(DlqHeaders.ERROR);
  });
});

describe('cursors', () => {
  it('round-trips and refuses anything else', () => {
    const p = { [`${DLQ_TICKETS}/0`]: '12', [`${DLQ_DRAFTS}/5`]: '0' };
    expect(decodeCursor(encodeCursor(p))).toEqual(p);
    for (const bad of ['', 'not base64 at all!', Buffer.from('[]').toString('base64url'), encodeCursor({ 'hotdash.tickets/0': '1' }), encodeCursor({ [`${DLQ_TICKETS}/0`]: '-1' }), Buffer.from(JSON.stringify({ v: 2, p })).toString('base64url')])
      expect([bad, decodeCursor(bad)]).toEqual([bad, undefined]);
  });
});
