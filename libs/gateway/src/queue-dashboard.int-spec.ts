// The ops queue dashboard (issue 17 item 10) through the gateway's HTTP routes (Fastify, in-process)
// against the real Redis and control database, on a scratch queue of its own: anonymous callers get
// 401 and a tenant admin's token 403 (problem+json), a platform operator's token or the dashboard's
// cookie 200; the dashboard is read-only; none of its answers carries a job's data, return value,
// error, log line or scheduler template (a marker planted in each is never seen, while the jobs'
// ids and tenants are); the backlog per tenant is exact for two tenants.
import { Module } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Queue, Worker } from 'bullmq';
import { sql } from 'kysely';
import { QueueBacklog } from '@hotdash/contracts';
import { AuthModule } from '@hotdash/platform-auth';
import { DatabaseModule, newId } from '@hotdash/platform-db';
import { createFastifyHttpApp } from '@hotdash/platform-http';
import { queueOptions } from '@hotdash/platform-jobs';
import { IdentityModule } from '@hotdash/identity';
import { createAccount, createPlatformOperator, TEST_PASSWORD, TestAccount, TestPlatformOperator, TestWorld, waitFor } from '@hotdash/testing';
import { QUEUE_DASHBOARD_COOKIE, QueueDashboardModule } from './queue-dashboard';

jest.setTimeout(60_000);

const world = new TestWorld();
const QUEUE = `spec-dashboard-${newId()}`;
const MARKER = `marker-${newId()}`;

@Module({ imports: [DatabaseModule.forRoot(world.config), AuthModule.forRoot(world.config), IdentityModule, QueueDashboardModule.forQueues([QUEUE])] })
class DashboardTestModule {}

let app: NestFastifyApplication;
let base: string;
let queue: Queue;
let worker: Worker | undefined;
let release: () => void = () => undefined;
let account: TestAccount;
let operator: TestPlatformOperator;
let opsToken: string;
let adminToken: string;
const tenantA = newId();
const tenantB = newId();

const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
const get = (path: string, headers: Record<string, string> = {}) => fetch(`${base}${path}`, { headers });
const asOps = { authorization: '' };

async function asOwner<T>(fn: (q: (text: string, params: unknown[]) => Promise<unknown>) => Promise<T>): Promise<T> {
  const { controlHost: host, controlPort: port, controlDatabase: database } = world.config.db;
  const owner = await world.connect({ host, port, database }, 'owner');
  try {
    return await fn((text, params) => owner.query(text, params));
  } finally {
    await owner.end();
  }
}

beforeAll(async () => {
  queue = new Queue(QUEUE, queueOptions(world.config, QUEUE));
  app = await createFastifyHttpApp(DashboardTestModule, { logger: ['error'] });
  await app.listen(0, '127.0.0.1');
  base = (await app.getUrl()).replace('[::1]', '127.0.0.1');
  account = await createAccount(world, 'admin');
  operator = await createPlatformOperator(world);
  const admin = await post('/auth/login', { tenant: account.slug, email: account.email, password: TEST_PASSWORD });
  expect(admin.status).toBe(200);
  adminToken = ((await admin.json()) as { accessToken: string }).accessToken;
  const ops = await post('/ops/login', { email: operator.email, password: TEST_PASSWORD });
  expect(ops.status).toBe(200);
  opsToken = ((await ops.json()) as { accessToken: string }).accessToken;
  asOps.authorization = `Bearer ${opsToken}`;
});

afterAll(async () => {
  release();
  await worker?.close();
  await queue.obliterate({ force: true }).catch(() => undefined);
  await queue.close();
  await app.close();
  await world.tenantDb.withTenant(account.tenantId, (tx) => sql`select * from erase_tenant(${account.tenantId}::uuid)`.execute(tx.db));
  await asOwner((q) => q('delete from platform_operators where id = $1', [operator.id]));
  await world.close();
});

async function problem(res: Response, status: number, code: string): Promise<void> {
  expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  expect(((await res.json()) as { code: string }).code).toBe(code);
}

const PATHS = ['/ops/queues/', '/ops/queues/api/queues', `/ops/queues/queue/${QUEUE}`, '/ops/queues/backlog'];

it('refuses anonymous callers (401) and tenant credentials (403), and admits a platform operator’s token or the dashboard’s cookie', async () => {
  for (const path of PATHS) {
    await problem(await get(path), 401, 'missing-credentials');
    await problem(await get(path, { authorization: 'Bearer not.a.token' }), 401, 'invalid-token');
    await problem(await get(path, { authorization: `Bearer ${adminToken}` }), 403, 'ops-token-required');
    await problem(await get(path, { cookie: `${QUEUE_DASHBOARD_COOKIE}=${adminToken}` }), 403, 'ops-token-required');
    expect((await get(path, asOps)).status).toBe(200);
  }
  // A tenant's token cannot open a browser session either.
  await problem(await post('/ops/queues/session', {}, { authorization: `Bearer ${adminToken}` }), 403, 'ops-token-required');
  // As the sign-in page (/ops/queues/login, public) does: a POST without a body.
  const login = await get('/ops/queues/login');
  expect(login.status).toBe(200);
  expect(login.headers.get('content-security-policy')).toContain("script-src 'self'");
  expect(await login.text()).toContain('/ops/queues/login.js');
  expect((await get('/ops/queues/login.js')).status).toBe(200);
  const session = await fetch(`${base}/ops/queues/session`, { method: 'POST', headers: asOps });
  expect(session.status).toBe(204);
  const cookie = session.headers.get('set-cookie')!;
  expect(cookie).toMatch(new RegExp(`^${QUEUE_DASHBOARD_COOKIE}=[^;]+; Path=/ops/queues; Max-Age=\\d+; HttpOnly; Secure; SameSite=Strict$`));
  const page = await get('/ops/queues/', { cookie: cookie.split(';', 1)[0]! });
  expect(page.status).toBe(200);
  expect(page.headers.get('content-type')).toMatch(/^text\/html/);
  expect((await get('/ops/queues/api/queues', { cookie: cookie.split(';', 1)[0]! })).status).toBe(200);
});

it('is read-only: pausing, adding, emptying, cleaning, retrying or obliterating is refused with 403 and changes nothing', async () => {
  const send = (method: string, path: string, body: unknown = {}) =>
    fetch(`${base}/ops/queues/api/queues${path}`, { method, headers: { 'content-type': 'application/json', ...asOps }, body: JSON.stringify(body) });
  await problem(await send('PUT', '/pause'), 403, 'queue-dashboard-read-only');
  await problem(await send('PUT', `/${QUEUE}/pause`), 403, 'queue-dashboard-read-only');
  await problem(await send('POST', `/${QUEUE}/add`, { name: 'x', data: { tenantId: tenantA } }), 403, 'queue-dashboard-read-only');
  for (const action of ['empty', 'obliterate', 'clean/failed', 'retry/failed']) await problem(await send('PUT', `/${QUEUE}/${action}`), 403, 'queue-dashboard-read-only');
  expect(await queue.isPaused()).toBe(false);
  expect(await queue.count()).toBe(0);
});

it('shows no job data, return value, error, log line or scheduler template, and counts each tenant’s backlog', async () => {
  let held = false;
  const hold = new Promise<void>((resolve) => (release = resolve));
  worker = new Worker(
    QUEUE,
    async (job) => {
      await job.log(`log line with ${MARKER}`);
      if (job.data.mode === 'fail') throw new Error(`failed on ${MARKER}`);
      if (job.data.mode === 'hold') {
        held = true;
        await hold;
      }
      return { echo: MARKER };
    },
    { ...queueOptions(world.config, QUEUE), concurrency: 1 },
  );
  const payload = { text: `customer wrote ${MARKER}` };
  const failed = await queue.add('draft', { tenantId: tenantB, mode: 'fail', ...payload }, { attempts: 1 });
  const completed = await queue.add('draft', { tenantId: tenantA, mode: 'ok', ...payload });
  await waitFor('the jobs finished', async () => (await failed.getState()) === 'failed' && (await completed.getState()) === 'completed');
  const active = await queue.add('draft', { tenantId: tenantA, mode: 'hold', ...payload });
  await waitFor('the held job is active', async () => held);
  // The worker is busy with the held job (concurrency 1): these stay waiting and delayed.
  const waiting = [
    await queue.add('draft', { tenantId: tenantA, ...payload }),
    await queue.add('draft', { tenantId: tenantA, ...payload }),
    await queue.add('draft', { tenantId: tenantB, ...payload }),
  ];
  for (const t of [tenantA, tenantB, tenantB]) await queue.add('draft', { tenantId: t, ...payload }, { delay: 3_600_000 });
  await queue.upsertJobScheduler(`scheduler-${newId()}`, { every: 3_600_000, startDate: Date.now() + 3_600_000 }, { name: 'sweep', data: { tenantId: tenantA, ...payload } });

  // Every read the dashboard offers, each job's own pages included.
  const reads = [
    '/ops/queues/',
    `/ops/queues/queue/${QUEUE}`,
    '/ops/queues/api/queues',
    ...['latest', 'failed', 'completed', 'active', 'waiting', 'delayed'].map((s) => `/ops/queues/api/queues?activeQueue=${QUEUE}&status=${s}&page=1&jobsPerPage=50`),
    '/ops/queues/api/job-schedulers',
    '/ops/queues/api/redis/stats',
    `/ops/queues/api/queues/${QUEUE}/workers`,
    `/ops/queues/api/queues/${QUEUE}/default-job-options`,
    `/ops/queues/backlog?queue=${QUEUE}`,
    ...[failed, completed, active, waiting[0]!].flatMap((j) => [`/ops/queues/api/queues/${QUEUE}/${j.id}`, `/ops/queues/api/queues/${QUEUE}/${j.id}/logs`, `/ops/queues/api/queues/${QUEUE}/${j.id}/flow`]),
  ];
  let seen = '';
  for (const path of reads) {
    const res = await get(path, asOps);
    expect([path, res.status]).toEqual([path, 200]);
    seen += `${path}\n${await res.text()}\n`;
  }
  expect(seen).not.toContain(MARKER);
  expect(seen).not.toContain('customer wrote');
  // The answers do describe the jobs: their ids, tenants and that one failed.
  for (const j of [failed, completed, active, ...waiting]) expect(seen).toContain(`"id":"${j.id}"`);
  expect(seen).toContain(`"tenantId":"${tenantA}"`);
  const failedJob = (await (await get(`/ops/queues/api/queues/${QUEUE}/${failed.id}`, asOps)).json()) as { job: Record<string, unknown>; status: string };
  expect(failedJob.status).toBe('failed');
  expect(failedJob.job).toMatchObject({ data: { tenantId: tenantB }, isFailed: true, stacktrace: [] });
  expect(failedJob.job.returnValue).toBeUndefined();
  // The job itself still holds what the dashboard hides.
  expect(JSON.stringify((await queue.getJob(failed.id!))!.toJSON())).toContain(MARKER);

  const backlog = (await (await get(`/ops/queues/backlog?queue=${QUEUE}`, asOps)).json()) as QueueBacklog;
  expect(backlog.queues).toHaveLength(1);
  const q = backlog.queues[0]!;
  expect(q).toMatchObject({ name: QUEUE, truncated: false, counts: { waiting: 3, active: 1, failed: 1 } });
  // Delayed: the three above and the scheduler's next run (tenant A's template).
  expect(q.counts.delayed).toBe(4);
  const row = (t: string) => q.tenants.find((r) => r.tenantId === t);
  expect(row(tenantA)).toEqual({ tenantId: tenantA, waiting: 2, prioritized: 0, active: 1, delayed: 2, failed: 0 });
  expect(row(tenantB)).toEqual({ tenantId: tenantB, waiting: 1, prioritized: 0, active: 0, delayed: 2, failed: 1 });
  expect(q.tenants).toHaveLength(2);

  await problem(await get('/ops/queues/backlog?queue=no-such-queue', asOps), 404, 'unknown-queue');
  await problem(await get('/ops/queues/backlog?queue=x&extra=1', asOps), 400, 'unknown-field');
});
