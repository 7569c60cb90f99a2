// The OpenTelemetry SDK and its instrumentations: loaded only by startTracing, only when an exporter
// is configured (a process without OTEL_* settings never loads this file).
import { diag, type Context, type TextMapGetter, type TextMapPropagator, type TextMapSetter } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter as OtlpGrpcExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { OTLPTraceExporter as OtlpJsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as OtlpProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { IORedisInstrumentation } from '@opentelemetry/instrumentation-ioredis';
import { NestInstrumentation } from '@opentelemetry/instrumentation-nestjs-core';
import { PgInstrumentation } from '@opentelemetry/instrumentation-pg';
import { UndiciInstrumentation } from '@opentelemetry/instrumentation-undici';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { BatchSpanProcessor, ConsoleSpanExporter, SimpleSpanProcessor, type SpanExporter, type SpanProcessor } from '@opentelemetry/sdk-trace';
import { TenantSpanProcessor } from './tenant-spans';

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
    const protocol = (process.env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ?? process.env.OTEL_EXPORTER_OTLP_PROTOCOL ?? 'http/protobuf').trim();
    if (protocol === 'grpc') return [new OtlpGrpcExporter()];
    if (protocol === 'http/json') return [new OtlpJsonExporter()];
    return [new OtlpProtoExporter()];
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
 * Starts the SDK: the instrumentations (HTTP in and out, Nest, fetch/undici, pg, ioredis), W3C
 * propagation, the sampler of OTEL_TRACES_SAMPLER(_ARG), the resource (OTEL_SERVICE_NAME, else the
 * service's name; OTEL_RESOURCE_ATTRIBUTES), spans stamped with their tenant and scrubbed of
 * personal data, batched (OTEL_BSP_*) to the configured exporter. Metrics and logs are not the
 * SDK's here (Prometheus and pino). Returns the SDK's flush (exports what is buffered) and stop.
 */
export function startSdk(serviceName: string, options: TracingOptions = {}): { flush: () => Promise<void>; shutdown: () => Promise<void> } {
  const processors: SpanProcessor[] = exporterFromEnv().map((exporter) =>
    // Each exporter behind the tenant stamping and scrubbing (TenantSpanProcessor).
    new TenantSpanProcessor(
      exporter instanceof ConsoleSpanExporter
        ? new SimpleSpanProcessor({ exporter })
        : new BatchSpanProcessor({
            exporter,
            scheduledDelayMillis: envNumber('OTEL_BSP_SCHEDULE_DELAY'),
            maxQueueSize: envNumber('OTEL_BSP_MAX_QUEUE_SIZE'),
            maxExportBatchSize: envNumber('OTEL_BSP_MAX_EXPORT_BATCH_SIZE'),
            exportTimeoutMillis: envNumber('OTEL_BSP_EXPORT_TIMEOUT'),
          }),
    ),
  );
  const sdk = new NodeSDK({
    ...(process.env.OTEL_SERVICE_NAME?.trim() ? {} : { serviceName }),
    spanProcessors: processors,
    // Metrics are exported by the services' Prometheus endpoint, logs are pino's JSON lines.
    metricReaders: [],
    logRecordProcessors: [],
    ...(options.edge ? { textMapPropagator: new SendOnlyPropagator() } : {}),
    instrumentations: [
      new HttpInstrumentation({
        ignoreIncomingRequestHook: (req) => NOT_WORK.test(req.url ?? ''),
        // Outgoing calls outside any work (a client's background polling) start no trace of their own.
        requireParentforOutgoingSpans: true,
      }),
      new UndiciInstrumentation({ requireParentforSpans: true }),
      new NestInstrumentation(),
      // Statement text only (the platform's SQL binds every value); no parameters, no connect spans,
      // no spans for a pool's idle work (the relay's polls, LISTEN) outside a trace.
      new PgInstrumentation({ enhancedDatabaseReporting: false, requireParentSpan: true, ignoreConnectSpans: true, addSqlCommenterCommentToQueries: false }),
      // The command's name only: arguments carry keys and values (BullMQ's scripts get a job's data).
      new IORedisInstrumentation({ requireParentSpan: true, dbStatementSerializer: (command) => command }),
    ],
  });
  sdk.start();
  return { flush: async () => void (await Promise.all(processors.map((p) => p.forceFlush()))), shutdown: () => sdk.shutdown() };
}
