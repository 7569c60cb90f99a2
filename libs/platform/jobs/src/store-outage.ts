import { isStoreUnavailable } from '@hotdash/platform-config';
import { FailNow, RetryLater, type JobProcessor } from './port/jobs.port';

/** How long a job waits for a store that is down before it runs again (plus up to as much jitter). */
const OUTAGE_DELAY_MS = 1_000;

/**
 * A jobs-port processor (either adapter) whose job, when it fails because a store is down (the
 * database restarting, Weaviate unreachable), is put back (RetryLater) and runs again without using
 * up one of its tries: an outage must not fail drafts or documents that would have succeeded a
 * minute later. Every other error fails the try as before (its tries and backoff). When Redis itself
 * is down on the stack, the job cannot be put back; its lock lapses and BullMQ runs it again.
 */
export function retryLaterWhenStoresDown<D, R>(processor: JobProcessor<D, R>, options: { delayMs?: number; log?: (line: string) => void } = {}): JobProcessor<D, R> {
  const delay = options.delayMs ?? OUTAGE_DELAY_MS;
  return async (job) => {
    try {
      return await processor(job);
    } catch (err) {
      if (err instanceof RetryLater || err instanceof FailNow || !isStoreUnavailable(err)) throw err;
      options.log?.(`job ${job.queue}/${job.id} waits for a store: ${(err as Error).message}`);
      throw new RetryLater(delay + Math.floor(Math.random() * delay), 'a store is down');
    }
  };
}
