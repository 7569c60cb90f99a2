import type { Command } from 'commander';
import {
  deadLetterDetail,
  deadLetterFilter,
  deadLetterList,
  deadLetterReplayResult,
  deadLetterReplays,
  DLQ_TOPICS,
  DlqProblems,
  listDeadLettersQuery,
  parseDeadLetterId,
  type DeadLetterDetail,
  type DeadLetterFilter,
  type DeadLetterList,
  type DeadLetterReplayResult,
} from '@hotdash/contracts';
import { CliError, ExitCode, usageError } from '../errors';
import { emit, note, table, type Output } from '../output';
import type { Context } from '../context';
import { singleBarProgress } from '../progress';
import { parseWith } from './parse';

interface FilterOptions {
  topic?: string;
  consumer?: string;
  code?: string;
  tenant?: string;
}

const filterOf = (o: FilterOptions): DeadLetterFilter =>
  parseWith(deadLetterFilter, Object.fromEntries(Object.entries({ topic: o.topic, consumer: o.consumer, code: o.code, tenant: o.tenant }).filter(([, v]) => v !== undefined)));

const oneLine = (s: string, max = 80) => {
  const t = s.replace(/\s+/g, ' ').trim();
  return t.length > max ? `${t.slice(0, max - 1)}…` : t;
};

/** A page of dead letters as a table, newest first. */
export function deadLetterListText(list: DeadLetterList): string {
  if (list.items.length === 0) return list.nextCursor ? `No dead letters matched in the ${list.scanned} read; more follow: --cursor ${list.nextCursor}\n` : 'No dead letters.\n';
  const rows = list.items.map((d) => [d.id, d.failedAt ?? '-', d.eventType ?? '-', d.tenantId ?? '-', d.consumer ?? '-', d.code ?? '-', d.attempts ?? '-', d.replayed ? `yes (${d.replays})` : 'no']);
  const lines = [table(['ID', 'FAILED AT', 'EVENT', 'TENANT', 'CONSUMER', 'CODE', 'ATTEMPTS', 'REPLAYED'], rows).trimEnd()];
  if (list.nextCursor) lines.push(`More: hotdash-ops dlq list … --cursor ${list.nextCursor}`);
  return `${lines.join('\n')}\n`;
}

/** One dead letter: what failed, the error, its headers and its envelope as written. */
export function deadLetterText(d: DeadLetterDetail): string {
  const lines = [
    `Dead letter ${d.id}`,
    `  event:      ${d.eventType ?? '-'} ${d.eventId ?? ''}`.trimEnd(),
    `  tenant:     ${d.tenantId ?? '-'}`,
    `  from:       ${d.originalTopic ?? '-'} (consumer ${d.consumer ?? '-'}, ${d.attempts ?? '?'} attempt(s))`,
    `  failed at:  ${d.failedAt ?? '-'}`,
    `  error:      ${d.code ?? '-'}: ${d.error ?? ''}`,
  ];
  if (d.replayedFrom) lines.push(`  a replay of ${d.replayedFrom}`);
  lines.push(d.replayHistory.length ? `  replayed:   ${d.replayHistory.map((r) => `${r.at} by ${r.actor}${r.forced ? ' (forced)' : ''}`).join('; ')}` : '  replayed:   no');
  lines.push('Headers:');
  for (const [k, v] of Object.entries(d.headers).sort(([a], [b]) => a.localeCompare(b))) lines.push(`  ${k}: ${oneLine(v, 200)}`);
  lines.push(d.envelope !== null ? `Envelope (personal fields as stored, encrypted):\n${JSON.stringify(d.envelope, null, 2)}` : `Value (not JSON):\n${d.value ?? ''}`);
  return `${lines.join('\n')}\n`;
}

function resultsText(results: DeadLetterReplayResult[], dryRun: boolean): string {
  if (results.length === 0) return 'No dead letters matched.\n';
  const rows = results.map((r) => [r.id, r.outcome, r.eventType ?? '-', r.tenantId ?? '-', r.to ?? '-']);
  const count = (o: string) => results.filter((r) => r.outcome === o).length;
  const summary = dryRun
    ? `Dry run: ${count('would-replay')} would be replayed${count('already-replayed') ? `, ${count('already-replayed')} already replayed (add --force to replay them again)` : ''}.`
    : `${count('replayed')} replayed${count('already-replayed') ? `, ${count('already-replayed')} refused as already replayed (add --force)` : ''}${count('not-found') ? `, ${count('not-found')} not found` : ''}${count('not-replayable') ? `, ${count('not-replayable')} not replayable` : ''}.`;
  return `${table(['ID', 'OUTCOME', 'EVENT', 'TENANT', 'TO'], rows)}${summary}\n`;
}

/** The id as the API's path, checked first (exit 2 for an id that is not one). */
function pathOf(id: string): string {
  const ref = parseDeadLetterId(id);
  if (!ref) throw usageError(`"${id}" is not a dead letter's id.`, `Give <dlq topic>/<partition>/<offset> as \`hotdash-ops dlq list\` prints it (topics: ${DLQ_TOPICS.join(', ')}).`);
  return `/ops/dead-letters/${encodeURIComponent(ref.topic)}/${ref.partition}/${ref.offset}`;
}

/** One bar over the replays. */
const replayProgress = (out: Output) =>
  singleBarProgress<{ done: number; total: number; phase: string }>(out, { label: () => 'replay', unit: 'dead letters', total: (r) => r.total, done: (r) => r.done, phase: (r) => r.phase });

/** Replays the dead letters one at a time (progress per record); a 409 (already replayed) is that record's outcome, not the end of the run. */
async function replayEach(c: Context, ids: string[], force: boolean): Promise<DeadLetterReplayResult[]> {
  const client = c.authenticated();
  const progress = replayProgress(c.out);
  const results: DeadLetterReplayResult[] = [];
  try {
    for (const id of ids) {
      progress.update({ done: results.length, total: ids.length, phase: id });
      try {
        const { data } = await client.request('POST', `${pathOf(id)}/replay`, deadLetterReplayResult, { body: force ? { force: true } : {} });
        results.push(data);
      } catch (err) {
        if (!(err instanceof CliError) || err.status === undefined) throw err;
        const outcome = err.code === DlqProblems.ALREADY_REPLAYED ? 'already-replayed' : err.code === DlqProblems.NOT_FOUND ? 'not-found' : err.code === DlqProblems.NOT_REPLAYABLE ? 'not-replayable' : undefined;
        if (!outcome || ids.length === 1) throw err;
        results.push({ id, outcome, to: null, eventId: null, eventType: null, tenantId: null, forced: force });
      }
    }
    progress.update({ done: results.length, total: ids.length, phase: 'done' });
  } finally {
    progress.stop();
  }
  return results;
}

export function dlqCommands(program: Command, ctx: () => Context): void {
  const dlq = program.command('dlq').description('dead letters: the events a consumer gave up on (on <topic>.dlq, with their headers and the error), and their replay through the consumers’ inboxes');

  const filters = (cmd: Command) =>
    cmd
      .option('--topic <topic>', `a platform topic or its dead-letter topic (${DLQ_TOPICS.join(', ')})`)
      .option('--consumer <name>', 'the consumer that gave up (e.g. drafts, audit)')
      .option('--code <code>', 'the error code (handler-failed, unknown-tenant, invalid-envelope, invalid-payload, …)')
      .option('--tenant <id>', 'the event’s tenant');

  filters(dlq.command('list').description('dead letters, newest first, with their event, tenant, consumer, error code, attempts and whether they were replayed'))
    .option('--limit <n>', 'at most this many (1-500, default 50)')
    .option('--cursor <cursor>', 'the next page (as the previous page printed it)')
    .action(async (o: FilterOptions & { limit?: string; cursor?: string }) => {
      const c = ctx();
      const filter = filterOf(o);
      const query = parseWith(listDeadLettersQuery, { ...filter, ...(o.limit !== undefined ? { limit: o.limit } : {}), ...(o.cursor !== undefined ? { cursor: o.cursor } : {}) });
      const params = new URLSearchParams(Object.entries(query).map(([k, v]): [string, string] => [k, String(v)]));
      const { data } = await c.authenticated().request('GET', `/ops/dead-letters${params.size ? `?${params}` : ''}`, deadLetterList);
      emit(c.out, data, () => deadLetterListText(data));
    });

  dlq
    .command('show')
    .description('one dead letter: every header, the error, and the envelope as written (personal fields stay encrypted)')
    .argument('<id>', 'the dead letter’s id, <dlq topic>/<partition>/<offset>, as `dlq list` prints it')
    .action(async (id: string) => {
      const c = ctx();
      const path = pathOf(id);
      const { data } = await c.authenticated().request('GET', path, deadLetterDetail);
      emit(c.out, data, () => deadLetterText(data));
    });

  filters(
    dlq
      .command('replay')
      .description('send dead letters back to their original topic (same value and headers, plus hotdash-replayed-from); each consumer’s inbox skips what it applied already')
      .argument('[ids...]', 'dead letters’ ids, <dlq topic>/<partition>/<offset>')
      .option('--all-matching', 'every dead letter matching the filters (--topic, --consumer, --code, --tenant) instead of ids; needs --yes'),
  )
    .option('--max <n>', 'with --all-matching: at most this many, newest (default 100, at most 1000)')
    .option('--force', 'replay dead letters that were replayed already')
    .option('--dry-run', 'only list what would be replayed; send nothing')
    .option('--yes', 'confirm replaying more than one dead letter')
    .addHelpText(
      'after',
      '\nA dead letter replayed already is refused (HTTP 409) unless --force. With --all-matching the matching\ndead letters are replayed oldest first, those replayed already left out unless --force. Exit code 0 when\nevery one was replayed (a dry run: listed), 1 when any was refused or not found.',
    )
    .action(async (ids: string[], o: FilterOptions & { allMatching?: boolean; max?: string; force?: boolean; dryRun?: boolean; yes?: boolean }) => {
      const c = ctx();
      const force = o.force === true;
      const hasFilter = [o.topic, o.consumer, o.code, o.tenant].some((v) => v !== undefined);
      if (o.allMatching && ids.length) throw usageError('Give dead letters’ ids or --all-matching with filters, not both.');
      if (!o.allMatching && !ids.length) throw usageError('Name the dead letters to replay, or give --all-matching with filters.', 'See `hotdash-ops dlq list` for the ids.');
      if (!o.allMatching && (hasFilter || o.max !== undefined)) throw usageError('--topic, --consumer, --code, --tenant and --max go with --all-matching.');
      for (const id of ids) pathOf(id);
      let targets = [...new Set(ids)];
      let skipped: DeadLetterReplayResult[] = [];
      if (o.allMatching) {
        const max = o.max === undefined ? undefined : Number(o.max);
        if (max !== undefined && (!Number.isInteger(max) || max < 1 || max > 1000)) throw usageError('--max must be a whole number from 1 to 1000.');
        const { data } = await c.authenticated().request('POST', '/ops/dead-letters/replays', deadLetterReplays, { body: { filter: filterOf(o), dryRun: true, ...(force ? { force: true } : {}), ...(max !== undefined ? { max } : {}) } });
        if (o.dryRun) {
          emit(c.out, data, () => `${resultsText(data.results, true)}${data.truncated ? 'More match: run again (or raise --max).\n' : ''}`);
          return;
        }
        targets = data.results.filter((r) => r.outcome === 'would-replay').map((r) => r.id);
        skipped = data.results.filter((r) => r.outcome !== 'would-replay');
        if (data.truncated) note(c.out, `More than ${data.results.length} dead letters match: only the newest ${data.results.length} are considered (raise --max, or run again).`);
      } else if (o.dryRun) {
        const { data } = await c.authenticated().request('POST', '/ops/dead-letters/replays', deadLetterReplays, { body: { ids: targets, dryRun: true, ...(force ? { force: true } : {}) } });
        emit(c.out, data, () => resultsText(data.results, true));
        if (data.results.some((r) => r.outcome !== 'would-replay')) process.exitCode = ExitCode.REFUSED;
        return;
      }
      if (targets.length > 1 || (o.allMatching && targets.length > 0)) {
        if (!o.yes) throw usageError(`This replays ${targets.length} dead letter(s) to their original topics.`, 'Add --yes to confirm (try --dry-run first: it lists them).');
      }
      const results = [...skipped, ...(await replayEach(c, targets, force))];
      emit(c.out, { dryRun: false, results }, () => resultsText(results, false));
      if (results.some((r) => r.outcome !== 'replayed' && !(o.allMatching && r.outcome === 'already-replayed'))) process.exitCode = ExitCode.REFUSED;
    });
}

