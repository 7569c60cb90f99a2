import { DraftEvents, EncryptedEarlierDraft, EncryptedTicketText, parseTenantId } from '@hotdash/contracts';
import { derivedId } from '@hotdash/platform-db';
import { type AddJobOptions, type JobQueue, jobTrace } from '@hotdash/platform-jobs';
import { OutboxTx, publishOnceInTx } from '@hotdash/platform-messaging';

/** The producer name on the events the ai-drafting service publishes. */
export const AI_DRAFTING_PRODUCER = 'ai-drafting';

/**
 * One model call: a draft of a ticket (queue hotdash-ai-drafting, the jobs port). The ticket's values stay
 * encrypted with the tenant's data key, in the queue's store as on the bus; the worker decrypts them in memory.
 */
export interface DraftingJob extends EncryptedTicketText {
  tenantId: string;
  ticketId: string;
  /** The id the draft gets (ticket.received: allocated when queued; draft.requested: the drafts service's). */
  draftId: string;
  /** 1 for the ticket's first draft, then one more per regeneration. */
  attempt: number;
  /**
   * A regeneration's earlier drafts the operator rejected or corrected, with their reasons and
   * edits (draft.requested v2), encrypted as on Kafka. Absent on a first draft, and on jobs queued
   * before regenerations carried them.
   */
  earlierDrafts?: EncryptedEarlierDraft[];
  /** The causing event's correlation id and its own id (the draft's events carry them on). */
  correlationId: string;
  causationId: string;
  /** The trace the job continues (W3C traceparent of the span that queued it; absent while tracing is off). */
  traceparent?: string | null;
}

/** The draft.generated / draft.failed event's metadata: the causing event's correlation, caused by it. */
export function draftEventMeta(job: Pick<DraftingJob, 'tenantId' | 'correlationId' | 'causationId'>) {
  return { tenantId: parseTenantId(job.tenantId), producer: AI_DRAFTING_PRODUCER, correlationId: job.correlationId, causationId: job.causationId };
}

/**
 * The id of a draft's outcome event, draft.generated or draft.failed: derived from the draft id, so
 * a draft has one outcome however often its job runs (a run again after a crash between the commit
 * and BullMQ's completion writes nothing: the outbox already holds the id), and a copy that still
 * reached Kafka twice is dropped by every consumer's inbox.
 */
export function draftOutcomeEventId(draftId: string): string {
  return derivedId(draftId, 'draft-outcome');
}

/**
 * Announces that this attempt gets no draft (draft.failed): the ticket waits for a hand-written reply
 * or a regeneration. Nothing is written when the draft already has its outcome; true when written.
 */
export async function publishDraftFailed(tx: OutboxTx, job: Omit<DraftingJob, keyof EncryptedTicketText | 'earlierDrafts'>, code: string, reason: string): Promise<boolean> {
  const meta = draftEventMeta(job);
  return publishOnceInTx(tx, draftOutcomeEventId(job.draftId), DraftEvents.FAILED, { tenantId: meta.tenantId, ticketId: job.ticketId, draftId: job.draftId, attempt: job.attempt, code, reason }, meta);
}

export interface DraftingQueueOptions {
  /** Tries per draft before draft.failed. Default 3. */
  attempts?: number;
  /** First retry delay in ms, doubling each try. Default 2 000. */
  backoffMs?: number;
}

/**
 * Queues drafting jobs. The job id is the draft's place in the ticket's history
 * (`<ticketId>-a<attempt>`), so an event delivered twice queues one job.
 */
export class DraftingQueue {
  private readonly jobOptions: Omit<AddJobOptions, 'jobId'>;

  constructor(
    readonly queue: JobQueue<DraftingJob>,
    options: DraftingQueueOptions = {},
  ) {
    this.jobOptions = {
      attempts: options.attempts ?? 3,
      backoff: { type: 'exponential', delayMs: options.backoffMs ?? 2_000 },
      keepCompleted: 1_000,
      keepFailed: 5_000,
    };
  }

  /** `again`: a request that must run even if the attempt's job is kept as done (a restore's: `restore-<run>`). */
  static jobId(ticketId: string, attempt: number, again?: string): string {
    return `${ticketId}-a${attempt}${again ? `-${again}` : ''}`;
  }

  /** Queues the draft, in the trace of the span queueing it; throws when the queue's store does not take it (the event is then retried). */
  async enqueue(job: DraftingJob, again?: string): Promise<void> {
    await this.queue.add('draft', { ...job, ...jobTrace() }, { ...this.jobOptions, jobId: DraftingQueue.jobId(job.ticketId, job.attempt, again) });
  }

  async close(): Promise<void> {
    await this.queue.close();
  }
}
