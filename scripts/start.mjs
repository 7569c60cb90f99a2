// `npm start`: brings the local infrastructure up, migrates the control database and every shard,
// creates the Kafka topics, then runs every service built so far, each line prefixed with its name.
// Ctrl-C stops the services (the infrastructure keeps running; `npm run infra:down` stops it).
import { spawn, spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const SERVICES = [
  { name: 'provisioning', entry: 'apps/provisioning/src/main.ts', color: 36 },
  { name: 'audit', entry: 'apps/audit/src/main.ts', color: 35 },
  { name: 'gateway', entry: 'apps/gateway/src/main.ts', color: 33 },
  { name: 'quota', entry: 'apps/quota/src/main.ts', color: 32 },
  { name: 'knowledge', entry: 'apps/knowledge/src/main.ts', color: 34 },
  { name: 'drafts', entry: 'apps/drafts/src/main.ts', color: 31 },
  { name: 'ai-drafting', entry: 'apps/ai-drafting/src/main.ts', color: 37 },
];

function step(label, cmd, args) {
  console.log(`[start] ${label}`);
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    console.error(`[start] ${label} failed; fix the error above and run npm start again`);
    process.exit(r.status ?? 1);
  }
}

step('infrastructure', 'bash', ['deploy/local/infra.sh', 'up']);
step('migrations', process.execPath, ['-r', '@swc-node/register', 'libs/platform/db/src/migrate/cli.ts']);
step('kafka topics', process.execPath, ['-r', '@swc-node/register', 'libs/platform/messaging/src/topics-cli.ts']);

const width = Math.max(...SERVICES.map((s) => s.name.length));
const children = SERVICES.map((s) => {
  const child = spawn(process.execPath, ['-r', '@swc-node/register', s.entry], {
    cwd: root,
    env: { ...process.env, NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const prefix = process.stdout.isTTY ? `\x1b[${s.color}m${s.name.padEnd(width)}\x1b[0m |` : `${s.name.padEnd(width)} |`;
  for (const stream of [child.stdout, child.stderr]) createInterface({ input: stream }).on('line', (line) => console.log(`${prefix} ${line}`));
  child.on('exit', (code, signal) => {
    console.log(`${prefix} exited (${signal ?? code})`);
    if (!stopping) shutdown(1);
  });
  return child;
});

let stopping = false;
function shutdown(code = 0) {
  if (stopping) return;
  stopping = true;
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
  setTimeout(() => process.exit(code), 5_000).unref();
  Promise.all(children.map((c) => (c.exitCode !== null ? null : new Promise((r) => c.once('exit', r))))).then(() => process.exit(code));
}
process.on('SIGINT', () => shutdown(0));
process.on('SIGTERM', () => shutdown(0));
