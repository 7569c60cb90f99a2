// `npm run start:stack`: brings the local infrastructure up, migrates the control database and every shard,
// creates the Kafka topics, builds the web portal (dist/portal; the gateway serves it at /), then
// runs every service built so far, each line prefixed with its name.
// A service that crashes is restarted with a backoff (1 s, 2 s, 4 s … 30 s; see supervisor.cjs)
// while the others keep running; one that exits with code 0 stays down, and so does one whose
// configuration was refused at start (code 78, docs/configuration.md). Ctrl-C stops the services
// (the infrastructure keeps running; `npm run infra:down` stops it). Mail goes to the local Mailpit,
// traces to the local Jaeger (the services' OTEL_EXPORTER_OTLP_ENDPOINT; your own OTEL_* win).
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { Supervisor } from './supervisor.cjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const SERVICES = [
  { name: 'provisioning', entry: 'apps/provisioning/src/main.ts', color: 36 },
  { name: 'audit', entry: 'apps/audit/src/main.ts', color: 35 },
  { name: 'gateway', entry: 'apps/gateway/src/main.ts', color: 33 },
  { name: 'quota', entry: 'apps/quota/src/main.ts', color: 32 },
  { name: 'knowledge', entry: 'apps/knowledge/src/main.ts', color: 34 },
  { name: 'drafts', entry: 'apps/drafts/src/main.ts', color: 31 },
  { name: 'ai-drafting', entry: 'apps/ai-drafting/src/main.ts', color: 37 },
  { name: 'relay', entry: 'apps/relay/src/main.ts', color: 90 },
];

function step(label, cmd, args) {
  console.log(`[start] ${label}`);
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    console.error(`[start] ${label} failed; fix the error above and run npm run start:stack again`);
    process.exit(r.status ?? 1);
  }
}

step('infrastructure', 'bash', ['deploy/local/infra.sh', 'up']);
step('trace viewer (Jaeger; built once, a few minutes)', 'bash', ['deploy/local/infra.sh', 'up', 'jaeger']);
step('migrations', process.execPath, ['-r', '@swc-node/register', 'libs/platform/db/src/migrate/cli.ts']);
step('kafka topics', process.execPath, ['-r', '@swc-node/register', 'libs/platform/messaging/src/topics-cli.ts']);
step('portal build', process.execPath, ['apps/portal/scripts/build.mjs']);

console.log('[start] mail: the invitations and password resets the platform sends are at http://127.0.0.1:8025 (Mailpit)');
// The local Jaeger's ports (deploy/local/ports.env): the services export their traces to it over OTLP/HTTP.
const ports = Object.fromEntries([...readFileSync(join(root, 'deploy/local/ports.env'), 'utf8').matchAll(/^(HOTDASH_\w+)=(\d+)$/gm)].map((m) => [m[1], m[2]]));
const tracing = { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${ports.HOTDASH_JAEGER_OTLP_HTTP_PORT}` };
console.log(`[start] traces: every request's trace, across the services, is at http://127.0.0.1:${ports.HOTDASH_JAEGER_UI_PORT} (Jaeger)`);
const width = Math.max(...SERVICES.map((s) => s.name.length));
const prefixes = new Map(
  SERVICES.map((s) => [s.name, process.stdout.isTTY ? `\x1b[${s.color}m${s.name.padEnd(width)}\x1b[0m |` : `${s.name.padEnd(width)} |`]),
);
const supervisor = new Supervisor(
  SERVICES.map((s) => ({
    name: s.name,
    command: process.execPath,
    args: ['-r', '@swc-node/register', s.entry],
    // Mail goes to the local Mailpit (deploy/local/ports.env: SMTP 1025; read it at http://127.0.0.1:8025).
    // Logs one readable line per entry (HOTDASH_LOG_FORMAT=json in the environment keeps the services' JSON lines).
    // Traces go to the local Jaeger (OTEL_EXPORTER_OTLP_ENDPOINT above; read them at its UI).
    options: { cwd: root, env: { HOTDASH_SMTP_URL: 'smtp://127.0.0.1:1025', HOTDASH_LOG_FORMAT: 'pretty', ...tracing, ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] },
  })),
  {
    log: (message) => console.log(`[start] ${message}`),
    onSpawn: (child, spec) => {
      const prefix = prefixes.get(spec.name);
      for (const stream of [child.stdout, child.stderr]) if (stream) createInterface({ input: stream }).on('line', (line) => console.log(`${prefix} ${line}`));
    },
  },
).start();

// Ctrl-C / SIGTERM: no more restarts; SIGTERM to every service, SIGKILL to those still up after 5 s.
let signals = 0;
function shutdown(signal) {
  if (++signals > 1) return console.log(`[start] ${signal}: still stopping (services that ignore SIGTERM get SIGKILL after 5 s)`);
  supervisor.stop().then(() => process.exit(0));
}
process.on('SIGINT', () => shutdown('SIGINT'));
process.on('SIGTERM', () => shutdown('SIGTERM'));
