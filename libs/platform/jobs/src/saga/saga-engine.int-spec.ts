// The saga engine against the real control database and Redis (BullMQ): steps in order,
// retries with backoff, permanent failures compensated last first exactly once, idempotent start,
// a step that waits for another saga letting go of its worker slot meanwhile, and a worker
// SIGKILLed again and again while sagas run and compensate — each kill inside a step or a
// compensation, at a moment drawn from a seed (CRASH_SEED replays a run), and checked to have landed
// there; the input fields a saga forgets at its end (sealed secrets) cleared however it ends.
import { Queue } from 'bullmq';
import Redis from 'ioredis';
import { newId } from '@hotdash/platform-db';
import { crashSeed, seededRandom, sleep, startProcess, TestWorld, toySaga, ToySagaInput, TOY_STEPS, waitFor } from '@hotdash/testing';
import { SagaEngine } from './saga-engine';
import { StepPendingError, type SagaDefinition } from './saga.types';

jest.setTimeout(60_000);

const world = new TestWorld();
const redis = new Redis({ host: world.config.redis.host, port: world.config.redis.port });
const events: string[] = [];
const queueName = `saga-spec-${newId()}`;
const engine = new SagaEngine(world.dbs, world.config, { queueName, backoffMs: 20, maxAttempts: 3 });
engine.register(toySaga(redis, events));

const list = async (sagaId: string, what: 'effects' | 'undone' | 'runs'): Promise<number[]> => (await redis.lrange(`toy:${sagaId}:${what}`, 0, -1)).map(Number);
const input = (over: Partial<ToySagaInput> = {}): ToySagaInput => ({ failAt: -1, failTimes: 0, sleepMs: 0, ...over });
const finished = (sagaId: string) =>
  waitFor(`saga ${sagaId} to finish`, async () => {
    const s = await engine.status(sagaId);
    return s && ['completed', 'compensated', 'failed'].includes(s.status) ? s : undefined;
  }, 30_000, 50);

beforeAll(() => engine.startWorker());
afterAll(async () => {
  await engine.close();
  redis.disconnect();
  await world.close();
});

it('runs every step once, in order, and completes', async () => {
  const { sagaId, created } = await engine.start('toy', input());
  expect(created).toBe(true);
  const s = await finished(sagaId);
  expect(s.status).toBe('completed');
  expect(await list(sagaId, 'effects')).toEqual([0, 1, 2, 3]);
  expect(s.steps.map((x) => [x.id, x.status, x.attempts, x.compensationRegistered])).toEqual([0, 1, 2, 3].map((i) => [`step-${i}`, 'completed', 1, true]));
  expect(s.state).toEqual({ 'step-0': { step: 0 }, 'step-1': { step: 1 }, 'step-2': { step: 2 }, 'step-3': { step: 3 } });
  expect(events.filter((e) => e.startsWith(sagaId))).toEqual([`${sagaId} started`, ...[0, 1, 2, 3].map((i) => `${sagaId} step-${i} completed`), `${sagaId} completed`]);
});

it('retries a failing step with backoff and applies it once', async () => {
  const { sagaId } = await engine.start('toy', input({ failAt: 2, failTimes: 2 }));
  const s = await finished(sagaId);
  expect(s.status).toBe('completed');
  expect(s.steps[2]).toMatchObject({ attempts: 3, status: 'completed', lastError: null });
  expect(await list(sagaId, 'runs')).toEqual([0, 1, 2, 2, 2, 3]);
  expect(await list(sagaId, 'effects')).toEqual([0, 1, 2, 3]);
});

describe.each(Array.from({ length: TOY_STEPS }, (_, k) => k))('when step %i fails for good', (k) => {
  it('runs the compensations of the steps before it exactly once, last first, and ends compensated', async () => {
    const { sagaId } = await engine.start('toy', input({ failAt: k, failTimes: -1 }));
    const s = await finished(sagaId);
    expect(s.status).toBe('compensated');
    expect(s.failedStep).toBe(`step-${k}`);
    expect(await list(sagaId, 'effects')).toEqual(Array.from({ length: k }, (_, i) => i));
    expect(await list(sagaId, 'undone')).toEqual(Array.from({ length: k }, (_, i) => k - 1 - i));
    expect(s.steps[k]).toMatchObject({ status: 'failed', nonRetryable: true, attempts: 1, compensationRegistered: false });
    expect(s.steps.slice(0, k).every((x) => x.status === 'compensated' && x.compensationAttempts === 1)).toBe(true);
    expect(s.steps.slice(k + 1).every((x) => x.status === 'pending')).toBe(true);
    const mine = events.filter((e) => e.startsWith(sagaId));
    expect(mine).toContain(`${sagaId} failed at step-${k}: step ${k} fails for good`);
    expect(mine[mine.length - 1]).toBe(`${sagaId} compensated`);
  });
});

it('compensates after the last try of a retryable failure', async () => {
  const { sagaId } = await engine.start('toy', input({ failAt: 1, failTimes: 99 }));
  const s = await finished(sagaId);
  expect(s.status).toBe('compensated');
  expect(s.steps[1]).toMatchObject({ status: 'failed', attempts: 3, nonRetryable: false, lastError: 'step 1 fails on try 3' });
  expect(await list(sagaId, 'undone')).toEqual([0]);
});

it('starts one saga per idempotency key, however often and concurrently it is asked', async () => {
  const key = newId();
  const results = await Promise.all(Array.from({ length: 10 }, () => engine.start('toy', input(), { idempotencyKey: key })));
  expect(new Set(results.map((r) => r.sagaId)).size).toBe(1);
  expect(results.filter((r) => r.created)).toHaveLength(1);
  await finished(results[0]!.sagaId);
  expect(await list(results[0]!.sagaId, 'effects')).toEqual([0, 1, 2, 3]);
});

it('finishes every saga exactly once across repeated SIGKILLs of the worker', async () => {
  const crashQueue = `saga-crash-${newId()}`;
  const starter = new SagaEngine(world.dbs, world.config, { queueName: crashQueue });
  starter.register(toySaga(redis));
  const sagas: { id: string; failAt: number }[] = [];
  for (let i = 0; i < 12; i++) {
    const failAt = i % 3 === 0 ? 2 + (i % 2) : -1; // a third of them fail at step 2 or 3 and compensate
    sagas.push({ id: (await starter.start('toy', input({ failAt, failTimes: -1, sleepMs: 250 }))).sagaId, failAt });
  }
  const env = { HOTDASH_SAGA_QUEUE: crashQueue };
  const seed = crashSeed();
  const random = seededRandom(seed);
  console.log(`saga crash spec: seed ${seed} (CRASH_SEED=${seed} replays it)`);
  /** The steps or compensations a worker process is inside of right now (what the toy saga says it runs). */
  const insideOf = async (pid: number | undefined) =>
    (await redis.mget(sagas.map((s) => `toy:${s.id}:inside`))).filter((v): v is string => v !== null && v.startsWith(`${pid} `));
  // Kill a worker inside a step or compensation, 8 times: let it work for a while drawn from the
  // seed, wait until it is inside a step or compensation of its own, then kill it at a moment drawn
  // from the seed within the step's 250 ms. A kill that came after the step ended (a loaded
  // machine) is not counted, and the round is played again.
  const KILLS = 8;
  const landed: string[] = [];
  for (let round = 0; landed.length < KILLS; round++) {
    if (round >= KILLS * 3) throw new Error(`only ${landed.length} of ${KILLS} kills landed inside a step or compensation in ${round} rounds`);
    const worker = startProcess('libs/testing/src/children/saga-worker.child.ts', env);
    await waitFor('the worker to start', async () => worker.output().includes('saga worker started'), 60_000, 20);
    await sleep(Math.floor(random() * 400));
    await waitFor('the worker inside a step or compensation', async () => (await insideOf(worker.child.pid)).length > 0, 60_000, 10);
    await sleep(Math.floor(random() * 150));
    await worker.kill();
    // Dead now: what it was inside of stays written.
    const within = await insideOf(worker.child.pid);
    if (within.length > 0) landed.push(within[0]!.replace(/^\d+ /, ''));
  }
  // Each kill the spec claims landed inside a step (`run i`) or a compensation (`undo i`).
  expect(landed).toHaveLength(KILLS);
  expect(landed.every((w) => /^(run|undo) \d$/.test(w))).toBe(true);
  const last = startProcess('libs/testing/src/children/saga-worker.child.ts', env);
  try {
    for (const s of sagas) {
      const st = await waitFor(`saga ${s.id}`, async () => {
        const x = await starter.status(s.id);
        return x && ['completed', 'compensated', 'failed'].includes(x.status) ? x : undefined;
      }, 120_000, 200).catch((e) => {
        throw new Error(`${e.message}\n${last.output().slice(-2000)}`);
      });
      if (s.failAt < 0) {
        expect({ id: s.id, status: st.status, effects: await list(s.id, 'effects'), undone: await list(s.id, 'undone') }).toEqual({ id: s.id, status: 'completed', effects: [0, 1, 2, 3], undone: [] });
      } else {
        const applied = Array.from({ length: s.failAt }, (_, i) => i);
        expect({ id: s.id, status: st.status, effects: await list(s.id, 'effects'), undone: await list(s.id, 'undone') }).toEqual({
          id: s.id,
          status: 'compensated',
          effects: applied,
          undone: [...applied].reverse(),
        });
      }
    }
    const runs = (await Promise.all(sagas.map((s) => list(s.id, 'runs')))).reduce((n, r) => n + r.length, 0);
    const effects = (await Promise.all(sagas.map((s) => list(s.id, 'effects')))).reduce((n, r) => n + r.length, 0);
    console.log(`saga crash: ${KILLS} kills (inside ${landed.join(', ')}), ${sagas.length} sagas, ${runs} step runs for ${effects} effects (runs beyond effects were interrupted by a kill or failed)`);
  } finally {
    await last.stop();
    await starter.close();
  }
}, 300_000);

it("writes a moving-on saga's events without waking the relay, and leaves the rest of the transaction as it was", async () => {
  // Notifications carry the sending backend's pid, so other specs' outbox writes are told apart;
  // one backend's notifications arrive in commit order, so a final one on another channel marks
  // the moment every earlier one has arrived.
  const listener = await world.connect(world.dbs.controlLocation, 'app');
  const writer = await world.connect(world.dbs.controlLocation, 'owner');
  try {
    const pid: number = (await writer.query('select pg_backend_pid() as pid')).rows[0].pid;
    const heard: string[] = [];
    listener.on('notification', (n) => n.processId === pid && heard.push(n.channel));
    await listener.query('listen hotdash_outbox');
    await listener.query('listen hotdash_spec_barrier');
    const row = () => ({ id: newId(), tenantId: newId(), topic: 'hotdash.spec', key: 'k', type: 'spec.event', version: 1, envelope: {} });
    // Each write in its own transaction, its rows marked published before it commits: no relay sends them anywhere.
    const written: string[] = [];
    const tx = async (...statements: [string, unknown[]][]) => {
      await writer.query('begin');
      for (const [sql, values] of statements) await writer.query(sql, values);
      await writer.query(`update outbox set published_at = now() where type = 'spec.event' and published_at is null`);
      await writer.query('commit');
    };
    const sagaOutbox = (quiet: boolean): [string, unknown[]] => {
      const r = row();
      written.push(r.id);
      return ['select saga_outbox($1::jsonb, $2)', [JSON.stringify([r]), quiet]];
    };
    const plain = (): [string, unknown[]] => {
      const r = row();
      written.push(r.id);
      return [`insert into outbox (id, tenant_id, topic, key, type, version, envelope) values ($1::uuid, $2::uuid, 'hotdash.spec', 'k', 'spec.event', 1, '{}')`, [r.id, r.tenantId]];
    };
    await tx(sagaOutbox(true)); // quiet: no notification
    await tx(sagaOutbox(false)); // the saga's last events: one
    await tx(sagaOutbox(true), plain()); // a quiet write, then the caller's own event: one
    expect((await writer.query(`select current_setting('hotdash.outbox_quiet', true) as s`)).rows[0].s ?? '').toBe('');
    await writer.query(`select pg_notify('hotdash_spec_barrier', '')`);
    await waitFor('the barrier notification', async () => heard.includes('hotdash_spec_barrier'), 10_000, 20);
    expect(heard).toEqual(['hotdash_outbox', 'hotdash_outbox', 'hotdash_spec_barrier']);
    expect((await writer.query('select count(*)::int as n from outbox where id = any($1::uuid[])', [written])).rows[0].n).toBe(4);
  } finally {
    await writer.query(`delete from outbox where type = 'spec.event'`).catch(() => undefined);
    await listener.end();
    await writer.end();
  }
});

it("starts a saga inside the caller's control transaction: nothing if it rolls back, runs once kicked after it commits", async () => {
  const rolledBack = newId();
  await expect(
    world.dbs.withControl(async (tx) => {
      await engine.start('toy', input(), { sagaId: rolledBack, tx });
      throw new Error('the caller gives up');
    }),
  ).rejects.toThrow('the caller gives up');
  expect(await engine.status(rolledBack)).toBeUndefined();

  const key = newId();
  const { sagaId, created } = await world.dbs.withControl((tx) => engine.start('toy', input(), { tx, idempotencyKey: key }));
  expect(created).toBe(true);
  // Recorded but not queued: the caller kicks it after its commit.
  expect((await engine.status(sagaId))?.steps.map((s) => s.status)).toEqual(['pending', 'pending', 'pending', 'pending']);
  await engine.kick(sagaId);
  expect((await finished(sagaId)).status).toBe('completed');
  expect(await list(sagaId, 'effects')).toEqual([0, 1, 2, 3]);
  // The same key in another transaction finds it.
  const again = await world.dbs.withControl((tx) => engine.start('toy', input(), { tx, idempotencyKey: key }));
  expect(again).toEqual({ sagaId, created: false });
});

it('frees the worker slot while a step waits (StepPendingError): with one slot, a saga waiting for another still completes, its waits no tries', async () => {
  // One slot: a waiting step that held it (polling inside the step) would leave the saga it waits for no slot to run in.
  const waitQueue = `saga-wait-${newId()}`;
  const one = new SagaEngine(world.dbs, world.config, { queueName: waitQueue, concurrency: 1, maxAttempts: 2, backoffMs: 20 });
  const flag = `toy:wait:${newId()}`;
  const seen: { attempt: number; waits: number }[] = [];
  const waiter: SagaDefinition<{ flag: string }> = {
    type: 'toy-waiter',
    steps: [
      {
        id: 'wait-for-flag',
        description: 'waits until the setter saga has set the flag',
        async run(ctx) {
          seen.push({ attempt: ctx.attempt, waits: ctx.waits ?? -1 });
          if (!(await redis.get(ctx.input.flag))) throw new StepPendingError(`flag ${ctx.input.flag} not set yet`, 20);
          return { waited: ctx.waits ?? -1 };
        },
      },
      { id: 'after', description: 'runs once the flag is set', run: async () => ({ after: true }) },
    ],
  };
  const setter: SagaDefinition<{ flag: string }> = {
    type: 'toy-setter',
    steps: [{ id: 'set-flag', description: 'sets the flag', run: async (ctx) => void (await redis.set(ctx.input.flag, '1', 'EX', 300)) }],
  };
  one.register(waiter).register(setter);
  one.startWorker();
  const ids: string[] = [];
  try {
    const w = (await one.start('toy-waiter', { flag })).sagaId;
    ids.push(w);
    // More waits than the step has tries (2): a wait is not a try.
    await waitFor('the waiter to have waited 5 times', async () => seen.length >= 5, 20_000, 10);
    expect((await one.status(w))!.steps[0]).toMatchObject({ status: 'running', attempts: 1 });
    const s = (await one.start('toy-setter', { flag })).sagaId;
    ids.push(s);
    const done = await waitFor(`saga ${w} to finish`, async () => {
      const x = await one.status(w);
      return x && ['completed', 'compensated', 'failed'].includes(x.status) ? x : undefined;
    }, 20_000, 20);
    expect(done.status).toBe('completed');
    expect((await one.status(s))!.status).toBe('completed');
    expect(done.steps.map((x) => [x.id, x.status, x.attempts])).toEqual([['wait-for-flag', 'completed', 1], ['after', 'completed', 1]]);
    expect(seen.every((x) => x.attempt === 1)).toBe(true);
    expect(seen.map((x) => x.waits)).toEqual(seen.map((_, i) => i));
    expect(done.state['wait-for-flag']).toEqual({ waited: seen.length - 1 });
  } finally {
    await one.close();
    await redis.del(flag);
    const owner = await world.connect(world.dbs.controlLocation, 'owner');
    await owner.query('delete from sagas where id = any($1::uuid[])', [ids]).finally(() => owner.end());
    const queue = new Queue(waitQueue, { connection: { host: world.config.redis.host, port: world.config.redis.port } });
    await queue.obliterate({ force: true }).catch(() => undefined);
    await queue.close();
  }
});

it('clears the forgetOnEnd input fields however the saga ends: completed, compensated, or failed because a compensation gave up', async () => {
  const forgetQueue = `saga-forget-${newId()}`;
  const own = new SagaEngine(world.dbs, world.config, { queueName: forgetQueue, maxAttempts: 1, maxCompensationAttempts: 2, backoffMs: 20 });
  type In = { secret: string | null; outcome: 'complete' | 'compensate' | 'fail' };
  const forgetful: SagaDefinition<In> = {
    type: 'toy-forgetful',
    forgetOnEnd: ['secret'],
    steps: [
      {
        id: 'first',
        description: 'done; its undo gives up when the outcome is fail',
        run: async () => null,
        compensate: async (ctx) => {
          if (ctx.input.outcome === 'fail') throw new Error('the undo cannot be done');
        },
      },
      {
        id: 'second',
        description: 'fails for good unless the outcome is complete',
        run: async (ctx) => {
          if (ctx.input.outcome !== 'complete') throw new Error('the second step fails');
          return null;
        },
      },
    ],
  };
  own.register(forgetful);
  own.startWorker();
  const ids: string[] = [];
  try {
    for (const outcome of ['complete', 'compensate', 'fail'] as const) {
      const { sagaId } = await own.start('toy-forgetful', { secret: 'sealed-bytes', outcome });
      ids.push(sagaId);
      expect((await own.status(sagaId))!.input).toEqual({ secret: 'sealed-bytes', outcome });
      const done = await waitFor(`saga ${sagaId} to end`, async () => {
        const x = await own.status(sagaId);
        return x && ['completed', 'compensated', 'failed'].includes(x.status) ? x : undefined;
      }, 20_000, 20);
      expect([done.status, done.input]).toEqual([{ complete: 'completed', compensate: 'compensated', fail: 'failed' }[outcome], { secret: null, outcome }]);
    }
  } finally {
    await own.close();
    const owner = await world.connect(world.dbs.controlLocation, 'owner');
    await owner.query('delete from sagas where id = any($1::uuid[])', [ids]).finally(() => owner.end());
    const queue = new Queue(forgetQueue, { connection: { host: world.config.redis.host, port: world.config.redis.port } });
    await queue.obliterate({ force: true }).catch(() => undefined);
    await queue.close();
  }
});

it('a step that meets a store outage waits for the store with the same try instead of failing the saga', async () => {
  const outageQueue = `saga-outage-${newId()}`;
  // One try per step: a store outage that counted as a failure would compensate the saga at once.
  const own = new SagaEngine(world.dbs, world.config, { queueName: outageQueue, maxAttempts: 1, backoffMs: 20 });
  // The error PostgreSQL's driver gives for a server that is down (a refused connection).
  const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:54329'), { code: 'ECONNREFUSED', errno: -111, syscall: 'connect' });
  let runs = 0;
  own.register({
    type: 'toy-outage',
    steps: [
      {
        id: 'needs-a-store',
        description: 'meets a store that is down three times, then works',
        async run() {
          runs++;
          if (runs <= 3) throw refused;
          return { runs };
        },
      },
    ],
  } satisfies SagaDefinition<Record<string, never>>);
  own.startWorker();
  let sagaId: string | undefined;
  try {
    sagaId = (await own.start('toy-outage', {})).sagaId;
    const done = await waitFor(`saga ${sagaId} to finish`, async () => {
      const x = await own.status(sagaId!);
      return x && ['completed', 'compensated', 'failed'].includes(x.status) ? x : undefined;
    }, 20_000, 20);
    expect({ status: done.status, steps: done.steps.map((x) => [x.id, x.status, x.attempts]), runs }).toEqual({ status: 'completed', steps: [['needs-a-store', 'completed', 1]], runs: 4 });
  } finally {
    await own.close();
    const owner = await world.connect(world.dbs.controlLocation, 'owner');
    if (sagaId) await owner.query('delete from sagas where id = $1::uuid', [sagaId]).finally(() => owner.end());
    else await owner.end();
    const queue = new Queue(outageQueue, { connection: { host: world.config.redis.host, port: world.config.redis.port } });
    await queue.obliterate({ force: true }).catch(() => undefined);
    await queue.close();
  }
});
