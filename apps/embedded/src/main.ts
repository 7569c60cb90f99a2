// Embedded mode (issue 18): the whole platform in one Node process. First the run mode fills the
// per-port settings' defaults (libs/platform/config/src/run-mode.ts: in-process bus, embedded jobs and
// state, LanceDB, mail to files, every store's folder under HOTDASH_EMBEDDED_DIR); then the
// databases start (PGlite, migrated; databases.ts is the one place); then every service's own start
// function (apps/<service>/src/main.ts) runs in this process on its usual loopback port, the gateway
// last, serving the portal at /. One logging setup, one metrics endpoint, one shutdown path.
// HOTDASH_MODE=stack runs the same process on the real PostgreSQL, Redis, Kafka and Weaviate.
// First of all: the mode, before any module reads a setting; then tracing (a no-op without OTEL_*).
import { runMode } from './run-mode';
import './tracing';
import 'reflect-metadata';
import { join } from 'node:path';
import { readSetting, type ServiceName } from '@hotdash/platform-config';
import { configureServiceLogging, type RunningService, startServiceMetrics, stopMetrics } from '@hotdash/platform-http';
import { closeEmbeddedJobs } from '@hotdash/platform-jobs';
import { flushTracing } from '@hotdash/platform-telemetry';
import { startDatabases, type StartedDatabases } from './databases';
import { MailLinks } from './mail-links';

/** Every service, in start order: the consumers and workers first, the gateway (the door) last. */
const SERVICES: { name: ServiceName; start: string }[] = [
  { name: 'audit', start: 'startAudit' },
  { name: 'quota', start: 'startQuota' },
  { name: 'provisioning', start: 'startProvisioning' },
  { name: 'knowledge', start: 'startKnowledge' },
  { name: 'drafts', start: 'startDrafts' },
  { name: 'ai-drafting', start: 'startAiDrafting' },
  { name: 'relay', start: 'startRelay' },
  { name: 'gateway', start: 'startGateway' },
];

const portOf = (name: ServiceName): number => readSetting(`HOTDASH_${name.toUpperCase().replace(/-/g, '_')}_PORT` as 'HOTDASH_GATEWAY_PORT');

/**
 * A service's start function from its entry point, loaded now (after the databases are up: its
 * configuration is read when it loads). Loaded by path, not imported: apps do not import apps, and
 * each entry point's `require.main === module` branch stays off.
 */
function startFunction(name: ServiceName, fn: string): () => Promise<RunningService> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const entry = require(join(__dirname, '..', '..', name, 'src', 'main')) as Record<string, unknown>;
  const start = entry[fn];
  if (typeof start !== 'function') throw new Error(`apps/${name}/src/main.ts exports no ${fn}()`);
  return start as () => Promise<RunningService>;
}

/**
 * Every signal Nest's enableShutdownHooks() listens to when given no list (its ShutdownSignal): each
 * app would close itself on any of them (a SIGUSR2 or a SIGHUP closed the apps one by one and left a
 * process that answered nothing).
 */
const NEST_SHUTDOWN_SIGNALS = ['SIGHUP', 'SIGINT', 'SIGQUIT', 'SIGILL', 'SIGTRAP', 'SIGABRT', 'SIGBUS', 'SIGFPE', 'SIGSEGV', 'SIGUSR2', 'SIGTERM'] as const;

/** Nest's own signal handlers (enableShutdownHooks: each app would close itself and re-raise the signal); this process has one shutdown path instead. */
function dropSignalHandlersAddedBy<T>(f: () => Promise<T>): Promise<T> {
  const before = new Map(NEST_SHUTDOWN_SIGNALS.map((s) => [s, new Set(process.listeners(s))]));
  return f().finally(() => {
    for (const [signal, kept] of before) for (const l of process.listeners(signal)) if (!kept.has(l)) process.removeListener(signal, l);
  });
}

async function main(): Promise<void> {
  const started = Date.now();
  configureServiceLogging('embedded');
  const log = (line: string) => console.log(`[embedded] ${line}`);
  const gatewayPort = portOf('gateway');
  const running: { name: ServiceName; svc: RunningService }[] = [];
  let databases: StartedDatabases | undefined;
  let mail: MailLinks | undefined;
  let stopping: Promise<void> | undefined;

  // SIGTERM/SIGINT/SIGHUP: the door closes first (the gateway stops taking requests), then each service
  // stops what publishes or consumes (relays, sweeps), closes (HTTP, consumers, workers: in-flight
  // events and jobs finish or go back), then its clients; then the process's shared stores (the job
  // runner, the state file), the databases last. Exit 0.
  const shutdown = (signal: string): Promise<void> =>
    (stopping ??= (async () => {
      log(`${signal}: stopping`);
      await mail?.stop();
      for (const { name, svc } of [...running].reverse()) {
        log(`stopping ${name}`);
        for (const f of svc.beforeClose ?? []) await f().catch((e: Error) => console.error(`${name}: ${e.message}`));
        await svc.app.close().catch((e: Error) => console.error(`${name}: ${e.message}`));
        for (const f of svc.afterClose ?? []) await f().catch((e: Error) => console.error(`${name}: ${e.message}`));
      }
      await closeEmbeddedJobs().catch((e: Error) => console.error(`jobs: ${e.message}`));
      if (runMode.mode === 'embedded') {
        // The embedded state file (opened by the state ports on first use), closed and unlocked.
        const { embeddedStateFile } = await import('@hotdash/platform-auth');
        embeddedStateFile().close();
      }
      log('closing the databases');
      await databases?.stop().catch((e: Error) => console.error(`databases: ${e.message}`));
      await stopMetrics();
      await flushTracing();
      log('stopped');
      process.exit(0);
    })());
  // SIGHUP too: the terminal it ran in was closed.
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(signal, () => void shutdown(signal));

  try {
    log(`mode ${runMode.mode}${runMode.root ? `, data in ${runMode.root}` : ''}`);
    const metrics = await startServiceMetrics('embedded', gatewayPort);
    databases = await startDatabases(runMode.mode, (msg) => log(`[db] ${msg}`));
    log(`databases: ${databases.where}`);
    const bind = readSetting('HOTDASH_BIND');
    for (const { name, start } of SERVICES) {
      if (stopping) return;
      const svc = await dropSignalHandlersAddedBy(() => startFunction(name, start)());
      running.push({ name, svc });
      await svc.app.listen(portOf(name), bind);
    }
    const host = bind.includes(':') ? `[${bind}]` : bind;
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    log(`every service is up (${SERVICES.map((s) => `${s.name} :${portOf(s.name)}`).join(', ')}) in ${seconds} s${metrics ? `; metrics on http://${host}:${metrics.port}/metrics` : ''}`);
    log(`the portal: http://${host}:${gatewayPort}/ (API: http://${host}:${gatewayPort}/openapi.json; readiness: /health/ready)`);
    const mailDir = readSetting('HOTDASH_MAIL_DIR');
    if (!readSetting('HOTDASH_SMTP_URL') && mailDir) {
      mail = new MailLinks(mailDir, log);
      await mail.start();
      log(`mail: written as .eml files to ${mailDir}; each message's links are logged here`);
    }
  } catch (err) {
    console.error(`embedded: failed to start: ${(err as Error).stack ?? String(err)}`);
    if (/ECONNREFUSED/.test(String(err))) console.error('embedded: a store refused the connection: which one is named above (embedded mode should need none; HOTDASH_MODE=stack needs npm run infra:up)');
    process.exit(1);
  }
}

void main();
