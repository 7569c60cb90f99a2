// `npm test`: brings the local infrastructure up (idempotent; fast when already up), applies
// migrations to the control database and every shard, builds the web portal (dist/portal, which the
// gateway serves and e2e/portal.e2e-spec.ts drives in Chromium), installs the deployment checks' tools
// (deploy/k8s-tools.sh: kustomize, kubernetes-validate, hadolint), then runs every Jest project in band
// (the integration and end-to-end specs share the real services). Prints "N passed, N failed".
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const run = (cmd, args, opts = {}) => {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', env: { NX_DAEMON: 'false', NX_NO_CLOUD: 'true', ...process.env }, ...opts });
  return r.status ?? 1;
};
const step = (label, cmd, args) => {
  console.log(`\n[test] ${label}`);
  const status = run(cmd, args);
  if (status !== 0) {
    console.error(`[test] ${label} failed (exit ${status})`);
    process.exit(status);
  }
};

if (process.env.HOTDASH_SKIP_STATIC !== '1') {
  step('typecheck', process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json', '--noEmit']);
  step('typecheck portal', process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join('apps', 'portal', 'tsconfig.json')]);
  // The project graph must exist before ESLint runs, or Nx's module-boundary rule silently skips itself.
  step('project graph', process.execPath, [join(root, 'node_modules', 'nx', 'dist', 'bin', 'nx.js'), 'show', 'projects']);
  step('lint', process.execPath, [join(root, 'node_modules', 'eslint', 'bin', 'eslint.js'), '.', '--max-warnings', '0']);
}
if (process.env.HOTDASH_SKIP_INFRA !== '1') step('infrastructure up', 'bash', ['deploy/local/infra.sh', 'up']);
step('migrations', process.execPath, ['-r', '@swc-node/register', 'libs/platform/db/src/migrate/cli.ts']);
step('kafka topics', process.execPath, ['-r', '@swc-node/register', 'libs/platform/messaging/src/topics-cli.ts']);
step('portal build', process.execPath, ['apps/portal/scripts/build.mjs']);
// kustomize and kubernetes-validate (deploy/k8s-parity.spec.ts); instant when already installed.
step('kubernetes tools', 'bash', ['deploy/k8s-tools.sh', 'install']);

const results = join(root, '.jest-results.json');
rmSync(results, { force: true });
console.log('\n[test] jest');
const jestArgs = [join(root, 'node_modules', 'jest', 'bin', 'jest.js'), '--runInBand', '--json', `--outputFile=${results}`, ...process.argv.slice(2)];
const status = run(process.execPath, jestArgs);
try {
  const r = JSON.parse(readFileSync(results, 'utf8'));
  const skipped = r.numPendingTests + r.numTodoTests;
  console.log(`\n${r.numPassedTests} passed, ${r.numFailedTests} failed${skipped ? `, ${skipped} skipped` : ''}`);
  if (r.numTotalTests === 0) {
    console.error('[test] no test ran');
    process.exit(1);
  }
} catch {
  console.error('[test] jest wrote no results');
}
process.exit(status);
