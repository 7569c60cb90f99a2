import { DelayedError, Job, UnrecoverableError } from 'bullmq';
import { isStoreUnavailable } from '@hotdash/platform-config';

/** How long a job waits for a store that is down before it runs again (plus up to as much jitter). */
const OUTAGE_DELAY_MS = 1_000;

/**
 * A job processor whose job, when it fails because a store is down (the database restarting,
 * Weaviate unreachable), goes back to the queue delayed and runs again without using up one of its
 * attempts: an outage must not fail drafts or documents that would have succeeded a minute later.
 * Every other error fails the try as before (BullMQ's attempts and backoff). When Redis itself is
 * down the job cannot be put back; its lock lapses and BullMQ runs it again once Redis is back.
 */
export function retryWhenStoresDown<D, R>(
  processor: (job: Job<D>, token?: string) => Promise<R>,
  options: { delayMs?: number; log?: (line: string) => void } = {},
): (job: Job<D>, token?: string) => Promise<R> {
  const delay = options.delayMs ?? OUTAGE_DELAY_MS;
  return async (job, token) => {
    try {
      return await processor(job, token);
    } catch (err) {
      if (err instanceof DelayedError || err instanceof UnrecoverableError || !isStoreUnavailable(err)) throw err;
      options.log?.(`job ${job.queueName}/${job.id} waits for a store: ${(err as Error).message}`);
      await job.moveToDelayed(Date.now() + delay + Math.floor(Math.random() * delay), token);
      throw new DelayedError();
    }
  };
}
