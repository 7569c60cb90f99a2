// The platform's Redis work on both shapes of Redis it runs on: the single node and deploy/local's
// 3-master Redis Cluster (HOTDASH_REDIS_CLUSTER_NODES, else 127.0.0.1 on HOTDASH_REDIS_CLUSTER_PORT
// and the next two), through the one factory (createRedis) and the same code: the gateway's limits
// script (windows, in-flight slots, revocation markers read in the same call), slots given back for
// several tenants at once, per-address limits, revocation markers, Idempotency-Key entries, a BullMQ
// queue and worker under a per-tenant cap, a saga run, and finding a tenant's keys on every master
// (offboarding's erase). On the cluster, every key of a tenant (and every key of a queue) is in one
// slot; on the single node, markers and idempotency entries named before issue 15 still count.
import { Queue } from 'bullmq';
import type { Cluster } from 'ioredis';
import type { TenantId } from '@hotdash/contracts';
import { publishTenantLimits, RedisIdempotencyStore, RevocationList, tenantLimitsKey, type Principal } from '@hotdash/platform-auth';
import { loadConfig, readSetting, type PlatformConfig } from '@hotdash/platform-config';
import { newId } from '@hotdash/platform-db';
import {
  BullmqJobs,
  closeSharedRedisConnections,
  createRedis,
  legacyTenantKeyPrefix,
  queueOptions,
  SagaEngine,
  scanKeys,
  TenantConcurrencyLimiter,
  tenantKeyPrefix,
  type RedisClient,
} from '@hotdash/platform-jobs';
import { TestWorld, waitFor } from '@hotdash/testing';
import { IdempotentReplies } from './idempotency';
import { TenantRateLimiter } from './rate-limiter';

jest.setTimeout(30_000);

const world = new TestWorld();
const base = loadConfig();
const clusterPort = readSetting('HOTDASH_REDIS_CLUSTER_PORT');
const single: PlatformConfig = { ...world.config, redis: { host: base.redis.host, port: base.redis.port } };
const cluster: PlatformConfig = {
  ...world.config,
  redis: { ...single.redis, cluster: base.redis.cluster ?? [0, 1, 2].map((i) => ({ host: '127.0.0.1', port: clusterPort + i })) },
};

afterAll(async () => {
  await closeSharedRedisConnections();
  await world.close();
});

describe.each([
  ['single node', single],
  ['3-master cluster', cluster],
])('on the %s', (_mode, config) => {
  const redis: RedisClient = createRedis(config);
  const tenants: string[] = [];
  const otherKeys: string[] = [];
  const tenant = (): TenantId => {
    const id = newId() as TenantId;
    tenants.push(id);
    return id;
  };
  const user = (tenantId: TenantId, issuedAt = Date.now() - 1_000): Principal => ({
    kind: 'user',
    tenantId,
    subject: newId(),
    role: 'admin' as Principal['role'],
    sessionId: newId(),
    scopes: ['*'],
    issuedAt,
    tokenId: newId(),
  });
  const defaults = { requestsPerMinute: 1_000, inFlight: 10 };

  afterAll(async () => {
    for (const t of tenants)
      for (const pattern of [`${tenantKeyPrefix(t)}*`, ...(redis.isCluster ? [] : [`${legacyTenantKeyPrefix(t)}*`, `hotdash:idem:${t}:*`])])
        await scanKeys(redis, pattern, async (node, keys) => void (await Promise.all(keys.map((k) => node.unlink(k)))));
    for (const k of otherKeys) await redis.unlink(k);
    await redis.quit();
  });

  it('connects with the client this shape needs', async () => {
    expect(redis.isCluster).toBe(config === cluster);
    expect(await redis.ping()).toBe('PONG');
    if (redis.isCluster) expect((redis as Cluster).nodes('master')).toHaveLength(3);
  });

  it("applies a tenant's limits from its limits hash in one script, per-address limits too, and gives slots of several tenants back at once", async () => {
    const limiter = new TenantRateLimiter(redis, { releaseLingerMs: 60_000 });
    const t = tenant();
    await publishTenantLimits(redis, t, { requestsPerMinute: 3, inFlight: 2 });
    const [a, b, c] = [limiter.requestId(), limiter.requestId(), limiter.requestId()];
    expect((await limiter.decide(t, a, defaults)).verdict).toBe('admitted');
    expect((await limiter.decide(t, b, defaults)).verdict).toBe('admitted');
    expect((await limiter.decide(t, c, defaults)).verdict).toBe('too-many-in-flight'); // the hash's 2, not the default 10
    limiter.release(t, a);
    expect(await limiter.decide(t, c, defaults)).toMatchObject({ verdict: 'admitted', limit: 3, remaining: 0 }); // a's slot went back first
    expect(await limiter.decide(t, limiter.requestId(), defaults)).toMatchObject({ verdict: 'rate-limited', limit: 3 });

    // Ended requests of three tenants (on a cluster, in different slots and nodes) given back in one flush.
    const three = [tenant(), tenant(), tenant()];
    const held = three.map(() => limiter.requestId());
    for (const [i, id] of three.entries()) expect((await limiter.decide(id, held[i]!, { requestsPerMinute: 100, inFlight: 1 })).verdict).toBe('admitted');
    for (const id of three) expect((await limiter.decide(id, limiter.requestId(), { requestsPerMinute: 100, inFlight: 1 })).verdict).toBe('too-many-in-flight');
    three.forEach((id, i) => limiter.release(id, held[i]!));
    await limiter.flushReleases();
    expect(limiter.pendingReleases).toBe(0);
    for (const id of three) expect(await redis.zcard(`${tenantKeyPrefix(id)}rl:inflight`)).toBe(0);

    // A public route's per-address limit: its own hash-tagged prefix.
    const prefix = `hotdash:{address:${newId()}}:`;
    otherKeys.push(`${prefix}rl:window`, `${prefix}rl:inflight`);
    for (let i = 0; i < 2; i++) expect((await limiter.decideFor(prefix, limiter.requestId(), { requestsPerMinute: 2, inFlight: 1_000_000 })).verdict).toBe('admitted');
    expect((await limiter.decideFor(prefix, limiter.requestId(), { requestsPerMinute: 2, inFlight: 1_000_000 })).verdict).toBe('rate-limited');
  });

  it('refuses a revoked token in the same script, and in the check without it', async () => {
    const limiter = new TenantRateLimiter(redis, { releaseLingerMs: 5 });
    const revocations = new RevocationList(redis);
    const t = tenant();
    const decide = async (p: Principal) => (await limiter.decide(t, limiter.requestId(), defaults, revocations.markersOf(p))).verdict;

    const ended = user(t);
    expect(await decide(ended)).toBe('admitted');
    expect(await revocations.isRevoked(ended)).toBe(false);
    await revocations.sessionEnded(t, ended.sessionId!);
    expect(await decide(ended)).toBe('revoked');
    expect(await revocations.isRevoked(ended)).toBe(true);

    const changed = user(t);
    await revocations.userChanged(t, changed.subject);
    expect(await decide(changed)).toBe('revoked');
    expect(await revocations.isRevoked(changed)).toBe(true);
    const reissued = { ...changed, issuedAt: Date.now() + 1_000 };
    expect(await decide(reissued)).toBe('admitted');
    expect(await revocations.isRevoked(reissued)).toBe(false);

    const removed = user(t, Date.now() + 60_000);
    await revocations.userRemoved(t, removed.subject);
    expect(await decide(removed)).toBe('revoked');
    expect(await revocations.isRevoked(removed)).toBe(true);

    // The marker's name of before issue 15: written and read on the single node only (a cluster never had it).
    const legacyKey = `${legacyTenantKeyPrefix(t)}auth:session:${ended.sessionId}`;
    expect(await redis.exists(legacyKey)).toBe(redis.isCluster ? 0 : 1);
    if (!redis.isCluster) {
      const old = user(t);
      await redis.set(`${legacyTenantKeyPrefix(t)}auth:user:${old.subject}`, 'removed', 'EX', 60);
      expect(await decide(old)).toBe('revoked');
      expect(await revocations.isRevoked(old)).toBe(true);
    }
  });

  it('runs a request with an Idempotency-Key once and replays its answer', async () => {
    const replies = new IdempotentReplies(new RedisIdempotencyStore(redis));
    const t = tenant();
    let runs = 0;
    const make = async () => ({ status: 201, contentType: 'application/json', body: JSON.stringify({ run: ++runs }) });
    const scope = { tenantId: t, route: 'POST /things' };
    expect(await replies.once(scope, 'key-1', { a: 1 }, make)).toMatchObject({ status: 201, body: '{"run":1}', replayed: false });
    expect(await replies.once(scope, 'key-1', { a: 1 }, make)).toMatchObject({ status: 201, body: '{"run":1}', replayed: true });
    await expect(replies.once(scope, 'key-1', { a: 2 }, make)).rejects.toMatchObject({ status: 422, code: 'idempotency-key-reused' });
    expect(runs).toBe(1);
    let keys = 0;
    await scanKeys(redis, `${tenantKeyPrefix(t)}idem:*`, async (_node, found) => void (keys += found.length));
    expect(keys).toBe(1);

    if (!redis.isCluster) {
      // An answer stored by the release before issue 15 is replayed, not run again.
      const { createHash } = await import('node:crypto');
      const digest = createHash('sha256').update('key-old').digest('hex');
      const fingerprint = createHash('sha256').update(JSON.stringify({ a: 3 })).digest('hex');
      const stored = { state: 'done', fingerprint, reply: { status: 201, contentType: 'application/json', body: '{"old":true}' } };
      await redis.set(`hotdash:idem:${t}:POST /things:${digest}`, JSON.stringify(stored), 'EX', 60);
      expect(await replies.once(scope, 'key-old', { a: 3 }, make)).toMatchObject({ body: '{"old":true}', replayed: true });
      expect(runs).toBe(1);
    }
  });

  it('runs BullMQ jobs through the jobs port, one job per tenant at a time', async () => {
    const name = `redis-modes-${newId()}`;
    const queue = new Queue<{ tenantId: string; n: number }>(name, queueOptions(config, name));
    const limiter = new TenantConcurrencyLimiter(redis, name, { cap: 1, retryDelayMs: 20 });
    const [t1, t2] = [tenant(), tenant()];
    const running = new Map<string, number>();
    let most = 0;
    const done: number[] = [];
    const jobs = new BullmqJobs(config);
    jobs.worker<{ tenantId: string; n: number }, void>(
      name,
      limiter.wrapJob(async (job) => {
        const now = (running.get(job.data.tenantId) ?? 0) + 1;
        running.set(job.data.tenantId, now);
        most = Math.max(most, now);
        await new Promise((r) => setTimeout(r, 30));
        running.set(job.data.tenantId, now - 1);
        done.push(job.data.n);
      }),
      { concurrency: 4 },
    );
    try {
      await queue.addBulk(Array.from({ length: 6 }, (_, n) => ({ name: 'work', data: { tenantId: n % 2 ? t1 : t2, n } })));
      await waitFor('six jobs done', async () => done.length === 6, 20_000, 20);
      expect(done.sort()).toEqual([0, 1, 2, 3, 4, 5]);
      expect(most).toBe(1);
      await waitFor('six jobs completed', async () => (await queue.getCompletedCount()) === 6, 10_000, 20);
      // The queue's keys share its hash tag on the cluster; the single node keeps BullMQ's `bull` prefix.
      expect(queue.toKey('meta')).toBe(redis.isCluster ? `bull:{${name}}:${name}:meta` : `bull:${name}:meta`);
    } finally {
      await jobs.close();
      await queue.obliterate({ force: true });
      await queue.close();
    }
  });

  it('runs a saga, a retried step included, on its queue', async () => {
    const queueName = `redis-modes-saga-${newId()}`;
    const engine = new SagaEngine(world.dbs, config, { queueName, backoffMs: 20, maxAttempts: 3 });
    let tries = 0;
    const type = `redis-modes-${newId()}`;
    engine.register({
      type,
      steps: [
        { id: 'one', description: 'first', run: async () => ({ one: true }) },
        {
          id: 'two',
          description: 'fails once',
          run: async () => {
            if (++tries === 1) throw new Error('first try fails');
            return { two: tries };
          },
        },
      ],
    });
    engine.startWorker();
    try {
      const { sagaId } = await engine.start(type, {});
      const s = await waitFor('saga completed', async () => {
        const st = await engine.status(sagaId);
        return st?.status === 'completed' ? st : undefined;
      }, 20_000, 50);
      expect(s.state).toEqual({ one: { one: true }, two: { two: 2 } });
    } finally {
      await engine.close();
      const q = new Queue(queueName, queueOptions(config, queueName));
      await q.obliterate({ force: true });
      await q.close();
    }
  });

  it("finds every key of a tenant on every master (offboarding's erase), and on a cluster they share one slot", async () => {
    const t = tenant();
    const keys = [tenantLimitsKey(t), `${tenantKeyPrefix(t)}rl:window`, `${tenantKeyPrefix(t)}auth:user:u`, `${tenantKeyPrefix(t)}jobs:q:running`, `${tenantKeyPrefix(t)}idem:POST /x:abc`];
    for (const k of keys) await redis.set(k, '1', 'EX', 60);
    const other = tenant();
    await redis.set(`${tenantKeyPrefix(other)}rl:window`, '1', 'EX', 60);
    const found: string[] = [];
    await scanKeys(redis, `${tenantKeyPrefix(t)}*`, async (_node, batch) => void found.push(...batch));
    expect(found.sort()).toEqual([...keys].sort());
    if (redis.isCluster) {
      const node = (redis as Cluster).nodes('master')[0]!;
      const slots = new Set(await Promise.all(keys.map((k) => node.cluster('KEYSLOT', k))));
      expect(slots.size).toBe(1);
    }
  });
});
