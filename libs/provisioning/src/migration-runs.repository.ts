import { Injectable } from '@nestjs/common';
import { sql, type Kysely } from 'kysely';
import type { DatabaseMigrationProgress, MigrationRun, MigrationRunOperation, MigrationRunStatus } from '@hotdash/contracts';
import type { ControlDB } from '@hotdash/platform-db';

/** Columns of a run, by name (prepared statements never change shape when a column is added). */
const RUN_COLUMNS = ['id', 'actor', 'dry_run', 'status', 'databases', 'result', 'started_at', 'heartbeat_at', 'finished_at'] as const;

interface RunRow {
  id: string;
  actor: string;
  dry_run: boolean;
  status: string;
  databases: unknown;
  result: unknown;
  started_at: Date;
  heartbeat_at: Date;
  finished_at: Date | null;
}

const toOperation = (r: RunRow): MigrationRunOperation => ({
  id: r.id,
  dryRun: r.dry_run,
  status: r.status as MigrationRunStatus,
  actor: r.actor,
  startedAt: r.started_at.toISOString(),
  updatedAt: r.heartbeat_at.toISOString(),
  finishedAt: r.finished_at?.toISOString() ?? null,
  databases: r.databases as DatabaseMigrationProgress[],
  result: (r.result as MigrationRun | null) ?? null,
});

/**
 * Migration runs as operations (migration_runs, provisioning's control table): the instance that
 * runs one writes its per-database progress and a heartbeat; any instance reads it. A run whose
 * heartbeat is older than the limit lost its process and is recorded as interrupted when next seen.
 */
@Injectable()
export class MigrationRunsRepository {
  /** Serialises the starts of real runs (held to the end of the caller's transaction). */
  async lockStarts(db: Kysely<ControlDB>): Promise<void> {
    await db.selectNoFrom((eb) => eb.fn('pg_advisory_xact_lock', [eb.fn('hashtextextended', [eb.val('migration-runs:start'), eb.lit(0)])]).as('locked')).execute();
  }

  async insert(db: Kysely<ControlDB>, run: { id: string; actor: string; dryRun: boolean; databases: DatabaseMigrationProgress[] }): Promise<MigrationRunOperation> {
    const row = await db
      .insertInto('migration_runs')
      .values({ id: run.id, actor: run.actor, dry_run: run.dryRun, databases: JSON.stringify(run.databases) })
      .returning(RUN_COLUMNS)
      .executeTakeFirstOrThrow();
    return toOperation(row);
  }

  async byId(db: Kysely<ControlDB>, id: string): Promise<MigrationRunOperation | undefined> {
    const row = await db.selectFrom('migration_runs').select(RUN_COLUMNS).where('id', '=', id).executeTakeFirst();
    return row && toOperation(row);
  }

  /** The real (not dry) run in progress, if any. */
  async runningRealRun(db: Kysely<ControlDB>): Promise<MigrationRunOperation | undefined> {
    const row = await db.selectFrom('migration_runs').select(RUN_COLUMNS).where('status', '=', 'running').where('dry_run', '=', false).orderBy('started_at').executeTakeFirst();
    return row && toOperation(row);
  }

  /** Records as interrupted every running run whose heartbeat is older than `staleAfterMs` (its process stopped); returns how many. */
  async interruptStale(db: Kysely<ControlDB>, staleAfterMs: number): Promise<number> {
    const r = await db
      .updateTable('migration_runs')
      .set({ status: 'interrupted', finished_at: sql<Date>`now()` })
      .where('status', '=', 'running')
      .where('heartbeat_at', '<', sql<Date>`now() - make_interval(secs => ${staleAfterMs / 1000})`)
      .executeTakeFirst();
    return Number(r.numUpdatedRows);
  }

  /** Progress and heartbeat of a running run (a run recorded as interrupted meanwhile stays so). */
  async progress(db: Kysely<ControlDB>, id: string, databases: DatabaseMigrationProgress[]): Promise<void> {
    await db
      .updateTable('migration_runs')
      .set({ databases: JSON.stringify(databases), heartbeat_at: sql<Date>`now()` })
      .where('id', '=', id)
      .where('status', '=', 'running')
      .execute();
  }

  /** The end of a run: its final progress and result (written even over `interrupted`: the run did finish). */
  async finish(db: Kysely<ControlDB>, id: string, status: Exclude<MigrationRunStatus, 'running'>, databases: DatabaseMigrationProgress[], result: MigrationRun | null): Promise<void> {
    await db
      .updateTable('migration_runs')
      .set({ status, databases: JSON.stringify(databases), result: result && JSON.stringify(result), heartbeat_at: sql<Date>`now()`, finished_at: sql<Date>`now()` })
      .where('id', '=', id)
      .execute();
  }

  /** Runs of this process that cannot finish (it is stopping): interrupted now rather than when their heartbeat goes stale. */
  async interrupt(db: Kysely<ControlDB>, ids: string[]): Promise<void> {
    if (!ids.length) return;
    await db.updateTable('migration_runs').set({ status: 'interrupted', finished_at: sql<Date>`now()` }).where('id', 'in', ids).where('status', '=', 'running').execute();
  }
}
