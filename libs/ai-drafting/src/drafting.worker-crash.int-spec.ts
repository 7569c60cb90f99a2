// Drafting jobs whose worker dies mid-job, on the real stores (PostgreSQL, Redis/BullMQ, Weaviate):
// a worker stops dead at a checkpoint of the job — after the model answered and before the
// outcome committed, or after the outcome committed and before BullMQ heard the job was done — and
// is force-closed (its locks lapse, as a killed process's do); a second worker takes the stalled
// jobs over. Which ticket dies where is drawn from a seed (CRASH_SEED replays a run; the
// seed is printed), every crash point is drawn at least once, and the spec asserts that each crash
// it claims was hit. Every draft ends with exactly one outcome event in the outbox, under the id
// derived from its draft id; a job that died after its commit calls no model again; and when the
// first worker turns out to have been stuck rather than dead, its runs going on write nothing more.
import { sql } from 'kysely';
import { randomUUID } from 'node:crypto';
import { Queue, QueueEvents } from 'bullmq';
import Redis from 'ioredis';
import { SupportFields, TenantId } from '@hotdash/contracts';
import { FieldCipher, LocalKms, TenantKeyring } from '@hotdash/platform-crypto';
import { newId } from '@hotdash/platform-db';
import { BullmqJobs, QueueName, redisConnection, type RunningJob, TenantConcurrencyLimiter } from '@hotdash/platform-jobs';
import { DraftingModel, DraftPrompt, DraftResult, LocalEmbedder, OfflineDrafter } from '@hotdash/platform-models';
import { WeaviateVectorStore } from '@hotdash/platform-vector';
import { crashSeed, seededRandom, settingsChanged, shuffled, TestWorld, waitFor } from '@hotdash/testing';
import { DraftingProfiles } from './drafting-profiles.repository';
import { DraftingJob, DraftingQueue, draftOutcomeEventId } from './drafting.job';
import { DraftingCheckpoint, DraftingWorker } from './drafting.worker';

jest.setTimeout(60_000);

type Plan = DraftingCheckpoint | 'none';
const TICKETS = 6;
const SEED = crashSeed();

/** The offline drafter, counting its calls per ticket (the ticket's body names it). */
class CountingDrafter extends DraftingModel {
  readonly model = 'offline-extractive-1';
  readonly calls = new Map<string, number>();
  private readonly inner = new OfflineDrafter();
  draft(p: DraftPrompt): Promise<DraftResult> {
    this.calls.set(p.ticket.body, (this.calls.get(p.ticket.body) ?? 0) + 1);
    return this.inner.draft(p);
  }
}

const world = new TestWorld();
const keyring = new TenantKeyring(world.dbs, LocalKms.fromEnv());
const cipher = new FieldCipher(keyring);
const embedder = new LocalEmbedder(256);
const suffix = randomUUID().replace(/-/g, '').slice(0, 10);
const collection = `DraftingCrash${suffix}`;
const vectors = WeaviateVectorStore.fromConfig(world.config, { collection });
const prefix = `hotdash-spec-${suffix}`;
const redis = new Redis({ host: world.config.redis.host, port: world.config.redis.port, maxRetriesPerRequest: 2 });
const jobs = new BullmqJobs(world.config, { prefix });
const queue = new DraftingQueue(jobs.queue<DraftingJob>(QueueName.AI_DRAFTING), { backoffMs: 50 });
/** The queue as BullMQ keeps it, to look at what the stack's adapter did (return values, stalled runs). */
const inspect = new Queue<DraftingJob>(QueueName.AI_DRAFTING, { connection: redisConnection(world.config), prefix });
const events = new QueueEvents(QueueName.AI_DRAFTING, { connection: redisConnection(world.config), prefix });
const model = new CountingDrafter();
const workers: DraftingWorker[] = [];
let tenant: TenantId;

/** A worker as the service runs one, with short locks so that a dead worker's jobs are taken over in about a second. */
function startWorker(checkpoint?: (point: DraftingCheckpoint, job: RunningJob<DraftingJob>) => Promise<void> | void): DraftingWorker {
  const w = new DraftingWorker({ config: world.config, db: world.tenantDb, cipher, embedder, vectors, jobs }, { perTenant: 16, concurrency: 16, platformModel: model, lockDurationMs: 1_000, stalledIntervalMs: 300, checkpoint });
  w.start();
  workers.push(w);
  return w;
}

beforeAll(async () => {
  tenant = (await world.createTenant('Crashcorp')).id;
  await world.dbs.withControl((tx) => keyring.createKey(tx, tenant));
  await world.tenantDb.withTenant(tenant, (tx) => DraftingProfiles.apply(tx, tenant, settingsChanged(tenant, { companyName: 'Crashcorp' }), newId()));
  await vectors.ensureCollection();
  await vectors.createTenant(tenant);
  const text = 'Refunds reach your card within 5 days of the return.';
  await vectors.upsertChunks(tenant, [{ id: randomUUID(), vector: embedder.vector(text), documentId: 'refunds', chunkIndex: 0, text, title: 'Refunds', sourceVersion: 1 }]);
  await events.waitUntilReady();
});

afterAll(async () => {
  for (const w of workers) await w.close(true);
  await events.close();
  await inspect.obliterate({ force: true });
  await inspect.close();
  await queue.close();
  await jobs.close();
  // The slots the dead worker's jobs held (their leases would end on their own).
  await redis.del(new TenantConcurrencyLimiter(redis, QueueName.AI_DRAFTING, { cap: 1 }).key(tenant));
  redis.disconnect();
  await fetch(`${world.config.weaviate.url}/v1/schema/${collection}`, { method: 'DELETE' });
  await vectors.close();
  await world.close();
});

it(`publishes exactly one outcome per draft when workers die before and after the commit`, async () => {
  console.log(`drafting crash spec: seed ${SEED} (CRASH_SEED=${SEED} replays it)`);
  const random = seededRandom(SEED);
  // Each crash point at least once, the rest drawn; then shuffled over the tickets.
  const drawn: Plan[] = ['before-commit', 'after-commit'];
  while (drawn.length < TICKETS) drawn.push((['before-commit', 'after-commit', 'none'] as const)[Math.floor(random() * 3)]!);
  const plans = shuffled(drawn, random);

  const jobs: (DraftingJob & { plan: Plan; body: string })[] = [];
  for (let i = 0; i < TICKETS; i++) {
    const body = `Ticket ${i} of run ${suffix}: when does my refund reach my card?`;
    jobs.push({
      plan: plans[i]!,
      body,
      tenantId: tenant,
      ticketId: newId(),
      draftId: newId(),
      attempt: 1,
      correlationId: newId(),
      causationId: newId(),
      customerNameEnc: await cipher.encrypt(tenant, SupportFields.CUSTOMER_NAME, 'Dana'),
      subjectEnc: null,
      bodyEnc: await cipher.encrypt(tenant, SupportFields.BODY, body),
    });
  }
  const planOf = new Map(jobs.map((j) => [j.ticketId, j.plan]));

  // The first worker stops dead where the plan says: the job's promise never settles, as in a process that was killed there.
  const claimed = new Set(jobs.filter((j) => j.plan !== 'none').map((j) => `${j.ticketId}@${j.plan}`));
  const hit = new Set<string>();
  const hits: Record<DraftingCheckpoint, number> = { 'before-commit': 0, 'after-commit': 0 };
  /** The stopped runs, to be let go once the second worker is done (a worker thought dead that was only stuck). */
  const stuck: (() => void)[] = [];
  const first = startWorker((point, job) => {
    hits[point]++;
    if (planOf.get(job.data.ticketId) !== point) return;
    hit.add(`${job.data.ticketId}@${point}`);
    return new Promise<void>((resolve) => void stuck.push(resolve));
  });
  const zombie: { ticketId: string; result: string }[] = [];
  const process = first.process.bind(first);
  first.process = (job) => process(job).then((result) => (zombie.push({ ticketId: job.data.ticketId, result }), result));
  for (const { plan: _plan, body: _body, ...data } of jobs) await queue.enqueue(data);

  const done = (ids: string[]) => Promise.all(ids.map(async (id) => (await inspect.getJob(DraftingQueue.jobId(id, 1)))?.isCompleted()));
  await waitFor('every planned crash point reached, and the other jobs done', async () => hit.size === claimed.size && (await done(jobs.filter((j) => j.plan === 'none').map((j) => j.ticketId))).every(Boolean), 30_000);
  // Each crash the spec claims happened, where it claims: nothing more, nothing less.
  expect([...hit].sort()).toEqual([...claimed].sort());
  // Every job reached the first point once (and died there or went on); all but those reached the second.
  expect(hits).toEqual({ 'before-commit': TICKETS, 'after-commit': plans.filter((p) => p !== 'before-commit').length });

  // The first worker dies: its locks lapse and the second worker takes the stalled jobs over.
  await first.close(true);
  startWorker();
  await waitFor('every job completed', async () => (await done(jobs.map((j) => j.ticketId))).every(Boolean), 30_000);

  // The first worker was only stuck, not dead: let its runs go on now that the jobs are done. Those
  // stopped before their commit find the outcome written by the run that took over and write
  // nothing; those stopped after it had written theirs just end.
  zombie.length = 0;
  stuck.forEach((go) => go());
  await waitFor('the stuck runs to end', async () => zombie.length === claimed.size, 10_000, 20);
  expect(zombie.map((z) => [planOf.get(z.ticketId), z.result]).sort()).toEqual(
    jobs.filter((j) => j.plan !== 'none').map((j) => [j.plan, j.plan === 'before-commit' ? 'already-drafted' : 'generated']).sort(),
  );

  const outcomes = await world.tenantDb.withTenant(tenant, (tx) =>
    tx.db
      .selectFrom('outbox')
      .select(['id', 'type', sql<string>`envelope->'payload'->>'draftId'`.as('draftId')])
      .where('type', 'in', ['draft.generated', 'draft.failed'])
      .execute(),
  );
  for (const j of jobs) {
    const job = (await inspect.getJob(DraftingQueue.jobId(j.ticketId, 1)))!;
    const mine = outcomes.filter((o) => o.draftId === j.draftId);
    expect({ plan: j.plan, outcomes: mine.map((o) => [o.type, o.id]) }).toEqual({ plan: j.plan, outcomes: [['draft.generated', draftOutcomeEventId(j.draftId)]] });
    // Died after its commit: the run that took it over found the outcome and called no model.
    expect({ plan: j.plan, result: job.returnvalue, modelCalls: model.calls.get(j.body) }).toEqual({
      plan: j.plan,
      result: j.plan === 'after-commit' ? 'already-drafted' : 'generated',
      modelCalls: j.plan === 'before-commit' ? 2 : 1,
    });
    // The crashed ones went through BullMQ's stalled-job path (the dead worker's lock lapsed), not a retry.
    expect({ plan: j.plan, stalled: job.stalledCounter > 0, attemptsMade: job.attemptsMade }).toEqual({ plan: j.plan, stalled: j.plan !== 'none', attemptsMade: 1 });
  }
});
