import { MultiBar, Presets, type SingleBar } from 'cli-progress';
import type { DatabaseMigrationProgress, MigrationRunOperation } from '@hotdash/contracts';
import type { Output } from './output';

/** Shows a migration run's progress, one row per database, as the run is polled. */
export interface RunProgress {
  update(run: MigrationRunOperation): void;
  stop(): void;
}

/** What a database's row says: waiting, checking, applying <migration>, then its outcome. */
export function progressText(d: DatabaseMigrationProgress, dryRun: boolean): string {
  if (d.state === 'waiting') return 'waiting';
  if (d.state === 'running') return d.current ? `applying ${d.current}` : dryRun ? 'reading' : 'checking';
  switch (d.outcome) {
    case 'migrated':
      return `migrated (${d.applied.length} applied)`;
    case 'up-to-date':
      return 'up to date';
    case 'would-migrate':
      return `would apply ${d.applied.length}`;
    case 'failed':
      return `FAILED ${d.error?.code ?? ''}`.trim();
    default:
      return 'done';
  }
}

/** The row's bar: migrations applied of those to apply (a database with nothing to apply fills when done). */
export function progressCounts(d: DatabaseMigrationProgress): { value: number; total: number; count: string } {
  const total = Math.max(d.total ?? 0, 1);
  const value = d.state === 'done' ? total : Math.min(d.applied.length, total);
  return { value, total, count: d.total === null ? '?' : `${d.applied.length}/${d.total}` };
}

/**
 * Bars on a terminal (cli-progress); plain lines on stderr when progress is forced without one
 * (HOTDASH_OPS_PROGRESS=always: CI logs); nothing otherwise.
 */
export function runProgress(out: Output): RunProgress {
  if (!out.progress) return { update: () => undefined, stop: () => undefined };
  const tty = (out.stderr as NodeJS.WriteStream).isTTY === true;
  return tty ? new BarProgress(out.stderr as NodeJS.WriteStream) : new LineProgress(out.stderr);
}

class BarProgress implements RunProgress {
  private readonly multibar: MultiBar;
  private readonly bars = new Map<string, SingleBar>();
  private width = 8;

  constructor(stream: NodeJS.WriteStream) {
    this.multibar = new MultiBar(
      { stream, format: ' {name} {bar} {count} {status}', barsize: 24, hideCursor: true, clearOnComplete: false, stopOnComplete: false, autopadding: true, forceRedraw: true },
      Presets.shades_classic,
    );
  }

  update(run: MigrationRunOperation): void {
    this.width = Math.max(this.width, ...run.databases.map((d) => d.database.length));
    for (const d of run.databases) {
      const { value, total, count } = progressCounts(d);
      const payload = { name: d.database.padEnd(this.width), count: count.padStart(5), status: progressText(d, run.dryRun) };
      const bar = this.bars.get(d.database);
      if (!bar) this.bars.set(d.database, this.multibar.create(total, value, payload));
      else {
        bar.setTotal(total);
        bar.update(value, payload);
      }
    }
  }

  stop(): void {
    this.multibar.stop();
  }
}

class LineProgress implements RunProgress {
  private readonly last = new Map<string, string>();

  constructor(private readonly stream: NodeJS.WritableStream) {}

  update(run: MigrationRunOperation): void {
    for (const d of run.databases) {
      const { count } = progressCounts(d);
      const line = `${d.database} ${count} ${progressText(d, run.dryRun)}`;
      if (this.last.get(d.database) === line) continue;
      this.last.set(d.database, line);
      this.stream.write(`progress: ${line}\n`);
    }
  }

  stop(): void {
    // lines are complete as written
  }
}
