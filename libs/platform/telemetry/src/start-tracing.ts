import { markTracingEnabled } from './trace-context';
import type { TracingOptions } from './sdk';

/**
 * Whether the standard OTEL_* variables configure a trace exporter: OTEL_TRACES_EXPORTER names one
 * (otlp, console), or an OTLP endpoint is set (OTEL_EXPORTER_OTLP_ENDPOINT or
 * OTEL_EXPORTER_OTLP_TRACES_ENDPOINT). OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none turn it off.
 */
export function tracingConfigured(env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return false;
  const exporters = (env.OTEL_TRACES_EXPORTER ?? '')
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean);
  if (exporters.includes('none')) return false;
  if (exporters.length > 0) return true;
  return Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim() || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim());
}

let sdk: ReturnType<typeof import('./sdk').startSdk> | undefined;

/**
 * Starts tracing for a service, when the environment configures an exporter; otherwise does
 * nothing at all (the SDK is not even loaded, and the platform's span helpers only call through).
 * Must run before anything it instruments is loaded (http, pg, ioredis, undici): each
 * service's `apps/<service>/src/tracing.ts` calls it and is the first import of its main.ts.
 *
 * On SIGTERM/SIGINT the spans still buffered are flushed at once, while the service shuts down
 * (runService's own handler does that; spans of the work it finishes meanwhile go out with the
 * batch processor's next export, if the process still runs then). When no other handler is there,
 * the signal is raised again after the flush, so the process ends as it would have.
 */
export function startTracing(serviceName: string, options: TracingOptions = {}): boolean {
  if (sdk || !tracingConfigured()) return false;
  // Loaded here, not imported: a process without tracing never loads the SDK.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { startSdk } = require('./sdk') as typeof import('./sdk');
  sdk = startSdk(serviceName, options);
  markTracingEnabled(true);
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      void flushTracing().finally(() => {
        if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
      });
    });
  }
  return true;
}

/** Exports the spans still buffered (a no-op while tracing is off); the SDK goes on. */
export async function flushTracing(): Promise<void> {
  await sdk?.flush().catch(() => undefined);
}

/** Exports what is buffered and stops the SDK: spans started afterwards are dropped. For specs and benches. */
export async function stopTracing(): Promise<void> {
  const s = sdk;
  sdk = undefined;
  markTracingEnabled(false);
  await s?.shutdown().catch(() => undefined);
}
