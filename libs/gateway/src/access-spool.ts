import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { AccessRecordedV1, TenantId } from '@hotdash/contracts';
import { readSetting } from '@hotdash/platform-config';

/** The checkout's `.local/spool/access` (this file is libs/gateway/src/access-spool.ts). */
export const DEFAULT_ACCESS_SPOOL_DIR = resolve(__dirname, '..', '..', '..', '.local', 'spool', 'access');

/** HOTDASH_ACCESS_SPOOL_DIR (checked by the settings schema: an absolute path): where gateways spool access entries (one per machine or pod volume); default the checkout's .local/spool/access. */
export function accessSpoolDir(env: NodeJS.ProcessEnv = process.env): string {
  return readSetting('HOTDASH_ACCESS_SPOOL_DIR', env) ?? DEFAULT_ACCESS_SPOOL_DIR;
}

/**
 * An access entry as the gateway took it (before the response): the id and time its access.recorded
 * event will have, and what happened, the caller's IP still in the clear (sealed under the tenant's
 * key when the entry is written to the outbox).
 */
export interface SpooledEntry {
  tenantId: TenantId;
  id: string;
  correlationId: string;
  occurredAt: string;
  access: AccessRecordedV1;
}

const SEGMENT = /^access-(\d+)-(\d+)-(\d+)\.ndjson$/;

/** A process's start time in clock ticks since boot (/proc/<pid>/stat, field 22), or undefined when it does not run (or /proc is not there). */
function startTimeOf(pid: number | 'self'): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may hold spaces: the fields after it start at 3.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** Whether the process that wrote a segment still runs: its pid alive with the start time the segment's name records (a reused pid is another process). */
function running(pid: number, started: string): boolean {
  const now = startTimeOf(pid);
  if (now !== undefined) return now === started;
  if (started !== '0') return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The gateway's access entries on local disk before the response goes out, so that a gateway killed
 * with SIGKILL loses none (issue 15 item 1): each entry is one line (SpooledEntry as JSON)
 * appended with one write(2) to the process's current segment file, which the kernel holds once the
 * call returns, whatever happens to the process. The access log writes its buffer to the tenants'
 * outboxes every 100 ms; each flush first closes the segment (`rotate`), and once a flush has written
 * everything it took, the closed segments are removed. A gateway that starts adopts the segments of
 * gateways that no longer run (`adoptOrphans`): their entries are written again, `on conflict do
 * nothing` on the event id, so an entry that had been written before the kill is not written twice.
 * A machine that loses power may lose what the page cache had not written to disk yet; the spool is
 * about the process, not the machine. A segment holds the callers' IP addresses in the clear for the
 * ~100 ms until its entries are written (sealed) and it is removed: the spool directory is the
 * gateway's own (0700, files 0600), like its memory.
 */
export class AccessSpool {
  private fd: number | undefined;
  private path: string | undefined;
  private seq = 0;
  private readonly pid = process.pid;
  private readonly started = startTimeOf('self') ?? '0';

  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  }

  /** Appends one entry (one write); throws when the disk refuses it. */
  append(entry: SpooledEntry): void {
    if (this.fd === undefined) {
      this.path = join(this.dir, `access-${this.pid}-${this.started}-${++this.seq}.ndjson`);
      this.fd = openSync(this.path, 'a', 0o600);
    }
    writeSync(this.fd, `${JSON.stringify(entry)}\n`);
  }

  /** Closes the segment being written and returns its path (undefined when nothing was appended since the last rotation): every entry appended so far is in a closed segment. */
  rotate(): string | undefined {
    if (this.fd === undefined) return undefined;
    closeSync(this.fd);
    const path = this.path;
    this.fd = undefined;
    this.path = undefined;
    return path;
  }

  /** Removes segments whose entries are all written (one already removed, by an adopter too, is fine). */
  remove(paths: readonly string[]): void {
    for (const p of paths)
      try {
        unlinkSync(p);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
  }

  /** The segments of gateways that no longer run, with their entries (a line cut short by the kill, if any, is skipped). */
  adoptOrphans(): { paths: string[]; entries: SpooledEntry[]; unreadable: number } {
    const paths: string[] = [];
    const entries: SpooledEntry[] = [];
    let unreadable = 0;
    for (const name of readdirSync(this.dir).sort()) {
      const m = SEGMENT.exec(name);
      if (!m) continue;
      const pid = Number(m[1]);
      if ((pid === this.pid && m[2] === this.started) || running(pid, m[2]!)) continue;
      const path = join(this.dir, name);
      let text: string;
      try {
        text = readFileSync(path, 'utf8');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue; // adopted and written by another gateway meanwhile
        throw err;
      }
      for (const line of text.split('\n')) {
        if (!line) continue;
        try {
          const e = JSON.parse(line) as SpooledEntry;
          if (e && typeof e.tenantId === 'string' && typeof e.id === 'string' && typeof e.correlationId === 'string' && typeof e.occurredAt === 'string' && e.access && typeof e.access === 'object') entries.push(e);
          else unreadable++;
        } catch {
          unreadable++;
        }
      }
      paths.push(path);
    }
    return { paths, entries, unreadable };
  }

  close(): void {
    this.rotate();
  }
}
