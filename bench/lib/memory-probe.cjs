// Preloaded into a process a benchmark measures (`node --expose-gc -r ./bench/lib/memory-probe.cjs …`):
// when the file `${BENCH_MEMORY_FILE}.req` appears (the bench writes a sequence number into it, and
// `gc` after it to have a collection first, and a path after that for a heap snapshot written
// there), the probe removes it and writes the process's memory to BENCH_MEMORY_FILE as one JSON line (written
// to a temporary name, then renamed, so a reader never sees half of it): process.memoryUsage() as
// it is, then again after a full garbage collection when asked and --expose-gc is on (the heap the process
// still holds, not what the collector has yet to reclaim), and how long that collection took.
// Asked through a file, not a signal: in the embedded process every Nest application listens to
// SIGUSR2, SIGHUP and the other shutdown signals but SIGTERM and SIGINT (enableShutdownHooks()),
// and would close on one. Looks every 250 ms (one stat); plain JavaScript, loaded before the
// TypeScript hook.
'use strict';
// A CommonJS preload (node -r): require is its only way in.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { existsSync, readFileSync, renameSync, rmSync, writeFileSync } = require('node:fs');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { writeHeapSnapshot } = require('node:v8');

const file = process.env.BENCH_MEMORY_FILE;
if (file) {
  const request = `${file}.req`;
  const timer = setInterval(() => {
    if (!existsSync(request)) return;
    const [seqText, gcAsked, snapshotPath] = readFileSync(request, 'utf8').trim().split(' ');
    const seq = Number(seqText);
    rmSync(request, { force: true });
    const before = process.memoryUsage();
    let after = null;
    let gcMs = null;
    if (gcAsked === 'gc' && typeof global.gc === 'function') {
      const t0 = process.hrtime.bigint();
      global.gc();
      gcMs = Number(process.hrtime.bigint() - t0) / 1e6;
      after = process.memoryUsage();
    }
    // A heap snapshot when asked (`<seq> gc <path>`): written after the collection, before the answer.
    let snapshotMs = null;
    if (snapshotPath) {
      const t0 = process.hrtime.bigint();
      writeHeapSnapshot(snapshotPath);
      snapshotMs = Number(process.hrtime.bigint() - t0) / 1e6;
    }
    writeFileSync(`${file}.tmp`, JSON.stringify({ seq, before, after, gcMs, snapshotMs }));
    renameSync(`${file}.tmp`, file);
  }, 250);
  timer.unref();
}
