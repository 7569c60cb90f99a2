import { createServer, type Server } from 'node:http';

export interface OtlpSink {
  url: string;
  /** Bytes of every export received so far. */
  bytes: () => number;
  /** Export requests received so far. */
  exports: () => number;
  server: Server;
}

/** An OTLP/HTTP endpoint on loopback that takes every export and keeps only how much came (for benches that need traces sent somewhere). */
export async function otlpSink(): Promise<OtlpSink> {
  let bytes = 0;
  let exports = 0;
  const server = createServer((req, res) => {
    req.on('data', (c: Buffer) => (bytes += c.length));
    req.on('end', () => {
      exports++;
      res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, bytes: () => bytes, exports: () => exports, server };
}

/**
 * A traced setting of the tracing benches: parent-based ratio sampling at `ratio`, exporting to
 * `sink`, with `extra` OTEL_* settings; its label names the ratio and the extra settings.
 */
export interface TracedSetting {
  env: Record<string, string>;
  label: string;
}

export function tracedSetting(sink: { url: string }, ratio: number, extra: Record<string, string> = {}): TracedSetting {
  const shown = Object.entries(extra).map(([k, v]) => `${k}=${v}`);
  return {
    env: { OTEL_EXPORTER_OTLP_ENDPOINT: sink.url, OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: String(ratio), ...extra },
    label: `on, ${ratio * 100}% sampled${shown.length ? ` (${shown.join(',')})` : ''}`,
  };
}

/** `K=V,K=V` (a bench variable naming settings) as an object. */
export function settingsList(value: string | undefined): Record<string, string> {
  return Object.fromEntries((value ?? '').split(',').filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
}
