import type { Readable } from 'node:stream';
import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
import {
  exportDownloadQuery,
  ExportProblems,
  exportProblemCodeOf,
  parseTenantId,
  startExportBody,
  type ExportList,
  type ExportTableProgress,
  type ExportView,
  type TenantId,
} from '@hotdash/contracts';
import { FieldCipher, SubjectRefs, TenantKeyring } from '@hotdash/platform-crypto';
import { countTenantRows, newId, readTenantRows, readTenantTables, TenantDatabase, useCanonicalText } from '@hotdash/platform-db';
import { parseInput, ProblemException } from '@hotdash/platform-http';
import type { JobQueue, TenantJobData } from '@hotdash/platform-jobs';
import { exportColumnsOf, exportFileKey, ExportWriter, headerOf, openExportFile, RowOpener } from './export-format';
import { ExportLinks } from './export-links';
import { ExportRunsRepository, type ExportRunRow } from './export-runs.repository';
import { ExportFileMissingError, ExportStore } from './export-store';
import { SUBJECT_EXPORT_SOURCE, type SubjectExportSource } from './subject-export-source';

/** A data export job (queue hotdash-data-export): the run to carry out. */
export interface ExportJob extends TenantJobData {
  exportId: string;
}

/** How the export service runs (ExportsModule.register fills it from the settings; specs give their own). */
export interface ExportsOptions {
  /** The export store's directory (HOTDASH_EXPORT_DIR). */
  dir: string;
  /** How long a finished export can be downloaded (HOTDASH_EXPORT_LINK_TTL_S). */
  linkTtlMs: number;
  /** The clock of expiries (specs move it on instead of waiting). */
  now: () => Date;
  /** The queue of export jobs (the jobs port). */
  queueName: string;
  /** Jobs this process runs at once (default 2); exports of one tenant at once across workers (default 1). */
  concurrency: number;
  perTenant: number;
  /** How often the sweep deletes expired files (ms; 0: never on its own). */
  sweepEveryMs: number;
  /** Whether this process works the queue (default true). */
  worker: boolean;
}

export const EXPORTS_OPTIONS = Symbol('EXPORTS_OPTIONS');
export const EXPORTS_QUEUE = Symbol('EXPORTS_QUEUE');

/** How long the snapshot an export reads in may stay open. */
export const EXPORT_SNAPSHOT_TIMEOUT_MS = 60 * 60_000;
/** Progress is written at most this often (and at each table's end). */
const PROGRESS_EVERY_MS = 250;
/** Most runs GET /exports lists. */
const LIST_LIMIT = 50;

const notFound = () => new ProblemException(404, ExportProblems.NOT_FOUND, 'Export not found', 'No such export of this tenant, or a download token that is not this export’s.');
const expired = () => new ProblemException(410, ExportProblems.EXPIRED, 'Export expired', 'The download link expired and the export’s file was deleted: ask for a new export.');

/**
 * Per-table progress of a running export, saved to its run now and then in the background: one save
 * at a time, each with the state as it is when it starts, never awaited by the export itself. The
 * tenant export reads in one snapshot transaction and a save is a second transaction on the same
 * shard: on the embedded database (PGlite, one backend) the save waits for the snapshot's transaction
 * to end, so an export that awaited it held itself up until both timed out (found by the
 * cross-tenant probe in embedded mode). A save that fails is logged; the next one carries the state.
 */
class Progress {
  readonly tables: ExportTableProgress[] = [];
  private last = 0;
  private saving: Promise<void> | undefined;
  private again = false;

  constructor(
    private readonly save: (tables: readonly ExportTableProgress[]) => Promise<void>,
    private readonly onError: (err: Error) => void,
  ) {}

  estimate(estimates: readonly { table: string; rows: number }[]): void {
    for (const e of estimates) this.tables.push({ table: e.table, rowsDone: 0, rowsEstimated: e.rows });
    this.flush();
  }

  /** Adds a table seen only while writing (a subject export's); its estimate as given. */
  table(table: string, rowsEstimated: number): ExportTableProgress {
    let t = this.tables.find((x) => x.table === table);
    if (!t) this.tables.push((t = { table, rowsDone: 0, rowsEstimated }));
    return t;
  }

  add(t: ExportTableProgress, rows: number): void {
    t.rowsDone += rows;
    if (Date.now() - this.last >= PROGRESS_EVERY_MS) this.flush();
  }

  /** Saves the progress soon: now when no save is under way, else once it is done. */
  flush(): void {
    this.last = Date.now();
    if (this.saving) {
      this.again = true;
      return;
    }
    this.saving = (async () => {
      do {
        this.again = false;
        await this.save(this.tables).catch(this.onError);
      } while (this.again);
      this.saving = undefined;
    })();
  }

  /** Once every save asked for so far is done. */
  async settled(): Promise<void> {
    while (this.saving) await this.saving;
  }
}

/**
 * Data exports (issue 16 item 4, CCPA): a tenant admin asks for the tenant's whole data set or one
 * data subject's; a job (BullMQ, per-tenant cap) writes it as JSON lines (docs/exports.md) to the
 * export store, compressed and encrypted under a key derived from the tenant's data key, with its
 * progress in export_runs; the admin downloads it through a signed link of the tenant's until it
 * expires, when the sweep deletes the file.
 *
 * The tenant export reads every table with a tenant_id the way backups do (platform/db
 * readTenantTables and readTenantRows: the shard's catalogue, never a list of tables; the ownership
 * exception in table-owners.ts), in ONE read-only snapshot transaction as the application role
 * under the tenant's RLS, a page of rows at a time with back-pressure down to the file: memory
 * stays flat whatever the tenant's size. Values the platform encrypted (FieldCipher, `*_enc`
 * columns) are decrypted, so the tenant can read its export; credentials are left out.
 */
@Injectable()
export class ExportsService {
  private readonly logger = new Logger('exports');
  private readonly links: ExportLinks;
  private readonly subjects: SubjectRefs;

  constructor(
    @Inject(ExportRunsRepository) private readonly runs: ExportRunsRepository,
    @Inject(TenantDatabase) private readonly tenantDb: TenantDatabase,
    @Inject(TenantKeyring) private readonly keyring: TenantKeyring,
    @Inject(FieldCipher) private readonly cipher: FieldCipher,
    @Inject(ExportStore) private readonly store: ExportStore,
    @Inject(EXPORTS_QUEUE) private readonly queue: JobQueue<ExportJob>,
    @Inject(EXPORTS_OPTIONS) private readonly options: ExportsOptions,
    @Optional() @Inject(SUBJECT_EXPORT_SOURCE) private readonly subjectSource?: SubjectExportSource,
  ) {
    this.links = new ExportLinks(keyring);
    this.subjects = new SubjectRefs(keyring);
  }

  private now(): Date {
    return this.options.now();
  }

  /** POST /exports: validates (400 problem+json, nothing written), records the run queued and queues its job; 202 with the run. */
  async start(tenantIdText: string, body: unknown, actor: string, correlationId: string): Promise<ExportView> {
    const tenantId = parseTenantId(tenantIdText);
    const input = parseInput(startExportBody, body, exportProblemCodeOf);
    if (input.kind === 'subject' && !this.subjectSource)
      throw new ProblemException(501, 'subject-export-unavailable', 'Subject export unavailable', 'This service is not wired to read data subjects’ rows.');
    const subjectRef = input.kind === 'subject' ? await this.subjects.subjectRef(tenantId, input.email) : null;
    const run = await this.runs.create(tenantId, { id: newId(), kind: input.kind, requestedBy: actor.slice(0, 200), subjectRef });
    try {
      await this.queue.add('export', { tenantId, exportId: run.id, correlationId }, { jobId: run.id, attempts: 2, backoff: { type: 'exponential', delayMs: 1_000 }, keepCompleted: 1_000, keepFailed: 1_000 });
    } catch (err) {
      await this.runs.fail(tenantId, run.id, 'the export could not be queued', this.now());
      throw err;
    }
    return this.viewOf(run);
  }

  async view(tenantIdText: string, id: string): Promise<ExportView> {
    const run = await this.runs.get(parseTenantId(tenantIdText), id);
    if (!run) throw notFound();
    return this.viewOf(run);
  }

  async list(tenantIdText: string): Promise<ExportList> {
    const runs = await this.runs.list(parseTenantId(tenantIdText), LIST_LIMIT);
    return { exports: await Promise.all(runs.map((r) => this.viewOf(r))) };
  }

  /**
   * GET /exports/:id/download: the export's JSON lines, decrypted as they are sent. 404 for an
   * export not of this tenant or a token not of this export and tenant; 410 once expired.
   */
  async download(tenantIdText: string, id: string, query: unknown): Promise<{ body: Readable; filename: string }> {
    const tenantId = parseTenantId(tenantIdText);
    // The export first: another tenant's id answers exactly as one that does not exist, whatever the token.
    const run = await this.runs.get(tenantId, id);
    if (!run) throw notFound();
    const { token } = parseInput(exportDownloadQuery, query ?? {}, () => ExportProblems.INVALID_TOKEN);
    if (!ExportLinks.wellFormed(token)) throw new ProblemException(400, ExportProblems.INVALID_TOKEN, 'Invalid download token', 'token is not a download token of this API');
    const now = this.now();
    const check = await this.links.check(tenantId, id, token, now);
    if (check === 'invalid') throw notFound();
    if (check === 'expired' || !run.expiresAt || run.expiresAt.getTime() <= now.getTime()) throw expired();
    if (run.status !== 'succeeded' || !run.sealing) throw new ProblemException(409, ExportProblems.NOT_READY, 'Export not ready', `the export is ${run.status}`);
    let stored: Readable;
    try {
      stored = await this.store.read(tenantId, id, run.expiresAt);
    } catch (err) {
      if (err instanceof ExportFileMissingError) throw expired();
      throw err;
    }
    const key = exportFileKey(await this.keyring.dataKey(tenantId), id);
    const body = openExportFile(stored, key, id, run.sealing);
    key.fill(0);
    return { body, filename: `hotdash-${run.kind}-export-${id}.jsonl` };
  }

  /** Deletes expired export files (and a dead writer's leftovers); the export ids deleted. */
  sweep(): Promise<string[]> {
    return this.store.sweep(this.now());
  }

  /** Carries out one export run (the job's work, in the tenant's context): 'skipped' when it is gone or finished. */
  async run(job: ExportJob): Promise<'exported' | 'skipped'> {
    const tenantId = parseTenantId(job.tenantId);
    const run = await this.runs.get(tenantId, job.exportId);
    if (!run || !(await this.runs.start(tenantId, run.id, this.now()))) return 'skipped';
    const key = exportFileKey(await this.keyring.dataKey(tenantId), run.id);
    const draft = await this.store.create(tenantId, run.id);
    try {
      const writer = new ExportWriter(draft.out, key, run.id);
      const progress = new Progress(
        (tables) => this.runs.progress(tenantId, run.id, tables),
        (err) => this.logger.warn(`export ${run.id}: progress not saved (${err.message}); the next save carries it`),
      );
      try {
        await writer.header({ id: run.id, kind: run.kind, tenantId, createdAt: run.createdAt.toISOString(), ...(run.subjectRef ? { subjectRef: run.subjectRef } : {}) });
        if (run.kind === 'tenant') await this.writeTenant(tenantId, writer, progress);
        else await this.writeSubject(tenantId, run, writer, progress);
      } catch (err) {
        writer.abort(err as Error);
        await progress.settled();
        throw err;
      }
      await progress.settled();
      const { sealing } = await writer.end();
      const finishedAt = this.now();
      const expiresAt = new Date(finishedAt.getTime() + this.options.linkTtlMs);
      const bytes = await draft.commit(expiresAt);
      await this.runs.succeed(tenantId, run.id, { bytes, sealing, finishedAt, expiresAt, tables: progress.tables });
      return 'exported';
    } catch (err) {
      await draft.abort();
      throw err;
    } finally {
      key.fill(0);
    }
  }

  /** Marks a run failed (its job's last attempt failed). */
  fail(job: ExportJob, error: string): Promise<void> {
    return this.runs.fail(parseTenantId(job.tenantId), job.exportId, error, this.now());
  }

  /** Every tenant table, parents first, in one snapshot: counted first (the estimates), then written page by page. */
  private async writeTenant(tenantId: TenantId, writer: ExportWriter, progress: Progress): Promise<void> {
    await this.tenantDb.withTenant(
      tenantId,
      async (tx) => {
        await useCanonicalText(tx);
        const tables = await readTenantTables(tx.db);
        const counts: { table: string; rows: number }[] = [];
        for (const t of tables) counts.push({ table: t.name, rows: await countTenantRows(tx, tenantId, t) });
        progress.estimate(counts);
        for (const [i, table] of tables.entries()) {
          const columns = exportColumnsOf(table.name, table.columns);
          const opener = new RowOpener(this.cipher, tenantId, columns);
          const p = progress.tables[i]!;
          await writer.beginTable(table.name, headerOf(columns), p.rowsEstimated);
          for await (const page of readTenantRows(tx, tenantId, table)) {
            for (const row of page) await writer.row(await opener.open(row));
            progress.add(p, page.length);
          }
          await writer.endTable(opener.undecryptable);
          progress.flush();
        }
      },
      { isolation: 'snapshot', timeoutMs: EXPORT_SNAPSHOT_TIMEOUT_MS },
    );
  }

  /** One data subject's rows, read and decrypted by their owner (SUBJECT_EXPORT_SOURCE), into the same format. */
  private async writeSubject(tenantId: TenantId, run: ExportRunRow, writer: ExportWriter, progress: Progress): Promise<void> {
    if (!this.subjectSource || !run.subjectRef) throw new Error('subject exports are not wired in this service');
    let current: ExportTableProgress | undefined;
    let pending = 0;
    await this.subjectSource.write(tenantId, run.subjectRef, {
      beginTable: async (table, header, rowsEstimated) => {
        current = progress.table(table, rowsEstimated);
        await writer.beginTable(table, header, rowsEstimated);
      },
      row: async (values) => {
        await writer.row(values);
        if (++pending >= 100) {
          progress.add(current!, pending);
          pending = 0;
        }
      },
      endTable: async (undecryptable) => {
        progress.add(current!, pending);
        pending = 0;
        await writer.endTable(undecryptable);
        progress.flush();
      },
    });
  }

  private async viewOf(run: ExportRunRow): Promise<ExportView> {
    const now = this.now();
    const live = run.status === 'succeeded' && run.expiresAt !== null && run.expiresAt.getTime() > now.getTime();
    const status = run.status === 'succeeded' && !live ? 'expired' : run.status;
    const download = live ? { url: `/exports/${run.id}/download?token=${await this.links.sign(run.tenantId, run.id, run.expiresAt!)}`, expiresAt: run.expiresAt!.toISOString() } : null;
    return {
      id: run.id,
      kind: run.kind,
      status,
      requestedBy: run.requestedBy,
      createdAt: run.createdAt.toISOString(),
      startedAt: run.startedAt?.toISOString() ?? null,
      finishedAt: run.finishedAt?.toISOString() ?? null,
      expiresAt: run.expiresAt?.toISOString() ?? null,
      progress: { rowsDone: run.rowsDone, rowsEstimated: run.rowsEstimated, tables: run.progress },
      bytes: run.bytes,
      download,
      error: run.error,
    };
  }
}
