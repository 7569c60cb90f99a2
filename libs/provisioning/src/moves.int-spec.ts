// Live tenant moves through provisioning's ops API (POST /tenants/{id}/move, GET
// /tenants/{id}/moves/{run}) and the tenant-move saga, against the real control plane and shards:
// a tenant moved while it writes and reads (nothing fails, every write on the target, the placement
// version bumped and followed); bad input refused with a stable code and nothing changed; a move
// failing before its decision rolled back (the tenant whole on its source); a step failing after it
// retried until the move finishes; a second move of a tenant already moving refused (409). The
// move's ops action is written in the transaction that starts it. Every tenant, saga and replication
// object the spec made is removed.
//
// Needs a server running with wal_level=logical (deploy/local/infra.sh starts it so).
import { Global, INestApplication, Module } from '@nestjs/common';
import { Queue } from 'bullmq';
import { sql } from 'kysely';
import { MoveProblems, parseTenantId, type TenantMovePlan, type TenantMoveRun } from '@hotdash/contracts';
import { DatabaseModule, newId, TenantMover, type ShardInfo } from '@hotdash/platform-db';
import { createHttpApp } from '@hotdash/platform-http';
import { NonRetryableStepError, SagaEngine } from '@hotdash/platform-jobs';
import { dropMoveReplication, internalAuthorization, opsCaller, TestWorld, waitFor, WorldTenant } from '@hotdash/testing';
import { TENANT_MOVE_CHECKPOINT } from './moves/tenant-move.saga';
import { ProvisioningModule } from './provisioning.module';
import { PROVISIONING_SAGA_QUEUE } from './provisioning.tokens';

jest.setTimeout(180_000);

/** The saga's test seam: a spec sets `failAt` to make a step fail at a named point. */
const drill: { failAt?: string; retryable?: boolean; hits: string[] } = { hits: [] };

/** The saga engine's own queue: another process working the default queue never takes this spec's moves (and so never misses its drills). */
const queue = `hotdash-moves-spec-${newId().slice(-12)}`;

@Global()
@Module({
  providers: [
    { provide: TENANT_MOVE_CHECKPOINT, useValue: (point: string) => checkpoint(point) },
    { provide: PROVISIONING_SAGA_QUEUE, useValue: queue },
  ],
  exports: [TENANT_MOVE_CHECKPOINT, PROVISIONING_SAGA_QUEUE],
})
class DrillModule {}

function checkpoint(point: string): void {
  drill.hits.push(point);
  if (drill.failAt !== point) return;
  drill.failAt = undefined;
  if (drill.retryable) throw new Error(`drill: ${point} failed once`);
  throw new NonRetryableStepError(`drill: ${point} failed`, 'drill');
}

@Module({ imports: [DatabaseModule.forRoot(), DrillModule, ProvisioningModule] })
class TestAppModule {}

const world = new TestWorld();
const mover = new TenantMover(world.config);
const consumer = `moves-spec-${newId()}`;
let app: INestApplication;
let base: string;
let s1: ShardInfo;
let s2: ShardInfo;
/** The spec's tenants, removed in afterAll. */
const made: WorldTenant[] = [];
const tenant = async (name: string) => {
  const t = await world.createTenant(name, s1);
  made.push(t);
  return t;
};

beforeAll(async () => {
  const shards = await world.shards();
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
    const ids = made.map((t) => t.id);
    const moveIds = (await world.dbs.controlDb().selectFrom('sagas').select('id').where('type', '=', 'tenant-move').where('tenant_id', 'in', ids.length ? ids : [newId()]).execute()).map((r) => r.id);
    await dropMoveReplication(world, moveIds, [s1.database, s2.database]);
    // Each tenant's rows wherever it is, and the fences its moves left on the two shards.
    for (const t of made) {
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
      await owner.query(`delete from sagas where tenant_id = any($1) and type = 'tenant-move'`, [ids]);
      await owner.query('delete from tenant_placements where tenant_id = any($1)', [ids]);
      await owner.query('delete from tenants where id = any($1)', [ids]);
      await owner.query('delete from ops_actions where target = any($1)', [ids]);
    } finally {
      await owner.end();
    }
    const q = new Queue(queue, { connection: { host: world.config.redis.host, port: world.config.redis.port } });
    await q.obliterate({ force: true }).catch(() => undefined);
    await q.close();
  } finally {
    await world.close();
  }
});

// As the gateway calls provisioning for platform operator carol (actor ops:carol).
const call = async (method: string, path: string, body?: unknown) =>
  fetch(`${base}${path}`, {
    method,
    headers: { 'content-type': 'application/json', authorization: await internalAuthorization('provisioning', opsCaller('carol')) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });

const startMove = async (tenantId: string, shard: string, extra: Record<string, unknown> = {}) => call('POST', `/tenants/${tenantId}/move`, { shard, ...extra });

async function finished(tenantId: string, runId: string): Promise<TenantMoveRun> {
  return waitFor(
    `move ${runId} to finish`,
    async () => {
      const run = (await (await call('GET', `/tenants/${tenantId}/moves/${runId}`)).json()) as TenantMoveRun;
      return ['succeeded', 'rolled-back', 'failed'].includes(run.status) ? run : undefined;
    },
    150_000,
    100,
  );
}

const inboxOf = (tenantId: string) =>
  world.tenantDb.withTenant(parseTenantId(tenantId), (tx, shard) => tx.db.selectFrom('inbox').select('event_id').where('consumer', '=', consumer).execute().then((r) => ({ shard: shard.name, ids: r.map((x) => x.event_id).sort() })));
const seedInbox = (tenant: WorldTenant, n: number) =>
  world.tenantDb.withTenant(tenant.id, async (tx) => {
    const ids: string[] = [];
    for (let i = 0; i < n; i++) ids.push((await tx.db.insertInto('inbox').values({ tenant_id: tenant.id, consumer, event_id: newId() }).returning('event_id').executeTakeFirstOrThrow()).event_id);
    return ids;
  });

it('moves a tenant while it writes and reads, step by step, and every router follows', async () => {
  const t = await tenant('move T');
  const seeded = await seedInbox(t, 200);
  let running = true;
  const written: string[] = [];
  const failures: string[] = [];
  const load = (async () => {
    while (running) {
      try {
        written.push(...(await seedInbox(t, 1)));
        await inboxOf(t.id);
      } catch (err) {
        failures.push((err as Error).message);
      }
    }
  })();
  let run: TenantMoveRun;
  try {
    const res = await startMove(t.id, s2.name);
    expect(res.status).toBe(202);
    const started = (await res.json()) as TenantMoveRun;
    expect(started).toMatchObject({ tenantId: t.id, source: s1.name, target: s2.name, status: 'running', fromVersion: 1, actor: 'ops:carol', decided: false });
    run = await finished(t.id, started.id);
  } finally {
    running = false;
    await load;
  }
  expect(run).toMatchObject({ status: 'succeeded', phase: null, decided: true, error: null });
  expect(run.steps.map((s) => [s.id, s.status])).toEqual(
    ['fence-target', 'publish', 'slot', 'subscribe', 'initial-copy', 'catch-up', 'cut-over', 'drop-replication', 'post-verify', 'cleanup-source', 'finish'].map((id) => [id, 'completed']),
  );
  const cut = run.steps.find((s) => s.id === 'cut-over')!.detail as { pauseMs: number; placementVersion: number };
  expect(cut.placementVersion).toBe(2);
  expect(cut.pauseMs).toBeGreaterThan(0);
  expect(run.steps.find((s) => s.id === 'post-verify')!.detail).toMatchObject({ tables: expect.any(Number), rows: expect.any(Number) });
  expect(failures).toEqual([]);
  expect(await inboxOf(t.id)).toEqual({ shard: s2.name, ids: [...seeded, ...written].sort() });
  expect(await mover.tenantRowsOn(s1, t.id)).toEqual([]);
  expect((await world.router.placementOf(t.id)).version).toBe(2);
  // Its ops action was written in the transaction that started it: the same now() as the saga's creation.
  const recorded = await sql<{ same: boolean }>`select a.at = s.created_at as same from ops_actions a join sagas s on s.id = (a.detail->>'run')::uuid
    where a.action = 'tenant.move' and a.outcome = 'started' and a.target = ${t.id}`.execute(world.dbs.controlDb());
  expect(recorded.rows).toEqual([{ same: true }]);
});

it('refuses bad input with a stable code, changing nothing', async () => {
  const t = await tenant('move bad input');
  const code = async (res: Response) => ({ status: res.status, code: ((await res.json()) as { code?: string }).code });
  expect(await code(await startMove(newId(), s2.name))).toEqual({ status: 404, code: 'not-found' });
  expect(await code(await startMove(t.id, 'no-such-shard'))).toEqual({ status: 404, code: MoveProblems.SHARD_NOT_FOUND });
  expect(await code(await startMove(t.id, s1.name))).toEqual({ status: 409, code: MoveProblems.SAME_SHARD });
  expect(await code(await startMove(t.id, 'Not A Name'))).toMatchObject({ status: 400 });
  expect(await code(await call('POST', `/tenants/${t.id}/move`, { shard: s2.name, extra: 1 }))).toMatchObject({ status: 400 });

  // Draining, retired and foreign-region shards (rows of their own, never placed on: removed below).
  const owner = await world.connect(world.dbs.controlLocation, 'owner');
  const made: string[] = [];
  try {
    for (const [name, status, region] of [['move-spec-draining', 'draining', 'local'], ['move-spec-retired', 'retired', 'local'], ['move-spec-abroad', 'active', 'eu-west-9']] as const) {
      const id = newId();
      await owner.query(`insert into shards (id, name, host, port, database, kind, status, region) values ($1, $2, '127.0.0.1', $3, $4, 'shared', $5, $6)`, [id, `${name}-${id.slice(-6)}`, s1.port, `nowhere_${id.slice(-12).replace(/-/g, '')}`, status, region]);
      made.push(id);
    }
    const names = (await owner.query<{ name: string }>('select name from shards where id = any($1) order by name', [made])).rows.map((r) => r.name);
    const byKind = (k: string) => names.find((n) => n.startsWith(`move-spec-${k}`))!;
    expect(await code(await startMove(t.id, byKind('draining')))).toEqual({ status: 409, code: MoveProblems.SHARD_NOT_ACTIVE });
    expect(await code(await startMove(t.id, byKind('retired')))).toEqual({ status: 409, code: MoveProblems.SHARD_NOT_ACTIVE });
    expect(await code(await startMove(t.id, byKind('abroad')))).toEqual({ status: 422, code: MoveProblems.SHARD_OTHER_REGION });
  } finally {
    await owner.query('delete from shards where id = any($1)', [made]);
    await owner.end();
  }

  // An unmigrated target: an active shard of the region whose database lacks the migrations.
  const empty = `hotdash_move_spec_${newId().replace(/-/g, '').slice(-12)}`;
  const su = await world.connectSuperuser('postgres');
  await su.query(`create database ${empty} owner ${world.config.db.owner.user}`);
  await su.end();
  const owner2 = await world.connect(world.dbs.controlLocation, 'owner');
  const bare = newId();
  try {
    await owner2.query(`insert into shards (id, name, host, port, database, kind, status, region) values ($1, $2, $3, $4, $5, 'shared', 'active', 'local')`, [bare, `move-spec-bare-${bare.slice(-6)}`, s1.host, s1.port, empty]);
    expect(await code(await startMove(t.id, `move-spec-bare-${bare.slice(-6)}`))).toEqual({ status: 409, code: MoveProblems.SCHEMA_DIFFERS });
  } finally {
    await owner2.query('delete from shards where id = $1', [bare]);
    await owner2.end();
    await world.dropScratchDatabase(empty);
  }

  // A tenant that is not active or suspended.
  const gone = await tenant('move offboarded');
  await world.dbs.controlDb().updateTable('tenants').set({ status: 'offboarded' }).where('id', '=', gone.id).execute();
  expect(await code(await startMove(gone.id, s2.name))).toEqual({ status: 409, code: MoveProblems.INVALID_TENANT_STATUS });

  // A target holding rows of the tenant.
  await world.tenantDb.withTenantOnShard(s2, t.id, (tx) => tx.db.insertInto('inbox').values({ tenant_id: t.id, consumer, event_id: newId() }).execute());
  expect(await code(await startMove(t.id, s2.name))).toEqual({ status: 409, code: MoveProblems.TARGET_HOLDS_ROWS });
  await world.tenantDb.withTenantOnShard(s2, t.id, (tx) => tx.db.deleteFrom('inbox').where('consumer', '=', consumer).execute());

  // Nothing was started, and the dry run says what would happen.
  expect((await world.router.placementOf(t.id)).shard.id).toBe(s1.id);
  const plan = await startMove(t.id, s2.name, { dryRun: true });
  expect(plan.status).toBe(200);
  expect((await plan.json()) as TenantMovePlan).toMatchObject({ dryRun: true, tenantId: t.id, source: s1.name, target: s2.name, fromVersion: 1, steps: expect.arrayContaining([expect.objectContaining({ id: 'cut-over' })]) });
  expect(await mover.tenantRowsOn(s2, t.id)).toEqual([]);
  // Another tenant's run is not found.
  expect((await call('GET', `/tenants/${t.id}/moves/${newId()}`)).status).toBe(404);
});

it('refuses a second move of a tenant already moving (409), and the first goes on', async () => {
  const t = await tenant('move twice');
  await seedInbox(t, 20);
  const first = (await (await startMove(t.id, s2.name)).json()) as TenantMoveRun;
  const second = await startMove(t.id, s2.name);
  expect(second.status).toBe(409);
  expect(((await second.json()) as { code: string; detail: string })).toMatchObject({ code: MoveProblems.IN_PROGRESS, detail: expect.stringContaining(first.id) });
  expect((await finished(t.id, first.id)).status).toBe('succeeded');
});

it('rolls a move back when a step fails before the decision: the tenant whole on its source, nothing left of the move', async () => {
  const t = await tenant('move rolled back');
  const seeded = await seedInbox(t, 50);
  drill.failAt = 'catch-up';
  drill.retryable = false;
  const started = (await (await startMove(t.id, s2.name)).json()) as TenantMoveRun;
  const run = await finished(t.id, started.id);
  expect(run).toMatchObject({ status: 'rolled-back', decided: false, error: expect.stringContaining('drill') });
  expect(run.steps.filter((s) => s.status === 'compensated').map((s) => s.id)).toEqual(['fence-target', 'publish', 'slot', 'subscribe']);
  expect(await inboxOf(t.id)).toEqual({ shard: s1.name, ids: [...seeded].sort() });
  expect(await mover.tenantRowsOn(s2, t.id)).toEqual([]);
  expect((await world.router.placementOf(t.id)).version).toBe(1);
  // It can be moved again afterwards.
  const again = (await (await startMove(t.id, s2.name)).json()) as TenantMoveRun;
  expect((await finished(t.id, again.id)).status).toBe('succeeded');
});

it('retries a step that fails after the decision until the move finishes (it only goes forward)', async () => {
  const t = await tenant('move forward');
  const seeded = await seedInbox(t, 30);
  drill.failAt = 'cleanup-source';
  drill.retryable = true;
  const started = (await (await startMove(t.id, s2.name)).json()) as TenantMoveRun;
  const run = await finished(t.id, started.id);
  expect(run.status).toBe('succeeded');
  expect(run.steps.find((s) => s.id === 'cleanup-source')!.attempts).toBe(2);
  expect(await inboxOf(t.id)).toEqual({ shard: s2.name, ids: [...seeded].sort() });
  expect(await mover.tenantRowsOn(s1, t.id)).toEqual([]);
});
