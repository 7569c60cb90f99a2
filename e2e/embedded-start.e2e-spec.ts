// Embedded mode (issue 18): the whole platform as one process (apps/embedded) from a fresh folder,
// with the stack's Redis, Kafka, Weaviate and PostgreSQL out of reach (their settings point at closed
// ports: a connection attempt fails instead of quietly using the stack). It starts, the gateway
// becomes ready, an organisation signs up through the public route, the invitation's link shows in
// the log and the mail folder; SIGTERM stops it with exit code 0; a second start on the same folder
// still has the organisation, and SIGHUP (its terminal closed) stops it the same way, through the
// launcher's one shutdown path (not the Nest apps' own hooks, which would close them one by one).
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type EmbeddedRun, embeddedQuery, embeddedRun, type ServiceProcess, startEmbedded, stopEmbedded, waitFor } from '@hotdash/testing';

jest.setTimeout(90_000);

const dir = mkdtempSync(join(tmpdir(), 'hotdash-embedded-'));
let run: EmbeddedRun;
let gateway: string;
let running: ServiceProcess | undefined;
const start = () => startEmbedded(run);
const stop = (proc: ServiceProcess, ms: number, signal?: NodeJS.Signals) => stopEmbedded(proc, ms, signal);
const controlQuery = <T>(text: string, values: unknown[]) => embeddedQuery<T>(run, text, values);

beforeAll(async () => {
  run = await embeddedRun(dir);
  gateway = run.gateway;
});

afterAll(async () => {
  await running?.kill();
  rmSync(dir, { recursive: true, force: true });
});

it('runs the platform in one process from a fresh folder: sign-up, the invitation link logged, SIGTERM exits 0, the data survives a restart, SIGHUP exits 0', async () => {
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
  expect(await stop(running, 10_000, 'SIGHUP')).toBe(0);
  expect(running.output()).toMatch(/SIGHUP: stopping[\s\S]*closing the databases[\s\S]*stopped/);
  running = undefined;
});
