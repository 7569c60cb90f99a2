// deploy/local/nofile.sh: the open-files check infra.sh runs on weaviate-server (at start, and on a
// server already up) refuses a process whose limit is below what it needs, with what to do; and
// the raise infra.sh does before exec gets the asked limit, or the hard limit when that is lower.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const script = join(__dirname, 'nofile.sh');
const check = (pid: number, needed: number) => spawnSync('bash', [script, 'check', String(pid), String(needed), 'weaviate'], { encoding: 'utf8' });
const children: ChildProcess[] = [];

/** A process (sleep) whose open-files limit is `limit`, soft and hard. */
async function processWithLimit(limit: number): Promise<number> {
  const child = spawn('bash', ['-c', `ulimit -n ${limit} && exec sleep 60`], { stdio: 'ignore' });
  children.push(child);
  // Wait until bash has exec'd sleep, so the limit read is the one the process runs with.
  for (let i = 0; i < 100; i++) {
    if (readFileSync(`/proc/${child.pid}/cmdline`, 'utf8').startsWith('sleep')) return child.pid!;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error('the limited process did not start');
}

afterAll(() => {
  for (const c of children) c.kill('SIGKILL');
});

it('refuses a process that may open fewer files than needed, naming the limit, the need and the fix', async () => {
  const pid = await processWithLimit(1024);
  const r = check(pid, 16384);
  expect(r.status).toBe(1);
  expect(r.stderr).toContain(`weaviate (pid ${pid}) may open only 1024 files (/proc/${pid}/limits), needs at least 16384`);
  expect(r.stderr).toMatch(/raise the hard limit .*ulimit -Hn 16384.*LimitNOFILE.*--ulimit nofile=16384:16384.*infra\.sh down && deploy\/local\/infra\.sh up/);
});

it('accepts a process whose limit is exactly what is needed, or more', async () => {
  const pid = await processWithLimit(2048);
  expect(check(pid, 2048).status).toBe(0);
  expect(check(pid, 1000).status).toBe(0);
  expect(check(pid, 2049).status).toBe(1);
  expect(spawnSync('bash', [script, 'limit', String(pid)], { encoding: 'utf8' }).stdout.trim()).toBe('2048');
});

it('refuses a pid that is not a running process', () => {
  const r = check(2 ** 22 + 1, 16384); // above the kernel's pid_max: never a process
  expect(r.status).toBe(1);
  expect(r.stderr).toMatch(/no process \d+ to check the open-files limit of/);
});

it('raises the soft limit to the asked value, or to the hard limit when that is lower', () => {
  const raised = (hard: number, want: number) =>
    spawnSync('bash', ['-c', `. '${script}' && ulimit -Sn 256 && ulimit -Hn ${hard} && nofile_raise ${want} && ulimit -Sn`], { encoding: 'utf8' }).stdout.trim();
  expect(raised(4096, 65536)).toBe('4096');
  expect(raised(4096, 3000)).toBe('3000');
});

it('the local Weaviate runs with at least the open files deploy/local asks for', () => {
  const pid = Number(readFileSync(join(process.env.HOTDASH_STATE ?? join(__dirname, '..', '..', '.local'), 'weaviate', 'weaviate.pid'), 'utf8').trim());
  const min = Number(/WEAVIATE_NOFILE_MIN="\$\{HOTDASH_WEAVIATE_NOFILE_MIN:-(\d+)\}"/.exec(readFileSync(join(__dirname, 'infra.sh'), 'utf8'))![1]);
  expect(min).toBe(16384);
  const r = check(pid, min);
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
});
