import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { takePidLock } from '@hotdash/platform-config';

/** Milliseconds since the epoch; injectable so that specs move time instead of sleeping. */
export type Clock = () => number;

export interface EmbeddedStateFileOptions {
  now?: Clock;
  /** How often expired entries leave memory (default 30 s; reads never see them either way). */
  sweepMs?: number;
  /** How often the changes written since the last sync are flushed to the disk with fsync (default 1 s, as Redis's `appendfsync everysec`). */
  syncMs?: number;
}

interface Entry {
  value: string;
  /** Epoch ms after which the entry is gone; 0: no expiry. */
  expiresAt: number;
}

/** A log line: set (key, value, expiresAt), delete (key), delete every key under a prefix. */
type Line = ['s', string, string, number] | ['d', string] | ['p', string];

const FILE = 'state.log';
const LOCK = 'state.lock';
/** The log is rewritten with only the live entries when it holds this many lines and twice as many as there are entries. */
const COMPACT_AT = 1_000;

const open = new Map<string, EmbeddedStateFile>();

/**
 * The durable half of the embedded state store (HOTDASH_STATE_STORE=embedded): string values with
 * an optional time to live under the same key names as in Redis (so a tenant's keys share its
 * prefix, and erasing a tenant is erasing a prefix), held in memory and kept in an append-only
 * file (`<dir>/state.log`, one JSON line per change) that is read back at start, so revocation
 * markers, idempotency keys and sign-in states outlive a restart of the process.
 *
 * - Every change is written (one `write`) before the call returns: a process killed right after
 *   has it on disk (the OS holds it). The file is synced (fsync) every `syncMs`, one second by
 *   default, when it changed, as the stack's Redis does with `appendfsync everysec`: a power cut
 *   loses at most the last second of changes. A caller that must not lose one (a revocation)
 *   calls {@link EmbeddedStateFile.sync} after it. A torn last line, from a kill mid-write, is
 *   ignored when the file is read.
 * - Time to live is honoured on every read; expired entries leave memory every `sweepMs`, and the
 *   file when it is compacted (at start, and whenever it holds twice as many lines as live entries).
 * - One process per directory: `state.lock` names the owner, and a second live process is refused
 *   (a lock whose process is gone is taken over).
 *
 * Opened once per directory and process ({@link EmbeddedStateFile.open}): every module of the
 * embedded process shares it.
 */
export class EmbeddedStateFile {
  private readonly entries = new Map<string, Entry>();
  private fd: number;
  private lines = 0;
  private readonly sweeper: NodeJS.Timeout;
  private readonly syncer: NodeJS.Timeout;
  /** Changes written since the last fsync. */
  private unsynced = 0;
  private syncFailed = false;
  private closed = false;
  private readonly unlock: () => void;
  private readonly erasers = new Set<(prefix: string) => void>();
  readonly now: Clock;

  private constructor(
    readonly dir: string,
    options: EmbeddedStateFileOptions,
  ) {
    this.now = options.now ?? Date.now;
    mkdirSync(dir, { recursive: true });
    this.unlock = takePidLock(join(dir, LOCK), (holder) =>
      holder === 'opening'
        ? new Error(`the embedded state store in ${dir} is being opened by another process (one process per directory)`)
        : new Error(`the embedded state store in ${dir} is in use by process ${holder} (one process per directory: stop it, or set HOTDASH_STATE_DIR)`),
    );
    this.load();
    this.fd = this.rewrite();
    this.sweeper = setInterval(() => this.sweep(), options.sweepMs ?? 30_000);
    this.sweeper.unref();
    this.syncer = setInterval(() => this.syncInBackground(), options.syncMs ?? 1_000);
    this.syncer.unref();
  }

  /** The store of `dir`, opened on first use in this process (later options are ignored while it is open). */
  static open(dir: string, options: EmbeddedStateFileOptions = {}): EmbeddedStateFile {
    const at = resolve(dir);
    let file = open.get(at);
    if (!file) {
      file = new EmbeddedStateFile(at, options);
      open.set(at, file);
    }
    return file;
  }

  get(key: string): string | undefined {
    const e = this.entries.get(key);
    if (!e) return undefined;
    if (e.expiresAt !== 0 && e.expiresAt <= this.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return e.value;
  }

  /** Sets `key` (with `ttlMs`, or for good); with `onlyIfAbsent`, only when no live entry has it. True when set. */
  set(key: string, value: string, ttlMs?: number, onlyIfAbsent = false): boolean {
    if (onlyIfAbsent && this.get(key) !== undefined) return false;
    const expiresAt = ttlMs === undefined ? 0 : this.now() + Math.max(1, Math.ceil(ttlMs));
    this.append(['s', key, value, expiresAt]);
    this.entries.set(key, { value, expiresAt });
    return true;
  }

  /** Deletes `key`; true when a live entry had it. */
  del(key: string): boolean {
    const had = this.get(key) !== undefined;
    if (this.entries.has(key) || had) {
      this.append(['d', key]);
      this.entries.delete(key);
    }
    return had;
  }

  /** The value, deleted in the same step (single use). */
  take(key: string): string | undefined {
    const v = this.get(key);
    if (v !== undefined) this.del(key);
    return v;
  }

  /** The live keys starting with `prefix`. */
  keys(prefix: string): string[] {
    const out: string[] = [];
    for (const key of [...this.entries.keys()]) if (key.startsWith(prefix) && this.get(key) !== undefined) out.push(key);
    return out;
  }

  /** Deletes every key starting with `prefix` (a tenant's offboarding); how many live ones there were. */
  deletePrefix(prefix: string): number {
    const live = this.keys(prefix).length;
    let any = false;
    for (const key of this.entries.keys()) if (key.startsWith(prefix)) any = true;
    if (any) {
      this.append(['p', prefix]);
      for (const key of [...this.entries.keys()]) if (key.startsWith(prefix)) this.entries.delete(key);
    }
    for (const listener of this.erasers) listener(prefix);
    return live;
  }

  /** `listener` hears every deletePrefix (the embedded rate limiter drops its in-memory windows under it too). */
  onPrefixDeleted(listener: (prefix: string) => void): () => void {
    this.erasers.add(listener);
    return () => this.erasers.delete(listener);
  }

  /** Entries in memory, expired ones not yet swept included (specs: memory stays bounded). */
  get size(): number {
    return this.entries.size;
  }

  /** Drops expired entries from memory; how many. */
  sweep(): number {
    const now = this.now();
    let n = 0;
    for (const [key, e] of this.entries)
      if (e.expiresAt !== 0 && e.expiresAt <= now) {
        this.entries.delete(key);
        n++;
      }
    return n;
  }

  /** Flushes the changes written since the last sync to the disk (fsync); how many there were. */
  sync(): number {
    const n = this.unsynced;
    if (n === 0 || this.closed) return 0;
    fsyncSync(this.fd);
    this.unsynced = 0;
    return n;
  }

  /** The timer's sync: a failing fsync is reported once and tried again a second later (the changes stay unsynced), never thrown out of a timer. */
  private syncInBackground(): void {
    try {
      this.sync();
      this.syncFailed = false;
    } catch (err) {
      if (!this.syncFailed) console.error(`[state] syncing ${join(this.dir, FILE)} failed (tried again every second): ${(err as Error).message}`);
      this.syncFailed = true;
    }
  }

  /** Rewrites the file with only the live entries. */
  compact(): void {
    this.sweep();
    closeSync(this.fd);
    this.fd = this.rewrite();
  }

  /** Closes the file and gives the directory up (a later open reads it again: a restart, in specs). */
  close(): void {
    if (this.closed) return;
    this.sync();
    this.closed = true;
    clearInterval(this.sweeper);
    clearInterval(this.syncer);
    closeSync(this.fd);
    this.unlock();
    open.delete(this.dir);
  }

  private append(line: Line): void {
    if (this.closed) throw new Error(`embedded state store ${this.dir} is closed`);
    writeSync(this.fd, `${JSON.stringify(line)}\n`);
    this.lines++;
    this.unsynced++;
    if (this.lines >= COMPACT_AT && this.lines > 2 * this.entries.size) this.compact();
  }

  private load(): void {
    const file = join(this.dir, FILE);
    if (!existsSync(file)) return;
    const now = this.now();
    for (const text of readFileSync(file, 'utf8').split('\n')) {
      if (!text) continue;
      let line: Line;
      try {
        line = JSON.parse(text) as Line;
      } catch {
        continue; // a line torn by a kill mid-write: the change it held was never acknowledged
      }
      if (line[0] === 's') {
        if (line[3] === 0 || line[3] > now) this.entries.set(line[1], { value: line[2], expiresAt: line[3] });
        else this.entries.delete(line[1]);
      } else if (line[0] === 'd') this.entries.delete(line[1]);
      else if (line[0] === 'p') for (const key of [...this.entries.keys()]) if (key.startsWith(line[1])) this.entries.delete(key);
    }
  }

  /** Writes the live entries to a new file, synced, that replaces the log; the open descriptor to append to it. */
  private rewrite(): number {
    const file = join(this.dir, FILE);
    const tmp = `${file}.tmp`;
    const now = this.now();
    let text = '';
    let n = 0;
    for (const [key, e] of this.entries)
      if (e.expiresAt === 0 || e.expiresAt > now) {
        text += `${JSON.stringify(['s', key, e.value, e.expiresAt] satisfies Line)}\n`;
        n++;
      }
    const fd = openSync(tmp, 'w');
    try {
      writeSync(fd, text);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
    syncDirectory(dirname(file)); // the rename itself, durable
    this.lines = n;
    this.unsynced = 0;
    return openSync(file, 'a');
  }
}

/** fsync of a directory: its entries (a rename into it) reach the disk. */
function syncDirectory(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
