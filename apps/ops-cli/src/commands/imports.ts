import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { DEFAULT_REPLAY_WINDOW_MINUTES, importPlan, importRun, startImportBody, type ImportPlan, type ImportRun, type PilotCredentials } from '@hotdash/contracts';
import { usageError } from '../errors';
import { emit, note, table, type Output } from '../output';
import type { Context } from '../context';
import { followRun } from '../follow';
import { singleBarProgress, stepsDone } from '../progress';
import { parseWith } from './parse';
import { promptHidden } from './session';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const FINISHED = ['succeeded', 'rolled-back', 'failed'];
/** The pilot's key-encryption keys when they are not in its env file (never a command-line argument: shell history, `ps`). */
export const PILOT_KEYS_ENV = 'HOTDASH_PILOT_KMS_MASTER_KEYS';
/** The pilot's import role (docs/pilot.md, "The import role"): its name (or --pilot-user; default hotdash_import) and its password (or --pilot-password-file, or typed at the prompt; never a command-line argument). */
export const PILOT_USER_ENV = 'HOTDASH_PILOT_DB_USER';
export const PILOT_PASSWORD_ENV = 'HOTDASH_PILOT_DB_PASSWORD';
const DEFAULT_PILOT_USER = 'hotdash_import';
/** The platform's defaults, which a pilot's env file leaves out when it uses them (libs/platform/config). */
const DEFAULTS = { HOTDASH_PG_HOST: '127.0.0.1', HOTDASH_PG_PORT: '54329', HOTDASH_CONTROL_DATABASE: 'hotdash_control', HOTDASH_WEAVIATE_URL: 'http://127.0.0.1:18080', HOTDASH_WEAVIATE_GRPC_PORT: '50052' };

const importId = (v: string): string => {
  if (!UUID.test(v)) throw usageError(`"${v}" is not an import id (a UUID).`, 'Give the id that `imports start` printed.');
  return v.toLowerCase();
};

/** `host:port/database`. */
function location(v: string, what: string): { host: string; port: number; database: string } {
  const m = /^([^:/\s]+):(\d{1,5})\/([^/\s]+)$/.exec(v);
  if (!m) throw usageError(`${what} "${v}" is not host:port/database.`, `Give ${what} as host:port/database, e.g. 10.0.0.5:5432/hotdash_control.`);
  return { host: m[1]!, port: Number(m[2]), database: m[3]! };
}

/**
 * A pilot's env file (the one it runs with): `KEY=VALUE` lines, `export` and `#` comments allowed,
 * values optionally quoted. Only the HOTDASH_* settings are read.
 */
export function readEnvFile(path: string): Record<string, string> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw usageError(`The pilot's env file ${path} cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}.`, 'Give --pilot-env the file the pilot runs with (docs/pilot.md).');
  }
  const env: Record<string, string> = {};
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const m = /^(?:export\s+)?(HOTDASH_[A-Z0-9_]+)\s*=\s*(.*)$/.exec(line);
    if (!m) continue;
    let value = m[2]!.trim();
    if ((value.startsWith('"') && value.endsWith('"')) || (value.startsWith("'") && value.endsWith("'"))) value = value.slice(1, -1);
    env[m[1]!] = value;
  }
  return env;
}

interface StartOptions {
  shard: string;
  pilotEnv?: string;
  pilotUser?: string;
  pilotPasswordFile?: string;
  pilotControl?: string;
  pilotShard?: string;
  pilotWeaviate?: string;
  pilotWeaviateGrpc?: string;
  pilotCollection?: string;
  replayMinutes?: string;
  dryRun?: boolean;
  wait: boolean;
}

/** Where a password can be typed: standard input when it is a terminal. */
export interface Terminal {
  isTTY: boolean;
  prompt(question: string): Promise<string>;
}

const stdinTerminal: Terminal = { isTTY: process.stdin.isTTY === true, prompt: (q) => promptHidden(q) };

/**
 * The pilot's import role: its name from --pilot-user, HOTDASH_PILOT_DB_USER or hotdash_import; its
 * password from --pilot-password-file (the file's first line), HOTDASH_PILOT_DB_PASSWORD, or typed
 * without echo when standard input is a terminal. Never from a command-line argument (shell history,
 * `ps`); a usage error (exit 2, nothing sent) when there is none.
 */
export async function pilotCredentialsFrom(o: Pick<StartOptions, 'pilotUser' | 'pilotPasswordFile'>, env: NodeJS.ProcessEnv, terminal: Terminal = stdinTerminal): Promise<PilotCredentials> {
  const user = o.pilotUser ?? (env[PILOT_USER_ENV]?.trim() || DEFAULT_PILOT_USER);
  let password: string | undefined;
  if (o.pilotPasswordFile) {
    let text: string;
    try {
      text = readFileSync(o.pilotPasswordFile, 'utf8');
    } catch (err) {
      throw usageError(`The import role's password file ${o.pilotPasswordFile} cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}.`, 'Give --pilot-password-file a file holding the password on its first line (mode 0600).');
    }
    password = text.split(/\r?\n/)[0];
    if (!password) throw usageError(`The import role's password file ${o.pilotPasswordFile} is empty.`, 'Put the password of the pilot’s import role on its first line.');
  } else password = env[PILOT_PASSWORD_ENV] || undefined;
  if (!password) {
    if (!terminal.isTTY)
      throw usageError(
        `The password of the pilot's import role ${user} is not given: ${PILOT_PASSWORD_ENV} is not set, no --pilot-password-file, and standard input is not a terminal to ask on.`,
        `Set ${PILOT_PASSWORD_ENV}, or give --pilot-password-file <file>, or run the command in a terminal (never put the password on the command line). The role is made on the pilot as docs/pilot.md says.`,
      );
    password = await terminal.prompt(`password of the pilot's import role ${user}: `);
    if (!password) throw usageError('The password is empty.', `Type the password of the pilot’s import role ${user}, or set ${PILOT_PASSWORD_ENV}.`);
  }
  return { user, password };
}

/** The request body from the options and the pilot's env file; the keys from the env file or HOTDASH_PILOT_KMS_MASTER_KEYS; the import role as given. */
async function startBody(o: StartOptions, env: NodeJS.ProcessEnv, credentials: () => Promise<PilotCredentials>) {
  const file = o.pilotEnv ? readEnvFile(o.pilotEnv) : {};
  const setting = (k: keyof typeof DEFAULTS) => file[k] ?? DEFAULTS[k];
  if (!o.pilotEnv && !o.pilotControl) throw usageError('Say where the pilot is: --pilot-env <file> (its env file), or --pilot-control host:port/database with --pilot-weaviate.', 'See `hotdash-ops imports start --help` and docs/pilot.md.');
  const control = o.pilotControl ? location(o.pilotControl, '--pilot-control') : { host: setting('HOTDASH_PG_HOST'), port: Number(setting('HOTDASH_PG_PORT')), database: setting('HOTDASH_CONTROL_DATABASE') };
  const keys = env[PILOT_KEYS_ENV]?.trim() || file.HOTDASH_KMS_MASTER_KEYS?.trim();
  if (!keys)
    throw usageError(
      `The pilot's key-encryption keys are not given: neither ${PILOT_KEYS_ENV} nor HOTDASH_KMS_MASTER_KEYS in the pilot's env file is set.`,
      `Set ${PILOT_KEYS_ENV} to the pilot's HOTDASH_KMS_MASTER_KEYS (never put it on the command line), or give --pilot-env.`,
    );
  return parseWith(startImportBody, {
    pilot: {
      control,
      ...(o.pilotShard ? { shard: location(o.pilotShard, '--pilot-shard') } : {}),
      weaviate: {
        url: o.pilotWeaviate ?? setting('HOTDASH_WEAVIATE_URL'),
        grpcPort: Number(o.pilotWeaviateGrpc ?? setting('HOTDASH_WEAVIATE_GRPC_PORT')),
        ...(o.pilotCollection ? { collection: o.pilotCollection } : {}),
      },
      // Asked for last: a password is typed only for a command that is otherwise complete.
      credentials: await credentials(),
      kmsMasterKeys: keys,
    },
    shard: o.shard,
    ...(o.replayMinutes !== undefined ? { replayWindowMinutes: /^\d+$/.test(o.replayMinutes) ? Number(o.replayMinutes) : o.replayMinutes } : {}),
    ...(o.dryRun ? { dryRun: true } : {}),
  });
}

/** What the step running is doing, for the progress row. */
function phaseText(run: ImportRun): string {
  if (FINISHED.includes(run.status)) return run.status;
  const step = run.steps.find((s) => s.id === run.phase);
  const p = run.progress ? ` ${run.progress.done}/${run.progress.total} ${run.progress.unit}` : '';
  return `${run.status === 'rolling-back' ? 'rolling back: ' : ''}${run.phase ?? 'starting'}${p}${step && step.attempts > 1 ? ` (try ${step.attempts})` : ''}`;
}

/** One bar over the import's steps. */
const importProgress = (out: Output) =>
  singleBarProgress<ImportRun>(out, { label: () => 'import', unit: 'steps', total: (run) => run.steps.length, done: stepsDone, phase: phaseText });

/** An import as a person reads it. */
function runText(run: ImportRun): string {
  const steps = table(
    ['STEP', 'STATUS', 'TRIES', 'ERROR'],
    run.steps.map((s) => [s.id, s.status, s.attempts, s.lastError ?? '']),
  );
  const lines = [`Import ${run.id} of tenant ${run.tenant.slug} (${run.tenant.id}) from the pilot at ${run.pilot.control} onto ${run.target}: ${run.status}`];
  const verified = run.steps.find((s) => s.id === 'verify')?.detail as { rows?: number; auditChain?: { checked: number } } | null | undefined;
  const cut = run.steps.find((s) => s.id === 'cut-over')?.detail as { pauseMs?: number } | null | undefined;
  if (run.status === 'succeeded')
    lines.push(
      `  the tenant is served by the platform on ${run.target} (${verified?.rows ?? '?'} rows, ${verified?.auditChain?.checked ?? '?'} audit entries verified); the pilot refuses it since the cut-over (writes paused ${cut?.pauseMs ?? '?'} ms).`,
      '  Now switch its traffic (DNS) to the platform, and decommission the pilot once nothing reaches it (docs/pilot.md).',
    );
  if (run.status === 'rolled-back') lines.push(`  nothing of the import is left on the platform; the pilot serves as before. ${run.error ?? ''}`.trimEnd());
  if (run.status === 'failed')
    lines.push(
      run.cutOver
        ? `  the cut-over was decided: the pilot refuses the tenant; the platform holds its rows but has not activated it. ${run.error ?? ''} Look at the step that failed (docs/pilot.md, "When an import fails").`
        : `  the import could not be undone completely: ${run.error ?? ''}; the pilot serves the tenant.`,
    );
  if (!FINISHED.includes(run.status)) lines.push(`  Follow it: hotdash-ops imports status ${run.id}`);
  return `${steps}${lines.join('\n')}\n`;
}

const planText = (p: ImportPlan) =>
  [
    `Dry run: tenant ${p.tenant.slug} (${p.tenant.id}, "${p.tenant.name}", plan ${p.tenant.plan}, ${p.tenant.status}) of the pilot at ${p.pilot.control} can be imported onto ${p.target.shard} (region ${p.target.region}).`,
    `  pilot shard ${p.pilot.shard}, schema ${p.pilot.schema.tenant ?? '-'}; Weaviate ${p.pilot.weaviate}: ${p.vectors} vectors`,
    `  data key: unwrapped with the pilot's key ${p.key.pilotKekIds.join(', ')}, re-wrapped under the platform's ${p.key.platformKekId}`,
    `  work in flight: the pilot's events of the last ${p.replay.windowMinutes} minutes before the cut-over published again on the platform; unfinished drafts and documents started again`,
    p.plan.differences.length
      ? `  plan ${p.plan.code}: the platform's limits apply, which differ from the pilot's: ${p.plan.differences.map((d) => `${d.limit} ${d.pilot} → ${d.platform}`).join(', ')}`
      : `  plan ${p.plan.code}: the same limits on both`,
    '',
    table(
      ['TABLE', 'ROWS'],
      p.rows.map((r) => [r.table, r.rows]),
    ).trimEnd(),
    '',
    table(
      ['CONTROL TABLE', 'CARRIED', 'HOW'],
      p.control.map((c) => [c.table, c.carried ? 'yes' : 'no', c.how]),
    ).trimEnd(),
    '',
    'The import would:',
    table(
      ['STEP', 'WHAT IT DOES'],
      p.steps.map((s) => [s.id, s.description]),
    ).trimEnd(),
  ].join('\n');

/** Follows an import, one progress row for its steps. */
const follow = (ctx: Context, first: ImportRun) =>
  followRun(ctx, first, {
    noun: 'import',
    again: `hotdash-ops imports status ${first.id}`,
    poll: async () => (await ctx.authenticated().request('GET', `/ops/imports/${first.id}`, importRun)).data,
    finished: (run) => FINISHED.includes(run.status),
    progress: importProgress(ctx.out),
    text: runText,
  });

export function importCommands(program: Command, ctx: () => Context): void {
  const imports = program.command('imports').description('pilot imports: bring a single-tenant pilot deployment’s tenant into the platform (docs/pilot.md)');

  imports
    .command('start')
    .description(
      'import a pilot’s tenant: its control records, its data key re-wrapped under the platform’s key-encryption key, every tenant row moved live (the pilot serves until the cut-over, which fences it), its knowledge vectors; then verified and activated',
    )
    .requiredOption('--shard <name>', 'the platform shard to import onto (`hotdash-ops shards list`)')
    .option('--pilot-env <file>', 'the env file the pilot runs with: its control database, Weaviate and key-encryption keys (HOTDASH_PG_HOST, HOTDASH_PG_PORT, HOTDASH_CONTROL_DATABASE, HOTDASH_WEAVIATE_URL, HOTDASH_WEAVIATE_GRPC_PORT, HOTDASH_KMS_MASTER_KEYS)')
    .option('--pilot-user <role>', `the pilot’s import role, made on the pilot for the import (docs/pilot.md; default: ${PILOT_USER_ENV}, else ${DEFAULT_PILOT_USER})`)
    .option('--pilot-password-file <file>', `a file whose first line is the import role’s password (default: ${PILOT_PASSWORD_ENV}, else asked for without echo)`)
    .option('--pilot-control <host:port/db>', 'the pilot’s control database, as the platform reaches it (wins over the env file)')
    .option('--pilot-shard <host:port/db>', 'the pilot’s shard, as the platform reaches it (default: where the pilot’s control database places its tenant)')
    .option('--pilot-weaviate <url>', 'the pilot’s Weaviate (wins over the env file)')
    .option('--pilot-weaviate-grpc <port>', 'the gRPC port of the pilot’s Weaviate (wins over the env file)')
    .option('--pilot-collection <name>', 'the pilot’s knowledge collection, when not the default KnowledgeChunk')
    .option(
      '--replay-minutes <n>',
      `publish again on the platform the events the pilot published in the last <n> minutes before the cut-over (its Kafka does not come along; consumers skip what the pilot's had applied); 0 for none (default ${DEFAULT_REPLAY_WINDOW_MINUTES})`,
    )
    .option('--dry-run', 'connect, check versions, reachability, keys and collisions, and say what would be imported; change nothing')
    .option('--no-wait', 'start the import and print its id without following it')
    .addHelpText(
      'after',
      `\nThe pilot's key-encryption keys come from HOTDASH_KMS_MASTER_KEYS in --pilot-env, or from ${PILOT_KEYS_ENV} (which wins); never from the command line. They are sent once, to unwrap the tenant's data key, and neither stored nor logged.\n\nThe platform connects to the pilot's databases only as the pilot's import role (docs/pilot.md, "The import role"), never with its own roles. Its password comes from --pilot-password-file, ${PILOT_PASSWORD_ENV}, or the prompt; never from the command line. It is neither logged nor shown back; the import keeps it sealed under the platform's key-encryption key while it runs and forgets it when it ends. Drop the role on the pilot afterwards.\n\nExit code 0 when the tenant was imported (a dry run: it can be), 1 when refused, rolled back or failed.`,
    )
    .action(async (o: StartOptions) => {
      const c = ctx();
      const body = await startBody(o, c.env, () => pilotCredentialsFrom(o, c.env));
      if (o.dryRun) {
        const { data } = await c.authenticated().request('POST', '/ops/imports', importPlan, { body });
        emit(c.out, data, () => planText(data));
        return;
      }
      const { data } = await c.authenticated().request('POST', '/ops/imports', importRun, { body });
      if (!o.wait) {
        emit(c.out, data, () => `Import ${data.id} of tenant ${data.tenant.slug} (${data.tenant.id}) onto ${data.target} started. Follow it: hotdash-ops imports status ${data.id}\n`);
        return;
      }
      note(c.out, `Import ${data.id} of tenant ${data.tenant.slug} (${data.tenant.id}) onto ${data.target} started.`);
      await follow(c, data);
    });

  imports
    .command('status')
    .description('an import: its steps and what each reported; followed with progress until it has finished')
    .argument('<import-id>', 'the import’s id', importId)
    .option('--no-wait', 'print its state now, without following it')
    .addHelpText('after', '\nExit code 0 when the import succeeded (with --no-wait: also while it runs), 1 when it was rolled back or failed.')
    .action(async (id: string, o: { wait: boolean }) => {
      const c = ctx();
      const { data } = await c.authenticated().request('GET', `/ops/imports/${id}`, importRun);
      if (!o.wait) {
        emit(c.out, data, () => runText(data));
        if (data.status === 'rolled-back' || data.status === 'failed') process.exitCode = 1;
        return;
      }
      await follow(c, data);
    });
}
