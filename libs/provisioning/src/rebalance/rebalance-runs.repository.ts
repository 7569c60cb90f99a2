import { Injectable } from '@nestjs/common';
import { sql, type Kysely } from 'kysely';
import type { RebalanceMoveProgress, RebalancePlan, RebalanceRun, RebalanceRunStatus } from '@hotdash/contracts';
import type { ControlDB } from '@hotdash/platform-db';

/** Columns of a run, by name (prepared statements never change shape when a column is added). */
const RUN_COLUMNS = ['id', 'region', 'actor', 'status', 'concurrency', 'plan', 'moves', 'error', 'started_at', 'heartbeat_at', 'finished_at'] as const;

interface RunRow {
  id: string;
  region: string;
  actor: string;
  status: string;
  concurrency: number;
  plan: unknown;
  moves: unknown;
  error: string | null;
  started_at: Date;
  heartbeat_at: Date;
  finished_at: Date | null;
}

const toRun = (r: RunRow): RebalanceRun => ({
  id: r.id,
  region: r.region,
  status: r.status as RebalanceRunStatus,
  actor: r.actor,
  concurrency: r.concurrency,
  plan: r.plan as RebalancePlan,
  moves: r.moves as RebalanceMoveProgress[],
  error: r.error,
  startedAt: r.started_at.toISOString(),
  updatedAt: r.heartbeat_at.toISOString(),
  finishedAt: r.finished_at?.toISOString() ?? null,
});

/**
 * Rebalance runs as operations (rebalance_runs, provisioning's control table): the instance that
 * runs one writes each move's progress and a heartbeat; any instance reads it. A run whose heartbeat
 * is older than the limit lost its process and is recorded as interrupted when next seen. At most
 * one running run per region (a partial unique index).
 */
@Injectable()
export class RebalanceRunsRepository {
  /** Inserts a running run; undefined when the region has a running run already (the unique index). */
  async insert(db: Kysely<ControlDB>, run: { id: string; region: string; actor: string; concurrency: number; plan: RebalancePlan; moves: RebalanceMoveProgress[] }): Promise<RebalanceRun | undefined> {
    const row = await db
      .insertInto('rebalance_runs')
      .values({ id: run.id, region: run.region, actor: run.actor, concurrency: run.concurrency, plan: JSON.stringify(run.plan), moves: JSON.stringify(run.moves) })
      .onConflict((oc) => oc.doNothing())
      .returning(RUN_COLUMNS)
      .executeTakeFirst();
    return row && toRun(row);
  }

  async byId(db: Kysely<ControlDB>, id: string): Promise<RebalanceRun | undefined> {
    const row = await db.selectFrom('rebalance_runs').select(RUN_COLUMNS).where('id', '=', id).executeTakeFirst();
    return row && toRun(row);
  }

  /** The region's running run, if any. */
  async running(db: Kysely<ControlDB>, region: string): Promise<RebalanceRun | undefined> {
    const row = await db.selectFrom('rebalance_runs').select(RUN_COLUMNS).where('region', '=', region).where('status', '=', 'running').executeTakeFirst();
    return row && toRun(row);
  }

  /** Records as interrupted every running run whose heartbeat is older than `staleAfterMs` (its process stopped); returns how many. */
  async interruptStale(db: Kysely<ControlDB>, staleAfterMs: number): Promise<number> {
    const r = await db
      .updateTable('rebalance_runs')
      .set({ status: 'interrupted', finished_at: sql<Date>`now()` })
      .where('status', '=', 'running')
      .where('heartbeat_at', '<', sql<Date>`now() - make_interval(secs => ${staleAfterMs / 1000})`)
      .executeTakeFirst();
    return Number(r.numUpdatedRows);
  }

  /** Progress and heartbeat of a running run (a run recorded as interrupted meanwhile stays so). */
  async progress(db: Kysely<ControlDB>, id: string, moves: RebalanceMoveProgress[]): Promise<void> {
    await db.updateTable('rebalance_runs').set({ moves: JSON.stringify(moves), heartbeat_at: sql<Date>`now()` }).where('id', '=', id).where('status', '=', 'running').execute();
  }

  /** A run's status now (undefined for an unknown run): its process reads it before each move. */
  async status(db: Kysely<ControlDB>, id: string): Promise<RebalanceRunStatus | undefined> {
    const row = await db.selectFrom('rebalance_runs').select('status').where('id', '=', id).executeTakeFirst();
    return row?.status as RebalanceRunStatus | undefined;
  }

  /**
   * The end of a run that is still running: its status and final progress. False, and nothing
   * written, when the run is no longer running (recorded as interrupted meanwhile: that status is
   * not the process's to change any more).
   */
  async finish(db: Kysely<ControlDB>, id: string, status: Exclude<RebalanceRunStatus, 'running'>, moves: RebalanceMoveProgress[], error: string | null): Promise<boolean> {
    const r = await db
      .updateTable('rebalance_runs')
      .set({ status, moves: JSON.stringify(moves), error, heartbeat_at: sql<Date>`now()`, finished_at: sql<Date>`now()` })
      .where('id', '=', id)
      .where('status', '=', 'running')
      .executeTakeFirst();
    return r.numUpdatedRows > 0n;
  }

  /** Runs of this process that cannot finish (it is stopping): interrupted now rather than when their heartbeat goes stale. */
  async interrupt(db: Kysely<ControlDB>, ids: string[]): Promise<void> {
    if (!ids.length) return;
    await db.updateTable('rebalance_runs').set({ status: 'interrupted', finished_at: sql<Date>`now()` }).where('id', 'in', ids).where('status', '=', 'running').execute();
  }
}
