import type { TenantId } from '@hotdash/contracts';
import type { ControlTransaction } from '@hotdash/platform-db';

/** JSON-serialisable values: step outputs and saga input are persisted as jsonb. */
export type Json = string | number | boolean | null | Json[] | { [key: string]: Json };

export interface SagaRecord {
  id: string;
  type: string;
  tenantId: TenantId | null;
  status: 'running' | 'compensating' | 'completed' | 'compensated' | 'failed';
  input: Json;
  /** Outputs of the completed steps, by step id. */
  state: Record<string, Json>;
  currentStep: number;
  failedStep: string | null;
  lastError: string | null;
}

export interface SagaStepContext<I extends Json = Json> {
  sagaId: string;
  tenantId: TenantId | null;
  input: I;
  /** Outputs of the steps completed before this one (for a compensation: of every completed step). */
  state: Record<string, Json>;
  /** 1 on the first try of this step (or compensation), 2 on the first retry, … (a StepPendingError does not count as a try). */
  attempt: number;
  /**
   * How many times in a row this try of the step has answered StepPendingError ("not yet") before
   * this run: 0 on its first run, 1 after one "not yet", … (0 for a compensation; set by the engine,
   * absent where a step is called by hand, which is 0).
   */
  waits?: number;
}

/**
 * One step of a saga: makes one change, idempotently under its saga id (it may run again after a
 * crash or a retry), and says how to undo it. Its compensation is registered only once it succeeded.
 */
export interface SagaStep<I extends Json = Json> {
  /** Stable id: persisted, so never renamed once sagas ran it. */
  id: string;
  /** One line: what the step changes. */
  description: string;
  run(ctx: SagaStepContext<I>): Promise<Json | void>;
  /** Undoes run(); idempotent too. Steps without one have nothing to undo. */
  compensate?(ctx: SagaStepContext<I>): Promise<void>;
  /** Tries before the failure is permanent (default: the engine's). */
  maxAttempts?: number;
}

/** A row for the control plane's `outbox` table (see `outboxRow()` in libs/platform/messaging). */
export interface SagaOutboxRow {
  id: string;
  tenantId: string;
  topic: string;
  key: string;
  type: string;
  version: number;
  envelope: unknown;
}

/**
 * Called inside the control-plane transaction that records the transition (withControl: `tx.db` is
 * Kysely on it; `publishInTx(tx, …)` writes outbox events in it): write outbox events here. A saga's start and a step's completion are the hot path, so their hooks do not get the
 * transaction: they return the outbox rows, which the engine writes in the same statement that
 * records the start or the completion.
 */
export interface SagaHooks {
  /** Outbox rows to write with the new saga (in the statement that records it). */
  startedEvents?(saga: SagaRecord): SagaOutboxRow[];
  /** Outbox rows to write with the step's completion (the saga record is as it was before the step). */
  stepCompletedEvents?(saga: SagaRecord, step: SagaStep, output: Json): SagaOutboxRow[];
  /** Outbox rows to write when the last step completes (in the statement that records it). */
  completedEvents?(saga: SagaRecord): SagaOutboxRow[];
  /** A step failed permanently; compensation starts. */
  onFailed?(tx: ControlTransaction, saga: SagaRecord, failedStep: string, reason: string): Promise<void>;
  /** Every registered compensation ran. */
  onCompensated?(tx: ControlTransaction, saga: SagaRecord): Promise<void>;
}

export interface SagaDefinition<I extends Json = Json> {
  type: string;
  steps: SagaStep<I>[];
  /** Top-level input fields needed only while steps may run (sealed secrets): set to null when the saga ends either way. */
  forgetOnEnd?: string[];
  hooks?: SagaHooks;
}

/** A failure that retrying cannot fix: the saga compensates at once instead of after the remaining tries. */
export class NonRetryableStepError extends Error {
  constructor(
    message: string,
    readonly code = 'non-retryable',
  ) {
    super(message);
    this.name = 'NonRetryableStepError';
  }
}

/**
 * Not a failure: what the step waits for (another saga, work outside the engine) has not happened
 * yet. The engine lets go of the worker's slot and runs the step again after `retryAfterMs` (a
 * delayed job: nothing holds a slot meanwhile), without counting a try; ctx.waits says how often it
 * waited so far. The step bounds its own wait: past its limit it throws an error of its own (a
 * NonRetryableStepError to fail at once). Only for run(): a compensation that throws it is retried as
 * for any error (counted: compensations do not wait without bound).
 */
export class StepPendingError extends Error {
  constructor(
    message: string,
    readonly retryAfterMs = 1_000,
  ) {
    super(message);
    this.name = 'StepPendingError';
  }
}

export interface SagaStepStatus {
  index: number;
  id: string;
  description: string;
  status: 'pending' | 'running' | 'completed' | 'failed' | 'compensating' | 'compensated' | 'skipped';
  attempts: number;
  compensationAttempts: number;
  compensationRegistered: boolean;
  nonRetryable: boolean;
  lastError: string | null;
  startedAt: string | null;
  completedAt: string | null;
  compensatedAt: string | null;
}

export interface SagaStatus extends SagaRecord {
  steps: SagaStepStatus[];
  createdAt: string;
  finishedAt: string | null;
}
