// Dedicated databases for Enterprise through provisioning's ops API (POST /tenants/{id}/dedicate,
// POST /tenants/{id}/share, GET /tenants/{id}/dedicated-runs/{run}) and the tenant-dedicate and
// tenant-share sagas, against the real control plane and shards: a tenant given a database of its
// own while it writes and reads (a database created, migrated and registered as a dedicated shard,
// row-level security holding there, the tenant's rows intact on it), shared back with --keep (the
// shard stays, free) and dedicated again onto that shard (reused, no new database), then shared back
// for good (the shard retired, its database kept); a dedicate whose move rolls back undone (its
// database dropped, its shard retired, the tenant whole on its source); bad input refused with
// stable codes; a downgrade of a tenant on a dedicated shard refused; the placement policy never
// giving a shared sign-up a dedicated shard; a free dedicated shard a rolled-back run adopted given
// back (active, free), not retired; two runs at once completing on an engine that works two jobs at a
// time (a run waiting for its move holds no worker). Every database, shard row, saga and replication
// object it made is removed.
//
// Needs a server running with wal_level=logical (deploy/local/infra.sh starts it so).
import { Global, INestApplication, Module } from '@nestjs/common';
import Redis from 'ioredis';
import { DedicatedProblems, MoveProblems, type DedicatedPlan, type DedicatedRun, type TenantId, type TenantMoveRun } from '@hotdash/contracts';
import { tenantLimitsKey } from '@hotdash/platform-auth';
import { DatabaseModule, newId, ShardInspector, TenantMover, type ShardInfo } from '@hotdash/platform-db';
import { createHttpApp } from '@hotdash/platform-http';
import { NonRetryableStepError, SagaEngine } from '@hotdash/platform-jobs';
import { dropMoveReplication, internalAuthorization, opsCaller, TestWorld, waitFor, WorldTenant } from '@hotdash/testing';
import { TENANT_MOVE_CHECKPOINT } from './moves/tenant-move.saga';
import { ProvisioningModule } from './provisioning.module';
import { PROVISIONING_SAGA_CONCURRENCY, PROVISIONING_SAGA_QUEUE } from './provisioning.tokens';
import { pickShard } from './saga/provisioning.saga';
import { DedicatedDatabases, markerText } from './dedicated/dedicated-database';
import { defaultDedicatedDatabase, defaultDedicatedShard } from './use-cases/dedicate-tenant/dedicate-tenant.handler';

jest.setTimeout(240_000);

/** The move saga's test seam: `failAt` makes the next move fail for good at that point; while `gate` is set, moves wait at their initial copy. */
const drill: { failAt?: string; gate?: Promise<void> } = {};
/** The saga engine's own queue: a provisioning spec running at the same time in another process never takes these sagas' steps (nor this one theirs). */
const queue = `hotdash-dedicated-spec-${newId().slice(-12)}`;
/**
 * Two saga jobs at a time in this process: two runs at once, each waiting for its move, must leave
 * the moves' steps a worker (a run that waited inside its step would hold both, and the moves would never run).
 */
const CONCURRENCY = 2;

@Global()
@Module({
  providers: [
    { provide: TENANT_MOVE_CHECKPOINT, useValue: (point: string) => checkpoint(point) },
    { provide: PROVISIONING_SAGA_QUEUE, useValue: queue },
    { provide: PROVISIONING_SAGA_CONCURRENCY, useValue: CONCURRENCY },
  ],
  exports: [TENANT_MOVE_CHECKPOINT, PROVISIONING_SAGA_QUEUE, PROVISIONING_SAGA_CONCURRENCY],
})
class DrillModule {}

async function checkpoint(point: string): Promise<void> {
  if (point === 'initial-copy' && drill.gate) await drill.gate;
  if (drill.failAt !== point) return;
  drill.failAt = undefined;
  throw new NonRetryableStepError(`drill: ${point} failed`, 'drill');
}

@Module({ imports: [DatabaseModule.forRoot(), DrillModule, ProvisioningModule] })
class TestAppModule {}

const world = new TestWorld();
const mover = new TenantMover(world.config);
const inspector = new ShardInspector(world.config);
const databases = new DedicatedDatabases(inspector, world.config);
const consumer = `dedicated-spec-${newId()}`;
const server = { host: world.config.db.controlHost, port: world.config.db.controlPort };
let app: INestApplication;
let base: string;
let s1: ShardInfo;
let s2: ShardInfo;
/** What the spec made, removed in afterAll. */
const made = { tenants: [] as WorldTenant[], shards: [] as string[], databases: [] as string[], targets: [] as string[] };

beforeAll(async () => {
  const shards = (await world.shards()).filter((s) => s.kind === 'shared' && s.status === 'active');
  [s1, s2] = [shards[0]!, shards[1]!];
  const su = await world.connectSuperuser(s1.database);
  try {
    const { rows } = await su.query<{ w: string }>(`select current_setting('wal_level') as w`);
    if (rows[0]!.w !== 'logical') throw new Error(`this spec needs PostgreSQL with wal_level=logical (deploy/local/infra.sh starts it so; restart the local cluster), the server runs with ${rows[0]!.w}`);
  } finally {
    await su.end();
  }
  app = await createHttpApp(TestAppModule, { logger: false });
  app.get(SagaEngine).startWorker();
  await app.listen(0, '127.0.0.1');
  base = `http://127.0.0.1:${app.getHttpServer().address().port}`;
});

afterAll(async () => {
  try {
    await app?.close();
    const ids = made.tenants.map((t) => t.id);
    // What a move left half-way (a failed spec): its subscription, publication and slots, before any database goes.
    const moveIds = (await world.dbs.controlDb().selectFrom('sagas').select('id').where('type', '=', 'tenant-move').where('tenant_id', 'in', ids.length ? ids : [newId()]).execute()).map((r) => r.id);
    await dropMoveReplication(world, moveIds, [s1.database, s2.database, ...made.databases]);
    // Wherever each tenant is now: its rows erased there; the fences its moves left on the shared shards.
    for (const t of made.tenants) {
      await world.tenantDb.withTenant(t.id, (tx) => tx.db.selectFrom((eb) => eb.fn<{ table_name: string }>('erase_tenant', [eb.val(t.id)]).as('e')).selectAll().execute()).catch(() => undefined);
      for (const s of [s1, s2]) {
        const o = await world.connect(s, 'owner');
        try {
          await o.query(`select set_config('app.tenant_id', $1, false)`, [t.id]);
          await o.query('delete from tenant_fences where tenant_id = $1', [t.id]);
        } finally {
          await o.end();
        }
      }
    }
    const owner = await world.connect(world.dbs.controlLocation, 'owner');
    try {
      await owner.query(`delete from sagas where tenant_id = any($1) and type in ('tenant-move', 'tenant-dedicate', 'tenant-share')`, [ids]);
      await owner.query('delete from tenant_placements where tenant_id = any($1)', [ids]);
      await owner.query('delete from tenants where id = any($1)', [ids]);
      await owner.query('delete from ops_actions where target = any($1)', [[...ids, ...made.shards, ...made.databases, ...made.targets]]);
      await owner.query('delete from shards where name = any($1)', [made.shards]);
    } finally {
      await owner.end();
    }
    for (const d of made.databases) await world.dropScratchDatabase(d);
    const redis = new Redis({ host: world.config.redis.host, port: world.config.redis.port });
    try {
      if (ids.length) await redis.del(...ids.map(tenantLimitsKey));
      // The spec's saga queue.
      for (let cursor = '0'; ; ) {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `bull:${queue}:*`, 'COUNT', 500);
        if (keys.length) await redis.del(...keys);
        if ((cursor = next) === '0') break;
      }
    } finally {
      redis.disconnect();
    }
  } finally {
    await world.close();
  }
}, 120_000);

// As the gateway calls provisioning for platform operator dora (actor ops:dora).
const call = async (method: string, path: string, body?: unknown) =>
  fetch(`${base}${path}`, {
    method,
    headers: { 'content-type': 'application/json', authorization: await internalAuthorization('provisioning', opsCaller('dora')) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
const code = async (res: Response) => ({ status: res.status, code: ((await res.json()) as { code?: string }).code });
const dedicate = (t: { id: string }, body: Record<string, unknown> = {}) => call('POST', `/tenants/${t.id}/dedicate`, body);
const share = (t: { id: string }, body: Record<string, unknown> = {}) => call('POST', `/tenants/${t.id}/share`, body);
const changePlan = (t: { id: string }, plan: string) => call('PUT', `/tenants/${t.id}/plan`, { plan });

async function finished(tenantId: string, runId: string): Promise<DedicatedRun> {
  return waitFor(
    `run ${runId} to finish`,
    async () => {
      const run = (await (await call('GET', `/tenants/${tenantId}/dedicated-runs/${runId}`)).json()) as DedicatedRun;
      return ['succeeded', 'rolled-back', 'failed'].includes(run.status) ? run : undefined;
    },
    200_000,
    200,
  );
}

/**
 * A shard name of the spec: after `shard-…` by name, so that specs running at the same time, whose
 * fixtures take the first shards by name, never put their tenants on it.
 */
function specShard(): string {
  const name = `spec-dedicated-${newId().replace(/-/g, '').slice(-12)}`;
  made.shards.push(name);
  return name;
}

/** A tenant of the spec on the Enterprise plan (unless said otherwise), on shard s1. */
async function tenant(name: string, plan = 'enterprise'): Promise<WorldTenant> {
  const t = await world.createTenant(name, s1);
  made.tenants.push(t);
  made.shards.push(defaultDedicatedShard(t.id));
  made.databases.push(defaultDedicatedDatabase(t.id));
  await world.dbs.controlDb().updateTable('tenants').set({ plan_code: plan }).where('id', '=', t.id).execute();
  return t;
}

const inboxOf = (tenantId: TenantId) =>
  world.tenantDb.withTenant(tenantId, (tx, shard) => tx.db.selectFrom('inbox').select('event_id').where('consumer', '=', consumer).execute().then((r) => ({ shard: shard.name, ids: r.map((x) => x.event_id).sort() })));
const seedInbox = (t: WorldTenant, n: number) =>
  world.tenantDb.withTenant(t.id, async (tx) => {
    const ids: string[] = [];
    for (let i = 0; i < n; i++) ids.push((await tx.db.insertInto('inbox').values({ tenant_id: t.id, consumer, event_id: newId() }).returning('event_id').executeTakeFirstOrThrow()).event_id);
    return ids;
  });

/** The tenant writing (an inbox row per transaction) and reading without pause until stopped. */
function busy(t: WorldTenant): () => Promise<{ written: string[]; failures: string[]; reads: number }> {
  let running = true;
  const written: string[] = [];
  const failures: string[] = [];
  let reads = 0;
  const load = (async () => {
    while (running) {
      try {
        written.push(...(await seedInbox(t, 1)));
        await inboxOf(t.id);
        reads++;
      } catch (err) {
        failures.push((err as Error).message);
      }
    }
  })();
  return async () => {
    running = false;
    await load;
    return { written, failures, reads };
  };
}

const shardRow = (name: string) => world.dbs.controlDb().selectFrom('shards').select(['id', 'name', 'kind', 'status', 'region', 'host', 'port', 'database', 'tenant_count']).where('name', '=', name).executeTakeFirst();
const opsActions = (target: string) =>
  world.dbs
    .controlDb()
    .selectFrom('ops_actions')
    .select(['action', 'outcome'])
    .where('target', '=', target)
    .orderBy('at')
    .execute()
    .then((rows) => rows.map((r) => `${r.action} ${r.outcome}`));

it('dedicates a tenant live, shares it back keeping its shard, dedicates it onto that shard again, then shares it back for good', async () => {
  const t = await tenant('dedicated T');
  const seeded = await seedInbox(t, 60);
  const dbName = defaultDedicatedDatabase(t.id);
  const shardName = specShard();

  // The dry run: a database to create on the tenant's server, nothing made.
  const planRes = await dedicate(t, { reuse: false, dryRun: true });
  expect(planRes.status).toBe(200);
  expect((await planRes.json()) as DedicatedPlan).toMatchObject({
    dryRun: true,
    kind: 'dedicate',
    source: s1.name,
    target: { shard: defaultDedicatedShard(t.id), host: s1.host, port: s1.port, database: dbName, region: 'local', kind: 'dedicated', mode: 'create' },
    steps: [{ id: 'create-database' }, { id: 'register' }, { id: 'move' }, { id: 'await-move' }, { id: 'finish' }],
  });
  expect(await databases.facts(server, dbName)).toEqual({ exists: false });

  // Dedicated while it writes and reads.
  const stop = busy(t);
  let run: DedicatedRun;
  let load: Awaited<ReturnType<typeof stop>>;
  try {
    const res = await dedicate(t, { reuse: false, shard: shardName });
    expect(res.status).toBe(202);
    const started = (await res.json()) as DedicatedRun;
    expect(started).toMatchObject({ kind: 'dedicate', tenantId: t.id, source: s1.name, status: 'running', actor: 'ops:dora', target: { shard: shardName, mode: 'create' } });
    // While it runs: a second run and a downgrade are refused.
    expect(await code(await dedicate(t, { reuse: false }))).toEqual({ status: 409, code: DedicatedProblems.RUN_IN_PROGRESS });
    expect(await code(await changePlan(t, 'basic'))).toEqual({ status: 409, code: DedicatedProblems.RUN_IN_PROGRESS });
    run = await finished(t.id, started.id);
  } finally {
    load = await stop();
  }
  expect(run).toMatchObject({ status: 'succeeded', phase: null, error: null, move: { status: 'succeeded', decided: true } });
  expect(run.steps.map((s) => [s.id, s.status, s.attempts])).toEqual(['create-database', 'register', 'move', 'await-move', 'finish'].map((id) => [id, 'completed', 1]));
  expect(run.steps[0]!.detail).toEqual({ database: dbName, created: true });
  expect(load.failures).toEqual([]);
  expect(load.reads).toBeGreaterThan(0);

  // On its own shard: registered as dedicated in its region, active; the database the platform's, migrated; its rows all there.
  const d = (await shardRow(shardName))!;
  expect(d).toMatchObject({ kind: 'dedicated', status: 'active', region: 'local', host: s1.host, port: s1.port, database: dbName, tenant_count: 1 });
  expect((await world.router.placementOf(t.id)).shard.id).toBe(d.id);
  expect(await databases.facts(server, dbName)).toEqual({ exists: true, owner: world.config.db.owner.user, marker: { tenantId: t.id, runId: run.id } });
  expect((await inspector.migrationState({ ...server, database: dbName }, 'tenant')).pending).toEqual([]);
  expect(await inboxOf(t.id)).toEqual({ shard: shardName, ids: [...seeded, ...load.written].sort() });
  expect(await mover.tenantRowsOn(s1, t.id)).toEqual([]);
  // Row-level security holds there: the application role reads nothing without the tenant's setting, its rows with it.
  const appConn = await world.connect({ ...server, database: dbName }, 'app');
  try {
    expect((await appConn.query<{ n: number }>('select count(*)::int as n from inbox')).rows[0]!.n).toBe(0);
    await appConn.query(`select set_config('app.tenant_id', $1, false)`, [t.id]);
    expect((await appConn.query<{ n: number }>('select count(*)::int as n from inbox where consumer = $1', [consumer])).rows[0]!.n).toBe(seeded.length + load.written.length);
  } finally {
    await appConn.end();
  }
  expect(await opsActions(t.id)).toEqual(expect.arrayContaining(['tenant.dedicate started', 'tenant.dedicate done']));

  // On a dedicated shard: another dedicate and a downgrade are refused.
  expect(await code(await dedicate(t))).toEqual({ status: 409, code: DedicatedProblems.ALREADY_DEDICATED });
  const downgrade = await changePlan(t, 'basic');
  expect(downgrade.status).toBe(409);
  expect((await downgrade.json()) as { code: string; detail: string }).toMatchObject({ code: DedicatedProblems.DOWNGRADE_ON_DEDICATED, detail: expect.stringContaining('hotdash-ops tenants share') });

  // By default a share goes to the active shared shard of the region with the fewest tenants (the dry
  // run says which); the spec names s2 (another spec's scratch shard could be the emptiest one).
  // Read before and after the dry run, until both agree (other specs place tenants meanwhile): the emptiest is then the one the dry run saw.
  const emptiest = async () =>
    (
      await world.dbs.controlDb().selectFrom('shards').select('name').where('kind', '=', 'shared').where('status', '=', 'active').where('region', '=', 'local').orderBy('tenant_count').orderBy('name').executeTakeFirstOrThrow()
    ).name;
  let sharePlan: DedicatedPlan | undefined;
  let expected: string | undefined;
  for (let i = 0; i < 10 && expected === undefined; i++) {
    const before = await emptiest();
    sharePlan = (await (await share(t, { keep: true, dryRun: true })).json()) as DedicatedPlan;
    if ((await emptiest()) === before) expected = before;
  }
  expect(sharePlan).toMatchObject({
    dryRun: true,
    kind: 'share',
    source: shardName,
    keep: true,
    target: { kind: 'shared', region: 'local' },
    steps: [{ id: 'reserve-shard' }, { id: 'move' }, { id: 'await-move' }, { id: 'free-shard' }, { id: 'finish' }],
  });
  expect(sharePlan!.target.shard).toBe(expected);

  // Shared back, keeping the shard: the tenant on the shared shard, its rows intact; the shard active, free.
  const kept = await finished(t.id, ((await (await share(t, { keep: true, shard: s2.name })).json()) as DedicatedRun).id);
  expect(kept).toMatchObject({ kind: 'share', status: 'succeeded', source: shardName, keep: true, target: { kind: 'shared', shard: s2.name } });
  const placed = await world.router.placementOf(t.id);
  expect(placed.shard).toMatchObject({ kind: 'shared', name: s2.name });
  expect((await inboxOf(t.id)).ids).toEqual([...seeded, ...load.written].sort());
  expect(await shardRow(shardName)).toMatchObject({ kind: 'dedicated', status: 'active', tenant_count: 0 });

  // A run that adopts the free shard (no reuse asked: the platform's database for the tenant, registered already) and rolls back gives it back: active, free, its database kept.
  drill.failAt = 'initial-copy';
  const adopted = await finished(t.id, ((await (await dedicate(t, { reuse: false, shard: shardName })).json()) as DedicatedRun).id);
  expect(adopted).toMatchObject({ status: 'rolled-back', target: { shard: shardName, mode: 'adopt' }, error: expect.stringContaining('drill') });
  expect(adopted.steps.find((s) => s.id === 'register')).toMatchObject({ status: 'compensated', detail: expect.objectContaining({ adopted: true }) });
  expect(await shardRow(shardName)).toMatchObject({ kind: 'dedicated', status: 'active', tenant_count: 0 });
  expect(await databases.facts(server, dbName)).toMatchObject({ exists: true, marker: { runId: run.id } });
  expect((await world.router.placementOf(t.id)).shard.name).toBe(s2.name);

  // The placement policy: a shared sign-up never lands on a dedicated shard, not even with a free one there and no shared shard active.
  // (Asked for region local: another spec's scratch shard of its own region may be the emptiest shared shard.)
  await world.control.withControl(async (tx) => expect((await shardRow((await pickShard(tx, false, 'local')).name))!.kind).toBe('shared'));
  await expect(
    world.control.withControl(async (tx) => {
      await tx.db.updateTable('shards').set({ status: 'draining' }).where('kind', '=', 'shared').where('status', '=', 'active').execute();
      await pickShard(tx, false);
    }),
  ).rejects.toThrow(/no active shared shard/);
  expect(await shardRow(s1.name)).toMatchObject({ status: 'active' });

  // Off its dedicated shard, the downgrade goes through (and back to Enterprise).
  expect((await changePlan(t, 'basic')).status).toBe(200);
  expect(await code(await dedicate(t))).toEqual({ status: 422, code: DedicatedProblems.NOT_ENTERPRISE });
  expect((await changePlan(t, 'enterprise')).status).toBe(200);

  // Dedicated again: the free shard reused (the default offers a free one), no database created.
  expect(((await (await dedicate(t, { dryRun: true })).json()) as DedicatedPlan).target.mode).toBe('reuse');
  const again = await finished(t.id, ((await (await dedicate(t, { reuse: true, shard: shardName })).json()) as DedicatedRun).id);
  expect(again).toMatchObject({ status: 'succeeded', target: { shard: shardName, mode: 'reuse' } });
  expect(again.steps[0]!.detail).toEqual({ reused: shardName });
  expect((await world.router.placementOf(t.id)).shard.name).toBe(shardName);
  expect((await inboxOf(t.id)).ids).toEqual([...seeded, ...load.written].sort());
  expect((await databases.facts(server, dbName)) as { marker: unknown }).toMatchObject({ marker: { runId: run.id } });

  // Shared back for good: the shard retired, its database kept (never dropped by the platform).
  const back = await finished(t.id, ((await (await share(t, { shard: s2.name })).json()) as DedicatedRun).id);
  expect(back).toMatchObject({ status: 'succeeded', keep: false });
  expect(back.steps.find((s) => s.id === 'free-shard')!.detail).toMatchObject({ status: 'retired', kept: false, database: { database: dbName, dropped: false } });
  expect(await shardRow(shardName)).toMatchObject({ status: 'retired', tenant_count: 0 });
  expect((await world.router.placementOf(t.id)).shard.kind).toBe('shared');
  expect((await inboxOf(t.id)).ids).toEqual([...seeded, ...load.written].sort());
  expect(await databases.facts(server, dbName)).toMatchObject({ exists: true });
  expect(await opsActions(shardName)).toEqual(expect.arrayContaining(['shard.register done', 'shard.activate done', 'shard.drain done', 'shard.retire done']));
});

it('undoes a dedicate whose move rolls back: its database dropped, its shard retired, the tenant whole on its source', async () => {
  const t = await tenant('dedicated rolled back');
  const seeded = await seedInbox(t, 20);
  const shardName = specShard();
  drill.failAt = 'initial-copy';
  const started = (await (await dedicate(t, { reuse: false, shard: shardName })).json()) as DedicatedRun;
  const run = await finished(t.id, started.id);
  expect(run).toMatchObject({ status: 'rolled-back', move: { status: 'rolled-back' }, error: expect.stringContaining('drill') });
  expect(run.steps.map((s) => [s.id, s.status])).toEqual([
    ['create-database', 'compensated'],
    ['register', 'compensated'],
    ['move', 'compensated'],
    ['await-move', 'failed'],
    ['finish', 'pending'],
  ]);
  expect(await databases.facts(server, defaultDedicatedDatabase(t.id))).toEqual({ exists: false });
  expect(await shardRow(shardName)).toMatchObject({ status: 'retired', tenant_count: 0 });
  expect(await inboxOf(t.id)).toEqual({ shard: s1.name, ids: seeded.sort() });
  expect(await opsActions(t.id)).toEqual(expect.arrayContaining(['tenant.dedicate started', 'tenant.dedicate rolled-back']));
  expect(await opsActions(defaultDedicatedDatabase(t.id))).toEqual(['dedicated.drop-database done']);
});

it('refuses bad input with a stable code, changing nothing', async () => {
  const t = await tenant('dedicated bad input');
  const unknown = newId();
  made.targets.push(unknown);
  expect(await code(await dedicate({ id: unknown }))).toEqual({ status: 404, code: 'not-found' });
  expect(await code(await dedicate(await tenant('dedicated basic', 'basic')))).toEqual({ status: 422, code: DedicatedProblems.NOT_ENTERPRISE });
  expect(await code(await dedicate(t, { reuse: true, host: 'db.example' }))).toMatchObject({ status: 400 });
  expect(await code(await dedicate(t, { database: 'Not-A-Name' }))).toMatchObject({ status: 400 });
  expect(await code(await dedicate(t, { extra: 1 }))).toMatchObject({ status: 400 });
  expect(await code(await share(t))).toEqual({ status: 409, code: DedicatedProblems.NOT_DEDICATED });

  // A database of that name the platform did not make for this tenant: another's, or nobody's.
  const foreign = `hotdash_spec_dedicated_${newId().replace(/-/g, '').slice(-12)}`;
  const adopted = `hotdash_spec_dedicated_${newId().replace(/-/g, '').slice(-12)}`;
  made.databases.push(foreign, adopted);
  const su = await world.connectSuperuser('postgres');
  try {
    await su.query(`create database ${foreign} owner ${world.config.db.owner.user}`);
    await su.query(`create database ${adopted} owner ${world.config.db.owner.user}`);
    await su.query(`comment on database ${adopted} is '${markerText({ tenantId: t.id, runId: newId() })}'`);
  } finally {
    await su.end();
  }
  expect(await code(await dedicate(t, { database: foreign }))).toEqual({ status: 409, code: DedicatedProblems.DATABASE_EXISTS });
  // One the platform made for this tenant before is adopted (the dry run says so).
  expect(((await (await dedicate(t, { database: adopted, dryRun: true })).json()) as DedicatedPlan).target).toMatchObject({ database: adopted, mode: 'adopt' });
  // Reuse insisted on, with no free dedicated shard of that name.
  expect(await code(await dedicate(t, { reuse: true, shard: 'no-such-dedicated-shard' }))).toEqual({ status: 409, code: DedicatedProblems.NO_FREE_SHARD });

  // A tenant being moved.
  const res = await call('POST', `/tenants/${t.id}/move`, { shard: s2.name });
  expect(res.status).toBe(202);
  const move = (await res.json()) as TenantMoveRun;
  expect(await code(await dedicate(t, { reuse: false }))).toEqual({ status: 409, code: MoveProblems.IN_PROGRESS });
  await waitFor('the move to finish', async () => ['succeeded', 'rolled-back', 'failed'].includes(((await (await call('GET', `/tenants/${t.id}/moves/${move.id}`)).json()) as TenantMoveRun).status), 120_000, 200);

  // Nothing was made, and every refusal is in ops_actions.
  expect(await shardRow(defaultDedicatedShard(t.id))).toBeUndefined();
  expect(await databases.facts(server, defaultDedicatedDatabase(t.id))).toEqual({ exists: false });
  expect(await opsActions(t.id)).toEqual(
    expect.arrayContaining([`tenant.share ${DedicatedProblems.NOT_DEDICATED}`, `tenant.dedicate ${DedicatedProblems.DATABASE_EXISTS}`, `tenant.dedicate ${MoveProblems.IN_PROGRESS}`]),
  );
});

it('completes two dedicate runs at once on an engine that works two jobs at a time: a run waiting for its move holds no worker', async () => {
  const pair = [await tenant('dedicated at once A'), await tenant('dedicated at once B')];
  const seeded = new Map<string, string[]>();
  for (const t of pair) seeded.set(t.id, (await seedInbox(t, 10)).sort());
  // The moves wait at their initial copy until both runs have started theirs: both runs are then
  // waiting for a move at the same time, with one move's job holding one of the two workers.
  let release!: () => void;
  drill.gate = new Promise<void>((r) => (release = r));
  let started: DedicatedRun[];
  try {
    started = await Promise.all(
      pair.map(async (t) => {
        const res = await dedicate(t, { reuse: false, shard: specShard() });
        expect(res.status).toBe(202);
        return (await res.json()) as DedicatedRun;
      }),
    );
    await waitFor(
      'both runs to have started their moves',
      async () => {
        const views = await Promise.all(pair.map(async (t, i) => (await (await call('GET', `/tenants/${t.id}/dedicated-runs/${started[i]!.id}`)).json()) as DedicatedRun));
        return views.every((v) => v.move !== null);
      },
      60_000,
      200,
    );
  } finally {
    drill.gate = undefined;
    release();
  }
  const runs = await Promise.all(pair.map((t, i) => finished(t.id, started[i]!.id)));
  expect(runs.map((r) => [r.status, r.move?.status])).toEqual([
    ['succeeded', 'succeeded'],
    ['succeeded', 'succeeded'],
  ]);
  // Waiting is no try: the await-move step ran once, however often it looked.
  expect(runs.map((r) => r.steps.find((s) => s.id === 'await-move')!.attempts)).toEqual([1, 1]);
  for (const [i, t] of pair.entries()) {
    expect(await inboxOf(t.id)).toEqual({ shard: started[i]!.target.shard, ids: seeded.get(t.id) });
    expect(await shardRow(started[i]!.target.shard)).toMatchObject({ kind: 'dedicated', status: 'active', tenant_count: 1 });
  }
});
