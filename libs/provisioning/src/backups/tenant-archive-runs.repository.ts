import { Injectable } from '@nestjs/common';
import { sql, type Kysely } from 'kysely';
import type { TenantArchiveRun, TenantArchiveRunStatus, TenantArchiveStep } from '@hotdash/contracts';
import type { ControlDB } from '@hotdash/platform-db';

/** Columns of a run, by name (prepared statements never change shape when a column is added). */
const RUN_COLUMNS = ['id', 'tenant_id', 'kind', 'actor', 'archive', 'shard', 'status', 'steps', 'result', 'error', 'started_at', 'heartbeat_at', 'finished_at'] as const;

interface RunRow {
  id: string;
  tenant_id: string;
  kind: string;
  actor: string;
  archive: string;
  shard: string;
  status: string;
  steps: unknown;
  result: unknown;
  error: unknown;
  started_at: Date;
  heartbeat_at: Date;
  finished_at: Date | null;
}

const toRun = (r: RunRow): TenantArchiveRun => ({
  id: r.id,
  kind: r.kind as TenantArchiveRun['kind'],
  tenantId: r.tenant_id,
  status: r.status as TenantArchiveRunStatus,
  actor: r.actor,
  archive: r.archive,
  shard: r.shard,
  startedAt: r.started_at.toISOString(),
  updatedAt: r.heartbeat_at.toISOString(),
  finishedAt: r.finished_at?.toISOString() ?? null,
  steps: r.steps as TenantArchiveStep[],
  result: (r.result as TenantArchiveRun['result']) ?? null,
  error: (r.error as TenantArchiveRun['error']) ?? null,
});

/**
 * Tenant backup and restore runs as operations (tenant_archive_runs, provisioning's control table):
 * the instance running one writes its steps and a heartbeat; any instance reads it. One running run
 * per tenant (the partial unique index); a run whose heartbeat is older than the limit lost its
 * process and is recorded as interrupted when next looked at.
 */
@Injectable()
export class TenantArchiveRunsRepository {
  /**
   * Inserts a running run; undefined when the tenant has a running run already (the unique index
   * decides, so two starts at once cannot both succeed).
   */
  async insert(db: Kysely<ControlDB>, run: { id: string; tenantId: string; kind: TenantArchiveRun['kind']; actor: string; archive: string; shard: string; steps: TenantArchiveStep[] }): Promise<TenantArchiveRun | undefined> {
    const row = await db
      .insertInto('tenant_archive_runs')
      .values({ id: run.id, tenant_id: run.tenantId, kind: run.kind, actor: run.actor, archive: run.archive, shard: run.shard, steps: JSON.stringify(run.steps) })
      // The index's predicate as a literal: a parameter would not match it once the statement's plan is generic.
      .onConflict((oc) => oc.column('tenant_id').where('status', '=', sql.lit('running')).doNothing())
      .returning(RUN_COLUMNS)
      .executeTakeFirst();
    return row && toRun(row);
  }

  async byId(db: Kysely<ControlDB>, tenantId: string, id: string): Promise<TenantArchiveRun | undefined> {
    const row = await db.selectFrom('tenant_archive_runs').select(RUN_COLUMNS).where('id', '=', id).where('tenant_id', '=', tenantId).executeTakeFirst();
    return row && toRun(row);
  }

  /** The tenant's running run, if any. */
  async running(db: Kysely<ControlDB>, tenantId: string): Promise<TenantArchiveRun | undefined> {
    const row = await db.selectFrom('tenant_archive_runs').select(RUN_COLUMNS).where('tenant_id', '=', tenantId).where('status', '=', 'running').executeTakeFirst();
    return row && toRun(row);
  }

  /** Records as interrupted every running run whose heartbeat is older than `staleAfterMs`; returns how many. */
  async interruptStale(db: Kysely<ControlDB>, staleAfterMs: number): Promise<number> {
    const r = await db
      .updateTable('tenant_archive_runs')
      .set({ status: 'interrupted', finished_at: sql<Date>`now()`, error: JSON.stringify({ code: 'interrupted', message: 'the provisioning instance running it stopped' }) })
      .where('status', '=', 'running')
      .where('heartbeat_at', '<', sql<Date>`now() - make_interval(secs => ${staleAfterMs / 1000})`)
      .executeTakeFirst();
    return Number(r.numUpdatedRows);
  }

  /** Steps and heartbeat of a running run (a run recorded as interrupted meanwhile stays so). */
  async progress(db: Kysely<ControlDB>, id: string, steps: TenantArchiveStep[]): Promise<void> {
    await db
      .updateTable('tenant_archive_runs')
      .set({ steps: JSON.stringify(steps), heartbeat_at: sql<Date>`now()` })
      .where('id', '=', id)
      .where('status', '=', 'running')
      .execute();
  }

  /** The end of a run: its final steps and its result or error (written even over `interrupted`: the run did finish). */
  async finish(db: Kysely<ControlDB>, id: string, end: { status: Exclude<TenantArchiveRunStatus, 'running'>; steps: TenantArchiveStep[]; result?: TenantArchiveRun['result']; error?: TenantArchiveRun['error'] }): Promise<TenantArchiveRun> {
    const row = await db
      .updateTable('tenant_archive_runs')
      .set({
        status: end.status,
        steps: JSON.stringify(end.steps),
        result: end.result ? JSON.stringify(end.result) : null,
        error: end.error ? JSON.stringify(end.error) : null,
        heartbeat_at: sql<Date>`now()`,
        finished_at: sql<Date>`now()`,
      })
      .where('id', '=', id)
      .returning(RUN_COLUMNS)
      .executeTakeFirstOrThrow();
    return toRun(row);
  }

  /** Runs of this process that cannot finish (it is stopping): interrupted now rather than when their heartbeat goes stale. */
  async interrupt(db: Kysely<ControlDB>, ids: string[]): Promise<void> {
    if (!ids.length) return;
    await db
      .updateTable('tenant_archive_runs')
      .set({ status: 'interrupted', finished_at: sql<Date>`now()`, error: JSON.stringify({ code: 'interrupted', message: 'the provisioning instance running it stopped' }) })
      .where('id', 'in', ids)
      .where('status', '=', 'running')
      .execute();
  }
}
