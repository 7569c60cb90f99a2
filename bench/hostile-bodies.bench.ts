/**
 * What garbage bodies do to everyone else: a tenant reads through the gateway (GET /me, one request
 * at a time) while 20 attackers send 1 MB garbage bodies, under every media type, to every route
 * of the public API that takes a body; compared in the same run with the same reader on an idle
 * gateway. Prints the reader's p50/p99 and their ratio (target: p99 within 2× of idle), the
 * attackers' answers per second, the largest answer and the gateway's memory.
 *
 *   scripts/run node -r @swc-node/register bench/hostile-bodies.bench.ts
 *
 * The gateway and provisioning run as separate processes (ports 3250, 3251), as in production; the
 * bench's two tenants are erased when it ends. Env: BENCH_SECONDS (8 per phase), BENCH_ROUNDS (3:
 * idle and attacked alternate), BENCH_ATTACKERS (20).
 */
import { sql } from 'kysely';
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { performance } from 'node:perf_hooks';
import Redis from 'ioredis';
import { publishTenantLimits, tenantLimitsKey } from '@hotdash/platform-auth';
import { newId } from '@hotdash/platform-db';
import { createAccount, startServices, TEST_PASSWORD, TestAccount, TestWorld } from '@hotdash/testing';

const GATEWAY = 'http://127.0.0.1:3250';
const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const ATTACKERS = Number(process.env.BENCH_ATTACKERS ?? 20);
const MEDIA_TYPES = ['text/plain', 'application/json', 'application/octet-stream', 'application/x-www-form-urlencoded', undefined];

const agent = new Agent({ keepAlive: true, maxSockets: 64 });
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil((p / 100) * xs.length) - 1)]!;
/** The process's resident memory in MiB; 0 once it is gone (the bench then fails on its next request, and still cleans up). */
const rssOf = (pid: number) => {
  try {
    return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
  } catch {
    return 0;
  }
};

function send(method: string, path: string, headers: Record<string, string>, body?: Buffer): Promise<{ status: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    let answered = false;
    const req = request(`${GATEWAY}${path}`, { method, headers: { ...headers, ...(body ? { 'content-length': String(body.length) } : {}) }, agent }, (res) => {
      answered = true;
      let bytes = 0;
      res.on('data', (c: Buffer) => (bytes += c.length));
      res.on('end', () => resolve({ status: res.statusCode!, bytes }));
    });
    req.on('error', (e) => !answered && reject(e));
    req.end(body);
  });
}

/** The attackers: a process of their own (like real ones), sending until told to stop, then reporting. */
async function attack(token: string): Promise<void> {
  const doc = (await (await fetch(`${GATEWAY}/openapi.json`)).json()) as { paths: Record<string, Record<string, { requestBody?: { content: Record<string, unknown> } }>> };
  const garbage = randomBytes(1024 * 1024);
  const attackerAuth = { authorization: `Bearer ${token}` };
  const attacks: (() => Promise<{ status: number; bytes: number }>)[] = [];
  for (const [path, methods] of Object.entries(doc.paths))
    for (const [method, op] of Object.entries(methods)) {
      if (method === 'get') continue;
      for (const type of MEDIA_TYPES)
        for (const auth of [{}, attackerAuth]) {
          // An upload of an accepted type by a credential holder is no attack.
          if ('authorization' in auth && type && op.requestBody && !op.requestBody.content['application/json'] && op.requestBody.content[type]) continue;
          const concrete = path.replace(/\{\w+\}/g, newId());
          attacks.push(() => send(method.toUpperCase(), concrete, { ...(type ? { 'content-type': type } : {}), ...auth }, garbage));
        }
    }
  let on = true;
  let sent = 0;
  let refused = 0;
  let failed = 0;
  let largest = 0;
  process.on('message', (m) => m === 'stop' && (on = false));
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: ATTACKERS }, async (_, k) => {
      for (let i = k; on; i = (i + ATTACKERS) % attacks.length) {
        const r = await attacks[i]!().catch(() => undefined);
        sent++;
        if (!r) failed++;
        else {
          largest = Math.max(largest, r.bytes);
          if (r.status >= 400 && r.status < 500) refused++;
        }
      }
    }),
  );
  process.send!({ sent, refused, failed, largest, kinds: attacks.length, seconds: (performance.now() - t0) / 1000 });
  agent.destroy();
}

async function main(): Promise<void> {
  const world = new TestWorld();
  const processes = await startServices([
    { entry: 'apps/gateway/src/main.ts', env: { HOTDASH_GATEWAY_PORT: '3250', HOTDASH_PROVISIONING_URL: 'http://127.0.0.1:3251', HOTDASH_PER_ADDRESS_PER_MINUTE: '100000000' }, url: GATEWAY },
    { entry: 'apps/provisioning/src/main.ts', env: { HOTDASH_PROVISIONING_PORT: '3251' }, url: 'http://127.0.0.1:3251' },
  ]);
  const accounts: TestAccount[] = [];
  let limitsKey: string | undefined;
  try {
    const login = async (a: TestAccount) =>
      ((await (await fetch(`${GATEWAY}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ tenant: a.slug, email: a.email, password: TEST_PASSWORD }) })).json()) as { accessToken: string }).accessToken;
    accounts.push(await createAccount(world, 'admin'), await createAccount(world, 'admin'));
    // The reader's plan would stop it at 100 a minute: raised, so every read is served and timed.
    const redis = new Redis({ host: world.config.redis.host, port: world.config.redis.port });
    await publishTenantLimits(redis, accounts[0]!.tenantId, { requestsPerMinute: 10_000_000, inFlight: 100_000 });
    limitsKey = tenantLimitsKey(accounts[0]!.tenantId);
    redis.disconnect();
    const readerAuth = { authorization: `Bearer ${await login(accounts[0]!)}` };
    const attackerToken = await login(accounts[1]!);
    const gatewayPid = processes[0]!.child.pid!;
    for (let i = 0; i < 200; i++) await send('GET', '/me', readerAuth);
    const rssStart = rssOf(gatewayPid);

    const read = async (): Promise<number[]> => {
      const latencies: number[] = [];
      const end = performance.now() + SECONDS * 1000;
      while (performance.now() < end) {
        const t = performance.now();
        const r = await send('GET', '/me', readerAuth);
        if (r.status !== 200) throw new Error(`the reader got ${r.status}`);
        latencies.push(performance.now() - t);
      }
      return latencies;
    };
    const idle: number[] = [];
    const attacked: number[] = [];
    const totals = { sent: 0, refused: 0, failed: 0, largest: 0, kinds: 0, seconds: 0 };
    let peakRss = rssStart;
    const roundPeaks: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      idle.push(...(await read()));
      const attackers = fork(__filename, ['attack', attackerToken], { execArgv: ['-r', '@swc-node/register'] });
      const report = new Promise<typeof totals>((resolve) => attackers.once('message', (m) => resolve(m as typeof totals)));
      const sampler = setInterval(() => (peakRss = Math.max(peakRss, rssOf(gatewayPid))), 100);
      // The attackers' process takes a moment to start: the reader is timed once they are sending.
      await new Promise((r) => setTimeout(r, 2_000));
      attacked.push(...(await read()));
      attackers.send('stop');
      const r = await report;
      clearInterval(sampler);
      roundPeaks.push(peakRss);
      for (const k of Object.keys(totals) as (keyof typeof totals)[]) totals[k] = k === 'largest' || k === 'kinds' ? Math.max(totals[k], r[k]) : totals[k] + r[k];
    }
    console.log(`reader idle:     n=${idle.length} p50=${pct(idle, 50).toFixed(2)} ms p99=${pct(idle, 99).toFixed(2)} ms`);
    console.log(`reader attacked: n=${attacked.length} p50=${pct(attacked, 50).toFixed(2)} ms p99=${pct(attacked, 99).toFixed(2)} ms`);
    console.log(`ratio attacked/idle: p50 ${(pct(attacked, 50) / pct(idle, 50)).toFixed(2)}x, p99 ${(pct(attacked, 99) / pct(idle, 99)).toFixed(2)}x (target p99 <= 2x)`);
    console.log(`attackers (${ATTACKERS} at once, own process): ${totals.sent} bodies of 1 MB, ${(totals.sent / totals.seconds).toFixed(0)}/s, ${totals.kinds} kinds; ${totals.refused} answered 4xx, ${totals.failed} without an answer; largest answer ${totals.largest} B`);
    console.log(`gateway RSS: ${rssStart.toFixed(0)} MiB after warm-up, peak by the end of each round ${roundPeaks.map((p) => p.toFixed(0)).join(', ')} MiB, ${rssOf(gatewayPid).toFixed(0)} MiB at the end`);
  } finally {
    agent.destroy();
    if (limitsKey) {
      const redis = new Redis({ host: world.config.redis.host, port: world.config.redis.port });
      await redis.del(limitsKey);
      redis.disconnect();
    }
    for (const a of accounts) {
      await world.tenantDb.withTenant(a.tenantId, (tx) => sql<Record<string, unknown>>`select * from erase_tenant(${a.tenantId}::uuid)`.execute(tx.db).then((r) => r.rows));
      await world.control.client.tenant.update({ where: { id: a.tenantId }, data: { status: 'offboarded' } });
    }
    await Promise.all(processes.map((p) => p.stop()));
    await world.close();
  }
}

void (process.argv[2] === 'attack' ? attack(process.argv[3]!) : main()).catch((err) => {
  console.error(err);
  process.exit(1);
});
