// Builds the portal into dist/portal (served by the gateway at /): the typed client from the
// checked-in OpenAPI snapshot, then `vite build`. Run by `npm start` and `npm test`; a few seconds.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'vite';

const here = dirname(fileURLToPath(import.meta.url));
const started = Date.now();
const gen = spawnSync(process.execPath, [join(here, 'client.mjs')], { stdio: ['ignore', 'ignore', 'inherit'] });
if (gen.status !== 0) process.exit(gen.status ?? 1);
await build({ configFile: join(here, '..', 'vite.config.ts') });
console.log(`[portal] built dist/portal in ${((Date.now() - started) / 1000).toFixed(1)} s`);
