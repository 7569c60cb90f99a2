// `npm start`: the whole platform in one Node process (apps/embedded, issue 18). Builds
// the web portal first when dist/portal has none (a fresh clone), then runs the launcher in this
// child, passing it this process's SIGTERM and SIGINT and exiting with its code.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
if (!existsSync(join(root, 'dist/portal/index.html'))) {
  console.log('[start] portal build (once: dist/portal)');
  const built = spawnSync(process.execPath, ['apps/portal/scripts/build.mjs'], { cwd: root, stdio: 'inherit' });
  if (built.status !== 0) process.exit(built.status ?? 1);
}
const child = spawn(process.execPath, ['-r', '@swc-node/register', 'apps/embedded/src/main.ts'], { cwd: root, stdio: 'inherit' });
// A SIGTERM or SIGINT sent to this process goes to the launcher, whose one shutdown path runs.
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => child.kill(signal));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
