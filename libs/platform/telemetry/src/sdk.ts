// The OpenTelemetry SDK and its instrumentations: loaded only by startTracing, only when an exporter
// is configured (a process without OTEL_* settings never loads this file).
import { context, diag, trace, type Context, type TextMapGetter, type TextMapPropagator, type TextMapSetter, type TracerProvider } from '@opentelemetry/api';
import { getRPCMetadata, RPCType, W3CTraceContextPropagator } from '@opentelemetry/core';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { IORedisInstrumentation } from '@opentelemetry/instrumentation-ioredis';
import { PgInstrumentation } from '@opentelemetry/instrumentation-pg';
import { UndiciInstrumentation } from '@opentelemetry/instrumentation-undici';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { BatchSpanProcessor, ConsoleSpanExporter, ParentBasedSampler, SimpleSpanProcessor, type SpanExporter, type SpanProcessor } from '@opentelemetry/sdk-trace';
import { gateWraps, incomingRequestDoor, onlySampled, PresetTraceIds, RootDecidedTracerProvider, rootSamplerFromEnv, type Gate } from './root-sampling';
import { TenantSpanProcessor } from './tenant-spans';
import { useSdkHooks } from './trace-context';

/** How long the batch processor waits before it exports what it holds (OTEL_BSP_SCHEDULE_DELAY overrides). */
const DEFAULT_SCHEDULE_DELAY_MS = 200;

/** Requests that are not work: the orchestrator's probes and the metrics scrape. */
const NOT_WORK = /^\/(health|metrics)(\/|\?|$)/;

function envList(name: string): string[] {
  return (process.env[name] ?? '')
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean);
}

function envNumber(name: string): number | undefined {
  const v = Number(process.env[name]);
  return process.env[name]?.trim() && Number.isFinite(v) && v >= 0 ? v : undefined;
}

/** The exporter OTEL_TRACES_EXPORTER and OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL name (the OTLP ones read their endpoint, headers and timeout from the environment). */
function exporterFromEnv(): SpanExporter[] {
  const names = envList('OTEL_TRACES_EXPORTER');
  return (names.length ? names : ['otlp']).flatMap((name): SpanExporter[] => {
    if (name === 'console') return [new ConsoleSpanExporter()];
    if (name !== 'otlp') {
      diag.warn(`OTEL_TRACES_EXPORTER: ${name} is not supported here (otlp, console, none)`);
      return [];
    }
    // Only the exporter the protocol names is loaded (gRPC's brings @grpc/grpc-js: a larger heap for every process).
    /* eslint-disable @typescript-eslint/no-require-imports */
    const protocol = (process.env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ?? process.env.OTEL_EXPORTER_OTLP_PROTOCOL ?? 'http/protobuf').trim();
    if (protocol === 'grpc') return [new (require('@opentelemetry/exporter-trace-otlp-grpc') as typeof import('@opentelemetry/exporter-trace-otlp-grpc')).OTLPTraceExporter()];
    if (protocol === 'http/json') return [new (require('@opentelemetry/exporter-trace-otlp-http') as typeof import('@opentelemetry/exporter-trace-otlp-http')).OTLPTraceExporter()];
    return [new (require('@opentelemetry/exporter-trace-otlp-proto') as typeof import('@opentelemetry/exporter-trace-otlp-proto')).OTLPTraceExporter()];
    /* eslint-enable @typescript-eslint/no-require-imports */
  });
}

/**
 * W3C trace context that a service sends on but does not take from its callers: the gateway is
 * the public edge, where a client's `traceparent` would choose the trace id and the sampling of
 * the platform's work. Every trace starts at the gateway.
 */
class SendOnlyPropagator implements TextMapPropagator {
  private readonly w3c = new W3CTraceContextPropagator();
  inject(context: Context, carrier: unknown, setter: TextMapSetter): void {
    this.w3c.inject(context, carrier, setter);
  }
  extract(context: Context, _carrier: unknown, _getter: TextMapGetter): Context {
    return context;
  }
  fields(): string[] {
    return this.w3c.fields();
  }
}

export interface TracingOptions {
  /** The public edge: callers' trace context is ignored (SendOnlyPropagator). */
  edge?: boolean;
}

/**
 * Starts the SDK: the instrumentations (HTTP in and out, fetch/undici, pg, ioredis), W3C
 * propagation, the sampler of OTEL_TRACES_SAMPLER(_ARG), the resource (OTEL_SERVICE_NAME, else the
 * service's name; OTEL_RESOURCE_ATTRIBUTES), spans stamped with their tenant and scrubbed of
 * personal data, batched (OTEL_BSP_*) to the configured exporter. Metrics and logs are not the
 * SDK's here (Prometheus and pino). Returns the SDK's flush (exports what is buffered) and stop.
 */
/**
 * The pg instrumentation without its pool metrics (db.client.connection.*). It sets them up on a pool's
 * first instrumented connect — never with tracing off or at 0%, after the first sampled trace at 10% —
 * and from then on updates three counters (attributes hashed) at every checkout and release of every
 * request, sampled or not: ~1% of the ai-drafting service's CPU on the ticket → draft path at 10%
 * (bench/ticket-to-draft.bench.ts, BENCH_TRACING=1). A service's metrics do not depend on its tracing
 * settings. Relies on the instrumentation's internal `_setPoolConnectEventListeners` (0.78), which
 * the telemetry spec checks is still there.
 */
export function withoutPoolMetrics(instrumentation: PgInstrumentation): PgInstrumentation {
  (instrumentation as unknown as { _setPoolConnectEventListeners: (pool: unknown) => void })._setPoolConnectEventListeners = () => undefined;
  return instrumentation;
}

export function startSdk(serviceName: string, options: TracingOptions = {}): { flush: () => Promise<void>; shutdown: () => Promise<void> } {
  const processors: SpanProcessor[] = exporterFromEnv().map((exporter) =>
    // Each exporter behind the tenant stamping and scrubbing (TenantSpanProcessor).
    new TenantSpanProcessor(
      exporter instanceof ConsoleSpanExporter
        ? new SimpleSpanProcessor({ exporter })
        : new BatchSpanProcessor({
            exporter,
            // 200 ms unless OTEL_BSP_SCHEDULE_DELAY says otherwise (the specification's default is
            // 5 s): at 10% sampling a batch rarely fills (512 spans), and spans kept 5 s outlive V8's
            // young generation; bench/tracing-overhead measured the 10% gateway's GC and compiler
            // threads spending more per request than the 100% one's (docs/benchmarks.md).
            scheduledDelayMillis: envNumber('OTEL_BSP_SCHEDULE_DELAY') ?? DEFAULT_SCHEDULE_DELAY_MS,
            maxQueueSize: envNumber('OTEL_BSP_MAX_QUEUE_SIZE'),
            maxExportBatchSize: envNumber('OTEL_BSP_MAX_EXPORT_BATCH_SIZE'),
            exportTimeoutMillis: envNumber('OTEL_BSP_EXPORT_TIMEOUT'),
          }),
    ),
  );
  // With a parent-based sampler (the default; OTEL_TRACES_SAMPLER=parentbased_traceidratio) a
  // trace's fate is its root's, and an unsampled trace costs next to nothing (root-sampling.ts): an
  // incoming request's decision is taken before the HTTP instrumentation does any work, spans below
  // an unsampled one are not built, and pg and ioredis run uninstrumented outside sampled traces.
  const root = rootSamplerFromEnv();
  const ids = new PresetTraceIds();
  const gated = <T extends object>(instrumentation: T, gates: Record<string, Gate>): T => (root ? gateWraps(instrumentation, gates) : instrumentation);
  const instrumentations = [
    gated(
      new HttpInstrumentation({
        ignoreIncomingRequestHook: (req) => NOT_WORK.test(req.url ?? ''),
        // Outgoing calls outside any work (a client's background polling) start no trace of their own.
        requireParentforOutgoingSpans: true,
      }),
      root ? { emit: incomingRequestDoor(root, ids, (req) => !NOT_WORK.test(req.url ?? '')) } : {},
    ),
    new UndiciInstrumentation({ requireParentforSpans: true }),
    // No Nest instrumentation: its two spans per request (the route's, the handler's) repeated the
    // HTTP server span and cost every request, sampled or not; the server span takes the matched
    // route's name instead (nameRequestRoute, called by the HTTP layer).
    // Statement text only (the platform's SQL binds every value); no parameters, no connect spans,
    // no spans for a pool's idle work (the relay's polls, LISTEN) outside a trace.
    gated(withoutPoolMetrics(new PgInstrumentation({ enhancedDatabaseReporting: false, requireParentSpan: true, ignoreConnectSpans: true, addSqlCommenterCommentToQueries: false })), {
      query: onlySampled,
      connect: onlySampled,
    }),
    // The command's name only: arguments carry keys and values (BullMQ's scripts get a job's data).
    gated(new IORedisInstrumentation({ requireParentSpan: true, dbStatementSerializer: (command) => command }), { sendCommand: onlySampled, connect: onlySampled }),
  ];
  const sdk = new NodeSDK({
    ...(process.env.OTEL_SERVICE_NAME?.trim() ? {} : { serviceName }),
    spanProcessors: processors,
    // Metrics are exported by the services' Prometheus endpoint, logs are pino's JSON lines.
    metricReaders: [],
    logRecordProcessors: [],
    ...(options.edge ? { textMapPropagator: new SendOnlyPropagator() } : {}),
    // The sampler the door decides with (the SDK would build the same one from OTEL_TRACES_SAMPLER).
    ...(root ? { sampler: new ParentBasedSampler({ root }), idGenerator: ids } : {}),
    instrumentations,
  });
  sdk.start();
  const global = trace.getTracerProvider() as TracerProvider & { getDelegate?: () => TracerProvider };
  const tracerProvider = root ? new RootDecidedTracerProvider(global.getDelegate?.() ?? global) : undefined;
  if (tracerProvider) for (const i of instrumentations) i.setTracerProvider(tracerProvider);
  useSdkHooks({
    tracerProvider,
    // The route reaches the server span through the HTTP instrumentation's request metadata: the
    // span is named `<method> <route>` and gets http.route when it ends.
    nameRoute: (route) => {
      const request = getRPCMetadata(context.active());
      if (request?.type === RPCType.HTTP && request.span.isRecording()) request.route = route;
    },
  });
  return { flush: async () => void (await Promise.all(processors.map((p) => p.forceFlush()))), shutdown: () => sdk.shutdown() };
}
