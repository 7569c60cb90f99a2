import type { JobOutcome, JobQueue } from '@hotdash/platform-jobs';
import { Metrics } from './metrics';

/**
 * BullMQ's metrics (issue 17, item 2): queue depth per queue and state, read at each scrape; job
 * latency (queued, or due, to started), run time and outcome per tenant, from the worker's events.
 * Typed by shape, so this library does not depend on BullMQ. No-ops until startMetrics ran.
 */

interface JobLike {
  data?: { tenantId?: unknown };
  timestamp?: number;
  delay?: number;
  processedOn?: number;
  finishedOn?: number;
}

interface WorkerLike {
  readonly name: string;
  on(event: 'completed', listener: (job: JobLike) => void): unknown;
  on(event: 'failed', listener: (job: JobLike | undefined) => void): unknown;
}

interface QueueLike {
  readonly name: string;
  getJobCounts(...types: string[]): Promise<Record<string, number>>;
}

const STATES = ['waiting', 'active', 'delayed', 'prioritized', 'waiting-children', 'failed'] as const;

/** Reports the queue's depth per state at each scrape (one Redis round trip); returns the queue. */
export function observeQueueDepth<Q extends QueueLike>(queue: Q): Q {
  Metrics.gauge('hotdash.queue.depth', async () => {
    const counts = await queue.getJobCounts(...STATES);
    return STATES.map((state) => ({ value: counts[state] ?? 0, labels: { queue: queue.name, state } }));
  });
  return queue;
}

/** Records every job the worker finishes: latency, run time, outcome, per tenant. Returns the worker. */
export function observeJobs<W extends WorkerLike>(worker: W): W {
  const record = (job: JobLike | undefined, outcome: 'completed' | 'failed') => {
    if (!job) return;
    const due = (job.timestamp ?? 0) + (job.delay ?? 0);
    const tenantId = typeof job.data?.tenantId === 'string' ? job.data.tenantId : undefined;
    Metrics.job({
      queue: worker.name,
      tenantId,
      outcome,
      waitSeconds: job.processedOn && job.timestamp ? Math.max(0, job.processedOn - due) / 1000 : undefined,
      runSeconds: job.processedOn && job.finishedOn ? (job.finishedOn - job.processedOn) / 1000 : undefined,
    });
  };
  worker.on('completed', (job) => record(job, 'completed'));
  worker.on('failed', (job) => record(job, 'failed'));
  return worker;
}

/** Reports a jobs-port queue's depth per state at each scrape (either adapter); returns the queue. */
export function observeJobQueueDepth<Q extends JobQueue<unknown>>(queue: Q): Q {
  const states = ['waiting', 'active', 'delayed', 'failed'] as const;
  Metrics.gauge('hotdash.queue.depth', async () => {
    const counts = await queue.counts();
    return states.map((state) => ({ value: counts[state], labels: { queue: queue.name, state } }));
  });
  return queue;
}

/**
 * A jobs-port worker's `onOutcome` that records every finished try (latency from due to started,
 * run time, outcome, per tenant), then calls `next` (the owner's own handling) if given.
 */
export function jobOutcomeMetrics<D>(next?: (o: JobOutcome<D>) => void): (o: JobOutcome<D>) => void {
  return (o) => {
    const data = o.job.data as { tenantId?: unknown } | undefined;
    Metrics.job({
      queue: o.job.queue,
      tenantId: typeof data?.tenantId === 'string' ? data.tenantId : undefined,
      outcome: o.outcome,
      waitSeconds: Math.max(0, o.job.startedAt - o.job.dueAt) / 1000,
      runSeconds: Math.max(0, o.finishedAt - o.job.startedAt) / 1000,
    });
    next?.(o);
  };
}
