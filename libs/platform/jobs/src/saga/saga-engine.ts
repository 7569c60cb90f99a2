import { Job, Queue, Worker } from 'bullmq';
import { type Kysely, sql } from 'kysely';
import type { TenantId } from '@hotdash/contracts';
import { isStoreUnavailable, type PlatformConfig } from '@hotdash/platform-config';
import { type ControlDB, type ControlTransaction, Databases, newId } from '@hotdash/platform-db';
import { QueueName, queueOptions } from '../queues';
import { redisProbe } from '../redis';
import { retryWhenStoresDown } from '../store-outage';
import { Json, NonRetryableStepError, SagaDefinition, SagaOutboxRow, SagaRecord, SagaStatus, SagaStep, SagaStepContext, StepPendingError } from './saga.types';

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
  /** On the run job after a StepPendingError: how many times in a row the step waited so far. */
  waits?: number;
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

/** The jsonb object that, merged into a saga's input, clears its forgetOnEnd fields. */
const forgotten = (def: SagaDefinition): string => JSON.stringify(Object.fromEntries((def.forgetOnEnd ?? []).map((k) => [k, null])));

type ControlKysely = Kysely<ControlDB>;

/** The columns of a saga the engine works with (SagaRow). */
const SAGA_COLUMNS = ['id', 'type', 'tenant_id', 'status', 'input', 'state', 'current_step', 'failed_step', 'last_error', 'pending_job', 'created_at', 'finished_at'] as const;

// The hot-path transitions: SQL functions in the control plane's migrations, called on the control
// plane's typed layer (Databases.controlDb(): the driver pool, named prepared statements) as Kysely
// `sql` templates, the builder having no form for a call of a set-returning function. Prisma's
// raw-query path cost ~3× the Node CPU per call (bench/control-call.bench.ts), ~0.8 ms per saga of
// nine calls.
const sagaStart = (id: string, type: string, tenantId: string | null, input: string, key: string | null, firstJob: string, steps: string[], events: string) =>
  sql<{ id: string | null }>`select saga_start(${id}::uuid, ${type}::text, ${tenantId}::uuid, ${input}::jsonb, ${key}::text, ${firstJob}::text, ${steps}::text[], ${events}::jsonb)::text as id`;
const sagaClaimStep = (sagaId: string, index: number) =>
  sql<SagaRow & { attempt: number | null }>`select id, type, tenant_id, status, input, state, current_step, failed_step, last_error, pending_job, created_at, finished_at, attempt
    from saga_claim_step(${sagaId}::uuid, ${index}::int)`;
const sagaCompleteStep = (sagaId: string, index: number, stepId: string, output: string, compensable: boolean, last: boolean, forget: string, events: string) =>
  sql<{ next_attempt: number | null }>`select saga_complete_step(${sagaId}::uuid, ${index}::int, ${stepId}::text, ${output}::jsonb, ${compensable}::boolean,
    ${last}::boolean, ${forget}::jsonb, ${events}::jsonb) as next_attempt`;

/**
 * Job ids are deterministic per (saga, kind, step, try), and for a step that waits per (try, wait):
 * `<try>w<wait>`. Enqueueing the same job twice queues it once.
 */
const jobIdOf = (sagaId: string, kind: JobKind, stepIndex: number, attempt: number | string): string => `${sagaId}.${kind}.${stepIndex}.${attempt}`;
const jobOptions = (jobId: string, delay: number) => ({ jobId, delay, removeOnComplete: true, removeOnFail: 1_000, attempts: 1 });

const errorText = (err: unknown): string => (err instanceof Error ? err.message : String(err)).slice(0, 2000);

/**
 * Runs sagas: persisted state machines in the control database whose steps run as BullMQ jobs.
 *
 * - A step's job is processed only while the saga is running and the step is its current one; a
 *   completed step is never run again (its job just advances the saga), so a redelivered job is
 *   harmless. Steps themselves are idempotent under the saga id for the crash between their effect
 *   and the commit that records them.
 * - Completing a step, registering its compensation, moving the saga on and writing the step's
 *   outbox events happen in one control-plane statement (a PL/pgSQL function, so its plan is kept);
 *   the job then runs the next step itself (already marked running by that statement). A crash in
 *   between is repaired by resume(), which re-enqueues the current job of every unfinished saga
 *   (job ids are deterministic, so nothing is enqueued twice).
 * - A failure retries with exponential backoff; when the tries run out, or at once for a
 *   NonRetryableStepError, the step is marked failed and the registered compensations run, last
 *   first, each as its own retried job. A killed worker's job is taken over when its lock expires.
 * - A step that waits for something outside it (another saga) throws StepPendingError: the step
 *   runs again after the delay it names, as a delayed job, without counting a try; no worker slot is
 *   held while it waits, so sagas waiting for other sagas never starve the ones they wait for.
 */
export class SagaEngine {
  private readonly definitions = new Map<string, SagaDefinition>();
  private readonly connection: ReturnType<typeof queueOptions>;
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
    this.connection = queueOptions(config, this.opts.queueName);
    this.queue = new Queue(this.opts.queueName, this.connection);
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
    options: { tenantId?: TenantId | null; idempotencyKey?: string; sagaId?: string; tx?: ControlTransaction } = {},
  ): Promise<{ sagaId: string; created: boolean }> {
    const def = this.definition(type);
    const sagaId = options.sagaId ?? newId();
    const tenantId = options.tenantId ?? null;
    const key = options.idempotencyKey ?? null;
    const firstJob = jobIdOf(sagaId, 'run', 0, 0);
    const record: SagaRecord = { id: sagaId, type, tenantId, status: 'running', input, state: {}, currentStep: 0, failedStep: null, lastError: null };
    const events = def.hooks?.startedEvents?.(record) ?? [];
    const db = options.tx?.db ?? this.dbs.controlDb();
    // One call records the saga, its steps and its started events, and names its first job (the
    // function saga_start, in the control plane's migrations); with an idempotency key already
    // used, nothing is written and the existing saga is answered.
    const {
      rows: [row],
    } = await sagaStart(sagaId, type, tenantId, JSON.stringify(input), key, firstJob, def.steps.map((s) => s.id), JSON.stringify(events)).execute(db);
    if (row?.id) {
      // A new saga waits for its first step (no need to look). With the caller's transaction, the caller kicks after commit.
      if (!options.tx) await this.queue.add('run', { sagaId, stepIndex: 0, tenantId }, jobOptions(firstJob, 0));
      return { sagaId, created: true };
    }
    // The key's saga (committed by a concurrent sign-up, maybe after saga_start's snapshot).
    const existing = key === null ? undefined : await this.sagaByKey(db, type, key);
    if (!existing) throw new Error(`saga ${type} with idempotency key ${key} neither created nor found`);
    if (!options.tx) await this.kick(existing.id);
    return { sagaId: existing.id, created: false };
  }

  /** Enqueues the job an unfinished saga waits for, unless that job is still queued or running. */
  async kick(sagaId: string): Promise<void> {
    const saga = await this.loadSaga(this.dbs.controlDb(), sagaId);
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
      const next = await this.nextCompensation(this.dbs.controlDb(), sagaId, Number.MAX_SAFE_INTEGER);
      if (next !== undefined) await this.enqueue('compensate', saga, next, 0, Date.now());
      else await this.finishCompensation(sagaId);
    }
  }

  /** Re-enqueues the pending job of every unfinished saga of the registered types: call at start-up, after a crash. */
  async resume(): Promise<number> {
    const types = [...this.definitions.keys()];
    const rows = await this.dbs
      .controlDb()
      .selectFrom('sagas')
      .select('id')
      .where('status', 'in', ['running', 'compensating'])
      .where((eb) => eb('type', '=', eb.fn.any(eb.val(types))))
      .execute();
    for (const r of rows) await this.kick(r.id);
    return rows.length;
  }

  /** Starts this process's worker. */
  startWorker(): void {
    if (this.worker) return;
    // A store down while the engine itself reads or writes the saga: the job runs again later.
    this.worker = new Worker<StepJob>(this.opts.queueName, retryWhenStoresDown((job: Job<StepJob>) => this.process(job), { log: this.opts.log }), {
      ...this.connection,
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

  /** The id of a tenant's latest saga of a type (its provisioning, its offboarding), if it has one. */
  async latestOf(type: string, tenantId: TenantId): Promise<string | undefined> {
    const row = await this.dbs
      .controlDb()
      .selectFrom('sagas')
      .select('id')
      .where('type', '=', type)
      .where('tenant_id', '=', tenantId)
      .orderBy('created_at', 'desc')
      .limit(1)
      .executeTakeFirst();
    return row?.id;
  }

  /** The unfinished (running or compensating) sagas of a type, oldest first, with their tenants (a rebalance leaves those tenants where they are). */
  async unfinished(type: string): Promise<{ id: string; tenantId: TenantId | null }[]> {
    const rows = await this.dbs.controlDb().selectFrom('sagas').select(['id', 'tenant_id']).where('status', 'in', ['running', 'compensating']).where('type', '=', type).orderBy('created_at').execute();
    return rows.map((r) => ({ id: r.id, tenantId: r.tenant_id as TenantId | null }));
  }

  /** The id of the saga of a type started with an idempotency key, if there is one. */
  async byIdempotencyKey(type: string, idempotencyKey: string): Promise<string | undefined> {
    return (await this.sagaByKey(this.dbs.controlDb(), type, idempotencyKey))?.id;
  }

  async status(sagaId: string): Promise<SagaStatus | undefined> {
    const control = this.dbs.controlDb();
    const saga = await this.loadSaga(control, sagaId);
    if (!saga) return undefined;
    const def = this.definitions.get(saga.type);
    const steps = (await control
      .selectFrom('saga_steps')
      .select(['step_index', 'step_id', 'status', 'attempts', 'compensation_attempts', 'compensation_registered', 'non_retryable', 'last_error', 'started_at', 'completed_at', 'compensated_at'])
      .where('saga_id', '=', sagaId)
      .orderBy('step_index')
      .execute()) as StepRow[];
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

  /** Readiness: PING on the saga queue's Redis connection (see redisProbe). */
  redisProbe(): ReturnType<typeof redisProbe> {
    return redisProbe(() => this.queue.getBackend().client);
  }

  // ------------------------------------------------------------------ processing

  private definition(type: string): SagaDefinition {
    const def = this.definitions.get(type);
    if (!def) throw new Error(`no saga definition registered for ${type}`);
    return def;
  }

  private async process(job: Job<StepJob>): Promise<string> {
    const kind = job.name as JobKind;
    if (kind !== 'run') {
      const saga = await this.loadSaga(this.dbs.controlDb(), job.data.sagaId);
      if (!saga) return 'skipped: saga gone';
      const def = this.definition(saga.type);
      const step = def.steps[job.data.stepIndex];
      if (!step) throw new NonRetryableStepError(`saga ${saga.type} has no step ${job.data.stepIndex}`);
      return this.compensateStep(job, def, saga, step);
    }
    // One call loads the saga and, when it is running at this step, marks the step running and
    // counts the try (before the step runs, so a step that kills its worker still uses up its tries).
    const {
      rows: [claimed],
    } = await sagaClaimStep(job.data.sagaId, job.data.stepIndex).execute(this.dbs.controlDb());
    if (!claimed) return 'skipped: saga gone';
    const { attempt: claimed0, ...saga } = claimed;
    // After a wait (StepPendingError), the step's run goes on with the same try: the claim's count is given back.
    const claimedAttempt = job.data.waits && claimed0 !== null ? await this.giveBackTry(saga.id, job.data.stepIndex, claimed0) : claimed0;
    const def = this.definition(saga.type);
    if (!def.steps[job.data.stepIndex]) throw new NonRetryableStepError(`saga ${saga.type} has no step ${job.data.stepIndex}`);
    // The job keeps running the saga's next steps itself while they succeed: each completion is
    // still recorded (and resumable) before the next step starts, without a queue hop per step.
    let current: SagaRow = saga;
    let index = job.data.stepIndex;
    let attempt: number | null = claimedAttempt;
    for (;;) {
      // The job's waits count for the step it was enqueued for; a step reached by the chain starts at 0.
      const waits = index === job.data.stepIndex ? (job.data.waits ?? 0) : 0;
      const result = await this.runStep(index, def, current, def.steps[index]!, attempt, waits);
      if (typeof result === 'string') return result;
      ({ saga: current, next: index, attempt } = result);
    }
  }

  private context(saga: SagaRow, attempt: number, waits = 0): SagaStepContext {
    return { sagaId: saga.id, tenantId: saga.tenant_id as TenantId | null, input: saga.input, state: saga.state ?? {}, attempt, waits };
  }

  /**
   * Runs one step; returns what happened, or the saga to go on with when the next step may run at
   * once (already marked running, with its attempt number). `marked` is the step's attempt when it
   * was marked running (by the job's claim or the previous step's completion), null when it was not;
   * `waits`, how many times in a row this try said StepPendingError before.
   */
  private async runStep(
    index: number,
    def: SagaDefinition,
    saga: SagaRow,
    step: SagaStep,
    marked: number | null,
    waits: number,
  ): Promise<string | { next: number; saga: SagaRow; attempt: number }> {
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
    if (saga.current_step < index || marked === null) return 'skipped: not yet';
    const attempt = marked;
    let output: Json;
    try {
      output = ((await step.run(this.context(saga, attempt, waits))) ?? null) as Json;
    } catch (err) {
      if (err instanceof StepPendingError) return this.wait(saga, step, index, attempt, waits + 1, err);
      // A store that is down (the database restarting, Weaviate unreachable) fails no step: it waits
      // like a step that said "not yet", with the same try.
      if (isStoreUnavailable(err)) return this.wait(saga, step, index, attempt, waits + 1, new StepPendingError(`waiting for a store: ${errorText(err)}`, 1_000));
      const maxAttempts = step.maxAttempts ?? this.opts.maxAttempts;
      const permanent = err instanceof NonRetryableStepError || attempt >= maxAttempts;
      await this.dbs
        .controlDb()
        .updateTable('saga_steps')
        .set({ last_error: errorText(err), non_retryable: err instanceof NonRetryableStepError })
        .where('saga_id', '=', saga.id)
        .where('step_index', '=', index)
        .execute();
      if (!permanent) {
        this.opts.log?.(`[saga] ${saga.type} ${saga.id} step ${step.id} attempt ${attempt}/${maxAttempts} failed: ${errorText(err)}`);
        await this.enqueue('run', saga, index, this.opts.backoffMs * 2 ** (attempt - 1), attempt);
        return 'retrying';
      }
      await this.fail(def, saga, step, index, errorText(err));
      return 'failed';
    }
    const record = toRecord(saga);
    const events = def.hooks?.stepCompletedEvents?.(record, step, output) ?? [];
    const last = index + 1 >= def.steps.length;
    if (last) events.push(...(def.hooks?.completedEvents?.({ ...record, status: 'completed', currentStep: index + 1, state: { ...record.state, [step.id]: output } }) ?? []));
    return this.recordCompletion(def, saga, step, index, output, events, last);
  }

  /** The try a run after a wait counted when it claimed the step, given back (it is the same try as before the wait); returns that try. */
  private async giveBackTry(sagaId: string, index: number, claimed: number): Promise<number> {
    await this.dbs
      .controlDb()
      .updateTable('saga_steps')
      .set((eb) => ({ attempts: eb('attempts', '-', 1) }))
      .where('saga_id', '=', sagaId)
      .where('step_index', '=', index)
      .where('status', '=', 'running')
      .where('attempts', '=', claimed)
      .execute();
    return Math.max(1, claimed - 1);
  }

  /**
   * A step said "not yet": it runs again after the delay, as a delayed job (no worker slot is held
   * meanwhile), with the same try (its claim gives the count back).
   */
  private async wait(saga: SagaRow, step: SagaStep, index: number, attempt: number, waits: number, err: StepPendingError): Promise<string> {
    if (waits % 100 === 0) this.opts.log?.(`[saga] ${saga.type} ${saga.id} step ${step.id} waits (${waits}): ${errorText(err)}`);
    await this.enqueue('run', saga, index, Math.max(0, err.retryAfterMs), `${attempt}w${waits}`, waits);
    return 'waiting';
  }

  /**
   * Records a step's completion in one call of saga_complete_step (no interactive transaction: this
   * is the engine's hot path): the saga moves on (after the last step it completes, its
   * forgetOnEnd input fields cleared), the step is completed with its compensation registered, the
   * next step is marked running, and the outbox events are written. Only if the saga was still at
   * this step, so a late duplicate changes nothing.
   */
  private async recordCompletion(
    def: SagaDefinition,
    saga: SagaRow,
    step: SagaStep,
    index: number,
    output: Json,
    events: SagaOutboxRow[],
    last: boolean,
  ): Promise<string | { next: number; saga: SagaRow; attempt: number }> {
    const {
      rows: [row],
    } = await sagaCompleteStep(saga.id, index, step.id, JSON.stringify(output), typeof step.compensate === 'function', last, forgotten(def), JSON.stringify(events)).execute(
      this.dbs.controlDb(),
    );
    if (row?.next_attempt == null) return 'completed elsewhere';
    if (last) return 'completed';
    const moved: SagaRow = { ...saga, current_step: index + 1, state: { ...(saga.state ?? {}), [step.id]: output } };
    return { next: index + 1, saga: moved, attempt: row.next_attempt };
  }

  /** A step failed for good: mark it, switch the saga to compensating, start with the last registered compensation. */
  private async fail(def: SagaDefinition, saga: SagaRow, step: SagaStep, index: number, reason: string): Promise<void> {
    const switched = await this.dbs.withControl(
      async (tx) => {
        const { numUpdatedRows } = await tx.db
          .updateTable('sagas')
          .set({ status: 'compensating', failed_step: step.id, last_error: reason, updated_at: sql`now()` })
          .where('id', '=', saga.id)
          .where('status', '=', 'running')
          .where('current_step', '=', index)
          .executeTakeFirst();
        if (numUpdatedRows === 0n) return false;
        await tx.db.updateTable('saga_steps').set({ status: 'failed' }).where('saga_id', '=', saga.id).where('step_index', '=', index).execute();
        await def.hooks?.onFailed?.(tx, toRecord({ ...saga, status: 'compensating', failed_step: step.id, last_error: reason }), step.id, reason);
        return true;
      },
      { timeoutMs: 15_000 },
    );
    if (!switched) return;
    this.opts.log?.(`[saga] ${saga.type} ${saga.id} step ${step.id} failed for good, compensating: ${reason}`);
    // Not kick(): the job being processed is still the saga's pending one.
    await this.afterCompensation(def, saga.id, Number.MAX_SAFE_INTEGER);
  }

  private async compensateStep(job: Job<StepJob>, def: SagaDefinition, saga: SagaRow, step: SagaStep): Promise<string> {
    const index = job.data.stepIndex;
    if (saga.status !== 'compensating') return `skipped: saga ${saga.status}`;
    // Both expressions read the row as it was before this update.
    const row = await this.dbs
      .controlDb()
      .updateTable('saga_steps')
      .set((eb) => ({
        status: eb.case().when('status', '=', 'completed').then('compensating').else(eb.ref('status')).end(),
        compensation_attempts: eb('compensation_attempts', '+', eb.case().when('status', 'in', ['completed', 'compensating']).then(1).else(0).end()),
      }))
      .where('saga_id', '=', saga.id)
      .where('step_index', '=', index)
      .returning(['compensation_attempts', 'status', 'compensation_registered'])
      .executeTakeFirst();
    if (!row || !row.compensation_registered || row.status !== 'compensating') {
      await this.afterCompensation(def, saga.id, index);
      return 'skipped: nothing to compensate';
    }
    const attempt = row.compensation_attempts;
    try {
      await step.compensate!(this.context(saga, attempt));
    } catch (err) {
      await this.dbs.controlDb().updateTable('saga_steps').set({ last_error: errorText(err) }).where('saga_id', '=', saga.id).where('step_index', '=', index).execute();
      if (attempt < this.opts.maxCompensationAttempts) {
        this.opts.log?.(`[saga] ${saga.type} ${saga.id} compensation of ${step.id} attempt ${attempt} failed: ${errorText(err)}`);
        await this.enqueue('compensate', saga, index, this.opts.backoffMs * 2 ** (attempt - 1), attempt);
        return 'retrying';
      }
      // Compensations must not give up silently: the saga stops here, failed, for ops to finish by hand
      // (its forgetOnEnd input fields cleared: it has ended, no step of it runs again).
      await this.dbs
        .controlDb()
        .updateTable('sagas')
        .set((eb) => ({
          status: 'failed',
          finished_at: sql`now()`,
          updated_at: sql`now()`,
          last_error: `compensation of ${step.id} failed: ${errorText(err)}`,
          input: eb('input', '||', eb.cast(eb.val(forgotten(def)), 'jsonb')),
        }))
        .where('id', '=', saga.id)
        .where('status', '=', 'compensating')
        .execute();
      return 'failed';
    }
    await this.dbs
      .controlDb()
      .updateTable('saga_steps')
      .set({ status: 'compensated', compensated_at: sql`now()` })
      .where('saga_id', '=', saga.id)
      .where('step_index', '=', index)
      .where('status', '=', 'compensating')
      .execute();
    await this.afterCompensation(def, saga.id, index);
    return 'compensated';
  }

  private async afterCompensation(def: SagaDefinition, sagaId: string, index: number): Promise<void> {
    const next = await this.nextCompensation(this.dbs.controlDb(), sagaId, index);
    if (next !== undefined) {
      const saga = (await this.loadSaga(this.dbs.controlDb(), sagaId))!;
      await this.enqueue('compensate', saga, next);
    } else await this.finishCompensation(sagaId, def);
  }

  private async finishCompensation(sagaId: string, def?: SagaDefinition): Promise<void> {
    await this.dbs.withControl(
      async (tx) => {
        const saga = (await this.loadSaga(tx.db, sagaId))!;
        const d = def ?? this.definition(saga.type);
        const { numUpdatedRows } = await tx.db
          .updateTable('sagas')
          .set((eb) => ({ status: 'compensated', finished_at: sql`now()`, updated_at: sql`now()`, input: eb('input', '||', eb.cast(eb.val(forgotten(d)), 'jsonb')) }))
          .where('id', '=', sagaId)
          .where('status', '=', 'compensating')
          .executeTakeFirst();
        if (numUpdatedRows === 0n) return;
        await d.hooks?.onCompensated?.(tx, toRecord({ ...saga, status: 'compensated' }));
      },
      { timeoutMs: 15_000 },
    );
  }

  /** Highest step below `below` whose compensation is registered and has not run to completion. */
  private async nextCompensation(db: ControlKysely, sagaId: string, below: number): Promise<number | undefined> {
    const row = await db
      .selectFrom('saga_steps')
      .select('step_index')
      .where('saga_id', '=', sagaId)
      // bigint: `below` may be past the int4 range (Number.MAX_SAFE_INTEGER for "any step").
      .where((eb) => eb('step_index', '<', eb.cast<number>(eb.val(below), 'bigint')))
      .where('compensation_registered', '=', true)
      .where('status', 'in', ['completed', 'compensating'])
      .orderBy('step_index', 'desc')
      .limit(1)
      .executeTakeFirst();
    return row?.step_index;
  }

  private async enqueueAfter(sagaId: string, index: number): Promise<void> {
    const saga = await this.loadSaga(this.dbs.controlDb(), sagaId);
    if (saga?.status === 'running' && saga.current_step > index) await this.enqueue('run', saga, saga.current_step);
  }

  /**
   * Enqueues the saga's next job and records it as the one the saga waits for. Ids are deterministic
   * per (saga, kind, step, try), so a repeated call never queues the same job twice.
   */
  private async enqueue(kind: JobKind, saga: Pick<SagaRow, 'id' | 'tenant_id'>, stepIndex: number, delayMs = 0, attempt: number | string = 0, waits?: number): Promise<void> {
    const jobId = jobIdOf(saga.id, kind, stepIndex, attempt);
    await this.dbs.controlDb().updateTable('sagas').set({ pending_job: jobId }).where('id', '=', saga.id).execute();
    const data: StepJob = { sagaId: saga.id, stepIndex, tenantId: saga.tenant_id, ...(waits ? { waits } : {}) };
    await this.queue.add(kind, data, jobOptions(jobId, delayMs));
  }

  private async loadSaga(db: ControlKysely, sagaId: string): Promise<SagaRow | undefined> {
    return (await db.selectFrom('sagas').select(SAGA_COLUMNS).where('id', '=', sagaId).executeTakeFirst()) as SagaRow | undefined;
  }

  /** The saga of a type started with an idempotency key. */
  private sagaByKey(db: ControlKysely, type: string, key: string): Promise<{ id: string } | undefined> {
    return db.selectFrom('sagas').select('id').where('type', '=', type).where('idempotency_key', '=', key).executeTakeFirst();
  }
}

