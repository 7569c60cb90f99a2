/**
 * What the gateway's rate-limit decision adds to a request: the one Redis script per request
 * (sliding window + in-flight slot, TenantRateLimiter.decide) and the release after the response,
 * paced at a fixed rate against the local Redis, compared in the same run with the cheapest Redis
 * round trip (GET of a missing key) at the same rate.
 *
 *   scripts/run node -r @swc-node/register bench/rate-limit.bench.ts
 *
 * Each path runs BENCH_SECONDS at BENCH_RATE requests/s spread over BENCH_TENANTS tenants (limits
 * high enough that every request is admitted, so the full path runs: window trim, count, two adds,
 * expiries; then the release, sent but not timed, since a gateway sends it after the response), one
 * ioredis connection as in a gateway process. Latency is measured
 * per call from just before it is sent to its answer; calls are issued on a 1 ms timer (2 per tick at
 * 2,000/s) so load is steady, not bursty. Rounds alternate baseline and limiter; percentiles are over
 * all calls of a path.
 *
 * Env: BENCH_RATE (2000), BENCH_SECONDS (10), BENCH_ROUNDS (2), BENCH_TENANTS (50).
 */
import { performance } from 'node:perf_hooks';
import Redis from 'ioredis';
import { loadConfig } from '@hotdash/platform-config';
import { newId } from '@hotdash/platform-db';
import { TenantRateLimiter } from '@hotdash/gateway';

const RATE = Number(process.env.BENCH_RATE ?? 2_000);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const TENANTS = Array.from({ length: Number(process.env.BENCH_TENANTS ?? 50) }, () => newId());

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil((p / 100) * xs.length) - 1)]!;

/** Issues `RATE` calls per second for `SECONDS`, returns each call's latency in ms. */
async function paced(call: (i: number) => Promise<unknown>): Promise<{ latencies: number[]; achieved: number }> {
  const total = RATE * SECONDS;
  const latencies: number[] = [];
  const pending: Promise<void>[] = [];
  const t0 = performance.now();
  let issued = 0;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const due = Math.min(total, Math.floor(((performance.now() - t0) / 1000) * RATE));
      while (issued < due) {
        const i = issued++;
        const start = performance.now();
        pending.push(call(i).then(() => void latencies.push(performance.now() - start)));
      }
      if (issued >= total) resolve();
      else setTimeout(tick, 1);
    };
    tick();
  });
  await Promise.all(pending);
  return { latencies, achieved: total / ((performance.now() - t0) / 1000) };
}

async function main(): Promise<void> {
  const config = loadConfig();
  const redis = new Redis({ host: config.redis.host, port: config.redis.port });
  const limiter = new TenantRateLimiter(redis);
  const limits = { requestsPerMinute: 10_000_000, inFlight: 100_000 };
  const paths = {
    baseline: (i: number) => redis.get(`hotdash:bench:missing:${i % 1000}`),
    limiter: async (i: number) => {
      const t = TENANTS[i % TENANTS.length]!;
      const id = `r${i}`;
      const d = await limiter.decide(t, id, limits);
      if (d.verdict !== 'admitted') throw new Error(`not admitted: ${d.verdict}`);
      // The release happens after the response is sent: it loads Redis like a real request but is
      // not part of the latency the request sees.
      void limiter.release(t, id);
    },
  };
  // Warm-up (script load, connections).
  for (let i = 0; i < 2_000; i++) await paths.limiter(i);
  const results: Record<keyof typeof paths, { latencies: number[]; achieved: number[] }> = { baseline: { latencies: [], achieved: [] }, limiter: { latencies: [], achieved: [] } };
  for (let r = 0; r < ROUNDS; r++) {
    for (const name of ['baseline', 'limiter'] as const) {
      const res = await paced(paths[name]);
      results[name].latencies.push(...res.latencies);
      results[name].achieved.push(res.achieved);
      console.log(`round ${r + 1} ${name}: ${res.latencies.length} calls at ${res.achieved.toFixed(0)}/s, p50 ${pct(res.latencies, 50).toFixed(3)} ms, p99 ${pct(res.latencies, 99).toFixed(3)} ms`);
    }
  }
  console.log(`\n${RATE}/s for ${SECONDS} s × ${ROUNDS} rounds per path, ${TENANTS.length} tenants; latency per call (the decision; its release is sent after it, untimed)`);
  console.log('| path | calls | p50 (ms) | p95 (ms) | p99 (ms) | max (ms) |');
  console.log('|---|---:|---:|---:|---:|---:|');
  for (const name of ['baseline', 'limiter'] as const) {
    const l = results[name].latencies;
    console.log(`| ${name} | ${l.length} | ${pct(l, 50).toFixed(3)} | ${pct(l, 95).toFixed(3)} | ${pct(l, 99).toFixed(3)} | ${Math.max(...l).toFixed(3)} |`);
  }
  const p99 = pct(results.limiter.latencies, 99);
  console.log(`\nrate-limit decision p99 ${p99.toFixed(3)} ms at ${RATE}/s (target < 1 ms: ${p99 < 1 ? 'MET' : 'MISSED'}); vs a plain Redis GET p99 ${pct(results.baseline.latencies, 99).toFixed(3)} ms (ratio ${(p99 / pct(results.baseline.latencies, 99)).toFixed(2)}×)`);
  redis.disconnect();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
