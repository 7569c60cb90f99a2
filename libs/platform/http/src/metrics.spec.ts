import 'reflect-metadata';
import { CanActivate, Controller, ExecutionContext, Get, Injectable, Module, Param, Post, UseGuards } from '@nestjs/common';
import type { INestApplication } from '@nestjs/common';
import { createFastifyHttpApp, createHttpApp } from './http-app';
import { ProblemException } from './problem';
import { Metrics, metricsText, startMetrics, stopMetrics, TenantLabels } from './metrics';

const TENANT = '0190a6c2-7d3e-7c41-9a5e-3f2b1c4d5e6f';
const EMAIL = 'dana.secret@customer.test';

/** Puts the principal a real guard would (from the credential) on the request: a header names the tenant here. */
@Injectable()
class FakeAuth implements CanActivate {
  canActivate(ctx: ExecutionContext): boolean {
    const req = ctx.switchToHttp().getRequest<{ headers: Record<string, string>; principal?: { tenantId: string } }>();
    if (req.headers['x-tenant']) req.principal = { tenantId: req.headers['x-tenant'] };
    if (req.headers['x-refuse']) throw new ProblemException(429, req.headers['x-refuse'], 'Too many requests', 'Retry later.');
    return true;
  }
}

@Controller('tickets')
@UseGuards(FakeAuth)
class TicketsController {
  @Get(':id')
  one(@Param('id') id: string): { id: string } {
    return { id };
  }

  @Post()
  create(): { ok: true } {
    return { ok: true };
  }
}

@Module({ controllers: [TicketsController], providers: [FakeAuth] })
class TestModule {}

let scrapeUrl: string;

beforeAll(async () => {
  const at = await startMetrics({ service: 'spec-service', port: 0, host: '127.0.0.1', tenantLabels: 4 });
  scrapeUrl = `http://127.0.0.1:${at!.port}/metrics`;
});

afterAll(() => stopMetrics());

async function drive(app: INestApplication, tenant: string): Promise<{ before: string; after: string }> {
  await app.listen(0, '127.0.0.1');
  const base = await app.getUrl();
  try {
    const before = await (await fetch(scrapeUrl)).text();
    const get = (path: string, headers: Record<string, string> = {}) => fetch(`${base}${path}`, { headers }).then((r) => r.status);
    expect(await get(`/tickets/${tenant}?email=${encodeURIComponent(EMAIL)}`, { 'x-tenant': tenant })).toBe(200);
    expect(await get(`/tickets/idx-8812`, { 'x-tenant': tenant })).toBe(200);
    expect(await get(`/tickets/idx-7`, { 'x-tenant': tenant, 'x-refuse': 'rate-limited' })).toBe(429);
    expect(await get(`/tickets/idx-8`, { 'x-tenant': tenant, 'x-refuse': 'quota-exceeded' })).toBe(429);
    expect(await get(`/nowhere/${EMAIL}`)).toBe(404);
    return { before, after: await (await fetch(scrapeUrl)).text() };
  } finally {
    await app.close();
  }
}

/** The series of a metric as { labels, value } (Prometheus text format). */
function series(text: string, name: string): { labels: Record<string, string>; value: number }[] {
  return text
    .split('\n')
    .filter((l) => l.startsWith(`${name}{`))
    .map((l) => {
      const m = /^[^{]+\{(.*)\} (\S+)$/.exec(l)!;
      const labels = Object.fromEntries([...m[1]!.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1]!, x[2]!]));
      return { labels, value: Number(m[2]) };
    });
}

/** Every label value of every series but the histogram bounds. */
function labelValues(text: string): string[] {
  return text
    .split('\n')
    .filter((l) => l && !l.startsWith('#'))
    .flatMap((l) => [...l.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].filter((x) => x[1] !== 'le').map((x) => x[2]!));
}

it.each([
  ['express', '0190a6c2-7d3e-7c41-9a5e-00000000000a', () => createHttpApp(TestModule, { observe: true, logger: false })],
  ['fastify', '0190a6c2-7d3e-7c41-9a5e-00000000000b', () => createFastifyHttpApp(TestModule, { observe: true, logger: false })],
])('counts %s requests by route template, method, status and tenant, and refusals by kind, with no raw URL in any label', async (_kind, tenant, create) => {
  const { before, after } = await drive(await create(), tenant);
  const count = (text: string, name: string, match: Record<string, string>) =>
    series(text, name)
      .filter((s) => Object.entries(match).every(([k, v]) => s.labels[k] === v))
      .reduce((n, s) => n + s.value, 0);
  const requests = series(after, 'hotdash_http_requests_total');
  const ok = requests.find((s) => s.labels.http_route === '/tickets/:id' && s.labels.http_response_status_code === '200' && s.labels.tenant === tenant);
  expect(ok?.value).toBe(2);
  expect(ok!.labels).toMatchObject({ service_name: 'spec-service', http_request_method: 'GET' });
  const unmatched = { http_route: 'unmatched', http_response_status_code: '404', tenant: 'none' };
  expect(count(after, 'hotdash_http_requests_total', unmatched) - count(before, 'hotdash_http_requests_total', unmatched)).toBe(1);
  const okRoute = { http_route: '/tickets/:id', http_response_status_code: '200' };
  expect(count(after, 'http_server_request_duration_count', okRoute) - count(before, 'http_server_request_duration_count', okRoute)).toBe(2);
  const refusals = series(after, 'hotdash_refusals_total');
  expect(refusals.find((s) => s.labels.kind === 'rate-limit' && s.labels.code === 'rate-limited' && s.labels.tenant === tenant)?.value).toBe(1);
  expect(refusals.find((s) => s.labels.kind === 'quota' && s.labels.code === 'quota-exceeded' && s.labels.tenant === tenant)?.value).toBe(1);
  // No raw path, id or query string in any label value (only templates, codes, tenant ids).
  const values = labelValues(after);
  expect(values.length).toBeGreaterThan(10);
  for (const raw of ['idx-', 'customer.test', 'dana', 'nowhere', 'email']) expect([raw, values.filter((v) => v.includes(raw))]).toEqual([raw, []]);
});

it('bounds the tenant label: the first tenants keep their id, the others are "other"; non-ids are "invalid"', () => {
  const labels = new TenantLabels(2);
  const [a, b, c] = ['0190a6c2-0000-7000-8000-000000000001', '0190a6c2-0000-7000-8000-000000000002', '0190a6c2-0000-7000-8000-000000000003'];
  expect([labels.of(a), labels.of(b), labels.of(c), labels.of(a), labels.of(undefined), labels.of('dana@customer.test')]).toEqual([a, b, 'other', a, 'none', 'invalid']);
});

it('exports drafts, model tokens, jobs and gauges with their labels', async () => {
  Metrics.draft(TENANT, 'approved');
  Metrics.modelTokens(TENANT, { promptTokens: 120, completionTokens: 30 });
  Metrics.job({ queue: 'ai-drafting', tenantId: TENANT, outcome: 'completed', waitSeconds: 0.2, runSeconds: 1.5 });
  const stop = Metrics.gauge('hotdash.queue.depth', async () => [{ value: 3, labels: { queue: 'ai-drafting', state: 'waiting' } }]);
  const failing = Metrics.gauge('hotdash.queue.depth', () => {
    throw new Error('redis away');
  });
  const text = await metricsText();
  stop();
  failing();
  expect(series(text, 'hotdash_drafts_total')).toContainEqual({ labels: expect.objectContaining({ tenant: TENANT, outcome: 'approved' }), value: 1 });
  expect(series(text, 'hotdash_model_tokens_total').map((s) => [s.labels.type, s.value])).toEqual(expect.arrayContaining([['prompt', 120], ['completion', 30]]));
  expect(series(text, 'hotdash_jobs_total')).toContainEqual({ labels: expect.objectContaining({ tenant: TENANT, queue: 'ai-drafting', outcome: 'completed' }), value: 1 });
  expect(series(text, 'hotdash_job_wait_count')).toContainEqual({ labels: expect.objectContaining({ queue: 'ai-drafting' }), value: 1 });
  expect(series(text, 'hotdash_queue_depth')).toContainEqual({ labels: expect.objectContaining({ queue: 'ai-drafting', state: 'waiting' }), value: 3 });
});
