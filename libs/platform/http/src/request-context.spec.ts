import 'reflect-metadata';
import type { Server } from 'node:http';
import { connect } from 'node:net';
import { Body, Controller, HttpCode, Module, Post } from '@nestjs/common';
import type { INestApplication } from '@nestjs/common';
import { context, ROOT_CONTEXT, trace, TraceFlags } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { createFastifyHttpApp, createHttpApp } from './http-app';
import { contextFields } from './logging';

// A request's context after its body is read. A body's events run in the connection's context, not
// the request's (plain Node loses every AsyncLocalStorage there); the handler still runs in the
// request's because both frameworks bind their body callbacks to it (raw-body's AsyncResource for
// Express, Fastify's content-type parser's). The platform relies on it: the correlation id of the
// log lines, and an unsampled request's trace context, whose `traceparent` (flag 00) its events
// carry so the services after it do not sample their part on their own
// (libs/platform/telemetry/src/root-sampling.ts puts that context around Server#emit('request'),
// as traceRequests does here). A body that arrives after its headers, as a larger one or one through
// a proxy does, is the case where it would be lost.

const TRACE_ID = '5c1f0e6a9b2d4c3e8f7a6b5c4d3e2f1a';
const CORRELATION = 'corr-split-body-1';

@Controller('echo')
class EchoController {
  @Post()
  @HttpCode(200)
  echo(@Body() body: { text?: string }): { correlationId?: string; traceId?: string; text?: string } {
    return { correlationId: contextFields().correlationId, traceId: trace.getActiveSpan()?.spanContext().traceId, text: body.text };
  }
}

@Module({ controllers: [EchoController] })
class EchoModule {}

const contextManager = new AsyncLocalStorageContextManager();
beforeAll(() => void context.setGlobalContextManager(contextManager.enable()));
afterAll(() => context.disable());

/** Runs each incoming request in an unsampled trace's context, as the tracing door does. */
function traceRequests(app: INestApplication): void {
  const server = app.getHttpServer() as Server;
  const emit = server.emit.bind(server);
  const unsampled = trace.setSpanContext(ROOT_CONTEXT, { traceId: TRACE_ID, spanId: '1a2b3c4d5e6f7a8b', traceFlags: TraceFlags.NONE });
  server.emit = ((event: string, ...args: unknown[]) => (event === 'request' ? context.with(unsampled, () => emit(event, ...args)) : emit(event, ...args))) as Server['emit'];
}

/** POSTs a JSON body in two TCP writes, the second once the first has had time to be read alone (so the body's last event comes from a later read of the socket). */
async function postInTwoParts(port: number, body: string): Promise<{ status: number; json: Record<string, unknown> }> {
  const head = `POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nX-Correlation-Id: ${CORRELATION}\r\nConnection: close\r\n\r\n`;
  const half = Math.floor(body.length / 2);
  const socket = connect(port, '127.0.0.1');
  socket.setNoDelay(true);
  const answer = new Promise<string>((resolve, reject) => {
    let raw = '';
    socket.on('data', (d: Buffer) => (raw += d.toString()));
    socket.on('end', () => resolve(raw));
    socket.on('error', reject);
  });
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  socket.write(head + body.slice(0, half));
  // Input shaping, not waiting for a result: the two parts must reach the server in separate reads.
  await new Promise((resolve) => setTimeout(resolve, 30));
  socket.write(body.slice(half));
  const raw = await answer;
  const [statusLine, ...rest] = raw.split('\r\n');
  const payload = rest.join('\r\n').split('\r\n\r\n')[1]!;
  return { status: Number(statusLine!.split(' ')[1]), json: JSON.parse(payload) as Record<string, unknown> };
}

describe.each([
  ['express', () => createHttpApp(EchoModule, { observe: true, logger: false })],
  ['fastify', () => createFastifyHttpApp(EchoModule, { observe: true, logger: false })],
])('a request whose body arrives after its headers (%s)', (_name, create) => {
  let app: INestApplication;
  let port: number;

  beforeAll(async () => {
    app = await create();
    traceRequests(app);
    await app.listen(0, '127.0.0.1');
    port = Number(new URL(await app.getUrl()).port);
  });
  afterAll(() => app.close());

  it('runs its handler in its own context: its correlation id and its trace', async () => {
    const { status, json } = await postInTwoParts(port, JSON.stringify({ text: 'where is my refund? '.repeat(20) }));
    expect(status).toBe(200);
    expect(json).toEqual({ correlationId: CORRELATION, traceId: TRACE_ID, text: 'where is my refund? '.repeat(20) });
  });

  it('gives the next request on the same app its own context, not the previous one’s', async () => {
    const res = await fetch(`http://127.0.0.1:${port}/echo`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-correlation-id': 'corr-next-2' }, body: '{"text":"hi"}' });
    expect(await res.json()).toEqual({ correlationId: 'corr-next-2', traceId: TRACE_ID, text: 'hi' });
  });
});
