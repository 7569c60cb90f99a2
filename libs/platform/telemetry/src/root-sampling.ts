// Sampling decided once, at the root of a trace, and an unsampled trace costing next to nothing
// below its root. Loaded with the SDK (sdk.ts), never while tracing is off.
import type { IncomingMessage } from 'node:http';
import {
  context,
  diag,
  isSpanContextValid,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  trace,
  TraceFlags,
  type Context,
  type Span,
  type SpanOptions,
  type Tracer,
  type TracerOptions,
  type TracerProvider,
} from '@opentelemetry/api';
import { AlwaysOffSampler, AlwaysOnSampler, RandomIdGenerator, SamplingDecision, TraceIdRatioBasedSampler, type IdGenerator, type Sampler } from '@opentelemetry/sdk-trace';

/**
 * The root sampler of OTEL_TRACES_SAMPLER when it is one of the parent-based samplers (and the
 * default, parentbased_always_on): then a trace's fate is its root's, every span below an unsampled
 * one is unsampled, and the shortcuts below change nothing but the cost. Undefined for the others
 * (`traceidratio`, `always_on`, …): the SDK then reads the sampler itself and no shortcut is taken.
 * OTEL_TRACES_SAMPLER_ARG as the SDK reads it (a ratio in [0, 1]; otherwise 1).
 */
export function rootSamplerFromEnv(env: NodeJS.ProcessEnv = process.env): Sampler | undefined {
  const name = env.OTEL_TRACES_SAMPLER?.trim() || 'parentbased_always_on';
  if (name === 'parentbased_always_on') return new AlwaysOnSampler();
  if (name === 'parentbased_always_off') return new AlwaysOffSampler();
  if (name !== 'parentbased_traceidratio') return undefined;
  const arg = env.OTEL_TRACES_SAMPLER_ARG?.trim();
  const ratio = arg ? Number(arg) : NaN;
  if (!(ratio >= 0 && ratio <= 1)) {
    diag.error(`OTEL_TRACES_SAMPLER_ARG=${arg ?? ''} is not a ratio in [0, 1]: sampling every trace`);
    return new TraceIdRatioBasedSampler(1);
  }
  return new TraceIdRatioBasedSampler(ratio);
}

/**
 * The SDK's ids, but for the trace id of the next root span when the door (incomingRequestDoor) has
 * chosen it already: the root sampler, deciding on that same id, then samples what the door let in.
 */
export class PresetTraceIds implements IdGenerator {
  private readonly random = new RandomIdGenerator();
  private next: string | undefined;

  generateTraceId(): string {
    const preset = this.next;
    if (preset === undefined) return this.random.generateTraceId();
    this.next = undefined;
    return preset;
  }

  generateSpanId(): string {
    return this.random.generateSpanId();
  }

  /** A fresh trace id (not handed out by generateTraceId). */
  newTraceId(): string {
    return this.random.generateTraceId();
  }

  /** Runs `fn` (synchronously) with `traceId` as the next root span's. */
  withNextTraceId<T>(traceId: string, fn: () => T): T {
    this.next = traceId;
    try {
      return fn();
    } finally {
      this.next = undefined;
    }
  }
}

type Fn = (this: unknown, ...args: unknown[]) => unknown;
/** What runs in place of a function an instrumentation patches: from the original and the instrumented one. */
export type Gate = (original: Fn, instrumented: Fn) => Fn;
type Wrap = (target: object, name: string, wrapper: (original: Fn) => Fn) => unknown;

/**
 * Puts a gate in front of the functions an instrumentation patches, by name (`pg`'s Client#query,
 * ioredis's Redis#sendCommand, http's Server#emit): the gate chooses, per call, between the
 * instrumented function and the original. Relies on InstrumentationBase's `_wrap`, through which
 * instrumentations patch (shimmer; unpatching restores the original); must run before the
 * instrumented module is loaded (startTracing is the first thing a service runs).
 */
export function gateWraps<T extends object>(instrumentation: T, gates: Record<string, Gate>): T {
  const self = instrumentation as unknown as { _wrap: Wrap };
  const wrap = self._wrap;
  if (typeof wrap !== 'function') return instrumentation;
  self._wrap = (target, name, wrapper) =>
    wrap.call(instrumentation, target, name, (original) => {
      const instrumented = wrapper(original);
      const gate = Object.hasOwn(gates, name) ? gates[name] : undefined;
      return gate ? gate(original, instrumented) : instrumented;
    });
  return instrumentation;
}

/**
 * Instrumented only inside a sampled trace (the active span's, local or remote); as it was otherwise: an
 * unsampled request's queries and commands then cost what they cost with tracing off (no span, no
 * attributes, no callback bound, no promise chained). For the instrumentations that only start
 * spans below a parent (`requireParentSpan`) and propagate nothing (pg, ioredis).
 */
export const onlySampled: Gate = (original, instrumented) =>
  function sampledOnly(this: unknown, ...args: unknown[]): unknown {
    return isSampled(trace.getSpan(context.active())) ? instrumented.apply(this, args) : original.apply(this, args);
  };

/**
 * The sampling decision for an incoming request, taken before the HTTP instrumentation does any
 * work (Server#emit('request')). A request that continues a caller's trace follows it (a service
 * behind the gateway: the `traceparent` the gateway sent); one that starts a trace gets a trace id
 * and the root sampler's decision on it. Sampled: the instrumented path, whose root span gets that
 * trace id (PresetTraceIds), so the sampler decides the same. Not sampled: the request runs as with
 * tracing off, in a context holding only the unsampled trace's ids (which still go on, flag 00, in
 * `traceparent`s and envelopes, so no later service samples the trace on its own). Requests that
 * are not work (`isWork` false: probes, the scrape) take the instrumented path, which ignores them.
 */
export function incomingRequestDoor(root: Sampler, ids: PresetTraceIds, isWork: (request: IncomingMessage) => boolean): Gate {
  return (original, instrumented) =>
    function door(this: unknown, ...args: unknown[]): unknown {
      const request = args[1] as IncomingMessage;
      if (args[0] !== 'request' || !isWork(request)) return instrumented.apply(this, args);
      const caller = propagation.extract(ROOT_CONTEXT, request.headers);
      const parent = trace.getSpanContext(caller);
      if (parent && isSpanContextValid(parent)) {
        return parent.traceFlags & TraceFlags.SAMPLED ? instrumented.apply(this, args) : context.with(caller, () => original.apply(this, args));
      }
      const traceId = ids.newTraceId();
      const decision = root.shouldSample(caller, traceId, request.method ?? 'GET', SpanKind.SERVER, {}, []).decision;
      if (decision === SamplingDecision.RECORD_AND_SAMPLED) return ids.withNextTraceId(traceId, () => instrumented.apply(this, args));
      const unsampled = trace.wrapSpanContext({ traceId, spanId: ids.generateSpanId(), traceFlags: TraceFlags.NONE });
      return context.with(trace.setSpan(caller, unsampled), () => original.apply(this, args));
    };
}

/** Whether a span belongs to a sampled trace: its flag, not isRecording (a remote parent never records). */
function isSampled(span: Span | undefined): boolean {
  return span !== undefined && (span.spanContext().traceFlags & TraceFlags.SAMPLED) !== 0;
}

/** The span in `ctx` when it is part of a trace that is not sampled (a valid context, flag 00). */
function unsampledParent(ctx: Context): Span | undefined {
  const parent = trace.getSpan(ctx);
  return parent && !isSampled(parent) && isSpanContextValid(parent.spanContext()) ? parent : undefined;
}

/**
 * A tracer whose spans below an unsampled one are that span's context again (a non-recording span,
 * carried on as it came: `traceparent` flag 00 to the next service), without the SDK's work per span
 * (ids, the sampler, the attributes' copy, the span-count metrics). Roots and spans of sampled
 * traces go to the SDK's tracer.
 */
class RootDecidedTracer implements Tracer {
  constructor(private readonly sdk: Tracer) {}

  startSpan(name: string, options?: SpanOptions, ctx: Context = context.active()): Span {
    const parent = options?.root ? undefined : unsampledParent(ctx);
    return parent ? trace.wrapSpanContext(parent.spanContext()) : this.sdk.startSpan(name, options, ctx);
  }

  startActiveSpan<F extends (span: Span) => unknown>(name: string, ...rest: [F] | [SpanOptions, F] | [SpanOptions, Context, F]): ReturnType<F> {
    const fn = rest[rest.length - 1] as F;
    const options = rest.length > 1 ? (rest[0] as SpanOptions) : undefined;
    const ctx = rest.length > 2 ? (rest[1] as Context) : context.active();
    const span = this.startSpan(name, options, ctx);
    return context.with(trace.setSpan(ctx, span), fn as (span: Span) => ReturnType<F>, undefined, span);
  }
}

/** The SDK's tracer provider behind RootDecidedTracer. */
export class RootDecidedTracerProvider implements TracerProvider {
  constructor(private readonly sdk: TracerProvider) {}
  getTracer(name: string, version?: string, options?: TracerOptions): Tracer {
    return new RootDecidedTracer(this.sdk.getTracer(name, version, options));
  }
}
