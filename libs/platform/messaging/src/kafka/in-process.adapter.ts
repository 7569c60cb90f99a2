import { promises as fs } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import * as nodePath from 'node:path';
import { crc32 } from 'node:zlib';
import type {
  ConsumerOptions,
  IncomingRecord,
  KafkaClientPort,
  KafkaConsumerPort,
  KafkaProducerPort,
  OutgoingRecord,
  PartitionOffsets,
  RecordHandler,
  TopicSpec,
} from './kafka.port';
import { takePidLock } from '@hotdash/platform-config';
import { ConsumerBackoff } from './consumer-backoff';

/**
 * The embedded mode's event bus (issue 18): the Kafka port without a broker, in this process, on
 * files. Same semantics as the Kafka adapters, so the outbox, the relay, the transport's inbox,
 * retries and dead letters above it run unchanged:
 *
 * - Topics of partitions; a record goes to the partition of its key's hash (Kafka's murmur2, the
 *   partition a Kafka producer would pick), so one tenant's records stay in order.
 * - Durable: each partition is an append-only log of segment files (`<dir>/topics/<topic>/<p>/
 *   <base offset>.log`, one line per record: CRC-32, offset, timestamp, then key, value and headers
 *   as JSON). `send` resolves once its records are written and fdatasync'd; concurrent sends to a
 *   partition share one write and one fdatasync (group commit). A record is visible to consumers
 *   only once it is durable. At start, a torn or corrupt tail of a partition's last segment (a
 *   write the process was killed in, never acknowledged) is detected by its CRC and cut off.
 * - Consumer groups among the members of this process: partitions spread over the members of a
 *   group (round robin, again whenever one joins or leaves), a partition never handled by two
 *   members at once (a new owner waits for the old one's batch to finish). Offsets are committed
 *   after the handler resolved (at once in memory, so a new owner resumes exactly there; on disk
 *   at most COMMIT_INTERVAL_MS later and on close: `<dir>/groups/<group>.json`, temp file and
 *   rename). A new group's start is written down before it first consumes (decided once).
 * - Retention per partition by size and age: whole sealed segments are removed; a consumer behind
 *   them resumes at the partition's first offset (reported through onError), readRange skips ahead.
 * - One process owns a directory (`<dir>/LOCK` holds its pid; a dead owner's lock is taken over).
 *   Every client of the process on that directory shares one store, so producers wake consumers
 *   at once (no polling).
 */
export interface InProcessBusOptions {
  clientId: string;
  /** The bus's directory (created when missing). */
  directory: string;
  /** Per partition: sealed segments are removed, oldest first, while the partition is larger (default 64 MiB). */
  retentionBytes?: number;
  /** Per partition: sealed segments whose newest record is older are removed (default 7 days). */
  retentionMs?: number;
  /** A partition's active segment is sealed and a new one started past this size (default: retentionBytes / 4, at most 8 MiB). */
  segmentBytes?: number;
  /** Topics the bus has from the start (created when missing): the platform's topics. */
  topics?: TopicSpec[];
}

/** Handled offsets reach the group's file at most this long after they were committed in memory (and on close). */
const COMMIT_INTERVAL_MS = 200;
/** Wait before consuming again after a handler rejection: doubles per failure, back to the start after a handled batch. */
const DEFAULT_RETENTION_BYTES = 64 * 1024 * 1024;
const DEFAULT_RETENTION_MS = 7 * 24 * 3_600_000;
/** Kafka's default message.max.bytes (about 1 MB): a larger record is refused, as a broker would. */
const MAX_RECORD_BYTES = 1_048_588;
/** Decoded records kept per partition for the consumers at the head of the log. */
const TAIL_RECORDS = 256;
/** A removed segment's file handle is closed this much later (a read may still be using it). */
const CLOSE_REMOVED_AFTER_MS = 10_000;
const RETENTION_SWEEP_MS = 60_000;
const TOPIC_NAME = /^[A-Za-z0-9._-]{1,249}$/;

interface StoredRecord {
  offset: number;
  timestamp: number;
  key: string | null;
  value: string;
  headers: Record<string, string>;
}

interface Segment {
  base: number;
  path: string;
  fd?: FileHandle;
  /** Durable bytes. */
  size: number;
  /** Records in it. */
  count: number;
  /** Byte position of each record (record base + i); a sealed segment's are read on its first read. */
  positions?: number[];
  /** The newest record's timestamp (0 when empty; a sealed segment's file time until it is indexed). */
  lastTimestamp: number;
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

function partitionKey(topic: string, partition: number): string {
  return `${topic}\u0000${partition}`;
}

/** Kafka's murmur2 (the Java client's, as in kafkajs' default partitioner). */
function murmur2(data: Buffer): number {
  const m = 0x5bd1e995;
  const length = data.length;
  let h = 0x9747b28c ^ length;
  const whole = length & ~3;
  for (let i = 0; i < whole; i += 4) {
    let k = data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24);
    k = Math.imul(k, m);
    k ^= k >>> 24;
    k = Math.imul(k, m);
    h = Math.imul(h, m);
    h ^= k;
  }
  const rest = length & 3;
  if (rest === 3) h ^= data[whole + 2]! << 16;
  if (rest >= 2) h ^= data[whole + 1]! << 8;
  if (rest >= 1) {
    h ^= data[whole]!;
    h = Math.imul(h, m);
  }
  h ^= h >>> 13;
  h = Math.imul(h, m);
  h ^= h >>> 15;
  return h | 0;
}

/** The partition a record with this key goes to: Kafka's default partitioner's choice. */
export function partitionOfKey(key: string, partitions: number): number {
  return (murmur2(Buffer.from(key, 'utf8')) & 0x7fffffff) % partitions;
}

function encodeLine(r: StoredRecord): Buffer {
  const body = Buffer.from(`${r.offset} ${r.timestamp} ${JSON.stringify([r.key, r.value, r.headers])}`, 'utf8');
  const line = Buffer.allocUnsafe(body.length + 10);
  line.write(crc32(body).toString(16).padStart(8, '0'), 0, 'latin1');
  line[8] = 0x20;
  body.copy(line, 9);
  line[line.length - 1] = 0x0a;
  return line;
}

/** A line without its newline, or undefined when it is not a whole, intact record. */
function checkLine(line: Buffer): { offset: number; timestamp: number; body: Buffer } | undefined {
  if (line.length < 14 || line[8] !== 0x20) return undefined;
  const body = line.subarray(9);
  if (Number.parseInt(line.toString('latin1', 0, 8), 16) !== crc32(body)) return undefined;
  const s1 = body.indexOf(0x20);
  const s2 = s1 < 0 ? -1 : body.indexOf(0x20, s1 + 1);
  if (s2 < 0) return undefined;
  const offset = Number(body.toString('latin1', 0, s1));
  const timestamp = Number(body.toString('latin1', s1 + 1, s2));
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(timestamp)) return undefined;
  return { offset, timestamp, body };
}

function decodeLine(line: Buffer): StoredRecord {
  const checked = checkLine(line);
  if (!checked) throw new Error('the bus log holds a damaged record');
  const json = checked.body.toString('utf8', checked.body.indexOf(0x20, checked.body.indexOf(0x20) + 1) + 1);
  const [key, value, headers] = JSON.parse(json) as [string | null, string, Record<string, string>];
  return { offset: checked.offset, timestamp: checked.timestamp, key, value, headers };
}

/** A segment's whole, intact records from its start: their positions, where they end, the last one's timestamp. */
function indexSegment(buf: Buffer, base: number): { positions: number[]; end: number; lastTimestamp: number } {
  const positions: number[] = [];
  let lastTimestamp = 0;
  let pos = 0;
  while (pos < buf.length) {
    const nl = buf.indexOf(0x0a, pos);
    const checked = nl < 0 ? undefined : checkLine(buf.subarray(pos, nl));
    if (!checked || checked.offset !== base + positions.length) break;
    positions.push(pos);
    lastTimestamp = checked.timestamp;
    pos = nl + 1;
  }
  return { positions, end: pos, lastTimestamp };
}

async function syncDir(dir: string): Promise<void> {
  const fd = await fs.open(dir, 'r');
  try {
    await fd.sync();
  } finally {
    await fd.close();
  }
}

/** Writes a file whole or not at all: a temp file, fsync'd, renamed over it, the directory fsync'd. */
async function writeAtomically(file: string, text: string): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  const fd = await fs.open(tmp, 'w');
  try {
    await fd.writeFile(text, 'utf8');
    await fd.sync();
  } finally {
    await fd.close();
  }
  await fs.rename(tmp, file);
  await syncDir(nodePath.dirname(file));
}

interface PendingWrite {
  lines: Buffer[];
  records: StoredRecord[];
  waiters: { resolve: () => void; reject: (err: Error) => void }[];
}

class Partition {
  segments: Segment[] = [];
  /** The durable end: the next offset a durable record will have. */
  high = 0;
  /** The next offset to hand out (above high while writes are under way). */
  private next = 0;
  /** Decoded records tailBase ≤ offset < high, for the consumers at the head of the log. */
  private tail: StoredRecord[] = [];
  private tailBase = 0;
  private pending?: PendingWrite;
  private flushing = false;
  /** Resolves when the write under way (if any) is done. */
  private idle: Promise<void> = Promise.resolve();

  constructor(
    private readonly store: BusStore,
    readonly topic: string,
    readonly index: number,
    readonly dir: string,
  ) {}

  get low(): number {
    return this.segments[0]?.base ?? this.high;
  }

  /**
   * Loads the segments: the last one is read whole and a torn or damaged tail cut off it (only a
   * write the process died in can be torn: a sealed segment was complete before the next one
   * began); sealed segments are indexed on their first read. Returns a note of what was cut.
   */
  async load(): Promise<string | undefined> {
    await fs.mkdir(this.dir, { recursive: true });
    const bases = (await fs.readdir(this.dir))
      .filter((f) => /^\d{20}\.log$/.test(f))
      .map((f) => Number(f.slice(0, 20)))
      .sort((x, y) => x - y);
    let note: string | undefined;
    for (const [i, base] of bases.entries()) {
      const path = nodePath.join(this.dir, `${String(base).padStart(20, '0')}.log`);
      if (i < bases.length - 1) {
        const st = await fs.stat(path);
        this.segments.push({ base, path, size: st.size, count: bases[i + 1]! - base, lastTimestamp: st.mtimeMs });
        continue;
      }
      const buf = await fs.readFile(path);
      const { positions, end, lastTimestamp } = indexSegment(buf, base);
      if (end < buf.length) {
        await fs.truncate(path, end);
        note = `${this.topic}/${this.index}: cut ${buf.length - end} byte(s) of a torn write off ${path} at byte ${end} (offset ${base + positions.length})`;
      }
      this.segments.push({ base, path, size: end, count: positions.length, positions, lastTimestamp });
      this.high = base + positions.length;
    }
    this.next = this.high;
    this.tailBase = this.high;
    return note;
  }

  /** A sealed segment's record positions, read on first use. */
  private async positionsOf(segment: Segment): Promise<number[]> {
    if (segment.positions) return segment.positions;
    const buf = Buffer.allocUnsafe(segment.size);
    const fd = await this.fdOf(segment);
    for (let got = 0; got < buf.length; ) {
      const { bytesRead } = await fd.read(buf, got, buf.length - got, got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    const { positions, end, lastTimestamp } = indexSegment(buf, segment.base);
    if (end < segment.size || positions.length !== segment.count) throw new Error(`bus segment ${segment.path} is damaged at byte ${end} (a sealed segment: not repaired)`);
    segment.positions = positions;
    segment.lastTimestamp = lastTimestamp;
    return positions;
  }

  /** Appends records; resolves once they are durable (and visible). */
  append(records: Omit<StoredRecord, 'offset'>[]): Promise<void> {
    const batch = (this.pending ??= { lines: [], records: [], waiters: [] });
    for (const r of records) {
      const stored = { ...r, offset: this.next++ };
      batch.records.push(stored);
      batch.lines.push(encodeLine(stored));
    }
    const done = new Promise<void>((resolve, reject) => batch.waiters.push({ resolve, reject }));
    if (!this.flushing) {
      this.flushing = true;
      this.idle = this.flush();
    }
    return done;
  }

  /** Writes what is pending, one write and one fdatasync per round, until nothing is. */
  private async flush(): Promise<void> {
    try {
      while (this.pending) {
        const batch = this.pending;
        this.pending = undefined;
        try {
          await this.write(batch);
        } catch (err) {
          // Nothing after the durable end stands: what is pending fails too (its offsets followed these).
          const rest = this.pending as PendingWrite | undefined;
          this.pending = undefined;
          this.next = this.high;
          const active = this.segments[this.segments.length - 1];
          if (active) await fs.truncate(active.path, active.size).catch(() => undefined);
          for (const w of [...batch.waiters, ...(rest?.waiters ?? [])]) w.reject(asError(err));
          continue;
        }
        for (const w of batch.waiters) w.resolve();
      }
    } finally {
      this.flushing = false;
    }
  }

  private async write(batch: PendingWrite): Promise<void> {
    let active = this.segments[this.segments.length - 1];
    if (!active || (active.size >= this.store.segmentBytes && active.count > 0)) active = await this.roll();
    const fd = await this.fdOf(active);
    const buf = Buffer.concat(batch.lines);
    for (let done = 0; done < buf.length; ) {
      const { bytesWritten } = await fd.write(buf, done, buf.length - done, active.size + done);
      done += bytesWritten;
    }
    await fd.datasync();
    let pos = active.size;
    const positions = (active.positions ??= []);
    for (const line of batch.lines) {
      positions.push(pos);
      pos += line.length;
    }
    active.size = pos;
    active.count = positions.length;
    const last = batch.records[batch.records.length - 1]!;
    active.lastTimestamp = last.timestamp;
    this.high = last.offset + 1;
    this.tail.push(...batch.records);
    if (this.tail.length > TAIL_RECORDS) this.tail.splice(0, this.tail.length - TAIL_RECORDS);
    this.tailBase = this.high - this.tail.length;
    this.store.recordsAppended(this.topic);
    this.enforceRetention(Date.now()).catch((err: unknown) => this.store.warn(`${this.topic}/${this.index}: retention failed: ${asError(err).message}`));
  }

  /** Starts a new segment at the durable end. */
  private async roll(): Promise<Segment> {
    const path = nodePath.join(this.dir, `${String(this.high).padStart(20, '0')}.log`);
    const fd = await fs.open(path, 'w+');
    await syncDir(this.dir);
    const segment: Segment = { base: this.high, path, fd, size: 0, count: 0, positions: [], lastTimestamp: 0 };
    this.segments.push(segment);
    return segment;
  }

  private async fdOf(segment: Segment): Promise<FileHandle> {
    segment.fd ??= await fs.open(segment.path, 'r+');
    return segment.fd;
  }

  /** Removes sealed segments, oldest first, while the partition is too large or they are too old. */
  async enforceRetention(now: number): Promise<void> {
    while (this.segments.length > 1) {
      const oldest = this.segments[0]!;
      const total = this.segments.reduce((n, s) => n + s.size, 0);
      const tooOld = oldest.count > 0 && oldest.lastTimestamp < now - this.store.retentionMs;
      if (total <= this.store.retentionBytes && !tooOld) break;
      this.segments.shift();
      const fd = oldest.fd;
      if (fd) setTimeout(() => void fd.close().catch(() => undefined), CLOSE_REMOVED_AFTER_MS).unref();
      await fs.unlink(oldest.path).catch(() => undefined);
    }
    if (this.tailBase < this.low) {
      this.tail.splice(0, Math.min(this.tail.length, this.low - this.tailBase));
      this.tailBase = this.high - this.tail.length;
    }
  }

  /** Durable records from `from` (at least the first offset), at most `max`, below `end`. */
  async read(from: number, max: number, end = this.high): Promise<StoredRecord[]> {
    const start = Math.max(from, this.low);
    const stop = Math.min(end, this.high, start + max);
    if (start >= stop) return [];
    if (start >= this.tailBase) return this.tail.slice(start - this.tailBase, stop - this.tailBase);
    const out: StoredRecord[] = [];
    let o = start;
    while (o < stop) {
      const segment = this.segmentOf(o);
      if (!segment) break;
      const i0 = o - segment.base;
      const i1 = Math.min(stop - segment.base, segment.count);
      if (i0 >= i1) {
        o = segment.base + segment.count; // past this segment's records: the next one's
        if (this.segmentOf(o) === segment) break;
        continue;
      }
      const positions = await this.positionsOf(segment);
      const from_ = positions[i0]!;
      const to = i1 < positions.length ? positions[i1]! : segment.size;
      const buf = Buffer.allocUnsafe(to - from_);
      const fd = await this.fdOf(segment);
      for (let got = 0; got < buf.length; ) {
        const { bytesRead } = await fd.read(buf, got, buf.length - got, from_ + got);
        if (bytesRead === 0) throw new Error(`bus segment ${segment.path} ends early`);
        got += bytesRead;
      }
      for (let pos = 0; pos < buf.length; ) {
        const nl = buf.indexOf(0x0a, pos);
        out.push(decodeLine(buf.subarray(pos, nl)));
        pos = nl + 1;
      }
      o = segment.base + i1;
    }
    return out;
  }

  private segmentOf(offset: number): Segment | undefined {
    let lo = 0;
    let hi = this.segments.length - 1;
    let found: Segment | undefined;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.segments[mid]!.base <= offset) {
        found = this.segments[mid];
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  }

  /** Waits for the write under way, then closes the files. */
  async close(): Promise<void> {
    await this.idle;
    await Promise.allSettled(this.segments.map((s) => s.fd?.close()));
    for (const s of this.segments) s.fd = undefined;
  }
}

interface Topic {
  name: string;
  partitions: Partition[];
}

/** A consumer group of this process: its members, who owns which partition, what was committed. */
class Group {
  readonly members: InProcessConsumer[] = [];
  /** partitionKey → the member that owns it. */
  readonly owner = new Map<string, InProcessConsumer>();
  /** Partitions whose records a member is handling right now. */
  readonly busy = new Set<string>();
  /** partitionKey → the next offset to handle. */
  readonly committed = new Map<string, number>();
  private dirty = false;
  private timer?: NodeJS.Timeout;
  private persisting?: Promise<void>;

  constructor(
    private readonly store: BusStore,
    readonly id: string,
    private readonly file: string,
  ) {}

  async load(): Promise<void> {
    let text: string;
    try {
      text = await fs.readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    const offsets = (JSON.parse(text) as { offsets: Record<string, Record<string, number>> }).offsets;
    for (const [topic, parts] of Object.entries(offsets)) for (const [p, o] of Object.entries(parts)) this.committed.set(partitionKey(topic, Number(p)), o);
  }

  /** Moves committed offsets forward (never back) and writes them down soon. */
  commit(offsets: Map<string, number>): void {
    for (const [key, next] of offsets) if ((this.committed.get(key) ?? -1) < next) this.committed.set(key, next);
    this.dirty = true;
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      this.persist().catch((err: unknown) => this.store.warn(`consumer group ${this.id}: committed offsets not written: ${asError(err).message}`));
    }, COMMIT_INTERVAL_MS);
    this.timer.unref();
  }

  /** Writes the committed offsets down now (after any write under way). */
  async persist(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    while (this.persisting) await this.persisting.catch(() => undefined);
    if (!this.dirty) return;
    this.dirty = false;
    const offsets: Record<string, Record<string, number>> = {};
    for (const [key, o] of this.committed) {
      const [topic, p] = key.split('\u0000') as [string, string];
      (offsets[topic] ??= {})[p] = o;
    }
    this.persisting = writeAtomically(this.file, JSON.stringify({ group: this.id, offsets }));
    try {
      await this.persisting;
    } catch (err) {
      this.dirty = true;
      throw err;
    } finally {
      this.persisting = undefined;
    }
  }

  /** Spreads the partitions of the members' topics over the members, round robin, in the order they joined. */
  rebalance(): void {
    this.owner.clear();
    const topics = [...new Set(this.members.flatMap((m) => m.topics))].sort();
    let turn = 0;
    for (const name of topics) {
      const subscribed = this.members.filter((m) => m.topics.includes(name));
      const topic = this.store.topic(name);
      if (!topic || subscribed.length === 0) continue;
      for (const p of topic.partitions) this.owner.set(partitionKey(name, p.index), subscribed[turn++ % subscribed.length]!);
    }
    this.wakeAll();
  }

  wakeAll(): void {
    for (const m of this.members) m.wake();
  }
}

/** One directory's bus, shared by every client of this process on it. */
class BusStore {
  private static readonly open = new Map<string, { store: Promise<BusStore>; refs: number }>();
  /** Stores being closed: a new store of the directory opens after (its lock, its files). */
  private static readonly stopping = new Map<string, Promise<void>>();

  readonly retentionBytes: number;
  readonly retentionMs: number;
  readonly segmentBytes: number;
  /** What was repaired when the store was opened (torn writes cut off). */
  readonly recoveries: string[] = [];
  private readonly topics = new Map<string, Topic>();
  private readonly groups = new Map<string, Promise<Group>>();
  /** Members by topic, to wake when records arrive. */
  private readonly listeners = new Map<string, Set<InProcessConsumer>>();
  private sweep?: NodeJS.Timeout;
  private unlock?: () => void;

  private constructor(
    readonly dir: string,
    options: InProcessBusOptions,
  ) {
    this.retentionBytes = options.retentionBytes ?? DEFAULT_RETENTION_BYTES;
    this.retentionMs = options.retentionMs ?? DEFAULT_RETENTION_MS;
    this.segmentBytes = options.segmentBytes ?? Math.max(1024, Math.min(8 * 1024 * 1024, Math.floor(this.retentionBytes / 4)));
  }

  /** The store of the options' directory, opened on first use; the first opener's retention settings apply. */
  static acquire(options: InProcessBusOptions): Promise<BusStore> {
    const dir = nodePath.resolve(options.directory);
    let entry = BusStore.open.get(dir);
    if (!entry) {
      const store = new BusStore(dir, options);
      const previous = BusStore.stopping.get(dir) ?? Promise.resolve();
      entry = { store: previous.then(() => store.start(options.topics ?? [])).then(() => store), refs: 0 };
      BusStore.open.set(dir, entry);
      entry.store.catch(() => BusStore.open.delete(dir));
    }
    entry.refs++;
    return entry.store;
  }

  async release(): Promise<void> {
    const entry = BusStore.open.get(this.dir);
    if (!entry || --entry.refs > 0) return;
    BusStore.open.delete(this.dir);
    const stopped = this.stop();
    const settled = stopped.catch(() => undefined);
    BusStore.stopping.set(this.dir, settled);
    try {
      await stopped;
    } finally {
      if (BusStore.stopping.get(this.dir) === settled) BusStore.stopping.delete(this.dir);
    }
  }

  private get lockFile(): string {
    return nodePath.join(this.dir, 'LOCK');
  }

  private async start(topics: TopicSpec[]): Promise<void> {
    await fs.mkdir(nodePath.join(this.dir, 'topics'), { recursive: true });
    await fs.mkdir(nodePath.join(this.dir, 'groups'), { recursive: true });
    this.lock();
    const names = await fs.readdir(nodePath.join(this.dir, 'topics'));
    for (const name of names) {
      let meta: { partitions: number };
      try {
        meta = JSON.parse(await fs.readFile(nodePath.join(this.dir, 'topics', name, 'topic.json'), 'utf8')) as { partitions: number };
      } catch {
        continue; // a topic whose creation did not finish: created again when asked for
      }
      const topic: Topic = { name, partitions: [] };
      for (let p = 0; p < meta.partitions; p++) {
        const partition = new Partition(this, name, p, nodePath.join(this.dir, 'topics', name, String(p)));
        const note = await partition.load();
        if (note) {
          this.recoveries.push(note);
          this.warn(note);
        }
        topic.partitions.push(partition);
      }
      this.topics.set(name, topic);
    }
    await this.ensureTopics(topics);
    this.sweep = setInterval(() => {
      const now = Date.now();
      for (const t of this.topics.values()) for (const p of t.partitions) p.enforceRetention(now).catch((err: unknown) => this.warn(`${t.name}/${p.index}: retention failed: ${asError(err).message}`));
    }, RETENTION_SWEEP_MS);
    this.sweep.unref();
  }

  /** One process per directory (takePidLock): a live other process's lock refuses; a dead one's is taken over. */
  private lock(): void {
    this.unlock = takePidLock(this.lockFile, (holder) => new Error(`the event bus in ${this.dir} is in use by ${holder === 'opening' ? 'another process (it is opening it)' : `process ${holder}`} (one process per bus directory)`));
  }

  private async stop(): Promise<void> {
    clearInterval(this.sweep);
    const groups = await Promise.allSettled(this.groups.values());
    await Promise.allSettled(groups.map((g) => (g.status === 'fulfilled' ? g.value.persist() : undefined)));
    await Promise.allSettled([...this.topics.values()].flatMap((t) => t.partitions.map((p) => p.close())));
    this.unlock?.();
  }

  topic(name: string): Topic | undefined {
    return this.topics.get(name);
  }

  partition(topic: string, index: number): Partition | undefined {
    return this.topics.get(topic)?.partitions[index];
  }

  async ensureTopics(specs: TopicSpec[]): Promise<void> {
    const created: string[] = [];
    for (const spec of specs) {
      if (this.topics.has(spec.topic)) continue;
      if (!TOPIC_NAME.test(spec.topic) || spec.topic === '.' || spec.topic === '..') throw new Error(`invalid topic name ${JSON.stringify(spec.topic)}`);
      if (!Number.isInteger(spec.partitions) || spec.partitions < 1) throw new Error(`topic ${spec.topic}: invalid partition count ${spec.partitions}`);
      const dir = nodePath.join(this.dir, 'topics', spec.topic);
      const topic: Topic = { name: spec.topic, partitions: [] };
      for (let p = 0; p < spec.partitions; p++) {
        const partition = new Partition(this, spec.topic, p, nodePath.join(dir, String(p)));
        await partition.load(); // leftovers of a creation that did not finish are taken as they are
        topic.partitions.push(partition);
      }
      await syncDir(dir);
      // The topic exists once its description is written (atomically, last).
      await writeAtomically(nodePath.join(dir, 'topic.json'), JSON.stringify({ partitions: spec.partitions }));
      await syncDir(nodePath.join(this.dir, 'topics'));
      this.topics.set(spec.topic, topic);
      created.push(spec.topic);
    }
    if (created.length === 0) return;
    for (const g of this.groups.values()) {
      const group = await g;
      if (group.members.some((m) => m.topics.some((t) => created.includes(t)))) group.rebalance();
    }
  }

  group(id: string): Promise<Group> {
    let g = this.groups.get(id);
    if (!g) {
      const group = new Group(this, id, nodePath.join(this.dir, 'groups', `${encodeURIComponent(id)}.json`));
      g = group.load().then(() => group);
      this.groups.set(id, g);
      g.catch(() => this.groups.delete(id));
    }
    return g;
  }

  listen(member: InProcessConsumer): void {
    for (const t of member.topics) {
      let set = this.listeners.get(t);
      if (!set) this.listeners.set(t, (set = new Set()));
      set.add(member);
    }
  }

  unlisten(member: InProcessConsumer): void {
    for (const t of member.topics) this.listeners.get(t)?.delete(member);
  }

  recordsAppended(topic: string): void {
    for (const m of this.listeners.get(topic) ?? []) m.wake();
  }

  warn(message: string): void {
    console.warn(`[bus] ${message}`);
  }
}

class InProcessProducer implements KafkaProducerPort {
  private closed = false;

  constructor(
    private readonly store: BusStore,
    private readonly onClose: () => void,
  ) {}

  async send(records: OutgoingRecord[]): Promise<void> {
    if (this.closed) throw new Error('the bus producer is closed');
    if (records.length === 0) return;
    const byPartition = new Map<Partition, Omit<StoredRecord, 'offset'>[]>();
    const timestamp = Date.now();
    // Every record is checked before any is written: a send is refused whole, as a broker refuses a bad batch.
    for (const r of records) {
      const topic = this.store.topic(r.topic);
      if (!topic) throw new Error(`the bus has no topic ${JSON.stringify(r.topic)} (unknown topic or partition)`);
      // Headers without a value are left out (as the Kafka clients do: a consumer never sees them).
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(r.headers ?? {})) if (v !== undefined && v !== null) headers[k] = String(v);
      const bytes = Buffer.byteLength(r.value ?? '') + Buffer.byteLength(r.key ?? '') + Object.entries(headers).reduce((n, [k, v]) => n + Buffer.byteLength(k) + Buffer.byteLength(v), 0);
      if (bytes > MAX_RECORD_BYTES) throw new Error(`a record of ${bytes} bytes exceeds the bus's limit of ${MAX_RECORD_BYTES} (message too large)`);
      const partition = topic.partitions[partitionOfKey(r.key ?? '', topic.partitions.length)]!;
      let list = byPartition.get(partition);
      if (!list) byPartition.set(partition, (list = []));
      list.push({ timestamp, key: r.key ?? null, value: r.value ?? '', headers });
    }
    await Promise.all([...byPartition].map(([partition, list]) => partition.append(list)));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.onClose();
  }
}

interface Taken {
  records: StoredRecord[];
  topics: string[];
  keys: string[];
  /** partitionKey → the offset after the batch's last record of it. */
  next: Map<string, number>;
}

/**
 * A member of a consumer group of this process. One batch at a time: the records of the partitions
 * it owns that no member is handling, from the group's committed offsets, at most maxBatch.
 */
class InProcessConsumer implements KafkaConsumerPort {
  readonly topics: string[];
  private started = false;
  private closing = false;
  private closePromise?: Promise<void>;
  private loopDone?: Promise<void>;
  private wakeUp?: () => void;
  private signalled = false;
  private readonly backoffWait = new ConsumerBackoff();

  constructor(
    private readonly store: BusStore,
    private readonly group: Group,
    private readonly options: ConsumerOptions,
    private readonly onClose: () => void,
  ) {
    this.topics = [...new Set(options.topics)];
  }

  async run(handler: RecordHandler): Promise<void> {
    if (this.started) throw new Error('the bus consumer is already running');
    if (this.closing) throw new Error('the bus consumer is closed');
    this.started = true;
    this.group.members.push(this);
    this.store.listen(this);
    this.group.rebalance();
    this.loopDone = this.loop(handler);
  }

  close(): Promise<void> {
    this.closePromise ??= this.shutdown();
    return this.closePromise;
  }

  wake(): void {
    this.signalled = true;
    this.wakeUp?.();
  }

  private async loop(handler: RecordHandler): Promise<void> {
    while (!this.closing) {
      this.signalled = false;
      let taken: Taken | undefined;
      try {
        taken = await this.take();
      } catch (err) {
        this.report(asError(err));
        await this.backoff();
        continue;
      }
      if (!taken) {
        if (this.signalled || this.closing) continue;
        await new Promise<void>((resolve) => (this.wakeUp = resolve));
        this.wakeUp = undefined;
        continue;
      }
      let failure: Error | undefined;
      try {
        await handler(taken.records.map((r, i) => this.toRecord(r, taken.topics[i]!, taken.keys[i]!)));
        this.group.commit(taken.next);
        this.backoffWait.reset();
      } catch (err) {
        failure = asError(err); // nothing of the batch is committed: it comes again
      } finally {
        for (const key of taken.next.keys()) this.group.busy.delete(key);
        this.group.wakeAll(); // a new owner may be waiting for these partitions
      }
      if (failure) {
        this.report(failure);
        await this.backoff();
      }
    }
  }

  /** Takes a batch (marking its partitions busy), or undefined when nothing is ready. */
  private async take(): Promise<Taken | undefined> {
    const max = this.options.maxBatch ?? 100;
    const ready: { key: string; partition: Partition; from: number }[] = [];
    for (const [key, member] of this.group.owner) {
      if (member !== this || this.group.busy.has(key)) continue;
      const [topic, p] = key.split('\u0000') as [string, string];
      const partition = this.store.partition(topic, Number(p));
      if (!partition) continue;
      let from = this.group.committed.get(key);
      if (from === undefined) {
        // A partition that appeared after the group's start was written down (a topic created later).
        from = this.options.fromBeginning === false ? partition.high : partition.low;
        this.group.commit(new Map([[key, from]]));
      }
      if (from < partition.low) {
        this.report(new Error(`consumer group ${this.group.id}: records ${from}–${partition.low - 1} of ${topic}/${p} were removed by retention before they were handled; resuming at ${partition.low}`));
        from = partition.low;
        this.group.commit(new Map([[key, from]]));
      }
      if (from < partition.high) ready.push({ key, partition, from });
    }
    if (ready.length === 0) return undefined;
    for (const r of ready) this.group.busy.add(r.key);
    const taken: Taken = { records: [], topics: [], keys: [], next: new Map() };
    try {
      const share = Math.max(1, Math.ceil(max / ready.length));
      for (const r of ready) {
        const room = max - taken.records.length;
        const records = room > 0 ? await r.partition.read(r.from, Math.min(share, room)) : [];
        if (records.length === 0) {
          this.group.busy.delete(r.key);
          continue;
        }
        for (const rec of records) {
          taken.records.push(rec);
          taken.topics.push(r.partition.topic);
          taken.keys.push(r.key);
        }
        taken.next.set(r.key, records[records.length - 1]!.offset + 1);
      }
    } catch (err) {
      for (const r of ready) this.group.busy.delete(r.key);
      throw err;
    }
    return taken.records.length > 0 ? taken : undefined;
  }

  private toRecord(r: StoredRecord, topic: string, key: string): IncomingRecord {
    return { topic, partition: Number(key.slice(key.indexOf('\u0000') + 1)), offset: String(r.offset), key: r.key, value: Buffer.from(r.value, 'utf8'), headers: { ...r.headers } };
  }

  private async backoff(): Promise<void> {
    if (this.closing) return;
    await this.backoffWait.wait();
  }

  private async shutdown(): Promise<void> {
    this.closing = true;
    this.wake();
    this.backoffWait.cancel();
    await this.loopDone; // the batch being handled (if any) finishes and is committed first
    const i = this.group.members.indexOf(this);
    if (i >= 0) {
      this.group.members.splice(i, 1);
      this.store.unlisten(this);
      this.group.rebalance();
    }
    try {
      await this.group.persist();
    } finally {
      this.onClose();
    }
  }

  private report(err: Error): void {
    try {
      this.options.onError?.(err);
    } catch {
      // A throwing error callback must not stop the consumer.
    }
  }
}

/** The Kafka port on the in-process bus (HOTDASH_KAFKA_CLIENT=in-process). */
export class InProcessKafkaClient implements KafkaClientPort {
  readonly name = 'in-process';
  private store?: Promise<BusStore>;
  private readonly open = new Set<{ close(): Promise<void> }>();
  private closed = false;

  constructor(private readonly options: InProcessBusOptions) {}

  private bus(): Promise<BusStore> {
    if (this.closed) return Promise.reject(new Error('the bus client is closed'));
    if (!this.store) {
      this.store = BusStore.acquire(this.options);
      this.store.catch(() => (this.store = undefined)); // not opened (held by another process): the next call tries again
    }
    return this.store;
  }

  async producer(): Promise<KafkaProducerPort> {
    const store = await this.bus();
    const port: InProcessProducer = new InProcessProducer(store, () => this.open.delete(port));
    this.open.add(port);
    return port;
  }

  async consumer(options: ConsumerOptions): Promise<KafkaConsumerPort> {
    const store = await this.bus();
    const group = await store.group(options.groupId);
    // The group's start, written down before it first consumes (as the Kafka adapters pin it): each
    // partition without a committed offset gets its first offset, or its end for fromBeginning false.
    const start = new Map<string, number>();
    for (const name of new Set(options.topics)) {
      for (const p of store.topic(name)?.partitions ?? []) {
        const key = partitionKey(name, p.index);
        if (!group.committed.has(key)) start.set(key, options.fromBeginning === false ? p.high : p.low);
      }
    }
    if (start.size > 0) {
      group.commit(start);
      await group.persist();
    }
    const port: InProcessConsumer = new InProcessConsumer(store, group, options, () => this.open.delete(port));
    this.open.add(port);
    return port;
  }

  async ensureTopics(topics: TopicSpec[]): Promise<void> {
    await (await this.bus()).ensureTopics(topics);
  }

  /** Always ready while open: the bus is this process. */
  async ping(): Promise<void> {
    await this.bus();
  }

  async offsets(topic: string): Promise<PartitionOffsets[]> {
    const t = (await this.bus()).topic(topic);
    if (!t) throw new Error(`the bus has no topic ${JSON.stringify(topic)}`);
    return t.partitions.map((p) => ({ partition: p.index, low: String(p.low), high: String(p.high) }));
  }

  async readRange(topic: string, partition: number, fromOffset: string, max: number): Promise<IncomingRecord[]> {
    const store = await this.bus();
    if (!store.topic(topic)) throw new Error(`the bus has no topic ${JSON.stringify(topic)}`);
    const p = store.partition(topic, partition);
    if (!p) throw new Error(`the bus topic ${topic} has no partition ${partition}`);
    if (max <= 0) return [];
    const records = await p.read(Number(fromOffset), max, p.high);
    return records.map((r) => ({ topic, partition, offset: String(r.offset), key: r.key, value: Buffer.from(r.value, 'utf8'), headers: { ...r.headers } }));
  }

  /** What was repaired when the bus was opened (torn writes cut off a partition's log). */
  async recoveries(): Promise<string[]> {
    return [...(await this.bus()).recoveries];
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const results = await Promise.allSettled([...this.open].map((c) => c.close()));
    this.open.clear();
    const store = await this.store?.catch(() => undefined);
    await store?.release();
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }
}
