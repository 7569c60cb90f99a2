import type { Command } from 'commander';
import { keyRotationDryRun, keyRotationRun, keysStatus, startKeyRotationBody, type KeyRotationDryRun, type KeyRotationRun, type KeysStatus } from '@hotdash/contracts';
import { usageError } from '../errors';
import { emit, note, table, type Output } from '../output';
import type { Context } from '../context';
import { followRun } from '../follow';
import { singleBarProgress } from '../progress';
import { parseWith } from './parse';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The live keys per KEK as a person reads them. */
export function keysStatusText(s: KeysStatus): string {
  const lines = [`Current key-encryption key: ${s.currentKekId}`];
  lines.push(table(['KEK', 'LIVE KEYS', ''], s.keks.map((k) => [k.kekId, k.keys, k.current ? 'current' : ''])).trimEnd());
  lines.push(`Destroyed keys: ${s.destroyed}.`);
  if (s.runningRotation) lines.push(`A rotation is running: hotdash-ops keys rotation ${s.runningRotation}`);
  else if (s.notCurrent > 0) lines.push(`${s.notCurrent} live key(s) are not under the current KEK: re-wrap them with \`hotdash-ops keys rotate\` (docs/operations.md, "Rotating the key-encryption key").`);
  else lines.push('Every live key is under the current KEK.');
  return `${lines.join('\n')}\n`;
}

export function keyRotationDryRunText(d: KeyRotationDryRun): string {
  const lines = [`Dry run: ${d.total} live key(s) would be re-wrapped under ${d.toKekId}${d.fromKekId ? ` (only those under ${d.fromKekId})` : ''}.`];
  if (d.keks.length) lines.push(table(['FROM KEK', 'KEYS'], d.keks.map((k) => [k.kekId, k.keys])).trimEnd());
  return `${lines.join('\n')}\n`;
}

/** A run as text: its counts per KEK, then what to do. */
export function keyRotationText(run: KeyRotationRun): string {
  const lines = [`Key rotation ${run.id} to ${run.toKekId}${run.fromKekId ? ` (from ${run.fromKekId})` : ''}: ${run.status}, ${run.rewrapped}/${run.total} re-wrapped, ${run.remaining} remaining`];
  if (run.keks.length) lines.push(table(['FROM KEK', 'KEYS', 'RE-WRAPPED'], run.keks.map((k) => [k.kekId, k.total, k.rewrapped])).trimEnd());
  if (run.status === 'failed') lines.push(`Stopped (${run.code ?? 'failed'}): ${run.error ?? 'see the provisioning service’s log'}`);
  if (run.status === 'running') lines.push(`Follow it: hotdash-ops keys rotation ${run.id}`);
  if (run.status === 'succeeded' && run.remaining === 0) lines.push('Every selected key is under the new KEK: the old master key may be removed from HOTDASH_KMS_MASTER_KEYS once no backup you keep needs it.');
  return `${lines.join('\n')}\n`;
}

/** One bar over the run's keys. */
const rotationProgress = (out: Output) =>
  singleBarProgress<KeyRotationRun>(out, {
    label: () => 'rotation',
    unit: 'keys',
    total: (run) => run.total,
    done: (run) => run.rewrapped,
    phase: (run) => (run.status === 'running' ? `re-wrapping under ${run.toKekId}` : run.status),
  });

const follow = (ctx: Context, first: KeyRotationRun) =>
  followRun(ctx, first, {
    noun: 'rotation',
    again: `hotdash-ops keys rotation ${first.id}`,
    poll: async () => (await ctx.authenticated().request('GET', `/ops/keys/rotations/${first.id}`, keyRotationRun)).data,
    finished: (run) => run.status !== 'running',
    progress: rotationProgress(ctx.out),
    text: keyRotationText,
  });

export function keysCommands(program: Command, ctx: () => Context): void {
  const keys = program.command('keys').description('the tenants’ data keys and the rotation of the key-encryption key (KEK) that wraps them');

  keys
    .command('status')
    .description('live data keys per KEK id, which KEK is current, destroyed keys, and the running rotation')
    .action(async () => {
      const c = ctx();
      const { data } = await c.authenticated().request('GET', '/ops/keys', keysStatus);
      emit(c.out, data, () => keysStatusText(data));
    });

  keys
    .command('rotate')
    .description('re-wrap every live data key not under the current KEK (put the new master key first in every service’s HOTDASH_KMS_MASTER_KEYS and restart them first)')
    .option('--from <kekId>', 'only the keys under this KEK')
    .option('--dry-run', 'only count the keys per KEK that would be re-wrapped; change nothing')
    .option('--no-wait', 'start the run and print its id without following it')
    .addHelpText(
      'after',
      '\nThe run goes on in the provisioning service (a saga: it resumes after a restart). A key under a KEK\nthe service no longer holds stops it: put that master key back and run again. Exit code 0 when every\nkey was re-wrapped (a dry run: counted), 1 when refused or failed.',
    )
    .action(async (o: { from?: string; dryRun?: boolean; wait: boolean }) => {
      const c = ctx();
      const body = parseWith(startKeyRotationBody, { ...(o.from !== undefined ? { fromKekId: o.from } : {}), dryRun: o.dryRun === true });
      if (body.dryRun) {
        const { data } = await c.authenticated().request('POST', '/ops/keys/rotations', keyRotationDryRun, { body });
        emit(c.out, data, () => keyRotationDryRunText(data));
        return;
      }
      const { data } = await c.authenticated().request('POST', '/ops/keys/rotations', keyRotationRun, { body });
      if (!o.wait) {
        emit(c.out, data, () => `Key rotation ${data.id} started: ${data.total} key(s) to re-wrap under ${data.toKekId}.\nFollow it: hotdash-ops keys rotation ${data.id}\n`);
        return;
      }
      note(c.out, `Key rotation ${data.id} started: ${data.total} key(s) to re-wrap under ${data.toKekId}.`);
      await follow(c, data);
    });

  keys
    .command('rotation')
    .description('follow a key rotation by its id (from `keys rotate`) until it has finished')
    .argument('<id>', 'the rotation’s id')
    .action(async (id: string) => {
      const c = ctx();
      if (!UUID.test(id)) throw usageError(`"${id}" is not a rotation id (a UUID).`, 'Give the id that `hotdash-ops keys rotate` printed (`hotdash-ops keys status` shows a running one).');
      const { data } = await c.authenticated().request('GET', `/ops/keys/rotations/${id.toLowerCase()}`, keyRotationRun);
      await follow(c, data);
    });
}
