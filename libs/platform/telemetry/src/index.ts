// Tracing (OpenTelemetry). The span helpers need only @opentelemetry/api; the SDK is loaded by
// startTracing, and only when an exporter is configured (docs/observability.md, Traces).
export * from './trace-context';
export { startTracing, flushTracing, stopTracing, tracingConfigured } from './start-tracing';
export type { TracingOptions } from './sdk';
