/**
 * The platform's port onto job queues (DESIGN.md §2 "Two ways to run, one code path"; issue 18):
 * BullMQ on Redis for the stack (bullmq.jobs.ts), a durable in-process runner on SQLite for the
 * embedded mode (embedded.jobs.ts). Both keep this contract, proven by jobs.contract.ts against each.
 *
 * Semantics, as the platform uses them:
 * - A job's id is the caller's and deterministic: adding an id the queue already holds (waiting,
 *   running, delayed, or kept after it finished) adds nothing.
 * - A job runs at least once. It is tried up to `attempts` times; a failed try is retried after its
 *   backoff. A processor that throws `RetryLater` is put back for that delay without using a try
 *   (a tenant at its concurrency cap, a store that is down).
 * - A process that dies while running a job does not lose it: the job runs again (with
 *   `ranBefore` true), after its lock lapses on the stack, at the next start in embedded mode.
 */

export type JobState = 'waiting' | 'active' | 'delayed' | 'completed' | 'failed';

export const JOB_STATES: readonly JobState[] = ['waiting', 'active', 'delayed', 'completed', 'failed'];

export interface JobBackoff {
  type: 'fixed' | 'exponential';
  /** The first retry's delay; exponential doubles it per try (delay × 2^(try − 1)). */
  delayMs: number;
}

export interface AddJobOptions {
  /** The job's id; adding an id the queue holds already adds nothing. */
  jobId: string;
  /** Tries in all (default 1). */
  attempts?: number;
  backoff?: JobBackoff;
  /** Runs no earlier than this many milliseconds from now. */
  delayMs?: number;
  /** Finished jobs kept for look-ups (their ids stay taken meanwhile); default: kept. */
  keepCompleted?: number;
  /** Failed jobs kept; default: kept. */
  keepFailed?: number;
}

/** A job as the queue holds it. */
export interface QueuedJob<D> {
  id: string;
  name: string;
  data: D;
  state: JobState;
  /** Tries that failed so far (a `RetryLater` is not one). */
  attemptsMade: number;
  attempts: number;
  /** Why the last try failed, if one did. */
  failedReason?: string;
}

/** The job a processor runs. */
export interface RunningJob<D> {
  readonly id: string;
  readonly name: string;
  readonly queue: string;
  readonly data: D;
  /** Tries that failed before this one. */
  readonly attemptsMade: number;
  /** Tries in all. */
  readonly attempts: number;
  /** True when this job ran before and may have done part of its work (a failed try, a process that died running it). */
  readonly ranBefore: boolean;
  /** When it was added and when it was due (epoch ms), and when this run began. */
  readonly addedAt: number;
  readonly dueAt: number;
  readonly startedAt: number;
}

/**
 * Thrown by a processor (or a wrapper such as the tenant limiter) to put the job back for `delayMs`
 * without using one of its tries.
 */
export class RetryLater extends Error {
  constructor(
    readonly delayMs: number,
    reason = 'retry later',
  ) {
    super(reason);
    this.name = 'RetryLater';
  }
}

/** Thrown by a processor when retrying cannot help: the job fails now, whatever tries it has left. */
export class FailNow extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FailNow';
  }
}

export type JobProcessor<D, R = unknown> = (job: RunningJob<D>) => Promise<R>;

/** What a worker reports of each finished try (metrics, the owners' failure handling). */
export interface JobOutcome<D> {
  job: RunningJob<D>;
  outcome: 'completed' | 'failed';
  error?: Error;
  /** A failed try after which no try is left: the job is failed for good. */
  final: boolean;
  finishedAt: number;
}

export interface JobWorkerOptions<D> {
  /** Jobs of this queue run at once by this worker (default 1). */
  concurrency?: number;
  /** Stack only: how long a running job's lock lasts without renewal, and how often stalled jobs are looked for. */
  lockDurationMs?: number;
  stalledIntervalMs?: number;
  /** Each finished try (completed, or failed with or without tries left). */
  onOutcome?: (outcome: JobOutcome<D>) => void;
  /** Errors of the worker itself (a lost connection), not of jobs. */
  onError?: (err: Error) => void;
}

export interface JobQueue<D> {
  readonly name: string;
  /** The adapter: `bullmq` queues live in Redis, outside the process; `embedded` ones in its SQLite file. */
  readonly kind: JobsPort['kind'];
  add(name: string, data: D, options: AddJobOptions): Promise<void>;
  get(jobId: string): Promise<QueuedJob<D> | undefined>;
  /** Jobs per state. */
  counts(): Promise<Record<JobState, number>>;
  /**
   * Removes every job whose data `match` accepts, in every state but running ones (a tenant's
   * offboarding); counts those that were pending (waiting, delayed) and finished (completed, failed).
   */
  removeWhere(match: (data: D) => boolean): Promise<{ pending: number; finished: number }>;
  /** Readiness: one cheap round trip to the queue's store (rejects when it is down). */
  probe(): Promise<unknown>;
  close(): Promise<void>;
}

export interface JobWorker {
  readonly queue: string;
  /** Stops taking jobs and waits for the running ones; `force` abandons them (they run again: a process that died). */
  close(force?: boolean): Promise<void>;
}

export interface JobsPort {
  readonly kind: 'bullmq' | 'embedded';
  queue<D>(name: string): JobQueue<D>;
  worker<D, R>(name: string, processor: JobProcessor<D, R>, options?: JobWorkerOptions<D>): JobWorker;
  /** Closes what this port opened (queues, workers, connections). */
  close(): Promise<void>;
}

/** The delay before try `attemptsMade + 1` after `attemptsMade` failed tries. */
export function backoffDelay(backoff: JobBackoff | undefined, attemptsMade: number): number {
  if (!backoff) return 0;
  return backoff.type === 'fixed' ? backoff.delayMs : backoff.delayMs * 2 ** Math.max(0, attemptsMade - 1);
}

/** A readiness probe for a queue whose store is outside the process (BullMQ's Redis); none for the embedded runner. */
export function jobQueueProbe(queue: JobQueue<unknown>): ((timeoutMs: number) => Promise<Record<string, unknown> | void>) | undefined {
  return queue.kind === 'bullmq' ? async () => (await queue.probe()) as Record<string, unknown> | void : undefined;
}
