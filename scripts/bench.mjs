// `npm run bench [name]`: runs every benchmark in bench/ (or the ones whose file name contains
// `name`), one after another, each a baseline and the project's path in the same run.
// Needs the local infrastructure (npm run infra:up) and migrations (npm run db:migrate).
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const filter = process.argv[2] ?? '';
const benches = readdirSync(join(root, 'bench')).filter((f) => f.endsWith('.bench.ts') && f.includes(filter)).sort();
if (benches.length === 0) {
  console.error(`[bench] no benchmark matches ${JSON.stringify(filter)}`);
  process.exit(2);
}
let failed = 0;
for (const b of benches) {
  console.log(`\n[bench] ${b}`);
  const r = spawnSync(process.execPath, ['-r', '@swc-node/register', join('bench', b)], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) failed++;
}
process.exit(failed ? 1 : 0);
