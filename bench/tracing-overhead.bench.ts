/**
 * Tracing's cost on the gateway's authenticated tenant read, in one run: three gateway processes
 * (apps/gateway/src/main.ts, as deployed) serving GET /api-keys, alike but for their OTEL_* settings:
 *
 *   off   no OTEL_* variable: the SDK is not loaded, the platform's span helpers only call through
 *   100%  OTLP/HTTP (protobuf, the default) to a sink in this process, OTEL_TRACES_SAMPLER=parentbased_traceidratio, ARG 1
 *   10%   the same with OTEL_TRACES_SAMPLER_ARG=0.1 (the other 90% decided at their arrival and run
 *         uninstrumented: libs/platform/telemetry/src/root-sampling.ts)
 *
 *   scripts/run node -r @swc-node/register bench/tracing-overhead.bench.ts
 *
 * The clients are in this process (keep-alive, requests spread over BENCH_TENANTS tenants' admins,
 * their limits raised: bench/lib/gateway-load.ts). Two ways to load them:
 *
 *   together (default)  each round sends BENCH_RATE requests a second (100) to each of the three at
 *                       once for BENCH_SECONDS (5): the same arrivals, under the same machine load
 *                       (the machine is shared: other load drifts over a run, and a gateway measured
 *                       alone in a quiet or a busy moment would skew the comparison)
 *   apart (BENCH_MODE=apart)  one gateway at a time, BENCH_REQUESTS (10000) as fast as it answers with
 *                       BENCH_CONCURRENCY (16) in flight, the order rotating round by round
 *
 * Per round and gateway: the rate, and the gateway process's own CPU per request (its threads' time
 * on a CPU, from /proc's schedstat in nanoseconds: the figure the machine's other load moves least),
 * with its main thread's share (the JavaScript; the rest is V8's GC and compiler threads and libuv's
 * pool); together, also the latency of every answer (p50, p99).
 * Overhead = on/off − 1, two ways: of the medians over all rounds, and the median of each round's
 * own ratio. Target: ≤ 5% at 10% sampling (issue 17).
 *
 * The gateways run on the machine's last CPU, this process, PostgreSQL and Redis on the others
 * (BENCH_PIN=0: wherever the scheduler puts them; bench/lib/cpu-pinning.ts says why).
 *
 * Env: BENCH_ROUNDS (12), BENCH_TENANTS (10), BENCH_WARMUP (30000 requests per gateway first).
 * BENCH_CPU_PROFILE=<dir> starts the gateways with --cpu-prof writing there
 * (written when they stop; a profile per gateway: gateway-3380 off, -3381 100%, -3382 10%);
 * BENCH_SERVICE_NODE_ARGS adds Node options to them. BENCH_TENTH_RATIO: the third gateway's ratio
 * instead of 0.1 (0: the cost of the unsampled path alone); BENCH_TRACED_ENV: more settings for the
 * traced two (`K=V,K=V`); BENCH_ALL_RATIO: the second gateway's ratio instead of 1, BENCH_ALL_ENV:
 * settings for it alone (two variants of one ratio in one run).
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { performance } from 'node:perf_hooks';
import { join } from 'node:path';
import { AuthKeys, TokenService } from '@hotdash/platform-auth';
import { startServices, TestWorld, type ServiceProcess } from '@hotdash/testing';
import { ClosedLoop, dropReaderLimits, prepareReaders } from './lib/gateway-load';
import { CpuPinning } from './lib/cpu-pinning';
import { median, percentile } from './lib/stats';
import { otlpSink, type OtlpSink, settingsList, tracedSetting } from './lib/otlp-sink';

const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 10_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 12);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 16);
const TENANTS = Number(process.env.BENCH_TENANTS ?? 10);
const PROFILE_DIR = process.env.BENCH_CPU_PROFILE;
/** The third gateway's sampling ratio (0.1; 0: the unsampled path alone). */
const TENTH_RATIO = Number(process.env.BENCH_TENTH_RATIO ?? 0.1);
/** The second gateway's (1; BENCH_ALL_ENV adds settings to it alone). */
const ALL_RATIO = Number(process.env.BENCH_ALL_RATIO ?? 1);
/** `together` (default): each round loads the three gateways at once for BENCH_SECONDS; `apart`: one after the other, BENCH_REQUESTS each. */
const TOGETHER = (process.env.BENCH_MODE ?? 'together') !== 'apart';
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
/** Together: requests per second sent to each gateway (below what the slowest serves on a busy machine). */
const RATE = Number(process.env.BENCH_RATE ?? 100);
const MAX_IN_FLIGHT = 64;
/** Requests per gateway before the rounds (closed loop). */
const WARMUP = Number(process.env.BENCH_WARMUP ?? 30_000);
/** The gateways on one CPU, this process, PostgreSQL and Redis on the other(s) (bench/lib/cpu-pinning.ts); BENCH_PIN=0: as the scheduler places them. */
const PIN = process.env.BENCH_PIN !== '0';

const world = new TestWorld();
/**
 * A process's CPU time so far, µs: the sum of its threads' time on a CPU as the scheduler counts it
 * (/proc/<pid>/task/<tid>/schedstat, nanoseconds; /proc's utime and stime count 10 ms ticks, which
 * is ±5 µs per request over a 2,000-request round); `thread`: one thread's (the main thread: the pid).
 */
function cpuOf(pid: number, thread?: number): number {
  const tasks = thread === undefined ? readdirSync(`/proc/${pid}/task`) : [String(thread)];
  let ns = 0;
  for (const tid of tasks) ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
  return ns / 1000;
}

async function main(): Promise<void> {
  const sinks = { all: await otlpSink(), tenth: await otlpSink() };
  const spools: string[] = [];
  const gateway = (port: number, otel: Record<string, string>) => {
    const spool = mkdtempSync(join(tmpdir(), 'hotdash-bench-spool-'));
    spools.push(spool);
    const name = `gateway-${port}`;
    const nodeArgs = [
      ...(PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${PROFILE_DIR}`, `--cpu-prof-name=${name}.${Date.now()}.cpuprofile`] : []),
      ...(process.env.BENCH_SERVICE_NODE_ARGS ?? '').split(' ').filter(Boolean),
    ];
    return { entry: 'apps/gateway/src/main.ts', env: { ...otel, HOTDASH_GATEWAY_PORT: String(port), HOTDASH_ACCESS_SPOOL_DIR: spool }, url: `http://127.0.0.1:${port}`, nodeArgs };
  };
  // BENCH_TRACED_ENV: more settings for the two traced gateways (`K=V,K=V`, e.g. OTEL_BSP_SCHEDULE_DELAY=1000);
  // BENCH_ALL_ENV: more for the second gateway only (with BENCH_ALL_RATIO: two variants of one ratio in one run).
  const extra = settingsList(process.env.BENCH_TRACED_ENV);
  const settings = { all: tracedSetting(sinks.all, ALL_RATIO, { ...extra, ...settingsList(process.env.BENCH_ALL_ENV) }), tenth: tracedSetting(sinks.tenth, TENTH_RATIO, extra) };
  // The bench's own environment must not trace the "off" gateway.
  for (const k of Object.keys(process.env)) if (k.startsWith('OTEL_')) delete process.env[k];
  const processes = await startServices([gateway(3380, {}), gateway(3381, settings.all.env), gateway(3382, settings.tenth.env)]);
  const pinning = PIN ? await CpuPinning.forWorld(world) : undefined;
  try {
    pinning?.pin(processes.map((p) => p.child.pid!));
    console.log(`CPU affinity: ${pinning?.describe() ?? 'not pinned (BENCH_PIN=0)'}`);
    await measure(processes, sinks, { all: settings.all.label, tenth: settings.tenth.label });
  } finally {
    pinning?.release();
    await Promise.all(processes.map((p) => p.stop()));
    for (const s of spools) rmSync(s, { recursive: true, force: true });
    for (const s of Object.values(sinks)) s.server.close();
    await world.close();
  }
}

async function measure(processes: ServiceProcess[], sinks: Record<'all' | 'tenth', OtlpSink>, traced: Record<'all' | 'tenth', string>): Promise<void> {
  const names = ['off', 'all', 'tenth'] as const;
  type Name = (typeof names)[number];
  const ports: Record<Name, number> = { off: 3380, all: 3381, tenth: 3382 };
  const byName = Object.fromEntries(names.map((n, i) => [n, processes[i]!])) as Record<Name, ServiceProcess>;
  const { readers, limitKeys } = await prepareReaders(world, TENANTS, new TokenService(AuthKeys.fromEnv()));
  const clients = Object.fromEntries(names.map((n) => [n, new ClosedLoop(ports[n], CONCURRENCY)])) as Record<Name, ClosedLoop>;
  const run = (n: Name, until: { requests: number } | { seconds: number }) =>
    clients[n].run((i) => ({ path: '/api-keys', headers: { authorization: `Bearer ${readers[i % readers.length]!.token}` } }), until);

  /** Together: each answer's time from its sending, ms (the clients are in this process: the same for the three). */
  const latencies: Record<Name, number[]> = { off: [], all: [], tenth: [] };
  /** Requests at RATE per second for SECONDS (open loop: the arrivals do not wait for the answers; at most MAX_IN_FLIGHT at once). */
  const paced = async (n: Name): Promise<{ requests: number; rate: number }> => {
    const t0 = performance.now();
    let sent = 0;
    let done = 0;
    let inFlight = 0;
    const pending = new Set<Promise<void>>();
    for (;;) {
      const elapsed = (performance.now() - t0) / 1000;
      if (elapsed >= SECONDS) break;
      for (; sent < elapsed * RATE && inFlight < MAX_IN_FLIGHT; sent++) {
        inFlight++;
        const reader = readers[sent % readers.length]!;
        const sentAt = performance.now();
        const p: Promise<void> = clients[n].get('/api-keys', { authorization: `Bearer ${reader.token}` }).then((status) => {
          latencies[n].push(performance.now() - sentAt);
          if (status !== 200) throw new Error(`GET /api-keys answered ${status}`);
          inFlight--;
          done++;
          pending.delete(p);
        });
        pending.add(p);
      }
      await new Promise((r) => setTimeout(r, 5));
    }
    await Promise.all(pending);
    return { requests: done, rate: done / ((performance.now() - t0) / 1000) };
  };

  // Warm-up: pools, connections, and the JIT. Long enough for the 10% gateway's sampled path (a
  // tenth of its requests) to be compiled like the rest: with 1,000 requests the first rounds
  // measured it still warming (+19% in the first rounds of a run, +6–10% in its last ones), and
  // with 8,000 (pinned, 10,000 a round) every gateway's CPU per request still fell 15–20% over the
  // first three rounds.
  for (const n of names) await run(n, { requests: WARMUP });
  const rates: Record<Name, number[]> = { off: [], all: [], tenth: [] };
  const cpu: Record<Name, number[]> = { off: [], all: [], tenth: [] };
  /** The main thread's share (the JavaScript; the rest is V8's GC and compiler threads and libuv's pool). */
  const mainCpu: Record<Name, number[]> = { off: [], all: [], tenth: [] };
  for (let r = 0; r < ROUNDS; r++) {
    if (TOGETHER) {
      // The three at once, for the same seconds, at the same fixed rate: each gateway's CPU per
      // request under the same machine load and the same arrivals.
      const pids = names.map((n) => byName[n].child.pid!);
      const c0 = pids.map((pid) => cpuOf(pid));
      const m0 = pids.map((pid) => cpuOf(pid, pid));
      const results = await Promise.all(names.map((n) => paced(n)));
      names.forEach((n, i) => {
        rates[n].push(results[i]!.rate);
        cpu[n].push((cpuOf(pids[i]!) - c0[i]!) / results[i]!.requests);
        mainCpu[n].push((cpuOf(pids[i]!, pids[i]!) - m0[i]!) / results[i]!.requests);
      });
      console.log(`round ${r + 1}: ${names.map((n) => `${n} ${rates[n].at(-1)!.toFixed(0)} req/s, CPU ${cpu[n].at(-1)!.toFixed(0)} (main thread ${mainCpu[n].at(-1)!.toFixed(0)}) µs/request`).join('; ')}; load ${loadavg()[0]!.toFixed(1)}`);
      continue;
    }
    const order = [...names.slice(r % 3), ...names.slice(0, r % 3)];
    for (const n of order) {
      const pid = byName[n].child.pid!;
      const c0 = cpuOf(pid);
      const m0 = cpuOf(pid, pid);
      const { rate, requests } = await run(n, { requests: REQUESTS });
      rates[n].push(rate);
      cpu[n].push((cpuOf(pid) - c0) / requests);
      mainCpu[n].push((cpuOf(pid, pid) - m0) / requests);
      console.log(`round ${r + 1} ${n.padEnd(5)}: ${rate.toFixed(0)} req/s, gateway CPU ${cpu[n].at(-1)!.toFixed(0)} µs/request (main thread ${mainCpu[n].at(-1)!.toFixed(0)})`);
    }
  }
  const pct = (x: number) => `${x >= 0 ? '+' : ''}${(x * 100).toFixed(1)}%`;
  const label: Record<Name, string> = { off: 'tracing off', ...traced };
  console.log(`\n${TOGETHER ? `the three gateways loaded together at ${RATE} req/s each, ${SECONDS} s` : `one gateway at a time, ${REQUESTS} requests`} per round, ${ROUNDS} rounds, ${CONCURRENCY} in flight, ${TENANTS} tenants; medians; load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  console.log('| gateway | req/s | gateway CPU µs/request | CPU vs off | main thread µs/request | main thread vs off | rate vs off |\n|---|---:|---:|---:|---:|---:|---:|');
  for (const n of names)
    console.log(
      `| ${label[n]} | ${median(rates[n]).toFixed(0)} | ${median(cpu[n]).toFixed(0)} | ${pct(median(cpu[n]) / median(cpu.off) - 1)} | ${median(mainCpu[n]).toFixed(0)} | ${pct(median(mainCpu[n]) / median(mainCpu.off) - 1)} | ${pct(median(rates[n]) / median(rates.off) - 1)} |`,
    );
  console.log(`exported: ${label.all} ${sinks.all.exports()} batches, ${(sinks.all.bytes() / 1024).toFixed(0)} KiB; ${label.tenth} ${sinks.tenth.exports()} batches, ${(sinks.tenth.bytes() / 1024).toFixed(0)} KiB`);
  const paired = (n: Name) => median(cpu[n].map((c, r) => c / cpu.off[r]! - 1));
  console.log(`per-round ratios (median of each round's on/off): CPU ${label.all} ${pct(paired('all'))}, ${label.tenth} ${pct(paired('tenth'))}`);
  if (TOGETHER) {
    console.log(`latency (ms, every request of every round): ${names.map((n) => `${label[n]} p50 ${percentile(latencies[n], 50).toFixed(2)}, p99 ${percentile(latencies[n], 99).toFixed(2)}`).join('; ')}`);
  }
  const overhead = median(cpu.tenth) / median(cpu.off) - 1;
  console.log(
    `\noverhead at ${TENTH_RATIO * 100}% sampling: CPU per request ${pct(overhead)} (per-round ${pct(paired('tenth'))}), rate ${pct(1 - median(rates.tenth) / median(rates.off))} lower (target ≤ 5% CPU: ${Math.max(overhead, paired('tenth')) <= 0.05 ? 'MET' : 'MISSED'}); ${label.all}: CPU ${pct(median(cpu.all) / median(cpu.off) - 1)}`,
  );

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
