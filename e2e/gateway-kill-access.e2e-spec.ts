// Audit of access loses nothing when a gateway dies (issue 15 item 1): the gateway, its own process,
// is SIGKILLed 20 times while authenticated reads stream through it from several clients. Every
// request that got a response has its access entry in the tenant's outbox exactly once (entries are
// spooled to local disk before the response: AccessLog, AccessSpool; a gateway that starts writes the
// entries of the ones that died). Each kill lands while requests are in flight and after some got
// their answers (the spec counts both per round), so entries still in a dead gateway's spool are
// what the next gateway must write.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Redis from 'ioredis';
import { sql } from 'kysely';
import { publishTenantLimits, tenantLimitsKey } from '@hotdash/platform-auth';
import { newId } from '@hotdash/platform-db';
import { createAccount, ServiceProcess, sleep, startProcess, TEST_PASSWORD, TestWorld, waitFor, type TestAccount } from '@hotdash/testing';

const KILLS = 20;
const CLIENTS = 6;
const PORT = 3341;
const GATEWAY = `http://127.0.0.1:${PORT}`;
const world = new TestWorld();
const spoolDir = mkdtempSync(join(tmpdir(), 'hotdash-access-spool-'));
let gateway: ServiceProcess | undefined;
let account: TestAccount;

const startGateway = () => startProcess('apps/gateway/src/main.ts', { HOTDASH_GATEWAY_PORT: String(PORT), HOTDASH_ACCESS_SPOOL_DIR: spoolDir });
const healthy = () => fetch(`${GATEWAY}/health`).then((r) => r.ok, () => false);
async function started(): Promise<ServiceProcess> {
  const g = startGateway();
  await waitFor('the gateway', healthy, 60_000, 50).catch((e: Error) => {
    throw new Error(`${e.message}\n${g.output().slice(-3000)}`);
  });
  return g;
}

/** Correlation ids of the tenant's access entries in its outbox, with how many entries each. */
async function entries(): Promise<Map<string, number>> {
  const rows = await world.tenantDb.withTenant(account.tenantId, (tx) =>
    sql<{ c: string; n: number }>`select envelope->>'correlationId' as c, count(*)::int as n from outbox where type = 'access.recorded' group by 1`.execute(tx.db).then((r) => r.rows),
  );
  return new Map(rows.map((r) => [r.c, r.n]));
}

const redis = new Redis({ host: world.config.redis.host, port: world.config.redis.port, lazyConnect: true });

beforeAll(async () => {
  account = await createAccount(world, 'admin');
  // The clients read without pause: the plan's per-minute limit would refuse them, which is not what is tested here.
  await publishTenantLimits(redis, account.tenantId, { requestsPerMinute: 1_000_000, inFlight: 1_000 });
}, 60_000);

afterAll(async () => {
  await gateway?.stop();
  if (account) await redis.del(tenantLimitsKey(account.tenantId));
  redis.disconnect();
  await world.close();
  rmSync(spoolDir, { recursive: true, force: true });
}, 60_000);

it(`keeps the access entry of every answered request across ${KILLS} SIGKILLs of the gateway`, async () => {
  gateway = await started();
  const login = await fetch(`${GATEWAY}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ tenant: account.slug, email: account.email, password: TEST_PASSWORD }) });
  expect(login.status).toBe(200);
  const { accessToken } = (await login.json()) as { accessToken: string };

  const answered: string[] = [];
  const statuses: Record<number, number> = {};
  const perRound: { answered: number; inFlight: number }[] = [];
  for (let round = 0; round < KILLS; round++) {
    let stop = false;
    let inFlight = 0;
    let roundAnswered = 0;
    const client = async () => {
      while (!stop) {
        const correlationId = newId();
        inFlight++;
        try {
          const res = await fetch(`${GATEWAY}/me`, { headers: { authorization: `Bearer ${accessToken}`, 'x-correlation-id': correlationId } });
          await res.arrayBuffer();
          statuses[res.status] = (statuses[res.status] ?? 0) + 1;
          if (res.status === 200) {
            answered.push(correlationId);
            roundAnswered++;
          }
        } catch {
          // Cut off by the kill: no answer, no promise of an entry.
        } finally {
          inFlight--;
        }
      }
    };
    const clients = Array.from({ length: CLIENTS }, client);
    let flying: number;
    try {
      // Kill it once answers are flowing, at a random point of the flush interval, with requests in flight.
      await waitFor(`answers in round ${round}`, async () => roundAnswered >= 20, 30_000, 5).catch((e: Error) => {
        throw new Error(`${e.message} (statuses: ${JSON.stringify(statuses)})\n${gateway!.output().slice(-2000)}`);
      });
      await sleep(Math.floor(Math.random() * 120));
      flying = inFlight;
      await gateway.kill();
    } finally {
      stop = true;
      await Promise.all(clients);
    }
    perRound.push({ answered: roundAnswered, inFlight: flying });
    gateway = await started();
  }
  // The gateways that died left segments in the spool; the last one started takes them over.
  const all = await waitFor(
    'an access entry for every answered request',
    async () => {
      const seen = await entries();
      return answered.every((c) => seen.has(c)) ? seen : undefined;
    },
    60_000,
    200,
  ).catch(async (e: Error) => {
    const seen = await entries();
    throw new Error(`${e.message}: ${answered.filter((c) => !seen.has(c)).length} of ${answered.length} missing\n${gateway!.output().slice(-3000)}`);
  });
  expect(perRound.every((r) => r.answered >= 20 && r.inFlight > 0)).toBe(true);
  expect(answered.filter((c) => all.get(c) !== 1)).toEqual([]);
  // Written, the segments are gone (only the running gateway's own may remain).
  await waitFor('the spool emptied of dead gateways’ segments', async () => readdirSync(spoolDir).every((f) => f.startsWith(`access-${gateway!.child.pid}-`)), 10_000);
  console.log(`access spool: ${answered.length} answered requests across ${KILLS} kills, each with one entry; in flight at the kills: ${perRound.map((r) => r.inFlight).join(',')}`);
}, 600_000);
