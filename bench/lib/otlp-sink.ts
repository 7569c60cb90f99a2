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
