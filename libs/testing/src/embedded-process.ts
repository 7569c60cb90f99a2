import { Client } from 'pg';
import { loadConfig } from '@hotdash/platform-config';
import { closedPort } from './ports';
import { type ServiceProcess, startProcess } from './processes';
import { waitFor } from './wait';

/**
 * The embedded mode as a child process for e2e specs (issue 18): apps/embedded on random free ports,
 * its folder `dir`, and the stack's PostgreSQL, Redis, Kafka and Weaviate out of reach (their
 * settings point at a closed port: a connection attempt fails instead of quietly using the stack).
 */
export interface EmbeddedRun {
  env: Record<string, string>;
  gateway: string;
}

export async function embeddedRun(dir: string): Promise<EmbeddedRun> {
  const ports = Object.fromEntries(
    await Promise.all(['GATEWAY', 'PROVISIONING', 'DRAFTS', 'KNOWLEDGE', 'AI_DRAFTING', 'QUOTA', 'AUDIT', 'RELAY', 'EMBEDDED_PG'].map(async (s) => [`HOTDASH_${s}_PORT`, String(await closedPort())])),
  ) as Record<string, string>;
  const nowhere = await closedPort();
  const env = {
    ...ports,
    HOTDASH_EMBEDDED_DIR: dir,
    HOTDASH_MODE: 'embedded',
    HOTDASH_METRICS_PORT: 'off',
    HOTDASH_PG_PORT: String(nowhere),
    HOTDASH_REDIS_PORT: String(nowhere),
    HOTDASH_REDIS_CLUSTER_NODES: '',
    HOTDASH_KAFKA_BROKERS: `127.0.0.1:${nowhere}`,
    HOTDASH_WEAVIATE_URL: `http://127.0.0.1:${nowhere}`,
    HOTDASH_WEAVIATE_GRPC_PORT: String(nowhere),
    HOTDASH_SMTP_URL: '',
    HOTDASH_LOG_FORMAT: 'json',
  };
  return { env, gateway: `http://127.0.0.1:${ports.HOTDASH_GATEWAY_PORT}` };
}

/** Starts the embedded process and waits for its gateway's readiness (fails with its output when it exits first). */
export async function startEmbedded(run: EmbeddedRun, timeoutMs = 45_000): Promise<ServiceProcess> {
  const proc = startProcess('apps/embedded/src/main.ts', run.env);
  const exited = new Promise<number | null>((resolve) => proc.child.once('exit', (code) => resolve(code)));
  await Promise.race([
    waitFor('the gateway ready', async () => (await fetch(`${run.gateway}/health/ready`).catch(() => undefined))?.ok, timeoutMs, 100),
    exited.then((code) => {
      throw new Error(`the embedded process exited (${code}) before it was ready\n${proc.output().slice(-6_000)}`);
    }),
  ]);
  return proc;
}

/** `signal` (SIGTERM), and the exit code within `ms` (SIGKILL and an error past it). */
export async function stopEmbedded(proc: ServiceProcess, ms: number, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
  if (proc.child.exitCode !== null || proc.child.signalCode !== null) return proc.child.exitCode;
  const exited = new Promise<number | null>((resolve) => proc.child.once('exit', (code) => resolve(code)));
  proc.child.kill(signal);
  const timer = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), ms).unref());
  const outcome = await Promise.race([exited, timer]);
  if (outcome === 'timeout') {
    await proc.kill();
    throw new Error(`the embedded process did not exit within ${ms} ms of ${signal}\n${proc.output().slice(-4_000)}`);
  }
  return outcome;
}

/** A query on one of the embedded databases (the control database by default), as the owner. */
export async function embeddedQuery<T>(run: EmbeddedRun, text: string, values: unknown[] = [], database = loadConfig().db.controlDatabase): Promise<T[]> {
  const { owner } = loadConfig().db;
  const client = new Client({ host: '127.0.0.1', port: Number(run.env.HOTDASH_EMBEDDED_PG_PORT), user: owner.user, password: owner.password, database });
  await client.connect();
  try {
    return (await client.query(text, values)).rows as T[];
  } finally {
    await client.end();
  }
}
