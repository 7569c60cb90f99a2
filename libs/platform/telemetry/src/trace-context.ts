import { context, INVALID_SPAN_CONTEXT, isSpanContextValid, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, TraceFlags, type Attributes, type Context, type Span, type Tracer } from '@opentelemetry/api';

/** The attribute every span of tenant work carries: the tenant's id (never a name, never personal data). */
export const TENANT_ID_ATTRIBUTE = 'tenant.id';

/** The platform's own spans (consumers, jobs, the relay): one instrumentation scope. */
const SCOPE = '@hotdash/platform-telemetry';
let tracer: Tracer = trace.getTracer(SCOPE);
let routeNamer: ((route: string) => void) | undefined;

/** A span that records nothing (handed to callbacks while tracing is off; ending it does nothing). */
export const NO_SPAN: Span = trace.wrapSpanContext(INVALID_SPAN_CONTEXT);

let enabled = false;

/** Set by startTracing once the SDK runs; while false the helpers below only call through (no span, no context). */
export function markTracingEnabled(on: boolean): void {
  enabled = on;
  if (!on) {
    tracer = trace.getTracer(SCOPE);
    routeNamer = undefined;
  }
}

/**
 * The SDK's side of the helpers (sdk.ts, when it starts): the tracer provider the platform's own
 * spans come from (the root-decided one: no work below an unsampled span), and how the matched
 * route reaches the HTTP server span (nameRequestRoute).
 */
export function useSdkHooks(hooks: { tracerProvider?: { getTracer(name: string): Tracer }; nameRoute?: (route: string) => void }): void {
  if (hooks.tracerProvider) tracer = hooks.tracerProvider.getTracer(SCOPE);
  routeNamer = hooks.nameRoute;
}

/**
 * Names the current request's HTTP server span after its matched route template (`GET /tickets/:id`,
 * and `http.route`): called by the HTTP layer once the framework has routed the request (while
 * tracing is off, or for a request no span records, it does nothing).
 */
export function nameRequestRoute(route: string | undefined): void {
  if (enabled && route && routeNamer) routeNamer(route);
}

/** Whether this process exports traces (an OTLP endpoint or exporter was configured: startTracing). */
export function tracingEnabled(): boolean {
  return enabled;
}

// W3C Trace Context, version 00: 00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>.
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/**
 * The W3C `traceparent` of the active span (the envelope's field, a Kafka header, a job's data),
 * or undefined when there is none (tracing off: nothing is carried). A span that is not sampled
 * still passes its trace on, marked not sampled, so the services after it do not sample it either.
 */
export function currentTraceparent(ctx: Context = context.active()): string | undefined {
  if (!enabled) return undefined;
  return traceparentOf(trace.getSpanContext(ctx));
}

function traceparentOf(sc: ReturnType<typeof trace.getSpanContext>): string | undefined {
  if (!sc || !isSpanContextValid(sc)) return undefined;
  return `00-${sc.traceId}-${sc.spanId}-${sc.traceFlags & TraceFlags.SAMPLED ? '01' : '00'}`;
}

/** The traceparent of a given span (a producer span's, for the header that goes with its record). */
export function spanTraceparent(span: Span): string | undefined {
  return traceparentOf(span.spanContext());
}

/**
 * A context whose parent is the remote span a `traceparent` names; `base` (the root context) when
 * it is absent or malformed: a bad value never fails the work, it only starts a new trace.
 */
export function contextFromTraceparent(traceparent: string | null | undefined, base: Context = ROOT_CONTEXT): Context {
  const m = traceparent ? TRACEPARENT.exec(traceparent.trim().toLowerCase()) : null;
  if (!m) return base;
  const sc = { traceId: m[1]!, spanId: m[2]!, traceFlags: parseInt(m[3]!, 16) & TraceFlags.SAMPLED, isRemote: true };
  return isSpanContextValid(sc) ? trace.setSpanContext(base, sc) : base;
}

export interface SpanOptions {
  kind?: SpanKind;
  attributes?: Attributes;
  /** The parent context (a remote producer's: contextFromTraceparent); default the active one. */
  parent?: Context;
}

/** The error as a span may show it: its class and code, never its message (a message can quote data). */
function errorStatus(err: unknown): string {
  const e = err as { name?: unknown; code?: unknown } | null;
  const name = typeof e?.name === 'string' ? e.name : 'Error';
  return typeof e?.code === 'string' || typeof e?.code === 'number' ? `${name} (${String(e.code)})` : name;
}

/** Marks a span failed with the error's class and code (not its message) and ends it. */
export function endSpan(span: Span, err?: unknown): void {
  if (err !== undefined) span.setStatus({ code: SpanStatusCode.ERROR, message: errorStatus(err) });
  span.end();
}

/**
 * Runs `fn` in a new active span (a consumer's record, a job, a relay's send), marks it failed
 * when `fn` throws and ends it. While tracing is off `fn` runs as it is, with a span that records
 * nothing: no context is entered and nothing is allocated per call beyond the closure.
 */
export async function inSpan<T>(name: string, options: SpanOptions, fn: (span: Span) => Promise<T>): Promise<T> {
  if (!enabled) return fn(NO_SPAN);
  const parent = options.parent ?? context.active();
  return tracer.startActiveSpan(name, { kind: options.kind ?? SpanKind.INTERNAL, attributes: options.attributes }, parent, async (span) => {
    try {
      const result = await fn(span);
      endSpan(span);
      return result;
    } catch (err) {
      endSpan(span, err);
      throw err;
    }
  });
}

/** Starts a span the caller ends (endSpan): for work that does not fit one callback (a batch's records). */
export function startSpan(name: string, options: SpanOptions): Span {
  if (!enabled) return NO_SPAN;
  return tracer.startSpan(name, { kind: options.kind ?? SpanKind.INTERNAL, attributes: options.attributes }, options.parent ?? context.active());
}

/**
 * `fn` bound to the active context, for work that runs later outside it (a consumer's after-commit
 * callback queueing a job): its spans stay in the trace that registered it.
 */
export function bindToActiveContext<F extends (...args: never[]) => unknown>(fn: F): F {
  return enabled ? context.bind(context.active(), fn) : fn;
}

export { SpanKind };
