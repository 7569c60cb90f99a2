import type { Command } from 'commander';
import { migrationRunOperation, migrationStatus, type MigrationRunOperation } from '@hotdash/contracts';
import { usageError } from '../errors';
import { emit, migrationRunSummary, migrationStatusTable, note } from '../output';
import { runProgress } from '../progress';
import type { Context } from '../context';
import { followRun } from '../follow';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Follows a migration run, one progress row per database (the whole operation as JSON with --json). */
const follow = (ctx: Context, first: MigrationRunOperation) =>
  followRun(ctx, first, {
    noun: 'run',
    again: `hotdash-ops migrations watch ${first.id}`,
    poll: async () => (await ctx.authenticated().request('GET', `/ops/migrations/runs/${first.id}`, migrationRunOperation)).data,
    finished: (run) => run.status !== 'running',
    progress: runProgress(ctx.out),
    text: migrationRunSummary,
  });

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

