// Rebalancing a region (issue 14, item 4) through provisioning's API, against the real control plane
// and three scratch shards registered in a scratch region (two active, one draining), with tenants
// placed unevenly: the dry run plans the drain first and then evens the active shards, changing
// nothing; the real run carries the plan out one move at a time (each the live tenant move, with its
// ops action and audit entry), after which the shards are even, the draining one is empty and every
// row is where its tenant is; bad input (an unknown region, a region with one shard, a second run
// while one runs, a bad body) is refused with a stable code; a tenant a dedicate run holds is pinned;
// a run recorded as interrupted while its process still runs it moves nobody more and keeps that
// status. Every shard, tenant, saga, run and replication object the spec made is removed.
//
// Needs a server running with wal_level=logical (deploy/local/infra.sh starts it so).
import { Global, INestApplication, Module } from '@nestjs/common';
import { Queue } from 'bullmq';
import { parseTenantId, RebalanceProblems, type RebalanceDryRun, type RebalanceRun, type TenantMoveRun } from '@hotdash/contracts';
import { DatabaseModule, measureTenantSizes, newId, type ShardInfo } from '@hotdash/platform-db';
import { createHttpApp } from '@hotdash/platform-http';
import { SagaEngine } from '@hotdash/platform-jobs';
import { createEmptyShardDatabase, dropMoveReplication, dropScratchShards, internalAuthorization, opsCaller, TestWorld, waitFor, type WorldTenant } from '@hotdash/testing';
import { TENANT_MOVE_CHECKPOINT } from './moves/tenant-move.saga';
import { ProvisioningModule } from './provisioning.module';
import { PROVISIONING_SAGA_QUEUE } from './provisioning.tokens';
import { TENANT_DEDICATE_SAGA } from './dedicated/dedicated.sagas';

jest.setTimeout(240_000);

/** The move saga's test seam: while `gate` is set, a move waits at its initial copy until it is released (`hits` says who got there). */
const drill: { gate?: Promise<void>; hits: string[] } = { hits: [] };
/** The saga engine's own queue: another process working the default queue never takes this spec's moves (nor their checkpoints). */
const queue = `hotdash-rebalance-spec-${newId().slice(-12)}`;

@Global()
@Module({
  providers: [
    { provide: TENANT_MOVE_CHECKPOINT, useValue: (point: string) => checkpoint(point) },
    { provide: PROVISIONING_SAGA_QUEUE, useValue: queue },
  ],
  exports: [TENANT_MOVE_CHECKPOINT, PROVISIONING_SAGA_QUEUE],
})
class DrillModule {}

async function checkpoint(point: string): Promise<void> {
  if (point !== 'initial-copy' || !drill.gate) return;
  drill.hits.push(point);
  await drill.gate;
}

@Module({ imports: [DatabaseModule.forRoot(), DrillModule, ProvisioningModule] })
class TestAppModule {}

const world = new TestWorld();
const run = newId().replace(/-/g, '').slice(-10);
const operator = `rebalance-${run}`;
const actor = `ops:${operator}`;
const region = `spec-rb-${run}`;
const lonely = `spec-rb1-${run}`;
const consumer = `rebalance-spec-${run}`;
const names = { a: `spec-rb-${run}-a`, b: `spec-rb-${run}-b`, c: `spec-rb-${run}-c` };
const databases = { a: `hotdash_spec_rba_${run}`, b: `hotdash_spec_rbb_${run}`, c: `hotdash_spec_rbc_${run}` };
const lonelyShard = `spec-rb1-${run}`;
const tenants: WorldTenant[] = [];
/** Each tenant's seeded inbox rows (event ids, sorted): what must be intact after the moves. */
const seeded = new Map<string, string[]>();
let app: INestApplication;
let base: string;

const call = async (method: string, path: string, body?: unknown) =>
  fetch(`${base}${path}`, {
    method,
    headers: { 'content-type': 'application/json', authorization: await internalAuthorization('provisioning', opsCaller(operator)) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
const problem = async (res: Response) => ({ status: res.status, code: ((await res.json()) as { code?: string }).code });

/** Each of the spec's tenants: its shard now and its inbox rows there. */
const whereAll = () =>
  Promise.all(
    tenants.map((t) =>
      world.tenantDb.withTenant(t.id, async (tx, shard) => ({
        tenant: t.id,
        shard: shard.name,
        inbox: (await tx.db.selectFrom('inbox').select('event_id').where('consumer', '=', consumer).execute()).map((r) => r.event_id).sort(),
      })),
    ),
  );
const countsByShard = (rows: { shard: string }[]) => Object.fromEntries(Object.values(names).map((n) => [n, rows.filter((r) => r.shard === n).length]));

beforeAll(async () => {
  for (const d of Object.values(databases)) await createEmptyShardDatabase(world, d);
  app = await createHttpApp(TestAppModule, { logger: false });
  app.get(SagaEngine).startWorker();
  await app.listen(0, '127.0.0.1');
  base = `http://127.0.0.1:${app.getHttpServer().address().port}`;
  const shards: Record<string, ShardInfo> = {};
  for (const k of ['a', 'b', 'c'] as const) {
    const res = await call('POST', '/shards', { name: names[k], host: world.config.db.controlHost, port: world.config.db.controlPort, database: databases[k], kind: 'shared', region });
    expect(res.status).toBe(201);
    const { shard } = (await res.json()) as { shard: ShardInfo };
    shards[k] = { ...shard, kind: 'shared', status: 'active' };
  }
  // Unevenly: three tenants on a, none on b, one on c (draining): tenants of different sizes.
  for (const [k, rows] of [['a', 40], ['a', 10], ['a', 10], ['c', 20]] as const) {
    const t = await world.createTenant(`rebalance ${k}`, shards[k]);
    tenants.push(t);
    seeded.set(
      t.id,
      await world.tenantDb.withTenant(t.id, async (tx) => {
        const ids: string[] = [];
        for (let i = 0; i < rows; i++) ids.push((await tx.db.insertInto('inbox').values({ tenant_id: t.id, consumer, event_id: newId() }).returning('event_id').executeTakeFirstOrThrow()).event_id);
        return ids.sort();
      }),
    );
  }
  expect((await call('POST', `/shards/${names.c}/drain`)).status).toBe(200);
});

afterAll(async () => {
  await app?.close();
  const ids = tenants.map((t) => t.id);
  const moveIds = (await world.dbs.controlDb().selectFrom('sagas').select('id').where('type', '=', 'tenant-move').where('tenant_id', 'in', ids.length ? ids : [newId()]).execute()).map((r) => r.id);
  await dropMoveReplication(world, moveIds, Object.values(databases));
  const owner = await world.connect(world.dbs.controlLocation, 'owner');
  try {
    await owner.query(`delete from sagas where tenant_id = any($1) and type in ('tenant-move', 'tenant-dedicate')`, [ids]);
    await owner.query('delete from tenant_placements where tenant_id = any($1)', [ids]);
    await owner.query('delete from tenants where id = any($1)', [ids]);
    await owner.query('delete from ops_actions where actor = $1', [actor]);
    await owner.query('delete from rebalance_runs where actor = $1', [actor]);
  } finally {
    await owner.end();
  }
  await dropScratchShards(world, [...Object.values(names), lonelyShard], Object.values(databases));
  const q = new Queue(queue, { connection: { host: world.config.redis.host, port: world.config.redis.port } });
  await q.obliterate({ force: true }).catch(() => undefined);
  await q.close();
  await world.close();
});

it('refuses bad input with a stable code, changing nothing', async () => {
  expect(await problem(await call('POST', '/rebalance', { region: `nowhere-${run}`, dryRun: true }))).toEqual({ status: 422, code: RebalanceProblems.REGION_UNKNOWN });
  expect(await problem(await call('POST', '/rebalance', { region }))).toMatchObject({ status: 400 });
  expect(await problem(await call('POST', '/rebalance', { region, dryRun: true, concurrency: 5 }))).toMatchObject({ status: 400 });
  expect(await problem(await call('POST', '/rebalance', { region: 'Not A Region', dryRun: true }))).toMatchObject({ status: 400 });
  // A region with a single shared shard (a row of its own: refused before any shard is read).
  const owner = await world.connect(world.dbs.controlLocation, 'owner');
  try {
    await owner.query(`insert into shards (id, name, host, port, database, kind, status, region) values ($1, $2, '127.0.0.1', 1, $3, 'shared', 'active', $4)`, [newId(), lonelyShard, `nowhere_${run}`, lonely]);
    expect(await problem(await call('POST', '/rebalance', { region: lonely, dryRun: false }))).toEqual({ status: 422, code: RebalanceProblems.TOO_FEW_SHARDS });
  } finally {
    await owner.query('delete from shards where name = $1', [lonelyShard]);
    await owner.end();
  }
  expect((await call('GET', `/rebalance/runs/${newId()}`)).status).toBe(404);
});

it('plans the drain first and then evens the active shards, on a dry run that changes nothing', async () => {
  const before = await whereAll();
  const res = await call('POST', '/rebalance', { region, dryRun: true });
  expect(res.status).toBe(200);
  const { plan } = (await res.json()) as RebalanceDryRun;
  expect(plan).toMatchObject({ region, truncated: false, pinned: [] });
  expect(plan.shards.map((s) => [s.name, s.status, s.before.tenants, s.after.tenants])).toEqual([
    [names.a, 'active', 3, 2],
    [names.b, 'active', 0, 2],
    [names.c, 'draining', 1, 0],
  ]);
  expect(plan.moves[0]).toMatchObject({ tenantId: tenants[3]!.id, from: names.c, to: names.b, reason: 'drain' });
  expect(plan.moves.slice(1).every((m) => m.reason === 'balance' && m.to !== names.c)).toBe(true);
  expect(plan.moves.every((m) => m.bytes > 0)).toBe(true);
  expect(plan.before).toMatchObject({ tenants: { min: 0, max: 3 } });
  expect(plan.after).toMatchObject({ tenants: { min: 2, max: 2 } });
  expect(plan.before.bytes.max).toBeGreaterThan(0);

  // Nothing changed: every tenant where it was, no run, no move.
  expect(await whereAll()).toEqual(before);
  expect(await world.dbs.controlDb().selectFrom('rebalance_runs').select('id').where('region', '=', region).execute()).toEqual([]);
  expect(await world.dbs.controlDb().selectFrom('ops_actions').select('id').where('actor', '=', actor).where('action', '=', 'tenant.move').execute()).toEqual([]);
});

it('pins a tenant a dedicate or share run holds (it starts its own move): the dry run does not move it', async () => {
  const held = tenants[0]!;
  // A dedicate run of it, recorded as undoing with nothing to undo (were any engine to take it up, it would just end).
  const sagaId = newId();
  const owner = await world.connect(world.dbs.controlLocation, 'owner');
  try {
    await owner.query(`insert into sagas (id, type, tenant_id, status, input) values ($1, $2, $3, 'compensating', '{}')`, [sagaId, TENANT_DEDICATE_SAGA, held.id]);
    const { plan } = (await (await call('POST', '/rebalance', { region, dryRun: true })).json()) as RebalanceDryRun;
    expect(plan.pinned).toEqual([{ tenantId: held.id, slug: expect.any(String), shard: names.a, reason: 'dedicated-run' }]);
    expect(plan.moves.map((m) => m.tenantId)).not.toContain(held.id);
  } finally {
    await owner.query('delete from sagas where id = $1', [sagaId]);
    await owner.end();
  }
});

it('measures each tenant as its share of its shard’s tenant tables on disk, in proportion to its rows', async () => {
  const a = await world.dbs.controlDb().selectFrom('shards').select(['id', 'name', 'host', 'port', 'database']).where('name', '=', names.a).executeTakeFirstOrThrow();
  const onA = tenants.slice(0, 3).map((t) => t.id);
  const sizes = await measureTenantSizes(world.tenantDb, { ...a, kind: 'shared', status: 'active' }, onA);
  const [big, small1, small2] = onA.map((id) => sizes.tenants.get(id)!);
  // Rows in every tenant table (the inbox rows seeded, nothing else: created without the saga).
  expect([big!.rows, small1!.rows, small2!.rows]).toEqual([40, 10, 10]);
  expect(Math.abs(big!.bytes - 4 * small1!.bytes)).toBeLessThanOrEqual(2);
  expect(small1!.bytes).toBe(small2!.bytes);
  // They add up to the size of the tables that hold their rows (but for rounding).
  expect(Math.abs(big!.bytes + small1!.bytes + small2!.bytes - sizes.tableBytes)).toBeLessThanOrEqual(3);
});

it('carries the plan out one move at a time: the shards end even, the draining one empty, every row intact; a second run meanwhile is refused', async () => {
  const planned = ((await (await call('POST', '/rebalance', { region, dryRun: true })).json()) as RebalanceDryRun).plan;
  const res = await call('POST', '/rebalance', { region, dryRun: false });
  expect(res.status).toBe(202);
  const started = (await res.json()) as RebalanceRun;
  expect(started).toMatchObject({ region, status: 'running', actor, concurrency: 1, error: null, finishedAt: null });
  expect(started.moves.map((m) => [m.tenantId, m.from, m.to])).toEqual(planned.moves.map((m) => [m.tenantId, m.from, m.to]));

  // One rebalance of a region at a time.
  expect(await problem(await call('POST', '/rebalance', { region, dryRun: false }))).toEqual({ status: 409, code: RebalanceProblems.RUNNING });

  const finished = await waitFor(
    `rebalance ${started.id} to finish`,
    async () => {
      const r = (await (await call('GET', `/rebalance/runs/${started.id}`)).json()) as RebalanceRun;
      return r.status !== 'running' ? r : undefined;
    },
    200_000,
    200,
  );
  expect(finished).toMatchObject({ status: 'succeeded', error: null, finishedAt: expect.any(String) });
  expect(finished.moves.every((m) => m.state === 'succeeded' && m.runId !== null)).toBe(true);

  // One at a time: each move (its saga) started after the one before had finished.
  const moves = await Promise.all(finished.moves.map(async (m) => (await (await call('GET', `/tenants/${m.tenantId}/moves/${m.runId}`)).json()) as TenantMoveRun));
  expect(moves.map((m) => m.status)).toEqual(finished.moves.map(() => 'succeeded'));
  for (let i = 1; i < moves.length; i++) expect(Date.parse(moves[i]!.startedAt)).toBeGreaterThanOrEqual(Date.parse(moves[i - 1]!.finishedAt!));

  // Even, drained, intact.
  const after = await whereAll();
  expect(countsByShard(after)).toEqual({ [names.a]: 2, [names.b]: 2, [names.c]: 0 });
  for (const row of after) expect(row.inbox).toEqual(seeded.get(row.tenant));
  for (const m of finished.moves) expect(after.find((r) => r.tenant === m.tenantId)!.shard).toBe(m.to);

  // Every move is an ops action naming the run, and an entry in its tenant's audit log; the run is one too.
  const actions = await world.dbs.controlDb().selectFrom('ops_actions').select(['action', 'target', 'outcome', 'detail']).where('actor', '=', actor).orderBy('at').execute();
  expect(actions.filter((a) => a.action === 'tenant.move').map((a) => [a.target, (a.detail as { rebalanceRun?: string }).rebalanceRun])).toEqual(finished.moves.map((m) => [m.tenantId, started.id]));
  expect(actions.filter((a) => a.action === 'rebalance.run').map((a) => a.outcome)).toEqual(expect.arrayContaining(['started', 'done']));
  const audited = await world.tenantDb.withTenant(parseTenantId(finished.moves[0]!.tenantId), (tx) =>
    tx.db.selectFrom('outbox').select('envelope').where('type', '=', 'access.recorded').execute(),
  );
  expect(audited.map((r) => (r.envelope as { payload: { resourceType: string; resourceId: string } }).payload)).toEqual(
    expect.arrayContaining([expect.objectContaining({ resourceType: 'tenant-move', resourceId: finished.moves[0]!.runId })]),
  );

  // Planned again: nothing left to drain and the counts stay even (bytes are as on disk: the sources keep their freed space until vacuumed).
  const again = ((await (await call('POST', '/rebalance', { region, dryRun: true })).json()) as RebalanceDryRun).plan;
  expect(again.moves.filter((m) => m.reason === 'drain')).toEqual([]);
  expect(again.after.tenants.max - again.after.tenants.min).toBeLessThanOrEqual(1);
});

it('stops a run recorded as interrupted while its process still runs it (a stale heartbeat) before its next move, and leaves it interrupted', async () => {
  // Shard a drained: its two tenants planned onto b, one move at a time.
  expect((await call('POST', `/shards/${names.a}/drain`)).status).toBe(200);
  const onA = (await whereAll()).filter((r) => r.shard === names.a).map((r) => r.tenant);
  expect(onA).toHaveLength(2);
  let release!: () => void;
  drill.gate = new Promise<void>((r) => (release = r));
  drill.hits = [];
  let started!: RebalanceRun;
  try {
    const res = await call('POST', '/rebalance', { region, dryRun: false });
    expect(res.status).toBe(202);
    started = (await res.json()) as RebalanceRun;
    expect(started.moves.map((m) => [m.from, m.to])).toEqual([
      [names.a, names.b],
      [names.a, names.b],
    ]);
    // Its first move held at its copy; meanwhile another instance finds the heartbeat stale and records the run interrupted.
    await waitFor('the first move to reach its initial copy', async () => drill.hits.length > 0, 60_000, 50);
    const owner = await world.connect(world.dbs.controlLocation, 'owner');
    try {
      await owner.query(`update rebalance_runs set status = 'interrupted', finished_at = now() where id = $1 and status = 'running'`, [started.id]);
    } finally {
      await owner.end();
    }
  } finally {
    drill.gate = undefined;
    release();
  }
  const outcome = await waitFor(
    `run ${started.id} to stop`,
    async () =>
      world.dbs
        .controlDb()
        .selectFrom('ops_actions')
        .select(['outcome', 'detail'])
        .where('actor', '=', actor)
        .where('action', '=', 'rebalance.run')
        .where('outcome', 'not in', ['started'])
        .execute()
        .then((rows) => rows.find((r) => (r.detail as { run?: string }).run === started.id)),
    120_000,
    100,
  );
  expect(outcome).toMatchObject({ outcome: 'interrupted', detail: { succeeded: 1, notRun: 1 } });
  const run = (await (await call('GET', `/rebalance/runs/${started.id}`)).json()) as RebalanceRun;
  expect(run.status).toBe('interrupted');
  // The move it had started went on to its end; the second was never started.
  const moved = await world.dbs.controlDb().selectFrom('ops_actions').select(['target', 'detail']).where('actor', '=', actor).where('action', '=', 'tenant.move').execute();
  expect(moved.filter((a) => (a.detail as { rebalanceRun?: string }).rebalanceRun === started.id).map((a) => a.target)).toEqual([started.moves[0]!.tenantId]);
  const after = await whereAll();
  expect(after.find((r) => r.tenant === started.moves[0]!.tenantId)!.shard).toBe(names.b);
  expect(after.find((r) => r.tenant === started.moves[1]!.tenantId)!.shard).toBe(names.a);
});
