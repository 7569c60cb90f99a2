// The CLI's shared progress displays (one bar over a run's parts; one row per part), as plain lines
// when progress is forced off a terminal (what CI logs show), and nothing when progress is off.
import { Writable } from 'node:stream';
import { outputFor } from './output';
import { rowsProgress, singleBarProgress, stepsDone } from './progress';

class Capture extends Writable {
  text = '';
  isTTY = false;
  override _write(chunk: Buffer, _enc: string, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

interface Run {
  phase: string;
  steps: { status: string }[];
}

const output = (env: Record<string, string>) => {
  const stdout = new Capture() as unknown as NodeJS.WriteStream & Capture;
  const stderr = new Capture() as unknown as NodeJS.WriteStream & Capture;
  return { out: outputFor(false, env, stdout, stderr), stdout, stderr };
};
const run = (phase: string, ...statuses: string[]): Run => ({ phase, steps: statuses.map((status) => ({ status })) });
const view = { label: () => 'move', unit: 'steps', total: (r: Run) => r.steps.length, done: stepsDone, phase: (r: Run) => r.phase };

it('counts the steps behind a run: completed or undone', () => {
  expect(stepsDone(run('x', 'completed', 'compensated', 'running', 'failed', 'pending'))).toBe(2);
});

it('writes one line per change of a single bar when forced off a terminal, and nothing when progress is off', () => {
  const forced = output({ HOTDASH_OPS_PROGRESS: 'always' });
  const p = singleBarProgress(forced.out, view);
  p.update(run('copy', 'completed', 'running'));
  p.update(run('copy', 'completed', 'running'));
  p.update(run('succeeded', 'completed', 'completed'));
  p.stop();
  expect(forced.stderr.text).toBe('progress: 1/2 copy\nprogress: 2/2 succeeded\n');
  expect(forced.stdout.text).toBe('');

  const off = output({});
  const q = singleBarProgress(off.out, view);
  q.update(run('copy', 'running'));
  q.stop();
  expect(off.stderr.text).toBe('');
});

it('writes one line per change of each row when forced off a terminal', () => {
  const forced = output({ HOTDASH_OPS_PROGRESS: 'always' });
  const rows = (n: number) => [
    { name: 'rows', value: n, total: 4, count: `${n}/4`, status: n === 4 ? 'done' : 'running' },
    { name: 'keys', value: 1, total: 1, count: '1/1', status: 'done' },
  ];
  const p = rowsProgress<number>(forced.out, rows, { countWidth: 5 });
  p.update(1);
  p.update(1);
  p.update(4);
  p.stop();
  expect(forced.stderr.text).toBe('progress: rows 1/4 running\nprogress: keys 1/1 done\nprogress: rows 4/4 done\n');
});
