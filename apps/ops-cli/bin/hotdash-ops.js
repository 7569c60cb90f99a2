#!/usr/bin/env node
'use strict';
/* eslint-disable @typescript-eslint/no-require-imports -- a CommonJS launcher: it loads the TypeScript runtime before any TypeScript */
// hotdash-ops launcher: runs apps/ops-cli/src/main.ts with the project's TypeScript runtime
// (@swc-node/register, as `npm run ops:operator` and the services run), on Node 24. A machine whose
// `node` is older goes through scripts/run, which puts the project's Node 24 first on PATH.
const { join, resolve } = require('node:path');

const root = resolve(__dirname, '..', '..', '..');
if (Number(process.versions.node.split('.')[0]) < 24) {
  const { spawnSync } = require('node:child_process');
  const r = spawnSync(join(root, 'scripts', 'run'), ['node', __filename, ...process.argv.slice(2)], { stdio: 'inherit' });
  process.exit(r.status === null ? 1 : r.status);
}
// The repository's tsconfig (its path aliases), whatever the current directory is.
if (!process.env.SWC_NODE_PROJECT) process.env.SWC_NODE_PROJECT = join(root, 'tsconfig.json');
require('@swc-node/register');
require(join(root, 'apps', 'ops-cli', 'src', 'main.ts'));
