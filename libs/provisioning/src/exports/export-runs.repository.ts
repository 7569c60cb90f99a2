import { Inject, Injectable } from '@nestjs/common';
import { ExportProblems, type ExportKind, type ExportTableProgress, type TenantId } from '@hotdash/contracts';
import { TenantDatabase } from '@hotdash/platform-db';
import { ProblemException } from '@hotdash/platform-http';
import type { ExportSealing } from './export-format';

/** An export run as stored (export_runs, tenant shard). */
export interface ExportRunRow {
  id: string;
  tenantId: TenantId;
  kind: ExportKind;
  status: 'queued' | 'running' | 'succeeded' | 'failed';
  requestedBy: string;
  subjectRef: string | null;
  progress: ExportTableProgress[];
  rowsDone: number;
  rowsEstimated: number;
  bytes: number | null;
  sealing: ExportSealing | null;
  error: string | null;
  createdAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
  expiresAt: Date | null;
}

const COLUMNS = ['id', 'tenant_id', 'kind', 'status', 'requested_by', 'subject_ref', 'progress', 'rows_done', 'rows_estimated', 'bytes', 'sealing', 'error', 'created_at', 'started_at', 'finished_at', 'expires_at'] as const;

type Stored = {
  id: string;
  tenant_id: string;
  kind: string;
  status: string;
  requested_by: string;
  subject_ref: string | null;
  progress: unknown;
  rows_done: string;
  rows_estimated: string;
  bytes: string | null;
  sealing: unknown;
  error: string | null;
  created_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
  expires_at: Date | null;
};

const toRow = (r: Stored): ExportRunRow => ({
  id: r.id,
  tenantId: r.tenant_id as TenantId,
  kind: r.kind as ExportKind,
  status: r.status as ExportRunRow['status'],
  requestedBy: r.requested_by,
  subjectRef: r.subject_ref,
  progress: (r.progress ?? []) as ExportTableProgress[],
  rowsDone: Number(r.rows_done),
  rowsEstimated: Number(r.rows_estimated),
  bytes: r.bytes === null ? null : Number(r.bytes),
  sealing: (r.sealing ?? null) as ExportSealing | null,
  error: r.error,
  createdAt: r.created_at,
  startedAt: r.started_at,
  finishedAt: r.finished_at,
  expiresAt: r.expires_at,
});

const UNFINISHED_KEY = 'export_runs_unfinished_key';

/** export_runs (provisioning's): every statement in the tenant's own transaction, so RLS shows a tenant only its runs. */
@Injectable()
export class ExportRunsRepository {
  constructor(@Inject(TenantDatabase) private readonly db: TenantDatabase) {}

  /** A queued run; 409 export-in-progress while another of the tenant is queued or running. */
  async create(tenantId: TenantId, run: { id: string; kind: ExportKind; requestedBy: string; subjectRef: string | null }): Promise<ExportRunRow> {
    try {
      const r = await this.db.withTenant(tenantId, (tx) =>
        tx.db
          .insertInto('export_runs')
          .values({ id: run.id, tenant_id: tenantId, kind: run.kind, requested_by: run.requestedBy, subject_ref: run.subjectRef })
          .returning(COLUMNS)
          .executeTakeFirstOrThrow(),
      );
      return toRow(r as Stored);
    } catch (err) {
      if ((err as { code?: string; constraint?: string }).code === '23505' && (err as { constraint?: string }).constraint === UNFINISHED_KEY)
        throw new ProblemException(409, ExportProblems.IN_PROGRESS, 'Export in progress', 'An export of this tenant is already queued or running: follow it at GET /exports/{id}, then ask again.');
      throw err;
    }
  }

  async get(tenantId: TenantId, id: string): Promise<ExportRunRow | undefined> {
    const r = await this.db.withTenant(tenantId, (tx) => tx.db.selectFrom('export_runs').select(COLUMNS).where('tenant_id', '=', tenantId).where('id', '=', id).executeTakeFirst());
    return r ? toRow(r as Stored) : undefined;
  }

  async list(tenantId: TenantId, limit: number): Promise<ExportRunRow[]> {
    const rows = await this.db.withTenant(tenantId, (tx) => tx.db.selectFrom('export_runs').select(COLUMNS).where('tenant_id', '=', tenantId).orderBy('created_at', 'desc').orderBy('id', 'desc').limit(limit).execute());
    return rows.map((r) => toRow(r as Stored));
  }

  /** Marks the run running (again, after a retry: progress starts over); false when it is not queued or running. */
  async start(tenantId: TenantId, id: string, at: Date): Promise<boolean> {
    const r = await this.db.withTenant(tenantId, (tx) =>
      tx.db
        .updateTable('export_runs')
        .set({ status: 'running', started_at: at, progress: JSON.stringify([]), rows_done: '0', rows_estimated: '0' })
        .where('tenant_id', '=', tenantId)
        .where('id', '=', id)
        .where('status', 'in', ['queued', 'running'])
        .executeTakeFirst(),
    );
    return Number(r.numUpdatedRows) === 1;
  }

  async progress(tenantId: TenantId, id: string, tables: readonly ExportTableProgress[]): Promise<void> {
    const done = tables.reduce((n, t) => n + t.rowsDone, 0);
    const estimated = tables.reduce((n, t) => n + t.rowsEstimated, 0);
    await this.db.withTenant(tenantId, (tx) =>
      tx.db
        .updateTable('export_runs')
        .set({ progress: JSON.stringify(tables), rows_done: String(done), rows_estimated: String(estimated) })
        .where('tenant_id', '=', tenantId)
        .where('id', '=', id)
        .where('status', '=', 'running')
        .execute(),
    );
  }

  async succeed(tenantId: TenantId, id: string, r: { bytes: number; sealing: ExportSealing; finishedAt: Date; expiresAt: Date; tables: readonly ExportTableProgress[] }): Promise<void> {
    const done = r.tables.reduce((n, t) => n + t.rowsDone, 0);
    await this.db.withTenant(tenantId, (tx) =>
      tx.db
        .updateTable('export_runs')
        .set({
          status: 'succeeded',
          bytes: String(r.bytes),
          sealing: JSON.stringify(r.sealing),
          finished_at: r.finishedAt,
          expires_at: r.expiresAt,
          progress: JSON.stringify(r.tables),
          rows_done: String(done),
          rows_estimated: String(Math.max(done, r.tables.reduce((n, t) => n + t.rowsEstimated, 0))),
        })
        .where('tenant_id', '=', tenantId)
        .where('id', '=', id)
        .execute(),
    );
  }

  async fail(tenantId: TenantId, id: string, error: string, at: Date): Promise<void> {
    await this.db.withTenant(tenantId, (tx) =>
      tx.db
        .updateTable('export_runs')
        .set({ status: 'failed', error: error.slice(0, 2000), finished_at: at })
        .where('tenant_id', '=', tenantId)
        .where('id', '=', id)
        .where('status', 'in', ['queued', 'running'])
        .execute(),
    );
  }
}
