// Regions (issue 14, item 8) through provisioning's API, against the real control plane, a scratch
// shard registered in a scratch region and the bootstrap shards (region `local`): a sign-up in a
// region is placed on that region's shard and its tenant record says so; a region no active shard
// serves is refused at sign-up with a stable code, before any saga starts, and by the placement
// policy itself, as is a shared sign-up in a region only dedicated shards serve and a dedicated one
// in a region without a free dedicated shard; the control plane refuses a placement outside the tenant's region whatever code
// tries it; a move to another region is refused without allowRegionChange and, forced, moves the
// tenant's data and its region together (ops action and audit entries record it).
//
// Needs a server running with wal_level=logical (deploy/local/infra.sh starts it so).
import { INestApplication, Module } from '@nestjs/common';
import { MoveProblems, parseTenantId, SignUpProblems, type TenantMovePlan, type TenantMoveRun, type TenantRecord } from '@hotdash/contracts';
import { ControlTransaction, DatabaseModule, newId, type ShardInfo } from '@hotdash/platform-db';
import { createHttpApp } from '@hotdash/platform-http';
import { NonRetryableStepError, SagaEngine } from '@hotdash/platform-jobs';
import { VectorStore } from '@hotdash/platform-vector';
import { createEmptyShardDatabase, dropScratchShards, internalAuthorization, opsCaller, TestWorld, waitFor } from '@hotdash/testing';
import { ProvisioningModule } from './provisioning.module';
import { pickShard, PROVISIONING_SAGA } from './saga/provisioning.saga';
import type { SagaProgressView } from './tenants.controller';
import type { SignUpAccepted } from './use-cases/create-tenant/create-tenant.handler';

jest.setTimeout(120_000);

@Module({ imports: [DatabaseModule.forRoot(), ProvisioningModule] })
class TestAppModule {}

const world = new TestWorld();
const run = newId().replace(/-/g, '').slice(-10);
const operator = `regions-${run}`;
const actor = `ops:${operator}`;
const region = `spec-rg-${run}`;
const shardName = `spec-rg-${run}`;
const database = `hotdash_spec_rg_${run}`;
const consumer = `regions-spec-${run}`;
/** Tenants placed on the scratch shard (removed in afterAll, with their keys, so the shard can go). */
const placed: string[] = [];
let app: INestApplication;
let base: string;
let local: ShardInfo;

const call = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
  fetch(`${base}${path}`, {
    method,
    headers: { 'content-type': 'application/json', authorization: await internalAuthorization('provisioning', opsCaller(operator)), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
const problem = async (res: Response) => ({ status: res.status, code: ((await res.json()) as { code?: string }).code });
const tenantRecord = async (id: string) => (await (await call('GET', `/tenants/${id}`)).json()) as TenantRecord;

beforeAll(async () => {
  local = (await world.shards())[0]!;
  await createEmptyShardDatabase(world, database);
  app = await createHttpApp(TestAppModule, { logger: false });
  app.get(SagaEngine).startWorker();
  await app.listen(0, '127.0.0.1');
  base = `http://127.0.0.1:${app.getHttpServer().address().port}`;
  const registered = await call('POST', '/shards', { name: shardName, host: world.config.db.controlHost, port: world.config.db.controlPort, database, kind: 'shared', region });
  expect(registered.status).toBe(201);
});

afterAll(async () => {
  const vectors = app?.get(VectorStore);
  for (const id of placed) await vectors?.deleteTenant(parseTenantId(id)).catch(() => undefined);
  await app?.close();
  // The fence the forced move left on its source (the bootstrap shard).
  const source = await world.connect(local, 'owner');
  try {
    for (const id of placed) {
      await source.query(`select set_config('app.tenant_id', $1, false)`, [id]);
      await source.query('delete from tenant_fences where tenant_id = $1', [id]);
    }
  } finally {
    await source.end();
  }
  const owner = await world.connect(world.dbs.controlLocation, 'owner');
  try {
    await owner.query(`delete from sagas where tenant_id = any($1) and type in ($2, 'tenant-move')`, [placed, PROVISIONING_SAGA]);
    await owner.query('delete from tenant_placements where tenant_id = any($1)', [placed]);
    await owner.query('delete from tenant_keys where tenant_id = any($1)', [placed]);
    await owner.query('delete from tenants where id = any($1)', [placed]);
    await owner.query('delete from ops_actions where actor = $1', [actor]);
  } finally {
    await owner.end();
  }
  await dropScratchShards(world, [shardName], [database]);
  await world.close();
});

it('places a sign-up in its region on a shard of that region, and its record says where its data lives', async () => {
  const res = await call('POST', '/tenants', { name: 'Residency GmbH', plan: 'basic', admin: { email: 'ada@residency.test' }, region });
  expect(res.status).toBe(202);
  const accepted = (await res.json()) as SignUpAccepted;
  placed.push(accepted.tenantId);
  const view = await waitFor(
    `tenant ${accepted.tenantId} to be provisioned`,
    async () => {
      const v = (await (await call('GET', `/tenants/${accepted.tenantId}/provisioning`)).json()) as SagaProgressView;
      return ['provisioned', 'compensated', 'failed'].includes(v.status) ? v : undefined;
    },
    60_000,
    100,
  );
  expect(view.status).toBe('provisioned');
  expect(await tenantRecord(accepted.tenantId)).toMatchObject({ status: 'active', shard: shardName, region });
  // The sign-up's events say so too.
  const started = await world.dbs
    .controlDb()
    .selectFrom('outbox')
    .select('envelope')
    .where('tenant_id', '=', accepted.tenantId)
    .where('type', 'in', ['tenant.provisioning.started', 'tenant.created'])
    .execute();
  expect(started.map((r) => (r.envelope as { payload: { region?: string } }).payload.region)).toEqual([region, region]);
});

it('refuses a sign-up in a region no active shard serves with 422 region-unknown, before any saga starts', async () => {
  const key = `regions-${run}`;
  const slug = `nowhere-${run}`;
  const res = await call('POST', '/tenants', { name: 'Nowhere Ltd', slug, plan: 'basic', admin: { email: 'ada@nowhere.test' }, region: `nowhere-${run}` }, { 'idempotency-key': key });
  expect(await problem(res)).toEqual({ status: 422, code: SignUpProblems.REGION_UNKNOWN });
  expect(await app.get(SagaEngine).byIdempotencyKey(PROVISIONING_SAGA, `${actor}:${key}`)).toBeUndefined();
  expect(await world.dbs.controlDb().selectFrom('tenants').select('id').where('slug', '=', slug).executeTakeFirst()).toBeUndefined();
  // A region that is not one is a 400 like any bad field.
  expect((await call('POST', '/tenants', { name: 'Bad', plan: 'basic', admin: { email: 'ada@bad.test' }, region: 'EU West' })).status).toBe(400);
});

it('refuses a shared sign-up in a region only dedicated shards serve, and a dedicated one in a region without a free dedicated shard (422 region-unknown), before any saga starts', async () => {
  // A region with one active dedicated shard (a row of its own, never placed on: removed below), and the spec's region with its shared shard only.
  const dedicatedOnly = `spec-rgd-${run}`;
  const id = newId();
  const owner = await world.connect(world.dbs.controlLocation, 'owner');
  const refused = async (body: Record<string, unknown>, key: string) => {
    const res = await call('POST', '/tenants', { name: 'Misplaced Ltd', plan: 'enterprise', admin: { email: 'ada@misplaced.test' }, ...body }, { 'idempotency-key': key });
    const answer = { ...(await problem(res)), saga: await app.get(SagaEngine).byIdempotencyKey(PROVISIONING_SAGA, `${actor}:${key}`) };
    // A sign-up this spec did not mean to start: gone again (its tenant with it) before the shard row goes.
    if (answer.saga) placed.push(((await app.get(SagaEngine).status(answer.saga))!.input as { tenantId: string }).tenantId);
    return answer;
  };
  try {
    await owner.query(`insert into shards (id, name, host, port, database, kind, status, region) values ($1, $2, '127.0.0.1', 1, $3, 'dedicated', 'active', $4)`, [
      id,
      `spec-rgd-${run}`,
      `nowhere_d_${run}`,
      dedicatedOnly,
    ]);
    expect(await refused({ region: dedicatedOnly }, `regions-shared-${run}`)).toEqual({ status: 422, code: SignUpProblems.REGION_UNKNOWN, saga: undefined });
    expect(await refused({ region, dedicatedShard: true }, `regions-dedicated-${run}`)).toEqual({ status: 422, code: SignUpProblems.REGION_UNKNOWN, saga: undefined });
  } finally {
    await owner.query('delete from shards where id = $1', [id]);
    await owner.end();
  }
});

it('has the placement policy choose within the region only, and refuse a region without a shard (NonRetryableStepError region-unknown)', async () => {
  const owner = await world.connect(world.dbs.controlLocation, 'owner');
  const tx = new ControlTransaction(owner as unknown as ConstructorParameters<typeof ControlTransaction>[0]);
  try {
    await owner.query('begin');
    // However full the region's shard and empty the others, a tenant of the region goes there.
    await owner.query(`update shards set tenant_count = case when name = $1 then 1000000 else 0 end where kind = 'shared'`, [shardName]);
    expect((await pickShard(tx, false, region)).name).toBe(shardName);
    expect((await pickShard(tx, false, 'local')).name).not.toBe(shardName);
    const refusal = await pickShard(tx, false, `nowhere-${run}`).catch((e: unknown) => e);
    expect(refusal).toBeInstanceOf(NonRetryableStepError);
    expect(refusal).toMatchObject({ code: SignUpProblems.REGION_UNKNOWN, message: expect.stringMatching(/no active shared shard is registered in region nowhere-/) });
  } finally {
    await owner.query('rollback');
    await owner.end();
  }
});

it('refuses, in the control plane itself, a placement or a region that would put a tenant outside its region', async () => {
  const t = await world.createTenant('residency guard', local);
  expect((await tenantRecord(t.id)).region).toBe('local');
  const scratch = await world.dbs.controlDb().selectFrom('shards').select('id').where('name', '=', shardName).executeTakeFirstOrThrow();
  const control = world.dbs.control();
  await expect(control.tenantPlacement.update({ where: { tenantId: t.id }, data: { shardId: scratch.id } })).rejects.toThrow(/is in region local but would be placed on shard .* of region spec-rg-/);
  await expect(control.tenant.update({ where: { id: t.id }, data: { region } })).rejects.toThrow(/a tenant's data stays in its region/);
  // Both in one transaction: what a forced move does at its cut-over.
  await control.$transaction([control.tenantPlacement.update({ where: { tenantId: t.id }, data: { shardId: scratch.id } }), control.tenant.update({ where: { id: t.id }, data: { region } })]);
  placed.push(t.id);
  expect(await tenantRecord(t.id)).toMatchObject({ shard: shardName, region });
});

it('refuses a move to another region without allowRegionChange; forced, moves the data and the region together, and records it', async () => {
  const t = await world.createTenant('moving abroad', local);
  const seeded = await world.tenantDb.withTenant(t.id, async (tx) => {
    const ids: string[] = [];
    for (let i = 0; i < 20; i++) ids.push((await tx.db.insertInto('inbox').values({ tenant_id: t.id, consumer, event_id: newId() }).returning('event_id').executeTakeFirstOrThrow()).event_id);
    return ids.sort();
  });

  expect(await problem(await call('POST', `/tenants/${t.id}/move`, { shard: shardName }))).toEqual({ status: 422, code: MoveProblems.SHARD_OTHER_REGION });
  expect(await problem(await call('POST', `/tenants/${t.id}/move`, { shard: shardName, allowRegionChange: 'yes' }))).toMatchObject({ status: 400 });
  const dry = await call('POST', `/tenants/${t.id}/move`, { shard: shardName, dryRun: true, allowRegionChange: true });
  expect(dry.status).toBe(200);
  expect((await dry.json()) as TenantMovePlan).toMatchObject({ dryRun: true, source: local.name, target: shardName, regionChange: { from: 'local', to: region } });
  expect(await tenantRecord(t.id)).toMatchObject({ shard: local.name, region: 'local' });

  const res = await call('POST', `/tenants/${t.id}/move`, { shard: shardName, allowRegionChange: true });
  expect(res.status).toBe(202);
  placed.push(t.id);
  const started = (await res.json()) as TenantMoveRun;
  expect(started).toMatchObject({ regionChange: { from: 'local', to: region }, actor });
  const finished = await waitFor(
    `move ${started.id} to finish`,
    async () => {
      const r = (await (await call('GET', `/tenants/${t.id}/moves/${started.id}`)).json()) as TenantMoveRun;
      return ['succeeded', 'rolled-back', 'failed'].includes(r.status) ? r : undefined;
    },
    90_000,
    100,
  );
  expect(finished).toMatchObject({ status: 'succeeded', regionChange: { from: 'local', to: region } });
  expect(await tenantRecord(t.id)).toMatchObject({ shard: shardName, region });

  // Every row came along; the ops action and the tenant's audit entries (in its outbox, on its new shard) say what happened.
  const after = await world.tenantDb.withTenant(t.id, async (tx, shard) => ({
    shard: shard.name,
    inbox: (await tx.db.selectFrom('inbox').select('event_id').where('consumer', '=', consumer).execute()).map((r) => r.event_id).sort(),
    audit: (await tx.db.selectFrom('outbox').select('envelope').where('type', '=', 'access.recorded').execute()).map((r) => (r.envelope as { payload: { resourceType: string; resourceId: string; actor: string } }).payload),
  }));
  expect(after.shard).toBe(shardName);
  expect(after.inbox).toEqual(seeded);
  expect(after.audit).toEqual(
    expect.arrayContaining([
      expect.objectContaining({ resourceType: 'tenant-move', resourceId: started.id, actor }),
      expect.objectContaining({ resourceType: 'tenant-region', resourceId: region, actor }),
    ]),
  );
  const action = await world.dbs.controlDb().selectFrom('ops_actions').select(['action', 'outcome', 'detail']).where('actor', '=', actor).where('target', '=', t.id).executeTakeFirstOrThrow();
  expect(action).toEqual({ action: 'tenant.move', outcome: 'started', detail: expect.objectContaining({ run: started.id, from: local.name, to: shardName, regionChange: { from: 'local', to: region } }) });
});
