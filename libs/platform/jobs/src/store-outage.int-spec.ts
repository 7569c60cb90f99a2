// A job that meets a store outage waits for the store without using up its attempts: the errors
// are the real ones (a PostgreSQL pool, an ioredis client and fetch against a loopback port nothing
// listens on), the queue is a real BullMQ queue on the local Redis and the embedded runner's SQLite file.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import Redis from 'ioredis';
import { Pool } from 'pg';
import { isStoreUnavailable, loadConfig } from '@hotdash/platform-config';
import { newId } from '@hotdash/platform-db';
import { closedPort, waitFor } from '@hotdash/testing';
import { redisConnection } from './queues';
import { BullmqJobs } from './port/bullmq.jobs';
import { EmbeddedJobs } from './port/embedded.jobs';
import type { JobsPort } from './port/jobs.port';
import { retryLaterWhenStoresDown } from './store-outage';

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

describe.each(['bullmq', 'embedded'] as const)('retryLaterWhenStoresDown on the %s job runner', (adapter) => {
  const dir = mkdtempSync(join(tmpdir(), 'hotdash-outage-'));
  const jobs: JobsPort = adapter === 'bullmq' ? new BullmqJobs(config) : new EmbeddedJobs({ file: join(dir, 'jobs.sqlite'), pollMs: 100 });
  const queueName = `outage-spec-${newId()}`;

  afterAll(async () => {
    await jobs.close();
    rmSync(dir, { recursive: true, force: true });
    if (adapter === 'bullmq') {
      const queue = new Queue(queueName, { connection: redisConnection(config) });
      await queue.obliterate({ force: true });
      await queue.close();
    }
  });

  it('puts a job that met an outage back without using an attempt, and fails one whose work failed', async () => {
    const outage = await refusedByPostgres();
    const runs = new Map<string, number>();
    const queue = jobs.queue<{ n: number }>(queueName);
    jobs.worker<{ n: number }, string>(
      queueName,
      retryLaterWhenStoresDown(
        async (job) => {
          const n = (runs.get(job.id) ?? 0) + 1;
          runs.set(job.id, n);
          if (job.data.n === 0 && n <= 3) throw outage; // the store is down for three runs
          if (job.data.n === 1) throw new Error('the work failed');
          return `done after ${n} runs`;
        },
        { delayMs: 20 },
      ),
    );
    await queue.add('w', { n: 0 }, { jobId: 'waits', attempts: 1 });
    await queue.add('w', { n: 1 }, { jobId: 'fails', attempts: 1 });
    await waitFor('both jobs settled', async () => (await queue.get('waits'))?.state === 'completed' && (await queue.get('fails'))?.state === 'failed', 20_000, 50);
    expect({ attemptsMade: (await queue.get('waits'))!.attemptsMade, runs: runs.get('waits') }).toEqual({ attemptsMade: 0, runs: 4 });
    expect({ reason: (await queue.get('fails'))!.failedReason, attemptsMade: (await queue.get('fails'))!.attemptsMade, runs: runs.get('fails') }).toEqual({
      reason: 'the work failed',
      attemptsMade: 1,
      runs: 1,
    });
  });
});
