import { Writable } from 'node:stream';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { context, ROOT_CONTEXT, trace, TraceFlags, type Context, type ContextManager } from '@opentelemetry/api';
import { parseTenantId } from '@hotdash/contracts';
import { runInTenantContext } from '@hotdash/platform-tenancy';
import { correlationIdFor, createPlatformLogger, requestLoggingMiddleware } from './logging';

const TENANT = '0190a6c2-7d3e-7c41-9a5e-3f2b1c4d5e6f';

function capture(): { lines: () => Record<string, unknown>[]; stream: Writable } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  return { stream, lines: () => chunks.join('').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>) };
}

/** A synchronous context manager: enough for @opentelemetry/api to have an active span in these specs (the SDK's is ALS-based). */
class SyncContextManager implements ContextManager {
  private current: Context = ROOT_CONTEXT;
  active(): Context {
    return this.current;
  }
  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(ctx: Context, fn: F, thisArg?: ThisParameterType<F>, ...args: A): ReturnType<F> {
    const prev = this.current;
    this.current = ctx;
    try {
      return fn.call(thisArg, ...args);
    } finally {
      this.current = prev;
    }
  }
  bind<T>(_ctx: Context, target: T): T {
    return target;
  }
  enable(): this {
    return this;
  }
  disable(): this {
    return this;
  }
}

it('writes one JSON object a line with the service, level and time; tenant and correlation from the tenant context', () => {
  const out = capture();
  const log = createPlatformLogger({ service: 'drafts', level: 'debug', destination: out.stream });
  log.info('outside');
  runInTenantContext({ tenantId: parseTenantId(TENANT), actorId: 'user:1', correlationId: 'corr-1' }, () => log.debug({ step: 2 }, 'inside'));
  const [outside, inside] = out.lines();
  expect(outside).toMatchObject({ service: 'drafts', level: 'info', msg: 'outside' });
  expect(typeof outside!.time).toBe('string');
  expect(outside).not.toHaveProperty('tenantId');
  expect(inside).toMatchObject({ service: 'drafts', level: 'debug', msg: 'inside', step: 2, tenantId: TENANT, correlationId: 'corr-1' });
});

it('carries the active span’s trace and span ids, and none without a span (the API alone)', () => {
  const out = capture();
  const log = createPlatformLogger({ service: 'gateway', destination: out.stream });
  log.info('no span');
  const manager = new SyncContextManager();
  context.setGlobalContextManager(manager);
  try {
    const span = trace.wrapSpanContext({ traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', traceFlags: TraceFlags.SAMPLED });
    context.with(trace.setSpan(context.active(), span), () => log.info('in span'));
  } finally {
    context.disable();
  }
  const [none, inSpan] = out.lines();
  expect(none).not.toHaveProperty('traceId');
  expect(inSpan).toMatchObject({ traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7' });
});

it('redacts credentials and bodies that reach a log call, and summarises requests without query, headers or body', () => {
  const out = capture();
  const log = createPlatformLogger({ service: 'gateway', destination: out.stream });
  log.info({ headers: { authorization: 'Bearer secret-token', cookie: 'sid=secret-cookie', 'x-api-key': 'hd_secret-key', accept: 'application/json' } }, 'headers');
  log.info({ password: 'hunter2', body: { email: 'dana@customer.test' }, user: { email: 'dana@customer.test', token: 'secret-token' } }, 'fields');
  log.info({ req: { method: 'POST', url: '/tickets?email=dana@customer.test', headers: { authorization: 'Bearer secret-token' }, body: { name: 'Dana' } } }, 'request');
  const text = JSON.stringify(out.lines());
  for (const secret of ['secret-token', 'secret-cookie', 'hd_secret-key', 'hunter2', 'dana', 'Dana']) expect([secret, text.includes(secret)]).toEqual([secret, false]);
  const [headers, , request] = out.lines();
  expect(headers).toMatchObject({ headers: { authorization: '[redacted]', accept: 'application/json' } });
  expect(request).toMatchObject({ req: { method: 'POST', path: '/tickets' } });
});

it('gives a request its X-Correlation-Id when sane, a new one otherwise, and the same id to everything logged while it runs', () => {
  const req = (h?: string) => ({ headers: h === undefined ? {} : { 'x-correlation-id': h } }) as unknown as IncomingMessage;
  expect(correlationIdFor(req('abc-123'))).toBe('abc-123');
  const fresh = req('bad id with spaces');
  const id = correlationIdFor(fresh);
  expect(id).toMatch(/^[0-9a-f-]{36}$/);
  // The auth layer's tenant context takes the header: the same id.
  expect(fresh.headers['x-correlation-id']).toBe(id);
  const out = capture();
  const log = createPlatformLogger({ service: 'drafts', destination: out.stream });
  requestLoggingMiddleware(req('corr-9'), {} as ServerResponse, () => log.info('handling'));
  expect(out.lines()[0]).toMatchObject({ correlationId: 'corr-9' });
});
