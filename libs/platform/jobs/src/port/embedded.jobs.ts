import { EventEmitter } from 'node:events';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import {
  backoffDelay,
  FailNow,
  JOB_STATES,
  RetryLater,
  type AddJobOptions,
  type JobBackoff,
  type JobOutcome,
  type JobProcessor,
  type JobQueue,
  type JobsPort,
  type JobState,
  type JobWorker,
  type JobWorkerOptions,
  type QueuedJob,
  type RunningJob,
} from './jobs.port';

/**
 * The embedded mode's job runner (issue 18): the jobs port in this process, durable in one SQLite
 * file (Node's own `node:sqlite`, WAL, synchronous=FULL: a job is on disk before `add` resolves).
 * Nothing but Node is needed.
 *
 * One process owns the file. At a worker's start, the jobs of its queue that the file says are
 * running but no worker of this process runs were left by a process that died: they wait again and
 * run with `ranBefore` (the stack's stalled jobs, at the next start instead of after a lock lapses).
 * Adding wakes the queue's workers in this process at once; a due delayed job wakes them by timer;
 * a poll every `pollMs` (1 s) is the safety net.
 */
export interface EmbeddedJobsOptions {
  /** The SQLite file (created with its directory); `:memory:` keeps nothing across processes. */
  file: string;
  /** Safety-net poll of each worker (default 1,000 ms). */
  pollMs?: number;
  /** The clock (specs). */
  now?: () => number;
}

interface JobRow {
  queue: string;
  id: string;
  name: string;
  data: string;
  state: JobState;
  attempts: number;
  attempts_made: number;
  backoff: string | null;
  due_at: number;
  added_at: number;
  started: number;
  keep_completed: number | null;
  keep_failed: number | null;
  failed_reason: string | null;
}

const SCHEMA = `
create table if not exists jobs (
  queue          text    not null,
  id             text    not null,
  name           text    not null,
  data           text    not null,
  state          text    not null check (state in ('waiting', 'active', 'delayed', 'completed', 'failed')),
  attempts       integer not null,
  attempts_made  integer not null default 0,
  backoff        text,
  due_at         integer not null,
  added_at       integer not null,
  started        integer not null default 0,
  keep_completed integer,
  keep_failed    integer,
  finished_at    integer,
  failed_reason  text,
  primary key (queue, id)
) strict;
create index if not exists jobs_due on jobs (queue, state, due_at);
create index if not exists jobs_finished on jobs (queue, state, finished_at);
`;

/** Per file and queue, process-wide: who runs what (so a second worker's recovery leaves them alone), and the wake-up channel. */
const running = new Map<string, Set<string>>();
const wakeups = new EventEmitter().setMaxListeners(0);
function runningOf(key: string): Set<string> {
  let s = running.get(key);
  if (!s) running.set(key, (s = new Set()));
  return s;
}

export class EmbeddedJobs implements JobsPort {
  readonly kind = 'embedded' as const;
  private readonly db: DatabaseSync;
  private readonly now: () => number;
  private readonly workers = new Set<EmbeddedWorker<unknown, unknown>>();
  private readonly statements = new Map<string, StatementSync>();
  private closed = false;

  constructor(readonly options: EmbeddedJobsOptions) {
    if (options.file !== ':memory:') mkdirSync(dirname(options.file), { recursive: true });
    this.db = new DatabaseSync(options.file);
    this.db.exec('pragma journal_mode = wal; pragma synchronous = full; pragma busy_timeout = 5000;');
    this.db.exec(SCHEMA);
    this.now = options.now ?? Date.now;
  }

  /** A cached prepared statement. */
  sql(text: string): StatementSync {
    let s = this.statements.get(text);
    if (!s) this.statements.set(text, (s = this.db.prepare(text)));
    return s;
  }

  key(queue: string): string {
    return `${this.options.file}\u0000${queue}`;
  }

  clock(): number {
    return this.now();
  }

  queue<D>(name: string): JobQueue<D> {
    this.assertOpen();
    return new EmbeddedQueue<D>(this, name);
  }

  worker<D, R>(name: string, processor: JobProcessor<D, R>, options: JobWorkerOptions<D> = {}): JobWorker {
    this.assertOpen();
    const w = new EmbeddedWorker<D, R>(this, name, processor, options, this.options.pollMs ?? 1_000);
    this.workers.add(w as unknown as EmbeddedWorker<unknown, unknown>);
    w.start();
    return w;
  }

  forget(w: EmbeddedWorker<unknown, unknown>): void {
    this.workers.delete(w);
  }

  wake(queue: string): void {
    wakeups.emit(this.key(queue));
  }

  onWake(queue: string, fn: () => void): () => void {
    const k = this.key(queue);
    wakeups.on(k, fn);
    return () => wakeups.off(k, fn);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await Promise.all([...this.workers].map((w) => w.close()));
    this.closed = true;
    this.db.close();
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('the embedded job runner is closed');
  }
}

class EmbeddedQueue<D> implements JobQueue<D> {
  readonly kind = 'embedded' as const;
  constructor(
    private readonly jobs: EmbeddedJobs,
    readonly name: string,
  ) {}

  async add(name: string, data: D, options: AddJobOptions): Promise<void> {
    const now = this.jobs.clock();
    const delay = Math.max(0, options.delayMs ?? 0);
    const result = this.jobs
      .sql(
        `insert into jobs (queue, id, name, data, state, attempts, backoff, due_at, added_at, keep_completed, keep_failed)
         values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) on conflict (queue, id) do nothing`,
      )
      .run(
        this.name,
        options.jobId,
        name,
        JSON.stringify(data),
        delay > 0 ? 'delayed' : 'waiting',
        Math.max(1, Math.floor(options.attempts ?? 1)),
        options.backoff ? JSON.stringify(options.backoff) : null,
        now + delay,
        now,
        options.keepCompleted ?? null,
        options.keepFailed ?? null,
      );
    if (result.changes > 0) this.jobs.wake(this.name);
  }

  async get(jobId: string): Promise<QueuedJob<D> | undefined> {
    const row = this.jobs.sql('select * from jobs where queue = ? and id = ?').get(this.name, jobId) as JobRow | undefined;
    return row && toQueued<D>(row);
  }

  async counts(): Promise<Record<JobState, number>> {
    const out = Object.fromEntries(JOB_STATES.map((s) => [s, 0])) as Record<JobState, number>;
    for (const r of this.jobs.sql('select state, count(*) as n from jobs where queue = ? group by state').all(this.name) as { state: JobState; n: number }[]) out[r.state] = Number(r.n);
    return out;
  }

  async removeWhere(match: (data: D) => boolean): Promise<{ pending: number; finished: number }> {
    const rows = this.jobs.sql(`select id, state, data from jobs where queue = ? and state <> 'active'`).all(this.name) as { id: string; state: JobState; data: string }[];
    let pending = 0;
    let finished = 0;
    const remove = this.jobs.sql(`delete from jobs where queue = ? and id = ? and state <> 'active'`);
    for (const r of rows) {
      if (!match(JSON.parse(r.data) as D)) continue;
      if (remove.run(this.name, r.id).changes === 0) continue;
      if (r.state === 'completed' || r.state === 'failed') finished++;
      else pending++;
    }
    return { pending, finished };
  }

  async probe(): Promise<unknown> {
    this.jobs.sql('select 1').get();
    return undefined;
  }

  async close(): Promise<void> {
    // Nothing of its own: the runner's file stays open for the others.
  }
}

class EmbeddedWorker<D, R> implements JobWorker {
  private readonly concurrency: number;
  private readonly held: Set<string>;
  private readonly inFlight = new Map<string, Promise<void>>();
  private stopped = false;
  private abandoned = false;
  private timer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;
  private pumping = false;

  constructor(
    private readonly jobs: EmbeddedJobs,
    readonly queue: string,
    private readonly processor: JobProcessor<D, R>,
    private readonly options: JobWorkerOptions<D>,
    private readonly pollMs: number,
  ) {
    this.concurrency = Math.max(1, Math.floor(options.concurrency ?? 1));
    this.held = runningOf(jobs.key(queue));
  }

  start(): void {
    // Jobs the file says are running that no worker of this process runs: their process died.
    const orphans = (this.jobs.sql(`select id from jobs where queue = ? and state = 'active'`).all(this.queue) as { id: string }[]).filter((r) => !this.held.has(r.id));
    const requeue = this.jobs.sql(`update jobs set state = 'waiting' where queue = ? and id = ? and state = 'active'`);
    for (const r of orphans) requeue.run(this.queue, r.id);
    this.unsubscribe = this.jobs.onWake(this.queue, () => this.pump());
    this.pump();
  }

  async close(force = false): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.unsubscribe?.();
    if (this.timer) clearTimeout(this.timer);
    if (force) {
      // A process that died: its jobs stay "running" in the file and run again at the next start.
      this.abandoned = true;
      for (const id of this.inFlight.keys()) this.held.delete(id);
    } else {
      await Promise.all(this.inFlight.values());
    }
    this.jobs.forget(this as unknown as EmbeddedWorker<unknown, unknown>);
  }

  private pump(): void {
    if (this.stopped || this.pumping) return;
    this.pumping = true;
    try {
      const next = this.jobs.sql(`select * from jobs where queue = ? and state in ('waiting', 'delayed') and due_at <= ? order by due_at, rowid limit 1`);
      const claim = this.jobs.sql(`update jobs set state = 'active', started = started + 1 where queue = ? and id = ? and state in ('waiting', 'delayed')`);
      while (this.inFlight.size < this.concurrency) {
        const row = next.get(this.queue, this.jobs.clock()) as JobRow | undefined;
        if (!row) break;
        if (claim.run(this.queue, row.id).changes === 0) continue;
        this.held.add(row.id);
        const run = this.run(row).finally(() => {
          this.inFlight.delete(row.id);
          if (!this.abandoned) this.held.delete(row.id);
          setImmediate(() => this.pump());
        });
        this.inFlight.set(row.id, run);
      }
      this.schedule();
    } catch (err) {
      this.options.onError?.(err as Error);
    } finally {
      this.pumping = false;
    }
  }

  /** Wakes at the next delayed job's due time, or after the poll interval, whichever is first. */
  private schedule(): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    const row = this.jobs.sql(`select min(due_at) as due from jobs where queue = ? and state in ('waiting', 'delayed')`).get(this.queue) as { due: number | null };
    const wait = row.due === null ? this.pollMs : Math.min(this.pollMs, Math.max(1, row.due - this.jobs.clock()));
    this.timer = setTimeout(() => this.pump(), wait);
    this.timer.unref();
  }

  private async run(row: JobRow): Promise<void> {
    const startedAt = this.jobs.clock();
    const job: RunningJob<D> = {
      id: row.id,
      name: row.name,
      queue: this.queue,
      data: JSON.parse(row.data) as D,
      attemptsMade: row.attempts_made,
      attempts: row.attempts,
      ranBefore: row.started > 0 || row.attempts_made > 0,
      addedAt: row.added_at,
      dueAt: row.due_at,
      startedAt,
    };
    let outcome: JobOutcome<D>;
    try {
      await this.processor(job);
      if (this.abandoned) return;
      const now = this.jobs.clock();
      this.jobs.sql(`update jobs set state = 'completed', finished_at = ?, failed_reason = null where queue = ? and id = ?`).run(now, this.queue, row.id);
      if (row.keep_completed !== null) this.prune('completed', row.keep_completed);
      outcome = { job, outcome: 'completed', final: false, finishedAt: now };
    } catch (caught) {
      if (this.abandoned) return;
      const err = caught instanceof Error ? caught : new Error(String(caught));
      const now = this.jobs.clock();
      if (err instanceof RetryLater) {
        this.jobs.sql(`update jobs set state = 'delayed', due_at = ? where queue = ? and id = ?`).run(now + Math.max(0, err.delayMs), this.queue, row.id);
        return;
      }
      const made = row.attempts_made + 1;
      const final = err instanceof FailNow || made >= row.attempts;
      if (final) {
        this.jobs.sql(`update jobs set state = 'failed', attempts_made = ?, failed_reason = ?, finished_at = ? where queue = ? and id = ?`).run(made, err.message, now, this.queue, row.id);
        if (row.keep_failed !== null) this.prune('failed', row.keep_failed);
      } else {
        const backoff = row.backoff ? (JSON.parse(row.backoff) as JobBackoff) : undefined;
        this.jobs
          .sql(`update jobs set state = 'delayed', attempts_made = ?, failed_reason = ?, due_at = ? where queue = ? and id = ?`)
          .run(made, err.message, now + backoffDelay(backoff, made), this.queue, row.id);
      }
      outcome = { job, outcome: 'failed', error: err, final, finishedAt: now };
    }
    try {
      this.options.onOutcome?.(outcome);
    } catch (err) {
      this.options.onError?.(err as Error);
    }
  }

  /** Keeps the `keep` most recently finished jobs of a state (BullMQ's removeOnComplete/removeOnFail). */
  private prune(state: 'completed' | 'failed', keep: number): void {
    this.jobs
      .sql(`delete from jobs where rowid in (select rowid from jobs where queue = ? and state = ? order by finished_at desc, rowid desc limit -1 offset ?)`)
      .run(this.queue, state, Math.max(0, keep));
  }
}

function toQueued<D>(row: JobRow): QueuedJob<D> {
  return {
    id: row.id,
    name: row.name,
    data: JSON.parse(row.data) as D,
    state: row.state,
    attemptsMade: row.attempts_made,
    attempts: row.attempts,
    ...(row.failed_reason ? { failedReason: row.failed_reason } : {}),
  };
}
