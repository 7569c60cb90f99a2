import { context, propagation, SpanKind, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { parseTenantId } from '@hotdash/contracts';
import { runInTenantContext } from '@hotdash/platform-tenancy';
import { TenantSpanProcessor, scrubAttributes, scrubSpan } from './tenant-spans';
import { bindToActiveContext, contextFromTraceparent, currentTraceparent, inSpan, markTracingEnabled, NO_SPAN, startSpan, TENANT_ID_ATTRIBUTE } from './trace-context';
import { tracingConfigured } from './start-tracing';

const A = parseTenantId('01a2233e-13de-71a6-af01-2c9e62e66eb6');
const TP = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

describe('tracing off (no exporter configured)', () => {
  it('is off without OTEL_* settings, on with an endpoint or a named exporter, off again when disabled', () => {
    expect(tracingConfigured({})).toBe(false);
    expect(tracingConfigured({ OTEL_SERVICE_NAME: 'x', OTEL_TRACES_SAMPLER: 'always_on' })).toBe(false);
    expect(tracingConfigured({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' })).toBe(true);
    expect(tracingConfigured({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://127.0.0.1:4318/v1/traces' })).toBe(true);
    expect(tracingConfigured({ OTEL_TRACES_EXPORTER: 'console' })).toBe(true);
    expect(tracingConfigured({ OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' })).toBe(false);
    expect(tracingConfigured({ OTEL_SDK_DISABLED: 'true', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' })).toBe(false);
  });

  it('carries no traceparent and runs work without spans', async () => {
    expect(currentTraceparent(contextFromTraceparent(TP))).toBeUndefined();
    let seen: unknown;
    await expect(inSpan('x', {}, async (span) => ((seen = span), 7))).resolves.toBe(7);
    expect(seen).toBe(NO_SPAN);
    expect(startSpan('x', {})).toBe(NO_SPAN);
    const fn = () => 1;
    expect(bindToActiveContext(fn)).toBe(fn);
  });
});

describe('tracing on', () => {
  const memory = new InMemorySpanExporter();
  const provider = new TracerProvider({ spanProcessors: [new TenantSpanProcessor(new SimpleSpanProcessor({ exporter: memory }))] });
  const contextManager = new AsyncLocalStorageContextManager();

  beforeAll(() => {
    context.setGlobalContextManager(contextManager.enable());
    trace.setGlobalTracerProvider(provider);
    markTracingEnabled(true);
  });
  afterAll(async () => {
    markTracingEnabled(false);
    await provider.shutdown();
    trace.disable();
    context.disable();
    propagation.disable();
  });
  beforeEach(() => memory.reset());

  it('reads and writes W3C traceparents; a malformed one starts a new trace', () => {
    expect(currentTraceparent(contextFromTraceparent(TP))).toBe(TP);
    expect(currentTraceparent(contextFromTraceparent(TP.replace(/01$/, '00')))).toBe(TP.replace(/01$/, '00'));
    for (const bad of ['', 'nope', '00-00000000000000000000000000000000-00f067aa0ba902b7-01', '01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', `${TP}-x`]) {
      expect(currentTraceparent(contextFromTraceparent(bad))).toBeUndefined();
    }
  });

  it("continues the sender's trace and passes its own span on", async () => {
    const inner = await inSpan('process x', { kind: SpanKind.CONSUMER, parent: contextFromTraceparent(TP) }, async () => currentTraceparent());
    const [span] = memory.getFinishedSpans();
    expect(span!.spanContext().traceId).toBe(TP.split('-')[1]);
    expect(span!.parentSpanContext?.spanId).toBe(TP.split('-')[2]);
    expect(inner).toBe(`00-${span!.spanContext().traceId}-${span!.spanContext().spanId}-01`);
  });

  it('marks a failed span with the error class and code, never its message', async () => {
    const err = Object.assign(new Error('customer jane@example.com not found'), { code: '23505' });
    await expect(inSpan('x', {}, async () => Promise.reject(err))).rejects.toBe(err);
    expect(memory.getFinishedSpans()[0]!.status).toEqual({ code: 2, message: 'Error (23505)' });
  });

  it('stamps tenant.id on spans in a tenant context, and on the spans of its trace started before the tenant was known', async () => {
    const tracer = trace.getTracer('spec');
    await tracer.startActiveSpan('GET /tickets (server)', { kind: SpanKind.SERVER }, async (server) => {
      tracer.startSpan('credential check').end(); // before the tenant is known
      await runInTenantContext({ tenantId: A, actorId: 'a', correlationId: 'c' }, () => inSpan('handler', {}, async () => undefined));
      server.end();
    });
    const spans = memory.getFinishedSpans();
    expect(spans.map((s) => s.name).sort()).toEqual(['GET /tickets (server)', 'credential check', 'handler']);
    for (const s of spans) expect(s.attributes[TENANT_ID_ATTRIBUTE]).toBe(A);
    // Work of no tenant stays without one.
    memory.reset();
    tracer.startSpan('health').end();
    expect(memory.getFinishedSpans()[0]!.attributes[TENANT_ID_ATTRIBUTE]).toBeUndefined();
  });

  it('keeps a callback bound to the span that registered it', async () => {
    let later: (() => string | undefined) | undefined;
    const own = await inSpan('handler', {}, async () => {
      later = bindToActiveContext(() => currentTraceparent());
      return currentTraceparent();
    });
    expect(later!()).toBe(own);
  });

  it('exports no query strings, caller addresses, bound values or exception messages', async () => {
    const tracer = trace.getTracer('spec');
    const span = tracer.startSpan('GET', {
      kind: SpanKind.SERVER,
      attributes: { 'url.full': 'http://gw/tickets?email=jane@example.com', 'http.target': '/tickets?q=refund#x', 'url.query': 'email=jane@example.com', 'client.address': '203.0.113.9', 'user_agent.original': 'Mozilla', 'db.postgresql.values': ['jane'], 'http.route': '/tickets' },
    });
    span.recordException(new Error('invalid input syntax for type uuid: "jane@example.com"'));
    span.setStatus({ code: 2, message: 'invalid input syntax for type uuid: "jane@example.com"' });
    span.end();
    const out = memory.getFinishedSpans()[0]!;
    expect(out.attributes).toEqual({ 'url.full': 'http://gw/tickets', 'http.target': '/tickets', 'http.route': '/tickets' });
    expect(JSON.stringify(out.events)).not.toContain('jane@example.com');
    expect(out.events[0]!.attributes!['exception.type']).toBe('Error');
    expect(out.status).toEqual({ code: 2 });
    // A client span keeps the server's address.
    expect(scrubAttributes({ 'network.peer.address': '10.0.0.5' }, SpanKind.CLIENT, undefined)).toEqual({ 'network.peer.address': '10.0.0.5' });
  });

  it('passes a span with nothing to scrub on as it is (no copy), its tenant stamped', () => {
    trace.getTracer('spec').startSpan('pg.query:COMMIT', { kind: SpanKind.CLIENT, attributes: { 'db.query.text': 'commit', 'network.peer.address': '10.0.0.5' } }).end();
    const span = memory.getFinishedSpans()[0]!;
    const out = scrubSpan(span, 'tenant-a');
    expect(out).toBe(span);
    expect(out.attributes).toEqual({ 'db.query.text': 'commit', 'network.peer.address': '10.0.0.5', 'tenant.id': 'tenant-a' });
    // One with a query string in its URL is copied, scrubbed; the original is left as it was.
    const withQuery = { ...span, spanContext: () => span.spanContext(), attributes: { 'url.full': 'http://drafts/x?email=a@b.c' } };
    const scrubbed = scrubSpan(withQuery, undefined);
    expect(scrubbed).not.toBe(withQuery);
    expect(scrubbed.attributes).toEqual({ 'url.full': 'http://drafts/x' });
    expect(withQuery.attributes).toEqual({ 'url.full': 'http://drafts/x?email=a@b.c' });
  });
});
