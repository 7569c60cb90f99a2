// The embedded state file (HOTDASH_STATE_STORE=embedded): values and their time to live survive a
// restart (close, open again from disk), a line torn by a kill mid-write is ignored, the log is
// compacted, expired entries leave memory, erasing a prefix is erasing it after a restart too, and
// a second live process is refused the directory; what is written reaches the disk (fsync) within a
// second, a revocation at once, and everything at close.
import { spawnSync } from 'node:child_process';
import fs, { appendFileSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseTenantId } from '@hotdash/contracts';
import { EmbeddedRevocationStore } from '../revocations';
import { EmbeddedStateFile } from './embedded-state-file';

let dir: string;
let t: number;
const now = () => t;
let file: EmbeddedStateFile;
const reopen = () => {
  file.close();
  file = EmbeddedStateFile.open(dir, { now });
};

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'hotdash-state-file-'));
  t = 1_800_000_000_000;
  file = EmbeddedStateFile.open(dir, { now });
});

afterEach(() => {
  file.close();
  rmSync(dir, { recursive: true, force: true });
});

it('keeps values and their time to live across a restart', () => {
  file.set('hotdash:{t:a}:forever', 'v1');
  file.set('hotdash:{t:a}:short', 'v2', 1_000);
  expect(file.set('hotdash:{t:a}:short', 'other', 1_000, true)).toBe(false); // only if absent
  file.set('hotdash:{t:a}:gone', 'v3');
  expect(file.del('hotdash:{t:a}:gone')).toBe(true);
  expect(file.take('hotdash:{t:a}:nothing')).toBeUndefined();
  reopen();
  expect(file.get('hotdash:{t:a}:forever')).toBe('v1');
  expect(file.get('hotdash:{t:a}:short')).toBe('v2');
  expect(file.get('hotdash:{t:a}:gone')).toBeUndefined();
  t += 999;
  expect(file.get('hotdash:{t:a}:short')).toBe('v2');
  t += 1;
  expect(file.get('hotdash:{t:a}:short')).toBeUndefined();
  reopen(); // expired before the restart: not loaded again
  t -= 500;
  expect(file.get('hotdash:{t:a}:short')).toBeUndefined();
  expect(file.take('hotdash:{t:a}:forever')).toBe('v1');
  reopen();
  expect(file.get('hotdash:{t:a}:forever')).toBeUndefined(); // taken is taken for good
});

it('ignores a line torn by a kill mid-write, and keeps what came before it', () => {
  file.set('k1', 'before');
  file.close();
  appendFileSync(join(dir, 'state.log'), '["s","k2","half');
  file = EmbeddedStateFile.open(dir, { now });
  expect(file.get('k1')).toBe('before');
  expect(file.get('k2')).toBeUndefined();
  file.set('k3', 'after'); // the rewrite at start dropped the torn line: this one is whole
  reopen();
  expect([file.get('k1'), file.get('k3')]).toEqual(['before', 'after']);
});

it('erases a prefix (a tenant) for good, and tells its listeners', () => {
  const heard: string[] = [];
  file.onPrefixDeleted((p) => heard.push(p));
  file.set('hotdash:{t:a}:x', '1');
  file.set('hotdash:{t:a}:y', '2', 60_000);
  file.set('hotdash:{t:ab}:x', 'other tenant');
  expect(file.deletePrefix('hotdash:{t:a}:')).toBe(2);
  expect(heard).toEqual(['hotdash:{t:a}:']);
  reopen();
  expect(file.keys('hotdash:{t:a')).toEqual(['hotdash:{t:ab}:x']);
});

it('compacts the log to its live entries and sweeps expired ones from memory', () => {
  for (let i = 0; i < 1_500; i++) file.set('counter', String(i));
  for (let i = 0; i < 10; i++) file.set(`short:${i}`, 'x', 10);
  const lines = readFileSync(join(dir, 'state.log'), 'utf8').split('\n').filter(Boolean).length;
  expect(lines).toBeLessThan(1_000); // compacted on the way (1,510 changes written)
  t += 10;
  expect(file.size).toBe(11);
  expect(file.sweep()).toBe(10);
  expect(file.size).toBe(1);
  file.compact();
  expect(readFileSync(join(dir, 'state.log'), 'utf8').split('\n').filter(Boolean)).toEqual([JSON.stringify(['s', 'counter', '1499', 0])]);
  reopen();
  expect(file.get('counter')).toBe('1499');
});

it('refuses a directory another live process holds, and takes over a dead one’s', () => {
  file.close();
  const other = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
  const deadPid = Number(other.stdout.toString());
  writeFileSync(join(dir, 'state.lock'), String(deadPid));
  file = EmbeddedStateFile.open(dir, { now }); // its owner is gone
  file.close();
  writeFileSync(join(dir, 'state.lock'), String(process.ppid)); // alive: the process that started this one
  expect(() => EmbeddedStateFile.open(dir, { now })).toThrow(/in use by process/);
  writeFileSync(join(dir, 'state.lock'), String(process.pid));
  file = EmbeddedStateFile.open(dir, { now });
  // An empty lock: another process has just created it and is writing its pid. Refused while it is
  // fresh; taken over once it has stayed empty for a second (that process died in between).
  file.close();
  writeFileSync(join(dir, 'state.lock'), '');
  expect(() => EmbeddedStateFile.open(dir, { now })).toThrow(/being opened by another process/);
  const past = new Date(Date.now() - 5_000);
  utimesSync(join(dir, 'state.lock'), past, past);
  file = EmbeddedStateFile.open(dir, { now });
  expect(readFileSync(join(dir, 'state.lock'), 'utf8')).toBe(String(process.pid));
});

it('syncs the changes to the disk every second (once for many), a revocation at once, and the rest at close', () => {
  file.close();
  jest.useFakeTimers({ now: t });
  const fsync = jest.spyOn(fs, 'fsyncSync');
  try {
    file = EmbeddedStateFile.open(dir, { now });
    fsync.mockClear(); // the rewrite at start syncs the new file and the directory
    file.set('a', '1');
    file.set('b', '2', 60_000);
    file.del('a');
    expect(fsync).not.toHaveBeenCalled(); // written, not yet synced
    jest.advanceTimersByTime(1_000);
    expect(fsync).toHaveBeenCalledTimes(1); // three changes, one fsync
    jest.advanceTimersByTime(5_000);
    expect(fsync).toHaveBeenCalledTimes(1); // nothing new: no fsync
    expect(file.sync()).toBe(0);

    // A revocation does not wait for the next second.
    const tenant = parseTenantId('00000000-0000-4000-8000-00000000000a');
    const revocations = new EmbeddedRevocationStore(file);
    void revocations.sessionEnded(tenant, 'session-1');
    expect(fsync).toHaveBeenCalledTimes(2);
    void revocations.userRemoved(tenant, 'user-1');
    expect(fsync).toHaveBeenCalledTimes(3);

    file.set('c', '3');
    file.close();
    expect(fsync).toHaveBeenCalledTimes(4); // at close
    file = EmbeddedStateFile.open(dir, { now });
    expect([file.get('b'), file.get('c')]).toEqual(['2', '3']);
  } finally {
    fsync.mockRestore();
    jest.useRealTimers();
  }
});
