// Embedded mode (issue 18): the whole platform as one process (apps/embedded) from a fresh folder,
// with the stack's Redis, Kafka, Weaviate and PostgreSQL out of reach (their settings point at closed
// ports: a connection attempt fails instead of quietly using the stack). It starts, the gateway
// becomes ready, an organisation signs up through the public route, the invitation's link shows in
// the log and the mail folder; SIGTERM stops it with exit code 0; a second start on the same folder
// still has the organisation.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { loadConfig } from '@hotdash/platform-config';
import { closedPort, type ServiceProcess, startProcess, waitFor } from '@hotdash/testing';

jest.setTimeout(90_000);

const dir = mkdtempSync(join(tmpdir(), 'hotdash-embedded-'));
let env: Record<string, string>;
let gateway: string;
let running: ServiceProcess | undefined;

async function start(): Promise<ServiceProcess> {
  const proc = startProcess('apps/embedded/src/main.ts', env);
  const exited = new Promise<number | null>((resolve) => proc.child.once('exit', (code) => resolve(code)));
  await Promise.race([
    waitFor('the gateway ready', async () => (await fetch(`${gateway}/health/ready`).catch(() => undefined))?.ok, 45_000, 100),
    exited.then((code) => {
      throw new Error(`the embedded process exited (${code}) before it was ready\n${proc.output().slice(-6_000)}`);
    }),
  ]);
  return proc;
}

/** SIGTERM, and the exit code within `ms`. */
async function stop(proc: ServiceProcess, ms: number): Promise<number | null> {
  const exited = new Promise<number | null>((resolve) => proc.child.once('exit', (code) => resolve(code)));
  proc.child.kill('SIGTERM');
  const timer = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), ms).unref());
  const outcome = await Promise.race([exited, timer]);
  if (outcome === 'timeout') {
    await proc.kill();
    throw new Error(`the embedded process did not exit within ${ms} ms of SIGTERM\n${proc.output().slice(-4_000)}`);
  }
  return outcome;
}

async function controlQuery<T>(text: string, values: unknown[]): Promise<T[]> {
  const { owner } = loadConfig().db;
  const client = new Client({ host: '127.0.0.1', port: Number(env.HOTDASH_EMBEDDED_PG_PORT), user: owner.user, password: owner.password, database: loadConfig().db.controlDatabase });
  await client.connect();
  try {
    return (await client.query(text, values)).rows as T[];
  } finally {
    await client.end();
  }
}

beforeAll(async () => {
  const ports = Object.fromEntries(
    await Promise.all(['GATEWAY', 'PROVISIONING', 'DRAFTS', 'KNOWLEDGE', 'AI_DRAFTING', 'QUOTA', 'AUDIT', 'RELAY', 'EMBEDDED_PG'].map(async (s) => [`HOTDASH_${s}_PORT`, String(await closedPort())])),
  ) as Record<string, string>;
  const nowhere = await closedPort();
  env = {
    ...ports,
    HOTDASH_EMBEDDED_DIR: dir,
    HOTDASH_MODE: 'embedded',
    HOTDASH_METRICS_PORT: 'off',
    // The stack's stores out of reach: embedded mode must not need them.
    HOTDASH_PG_PORT: String(nowhere),
    HOTDASH_REDIS_PORT: String(nowhere),
    HOTDASH_REDIS_CLUSTER_NODES: '',
    HOTDASH_KAFKA_BROKERS: `127.0.0.1:${nowhere}`,
    HOTDASH_WEAVIATE_URL: `http://127.0.0.1:${nowhere}`,
    HOTDASH_WEAVIATE_GRPC_PORT: String(nowhere),
    HOTDASH_SMTP_URL: '',
    HOTDASH_LOG_FORMAT: 'json',
  };
  gateway = `http://127.0.0.1:${ports.HOTDASH_GATEWAY_PORT}`;
});

afterAll(async () => {
  await running?.kill();
  rmSync(dir, { recursive: true, force: true });
});

it('runs the platform in one process from a fresh folder: sign-up, the invitation link logged, SIGTERM exits 0, the data survives a restart', async () => {
  running = await start();
  const slug = `embedded-${Date.now().toString(36)}`;
  const admin = `owner@${slug}.test`;
  const res = await fetch(`${gateway}/signup`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'idempotency-key': `signup-${slug}` },
    body: JSON.stringify({ name: 'Embedded Org', slug, plan: 'basic', admin: { email: admin } }),
  });
  const accepted = (await res.json()) as { tenantId?: string };
  expect([res.status, typeof accepted.tenantId]).toEqual([202, 'string']);
  const tenantId = accepted.tenantId!;

  await waitFor('the signed-up tenant active', async () => (await controlQuery<{ status: string }>('select status from tenants where id = $1', [tenantId]))[0]?.status === 'active', 30_000, 100);
  // The invitation: an .eml file in the tenant's mail folder, and its link in the log.
  const mailDir = join(dir, 'mail', tenantId);
  const eml = await waitFor('the invitation mail file', async () => {
    const files = readdirSync(mailDir, { withFileTypes: true }).filter((f) => f.name.endsWith('.eml'));
    return files.length ? readFileSync(join(mailDir, files[0]!.name), 'utf8') : undefined;
  }, 30_000, 100);
  expect(eml).toContain(`To: ${admin}`);
  const link = /https?:\/\/\S+\/app\/invitation#\S+/.exec(eml)?.[0];
  expect(link).toBeDefined();
  await waitFor('the invitation link in the log', async () => running!.output().includes(link!), 5_000, 100);

  expect(await stop(running, 10_000)).toBe(0);
  running = undefined;

  // Again on the same folder: the organisation is still there, and signs in the same.
  running = await start();
  expect(await controlQuery<{ status: string; slug: string }>('select status, slug from tenants where id = $1', [tenantId])).toEqual([{ status: 'active', slug }]);
  expect(await stop(running, 10_000)).toBe(0);
  running = undefined;
});
