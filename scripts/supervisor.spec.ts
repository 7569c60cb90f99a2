// The supervisor behind `npm start` (scripts/supervisor.cjs) with real child node processes and
// small timings: a killed service is restarted and the others keep running; repeated crashes back
// off (doubling, capped) and the backoff resets once the service stays up; exit 0 is not
// restarted; stop() ends every child (SIGKILL for one that ignores SIGTERM) and cancels a pending
// restart. Every wait polls for its condition with a deadline; every child is ended by its pid.
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from '@hotdash/testing';
import { Supervisor } from './supervisor.cjs';

interface Spec {
  name: string;
  command: string;
  args?: string[];
  options?: object;
}

// Stays up until signalled; prints "ready" once its SIGTERM handler (if any) is installed.
const STAY_UP = "setInterval(() => {}, 1000); console.log('ready');";
const IGNORE_SIGTERM = "process.on('SIGTERM', () => {}); setInterval(() => {}, 1000); console.log('ready');";
// Exits with code 1 the first `n` times it runs (counted in a file), then stays up.
const crashFirst = (n: number, counter: string) =>
  `const fs = require('node:fs'); const f = ${JSON.stringify(counter)};` +
  `const runs = (fs.existsSync(f) ? Number(fs.readFileSync(f, 'utf8')) : 0) + 1; fs.writeFileSync(f, String(runs));` +
  `if (runs <= ${n}) process.exit(1); setInterval(() => {}, 1000); console.log('ready');`;

const node = (name: string, script: string): Spec => ({
  name,
  command: process.execPath,
  args: ['-e', script],
  options: { stdio: ['ignore', 'pipe', 'inherit'] },
});

let supervisor: InstanceType<typeof Supervisor> | undefined;
let lines: { at: number; text: string }[] = [];
let ready: Set<number>;
const pids = new Set<number>();
let dir: string;

function run(specs: Spec[], timings: { baseDelayMs?: number; maxDelayMs?: number; stableMs?: number; stopGraceMs?: number } = {}) {
  supervisor = new Supervisor(specs, {
    baseDelayMs: 50,
    maxDelayMs: 200,
    stableMs: 60_000,
    stopGraceMs: 2_000,
    ...timings,
    log: (text: string) => lines.push({ at: performance.now(), text }),
    onSpawn: (child: ChildProcess) => {
      const pid = child.pid;
      if (pid === undefined) return;
      pids.add(pid);
      child.stdout?.on('data', (chunk: Buffer) => {
        if (chunk.toString().includes('ready')) ready.add(pid);
      });
    },
  });
  return supervisor.start();
}

/** The supervisor's log goes with a timeout, so a failure shows what it did. */
function until<T>(what: string, probe: () => T | undefined | false, timeoutMs = 10_000): Promise<T> {
  return waitFor(what, async () => probe(), timeoutMs, 10).catch((err: Error) => {
    throw new Error(`${err.message}; log:\n${lines.map((l) => l.text).join('\n')}`);
  });
}

const line = (pattern: RegExp) => lines.find((l) => pattern.test(l.text));
const linesMatching = (pattern: RegExp) => lines.filter((l) => pattern.test(l.text));
const pidOf = (name: string): number | undefined => supervisor?.status(name).pid;
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

jest.setTimeout(20_000); // above until()'s 10 s deadline, so a failed wait reports its log

beforeEach(() => {
  lines = [];
  ready = new Set();
  dir = mkdtempSync(join(tmpdir(), 'supervisor-spec-'));
});

afterEach(async () => {
  // Bounded, so that a broken stop() still leaves no child behind: whatever is alive is SIGKILLed by its pid.
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([supervisor?.stop(), new Promise((resolve) => (timer = setTimeout(resolve, 3_000)))]);
  clearTimeout(timer);
  supervisor = undefined;
  for (const pid of pids) if (alive(pid)) process.kill(pid, 'SIGKILL');
  pids.clear();
  rmSync(dir, { recursive: true, force: true });
});

it('restarts a service killed with SIGKILL under a new pid, logs the signal and the delay, and leaves the other running', async () => {
  run([node('drafting', STAY_UP), node('gateway', STAY_UP)]);
  const drafting = await until('drafting up', () => pidOf('drafting'));
  const gateway = await until('gateway up', () => pidOf('gateway'));

  process.kill(drafting, 'SIGKILL');
  const restarted = await until('drafting restarted', () => {
    const pid = pidOf('drafting');
    return pid !== undefined && pid !== drafting && pid;
  });

  expect(restarted).not.toBe(drafting);
  expect(alive(drafting)).toBe(false);
  expect(pidOf('gateway')).toBe(gateway);
  expect(alive(gateway)).toBe(true);
  expect(line(/^drafting exited \(SIGKILL\) after .*; restarting in 50 ms \(restart 1\)$/)).toBeDefined();
  expect(line(new RegExp(`^drafting restarted \\(pid ${restarted}, restart 1 in a row, 1 in all\\)$`))).toBeDefined();
  expect(linesMatching(/^gateway/).map((l) => l.text)).toEqual([`gateway started (pid ${gateway})`]);
  expect(supervisor?.status('drafting')).toMatchObject({ state: 'running', totalRestarts: 1 });
});

it('doubles the delay for repeated crashes up to the cap, says it keeps retrying, and resets the backoff once the service stays up', async () => {
  run([node('flaky', crashFirst(4, join(dir, 'runs')))], { baseDelayMs: 50, maxDelayMs: 200, stableMs: 1_000 });

  // Runs 1-4 exit with code 1: delays 50, 100, 200 (the cap), 200; run 5 stays up.
  const up = await until('flaky up after 4 crashes', () => [...ready][0]);
  const crashes = linesMatching(/^flaky exited \(code 1\)/).map((l) => l.text.replace(/ after [^;]+;/, ';'));
  const keepsCrashing = '; it keeps crashing: retried every 200 ms until it stays up 1 s';
  expect(crashes).toEqual([
    'flaky exited (code 1); restarting in 50 ms (restart 1)',
    'flaky exited (code 1); restarting in 100 ms (restart 2)',
    `flaky exited (code 1); restarting in 200 ms (restart 3${keepsCrashing})`,
    `flaky exited (code 1); restarting in 200 ms (restart 4${keepsCrashing})`,
  ]);
  // Each restart waited at least its delay (timers may fire up to 1 ms early).
  const restarts = linesMatching(/^flaky restarted/);
  const exits = linesMatching(/^flaky exited/);
  expect(restarts.map((r, i) => Math.round(r.at - exits[i]!.at + 1) >= [50, 100, 200, 200][i]!)).toEqual([true, true, true, true]);
  expect(supervisor?.status('flaky')).toMatchObject({ state: 'running', pid: up, consecutiveCrashes: 4, totalRestarts: 4 });

  await until('backoff reset', () => line(/^flaky has stayed up 1 s; its restart backoff is reset$/));
  expect(supervisor?.status('flaky').consecutiveCrashes).toBe(0);

  process.kill(up, 'SIGKILL');
  await until('flaky restarted after the reset', () => line(/^flaky restarted \(pid \d+, restart 1 in a row, 5 in all\)$/));
  expect(line(/^flaky exited \(SIGKILL\) after [\d.]+ s; restarting in 50 ms \(restart 1\)$/)).toBeDefined();
});

it('does not restart a service that exits with code 0 on its own', async () => {
  const counter = join(dir, 'runs');
  run([node('oneshot', 'process.exit(0)'), node('crasher', crashFirst(1, counter))]);

  await until('oneshot exit logged', () => line(/^oneshot exited on its own \(code 0\) after .*; not restarting it$/));
  expect(supervisor?.status('oneshot')).toMatchObject({ state: 'exited', pid: undefined, restartPending: false, totalRestarts: 0 });
  // By the time the crasher has been restarted (at least 50 ms later), oneshot was still not.
  await until('crasher restarted', () => line(/^crasher restarted/));
  expect(linesMatching(/^oneshot/)).toHaveLength(2); // started, exited
  expect(supervisor?.status('oneshot').state).toBe('exited');
});

it('does not restart a service whose configuration was refused (exit 78, EX_CONFIG)', async () => {
  const counter = join(dir, 'runs');
  run([node('misconfigured', 'process.exit(78)'), node('crasher', crashFirst(1, counter))]);

  await until('refusal logged', () => line(/^misconfigured refused its configuration \(code 78; its output says which variable\); not restarting it/));
  expect(supervisor?.status('misconfigured')).toMatchObject({ state: 'exited', pid: undefined, restartPending: false, totalRestarts: 0 });
  await until('crasher restarted', () => line(/^crasher restarted/));
  expect(linesMatching(/^misconfigured/)).toHaveLength(2); // started, refused
});

it('stop() ends every child, SIGKILLs one that ignores SIGTERM, and cancels a pending restart', async () => {
  run(
    [node('polite', STAY_UP), node('stubborn', IGNORE_SIGTERM), node('crasher', 'process.exit(3)')],
    { baseDelayMs: 60_000, maxDelayMs: 60_000, stopGraceMs: 300 },
  );
  const polite = await until('polite up', () => pidOf('polite'));
  const stubborn = await until('stubborn ready', () => {
    const pid = pidOf('stubborn');
    return pid !== undefined && ready.has(pid) && pid;
  });
  await until('crasher restart pending', () => supervisor?.status('crasher').restartPending);
  expect(line(/^crasher exited \(code 3\) after .*; restarting in 60 s \(restart 1\)$/)).toBeDefined();

  const started = performance.now();
  await supervisor?.stop();

  expect(performance.now() - started).toBeLessThan(10_000); // not the 1-minute restart delay
  expect(alive(polite)).toBe(false);
  expect(alive(stubborn)).toBe(false);
  expect(lines.map((l) => l.text)).toEqual(
    expect.arrayContaining([
      'crasher: pending restart cancelled',
      'stopping polite, stubborn (SIGTERM, SIGKILL after 300 ms)',
      'polite stopped (SIGTERM)',
      'stubborn did not stop within 300 ms; sending SIGKILL',
      'stubborn stopped (SIGKILL)',
    ]),
  );
  for (const name of ['polite', 'stubborn', 'crasher']) {
    expect(supervisor?.status(name)).toMatchObject({ state: 'stopped', pid: undefined, restartPending: false });
  }
  expect(linesMatching(/restarted/)).toEqual([]);
});
