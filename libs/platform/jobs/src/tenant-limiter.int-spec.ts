// Per-tenant concurrency caps on a real BullMQ queue and Redis: a tenant with a large backlog never
// runs more than its cap across two workers (separate connections, as separate processes would),
// another tenant's jobs queued behind that backlog do not wait for it, every job runs exactly once,
// and a slot held by a worker that died is given back when its lease ends.
import { Queue } from 'bullmq';
import Redis from 'ioredis';
import { loadConfig } from '@hotdash/platform-config';
import { newId } from '@hotdash/platform-db';
import { sleep, waitFor } from '@hotdash/testing';
import { redisConnection, tenantKeyPrefix } from './queues';
import { BullmqJobs } from './port/bullmq.jobs';
import type { RunningJob } from './port/jobs.port';
import { TenantConcurrencyLimiter } from './tenant-limiter';

jest.setTimeout(60_000);

const config = loadConfig();
const redis = new Redis({ host: config.redis.host, port: config.redis.port });
afterAll(() => redis.disconnect());

interface Work {
  tenantId: string;
  n: number;
}

it('caps each tenant across workers and lets a second tenant through a first tenant’s backlog', async () => {
  const queueName = `limiter-spec-${newId()}`;
  const a = newId();
  const b = newId();
  const limiter = new TenantConcurrencyLimiter(redis, queueName, { cap: (t) => (t === a ? 2 : 3), retryDelayMs: 50 });
  const running = new Map<string, number>();
  const peak = new Map<string, number>();
  const done: string[] = [];
  const runs = new Map<string, number>();
  const processor = limiter.wrapJob(async (job: RunningJob<Work>) => {
    const t = job.data.tenantId;
    running.set(t, (running.get(t) ?? 0) + 1);
    peak.set(t, Math.max(peak.get(t) ?? 0, running.get(t)!));
    runs.set(job.id, (runs.get(job.id) ?? 0) + 1);
    await sleep(30); // the job's work
    running.set(t, running.get(t)! - 1);
    done.push(t === a ? `a${job.data.n}` : `b${job.data.n}`);
    return 'ok';
  });

  const queue = new Queue<Work>(queueName, { connection: redisConnection(config) });
  // A's backlog is queued first, B's four jobs behind all of it.
  await queue.addBulk(Array.from({ length: 60 }, (_, n) => ({ name: 'work', data: { tenantId: a, n }, opts: { jobId: `a-${n}`, removeOnComplete: true } })));
  await queue.addBulk(Array.from({ length: 4 }, (_, n) => ({ name: 'work', data: { tenantId: b, n }, opts: { jobId: `b-${n}`, removeOnComplete: true } })));
  // Two workers on ports of their own (their own connections, as separate processes would have).
  const ports = [new BullmqJobs(config), new BullmqJobs(config)];
  ports.forEach((p) => p.worker<Work, string>(queueName, processor, { concurrency: 4 }));
  try {
    await waitFor('all 64 jobs done', async () => done.length === 64, 45_000, 50);
  } finally {
    await Promise.all(ports.map((p) => p.close()));
    await queue.obliterate({ force: true });
    await queue.close();
  }

  expect(peak.get(a)).toBe(2); // never more than A's cap, over 8 worker slots in two workers
  expect(peak.get(b)).toBeLessThanOrEqual(3);
  expect([...runs.values()].every((n) => n === 1)).toBe(true);
  expect(runs.size).toBe(64);
  // B's jobs finished while A's backlog was still mostly waiting, not after it.
  const lastB = Math.max(...[0, 1, 2, 3].map((n) => done.indexOf(`b${n}`)));
  expect(lastB).toBeLessThan(30);
  // Every slot was given back; the keys live under each tenant's prefix (offboarding erases them).
  expect(await limiter.running(a)).toBe(0);
  expect(limiter.key(a).startsWith(tenantKeyPrefix(a))).toBe(true);
});

it('gives back the slot of a worker that died holding it once its lease ends', async () => {
  const t = newId();
  const limiter = new TenantConcurrencyLimiter(redis, `limiter-lease-${newId()}`, { cap: 1, leaseMs: 300 });
  expect(await limiter.acquire(t, 'crashed-job')).toBe(true); // never released: its worker "died"
  expect(await limiter.acquire(t, 'next-job')).toBe(false);
  expect(await limiter.acquire(t, 'crashed-job')).toBe(true); // the holder itself renews
  await waitFor('the dead holder’s lease to end', async () => limiter.acquire(t, 'next-job'), 5_000, 50);
  expect(await limiter.running(t)).toBe(1);
  await limiter.release(t, 'next-job');
  expect(await redis.exists(limiter.key(t))).toBe(0);
});
