// One process per folder for the embedded stores (the databases' folder, the event bus, the state
// file): a lock file holding the owner's pid, one implementation for all of them.
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';

/** Who holds a lock: a live process's pid, or `opening` (an empty lock file another process is writing its pid into). */
export type LockHolder = number | 'opening';

/**
 * Takes the lock file `file` for this process: created exclusively (O_EXCL), so of two processes
 * starting at once only one gets it. A lock whose process is gone (or this process's own, left by a
 * stop that did not end) is taken over. An empty lock is another process writing its pid this
 * instant: in use for a second, then taken over (that process died in between). A lock held by a
 * live process throws what `inUse` makes of its holder. Returns the release: it removes the file
 * only while it still holds this process's pid.
 */
export function takePidLock(file: string, inUse: (holder: LockHolder) => Error): () => void {
  for (;;) {
    try {
      writeFileSync(file, String(process.pid), { flag: 'wx' });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const text = readOrEmpty(file);
    const pid = Number(text);
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && isAlive(pid)) throw inUse(pid);
    if (text === '' && existsSync(file) && Date.now() - statSync(file).mtimeMs < 1_000) throw inUse('opening');
    rmSync(file, { force: true }); // stale: its process is gone
  }
  return () => {
    if (readOrEmpty(file) === String(process.pid)) rmSync(file, { force: true });
  };
}

function readOrEmpty(file: string): string {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    return '';
  }
}

/** Whether a process of this pid runs (EPERM: it runs, as another user). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
