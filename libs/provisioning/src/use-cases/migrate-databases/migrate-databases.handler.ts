import { Inject, Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import {
  DatabaseMigrationOutcome,
  DatabaseMigrationProgress,
  DatabaseMigrationStatus,
  MigrationErrorCode,
  MigrationProblems,
  MigrationRun,
  MigrationRunOperation,
  MigrationStatus,
  runMigrationsBody,
} from '@hotdash/contracts';
import { ControlDatabase, Databases, DatabasePlane, DbLocation, newId, ShardInspector, ShardUnreachableError } from '@hotdash/platform-db';
import { notFound, parseInput, ProblemException } from '@hotdash/platform-http';
import { locationOf, OpsActions, ShardsRepository } from '../../shards.repository';
import { MigrationRunsRepository } from '../../migration-runs.repository';
import { mapLimit } from '../list-shards/list-shards.handler';

/** Shards migrated at once: each migration holds one owner connection to its shard. */
const CONCURRENCY = 4;
/** A running run writes its progress at least this often (a heartbeat when nothing changed). */
export const MIGRATION_RUN_HEARTBEAT_MS = 5_000;
/** A running run not heard of for this long lost its process: it is recorded as interrupted. */
export const MIGRATION_RUN_STALE_MS = 30_000;

interface Target {
  database: string;
  role: 'control' | 'shard';
  plane: DatabasePlane;
  location: DbLocation;
  target: string;
}

const failure = (code: MigrationErrorCode, err: unknown) => ({ code, message: (err as Error)?.message ?? String(err) });

/**
 * Migrations across the platform's databases, as the owner role with the project's runner: the
 * control database and every shard that is not retired. `status` says per database what is applied
 * and what this build would apply; `run` applies it (or, dry, only says what it would apply), each
 * database on its own: one that fails never stops the others, and every database gets its line.
 * After migrating, each shard goes through the catalogue guard again.
 *
 * A run outlasts any one HTTP answer (the gateway waits 30 s), so `start` answers at once with the
 * run as an operation and carries it out in the background, writing each database's progress to
 * migration_runs (control database: the poll may reach another provisioning instance, and the run's
 * record outlives this process); `get` follows it. One real run at a time (409 migrations-running);
 * dry runs any time. A run whose process stopped is reported as interrupted (its heartbeat goes
 * stale); running it again is safe, the runner skips what was applied.
 */
@Injectable()
export class MigrateDatabasesHandler implements OnApplicationShutdown {
  private readonly logger = new Logger('migrations');
  private readonly inFlight = new Map<string, Promise<void>>();

  constructor(
    @Inject(ControlDatabase) private readonly control: ControlDatabase,
    @Inject(Databases) private readonly dbs: Databases,
    @Inject(ShardInspector) private readonly inspector: ShardInspector,
    @Inject(ShardsRepository) private readonly shards: ShardsRepository,
    @Inject(OpsActions) private readonly actions: OpsActions,
    @Inject(MigrationRunsRepository) private readonly runs: MigrationRunsRepository,
  ) {}

  async status(): Promise<MigrationStatus> {
    const databases = await mapLimit(await this.targets(), CONCURRENCY, async (t): Promise<DatabaseMigrationStatus> => {
      const base = { database: t.database, role: t.role, target: t.target };
      try {
        const s = await this.inspector.migrationState(t.location, t.plane);
        const changed = s.changed.length ? failure('migration-changed', new Error(`applied migrations changed since: ${s.changed.join(', ')}; add a new migration instead`)) : null;
        return { ...base, applied: s.applied, latest: s.latest, pending: s.pending, error: changed };
      } catch (err) {
        return { ...base, applied: null, latest: null, pending: [], error: failure(err instanceof ShardUnreachableError ? 'database-unreachable' : 'inspection-failed', err) };
      }
    });
    return { databases };
  }

  /** Starts a run (dry or real) and answers with it at once (the controller's 202); follow it with `get`. */
  async start(body: unknown, actor: string): Promise<MigrationRunOperation> {
    const { dryRun } = parseInput(runMigrationsBody, body);
    const targets = await this.targets();
    const databases = targets.map((t): DatabaseMigrationProgress => ({ database: t.database, role: t.role, target: t.target, state: 'waiting', total: null, applied: [], current: null, outcome: null, error: null }));
    const id = newId();
    let refused: MigrationRunOperation | undefined;
    const run = await this.control.withControl(async (tx) => {
      if (!dryRun) {
        // Under a lock, so two operators starting at once cannot both find no run in progress.
        await this.runs.lockStarts(tx.db);
        await this.runs.interruptStale(tx.db, MIGRATION_RUN_STALE_MS);
        refused = await this.runs.runningRealRun(tx.db);
        if (refused) return undefined;
      }
      return this.runs.insert(tx.db, { id, actor, dryRun, databases });
    });
    if (!run) {
      const other = refused!;
      await this.actions.record(this.control.db, { actor, action: 'migrations.run', target: 'all', outcome: MigrationProblems.RUNNING, detail: { running: other.id } });
      throw new ProblemException(
        409,
        MigrationProblems.RUNNING,
        'Migrations already running',
        `Migration run ${other.id}, started at ${other.startedAt} by ${other.actor}, is still in progress: follow it (GET /ops/migrations/runs/${other.id}) and start another once it has finished.`,
      );
    }
    const work = this.execute(run, targets)
      .catch((err: Error) => this.logger.error(`migration run ${run.id} could not be recorded: ${err.message}`))
      .finally(() => this.inFlight.delete(run.id));
    this.inFlight.set(run.id, work);
    return run;
  }

  /** A run by id, with its per-database progress and, once finished, its result. */
  async get(id: string): Promise<MigrationRunOperation> {
    await this.runs.interruptStale(this.control.db, MIGRATION_RUN_STALE_MS);
    const run = await this.runs.byId(this.control.db, id);
    if (!run) throw notFound(`migration run ${id}`);
    return run;
  }

  /** Runs this process will not finish are recorded as interrupted at once (instead of when their heartbeat goes stale). */
  async onApplicationShutdown(): Promise<void> {
    await this.runs.interrupt(this.control.db, [...this.inFlight.keys()]).catch(() => undefined);
  }

  /** Carries a run out: every database on its own (a failure never stops the others), progress written as it goes. */
  private async execute(run: MigrationRunOperation, targets: Target[]): Promise<void> {
    const progress = run.databases.map((d) => ({ ...d }));
    let writes: Promise<void> = Promise.resolve();
    // Writes are chained: the row always ends with the newest progress, and a failed write (the
    // control database away for a moment) only delays the next one.
    const write = (): Promise<void> =>
      (writes = writes.then(() => this.runs.progress(this.control.db, run.id, progress)).catch((err: Error) => this.logger.warn(`migration run ${run.id}: progress not written: ${err.message}`)));
    const heartbeat = setInterval(() => void write(), MIGRATION_RUN_HEARTBEAT_MS);
    heartbeat.unref();
    try {
      const outcomes = await mapLimit(
        targets.map((t, i) => ({ t, p: progress[i]! })),
        CONCURRENCY,
        async ({ t, p }): Promise<DatabaseMigrationOutcome> => {
          p.state = 'running';
          void write();
          const out = run.dryRun ? await this.dryRunOne(t) : await this.migrateOne(t, p, write);
          Object.assign(p, { state: 'done', current: null, total: p.total ?? out.applied.length, applied: out.applied, outcome: out.outcome, error: out.error });
          void write();
          return out;
        },
      );
      const ok = outcomes.every((d) => d.outcome !== 'failed');
      const result: MigrationRun = { dryRun: run.dryRun, ok, databases: outcomes };
      clearInterval(heartbeat);
      await writes;
      await this.runs.finish(this.control.db, run.id, ok ? 'succeeded' : 'failed', progress, result);
      if (!run.dryRun)
        await this.actions.record(this.control.db, {
          actor: run.actor,
          action: 'migrations.run',
          target: 'all',
          outcome: ok ? 'done' : 'failed',
          detail: { run: run.id, databases: outcomes.map((d) => ({ database: d.database, outcome: d.outcome, applied: d.applied, error: d.error?.code ?? null })) },
        });
    } finally {
      clearInterval(heartbeat);
    }
  }

  /** The control database first, then every shard that is not retired, by name. */
  private async targets(): Promise<Target[]> {
    const control = this.dbs.controlLocation;
    const shards = (await this.shards.list(this.control.db)).filter((s) => s.status !== 'retired');
    return [
      { database: 'control', role: 'control', plane: 'control', location: control, target: targetOf(control) },
      ...shards.map((s): Target => ({ database: s.name, role: 'shard', plane: 'tenant', location: locationOf(s), target: targetOf(locationOf(s)) })),
    ];
  }

  private async dryRunOne(t: Target): Promise<DatabaseMigrationOutcome> {
    const base = { database: t.database, role: t.role, target: t.target };
    try {
      const s = await this.inspector.migrationState(t.location, t.plane);
      if (s.changed.length)
        return { ...base, outcome: 'failed', applied: [], alreadyApplied: s.applied, error: failure('migration-changed', new Error(`applied migrations changed since: ${s.changed.join(', ')}; add a new migration instead`)) };
      return { ...base, outcome: s.pending.length ? 'would-migrate' : 'up-to-date', applied: s.pending, alreadyApplied: s.applied, error: null };
    } catch (err) {
      return { ...base, outcome: 'failed', applied: [], alreadyApplied: 0, error: failure(err instanceof ShardUnreachableError ? 'database-unreachable' : 'inspection-failed', err) };
    }
  }

  private async migrateOne(t: Target, p: DatabaseMigrationProgress, changed: () => void): Promise<DatabaseMigrationOutcome> {
    const base = { database: t.database, role: t.role, target: t.target };
    try {
      // The runner's own connection has no connect timeout: an unreachable server is found here first, in seconds.
      await this.inspector.reachable(t.location);
    } catch (err) {
      return { ...base, outcome: 'failed', applied: [], alreadyApplied: 0, error: failure('database-unreachable', err) };
    }
    // What is pending, for the progress (the runner decides what it applies, under its own lock).
    p.total = await this.inspector.migrationState(t.location, t.plane).then(
      (st) => st.pending.length,
      () => null,
    );
    void changed();
    const report = await this.inspector
      .migrate(t.location, t.plane, (migration) => {
        if (p.current) p.applied = [...p.applied, p.current];
        p.current = migration;
        void changed();
      })
      .catch((err: Error) => ({ target: t.target, applied: [] as string[], alreadyApplied: 0, error: err.message }));
    if (report.error) return { ...base, outcome: 'failed', applied: report.applied, alreadyApplied: report.alreadyApplied, error: failure(/was changed after it was applied/.test(report.error) ? 'migration-changed' : 'migration-failed', new Error(report.error)) };
    const outcome = { ...base, outcome: report.applied.length ? ('migrated' as const) : ('up-to-date' as const), applied: report.applied, alreadyApplied: report.alreadyApplied, error: null };
    if (t.plane !== 'tenant') return outcome;
    try {
      const violations = await this.inspector.catalogue(t.location);
      if (violations.length)
        return { ...outcome, outcome: 'failed', error: failure('catalogue-mismatch', new Error(violations.slice(0, 5).map((v) => `${v.table}: ${v.problem}`).join('; ') + (violations.length > 5 ? ` (and ${violations.length - 5} more)` : ''))) };
    } catch (err) {
      return { ...outcome, outcome: 'failed', error: failure('inspection-failed', err) };
    }
    return outcome;
  }
}

const targetOf = (l: DbLocation) => `${l.host}:${l.port}/${l.database}`;
