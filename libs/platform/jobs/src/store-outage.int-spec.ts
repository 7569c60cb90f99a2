// A job that meets a store outage waits for the store without using up its attempts: the errors
// are the real ones (a PostgreSQL pool, an ioredis client and fetch against a loopback port nothing
// listens on), the queue is a real BullMQ queue on the local Redis.
import { Job, Queue, QueueEvents, Worker } from 'bullmq';
import Redis from 'ioredis';
import { Pool } from 'pg';
import { isStoreUnavailable, loadConfig } from '@hotdash/platform-config';
import { newId } from '@hotdash/platform-db';
import { closedPort, waitFor } from '@hotdash/testing';
import { redisConnection } from './queues';
import { retryWhenStoresDown } from './store-outage';

jest.setTimeout(30_000);

const config = loadConfig();

async function refusedByPostgres(): Promise<unknown> {
  const pool = new Pool({ host: '127.0.0.1', port: await closedPort(), user: 'x', password: 'x', database: 'x', connectionTimeoutMillis: 2_000 });
  try {
    return await pool.query('select 1').then(() => new Error('answered'), (e: unknown) => e);
  } finally {
    await pool.end();
  }
}

it('the drivers’ real errors for a store that is down are outages; a failure of the work is not', async () => {
  expect(isStoreUnavailable(await refusedByPostgres())).toBe(true);
  const redis = new Redis({ host: '127.0.0.1', port: await closedPort(), lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null });
  try {
    expect(isStoreUnavailable(await redis.connect().then(() => redis.ping()).then(() => new Error('answered'), (e: unknown) => e))).toBe(true);
  } finally {
    redis.disconnect();
  }
  expect(isStoreUnavailable(await fetch(`http://127.0.0.1:${await closedPort()}/v1/.well-known/ready`).then(() => new Error('answered'), (e: unknown) => e))).toBe(true);
  // The real database refusing a statement is the work's failure, not an outage.
  const pool = new Pool({ ...config.db.app, host: config.db.controlHost, port: config.db.controlPort, database: config.db.controlDatabase, max: 1 });
  try {
    expect(isStoreUnavailable(await pool.query('select 1/0').catch((e: unknown) => e))).toBe(false);
  } finally {
    await pool.end();
  }
});

describe('retryWhenStoresDown', () => {
  const queueName = `outage-spec-${newId()}`;
  const queue = new Queue<{ n: number }>(queueName, { connection: redisConnection(config) });
  const events = new QueueEvents(queueName, { connection: redisConnection(config) });
  let worker: Worker<{ n: number }> | undefined;

  afterAll(async () => {
    await worker?.close();
    await events.close();
    await queue.obliterate({ force: true });
    await queue.close();
  });

  it('puts a job that met an outage back without using an attempt, and fails one whose work failed', async () => {
    const outage = await refusedByPostgres();
    const runs = new Map<string, number>();
    worker = new Worker<{ n: number }>(
      queueName,
      retryWhenStoresDown(
        async (job: Job<{ n: number }>) => {
          const n = (runs.get(job.id!) ?? 0) + 1;
          runs.set(job.id!, n);
          if (job.data.n === 0 && n <= 3) throw outage; // the store is down for three runs
          if (job.data.n === 1) throw new Error('the work failed');
          return `done after ${n} runs`;
        },
        { delayMs: 20 },
      ),
      { connection: redisConnection(config) },
    );
    await events.waitUntilReady();
    const [waits, fails] = await queue.addBulk([
      { name: 'w', data: { n: 0 }, opts: { jobId: 'waits', attempts: 1 } },
      { name: 'w', data: { n: 1 }, opts: { jobId: 'fails', attempts: 1 } },
    ]);
    await waitFor('both jobs settled', async () => (await waits!.isCompleted()) && (await fails!.isFailed()), 20_000, 50);
    const done = (await queue.getJob('waits'))!;
    expect({ result: done.returnvalue as unknown, attemptsMade: done.attemptsMade, runs: runs.get('waits') }).toEqual({ result: 'done after 4 runs', attemptsMade: 1, runs: 4 });
    const failed = (await queue.getJob('fails'))!;
    expect({ reason: failed.failedReason, attemptsMade: failed.attemptsMade, runs: runs.get('fails') }).toEqual({ reason: 'the work failed', attemptsMade: 1, runs: 1 });
  });
});
