// Generates the Prisma 7 clients (control plane and tenant shard) and, with the prisma-kysely
// generator of each schema, their Kysely table types (generated/kysely/control.ts and tenant.ts)
// into libs/platform/db/src/generated.
//
// Why the PRISMA_SCHEMA_ENGINE_BINARY trick: every Prisma CLI command first tries to download the
// native schema engine, and no download site is reachable from our build machines. `prisma generate`
// does not use that engine (the `prisma-client` generator emits TypeScript that runs on a WASM query
// compiler with the @prisma/adapter-pg driver adapter), so naming any executable satisfies the check.
// Migrations never use the schema engine either: they are SQL files applied by our own runner
// (libs/platform/db/src/migrate).
//
// Prisma runs a generator that is not its own (prisma-kysely) as a shell command found on PATH:
// node_modules/.bin is put first (npm does that for its scripts, a direct `node` run does not), and
// this Node's directory next, for the generator's `#!/usr/bin/env node`.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
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
  PATH: [join(root, 'node_modules', '.bin'), dirname(process.execPath), process.env.PATH].filter(Boolean).join(delimiter),
};
for (const schema of ['control', 'tenant']) {
  const config = join(root, 'prisma', schema, 'prisma.config.ts');
  const r = spawnSync(process.execPath, [prismaCli, 'generate', '--config', config], { cwd: root, env, stdio: 'inherit' });
  if (r.status !== 0) {
    console.error(`[prisma-generate] generating the ${schema} client failed (exit ${r.status})`);
    process.exit(r.status ?? 1);
  }
}
