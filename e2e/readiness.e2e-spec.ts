// Readiness of real service processes: the relay (an Express app; postgres and kafka) and the
// gateway (the Fastify app; postgres and redis) each answer GET /health/ready 200 listing exactly
// the dependencies they use, all up, and GET /health (liveness) 200. The gateway's OpenAPI document
// leaves the readiness route out (it is no API operation; liveness stays listed as before).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ServiceProcess, startServices } from '@hotdash/testing';

jest.setTimeout(120_000);

const RELAY = 'http://127.0.0.1:3361';
const GATEWAY = 'http://127.0.0.1:3362';
const MAIL_DIR = mkdtempSync(join(tmpdir(), 'hotdash-readiness-mail-'));
let processes: ServiceProcess[] = [];

beforeAll(async () => {
  processes = await startServices([
    { entry: 'apps/relay/src/main.ts', env: { HOTDASH_RELAY_PORT: '3361', HOTDASH_MAIL_DIR: MAIL_DIR }, url: RELAY },
    { entry: 'apps/gateway/src/main.ts', env: { HOTDASH_GATEWAY_PORT: '3362' }, url: GATEWAY },
  ]);
}, 90_000);

afterAll(async () => {
  await Promise.all(processes.map((p) => p.stop()));
  rmSync(MAIL_DIR, { recursive: true, force: true });
});

async function ready(base: string): Promise<{ status: number; body: { status: string; info: Record<string, { status: string }>; error: Record<string, unknown>; details: Record<string, { status: string }> } }> {
  const res = await fetch(`${base}/health/ready`);
  return { status: res.status, body: (await res.json()) as never };
}

it.each([
  ['relay', RELAY, ['kafka', 'postgres']],
  ['gateway', GATEWAY, ['postgres', 'redis']],
])('%s answers readiness 200 with its own dependencies up, and liveness 200', async (_name, base, dependencies) => {
  const r = await ready(base);
  expect([r.status, r.body.status, r.body.error]).toEqual([200, 'ok', {}]);
  expect(Object.keys(r.body.details).sort()).toEqual(dependencies);
  for (const d of dependencies) expect([d, r.body.info[d]?.status]).toEqual([d, 'up']);
  const live = await fetch(`${base}/health`);
  expect([live.status, await live.json()]).toEqual([200, { status: 'ok' }]);
});

it('the gateway keeps readiness out of its OpenAPI document (no API operation)', async () => {
  const doc = (await (await fetch(`${GATEWAY}/openapi.json`)).json()) as { paths: Record<string, unknown> };
  expect(Object.keys(doc.paths)).toContain('/health');
  expect(Object.keys(doc.paths)).not.toContain('/health/ready');
});
