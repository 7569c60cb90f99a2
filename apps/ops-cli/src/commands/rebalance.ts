import type { Command } from 'commander';
import {
  MAX_REBALANCE_CONCURRENCY,
  MAX_REBALANCE_MOVES,
  rebalanceDryRun,
  rebalanceRun,
  startRebalanceBody,
  type RebalanceMoveProgress,
  type RebalancePlan,
  type RebalanceRun,
  type RebalanceSpread,
} from '@hotdash/contracts';
import { usageError } from '../errors';
import { emit, formatBytes, note, table, type Output } from '../output';
import type { Context } from '../context';
import { followRun } from '../follow';
import { singleBarProgress } from '../progress';
import { parseWith } from './parse';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const FINISHED_MOVES: RebalanceMoveProgress['state'][] = ['succeeded', 'skipped', 'failed', 'not-run'];

const spreadText = (s: RebalanceSpread) => `tenants ${s.tenants.min}–${s.tenants.max} per shard, ${formatBytes(s.bytes.min)}–${formatBytes(s.bytes.max)} (mean ${formatBytes(s.bytes.mean)})`;

/** A plan as a person reads it: the shards before and after, the moves, who stays and why. */
export function rebalancePlanText(plan: RebalancePlan, heading: string): string {
  const lines = [`${heading} region ${plan.region}, measured ${plan.measuredAt}:`];
  lines.push(
    table(
      ['SHARD', 'STATUS', 'TENANTS', 'SIZE', '→ TENANTS', '→ SIZE'],
      plan.shards.map((s) => [s.name, s.status, s.before.tenants, formatBytes(s.before.bytes), s.after.tenants, formatBytes(s.after.bytes)]),
    ).trimEnd(),
  );
  if (plan.moves.length) {
    lines.push(
      table(
        ['#', 'TENANT', 'SLUG', 'FROM', 'TO', 'SIZE', 'WHY'],
        plan.moves.map((m, i) => [i + 1, m.tenantId, m.slug, m.from, m.to, formatBytes(m.bytes), m.reason]),
      ).trimEnd(),
    );
  } else lines.push('No move: the active shards are even and no draining shard holds a tenant that can move.');
  for (const p of plan.pinned) lines.push(`  stays: tenant ${p.tenantId} (${p.slug}) on ${p.shard}: ${p.reason}`);
  lines.push(`Before: ${spreadText(plan.before)}.`, `After:  ${spreadText(plan.after)}.`);
  if (plan.truncated) lines.push('The plan was cut at --max-moves: run the rebalance again afterwards for the rest.');
  return `${lines.join('\n')}\n`;
}

/** A finished (or followed) run as text: each move's outcome, then what to do. */
export function rebalanceRunText(run: RebalanceRun): string {
  const rows = run.moves.map((m, i) => [i + 1, m.slug, `${m.from} → ${m.to}`, formatBytes(m.bytes), m.state, m.runId ?? '', m.code ?? '']);
  const head = `Rebalance ${run.id} of region ${run.region}: ${run.status}`;
  const lines = [head];
  if (run.moves.length) lines.push(table(['#', 'SLUG', 'MOVE', 'SIZE', 'STATE', 'MOVE RUN', 'CODE'], rows).trimEnd());
  else lines.push('Nothing to move: the region was even already.');
  const skipped = run.moves.filter((m) => m.state === 'skipped');
  if (skipped.length) lines.push(`${skipped.length} move(s) skipped (refused before anything changed; see CODE): plan again to include them.`);
  if (run.status === 'failed') lines.push(`Stopped: ${run.error ?? 'a move failed'}. Look at that move (\`hotdash-ops moves watch <tenant-id> <move run>\`) before rebalancing again.`);
  if (run.status === 'interrupted') lines.push('The process running it stopped; a move it had started goes on as its own saga. Plan again: `hotdash-ops rebalance --region ' + run.region + ' --dry-run`.');
  if (run.status === 'running') lines.push(`Follow it: hotdash-ops rebalance watch ${run.id}`);
  return `${lines.join('\n')}\n`;
}

/** One bar over the run's moves, saying which are moving now. */
const rebalanceProgress = (out: Output) =>
  singleBarProgress<RebalanceRun>(out, {
    label: () => 'rebalance',
    unit: 'moves',
    total: (run) => run.moves.length,
    done: (run) => run.moves.filter((m) => FINISHED_MOVES.includes(m.state)).length,
    phase: (run) => {
      const m = run.moves.filter((x) => x.state === 'running');
      return m.length ? m.map((x) => `moving ${x.slug} ${x.from} → ${x.to}`).join(', ') : run.status;
    },
  });

const follow = (ctx: Context, first: RebalanceRun) =>
  followRun(ctx, first, {
    noun: 'rebalance',
    again: `hotdash-ops rebalance watch ${first.id}`,
    poll: async () => (await ctx.authenticated().request('GET', `/ops/rebalance/runs/${first.id}`, rebalanceRun)).data,
    finished: (run) => run.status !== 'running',
    progress: rebalanceProgress(ctx.out),
    text: rebalanceRunText,
  });

export function rebalanceCommands(program: Command, ctx: () => Context): void {
  const rebalance = program
    .command('rebalance')
    .description('even out a region’s shared shards: move the tenants of its draining shards to its active ones, then even tenant count and size across those, one live move at a time')
    .option('--region <region>', 'the region whose shared shards are evened out (`hotdash-ops shards list` shows each shard’s region)')
    .option('--dry-run', 'only show the plan: the moves (tenant, from, to, size) and each shard before and after; change nothing')
    .option('--max-moves <n>', `plan at most this many moves (1 to ${MAX_REBALANCE_MOVES}; the drain's first)`)
    .option('--concurrency <n>', `moves carried out at once (1 to ${MAX_REBALANCE_CONCURRENCY}; default 1)`)
    .option('--no-wait', 'start the run and print its id without following it')
    .addHelpText(
      'after',
      '\nA move refused before it started (the tenant was suspended or began moving meanwhile) is skipped;\na move that rolled back or failed stops the run. Exit code 0 when every move succeeded or was skipped\n(a dry run: the plan could be made), 1 when refused, failed or interrupted.',
    )
    .action(async (o: { region?: string; dryRun?: boolean; maxMoves?: string; concurrency?: string; wait: boolean }) => {
      const c = ctx();
      if (!o.region) throw usageError('--region is required.', 'Name the region to rebalance: `hotdash-ops rebalance --region <region> --dry-run` (`hotdash-ops shards list` shows the regions).');
      // Counts checked by the contract's schema (a number, in range), like every other argument.
      const number = (v: string) => (/^\d+$/.test(v) ? Number(v) : v);
      const body = parseWith(startRebalanceBody, {
        region: o.region,
        dryRun: o.dryRun === true,
        ...(o.maxMoves !== undefined ? { maxMoves: number(o.maxMoves) } : {}),
        ...(o.concurrency !== undefined ? { concurrency: number(o.concurrency) } : {}),
      });
      if (body.dryRun) {
        const { data } = await c.authenticated().request('POST', '/ops/rebalance', rebalanceDryRun, { body });
        emit(c.out, data, () => rebalancePlanText(data.plan, 'Dry run: the plan for'));
        return;
      }
      const { data } = await c.authenticated().request('POST', '/ops/rebalance', rebalanceRun, { body });
      if (!o.wait) {
        emit(c.out, data, () => `${rebalancePlanText(data.plan, `Rebalance ${data.id} started for`)}Follow it: hotdash-ops rebalance watch ${data.id}\n`);
        return;
      }
      note(c.out, rebalancePlanText(data.plan, `Rebalance ${data.id} started for`));
      await follow(c, data);
    });

  rebalance
    .command('watch')
    .description('follow a rebalance run by its id (from `rebalance`) until it has finished')
    .argument('<run-id>', 'the run’s id')
    .action(async (id: string) => {
      const c = ctx();
      if (!UUID.test(id)) throw usageError(`"${id}" is not a run id (a UUID).`, 'Give the id that `hotdash-ops rebalance --region <region>` printed.');
      const { data } = await c.authenticated().request('GET', `/ops/rebalance/runs/${id.toLowerCase()}`, rebalanceRun);
      await follow(c, data);
    });
}
