import { Job, Queue, Worker } from 'bullmq';
import type { TenantId } from '@hotdash/contracts';
import type { PlatformConfig } from '@hotdash/platform-config';
import { ControlTx, Databases, newId } from '@hotdash/platform-db';
import { QueueName, redisConnection } from '../queues';
import { Json, NonRetryableStepError, SagaDefinition, SagaRecord, SagaStatus, SagaStep, SagaStepContext } from './saga.types';

export interface SagaEngineOptions {
  /** Tries of a step before its failure is permanent (default 5); a step's own maxAttempts wins. */
  maxAttempts?: number;
  /** Tries of a compensation before the saga is marked failed for ops to look at (default 10). */
  maxCompensationAttempts?: number;
  /** First retry delay, doubled each try (default 200 ms). */
  backoffMs?: number;
  /** Jobs processed at once by this process's worker (default 10). */
  concurrency?: number;
  /** How long a worker's claim on a job lasts without renewal: a killed worker's job is retried after it (default 10 s). */
  lockDurationMs?: number;
  /** How often stalled jobs (of killed workers) are looked for (default 5 s). */
  stalledIntervalMs?: number;
  /** Queue name (tests use their own). */
  queueName?: string;
  log?: (msg: string) => void;
}

interface StepJob {
  sagaId: string;
  stepIndex: number;
  tenantId: string | null;
}

type JobKind = 'run' | 'compensate';

interface SagaRow {
  id: string;
  type: string;
  tenant_id: string | null;
  status: SagaRecord['status'];
  input: Json;
  state: Record<string, Json>;
  current_step: number;
  failed_step: string | null;
  last_error: string | null;
  pending_job: string | null;
  created_at: Date;
  finished_at: Date | null;
}

interface StepRow {
  step_index: number;
  step_id: string;
  status: SagaStatus['steps'][number]['status'];
  attempts: number;
  compensation_attempts: number;
  compensation_registered: boolean;
  non_retryable: boolean;
  last_error: string | null;
  started_at: Date | null;
  completed_at: Date | null;
  compensated_at: Date | null;
}

function toRecord(r: SagaRow): SagaRecord {
  return {
    id: r.id,
    type: r.type,
    tenantId: r.tenant_id as TenantId | null,
    status: r.status,
    input: r.input,
    state: r.state ?? {},
    currentStep: r.current_step,
    failedStep: r.failed_step,
    lastError: r.last_error,
  };
}

const errorText = (err: unknown): string => (err instanceof Error ? err.message : String(err)).slice(0, 2000);

/**
 * Runs sagas: persisted state machines in the control database whose steps run as BullMQ jobs.
 *
 * - A step's job is processed only while the saga is running and the step is its current one; a
 *   completed step is never run again (its job just advances the saga), so a redelivered job is
 *   harmless. Steps themselves are idempotent under the saga id for the crash between their effect
 *   and the commit that records them.
 * - Completing a step, registering its compensation and moving the saga on happen in one control
 *   transaction (with the definition's hook, which writes the outbox event); the next job is
 *   enqueued after that commit. A crash in between is repaired by resume(), which re-enqueues the
 *   current job of every unfinished saga (job ids are deterministic, so nothing is enqueued twice).
 * - A failure retries with exponential backoff; when the tries run out, or at once for a
 *   NonRetryableStepError, the step is marked failed and the registered compensations run, last
 *   first, each as its own retried job. A killed worker's job is taken over when its lock expires.
 */
export class SagaEngine {
  private readonly definitions = new Map<string, SagaDefinition>();
  private readonly connection: ReturnType<typeof redisConnection>;
  private readonly queue: Queue;
  private worker?: Worker;
  private readonly opts: Required<Omit<SagaEngineOptions, 'log'>> & Pick<SagaEngineOptions, 'log'>;

  constructor(
    private readonly dbs: Databases,
    config: PlatformConfig,
    options: SagaEngineOptions = {},
  ) {
    this.opts = {
      maxAttempts: options.maxAttempts ?? 5,
      maxCompensationAttempts: options.maxCompensationAttempts ?? 10,
      backoffMs: options.backoffMs ?? 200,
      concurrency: options.concurrency ?? 10,
      lockDurationMs: options.lockDurationMs ?? 10_000,
      stalledIntervalMs: options.stalledIntervalMs ?? 5_000,
      queueName: options.queueName ?? QueueName.SAGA_STEPS,
      log: options.log,
    };
    this.connection = redisConnection(config);
    this.queue = new Queue(this.opts.queueName, { connection: this.connection });
  }

  register<I extends Json>(definition: SagaDefinition<I>): this {
    const ids = new Set(definition.steps.map((s) => s.id));
    if (ids.size !== definition.steps.length) throw new Error(`saga ${definition.type} has duplicate step ids`);
    this.definitions.set(definition.type, definition as unknown as SagaDefinition);
    return this;
  }

  /**
   * Records a new saga (or finds the one started with the same idempotency key) and enqueues its
   * first step. With `tx`, the saga is recorded in the caller's control transaction and the caller
   * must call kick(sagaId) after committing.
   */
  async start<I extends Json>(
    type: string,
    input: I,
    options: { tenantId?: TenantId | null; idempotencyKey?: string; sagaId?: string; tx?: ControlTx } = {},
  ): Promise<{ sagaId: string; created: boolean }> {
    const def = this.definition(type);
    const create = async (tx: ControlTx): Promise<{ sagaId: string; created: boolean }> => {
      const sagaId = options.sagaId ?? newId();
      const inserted = await tx.$queryRaw<{ id: string }[]>`
        insert into sagas (id, type, tenant_id, status, input, idempotency_key)
        values (${sagaId}::uuid, ${type}, ${options.tenantId ?? null}::uuid, 'running', ${JSON.stringify(input)}::jsonb, ${options.idempotencyKey ?? null})
        on conflict (type, idempotency_key) do nothing returning id::text`;
      if (inserted.length === 0) {
        const existing = await tx.$queryRaw<{ id: string }[]>`select id::text from sagas where type = ${type} and idempotency_key = ${options.idempotencyKey ?? null}`;
        return { sagaId: existing[0]!.id, created: false };
      }
      await tx.$executeRaw`insert into saga_steps (saga_id, step_index, step_id, status)
        select ${sagaId}::uuid, i - 1, s, 'pending' from unnest(${def.steps.map((s) => s.id)}::text[]) with ordinality as t(s, i)`;
      const saga = await this.loadSaga(tx, sagaId);
      await def.hooks?.onStarted?.(tx, toRecord(saga!));
      return { sagaId, created: true };
    };
    if (options.tx) return create(options.tx);
    const result = await this.dbs.control().$transaction(create, { timeout: 10_000, maxWait: 10_000 });
    // A new saga waits for its first step (no need to look); a found one may wait for anything.
    if (result.created) await this.enqueue('run', { id: result.sagaId, tenant_id: options.tenantId ?? null }, 0);
    else await this.kick(result.sagaId);
    return result;
  }

  /** Enqueues the job an unfinished saga waits for, unless that job is still queued or running. */
  async kick(sagaId: string): Promise<void> {
    const saga = await this.loadSaga(this.dbs.control(), sagaId);
    if (!saga || (saga.status !== 'running' && saga.status !== 'compensating')) return;
    // The recorded job counts only if it is of the kind the saga waits for now: a run job left
    // over from before the saga switched to compensating (its worker killed in between) does not.
    const waitsFor: JobKind = saga.status === 'running' ? 'run' : 'compensate';
    if (saga.pending_job?.includes(`.${waitsFor}.`)) {
      const job = await this.queue.getJob(saga.pending_job);
      if (job && !(await job.isCompleted()) && !(await job.isFailed())) return;
    }
    if (saga.status === 'running') await this.enqueue('run', saga, saga.current_step, 0, Date.now());
    else {
      const next = await this.nextCompensation(this.dbs.control(), sagaId, Number.MAX_SAFE_INTEGER);
      if (next !== undefined) await this.enqueue('compensate', saga, next, 0, Date.now());
      else await this.finishCompensation(sagaId);
    }
  }

  /** Re-enqueues the pending job of every unfinished saga of the registered types: call at start-up, after a crash. */
  async resume(): Promise<number> {
    const types = [...this.definitions.keys()];
    const rows = await this.dbs.control().$queryRaw<{ id: string }[]>`select id::text from sagas
      where status in ('running', 'compensating') and type = any(${types}::text[])`;
    for (const r of rows) await this.kick(r.id);
    return rows.length;
  }

  /** Starts this process's worker. */
  startWorker(): void {
    if (this.worker) return;
    this.worker = new Worker<StepJob>(this.opts.queueName, (job) => this.process(job), {
      connection: this.connection,
      concurrency: this.opts.concurrency,
      lockDuration: this.opts.lockDurationMs,
      stalledInterval: this.opts.stalledIntervalMs,
      maxStalledCount: 1_000,
    });
    this.worker.on('error', (err) => this.opts.log?.(`[saga] worker error: ${err.message}`));
    // A processor that throws is an engine or database failure (steps' own errors are handled):
    // the saga's job is retried by resume()/kick() on the next start; say so loudly meanwhile.
    this.worker.on('failed', (job, err) => this.opts.log?.(`[saga] job ${job?.id} failed: ${err.message}`));
  }

  async status(sagaId: string): Promise<SagaStatus | undefined> {
    const control = this.dbs.control();
    const saga = await this.loadSaga(control, sagaId);
    if (!saga) return undefined;
    const def = this.definitions.get(saga.type);
    const steps = await control.$queryRaw<StepRow[]>`select step_index, step_id, status, attempts, compensation_attempts, compensation_registered,
      non_retryable, last_error, started_at, completed_at, compensated_at from saga_steps where saga_id = ${sagaId}::uuid order by step_index`;
    return {
      ...toRecord(saga),
      createdAt: saga.created_at.toISOString(),
      finishedAt: saga.finished_at?.toISOString() ?? null,
      steps: steps.map((s) => ({
        index: s.step_index,
        id: s.step_id,
        description: def?.steps[s.step_index]?.description ?? '',
        status: s.status,
        attempts: s.attempts,
        compensationAttempts: s.compensation_attempts,
        compensationRegistered: s.compensation_registered,
        nonRetryable: s.non_retryable,
        lastError: s.last_error,
        startedAt: s.started_at?.toISOString() ?? null,
        completedAt: s.completed_at?.toISOString() ?? null,
        compensatedAt: s.compensated_at?.toISOString() ?? null,
      })),
    };
  }

  async close(): Promise<void> {
    await this.worker?.close();
    await this.queue.close();
  }

  // ------------------------------------------------------------------ processing

  private definition(type: string): SagaDefinition {
    const def = this.definitions.get(type);
    if (!def) throw new Error(`no saga definition registered for ${type}`);
    return def;
  }

  private async process(job: Job<StepJob>): Promise<string> {
    const kind = job.name as JobKind;
    const saga = await this.loadSaga(this.dbs.control(), job.data.sagaId);
    if (!saga) return 'skipped: saga gone';
    const def = this.definition(saga.type);
    const step = def.steps[job.data.stepIndex];
    if (!step) throw new NonRetryableStepError(`saga ${saga.type} has no step ${job.data.stepIndex}`);
    if (kind !== 'run') return this.compensateStep(job, def, saga, step);
    // The job keeps running the saga's next steps itself while they succeed: each completion is
    // still recorded (and resumable) before the next step starts, without a queue hop per step.
    let current: SagaRow = saga;
    let index = job.data.stepIndex;
    for (;;) {
      const result = await this.runStep(index, def, current, def.steps[index]!);
      if (typeof result === 'string') return result;
      current = result.saga;
      index = result.next;
    }
  }

  private context(saga: SagaRow, attempt: number): SagaStepContext {
    return { sagaId: saga.id, tenantId: saga.tenant_id as TenantId | null, input: saga.input, state: saga.state ?? {}, attempt };
  }

  /** Runs one step; returns what happened, or the saga to go on with when the next step may run at once. */
  private async runStep(index: number, def: SagaDefinition, saga: SagaRow, step: SagaStep): Promise<string | { next: number; saga: SagaRow }> {
    if (saga.status !== 'running') {
      // Switched to compensating by a worker killed before it enqueued the compensation: carry on for it.
      if (saga.status === 'compensating') await this.kick(saga.id);
      return `skipped: saga ${saga.status}`;
    }
    if (saga.current_step > index) {
      // Completed before (a redelivered job, or resume() after a crash): just make sure the saga moves on.
      await this.enqueueAfter(saga.id, index);
      return 'skipped: already completed';
    }
    if (saga.current_step < index) return 'skipped: not yet';
    const [row] = await this.dbs.control().$queryRaw<{ attempts: number }[]>`
      update saga_steps set status = 'running', attempts = attempts + 1, started_at = coalesce(started_at, now())
      where saga_id = ${saga.id}::uuid and step_index = ${index} returning attempts`;
    const attempt = row!.attempts;
    let output: Json;
    try {
      output = ((await step.run(this.context(saga, attempt))) ?? null) as Json;
    } catch (err) {
      const maxAttempts = step.maxAttempts ?? this.opts.maxAttempts;
      const permanent = err instanceof NonRetryableStepError || attempt >= maxAttempts;
      await this.dbs.control().$executeRaw`update saga_steps set last_error = ${errorText(err)}, non_retryable = ${err instanceof NonRetryableStepError}
        where saga_id = ${saga.id}::uuid and step_index = ${index}`;
      if (!permanent) {
        this.opts.log?.(`[saga] ${saga.type} ${saga.id} step ${step.id} attempt ${attempt}/${maxAttempts} failed: ${errorText(err)}`);
        await this.enqueue('run', saga, index, this.opts.backoffMs * 2 ** (attempt - 1), attempt);
        return 'retrying';
      }
      await this.fail(def, saga, step, index, errorText(err));
      return 'failed';
    }
    const finished = await this.dbs.control().$transaction(
      async (tx) => {
        // One statement moves the saga on and hands back its new state (no reload).
        const [updated] = await tx.$queryRaw<SagaRow[]>`update sagas set current_step = ${index + 1}, updated_at = now(),
          state = state || jsonb_build_object(${step.id}::text, ${JSON.stringify(output)}::jsonb)
          where id = ${saga.id}::uuid and status = 'running' and current_step = ${index}
          returning id::text, type, tenant_id::text, status, input, state, current_step, failed_step, last_error, pending_job, created_at, finished_at`;
        if (!updated) return undefined; // someone else completed it meanwhile
        await tx.$executeRaw`update saga_steps set status = 'completed', completed_at = now(), last_error = null,
          compensation_registered = ${typeof step.compensate === 'function'} where saga_id = ${saga.id}::uuid and step_index = ${index}`;
        await def.hooks?.onStepCompleted?.(tx, toRecord(updated), step, output);
        const last = index + 1 >= def.steps.length;
        if (last) {
          await tx.$executeRaw`update sagas set status = 'completed', finished_at = now(), updated_at = now() where id = ${saga.id}::uuid`;
          await def.hooks?.onCompleted?.(tx, toRecord({ ...updated, status: 'completed' }));
        }
        return { last, updated };
      },
      { timeout: 15_000, maxWait: 10_000 },
    );
    if (!finished) return 'completed elsewhere';
    if (finished.last) return 'completed';
    return { next: index + 1, saga: finished.updated };
  }

  /** A step failed for good: mark it, switch the saga to compensating, start with the last registered compensation. */
  private async fail(def: SagaDefinition, saga: SagaRow, step: SagaStep, index: number, reason: string): Promise<void> {
    const switched = await this.dbs.control().$transaction(
      async (tx) => {
        const n = await tx.$executeRaw`update sagas set status = 'compensating', failed_step = ${step.id}, last_error = ${reason}, updated_at = now()
          where id = ${saga.id}::uuid and status = 'running' and current_step = ${index}`;
        if (n === 0) return false;
        await tx.$executeRaw`update saga_steps set status = 'failed' where saga_id = ${saga.id}::uuid and step_index = ${index}`;
        await def.hooks?.onFailed?.(tx, toRecord({ ...saga, status: 'compensating', failed_step: step.id, last_error: reason }), step.id, reason);
        return true;
      },
      { timeout: 15_000, maxWait: 10_000 },
    );
    if (!switched) return;
    this.opts.log?.(`[saga] ${saga.type} ${saga.id} step ${step.id} failed for good, compensating: ${reason}`);
    // Not kick(): the job being processed is still the saga's pending one.
    await this.afterCompensation(def, saga.id, Number.MAX_SAFE_INTEGER);
  }

  private async compensateStep(job: Job<StepJob>, def: SagaDefinition, saga: SagaRow, step: SagaStep): Promise<string> {
    const index = job.data.stepIndex;
    if (saga.status !== 'compensating') return `skipped: saga ${saga.status}`;
    const [row] = await this.dbs.control().$queryRaw<{ compensation_attempts: number; status: string; compensation_registered: boolean }[]>`
      update saga_steps set status = case when status = 'completed' then 'compensating' else status end,
        compensation_attempts = compensation_attempts + case when status in ('completed', 'compensating') then 1 else 0 end
      where saga_id = ${saga.id}::uuid and step_index = ${index} returning compensation_attempts, status, compensation_registered`;
    if (!row || !row.compensation_registered || row.status !== 'compensating') {
      await this.afterCompensation(def, saga.id, index);
      return 'skipped: nothing to compensate';
    }
    const attempt = row.compensation_attempts;
    try {
      await step.compensate!(this.context(saga, attempt));
    } catch (err) {
      await this.dbs.control().$executeRaw`update saga_steps set last_error = ${errorText(err)} where saga_id = ${saga.id}::uuid and step_index = ${index}`;
      if (attempt < this.opts.maxCompensationAttempts) {
        this.opts.log?.(`[saga] ${saga.type} ${saga.id} compensation of ${step.id} attempt ${attempt} failed: ${errorText(err)}`);
        await this.enqueue('compensate', saga, index, this.opts.backoffMs * 2 ** (attempt - 1), attempt);
        return 'retrying';
      }
      // Compensations must not give up silently: the saga stops here, failed, for ops to finish by hand.
      await this.dbs.control().$executeRaw`update sagas set status = 'failed', finished_at = now(), updated_at = now(),
        last_error = ${`compensation of ${step.id} failed: ${errorText(err)}`} where id = ${saga.id}::uuid and status = 'compensating'`;
      return 'failed';
    }
    await this.dbs.control().$executeRaw`update saga_steps set status = 'compensated', compensated_at = now()
      where saga_id = ${saga.id}::uuid and step_index = ${index} and status = 'compensating'`;
    await this.afterCompensation(def, saga.id, index);
    return 'compensated';
  }

  private async afterCompensation(def: SagaDefinition, sagaId: string, index: number): Promise<void> {
    const next = await this.nextCompensation(this.dbs.control(), sagaId, index);
    if (next !== undefined) {
      const saga = (await this.loadSaga(this.dbs.control(), sagaId))!;
      await this.enqueue('compensate', saga, next);
    } else await this.finishCompensation(sagaId, def);
  }

  private async finishCompensation(sagaId: string, def?: SagaDefinition): Promise<void> {
    await this.dbs.control().$transaction(
      async (tx) => {
        const n = await tx.$executeRaw`update sagas set status = 'compensated', finished_at = now(), updated_at = now()
          where id = ${sagaId}::uuid and status = 'compensating'`;
        if (n === 0) return;
        const saga = (await this.loadSaga(tx, sagaId))!;
        await (def ?? this.definition(saga.type)).hooks?.onCompensated?.(tx, toRecord(saga));
      },
      { timeout: 15_000, maxWait: 10_000 },
    );
  }

  /** Highest step below `below` whose compensation is registered and has not run to completion. */
  private async nextCompensation(db: Pick<ControlTx, '$queryRaw'>, sagaId: string, below: number): Promise<number | undefined> {
    const rows = await db.$queryRaw<{ step_index: number }[]>`select step_index from saga_steps
      where saga_id = ${sagaId}::uuid and step_index < ${below}::bigint and compensation_registered and status in ('completed', 'compensating')
      order by step_index desc limit 1`;
    return rows[0]?.step_index;
  }

  private async enqueueAfter(sagaId: string, index: number): Promise<void> {
    const saga = await this.loadSaga(this.dbs.control(), sagaId);
    if (saga?.status === 'running' && saga.current_step > index) await this.enqueue('run', saga, saga.current_step);
  }

  /**
   * Enqueues the saga's next job and records it as the one the saga waits for. Ids are deterministic
   * per (saga, kind, step, try), so a repeated call never queues the same job twice.
   */
  private async enqueue(kind: JobKind, saga: Pick<SagaRow, 'id' | 'tenant_id'>, stepIndex: number, delayMs = 0, attempt: number | string = 0): Promise<void> {
    const jobId = `${saga.id}.${kind}.${stepIndex}.${attempt}`;
    await this.dbs.control().$executeRaw`update sagas set pending_job = ${jobId} where id = ${saga.id}::uuid`;
    await this.queue.add(kind, { sagaId: saga.id, stepIndex, tenantId: saga.tenant_id }, { jobId, delay: delayMs, removeOnComplete: true, removeOnFail: 1_000, attempts: 1 });
  }

  private async loadSaga(db: Pick<ControlTx, '$queryRaw'>, sagaId: string): Promise<SagaRow | undefined> {
    const rows = await db.$queryRaw<SagaRow[]>`select id::text, type, tenant_id::text, status, input, state, current_step, failed_step, last_error, pending_job, created_at, finished_at
      from sagas where id = ${sagaId}::uuid`;
    return rows[0];
  }
}

