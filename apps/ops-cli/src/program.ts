import { Command, CommanderError } from 'commander';
import { Context } from './context';
import { CliError, EXIT_CODES_HELP, ExitCode, usageError } from './errors';
import { emitError, outputFor } from './output';
import { migrationCommands } from './commands/migrations';
import { sessionCommands } from './commands/session';
import { shardCommands } from './commands/shards';
import { tenantCommands } from './commands/tenants';
import { backupCommands } from './commands/backups';
import { moveCommands } from './commands/moves';
import { importCommands } from './commands/imports';
import { rebalanceCommands } from './commands/rebalance';
import { dedicatedCommands } from './commands/dedicated';
import { keysCommands } from './commands/keys';
import { certificateCommands } from './commands/certificate';
import { dlqCommands } from './commands/dlq';

export interface Streams {
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
}

/** The command tree. `commanderErrors` collects what commander would have printed for a usage error (printed by `run`, as JSON with --json). */
export function buildProgram(env: NodeJS.ProcessEnv, streams: Streams, commanderErrors: string[]): Command {
  const program = new Command('hotdash-ops');
  program
    .description('The HotDash ops team’s command line: the shard registry, migrations and the tenant lifecycle, over the gateway’s ops API.')
    .version('0.1.0', '-V, --version')
    .option('--gateway <url>', 'the gateway (default: HOTDASH_GATEWAY_URL, else the one you logged in to, else http://127.0.0.1:3100)')
    .option('--json', 'print exactly one JSON document on stdout (no progress; errors as {"error": …})')
    .configureOutput({
      writeOut: (s) => streams.stdout.write(s),
      writeErr: (s) => streams.stderr.write(s),
      outputError: (s) => void commanderErrors.push(s),
    })
    .exitOverride()
    .showHelpAfterError(false)
    .addHelpText('after', EXIT_CODES_HELP);
  const ctx = () => {
    const o = program.opts<{ gateway?: string; json?: boolean }>();
    return new Context(outputFor(o.json === true, env, streams.stdout, streams.stderr), env, o.gateway);
  };
  sessionCommands(program, ctx);
  shardCommands(program, ctx);
  migrationCommands(program, ctx);
  tenantCommands(program, ctx);
  backupCommands(program, ctx);
  moveCommands(program, ctx);
  importCommands(program, ctx);
  rebalanceCommands(program, ctx);
  dedicatedCommands(program, ctx);
  keysCommands(program, ctx);
  certificateCommands(program, ctx);
  dlqCommands(program, ctx);
  return program;
}

/** The commands named on the line, as far as they exist (`shards register` of `shards register x --port y`). */
export function commandPath(program: Command, argv: string[]): string[] {
  const path: string[] = [];
  let cmd = program;
  for (const a of argv) {
    if (a.startsWith('-')) continue;
    const sub = cmd.commands.find((c) => c.name() === a || c.aliases().includes(a));
    if (!sub) break;
    path.push(sub.name());
    cmd = sub;
  }
  return path;
}

/** Runs one command line; the exit code (see errors.ts). */
export async function run(argv: string[], env: NodeJS.ProcessEnv = process.env, streams: Streams = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  const commanderErrors: string[] = [];
  const program = buildProgram(env, streams, commanderErrors);
  const json = argv.includes('--json');
  try {
    await program.parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : ExitCode.OK;
  } catch (err) {
    const out = { json, stdout: streams.stdout, stderr: streams.stderr };
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return ExitCode.OK;
      const detail = (commanderErrors.join('').trim() || err.message).replace(/^error: /, '');
      // A command group without its subcommand (`hotdash-ops shards`): commander printed the group's help.
      const missingSub = err.code === 'commander.help' || err.code === 'commander.executeSubCommandAsync';
      emitError(out, usageError(missingSub ? 'A command is missing.' : detail, `See \`${['hotdash-ops', ...commandPath(program, argv), '--help'].join(' ')}\`.`));
      return ExitCode.USAGE;
    }
    if (err instanceof CliError) {
      emitError(out, err);
      return err.exitCode;
    }
    emitError(out, new CliError(ExitCode.REFUSED, 'internal-error', 'Unexpected failure', (err as Error)?.stack ?? String(err), 'This is a bug in hotdash-ops: report it with the command line you ran.'));
    return ExitCode.REFUSED;
  }
}
