import type { INestApplication } from '@nestjs/common';
import { readSetting } from '@hotdash/platform-config';

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
  try {
    const svc = await start();
    const bind = readSetting('HOTDASH_BIND');
    await svc.app.listen(port, bind);
    console.log(`${name} listening on http://${bind.includes(':') ? `[${bind}]` : bind}:${port} (liveness: /health, readiness: /health/ready)`);
    let stopping = false;
    const shutdown = async (): Promise<void> => {
      if (stopping) return;
      stopping = true;
      for (const f of svc.beforeClose ?? []) await f().catch((e: Error) => console.error(`${name}: ${e.message}`));
      await svc.app.close();
      for (const f of svc.afterClose ?? []) await f().catch((e: Error) => console.error(`${name}: ${e.message}`));
      process.exit(0);
    };
    process.once('SIGTERM', () => void shutdown());
    process.once('SIGINT', () => void shutdown());
  } catch (err) {
    console.error(`${name} failed to start: ${(err as Error).stack ?? String(err)}`);
    if (/ECONNREFUSED/.test(String(err))) console.error(`${name}: is the infrastructure up? run npm run infra:up`);
    process.exit(1);
  }
}
