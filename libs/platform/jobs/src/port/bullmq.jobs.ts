import { DelayedError, Queue, UnrecoverableError, Worker, type Job, type JobsOptions } from 'bullmq';
import type { PlatformConfig } from '@hotdash/platform-config';
import { queueOptions } from '../queues';
import { redisProbe } from '../redis';
import {
  FailNow,
  JOB_STATES,
  RetryLater,
  type AddJobOptions,
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
 * The stack's job queues: BullMQ on the platform's Redis (single node or cluster, `queueOptions`).
 * The port's `RetryLater` is BullMQ's move to the delayed set without using a try; `FailNow` its
 * UnrecoverableError. A job whose worker died is run again when its lock lapses (BullMQ's stalled
 * jobs, at most `maxStalledCount` times; the platform allows many).
 */
export interface BullmqJobsOptions {
  /** A key prefix of its own (specs that must not meet the platform's workers). */
  prefix?: string;
  /** Times a job may stall (its worker died) and still run again (default 1,000). */
  maxStalledCount?: number;
}

export class BullmqJobs implements JobsPort {
  readonly kind = 'bullmq' as const;
  private readonly opened = new Set<{ close(): Promise<void> }>();

  constructor(
    private readonly config: PlatformConfig,
    private readonly options: BullmqJobsOptions = {},
  ) {}

  private connection(name: string) {
    const o = queueOptions(this.config, name);
    return this.options.prefix ? { ...o, prefix: this.options.prefix } : o;
  }

  queue<D>(name: string): JobQueue<D> {
    const q = new BullmqQueue<D>(new Queue(name, this.connection(name)));
    this.opened.add(q);
    return q;
  }

  worker<D, R>(name: string, processor: JobProcessor<D, R>, options: JobWorkerOptions<D> = {}): JobWorker {
    const worker = new Worker<D, R>(
      name,
      async (job, token) => {
        try {
          return await processor(running(job));
        } catch (err) {
          if (err instanceof RetryLater) {
            await job.moveToDelayed(Date.now() + Math.max(0, err.delayMs), token);
            throw new DelayedError();
          }
          if (err instanceof FailNow) throw new UnrecoverableError(err.message);
          throw err;
        }
      },
      {
        ...this.connection(name),
        concurrency: Math.max(1, Math.floor(options.concurrency ?? 1)),
        maxStalledCount: this.options.maxStalledCount ?? 1_000,
        ...(options.lockDurationMs ? { lockDuration: options.lockDurationMs } : {}),
        ...(options.stalledIntervalMs ? { stalledInterval: options.stalledIntervalMs } : {}),
      },
    );
    worker.on('completed', (job) => options.onOutcome?.({ job: running(job), outcome: 'completed', final: false, finishedAt: job.finishedOn ?? Date.now() }));
    worker.on('failed', (job, err) => {
      if (!job) return;
      const final = err instanceof UnrecoverableError || err.name === 'UnrecoverableError' || job.attemptsMade >= (job.opts.attempts ?? 1);
      options.onOutcome?.({ job: running(job), outcome: 'failed', error: err, final, finishedAt: job.finishedOn ?? Date.now() });
    });
    worker.on('error', (err) => options.onError?.(err));
    const handle: JobWorker & { close(force?: boolean): Promise<void> } = {
      queue: name,
      close: async (force = false) => {
        this.opened.delete(handle);
        await worker.close(force);
      },
    };
    this.opened.add(handle);
    return handle;
  }

  async close(): Promise<void> {
    const all = [...this.opened];
    this.opened.clear();
    await Promise.all(all.map((o) => o.close().catch(() => undefined)));
  }
}

class BullmqQueue<D> implements JobQueue<D> {
  readonly kind = 'bullmq' as const;
  constructor(private readonly q: Queue) {}

  get name(): string {
    return this.q.name;
  }

  async add(name: string, data: D, options: AddJobOptions): Promise<void> {
    const opts: JobsOptions = {
      jobId: options.jobId,
      attempts: Math.max(1, Math.floor(options.attempts ?? 1)),
      ...(options.backoff ? { backoff: { type: options.backoff.type, delay: options.backoff.delayMs } } : {}),
      ...(options.delayMs ? { delay: options.delayMs } : {}),
      ...(options.keepCompleted !== undefined ? { removeOnComplete: options.keepCompleted } : {}),
      ...(options.keepFailed !== undefined ? { removeOnFail: options.keepFailed } : {}),
    };
    await this.q.add(name, data, opts);
  }

  async get(jobId: string): Promise<QueuedJob<D> | undefined> {
    const job = (await this.q.getJob(jobId)) as Job<D> | undefined;
    if (!job) return undefined;
    const state = stateOf(await job.getState());
    if (!state) return undefined;
    return {
      id: jobId,
      name: job.name,
      data: job.data,
      state,
      // BullMQ counts the successful try too; the port counts failed tries only.
      attemptsMade: state === 'completed' ? Math.max(0, job.attemptsMade - 1) : job.attemptsMade,
      attempts: job.opts.attempts ?? 1,
      ...(job.failedReason ? { failedReason: job.failedReason } : {}),
    };
  }

  async counts(): Promise<Record<JobState, number>> {
    const c = await this.q.getJobCounts('waiting', 'prioritized', 'waiting-children', 'active', 'delayed', 'completed', 'failed');
    const out = Object.fromEntries(JOB_STATES.map((s) => [s, c[s] ?? 0])) as Record<JobState, number>;
    out.waiting += (c['prioritized'] ?? 0) + (c['waiting-children'] ?? 0);
    return out;
  }

  async removeWhere(match: (data: D) => boolean): Promise<{ pending: number; finished: number }> {
    const PAGE = 500;
    let pending = 0;
    let finished = 0;
    for (const state of ['waiting', 'prioritized', 'delayed', 'completed', 'failed'] as const) {
      // Page by page; what is removed leaves the list, so a page starts after what was kept.
      for (let kept = 0; ; ) {
        const jobs = (await this.q.getJobs([state], kept, kept + PAGE - 1)).filter((j) => j !== undefined) as Job<D>[];
        if (jobs.length === 0) break;
        for (const job of jobs) {
          if (!match(job.data)) {
            kept++;
            continue;
          }
          await job.remove();
          if (state === 'completed' || state === 'failed') finished++;
          else pending++;
        }
      }
    }
    return { pending, finished };
  }

  probe(): Promise<unknown> {
    return redisProbe(() => this.q.getBackend().client)();
  }

  close(): Promise<void> {
    return this.q.close();
  }
}

function stateOf(s: string): JobState | undefined {
  if (s === 'prioritized' || s === 'waiting-children') return 'waiting';
  return (JOB_STATES as readonly string[]).includes(s) ? (s as JobState) : undefined;
}

function running<D>(job: Job<D>): RunningJob<D> {
  const addedAt = job.timestamp;
  return {
    id: job.id ?? `${job.name}:${job.timestamp}`,
    name: job.name,
    queue: job.queueName,
    data: job.data,
    attemptsMade: job.attemptsMade,
    attempts: job.opts.attempts ?? 1,
    ranBefore: job.attemptsMade > 0 || (job.stalledCounter ?? 0) > 0 || (job.attemptsStarted ?? 0) > 1,
    addedAt,
    dueAt: addedAt + (job.opts.delay ?? 0),
    startedAt: job.processedOn ?? Date.now(),
  };
}
