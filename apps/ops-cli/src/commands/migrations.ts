import type { Command } from 'commander';
import { migrationRunOperation, migrationStatus, type MigrationRunOperation } from '@hotdash/contracts';
import { CliError, ExitCode, usageError } from '../errors';
import { emit, migrationRunSummary, migrationStatusTable, note } from '../output';
import { runProgress } from '../progress';
import type { Context } from '../context';

const POLL_MS = 500;
/** Consecutive failed polls (gateway away for a moment) before giving up. */
const POLL_RETRIES = 6;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Polls a run until it has finished, drawing one progress row per database; prints the finished
 * run (the whole operation as JSON with --json) and sets the exit code: 0 succeeded, 1 failed or
 * interrupted. Ctrl-C stops following, not the run.
 */
async function follow(ctx: Context, first: MigrationRunOperation): Promise<void> {
  const client = ctx.authenticated();
  const progress = runProgress(ctx.out);
  const onInterrupt = () => {
    progress.stop();
    ctx.out.stderr.write(`\nStopped following; run ${first.id} goes on. Follow it again with \`hotdash-ops migrations watch ${first.id}\`.\n`);
    process.exit(130);
  };
  process.once('SIGINT', onInterrupt);
  let run = first;
  let failures = 0;
  try {
    progress.update(run);
    while (run.status === 'running') {
      await sleep(POLL_MS);
      try {
        run = (await client.request('GET', `/ops/migrations/runs/${first.id}`, migrationRunOperation)).data;
        failures = 0;
      } catch (err) {
        // A gateway restart or a moment without an answer: keep following, a few times.
        if (err instanceof CliError && err.exitCode === ExitCode.UNREACHABLE && ++failures <= POLL_RETRIES) continue;
        // The run goes on without us (an ops token lasts 15 minutes; a long run may outlast it).
        if (err instanceof CliError && (err.exitCode === ExitCode.NOT_LOGGED_IN || err.exitCode === ExitCode.UNREACHABLE))
          throw new CliError(err.exitCode, err.code, err.title, err.detail, `${err.hint ?? ''} Run ${first.id} goes on meanwhile: follow it again with \`hotdash-ops migrations watch ${first.id}\`.`.trim(), err.status);
        throw err;
      }
      progress.update(run);
    }
  } finally {
    progress.stop();
    process.removeListener('SIGINT', onInterrupt);
  }
  emit(ctx.out, run, () => migrationRunSummary(run));
  if (run.status !== 'succeeded') process.exitCode = ExitCode.REFUSED;
}

export function migrationCommands(program: Command, ctx: () => Context): void {
  const migrations = program.command('migrations').description('migrations of every database (control and every shard that is not retired)');

  migrations
    .command('status')
    .description('per database, the migrations applied and those pending (an unreadable database says why)')
    .action(async () => {
      const c = ctx();
      const { data } = await c.authenticated().request('GET', '/ops/migrations', migrationStatus);
      emit(c.out, data, () => migrationStatusTable(data.databases));
    });

  migrations
    .command('run')
    .description('migrate every database to this build’s version, one progress row per database; one failing database never stops the others')
    .option('--dry-run', 'only say, per database, what would be applied (the platform’s dry run)')
    .option('--no-wait', 'start the run and print its id without following it')
    .addHelpText('after', '\nExit code 0 when every database is migrated (a dry run: could be read), 1 when any failed or the run\nwas interrupted (run it again: what was applied stays applied).')
    .action(async (o: { dryRun?: boolean; wait: boolean }) => {
      const c = ctx();
      const { data } = await c.authenticated().request('POST', '/ops/migrations', migrationRunOperation, { body: { dryRun: o.dryRun === true } });
      if (!o.wait) {
        emit(c.out, data, () => `${data.dryRun ? 'Dry run' : 'Run'} ${data.id} started over ${data.databases.length} database(s). Follow it: hotdash-ops migrations watch ${data.id}`);
        return;
      }
      note(c.out, `${data.dryRun ? 'Dry run' : 'Run'} ${data.id} started over ${data.databases.length} database(s).`);
      await follow(c, data);
    });

  migrations
    .command('watch')
    .description('follow a migration run by its id (from `migrations run`) until it has finished')
    .argument('<run-id>', 'the run’s id')
    .action(async (id: string) => {
      const c = ctx();
      if (!UUID.test(id)) throw usageError(`"${id}" is not a run id (a UUID).`, 'Give the id that `hotdash-ops migrations run` printed.');
      const { data } = await c.authenticated().request('GET', `/ops/migrations/runs/${id}`, migrationRunOperation);
      await follow(c, data);
    });
}

