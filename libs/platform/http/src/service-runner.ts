import type { Server } from 'node:http';
import type { INestApplication } from '@nestjs/common';
import { readSetting } from '@hotdash/platform-config';
import { flushTracing } from '@hotdash/platform-telemetry';
import { configureServiceLogging } from './logging';
import { startServiceMetrics, stopMetrics } from './metrics';

export interface RunningService {
  app: INestApplication;
  /** Stopped in order on SIGTERM/SIGINT, before the app closes (relays, consumers). */
  beforeClose?: (() => Promise<void>)[];
  /** Closed after the app (Kafka clients). */
  afterClose?: (() => Promise<void>)[];
}

/**
 * Listens on loopback (or HOTDASH_BIND) and wires a graceful shutdown: what publishes or consumes
 * stops first, then the app (HTTP, microservices, pools), then the clients. A start-up failure
 * exits non-zero with the error. The service's configuration is checked before (loadServiceConfig:
 * a refused one exits with EXIT_CONFIG, 78).
 */
export async function runService(name: string, port: number, start: () => Promise<RunningService>): Promise<void> {
  // Structured logs (JSON lines with service, tenant, correlation and trace ids; the console too) and
  // metrics (Prometheus on the ops-only port) before anything else runs: createHttpApp picks both up.
  configureServiceLogging(name);
  try {
    const metrics = await startServiceMetrics(name, port);
    const svc = await start();
    const bind = readSetting('HOTDASH_BIND');
    await svc.app.listen(port, bind);
    const host = bind.includes(':') ? `[${bind}]` : bind;
    console.log(`${name} listening on http://${host}:${port} (liveness: /health, readiness: /health/ready)${metrics ? `; metrics on http://${host}:${metrics.port}/metrics` : ''}`);
    let stopping = false;
    const shutdown = async (): Promise<void> => {
      if (stopping) return;
      stopping = true;
      for (const f of svc.beforeClose ?? []) await f().catch((e: Error) => console.error(`${name}: ${e.message}`));
      await closeConnectionsWhileClosing(svc.app, () => svc.app.close());
      for (const f of svc.afterClose ?? []) await f().catch((e: Error) => console.error(`${name}: ${e.message}`));
      await stopMetrics();
      // The spans of the last seconds, still buffered (nothing while tracing is off).
      await flushTracing();
      process.exit(0);
    };
    // `on`, not `once`: the listener stays while the shutdown runs, so a library that re-raises the
    // signal when it finds itself the last listener (signal-exit does) cannot end the process midway.
    process.on('SIGTERM', () => void shutdown());
    process.on('SIGINT', () => void shutdown());
  } catch (err) {
    console.error(`${name} failed to start: ${(err as Error).stack ?? String(err)}`);
    if (/ECONNREFUSED/.test(String(err))) console.error(`${name}: is the infrastructure up? run npm run infra:up`);
    process.exit(1);
  }
}

/** How long in-flight requests may run on after the shutdown began before their connections are cut. */
const SHUTDOWN_GRACE_MS = 10_000;

/**
 * Runs `close` (the app's close: it stops listening and waits for open connections) while closing
 * every keep-alive connection as soon as it is idle: Node's server.close() closes only those idle at
 * that moment, so a client that finished a request (or aborted a stream) just after would hold the
 * shutdown until its keep-alive timeout. In-flight requests finish; after SHUTDOWN_GRACE_MS the
 * remaining connections are cut.
 */
export async function closeConnectionsWhileClosing(app: INestApplication, close: () => Promise<void>): Promise<void> {
  const server = app.getHttpServer() as Server | undefined;
  const idle = setInterval(() => server?.closeIdleConnections?.(), 100);
  const cut = setTimeout(() => server?.closeAllConnections?.(), SHUTDOWN_GRACE_MS);
  idle.unref();
  cut.unref();
  try {
    await close();
  } finally {
    clearInterval(idle);
    clearTimeout(cut);
  }
}
