import type { IncomingMessage } from 'node:http';
import { context, propagation, ROOT_CONTEXT, trace, TraceFlags, type Span } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { AlwaysOffSampler, AlwaysOnSampler, InMemorySpanExporter, ParentBasedSampler, SimpleSpanProcessor, TraceIdRatioBasedSampler, TracerProvider } from '@opentelemetry/sdk-trace';
import { gateWraps, incomingRequestDoor, onlySampled, PresetTraceIds, RootDecidedTracerProvider, rootSamplerFromEnv } from './root-sampling';
import { contextFromTraceparent } from './trace-context';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const SAMPLED = `00-${TRACE}-00f067aa0ba902b7-01`;
const UNSAMPLED = `00-${TRACE}-00f067aa0ba902b7-00`;

const memory = new InMemorySpanExporter();
const ids = new PresetTraceIds();
// The SDK's side: parent-based, every root sampled; the door's preset trace ids (PresetTraceIds).
const provider = new TracerProvider({ sampler: new ParentBasedSampler({ root: new AlwaysOnSampler() }), idGenerator: ids, spanProcessors: [new SimpleSpanProcessor({ exporter: memory })] });
const tracer = new RootDecidedTracerProvider(provider).getTracer('spec');
const contextManager = new AsyncLocalStorageContextManager();

beforeAll(() => {
  context.setGlobalContextManager(contextManager.enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
});
afterAll(async () => {
  await provider.shutdown();
  context.disable();
  propagation.disable();
});
beforeEach(() => memory.reset());

describe('the root sampler from OTEL_TRACES_SAMPLER', () => {
  it('is the parent-based samplers’ root, read as the SDK reads it; none for the others', () => {
    expect(rootSamplerFromEnv({})).toBeInstanceOf(AlwaysOnSampler);
    expect(rootSamplerFromEnv({ OTEL_TRACES_SAMPLER: 'parentbased_always_off' })).toBeInstanceOf(AlwaysOffSampler);
    expect(String(rootSamplerFromEnv({ OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.1' }))).toBe('TraceIdRatioBased{0.1}');
    expect(String(rootSamplerFromEnv({ OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: 'lots' }))).toBe('TraceIdRatioBased{1}');
    expect(rootSamplerFromEnv({ OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.1' })).toBeUndefined();
    expect(rootSamplerFromEnv({ OTEL_TRACES_SAMPLER: 'always_on' })).toBeUndefined();
  });
});

describe('the root-decided tracer', () => {
  it('records below a sampled parent, remote or local', () => {
    const span = tracer.startSpan('child', {}, contextFromTraceparent(SAMPLED));
    expect(span.isRecording()).toBe(true);
    expect(span.spanContext().traceId).toBe(TRACE);
    const grandchild = tracer.startSpan('grandchild', {}, trace.setSpan(ROOT_CONTEXT, span));
    grandchild.end();
    span.end();
    expect(memory.getFinishedSpans().map((s) => [s.name, s.spanContext().traceId])).toEqual([
      ['grandchild', TRACE],
      ['child', TRACE],
    ]);
  });

  it('builds nothing below an unsampled parent: the parent’s context goes on, flag 00', () => {
    const span = tracer.startSpan('child', {}, contextFromTraceparent(UNSAMPLED));
    expect(span.isRecording()).toBe(false);
    expect(span.spanContext()).toMatchObject({ traceId: TRACE, spanId: '00f067aa0ba902b7', traceFlags: TraceFlags.NONE });
    const seen = tracer.startActiveSpan('active', {}, contextFromTraceparent(UNSAMPLED), (s) => trace.getActiveSpan()?.spanContext().traceId === TRACE && !s.isRecording());
    expect(seen).toBe(true);
    span.end();
    expect(memory.getFinishedSpans()).toEqual([]);
  });

  it('leaves roots to the SDK’s sampler', () => {
    const root = tracer.startSpan('root');
    expect(root.isRecording()).toBe(true);
    root.end();
    expect(memory.getFinishedSpans()).toHaveLength(1);
  });
});

/** An instrumentation as InstrumentationBase patches (shimmer: the wrapper's result replaces the function). */
function fakeInstrumentation() {
  return {
    _wrap(target: Record<string, unknown>, name: string, wrapper: (original: (...args: unknown[]) => unknown) => (...args: unknown[]) => unknown) {
      target[name] = wrapper(target[name] as (...args: unknown[]) => unknown);
    },
  };
}

describe('a function instrumented only in sampled traces', () => {
  it('runs instrumented inside a sampled trace, as it was outside one or without any', () => {
    const client = { query: (text: string) => `original ${text}`, end: () => 'original end' };
    const instrumentation = gateWraps(fakeInstrumentation(), { query: onlySampled });
    instrumentation._wrap(client, 'query', (original) => (...args) => `instrumented ${String(original(...args))}`);
    instrumentation._wrap(client, 'end', (original) => () => `instrumented ${String(original())}`);
    expect(context.with(contextFromTraceparent(SAMPLED), () => client.query('a'))).toBe('instrumented original a');
    expect(context.with(contextFromTraceparent(UNSAMPLED), () => client.query('b'))).toBe('original b');
    expect(client.query('c')).toBe('original c');
    // Functions without a gate stay instrumented.
    expect(client.end()).toBe('instrumented original end');
  });
});

describe('the door of incoming requests', () => {
  type Seen = { path: 'original' | 'instrumented'; span?: Span; traceId?: string };
  const request = (url: string, headers: Record<string, string> = {}) => ({ url, method: 'GET', headers }) as unknown as IncomingMessage;
  const doorWith = (root: AlwaysOnSampler | AlwaysOffSampler | TraceIdRatioBasedSampler) => {
    const server = { emit: (..._args: unknown[]): Seen => ({ path: 'original', span: trace.getActiveSpan() }) };
    const instrumentation = gateWraps(fakeInstrumentation(), { emit: incomingRequestDoor(root, ids, (req) => req.url !== '/health') });
    // The instrumented emit starts the root span (its trace id from the generator, as the SDK's tracer does).
    instrumentation._wrap(server, 'emit', () => (): Seen => ({ path: 'instrumented', traceId: ids.generateTraceId() }));
    return server;
  };

  it('lets a sampled request through instrumented, its root span with the trace id the sampler decided on', () => {
    const seen = doorWith(new TraceIdRatioBasedSampler(1)).emit('request', request('/tickets'), {});
    expect(seen.path).toBe('instrumented');
    expect(seen.traceId).toMatch(/^[0-9a-f]{32}$/);
        // The preset id is used once.
    expect(ids.generateTraceId()).not.toBe(seen.traceId);
  });

  it('runs an unsampled request uninstrumented, inside its unsampled trace (flag 00 goes on)', () => {
    const seen = doorWith(new AlwaysOffSampler()).emit('request', request('/tickets'), {});
    expect(seen.path).toBe('original');
    expect(seen.span!.isRecording()).toBe(false);
    expect(seen.span!.spanContext().traceId).toMatch(/^(?!0{32})[0-9a-f]{32}$/);
    expect(seen.span!.spanContext().traceFlags).toBe(TraceFlags.NONE);
  });

  it('follows the caller’s decision: its sampled trace instrumented, its unsampled one not', () => {
    const door = doorWith(new AlwaysOffSampler());
    expect(door.emit('request', request('/internal/tickets', { traceparent: SAMPLED }), {}).path).toBe('instrumented');
    const unsampled = door.emit('request', request('/internal/tickets', { traceparent: UNSAMPLED }), {});
    expect(unsampled.path).toBe('original');
    expect(unsampled.span!.spanContext()).toMatchObject({ traceId: TRACE, traceFlags: TraceFlags.NONE });
  });

  it('leaves what is not work, and other events, to the instrumentation', () => {
    const door = doorWith(new AlwaysOffSampler());
    expect(door.emit('request', request('/health'), {}).path).toBe('instrumented');
    expect(door.emit('connection', {}).path).toBe('instrumented');
  });
});
