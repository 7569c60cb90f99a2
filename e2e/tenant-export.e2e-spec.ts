// A data export through the gateway, across processes (gateway and provisioning as they run): a
// tenant admin asks for the tenant's export, follows its progress and downloads the JSON lines by
// the link the run gives, streamed through the gateway; tenant B's admin gets 404 for A's export by
// id and with A's token; a manager is refused; bad input is a 400 problem+json. (Rows equal to the
// database's, expiry, the sweep and subject exports: apps/provisioning/src/data-exports.int-spec.ts.)
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ExportProblems, type ExportView } from '@hotdash/contracts';
import { addOperator, createAccount, ServiceProcess, startServices, TEST_PASSWORD, TestAccount, TestWorld, waitFor } from '@hotdash/testing';

jest.setTimeout(120_000);

const GATEWAY = 'http://127.0.0.1:3293';
const PROVISIONING = 'http://127.0.0.1:3294';
const dir = mkdtempSync(join(tmpdir(), 'hotdash-export-e2e-'));
const world = new TestWorld();
let processes: ServiceProcess[] = [];
let a: TestAccount;
let b: TestAccount;
let tokenA: string;
let tokenB: string;

async function call<T = ExportView & { code?: string }>(method: string, path: string, token: string, body?: unknown): Promise<{ status: number; type: string; text: string; body: T }> {
  const res = await fetch(`${GATEWAY}${path}`, { method, headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  const type = res.headers.get('content-type') ?? '';
  return { status: res.status, type, text, body: (type.includes('json') && !type.includes('ndjson') && text ? JSON.parse(text) : undefined) as T };
}

const login = async (acc: TestAccount) =>
  ((await (await fetch(`${GATEWAY}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ tenant: acc.slug, email: acc.email, password: TEST_PASSWORD }) })).json()) as { accessToken: string })
    .accessToken;

beforeAll(async () => {
  processes = await startServices([
    { entry: 'apps/gateway/src/main.ts', env: { HOTDASH_GATEWAY_PORT: '3293', HOTDASH_PROVISIONING_URL: PROVISIONING }, url: GATEWAY },
    { entry: 'apps/provisioning/src/main.ts', env: { HOTDASH_PROVISIONING_PORT: '3294', HOTDASH_EXPORT_DIR: dir }, url: PROVISIONING },
  ]);
  a = await createAccount(world, 'admin');
  b = await createAccount(world, 'admin');
  [tokenA, tokenB] = await Promise.all([login(a), login(b)]);
}, 90_000);

afterAll(async () => {
  await Promise.all(processes.map((p) => p.stop()));
  await world.close();
  rmSync(dir, { recursive: true, force: true });
}, 60_000);

it('exports the tenant in the background and streams it through the gateway to its admin, and to no one else', async () => {
  const started = await call('POST', '/exports', tokenA, { kind: 'tenant' });
  expect([started.status, started.body.status]).toEqual([202, 'queued']);
  const run = await waitFor('the export to finish', async () => {
    const r = await call('GET', `/exports/${started.body.id}`, tokenA);
    return r.body.status === 'succeeded' || r.body.status === 'failed' ? r.body : undefined;
  });
  expect(run).toMatchObject({ status: 'succeeded', kind: 'tenant' });
  expect(run.progress.rowsDone).toBeGreaterThan(0);
  expect(run.progress.tables.find((t) => t.table === 'users')).toMatchObject({ rowsDone: 1, rowsEstimated: 1 });

  const file = await call('GET', run.download!.url, tokenA);
  expect([file.status, file.type]).toEqual([200, 'application/x-ndjson; charset=utf-8']);
  const lines = file.text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { type: string; table?: string; values?: Record<string, unknown> });
  expect(lines[0]).toMatchObject({ type: 'export', tenantId: a.tenantId, kind: 'tenant' });
  expect(lines.at(-1)).toMatchObject({ type: 'end' });
  // The admin's own account, its e-mail decrypted, its password hash left out.
  const user = lines.find((l) => l.type === 'row' && l.table === 'users')!.values!;
  expect(user).toMatchObject({ email: a.email, role: 'admin' });
  expect(user).not.toHaveProperty('password_hash');

  // Tenant B: A's export by id, A's link with B's credential, B's own path with A's token.
  const token = new URL(run.download!.url, GATEWAY).searchParams.get('token')!;
  for (const path of [`/exports/${run.id}`, run.download!.url]) {
    const r = await call('GET', path, tokenB);
    expect([path, r.status, r.body.code]).toEqual([path, 404, ExportProblems.NOT_FOUND]);
  }
  const own = await call('POST', '/exports', tokenB, { kind: 'tenant' });
  expect((await call('GET', `/exports/${own.body.id}/download?token=${token}`, tokenB)).status).toBe(404);

  // A manager of A may not export; bad input is refused with nothing queued.
  const manager = await addOperator(world, a, 'manager');
  expect((await call('GET', `/exports/${run.id}`, await login(manager))).status).toBe(403);
  const bad = await call('POST', '/exports', tokenA, { kind: 'subject', email: 'not an address' });
  expect([bad.status, bad.type.split(';')[0], bad.body.code]).toEqual([400, 'application/problem+json', ExportProblems.INVALID_EMAIL]);
  expect((await call<{ exports: ExportView[] }>('GET', '/exports', tokenA)).body.exports.map((e) => e.id)).toEqual([run.id]);
});
