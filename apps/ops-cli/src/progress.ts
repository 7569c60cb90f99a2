import { MultiBar, Presets, SingleBar } from 'cli-progress';
import type { DatabaseMigrationProgress, MigrationRunOperation } from '@hotdash/contracts';
import type { Output } from './output';

/**
 * What followRun draws while it polls an operation: bars on a terminal (cli-progress); plain
 * `progress: …` lines on stderr, one per change, when progress is forced without one
 * (HOTDASH_OPS_PROGRESS=always: CI logs); nothing otherwise (--json, not a terminal).
 */
export interface Progress<R> {
  update(run: R): void;
  stop(): void;
}

/** Shows a migration run's progress, one row per database, as the run is polled. */
export type RunProgress = Progress<MigrationRunOperation>;

const noProgress = { update: () => undefined, stop: () => undefined };
const onTerminal = (out: Output) => (out.stderr as NodeJS.WriteStream).isTTY === true;

/** How an operation is shown as one bar: `<label> [bar] <done>/<total> <unit> <phase>`. */
export interface SingleBarView<R> {
  /** The bar's name (the kind of operation: move, import, rebalance, dedicate, share). */
  label: (run: R) => string;
  /** What the bar counts (steps, moves). */
  unit: string;
  total: (run: R) => number;
  done: (run: R) => number;
  /** What it is doing now (its phase, or its status once finished). */
  phase: (run: R) => string;
}

/** The steps of a run that are behind it (completed, or undone): what a bar over its steps shows done. */
export const stepsDone = (run: { steps: { status: string }[] }): number => run.steps.filter((s) => s.status === 'completed' || s.status === 'compensated').length;

/** One bar over an operation's parts (a move's, import's or dedicate run's steps, a rebalance's moves). */
export function singleBarProgress<R>(out: Output, view: SingleBarView<R>): Progress<R> {
  if (!out.progress) return noProgress;
  if (!onTerminal(out)) {
    let last = '';
    return {
      update(run) {
        const line = `${view.done(run)}/${view.total(run)} ${view.phase(run)}`;
        if (line !== last) out.stderr.write(`progress: ${line}\n`);
        last = line;
      },
      stop: () => undefined,
    };
  }
  const bar = new SingleBar(
    { stream: out.stderr as NodeJS.WriteStream, format: ` {label} {bar} {value}/{total} ${view.unit} {phase}`, barsize: 24, hideCursor: true, clearOnComplete: false, forceRedraw: true },
    Presets.shades_classic,
  );
  let started = false;
  return {
    update(run) {
      const payload = { label: view.label(run), phase: view.phase(run) };
      if (!started) bar.start(Math.max(view.total(run), 1), view.done(run), payload);
      else bar.update(view.done(run), payload);
      started = true;
    },
    stop: () => {
      if (started) bar.stop();
    },
  };
}

/** One row of a multi-row progress: a database of a migration run, a step of a backup. */
export interface ProgressRow {
  name: string;
  value: number;
  total: number;
  /** What the row counts, as shown (`1/4`, `?`). */
  count: string;
  status: string;
}

/** One bar per row (`<name> [bar] <count> <status>`), rows added as they appear. */
export function rowsProgress<R>(out: Output, rowsOf: (run: R) => ProgressRow[], layout: { nameWidth?: number; countWidth: number }): Progress<R> {
  if (!out.progress) return noProgress;
  if (!onTerminal(out)) {
    const last = new Map<string, string>();
    return {
      update(run) {
        for (const r of rowsOf(run)) {
          const line = `${r.name} ${r.count} ${r.status}`;
          if (last.get(r.name) === line) continue;
          last.set(r.name, line);
          out.stderr.write(`progress: ${line}\n`);
        }
      },
      stop: () => undefined,
    };
  }
  const multibar = new MultiBar(
    { stream: out.stderr as NodeJS.WriteStream, format: ' {name} {bar} {count} {status}', barsize: 24, hideCursor: true, clearOnComplete: false, stopOnComplete: false, autopadding: true, forceRedraw: true },
    Presets.shades_classic,
  );
  const bars = new Map<string, SingleBar>();
  let width = layout.nameWidth ?? 0;
  return {
    update(run) {
      const rows = rowsOf(run);
      width = Math.max(width, ...rows.map((r) => r.name.length));
      for (const r of rows) {
        const payload = { name: r.name.padEnd(width), count: r.count.padStart(layout.countWidth), status: r.status };
        const bar = bars.get(r.name);
        if (!bar) bars.set(r.name, multibar.create(r.total, r.value, payload));
        else {
          bar.setTotal(r.total);
          bar.update(r.value, payload);
        }
      }
    },
    stop: () => multibar.stop(),
  };
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

/** A migration run's progress: one row per database (migrations applied of those to apply). */
export function runProgress(out: Output): RunProgress {
  return rowsProgress<MigrationRunOperation>(
    out,
    (run) => run.databases.map((d) => ({ name: d.database, ...progressCounts(d), status: progressText(d, run.dryRun) })),
    { nameWidth: 8, countWidth: 5 },
  );
}
