// The jobs port's contract (jobs.port.ts), run against both adapters: BullMQ on the local Redis and
// the embedded runner on a SQLite file. What the platform's workers rely on: deterministic ids,
// tries with backoff and one final failure, RetryLater without using a try, FailNow, delays,
// concurrency, a tenant's jobs removed for its offboarding, a job abandoned by a dead worker run
// again, finished jobs pruned. The embedded runner also keeps its jobs across a restart.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import Redis from 'ioredis';
import { loadConfig } from '@hotdash/platform-config';
import { newId } from '@hotdash/platform-db';
import { sleep, waitFor } from '@hotdash/testing';
import { queueOptions } from '../queues';
import { InProcessTenantSlots, TenantConcurrencyLimiter } from '../tenant-limiter';
import { BullmqJobs } from './bullmq.jobs';
import { EmbeddedJobs } from './embedded.jobs';
import { FailNow, RetryLater, type JobOutcome, type JobsPort, type RunningJob } from './jobs.port';

jest.setTimeout(60_000);

const config = loadConfig();
const redis = new Redis({ host: config.redis.host, port: config.redis.port });
afterAll(() => redis.disconnect());
const dir = mkdtempSync(join(tmpdir(), 'hotdash-jobs-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Work {
  tenantId: string;
  n: number;
}

type Adapter = 'bullmq' | 'embedded';
const usedQueues: string[] = [];

function open(adapter: Adapter, file = join(dir, `${newId()}.sqlite`)): JobsPort {
  // Short locks so a job abandoned by a "dead" worker comes back within seconds on BullMQ.
  return adapter === 'bullmq' ? new BullmqJobs(config) : new EmbeddedJobs({ file, pollMs: 200 });
}

afterAll(async () => {
  // BullMQ keeps a queue's keys in Redis: remove every queue these specs made.
  for (const name of usedQueues) {
    const q = new Queue(name, queueOptions(config, name));
    await q.obliterate({ force: true }).catch(() => undefined);
    await q.close();
  }
});

describe.each<Adapter>(['bullmq', 'embedded'])('jobs port contract: %s', (adapter) => {
  let jobs: JobsPort;
  let name: string;
  beforeEach(() => {
    jobs = open(adapter);
    name = `jobs-contract-${newId()}`;
    usedQueues.push(name);
  });
  afterEach(() => jobs.close());

  it('runs a job once with its data, and an id added again adds nothing', async () => {
    const q = jobs.queue<Work>(name);
    const runs: RunningJob<Work>[] = [];
    await q.add('work', { tenantId: 't1', n: 1 }, { jobId: 'job-1' });
    await q.add('work', { tenantId: 't1', n: 2 }, { jobId: 'job-1' });
    jobs.worker<Work, void>(name, async (job) => void runs.push(job), { concurrency: 2 });
    await waitFor('job-1 completed', async () => (await q.get('job-1'))?.state === 'completed', 10_000);
    await q.add('work', { tenantId: 't1', n: 3 }, { jobId: 'job-1' }); // kept after it finished: still taken
    await q.add('work', { tenantId: 't1', n: 4 }, { jobId: 'job-2' });
    await waitFor('job-2 completed', async () => (await q.get('job-2'))?.state === 'completed', 10_000);
    expect(runs.map((r) => [r.id, r.data.n, r.ranBefore])).toEqual([
      ['job-1', 1, false],
      ['job-2', 4, false],
    ]);
    expect(await q.counts()).toMatchObject({ completed: 2, waiting: 0, active: 0, delayed: 0, failed: 0 });
    expect(await q.get('job-1')).toMatchObject({ state: 'completed', attemptsMade: 0, attempts: 1, data: { n: 1 } });
  });

  it('retries a failing job after its backoff and reports one final failure', async () => {
    const q = jobs.queue<Work>(name);
    const outcomes: JobOutcome<Work>[] = [];
    const tries: number[] = [];
    jobs.worker<Work, void>(
      name,
      async (job) => {
        tries.push(job.attemptsMade);
        throw new Error(`boom ${job.attemptsMade}`);
      },
      { onOutcome: (o) => outcomes.push(o) },
    );
    await q.add('work', { tenantId: 't1', n: 1 }, { jobId: 'fails', attempts: 3, backoff: { type: 'exponential', delayMs: 50 } });
    await waitFor('the failing job failed for good', async () => (await q.get('fails'))?.state === 'failed', 10_000);
    await waitFor('three outcomes', async () => outcomes.length === 3, 5_000);
    expect(tries).toEqual([0, 1, 2]);
    expect(outcomes.map((o) => [o.outcome, o.final])).toEqual([
      ['failed', false],
      ['failed', false],
      ['failed', true],
    ]);
    const job = await q.get('fails');
    expect(job).toMatchObject({ state: 'failed', attemptsMade: 3, attempts: 3, failedReason: 'boom 2' });
  });

  it('puts a job back without using a try on RetryLater, and fails it at once on FailNow', async () => {
    const q = jobs.queue<Work>(name);
    const seen: string[] = [];
    const outcomes: JobOutcome<Work>[] = [];
    jobs.worker<Work, void>(
      name,
      async (job) => {
        seen.push(`${job.id}:${job.attemptsMade}`);
        if (job.id === 'later' && seen.filter((s) => s.startsWith('later')).length < 3) throw new RetryLater(20, 'tenant at its cap');
        if (job.id === 'now') throw new FailNow('the document cannot be read');
      },
      { onOutcome: (o) => outcomes.push(o) },
    );
    await q.add('work', { tenantId: 't1', n: 1 }, { jobId: 'later', attempts: 1 });
    await q.add('work', { tenantId: 't1', n: 2 }, { jobId: 'now', attempts: 5 });
    await waitFor('later completed and now failed', async () => (await q.get('later'))?.state === 'completed' && (await q.get('now'))?.state === 'failed', 10_000);
    expect(seen.filter((s) => s.startsWith('later'))).toEqual(['later:0', 'later:0', 'later:0']);
    expect(seen.filter((s) => s.startsWith('now'))).toEqual(['now:0']);
    await waitFor('two outcomes', async () => outcomes.length === 2, 5_000);
    expect(outcomes.find((o) => o.job.id === 'now')).toMatchObject({ outcome: 'failed', final: true });
    expect(outcomes.find((o) => o.job.id === 'later')).toMatchObject({ outcome: 'completed' });
    expect(await q.get('later')).toMatchObject({ state: 'completed', attemptsMade: 0 });
    expect(await q.get('now')).toMatchObject({ state: 'failed', attemptsMade: 1, attempts: 5, failedReason: 'the document cannot be read' });
  });

  it('runs a delayed job no earlier than its delay, and keeps to the concurrency', async () => {
    const q = jobs.queue<Work>(name);
    let running = 0;
    let peak = 0;
    const started = new Map<string, number>();
    jobs.worker<Work, void>(
      name,
      async (job) => {
        started.set(job.id, Date.now());
        running++;
        peak = Math.max(peak, running);
        await sleep(40); // the job's work
        running--;
      },
      { concurrency: 2 },
    );
    const addedAt = Date.now();
    await q.add('work', { tenantId: 't1', n: 0 }, { jobId: 'due-later', delayMs: 400 });
    for (let n = 1; n <= 6; n++) await q.add('work', { tenantId: 't1', n }, { jobId: `now-${n}` });
    await waitFor('all seven jobs started', async () => started.size === 7, 10_000);
    expect(started.get('due-later')! - addedAt).toBeGreaterThanOrEqual(400);
    expect(peak).toBe(2);
  });

  it('removes one tenant’s jobs, queued and finished, and leaves the other tenant’s', async () => {
    const q = jobs.queue<Work>(name);
    jobs.worker<Work, void>(name, async () => undefined);
    await q.add('work', { tenantId: 'a', n: 1 }, { jobId: 'a-done' });
    await q.add('work', { tenantId: 'b', n: 1 }, { jobId: 'b-done' });
    await waitFor('two completed jobs', async () => (await q.counts()).completed === 2, 10_000);
    await q.add('work', { tenantId: 'a', n: 2 }, { jobId: 'a-later', delayMs: 60_000 });
    await q.add('work', { tenantId: 'b', n: 2 }, { jobId: 'b-later', delayMs: 60_000 });
    expect(await q.removeWhere((d) => d.tenantId === 'a')).toEqual({ pending: 1, finished: 1 });
    expect(await q.get('a-done')).toBeUndefined();
    expect(await q.get('a-later')).toBeUndefined();
    expect((await q.get('b-done'))?.state).toBe('completed');
    expect((await q.get('b-later'))?.state).toBe('delayed');
  });

  it('keeps only the most recent finished jobs it was told to keep', async () => {
    const q = jobs.queue<Work>(name);
    jobs.worker<Work, void>(name, async () => undefined);
    for (let n = 1; n <= 5; n++) await q.add('work', { tenantId: 't1', n }, { jobId: `k-${n}`, keepCompleted: 2 });
    await waitFor('the last kept job completed', async () => (await q.get('k-5'))?.state === 'completed', 10_000);
    await waitFor('two completed jobs', async () => (await q.counts()).completed === 2, 10_000);
    expect((await q.counts()).completed).toBe(2);
  });

  it('caps a tenant’s running jobs and lets another tenant through its backlog', async () => {
    const q = jobs.queue<Work>(name);
    const slots = adapter === 'bullmq' ? new TenantConcurrencyLimiter(redis, name, { cap: 2, retryDelayMs: 20 }) : new InProcessTenantSlots(2, 20);
    const running = new Map<string, number>();
    const peak = new Map<string, number>();
    const done: string[] = [];
    const work = async (job: RunningJob<Work>) => {
      const t = job.data.tenantId;
      running.set(t, (running.get(t) ?? 0) + 1);
      peak.set(t, Math.max(peak.get(t) ?? 0, running.get(t)!));
      await sleep(30); // the job's work
      running.set(t, running.get(t)! - 1);
      done.push(`${t}${job.data.n}`);
    };
    jobs.worker<Work, void>(name, slots.wrapJob(work), { concurrency: 6 });
    for (let n = 1; n <= 10; n++) await q.add('work', { tenantId: 'a', n }, { jobId: `a-${n}` });
    for (let n = 1; n <= 2; n++) await q.add('work', { tenantId: 'b', n }, { jobId: `b-${n}` });
    await waitFor('every job done', async () => done.length === 12, 20_000);
    expect(peak.get('a')).toBe(2);
    // b's jobs, queued behind a's ten, did not wait for a's backlog.
    expect(Math.max(done.indexOf('b1'), done.indexOf('b2'))).toBeLessThan(done.indexOf('a10'));
  });

  it('runs again a job whose worker died while running it, telling it so', async () => {
    const q = jobs.queue<Work>(name);
    let began!: () => void;
    const running = new Promise<void>((resolve) => (began = resolve));
    const dying = jobs.worker<Work, void>(
      name,
      async () => {
        began();
        await new Promise(() => undefined); // never finishes: the process dies first
      },
      { lockDurationMs: 1_000, stalledIntervalMs: 500 },
    );
    await q.add('work', { tenantId: 't1', n: 1 }, { jobId: 'orphan' });
    await running;
    await dying.close(true); // as a process that died: its job is abandoned, not finished
    const next = open(adapter, adapter === 'embedded' ? (jobs as EmbeddedJobs).options.file : undefined);
    try {
      const reruns: RunningJob<Work>[] = [];
      next.worker<Work, void>(name, async (job) => void reruns.push(job), { lockDurationMs: 1_000, stalledIntervalMs: 500 });
      await waitFor('the abandoned job run again', async () => reruns.length === 1, 20_000);
      expect(reruns[0]).toMatchObject({ id: 'orphan', ranBefore: true });
      await waitFor('the abandoned job completed', async () => (await q.get('orphan'))?.state === 'completed', 10_000);
    } finally {
      await next.close();
    }
  });
});

describe('embedded runner across a restart', () => {
  it('keeps queued and delayed jobs on disk and runs them after the process starts again', async () => {
    const file = join(dir, `${newId()}.sqlite`);
    const before = new EmbeddedJobs({ file });
    await before.queue<Work>('restart').add('work', { tenantId: 't1', n: 1 }, { jobId: 'queued' });
    await before.queue<Work>('restart').add('work', { tenantId: 't1', n: 2 }, { jobId: 'due-later', delayMs: 200 });
    await before.close();
    const after = new EmbeddedJobs({ file, pollMs: 100 });
    try {
      const ran: number[] = [];
      after.worker<Work, void>('restart', async (job) => void ran.push(job.data.n));
      await waitFor('both jobs run after the restart', async () => ran.length === 2, 10_000);
      expect(ran.sort()).toEqual([1, 2]);
      expect(await after.queue('restart').counts()).toMatchObject({ completed: 2, waiting: 0, delayed: 0 });
    } finally {
      await after.close();
    }
  });
});
