import type { Command } from 'commander';
import { dedicateBody, dedicatedPlan, dedicatedRun, shareBody, type DedicatedPlan, type DedicatedRun } from '@hotdash/contracts';
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
  if (!UUID.test(v)) throw usageError(`"${v}" is not a run id (a UUID).`, 'Give the run id that `tenants dedicate` or `tenants share` printed.');
  return v.toLowerCase();
};
const port = (v: string): number => {
  if (!/^\d{1,5}$/.test(v)) throw usageError(`"${v}" is not a port number.`, 'Give a TCP port, e.g. --port 5432.');
  return Number(v);
};

/** What the run is doing, for the progress row: its step, and inside the move the move's own phase and copy progress. */
export function dedicatedPhaseText(run: DedicatedRun): string {
  if (FINISHED.includes(run.status)) return run.status;
  const step = run.steps.find((s) => s.id === run.phase);
  const move = (run.phase === 'move' || run.phase === 'await-move') && run.move ? ` (${run.move.phase ?? run.move.status}${run.move.progress ? ` ${run.move.progress.tablesReady}/${run.move.progress.tables} tables` : ''})` : '';
  return `${run.status === 'rolling-back' ? 'rolling back: ' : ''}${run.phase ?? 'starting'}${move}${step && step.attempts > 1 ? ` (try ${step.attempts})` : ''}`;
}

/** One bar over the run's steps (named after its kind: dedicate, share). */
const runProgress = (out: Output) =>
  singleBarProgress<DedicatedRun>(out, { label: (run) => run.kind, unit: 'steps', total: (run) => run.steps.length, done: stepsDone, phase: dedicatedPhaseText });

const where = (t: DedicatedRun['target']) => `${t.shard} (${t.host}:${t.port}/${t.database})`;

/** A run as a person reads it. */
export function dedicatedRunText(run: DedicatedRun): string {
  const what = run.kind === 'dedicate' ? `Dedicate ${run.id} of tenant ${run.tenantId} from ${run.source} to ${where(run.target)}` : `Share ${run.id} of tenant ${run.tenantId} from ${run.source} to ${run.target.shard}`;
  const steps = table(
    ['STEP', 'STATUS', 'TRIES', 'ERROR'],
    run.steps.map((s) => [s.id, s.status, s.attempts, s.lastError ?? '']),
  );
  const lines = [`${what}: ${run.status}`];
  if (run.status === 'succeeded' && run.kind === 'dedicate') lines.push(`  the tenant is served by its dedicated shard ${run.target.shard} (database ${run.target.database}, ${run.target.mode === 'reuse' ? 'a free dedicated shard reused' : run.target.mode === 'adopt' ? 'the platform’s earlier database for it' : 'created'}).`);
  if (run.status === 'succeeded' && run.kind === 'share') {
    const freed = run.steps.find((s) => s.id === 'free-shard')?.detail as { status?: string; kept?: boolean; database?: { database: string } } | null | undefined;
    lines.push(`  the tenant is served by shared shard ${run.target.shard}; ${run.source} is ${freed?.status ?? '?'}${freed?.kept ? ' (kept: a free dedicated shard, reused by the next dedicate)' : ' (its database is kept: drop it by hand once you no longer need it, see docs/operations.md)'}.`);
  }
  if (run.status === 'rolled-back') lines.push(`  the tenant is whole on ${run.source}; what the run made was undone. ${run.error ?? ''}`.trimEnd());
  if (run.status === 'failed') lines.push(`  ${run.error ?? ''}${run.move ? ` Look at its move: hotdash-ops moves watch ${run.tenantId} ${run.move.id}` : ''}`);
  if (!FINISHED.includes(run.status)) lines.push(`  Follow it: hotdash-ops dedicated watch ${run.tenantId} ${run.id}`);
  return `${steps}${lines.join('\n')}\n`;
}

const planText = (p: DedicatedPlan) => {
  const t = p.target;
  const head =
    p.kind === 'dedicate'
      ? `Dry run: tenant ${p.tenantId} can move from ${p.source} to dedicated shard ${t.shard} (${t.host}:${t.port}/${t.database}, region ${t.region}): ${t.mode === 'reuse' ? 'a free dedicated shard reused' : t.mode === 'adopt' ? 'the database the platform made for it before, adopted' : 'a new database created'}.`
      : `Dry run: tenant ${p.tenantId} can move from dedicated shard ${p.source} to shared shard ${t.shard} (region ${t.region}); then ${p.source} is ${p.keep ? 'kept as a free dedicated shard' : 'drained and retired (its database kept)'}.`;
  return `${head} The run would:\n${table(
    ['STEP', 'WHAT IT DOES'],
    p.steps.map((s) => [s.id, s.description]),
  )}`;
};

const follow = (ctx: Context, first: DedicatedRun) =>
  followRun(ctx, first, {
    noun: `${first.kind} run`,
    again: `hotdash-ops dedicated watch ${first.tenantId} ${first.id}`,
    poll: async () => (await ctx.authenticated().request('GET', `/ops/tenants/${first.tenantId}/dedicated-runs/${first.id}`, dedicatedRun)).data,
    finished: (run) => FINISHED.includes(run.status),
    progress: runProgress(ctx.out),
    text: dedicatedRunText,
  });

/** Sends a dedicate or share request: the plan for a dry run, else the run, followed unless --no-wait. */
async function start(c: Context, id: string, what: 'dedicate' | 'share', body: Record<string, unknown>, o: { dryRun?: boolean; wait: boolean }): Promise<void> {
  const path = `/ops/tenants/${id}/${what}`;
  if (o.dryRun) {
    const { data } = await c.authenticated().request('POST', path, dedicatedPlan, { body: { ...body, dryRun: true } });
    emit(c.out, data, () => planText(data));
    return;
  }
  const { data } = await c.authenticated().request('POST', path, dedicatedRun, { body });
  const started = `${what === 'dedicate' ? 'Dedicate' : 'Share'} run ${data.id} of tenant ${id} (to ${data.target.shard}) started.`;
  if (!o.wait) {
    emit(c.out, data, () => `${started} Follow it: hotdash-ops dedicated watch ${id} ${data.id}\n`);
    return;
  }
  note(c.out, started);
  await follow(c, data);
}

export function dedicatedCommands(program: Command, ctx: () => Context): void {
  const tenants = program.commands.find((c) => c.name() === 'tenants');
  if (!tenants) throw new Error('the tenants commands must be registered first');

  tenants
    .command('dedicate')
    .description(
      'give an Enterprise tenant a dedicated database, live: a free dedicated shard of its region reused (the default when there is one and no location is given), or a database created on its shard’s server (or --host/--port) and registered as a dedicated shard; then the tenant moved onto it while it keeps working',
    )
    .argument('<tenant-id>', 'the tenant’s id', tenantId)
    .option('--host <host>', 'the server to create the database on (default: the tenant’s current shard’s)')
    .option('--port <port>', 'that server’s port (default: the tenant’s current shard’s)', port)
    .option('--database <name>', 'the database’s name (default: hotdash_dedicated_<tenant id without dashes>)')
    .option('--shard <name>', 'the new shard’s name (default: dedicated-<tenant id without dashes>); with --reuse, which free dedicated shard')
    .option('--reuse', 'insist on reusing a free dedicated shard of the region (refused when there is none)')
    .option('--no-reuse', 'always create a database, even when a free dedicated shard exists')
    .option('--dry-run', 'check everything the platform checks and say what would happen; change nothing')
    .option('--no-wait', 'start the run and print its id without following it')
    .addHelpText('after', '\nExit code 0 when the tenant is on its dedicated shard (a dry run: it can be), 1 when refused, rolled back or failed.')
    .action(async (id: string, o: { host?: string; port?: number; database?: string; shard?: string; reuse?: boolean; dryRun?: boolean; wait: boolean }) => {
      const c = ctx();
      const body = parseWith(dedicateBody, {
        ...(o.host !== undefined ? { host: o.host } : {}),
        ...(o.port !== undefined ? { port: o.port } : {}),
        ...(o.database !== undefined ? { database: o.database } : {}),
        ...(o.shard !== undefined ? { shard: o.shard } : {}),
        ...(o.reuse !== undefined ? { reuse: o.reuse } : {}),
      });
      await start(c, id, 'dedicate', body, o);
    });

  tenants
    .command('share')
    .alias('undedicate')
    .description(
      'move a tenant from its dedicated shard back to the active shared shard of its region with the fewest tenants (or --shard), live; then the freed dedicated shard is drained and retired (its database is kept), or with --keep left active for reuse',
    )
    .argument('<tenant-id>', 'the tenant’s id', tenantId)
    .option('--keep', 'keep the freed dedicated shard active (a free dedicated shard the next `tenants dedicate` reuses) instead of retiring it')
    .option('--shard <name>', 'the shared shard to move it to (default: the one of its region with the fewest tenants)')
    .option('--dry-run', 'check everything the platform checks and say what would happen; change nothing')
    .option('--no-wait', 'start the run and print its id without following it')
    .addHelpText('after', '\nExit code 0 when the tenant is on the shared shard (a dry run: it can be), 1 when refused, rolled back or failed.\nA retired shard’s database is never dropped by the platform: see docs/operations.md, "Dedicated databases".')
    .action(async (id: string, o: { keep?: boolean; shard?: string; dryRun?: boolean; wait: boolean }) => {
      const c = ctx();
      const body = parseWith(shareBody, { ...(o.keep ? { keep: true } : {}), ...(o.shard !== undefined ? { shard: o.shard } : {}) });
      await start(c, id, 'share', body, o);
    });

  const dedicated = program.command('dedicated').description('dedicated databases: follow a dedicate or share run');

  dedicated
    .command('watch')
    .description('follow a dedicate or share run until it has finished')
    .argument('<tenant-id>', 'the tenant’s id', tenantId)
    .argument('<run-id>', 'the run’s id', runId)
    .addHelpText('after', '\nExit code 0 when the run succeeded, 1 when it was rolled back or failed.')
    .action(async (tenant: string, run: string) => {
      const c = ctx();
      const { data } = await c.authenticated().request('GET', `/ops/tenants/${tenant}/dedicated-runs/${run}`, dedicatedRun);
      await follow(c, data);
    });
}
