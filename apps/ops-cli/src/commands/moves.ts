import type { Command } from 'commander';
import { startMoveBody, tenantMovePlan, tenantMoveRun, type TenantMovePlan, type TenantMoveRun } from '@hotdash/contracts';
import { usageError } from '../errors';
import { emit, note, table, type Output } from '../output';
import type { Context } from '../context';
import { followRun } from '../follow';
import { singleBarProgress, stepsDone } from '../progress';
import { parseWith } from './parse';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const FINISHED = ['succeeded', 'rolled-back', 'failed'];

const tenantId = (v: string): string => {
  if (!UUID.test(v)) throw usageError(`"${v}" is not a tenant id (a UUID).`, 'Give the tenant’s id, as `tenants create` printed it.');
  return v.toLowerCase();
};
const runId = (v: string): string => {
  if (!UUID.test(v)) throw usageError(`"${v}" is not a run id (a UUID).`, 'Give the run id that `tenants move` printed.');
  return v.toLowerCase();
};

/** What the step running is doing, for the progress row. */
function phaseText(run: TenantMoveRun): string {
  if (FINISHED.includes(run.status)) return run.status;
  const step = run.steps.find((s) => s.id === run.phase);
  const copy = run.progress ? ` ${run.progress.tablesReady}/${run.progress.tables} tables` : '';
  return `${run.status === 'rolling-back' ? 'rolling back: ' : ''}${run.phase ?? 'starting'}${copy}${step && step.attempts > 1 ? ` (try ${step.attempts})` : ''}`;
}

/** One bar over the move's steps. */
const moveProgress = (out: Output) =>
  singleBarProgress<TenantMoveRun>(out, { label: () => 'move', unit: 'steps', total: (run) => run.steps.length, done: stepsDone, phase: phaseText });

/** A move as a person reads it. */
function runText(run: TenantMoveRun): string {
  const head = `Move ${run.id} of tenant ${run.tenantId} from ${run.source} to ${run.target}${run.regionChange ? ` (region ${run.regionChange.from} → ${run.regionChange.to}, forced)` : ''}: ${run.status}`;
  const steps = table(
    ['STEP', 'STATUS', 'TRIES', 'ERROR'],
    run.steps.map((s) => [s.id, s.status, s.attempts, s.lastError ?? '']),
  );
  const cut = run.steps.find((s) => s.id === 'cut-over')?.detail as { pauseMs?: number; placementVersion?: number } | null | undefined;
  const lines = [head];
  if (run.status === 'succeeded') lines.push(`  the tenant is served by ${run.target} (placement version ${cut?.placementVersion ?? run.fromVersion + 1}); its writes paused ${cut?.pauseMs ?? '?'} ms at the cut-over; the copies verified; ${run.source} keeps only its fence.`);
  if (run.status === 'succeeded' && run.regionChange) lines.push(`  its data lives in region ${run.regionChange.to} now (it was in ${run.regionChange.from}).`);
  if (run.status === 'rolled-back') lines.push(`  the tenant is whole on ${run.source}; nothing of the move is left. ${run.error ?? ''}`.trimEnd());
  if (run.status === 'failed')
    lines.push(
      run.decided
        ? `  the decision was taken: the tenant is served by ${run.target}. ${run.error ?? ''} Look at the step that failed; the source's rows are kept until the move's clean-up ran.`
        : `  the move could not be undone completely: ${run.error ?? ''}; the tenant is served by ${run.source}.`,
    );
  if (!FINISHED.includes(run.status)) lines.push(`  Follow it: hotdash-ops moves watch ${run.tenantId} ${run.id}`);
  return `${steps}${lines.join('\n')}\n`;
}

/** Follows a move, one progress row for its steps. */
const follow = (ctx: Context, first: TenantMoveRun) =>
  followRun(ctx, first, {
    noun: 'move',
    again: `hotdash-ops moves watch ${first.tenantId} ${first.id}`,
    poll: async () => (await ctx.authenticated().request('GET', `/ops/tenants/${first.tenantId}/moves/${first.id}`, tenantMoveRun)).data,
    finished: (run) => FINISHED.includes(run.status),
    progress: moveProgress(ctx.out),
    text: runText,
  });

const planText = (p: TenantMovePlan) =>
  `Dry run: tenant ${p.tenantId} can move from ${p.source} to ${p.target} (placement version ${p.fromVersion} → ${p.fromVersion + 1}${p.regionChange ? `; its region would change from ${p.regionChange.from} to ${p.regionChange.to}` : ''}). The move would:\n` +
  table(
    ['STEP', 'WHAT IT DOES'],
    p.steps.map((s) => [s.id, s.description]),
  );

export function moveCommands(program: Command, ctx: () => Context): void {
  const tenants = program.commands.find((c) => c.name() === 'tenants');
  if (!tenants) throw new Error('the tenants commands must be registered first');

  tenants
    .command('move')
    .description('move a tenant live to another active shard of its region: its rows replicated and caught up, writes paused for that tenant alone at the cut-over (reads never fail), both copies verified, then its rows deleted from the source')
    .argument('<tenant-id>', 'the tenant’s id', tenantId)
    .argument('<shard>', 'the target shard’s name (`hotdash-ops shards list`)')
    .option('--dry-run', 'check everything the platform checks and say what the move would do; change nothing')
    .option('--allow-region-change', 'let the move take the tenant to a shard of another region: its data, and so its region, change for good (data residency: only on the customer’s instruction); recorded in the ops log and the tenant’s audit log')
    .option('--no-wait', 'start the move and print its run id without following it')
    .addHelpText('after', '\nExit code 0 when the tenant was moved (a dry run: it can be), 1 when refused, rolled back or failed.')
    .action(async (id: string, shard: string, o: { dryRun?: boolean; allowRegionChange?: boolean; wait: boolean }) => {
      const c = ctx();
      const body = parseWith(startMoveBody, { shard, ...(o.dryRun ? { dryRun: true } : {}), ...(o.allowRegionChange ? { allowRegionChange: true } : {}) });
      if (o.dryRun) {
        const { data } = await c.authenticated().request('POST', `/ops/tenants/${id}/move`, tenantMovePlan, { body });
        emit(c.out, data, () => planText(data));
        return;
      }
      const { data } = await c.authenticated().request('POST', `/ops/tenants/${id}/move`, tenantMoveRun, { body });
      if (!o.wait) {
        emit(c.out, data, () => `Move ${data.id} of tenant ${id} from ${data.source} to ${data.target} started. Follow it: hotdash-ops moves watch ${id} ${data.id}\n`);
        return;
      }
      note(c.out, `Move ${data.id} of tenant ${id} from ${data.source} to ${data.target} started.`);
      await follow(c, data);
    });

  const moves = program.command('moves').description('live tenant moves: follow one');

  moves
    .command('watch')
    .description('follow a tenant move until it has finished')
    .argument('<tenant-id>', 'the tenant’s id', tenantId)
    .argument('<run-id>', 'the move’s run id', runId)
    .addHelpText('after', '\nExit code 0 when the move succeeded, 1 when it was rolled back or failed.')
    .action(async (tenant: string, run: string) => {
      const c = ctx();
      const { data } = await c.authenticated().request('GET', `/ops/tenants/${tenant}/moves/${run}`, tenantMoveRun);
      await follow(c, data);
    });
}
