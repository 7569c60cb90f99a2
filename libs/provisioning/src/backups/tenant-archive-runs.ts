import { Inject, Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import { BackupProblems, type TenantArchiveRun, type TenantArchiveStep } from '@hotdash/contracts';
import { ControlDatabase, newId } from '@hotdash/platform-db';
import { notFound, ProblemException } from '@hotdash/platform-http';
import { VectorStoreError } from '@hotdash/platform-vector';
import { ArchiveCorruptError } from './archive-format';
import { TenantArchiveRunsRepository } from './tenant-archive-runs.repository';

/** A running run writes its progress at least this often (a heartbeat when nothing changed). */
export const ARCHIVE_RUN_HEARTBEAT_MS = 5_000;
/** A running run not heard of for this long lost its process: it is recorded as interrupted. */
export const ARCHIVE_RUN_STALE_MS = 30_000;

/** A run's steps as the work advances them; every change is written (coalesced) to the run's row. */
export class RunSteps {
  readonly steps: TenantArchiveStep[];

  constructor(
    names: string[],
    private readonly changed: () => void,
  ) {
    this.steps = names.map((name) => ({ name, state: 'waiting', done: 0, total: null }));
  }

  private find(name: string): TenantArchiveStep {
    const s = this.steps.find((x) => x.name === name);
    if (!s) throw new Error(`no step ${name}`);
    return s;
  }

  start(name: string, total: number | null = null): void {
    Object.assign(this.find(name), { state: 'running', total });
    this.changed();
  }

  set(name: string, done: number): void {
    this.find(name).done = done;
    this.changed();
  }

  done(name: string, done?: number): void {
    const s = this.find(name);
    Object.assign(s, { state: 'done', done: done ?? s.total ?? s.done });
    this.changed();
  }
}

/** A failure as a run records it: the problem's code, or what kind of failure it was. */
export function runErrorOf(err: unknown): { code: string; message: string } {
  if (err instanceof ProblemException) return { code: err.code, message: err.detail ?? err.message };
  if (err instanceof ArchiveCorruptError) return { code: BackupProblems.ARCHIVE_CORRUPT, message: err.message };
  if (err instanceof VectorStoreError) return { code: BackupProblems.VECTOR_STORE_FAILED, message: err.message };
  return { code: BackupProblems.FAILED, message: (err as Error)?.message ?? String(err) };
}

/**
 * Backups and restores as operations: a run is inserted (one running run per tenant, else 409 with
 * the running run's id), answered at once, and carried out in the background by this instance,
 * which writes its steps and a heartbeat to tenant_archive_runs; any instance answers for it
 * (`get`). A run whose instance stopped is reported interrupted (at once on a clean shutdown).
 */
@Injectable()
export class TenantArchiveRuns implements OnApplicationShutdown {
  private readonly logger = new Logger('backups');
  private readonly inFlight = new Map<string, Promise<void>>();

  constructor(
    @Inject(ControlDatabase) private readonly control: ControlDatabase,
    @Inject(TenantArchiveRunsRepository) private readonly runs: TenantArchiveRunsRepository,
  ) {}

  /** Starts a run of `work`, which gets the run's steps and returns its result; the run as it starts. */
  async start(
    run: { tenantId: string; kind: TenantArchiveRun['kind']; actor: string; archive: string; shard: string; steps: string[] },
    work: (steps: RunSteps, run: TenantArchiveRun) => Promise<NonNullable<TenantArchiveRun['result']>>,
  ): Promise<TenantArchiveRun> {
    await this.runs.interruptStale(this.control.db, ARCHIVE_RUN_STALE_MS);
    const id = newId();
    let write: () => void = () => undefined;
    const steps = new RunSteps(run.steps, () => write());
    const started = await this.runs.insert(this.control.db, { id, tenantId: run.tenantId, kind: run.kind, actor: run.actor, archive: run.archive, shard: run.shard, steps: steps.steps });
    if (!started) {
      const other = await this.runs.running(this.control.db, run.tenantId);
      throw new ProblemException(
        409,
        BackupProblems.RUN_IN_PROGRESS,
        'A backup or restore of this tenant is running',
        `Run ${other?.id ?? '(finishing)'} (${other?.kind ?? 'backup or restore'}, started at ${other?.startedAt ?? '?'} by ${other?.actor ?? '?'}) is still in progress: follow it (GET /ops/tenants/${run.tenantId}/backup-runs/${other?.id ?? '<run id>'}) and start this once it has finished.`,
      );
    }
    // Writes are chained: the row always ends with the newest steps; a failed write only delays the next.
    let writes: Promise<void> = Promise.resolve();
    let pending = false;
    write = () => {
      if (pending) return;
      pending = true;
      writes = writes
        .then(() => {
          pending = false;
          return this.runs.progress(this.control.db, id, steps.steps);
        })
        .catch((err: Error) => this.logger.warn(`${run.kind} run ${id}: progress not written: ${err.message}`));
    };
    const heartbeat = setInterval(() => write(), ARCHIVE_RUN_HEARTBEAT_MS);
    heartbeat.unref();
    const task = (async () => {
      let end: Parameters<TenantArchiveRunsRepository['finish']>[2];
      try {
        const result = await work(steps, started);
        end = { status: 'succeeded', steps: steps.steps, result };
      } catch (err) {
        const error = runErrorOf(err);
        this.logger.warn(`${run.kind} of tenant ${run.tenantId} (run ${id}, archive ${run.archive}) failed: ${error.code}: ${error.message}`);
        end = { status: 'failed', steps: steps.steps, error };
      } finally {
        clearInterval(heartbeat);
      }
      await writes;
      await this.runs.finish(this.control.db, id, end);
      this.logger.log(JSON.stringify({ actor: run.actor, action: `tenant.${run.kind}`, tenant: run.tenantId, archive: run.archive, shard: run.shard, run: id, outcome: end.status }));
    })()
      .catch((err: Error) => this.logger.error(`${run.kind} run ${id} could not be recorded: ${err.message}`))
      .finally(() => this.inFlight.delete(id));
    this.inFlight.set(id, task);
    return started;
  }

  /** A run of the tenant by id, with its steps and, once finished, its result or error. */
  async get(tenantId: string, id: string): Promise<TenantArchiveRun> {
    await this.runs.interruptStale(this.control.db, ARCHIVE_RUN_STALE_MS);
    const run = await this.runs.byId(this.control.db, tenantId, id);
    if (!run) throw notFound(`backup or restore run ${id} of tenant ${tenantId}`);
    return run;
  }

  /** Runs this process will not finish are recorded as interrupted at once (instead of when their heartbeat goes stale). */
  async onApplicationShutdown(): Promise<void> {
    await this.runs.interrupt(this.control.db, [...this.inFlight.keys()]).catch(() => undefined);
  }
}
