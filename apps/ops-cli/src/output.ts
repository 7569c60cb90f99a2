import type { DatabaseMigrationStatus, MigrationRunOperation, ShardView } from '@hotdash/contracts';
import { CliError } from './errors';

/** Where a command writes: one JSON document on stdout with --json, text otherwise; progress on stderr only when it is wanted. */
export interface Output {
  readonly json: boolean;
  /** Progress may be drawn on stderr: both streams are terminals and --json is not given (or HOTDASH_OPS_PROGRESS=always). */
  readonly progress: boolean;
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
}

export function outputFor(json: boolean, env: NodeJS.ProcessEnv = process.env, stdout: NodeJS.WriteStream = process.stdout, stderr: NodeJS.WriteStream = process.stderr): Output {
  const forced = env.HOTDASH_OPS_PROGRESS === 'always';
  return { json, progress: !json && (forced || (stdout.isTTY === true && stderr.isTTY === true)), stdout, stderr };
}

/** The command's answer: `data` as JSON with --json, else the text `human()` makes. */
export function emit(out: Output, data: unknown, human: () => string): void {
  out.stdout.write(out.json ? `${JSON.stringify(data, null, 2)}\n` : ensureNewline(human()));
}

/** A note for the person at the terminal (stderr; never with --json, so stdout stays one document and stderr quiet). */
export function note(out: Output, text: string): void {
  if (!out.json) out.stderr.write(ensureNewline(text));
}

/** A failure: the JSON document {"error": …} on stdout with --json (plus one line on stderr), else the full text on stderr. */
export function emitError(out: Pick<Output, 'json' | 'stdout' | 'stderr'>, err: CliError): void {
  if (out.json) {
    out.stdout.write(`${JSON.stringify({ error: err.toJSON() }, null, 2)}\n`);
    out.stderr.write(`hotdash-ops: ${err.title} (${err.code})${err.detail ? `: ${err.detail}` : ''}\n`);
    return;
  }
  out.stderr.write(formatError(err));
}

/** An error as a person reads it: title and code, the platform's detail, field errors, then what to do. */
export function formatError(err: CliError): string {
  const lines = [`error: ${err.title} (${err.code}${err.status !== undefined ? `, HTTP ${err.status}` : ''})`];
  if (err.detail) lines.push(`  ${err.detail}`);
  for (const e of err.errors ?? []) lines.push(`  - ${e.path || '(body)'}: ${e.message}`);
  if (err.hint) lines.push(`  what to do: ${err.hint}`);
  return `${lines.join('\n')}\n`;
}

const ensureNewline = (s: string) => (s.endsWith('\n') ? s : `${s}\n`);

/** A plain aligned table: a header row, then one row per item; columns padded with two spaces. */
export function table(headers: string[], rows: (string | number)[][]): string {
  const cells = [headers, ...rows.map((r) => r.map((c) => String(c)))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd()).join('\n') + '\n';
}

/** 1536 → "1.5 KiB"; null → "-". */
export function formatBytes(n: number | null | undefined): string {
  if (n === null || n === undefined) return '-';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${v} B` : `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[u]}`;
}

/** Seconds as "45s", "3m", "2h". */
export function formatAge(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined) return '-';
  if (seconds < 60) return `${Math.round(seconds)}s`;
  if (seconds < 3600) return `${Math.round(seconds / 60)}m`;
  return `${Math.round(seconds / 3600)}h`;
}

/** The shard list as a table: status, kind, region, tenants, size, schema (applied, pending), relay lag, location; an unreadable shard says why. */
export function shardsTable(shards: ShardView[]): string {
  if (!shards.length) return 'No shards registered.\n';
  const rows = shards.map((s) => [
    s.name,
    s.status,
    s.kind,
    s.region,
    s.tenantCount,
    formatBytes(s.databaseSizeBytes),
    s.schema ? `${s.schema.applied} applied${s.schema.pending.length ? `, ${s.schema.pending.length} pending` : ''}` : '-',
    s.relayLag ? `${s.relayLag.unpublished} (${formatAge(s.relayLag.oldestUnpublishedSeconds)})` : '-',
    `${s.host}:${s.port}/${s.database}`,
    s.error ? `${s.error.code}: ${oneLine(s.error.message)}` : '',
  ]);
  return table(['NAME', 'STATUS', 'KIND', 'REGION', 'TENANTS', 'SIZE', 'SCHEMA', 'RELAY LAG', 'LOCATION', 'ERROR'], rows);
}

/** Per database: applied, latest, pending, error. */
export function migrationStatusTable(databases: DatabaseMigrationStatus[]): string {
  const rows = databases.map((d) => [
    d.database,
    d.role,
    d.target,
    d.applied ?? '-',
    d.latest ?? '-',
    d.pending.length ? migrationsList(d.pending) : 'none',
    d.error ? `${d.error.code}: ${oneLine(d.error.message)}` : '',
  ]);
  return table(['DATABASE', 'ROLE', 'TARGET', 'APPLIED', 'LATEST', 'PENDING', 'ERROR'], rows);
}

/** A finished (or interrupted) run: one row per database with its outcome, then a summary line. */
export function migrationRunSummary(run: MigrationRunOperation): string {
  const rows = run.databases.map((d) => {
    const outcome = d.outcome ?? (run.status === 'interrupted' ? `interrupted (${d.state})` : d.state);
    return [d.database, d.role, outcome, migrationsList(d.applied), d.error ? `${d.error.code}: ${oneLine(d.error.message)}` : ''];
  });
  const failed = run.databases.filter((d) => d.outcome === 'failed').map((d) => d.database);
  const verb = run.dryRun ? 'would apply' : 'applied';
  const head = table(['DATABASE', 'ROLE', 'OUTCOME', run.dryRun ? 'WOULD APPLY' : 'APPLIED', 'ERROR'], rows);
  const count = run.databases.reduce((n, d) => n + d.applied.length, 0);
  const summary =
    run.status === 'interrupted'
      ? `Run ${run.id} was interrupted (the provisioning instance running it stopped): run it again; what was applied stays applied.`
      : run.status === 'succeeded'
        ? `${run.dryRun ? 'Dry run' : 'Run'} ${run.id} ${run.dryRun ? 'finished' : 'succeeded'}: ${run.databases.length} database(s), ${count} migration(s) ${verb}.`
        : run.status === 'failed'
          ? `${run.dryRun ? 'Dry run' : 'Run'} ${run.id} failed on ${failed.length} database(s) (${failed.join(', ')}); the others went on. Fix what the errors say and run it again.`
          : `Run ${run.id} is still running: follow it with \`hotdash-ops migrations watch ${run.id}\`.`;
  return `${head}${summary}\n`;
}

const oneLine = (s: string) => s.replace(/\s+/g, ' ').trim();

/** Migration names for a table cell: all of two or fewer, else how many with the first and the last (--json has every name). */
export function migrationsList(names: string[]): string {
  if (!names.length) return '-';
  if (names.length <= 2) return names.join(', ');
  return `${names.length}: ${names[0]} … ${names.at(-1)}`;
}
