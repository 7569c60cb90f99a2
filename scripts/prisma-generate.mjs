// Generates the Prisma 7 clients (control plane and tenant shard) into libs/platform/db/src/generated.
//
// Why the PRISMA_SCHEMA_ENGINE_BINARY trick: every Prisma CLI command first tries to download the
// native schema engine, and no download site is reachable from our build machines. `prisma generate`
// does not use that engine (the `prisma-client` generator emits TypeScript that runs on a WASM query
// compiler with the @prisma/adapter-pg driver adapter), so naming any executable satisfies the check.
// Migrations never use the schema engine either: they are SQL files applied by our own runner
// (libs/platform/db/src/migrate).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const prismaCli = join(root, 'node_modules', 'prisma', 'build', 'index.js');
if (!existsSync(prismaCli)) {
  console.error('[prisma-generate] prisma CLI not installed yet: run npm ci first');
  process.exit(1);
}
const env = {
  ...process.env,
  PRISMA_SCHEMA_ENGINE_BINARY: process.env.PRISMA_SCHEMA_ENGINE_BINARY ?? '/bin/true',
  PRISMA_HIDE_UPDATE_MESSAGE: '1',
  CHECKPOINT_DISABLE: '1',
};
for (const schema of ['control', 'tenant']) {
  const config = join(root, 'prisma', schema, 'prisma.config.ts');
  const r = spawnSync(process.execPath, [prismaCli, 'generate', '--config', config], { cwd: root, env, stdio: 'inherit' });
  if (r.status !== 0) {
    console.error(`[prisma-generate] generating the ${schema} client failed (exit ${r.status})`);
    process.exit(r.status ?? 1);
  }
}
