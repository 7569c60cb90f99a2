/**
 * Tracing's cost on the gateway's authenticated tenant read, in one run: three gateway processes
 * (apps/gateway/src/main.ts, as deployed) serving GET /api-keys, alike but for their OTEL_* settings:
 *
 *   off   no OTEL_* variable: the SDK is not loaded, the platform's span helpers only call through
 *   100%  OTLP/HTTP (protobuf, the default) to a sink in this process, OTEL_TRACES_SAMPLER=parentbased_traceidratio, ARG 1
 *   10%   the same with OTEL_TRACES_SAMPLER_ARG=0.1 (the other 90% are instrumented but not recorded)
 *
 *   scripts/run node -r @swc-node/register bench/tracing-overhead.bench.ts
 *
 * The clients are in this process (keep-alive, BENCH_CONCURRENCY in flight, requests spread over
 * BENCH_TENANTS tenants' admins, their limits raised: bench/lib/gateway-load.ts); rounds rotate the
 * order of the three; medians. Per round: the rate, and the gateway process's own CPU per request
 * (utime + stime from /proc: the figure the machine's other load moves least). Overhead = on/off − 1.
 * Target: ≤ 5% at 10% sampling (issue 17).
 *
 * Env: BENCH_REQUESTS (per gateway per round, 4000), BENCH_ROUNDS (5), BENCH_CONCURRENCY (16), BENCH_TENANTS (10).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuthKeys, TokenService } from '@hotdash/platform-auth';
import { startServices, TestWorld, type ServiceProcess } from '@hotdash/testing';
import { ClosedLoop, dropReaderLimits, prepareReaders } from './lib/gateway-load';

const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 4_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 16);
const TENANTS = Number(process.env.BENCH_TENANTS ?? 10);

const world = new TestWorld();

/** An OTLP/HTTP endpoint that takes every export and keeps only how much came. */
async function otlpSink(): Promise<{ url: string; bytes: () => number; exports: () => number; server: Server }> {
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

/** A process's CPU time so far (user + system), µs. */
function cpuOf(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1e6) / 100; // utime, stime in clock ticks (USER_HZ 100)
}

async function main(): Promise<void> {
  const sinks = { all: await otlpSink(), tenth: await otlpSink() };
  const spools: string[] = [];
  const gateway = (port: number, otel: Record<string, string>) => {
    const spool = mkdtempSync(join(tmpdir(), 'hotdash-bench-spool-'));
    spools.push(spool);
    return { entry: 'apps/gateway/src/main.ts', env: { ...otel, HOTDASH_GATEWAY_PORT: String(port), HOTDASH_ACCESS_SPOOL_DIR: spool }, url: `http://127.0.0.1:${port}` };
  };
  const traced = (sink: { url: string }, ratio: string) => ({ OTEL_EXPORTER_OTLP_ENDPOINT: sink.url, OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: ratio });
  // The bench's own environment must not trace the "off" gateway.
  for (const k of Object.keys(process.env)) if (k.startsWith('OTEL_')) delete process.env[k];
  const processes = await startServices([gateway(3380, {}), gateway(3381, traced(sinks.all, '1')), gateway(3382, traced(sinks.tenth, '0.1'))]);
  try {
    await measure(processes, sinks);
  } finally {
    await Promise.all(processes.map((p) => p.stop()));
    for (const s of spools) rmSync(s, { recursive: true, force: true });
    for (const s of Object.values(sinks)) s.server.close();
    await world.close();
  }
}

async function measure(processes: ServiceProcess[], sinks: Record<'all' | 'tenth', Awaited<ReturnType<typeof otlpSink>>>): Promise<void> {
  const names = ['off', 'all', 'tenth'] as const;
  type Name = (typeof names)[number];
  const ports: Record<Name, number> = { off: 3380, all: 3381, tenth: 3382 };
  const byName = Object.fromEntries(names.map((n, i) => [n, processes[i]!])) as Record<Name, ServiceProcess>;
  const { readers, limitKeys } = await prepareReaders(world, TENANTS, new TokenService(AuthKeys.fromEnv()));
  const clients = Object.fromEntries(names.map((n) => [n, new ClosedLoop(ports[n], CONCURRENCY)])) as Record<Name, ClosedLoop>;
  const run = (n: Name, requests: number) => clients[n].run((i) => ({ path: '/api-keys', headers: { authorization: `Bearer ${readers[i % readers.length]!.token}` } }), { requests });

  for (const n of names) await run(n, Math.min(REQUESTS, 1_000)); // warm-up: JIT, pools, connections
  const rates: Record<Name, number[]> = { off: [], all: [], tenth: [] };
  const cpu: Record<Name, number[]> = { off: [], all: [], tenth: [] };
  for (let r = 0; r < ROUNDS; r++) {
    const order = [...names.slice(r % 3), ...names.slice(0, r % 3)];
    for (const n of order) {
      const pid = byName[n].child.pid!;
      const c0 = cpuOf(pid);
      const { rate, requests } = await run(n, REQUESTS);
      rates[n].push(rate);
      cpu[n].push((cpuOf(pid) - c0) / requests);
      console.log(`round ${r + 1} ${n.padEnd(5)}: ${rate.toFixed(0)} req/s, gateway CPU ${cpu[n].at(-1)!.toFixed(0)} µs/request`);
    }
  }
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const pct = (x: number) => `${x >= 0 ? '+' : ''}${(x * 100).toFixed(1)}%`;
  const label: Record<Name, string> = { off: 'tracing off', all: 'on, 100% sampled', tenth: 'on, 10% sampled' };
  console.log(`\n${REQUESTS} requests per gateway per round, ${ROUNDS} rounds, ${CONCURRENCY} in flight, ${TENANTS} tenants; medians; load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  console.log('| gateway | req/s | gateway CPU µs/request | CPU vs off | rate vs off |\n|---|---:|---:|---:|---:|');
  for (const n of names)
    console.log(`| ${label[n]} | ${med(rates[n]).toFixed(0)} | ${med(cpu[n]).toFixed(0)} | ${pct(med(cpu[n]) / med(cpu.off) - 1)} | ${pct(med(rates[n]) / med(rates.off) - 1)} |`);
  console.log(`exported: 100% ${sinks.all.exports()} batches, ${(sinks.all.bytes() / 1024).toFixed(0)} KiB; 10% ${sinks.tenth.exports()} batches, ${(sinks.tenth.bytes() / 1024).toFixed(0)} KiB`);
  const overhead = med(cpu.tenth) / med(cpu.off) - 1;
  console.log(`\noverhead at 10% sampling: CPU per request ${pct(overhead)}, rate ${pct(1 - med(rates.tenth) / med(rates.off))} lower (target ≤ 5% CPU: ${overhead <= 0.05 ? 'MET' : 'MISSED'}); at 100%: CPU ${pct(med(cpu.all) / med(cpu.off) - 1)}`);

  // Clean-up: the gateways (their access spools flushed to the outboxes as they stop), the access
  // entries of the bench tenants in the outboxes (no relay runs here), the raised limits; main()
  // then removes the spools and the sinks.
  for (const c of Object.values(clients)) c.close();
  await Promise.all(processes.map((p) => p.stop()));
  await dropReaderLimits(world, limitKeys);
  let removed = 0;
  for (const shard of await world.shards()) {
    const su = await world.connectSuperuser(shard.database);
    try {
      removed += (await su.query('delete from outbox where tenant_id = any($1::uuid[])', [readers.map((a) => a.tenantId)])).rowCount ?? 0;
    } finally {
      await su.end();
    }
  }
  console.log(`clean-up: ${removed} access entries of the bench tenants removed from the outboxes`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
