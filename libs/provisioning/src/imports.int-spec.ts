// Pilot imports through provisioning's ops API (POST /imports, GET /imports/{id}) and the
// pilot-import saga, against the real control plane, shards and Weaviate, for what the end-to-end
// spec (e2e/ops-pilot-import.e2e-spec.ts) does not show: the pilot's import role missing (422
// pilot-credentials-missing), refused by the pilot (422 pilot-auth-failed) or short of a privilege
// (422 pilot-privilege-missing, naming it and the SQL that grants it), nothing changed; a pilot whose
// control events still wait for its relay is refused (409 pilot-busy, nothing changed); an import
// failing before its cut-over is rolled back whole (no tenant, key, placement, rows or namespace left
// on the platform; no replication left on the pilot, which serves its tenant as before), is an ops
// action, and its record keeps the import role's password sealed while it runs and nothing of it
// after; a sign-up taking the tenant's slug while the import is accepted makes it 409
// import-tenant-exists (the unique constraint decides), nothing of the import left.
//
// The import role is made as docs/pilot.md says (LOGIN REPLICATION, a member of the owner role of
// the pilot's tables), with a password of its own; the platform is given only that.
//
// The pilot here: its own control database and shard (migrated with the project's runner), its own
// master key, its tenant provisioned by the platform's provisioning saga on the pilot's configuration;
// its knowledge in a collection of its own on the local Weaviate (the end-to-end spec gives the pilot
// a Weaviate server of its own). Needs PostgreSQL with wal_level=logical.
import { randomBytes } from 'node:crypto';
import { Global, INestApplication, Module } from '@nestjs/common';
import { Queue } from 'bullmq';
import { parseTenantId, type ImportRun, type TenantId } from '@hotdash/contracts';
import type { PlatformConfig } from '@hotdash/platform-config';
import { FieldCipher, LocalKms, parseMasterKeys, TenantKeyring } from '@hotdash/platform-crypto';
import { ControlDatabase, Databases, DatabaseModule, newId, ShardRouter, TenantDatabase, TenantMover, type ShardInfo } from '@hotdash/platform-db';
import { migrateAll } from '@hotdash/platform-db/src/migrate/migrate-all';
import { createHttpApp } from '@hotdash/platform-http';
import { NonRetryableStepError, SagaEngine } from '@hotdash/platform-jobs';
import { OutboxRelay, type KafkaProducerPort } from '@hotdash/platform-messaging';
import { WeaviateVectorStore } from '@hotdash/platform-vector';
import { createEmptyShardDatabase, internalAuthorization, opsCaller, TestWorld, waitFor } from '@hotdash/testing';
import { TENANT_AUDIT_CHAIN } from './backups/tenant-audit-chain';
import { TENANT_MOVE_CHECKPOINT } from './moves/tenant-move.saga';
import { ProvisioningModule } from './provisioning.module';
import { PROVISIONING_SAGA_QUEUE } from './provisioning.tokens';
import { provisioningSaga } from './saga/provisioning.saga';
import { startProvisioning } from './saga/start-provisioning';
import { PILOT_CONTROL_READS } from './imports/pilot-access';

jest.setTimeout(120_000);

const drill: { failAt?: string } = {};
/** The platform engine's queue of this spec (before the module below, which names it). */
const PLATFORM_QUEUE = `hotdash-imports-spec-${newId().slice(-12)}`;

@Global()
@Module({
  providers: [
    {
      provide: TENANT_MOVE_CHECKPOINT,
      useValue: (point: string) => {
        if (drill.failAt !== point) return;
        drill.failAt = undefined;
        throw new NonRetryableStepError(`drill: ${point} failed`, 'drill');
      },
    },
    // The chain is verified after the cut-over only; an import that never gets there needs none, but
    // one must be bound for the import to be accepted (the provisioning app binds the audit library's).
    { provide: TENANT_AUDIT_CHAIN, useValue: { lock: async () => undefined, verify: async () => ({ ok: true, checked: 0 }) } },
    // The engine's own queue: a provisioning process or spec running at the same time never takes this
    // spec's import steps (its worker has no drill, and would carry the import past the point it fails).
    { provide: PROVISIONING_SAGA_QUEUE, useValue: PLATFORM_QUEUE },
  ],
  exports: [TENANT_MOVE_CHECKPOINT, TENANT_AUDIT_CHAIN, PROVISIONING_SAGA_QUEUE],
})
class DrillModule {}

@Module({ imports: [DatabaseModule.forRoot(), DrillModule, ProvisioningModule] })
class TestAppModule {}

const world = new TestWorld();
const mover = new TenantMover(world.config);
const platformVectors = WeaviateVectorStore.fromConfig(world.config);
const label = newId().replace(/-/g, '').slice(-10);
const CONTROL_DB = `hotdash_spec_pilot_control_${label}`;
const SHARD_DB = `hotdash_spec_pilot_shard_${label}`;
const COLLECTION = `PilotSpec${label}`;
const PILOT_KEYS = `pilot-k1:${randomBytes(32).toString('base64')}`;
const PILOT_QUEUE = `pilot-import-int-spec-${label}`;
const TARGET = 'shard-2';
/** The pilot's import role (docs/pilot.md), and one made without its privileges. */
const IMPORT_ROLE = { user: `hotdash_spec_import_${label}`, password: `import-${randomBytes(18).toString('base64url')}` };
const WEAK_ROLE = { user: `hotdash_spec_weak_${label}`, password: `weak-${randomBytes(18).toString('base64url')}` };

let app: INestApplication;
let base: string;
let pilot: { dbs: Databases; tenantDb: TenantDatabase; engine: SagaEngine; vectors: WeaviateVectorStore; shard: ShardInfo } | undefined;
let tenantId: TenantId | undefined;
const importIds: string[] = [];

const call = async (method: string, path: string, body?: unknown) =>
  fetch(`${base}${path}`, {
    method,
    headers: { 'content-type': 'application/json', authorization: await internalAuthorization('provisioning', opsCaller('carol')) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });

/** The pilot's relay publishes its waiting control events (a recording producer stands in for the pilot's Kafka); again: nothing to do. */
async function runPilotRelay(): Promise<void> {
  const producer: KafkaProducerPort = { send: async () => undefined, close: async () => undefined };
  const relay = new OutboxRelay(pilot!.dbs, pilot!.dbs.controlLocation, producer);
  while ((await relay.drainOnce()) > 0);
}

const importBody = (credentials: { user: string; password: string } | null = IMPORT_ROLE) => ({
  pilot: {
    control: { host: world.config.db.controlHost, port: world.config.db.controlPort, database: CONTROL_DB },
    weaviate: { url: world.config.weaviate.url, grpcPort: world.config.weaviate.grpcPort, collection: COLLECTION },
    ...(credentials ? { credentials } : {}),
    kmsMasterKeys: PILOT_KEYS,
  },
  shard: TARGET,
});

/** The import's saga row, its steps and the ops actions of this spec, as the owner reads them: JSON text to search. */
async function importRecords(importId: string): Promise<{ text: string; input: Record<string, unknown> }> {
  const owner = await world.connect(world.dbs.controlLocation, 'owner');
  try {
    const saga = (await owner.query('select * from sagas where id = $1', [importId])).rows[0] as { input: Record<string, unknown> };
    const steps = (await owner.query('select * from saga_steps where saga_id = $1', [importId])).rows;
    const actions = (await owner.query(`select * from ops_actions where actor = 'ops:carol'`)).rows;
    return { text: JSON.stringify([saga, steps, actions]), input: saga.input };
  } finally {
    await owner.end();
  }
}

beforeAll(async () => {
  const su = await world.connectSuperuser(world.config.db.controlDatabase);
  try {
    const { rows } = await su.query<{ w: string }>(`select current_setting('wal_level') as w`);
    if (rows[0]!.w !== 'logical') throw new Error(`this spec needs PostgreSQL with wal_level=logical (deploy/local/infra.sh starts it so), the server runs with ${rows[0]!.w}`);
  } finally {
    await su.end();
  }
  app = await createHttpApp(TestAppModule, { logger: false });
  app.get(SagaEngine).startWorker();
  await app.listen(0, '127.0.0.1');
  base = `http://127.0.0.1:${app.getHttpServer().address().port}`;

  // The pilot: its databases, key and knowledge collection, and its tenant provisioned by the platform's saga.
  await createEmptyShardDatabase(world, CONTROL_DB);
  await createEmptyShardDatabase(world, SHARD_DB);
  const { controlHost: host, controlPort: port } = world.config.db;
  const config: PlatformConfig = { ...world.config, db: { ...world.config.db, controlDatabase: CONTROL_DB, bootstrapShards: `pilot-1=${host}:${port}/${SHARD_DB}`, poolSize: 3 } };
  const report = await migrateAll(config);
  if (!report.ok) throw new Error(`migrating the pilot failed: ${JSON.stringify(report)}`);
  const dbs = new Databases(config);
  const router = new ShardRouter(dbs);
  const tenantDb = new TenantDatabase(dbs, router);
  const kms = new LocalKms(parseMasterKeys(PILOT_KEYS));
  const keyring = new TenantKeyring(dbs, kms);
  const vectors = new WeaviateVectorStore({ url: config.weaviate.url, grpcPort: config.weaviate.grpcPort, collection: COLLECTION });
  const engine = new SagaEngine(dbs, config, { queueName: PILOT_QUEUE, backoffMs: 20 }).register(
    provisioningSaga({ dbs, control: new ControlDatabase(dbs), tenantDb, router, keyring, cipher: new FieldCipher(keyring), kms, vectors }),
  );
  engine.startWorker();
  pilot = { dbs, tenantDb, engine, vectors, shard: (await router.listShards())[0]! };
  const signUp = await startProvisioning(engine, kms, { name: 'Pilot Rollback Co', plan: 'basic', admin: { email: `owner-${label}@pilot.test` } });
  await waitFor('the pilot’s tenant provisioned', async () => {
    const s = await engine.status(signUp.sagaId);
    if (s?.status === 'failed' || s?.status === 'compensated') throw new Error(`the pilot's provisioning ${s.status}: ${s.lastError}`);
    return s?.status === 'completed';
  }, 60_000);
  tenantId = parseTenantId(signUp.tenantId);
  await vectors.upsertChunks(tenantId, [{ id: newId(), vector: [1, 0, 0, 0], documentId: 'doc', chunkIndex: 0, text: 'refunds within 14 days', title: 'Doc', sourceVersion: 1 }]);

  // The pilot's ops make the import role on its server (docs/pilot.md, "The import role").
  const server = await world.connectSuperuser('postgres');
  try {
    await server.query(`create role ${IMPORT_ROLE.user} login replication nosuperuser nocreatedb nocreaterole nobypassrls password '${IMPORT_ROLE.password}'`);
    await server.query(`grant ${world.config.db.owner.user} to ${IMPORT_ROLE.user}`);
    await server.query(`create role ${WEAK_ROLE.user} login nosuperuser nocreatedb nocreaterole nobypassrls password '${WEAK_ROLE.password}'`);
  } finally {
    await server.end();
  }
}, 90_000);

afterAll(async () => {
  await app?.close();
  const platformQueue = new Queue(PLATFORM_QUEUE, { connection: { host: world.config.redis.host, port: world.config.redis.port } });
  await platformQueue.obliterate({ force: true }).catch(() => undefined);
  await platformQueue.close();
  if (pilot) {
    await pilot.engine.close();
    const queue = new Queue(PILOT_QUEUE, { connection: { host: world.config.redis.host, port: world.config.redis.port } });
    await queue.obliterate({ force: true }).catch(() => undefined);
    await queue.close();
    await fetch(`${world.config.weaviate.url}/v1/schema/${COLLECTION}`, { method: 'DELETE' }).catch(() => undefined);
    await pilot.vectors.close();
    await pilot.dbs.close();
  }
  const target = (await world.shards()).find((s) => s.name === TARGET)!;
  // Whatever an unfinished import left: replication, then the tenant on the platform.
  if (pilot && tenantId) for (const moveId of importIds) await mover.dropReplication({ moveId, tenantId, source: pilot.shard, target }).catch(() => undefined);
  const su = await world.connectSuperuser(target.database);
  try {
    for (const { slot_name } of (await su.query<{ slot_name: string }>('select slot_name from pg_replication_slots where database = $1', [SHARD_DB])).rows)
      await su.query('select pg_drop_replication_slot($1)', [slot_name]).catch(() => undefined);
  } finally {
    await su.end();
  }
  if (tenantId) await platformVectors.deleteTenant(tenantId).catch(() => undefined);
  const owner = await world.connect(world.dbs.controlLocation, 'owner');
  try {
    if (tenantId) {
      await owner.query(`delete from sagas where tenant_id = $1 and type = 'pilot-import'`, [tenantId]);
      await owner.query('delete from tenant_placements where tenant_id = $1', [tenantId]);
      await owner.query('delete from tenant_keys where tenant_id = $1', [tenantId]);
      await owner.query('delete from tenants where id = $1', [tenantId]);
    }
    await owner.query(`delete from ops_actions where actor = 'ops:carol' and action like 'import.%' and (target = $1 or target = $2)`, [tenantId ?? '', `pilot:${world.config.db.controlHost}:${world.config.db.controlPort}/${CONTROL_DB}`]);
  } finally {
    await owner.end();
  }
  for (const d of [SHARD_DB, CONTROL_DB]) await world.dropScratchDatabase(d);
  const server = await world.connectSuperuser('postgres');
  try {
    for (const role of [IMPORT_ROLE.user, WEAK_ROLE.user]) await server.query(`drop role if exists ${role}`);
  } finally {
    await server.end();
  }
  await platformVectors.close();
  await world.close();
}, 60_000);

it('refuses an import without the pilot’s import role, with a wrong password, or short of a privilege (422 each, what to grant), changing nothing', async () => {
  const refused = async (body: unknown) => {
    const res = await call('POST', '/imports', { ...(body as object), dryRun: true });
    const problem = (await res.json()) as { code: string; detail: string };
    return { status: res.status, code: problem.code, detail: problem.detail };
  };
  expect(await refused(importBody(null))).toMatchObject({ status: 422, code: 'pilot-credentials-missing' });
  const wrong = await refused(importBody({ user: IMPORT_ROLE.user, password: 'not-its-password' }));
  expect(wrong).toMatchObject({ status: 422, code: 'pilot-auth-failed', detail: expect.stringContaining(IMPORT_ROLE.user) });
  expect(wrong.detail).not.toContain('not-its-password');
  // A role that logs in but was made without REPLICATION and without the owner's privileges: each named, with its SQL.
  const weak = await refused(importBody(WEAK_ROLE));
  expect(weak).toMatchObject({ status: 422, code: 'pilot-privilege-missing' });
  expect(weak.detail).toContain(`grant usage on schema public to "${WEAK_ROLE.user}"; grant select on hotdash_migrations, tenants,`);
  const su = await world.connectSuperuser(CONTROL_DB);
  try {
    // Able to read the pilot's control database (as docs/pilot.md allows for a control database on a server of its own), it is stopped at the shard.
    await su.query(`grant select on ${PILOT_CONTROL_READS.join(', ')} to ${WEAK_ROLE.user}; grant usage on schema public to ${WEAK_ROLE.user}`);
    const atShard = await refused(importBody(WEAK_ROLE));
    expect(atShard).toMatchObject({ status: 422, code: 'pilot-privilege-missing' });
    expect(atShard.detail).toContain(`alter role "${WEAK_ROLE.user}" replication;`);
    expect(atShard.detail).toContain(`grant "${world.config.db.owner.user}" to "${WEAK_ROLE.user}";`);
  } finally {
    await su.end();
  }
  expect(await world.dbs.controlDb().selectFrom('tenants').select('id').where('id', '=', tenantId!).execute()).toEqual([]);
  const actions = await world.dbs.controlDb().selectFrom('ops_actions').select(['outcome', 'detail']).where('actor', '=', 'ops:carol').where('action', '=', 'import.start').execute();
  expect(actions.map((a) => a.outcome)).toEqual(expect.arrayContaining(['pilot-credentials-missing', 'pilot-auth-failed', 'pilot-privilege-missing']));
  expect(JSON.stringify(actions)).not.toContain('not-its-password');
  expect(JSON.stringify(actions)).not.toContain(WEAK_ROLE.password);
});

it('refuses a pilot whose control events still wait for its relay (409 pilot-busy), changing nothing', async () => {
  // The provisioning saga's control events were never published: no relay runs for the pilot yet.
  const res = await call('POST', '/imports', { ...importBody(), dryRun: true });
  expect([res.status, ((await res.json()) as { code: string; detail: string }).code]).toEqual([409, 'pilot-busy']);
  expect(await world.dbs.controlDb().selectFrom('tenants').select('id').where('id', '=', tenantId!).execute()).toEqual([]);
  // The pilot's relay publishes them.
  await runPilotRelay();
  expect((await call('POST', '/imports', { ...importBody(), dryRun: true })).status).toBe(200);
});

it('rolls an import that fails before its cut-over back whole: nothing left on the platform, the pilot serves on', async () => {
  const t = tenantId!;
  // Whether or not the test before ran: the pilot's control events published, so the import is accepted.
  await runPilotRelay();
  drill.failAt = 'copy-vectors';
  const res = await call('POST', '/imports', importBody());
  expect(res.status).toBe(202);
  const started = (await res.json()) as ImportRun;
  importIds.push(started.id);
  expect(started).toMatchObject({ tenant: { id: t }, target: TARGET, status: 'running', cutOver: false, actor: 'ops:carol' });
  expect(JSON.stringify(started)).not.toContain(IMPORT_ROLE.password);
  // While it runs, its record holds the import role sealed (a resumed step needs it), never in clear.
  const running = await importRecords(started.id);
  expect(running.input).toMatchObject({ pilotUser: IMPORT_ROLE.user, pilotCredentials: { kekId: 'dev', wrapped: expect.any(String) } });
  expect(running.text).not.toContain(IMPORT_ROLE.password);
  const run = await waitFor(
    'the import to finish',
    async () => {
      const r = (await (await call('GET', `/imports/${started.id}`)).json()) as ImportRun;
      return ['succeeded', 'rolled-back', 'failed'].includes(r.status) ? r : undefined;
    },
    90_000,
    100,
  );
  expect(run).toMatchObject({ status: 'rolled-back', cutOver: false, phase: null, error: expect.stringContaining('drill') });
  expect(run.steps.filter((s) => s.status === 'compensated').map((s) => s.id)).toEqual(['control-records', 'knowledge-namespace', 'fence-target', 'publish', 'slot', 'subscribe']);

  // Nothing of it on the platform: control records, key, rows, namespace.
  const target = (await world.shards()).find((s) => s.name === TARGET)!;
  expect(await world.dbs.controlDb().selectFrom('tenants').select('id').where('id', '=', t).execute()).toEqual([]);
  expect(await world.dbs.controlDb().selectFrom('tenant_keys').select('tenant_id').where('tenant_id', '=', t).execute()).toEqual([]);
  expect(await world.dbs.controlDb().selectFrom('tenant_placements').select('shard_id').where('tenant_id', '=', t).execute()).toEqual([]);
  expect(await mover.tenantRowsOn(target, t)).toEqual([]);
  expect(await platformVectors.tenantExists(t)).toBe(false);
  // No replication left on the pilot, which serves its tenant as before (no fence).
  const name = TenantMover.replicationName(started.id);
  const owner = await world.connect(pilot!.shard, 'owner');
  try {
    expect((await owner.query('select 1 from pg_publication where pubname = $1', [name])).rowCount).toBe(0);
    expect((await owner.query('select 1 from pg_replication_slots where slot_name = $1', [name])).rowCount).toBe(0);
    await owner.query(`select set_config('app.tenant_id', $1, false)`, [t]);
    expect((await owner.query('select 1 from tenant_fences where tenant_id = $1', [t])).rowCount).toBe(0);
  } finally {
    await owner.end();
  }
  expect((await pilot!.tenantDb.withTenant(t, (tx) => tx.db.selectFrom('users').select('id').execute())).length).toBe(1);
  // Both the start and the rollback are ops actions.
  const actions = await world.dbs.controlDb().selectFrom('ops_actions').select(['action', 'outcome']).where('actor', '=', 'ops:carol').where('target', '=', t).orderBy('at').execute();
  expect(actions.map((a) => `${a.action} ${a.outcome}`)).toEqual(expect.arrayContaining(['import.start started', 'import.finish rolled-back']));
  // Ended: its record keeps no way into the pilot, sealed or not; GET shows none either.
  const ended = await importRecords(started.id);
  expect(ended.input).toMatchObject({ pilotUser: IMPORT_ROLE.user, pilotCredentials: null });
  expect(ended.text).not.toContain(IMPORT_ROLE.password);
  expect(JSON.stringify(run)).not.toContain(IMPORT_ROLE.password);
});

it('answers 409 import-tenant-exists when a sign-up takes the tenant’s slug while the import is accepted, nothing of the import left', async () => {
  const t = tenantId!;
  await runPilotRelay();
  const { slug } = await pilot!.dbs.controlDb().selectFrom('tenants').select('slug').where('id', '=', t).executeTakeFirstOrThrow();
  // The sign-up's transaction has written its tenant with that slug and not committed yet: the
  // import's checks do not see it, and its insert waits on the unique index.
  const racer = await world.connect(world.dbs.controlLocation, 'owner');
  const racerId = newId();
  const watcher = await world.connectSuperuser(world.config.db.controlDatabase);
  try {
    await racer.query('begin');
    await racer.query(`insert into tenants (id, name, slug, plan_code, status, region) values ($1, 'Racing sign-up', $2, 'basic', 'provisioning', 'local')`, [racerId, slug]);
    const accepted = call('POST', '/imports', importBody());
    await waitFor('the import’s insert to wait for the sign-up', async () => {
      const r = await watcher.query(`select 1 from pg_stat_activity where datname = $1 and wait_event_type = 'Lock' and query like 'insert into "tenants"%'`, [world.config.db.controlDatabase]);
      return (r.rowCount ?? 0) > 0;
    });
    await racer.query('commit');
    const res = await accepted;
    const problem = (await res.json()) as { code: string; detail: string };
    expect([res.status, problem.code]).toEqual([409, 'import-tenant-exists']);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
  } finally {
    await racer.query('rollback').catch(() => undefined);
    await racer.query('delete from tenants where id = $1', [racerId]);
    await racer.end();
    await watcher.end();
  }
  expect(await world.dbs.controlDb().selectFrom('tenants').select('id').where('id', '=', t).execute()).toEqual([]);
  expect(await world.dbs.controlDb().selectFrom('tenant_keys').select('tenant_id').where('tenant_id', '=', t).execute()).toEqual([]);
  expect(await world.dbs.controlDb().selectFrom('tenant_placements').select('shard_id').where('tenant_id', '=', t).execute()).toEqual([]);
  const actions = await world.dbs.controlDb().selectFrom('ops_actions').select(['outcome']).where('actor', '=', 'ops:carol').where('target', '=', t).execute();
  expect(actions.map((a) => a.outcome)).toContain('import-tenant-exists');
});
