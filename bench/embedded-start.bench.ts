// Time from `npm start` to a healthy gateway in embedded mode (issue 18: warm install < 10 s; first
// start after `npm ci` < 60 s). What is spawned is exactly what `npm start` runs, `scripts/run node
// scripts/start-embedded.mjs` (npm's own start-up left out), on random free ports in a temporary
// folder, the stack's stores out of reach (libs/testing embeddedRun: HOTDASH_*_PORT,
// HOTDASH_EMBEDDED_DIR); the clock runs from the spawn to the first 200 of GET /health/ready.
//
//   scripts/run node -r @swc-node/register bench/embedded-start.bench.ts
//
// a  warm install, existing folder: this checkout (node_modules in place, dist/portal built: built
//    first, not counted, when missing), a folder a previous start made (databases migrated).
// b  warm install, fresh folder: this checkout, an empty folder (PGlite's initdb, every migration).
// c  first start after `npm ci`: `git clone` of this repository's HEAD into the temporary directory,
//    `npm ci` there with scripts/node24.sh sourced as .ci/run does (timed apart), then the first
//    start on a fresh folder: it builds the portal (dist/portal missing) and makes the databases.
//
// Each start is stopped with SIGTERM (the launcher's one shutdown path) and its exit awaited; the
// launcher's child (apps/embedded, the process that serves) is checked gone by its pid and killed if
// not. The clone and every folder are removed at the end. Baseline: the targets. Env: BENCH_REPEAT
// (2: starts of a and of b each), BENCH_CLONE=0 skips c.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { embeddedRun, REPO_ROOT } from '@hotdash/testing';

const REPEAT = Number(process.env.BENCH_REPEAT ?? 2);
const CLONE = process.env.BENCH_CLONE !== '0';
const WARM_TARGET_S = 10;
const FIRST_TARGET_S = 60;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const load = () => loadavg().map((x) => x.toFixed(2)).join(' ');

/** Every process this bench started and has not seen exit (pids), killed at the end whatever happens. */
const live = new Set<number>();

function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

interface StartResult {
  seconds: number;
  /** What the launcher says it took from its own start (its log line), when it said. */
  launcherSeconds?: number;
  /** Seconds from SIGTERM to the exit. */
  stopSeconds: number;
  /** What the start did, from its output: the portal build, the databases initialised and the migrations applied. */
  did: string;
}

/** Spawns `npm start`'s command in `cwd` with `dir` as the embedded folder; the time to a ready gateway; then stops it. */
async function timedStart(cwd: string, dir: string, limitS: number): Promise<StartResult> {
  const run = await embeddedRun(dir);
  const t0 = performance.now();
  const child: ChildProcess = spawn('bash', [join(cwd, 'scripts', 'run'), 'node', 'scripts/start-embedded.mjs'], {
    cwd,
    env: { ...process.env, ...run.env, NODE_NO_WARNINGS: '1', FORCE_COLOR: '0', NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const pid = child.pid!;
  live.add(pid);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-100_000)));
  child.stderr!.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-100_000)));
  let exited = false;
  const exit = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      exited = true;
      live.delete(pid);
      resolve(code);
    }),
  );
  const launchers = new Set<number>();
  let seconds = NaN;
  let stopSeconds = NaN;
  try {
    for (;;) {
      for (const c of childrenOf(pid)) launchers.add(c);
      const ok = await fetch(`${run.gateway}/health/ready`).then((r) => r.ok, () => false);
      if (ok) {
        seconds = (performance.now() - t0) / 1000;
        break;
      }
      if (exited) throw new Error(`npm start exited before its gateway was ready\n${out.slice(-6_000)}`);
      if ((performance.now() - t0) / 1000 > limitS) throw new Error(`no ready gateway within ${limitS} s\n${out.slice(-6_000)}`);
      await sleep(50);
    }
    for (const c of childrenOf(pid)) launchers.add(c);
    for (const c of launchers) live.add(c);
  } finally {
    // Stop: SIGTERM to the process npm start runs, which passes it to the launcher.
    const t1 = performance.now();
    if (!exited) child.kill('SIGTERM');
    const timer = sleep(60_000).then(() => 'timeout' as const);
    if ((await Promise.race([exit, timer])) === 'timeout') {
      console.log(`[bench] npm start did not exit within 60 s of SIGTERM: SIGKILL`);
      child.kill('SIGKILL');
      await exit;
    }
    stopSeconds = (performance.now() - t1) / 1000;
    for (const c of launchers) {
      for (let i = 0; i < 100 && alive(c); i++) await sleep(100);
      if (alive(c)) {
        console.log(`[bench] the launcher (pid ${c}) outlived npm start: SIGKILL`);
        process.kill(c, 'SIGKILL');
      }
      live.delete(c);
    }
  }
  const said = /every service is up .* in ([\d.]+) s/.exec(out)?.[1];
  const portal = /\[portal\] built dist\/portal in ([\d.]+) s/.exec(out)?.[1];
  const initialised = out.match(/initialising \S+ in /g)?.length ?? 0;
  const migrations = /(\d+) migration\(s\) applied/.exec(out)?.[1] ?? '?';
  const did = `${portal ? `portal built in ${portal} s, ` : ''}${initialised} database(s) initialised, ${migrations} migration(s) applied`;
  return { seconds, launcherSeconds: said === undefined ? undefined : Number(said), stopSeconds, did };
}

const line = (label: string, r: StartResult, target: number) =>
  console.log(
    `[bench] ${label.padEnd(44)} ${r.seconds.toFixed(1).padStart(6)} s to a ready gateway (the launcher's own count ${r.launcherSeconds?.toFixed(1) ?? '?'} s; ${r.did}; stop ${r.stopSeconds.toFixed(1)} s)   target < ${target} s → ${r.seconds < target ? 'met' : 'missed'}   load ${load()}`,
  );

function run(cmd: string, args: string[], cwd: string): { seconds: number } {
  const t0 = performance.now();
  const r = spawnSync(cmd, args, { cwd, stdio: ['ignore', 'inherit', 'inherit'], env: process.env });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} in ${cwd} failed (${r.status ?? r.signal})`);
  return { seconds: (performance.now() - t0) / 1000 };
}

async function main(): Promise<void> {
  console.log(`[bench] embedded start: ${REPEAT} start(s) each of a and b${CLONE ? ', then c in a fresh clone' : ''}; load average ${load()}`);
  const dirs: string[] = [];
  let clone: string | undefined;
  const results: { label: string; r: StartResult; target: number }[] = [];
  const record = (label: string, r: StartResult, target: number) => {
    results.push({ label, r, target });
    line(label, r, target);
  };
  try {
    if (!existsSync(join(REPO_ROOT, 'dist', 'portal', 'index.html'))) {
      const { seconds } = run(process.execPath, ['apps/portal/scripts/build.mjs'], REPO_ROOT);
      console.log(`[bench] dist/portal was missing in this checkout: built in ${seconds.toFixed(1)} s (not counted: a warm install has it)`);
    }
    for (let k = 1; k <= REPEAT; k++) {
      const dir = mkdtempSync(join(tmpdir(), 'hotdash-embedded-start-'));
      dirs.push(dir);
      record(`b warm install, fresh folder (${k})`, await timedStart(REPO_ROOT, dir, 300), WARM_TARGET_S);
      record(`a warm install, existing folder (${k})`, await timedStart(REPO_ROOT, dir, 300), WARM_TARGET_S);
    }
    if (CLONE) {
      clone = mkdtempSync(join(tmpdir(), 'hotdash-start-clone-'));
      run('git', ['clone', '--quiet', REPO_ROOT, clone], tmpdir());
      const head = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: clone }).stdout.toString().trim();
      console.log(`[bench] c: cloned ${REPO_ROOT} (HEAD ${head}) into ${clone}; npm ci (scripts/node24.sh sourced, as .ci/run), load ${load()}`);
      const ci = run('bash', ['-c', '. scripts/node24.sh && npm ci --no-audit --no-fund'], clone);
      console.log(`[bench] c: npm ci took ${ci.seconds.toFixed(0)} s (not counted)`);
      const dir = mkdtempSync(join(tmpdir(), 'hotdash-embedded-start-'));
      dirs.push(dir);
      record('c first start after npm ci (portal, databases)', await timedStart(clone, dir, 600), FIRST_TARGET_S);
    }
    console.log('');
    console.log('start                                              s to ready   target');
    for (const { label, r, target } of results) console.log(`${label.padEnd(50)} ${r.seconds.toFixed(1).padStart(10)}   < ${target} s ${r.seconds < target ? 'met' : 'missed'}`);
  } finally {
    for (const pid of live) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
    if (clone) rmSync(clone, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
