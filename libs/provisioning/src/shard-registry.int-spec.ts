// The shard registry and migrations of the ops API (issue 14, item 2), against the real control
// plane and scratch databases created on the local server by the owner role: a database becomes a
// shard only once it is reachable as every role, its service roles cannot bypass row-level
// security, it is migrated and passes the catalogue guard; a relay picks it up by notification;
// every refusal (unreachable, missing database, a role with BYPASSRLS, an unprepared schema, a
// duplicate, retiring a shard that holds a tenant) changes nothing; a drained shard gets no new
// tenant and a retired one none at all; the shard list reads each shard's live figures and lists
// an unreachable shard with an error; migrations run across every database in the background (a
// run followed by polling, one real run at a time, a stopped one reported interrupted), a failing
// one not stopping the others. Scratch shards are dedicated (sign-ups never land on a dedicated
// shard by themselves) and every row, database and role the spec makes is removed in afterAll.
import type { MigrationRun, MigrationRunOperation, ShardRegistration, TenantId } from '@hotdash/contracts';
import { ControlTransaction, listen, newId, ShardInfo, ShardInspector, ShardRouter } from '@hotdash/platform-db';
import { KafkaProducerPort, OutgoingRecord, publishInTx, relayLagOf, RelaySupervisor } from '@hotdash/platform-messaging';
import { createEmptyShardDatabase, dropScratchShards, problemOf, TestWorld, waitFor } from '@hotdash/testing';
import { OpsActions, ShardsRepository } from './shards.repository';
import { RegisterShardHandler } from './use-cases/register-shard/register-shard.handler';
import { ChangeShardStatusHandler } from './use-cases/change-shard-status/change-shard-status.handler';
import { ListShardsHandler } from './use-cases/list-shards/list-shards.handler';
import { MigrateDatabasesHandler, MIGRATION_RUN_STALE_MS } from './use-cases/migrate-databases/migrate-databases.handler';
import { MigrationRunsRepository } from './migration-runs.repository';
import { pickShard } from './saga/provisioning.saga';

jest.setTimeout(60_000);

const world = new TestWorld();
const run = newId().replace(/-/g, '').slice(-10);
const actor = `ops:spec-${run}`;
const shardName = (label: string) => `spec-reg-${run}-${label}`;
const dbName = (label: string) => `hotdash_spec_${label}_${run}`;
const DB = { a: dbName('a'), m1: dbName('m1'), m2: dbName('m2'), unprepared: dbName('unprep'), lag: dbName('lag') };
const bypassRole = `hotdash_spec_bypass_${run}`;
const bypassPassword = `spec-${newId()}`;
const host = world.config.db.controlHost;
const port = world.config.db.controlPort;

const inspector = new ShardInspector(world.config, 3_000);
const repo = new ShardsRepository();
const actions = new OpsActions();
const registry = new RegisterShardHandler(world.control, inspector, repo, actions);
const statuses = new ChangeShardStatusHandler(world.control, repo, actions);
const listing = new ListShardsHandler(world.control, world.dbs, inspector, repo);
const migrations = new MigrateDatabasesHandler(world.control, world.dbs, inspector, repo, actions, new MigrationRunsRepository());
const tenantFiles = inspector.migrationFiles('tenant').map((m) => m.name);

const registration = (over: Record<string, unknown> = {}) => ({ name: shardName('a'), host, port, database: DB.a, kind: 'dedicated', region: 'eu-spec-1', ...over });
const placedTenants: string[] = [];

type Client = Awaited<ReturnType<TestWorld['connect']>>;

async function asOwner<T>(database: string | null, fn: (c: Client) => Promise<T>): Promise<T> {
  const c = await world.connect(database ? { host, port, database } : world.dbs.controlLocation, 'owner');
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/** The control plane's rows for this spec's shards and locations: what "nothing changed" compares. */
const myShards = () =>
  asOwner(null, async (c) => (await c.query(`select id, name, host, port, database, kind, status, region, tenant_count from shards where name like $1 or database like $2 order by name`, [`spec-reg-${run}%`, `%\\_${run}`])).rows);
const myActions = () => asOwner(null, async (c) => (await c.query<{ action: string; target: string; outcome: string }>(`select action, target, outcome from ops_actions where actor = $1 order by id`, [actor])).rows);

/** Follows a started migration run (as the CLI does, by polling) until it has finished; its result. */
async function finished(started: MigrationRunOperation): Promise<MigrationRun & { run: MigrationRunOperation }> {
  expect(started).toMatchObject({ status: 'running', result: null, finishedAt: null, actor });
  expect(started.databases.every((d) => d.state === 'waiting' && d.outcome === null)).toBe(true);
  const run = await waitFor('the migration run to finish', async () => {
    const r = await migrations.get(started.id);
    return r.status !== 'running' && r;
  }, 60_000, 50);
  expect(run.status).toBe(run.result?.ok ? 'succeeded' : 'failed');
  expect(run.finishedAt).not.toBeNull();
  // Every database's progress ends done, with the outcome and what was applied that the result gives it.
  expect(run.databases.map((d) => [d.database, d.state, d.outcome, d.applied, d.current])).toEqual(run.result!.databases.map((d) => [d.database, 'done', d.outcome, d.applied, null]));
  return { ...run.result!, run };
}

/** pickShard's answer for a dedicated sign-up, in a transaction that is rolled back, with every other dedicated shard out of the way. */
async function dedicatedPick(mine: string): Promise<string> {
  return asOwner(null, async (owner) => {
    const tx = new ControlTransaction(owner as unknown as ConstructorParameters<typeof ControlTransaction>[0]);
    await owner.query('begin');
    try {
      await owner.query(`update shards set status = 'retired' where kind = 'dedicated' and status = 'active' and name <> $1`, [mine]);
      return (await pickShard(tx, true)).name;
    } catch (err) {
      return `refused: ${(err as Error).message}`;
    } finally {
      await owner.query('rollback');
    }
  });
}

beforeAll(async () => {
  for (const d of [DB.a, DB.m1, DB.m2, DB.lag]) await createEmptyShardDatabase(world, d);
  await createEmptyShardDatabase(world, DB.unprepared, false);
  const su = await world.connectSuperuser('postgres');
  try {
    await su.query(`create role ${bypassRole} login nosuperuser bypassrls password '${bypassPassword}'`);
  } finally {
    await su.end();
  }
});

afterAll(async () => {
  await asOwner(null, async (c) => {
    await c.query('delete from tenant_placements where tenant_id = any($1)', [placedTenants]);
    await c.query('delete from tenants where id = any($1)', [placedTenants]);
    await c.query('delete from ops_actions where actor = $1', [actor]);
    await c.query('delete from migration_runs where actor = $1', [actor]);
  });
  await dropScratchShards(
    world,
    ['a', 'b', 'm1', 'm2', 'dead'].map(shardName),
    Object.values(DB),
  );
  const su = await world.connectSuperuser('postgres');
  try {
    await su.query(`drop role if exists ${bypassRole}`);
  } finally {
    await su.end();
  }
  await world.close();
});

describe('registering a shard', () => {
  it('refuses bad bodies before touching anything', async () => {
    expect(await problemOf(registry.execute({ ...registration(), kind: 'mixed' }, actor))).toEqual({ status: 400, code: 'validation-failed' });
    expect(await problemOf(registry.execute({ ...registration(), password: 'x' }, actor))).toEqual({ status: 400, code: 'unknown-field' });
    expect(await problemOf(registry.execute({ ...registration(), name: 'Shard A' }, actor))).toEqual({ status: 400, code: 'validation-failed' });
    expect(await myShards()).toEqual([]);
  });

  it('refuses a shard that cannot be reached, or a database that does not exist, and changes nothing', async () => {
    const nowhere = registry.execute(registration({ port: 1 }), actor);
    await expect(nowhere).rejects.toThrow(/ECONNREFUSED/);
    expect(await problemOf(nowhere)).toEqual({ status: 422, code: 'shard-unreachable' });
    const missing = registry.execute(registration({ database: dbName('missing') }), actor);
    await expect(missing).rejects.toThrow(/does not exist/);
    expect(await problemOf(missing)).toEqual({ status: 422, code: 'shard-unreachable' });
    expect(await myShards()).toEqual([]);
    // The refusals are on record, under the operator.
    expect(await myActions()).toEqual([
      { action: 'shard.register', target: shardName('a'), outcome: 'shard-unreachable' },
      { action: 'shard.register', target: shardName('a'), outcome: 'shard-unreachable' },
    ]);
  });

  it('refuses a shard whose application role can bypass row-level security, before migrating anything', async () => {
    // The platform configured with an application role that has BYPASSRLS (as a server whose hotdash_app was made so would be).
    const lax = new ShardInspector({ ...world.config, db: { ...world.config.db, app: { user: bypassRole, password: bypassPassword } } }, 3_000);
    const laxRegistry = new RegisterShardHandler(world.control, lax, repo, actions);
    const refused = laxRegistry.execute(registration({ name: shardName('b'), database: DB.unprepared }), actor);
    await expect(refused).rejects.toThrow(new RegExp(`${bypassRole} can bypass row-level security: ${bypassRole} has BYPASSRLS`));
    expect(await problemOf(refused)).toEqual({ status: 422, code: 'shard-role-bypasses-rls' });
    expect(await myShards()).toEqual([]);
    expect(await inspector.migrationState({ host, port, database: DB.unprepared }, 'tenant')).toEqual({ applied: 0, latest: null, pending: tenantFiles, changed: [] });
  });

  it('refuses a database whose schema is not open to the platform roles, before migrating anything', async () => {
    const refused = registry.execute(registration({ name: shardName('b'), database: DB.unprepared }), actor);
    await expect(refused).rejects.toThrow(/may not use schema public: grant usage on schema public/);
    expect(await problemOf(refused)).toEqual({ status: 422, code: 'shard-not-prepared' });
    expect(await myShards()).toEqual([]);
    expect((await inspector.migrationState({ host, port, database: DB.unprepared }, 'tenant')).applied).toBe(0);
  });

  it('registers a sound database only after migrating and guarding it, and the relays pick it up at once', async () => {
    // A relay supervisor over this spec's shards only (its fallback re-read set to 10 minutes): only
    // the control plane's hotdash_shards notification can make it relay the new shard.
    const sent: OutgoingRecord[] = [];
    const producer: KafkaProducerPort = { send: async (records) => void sent.push(...records), close: async () => undefined };
    const mine = { listShards: async () => (await world.router.listShards()).filter((s) => s.name.startsWith(`spec-reg-${run}`)) } as ShardRouter;
    const supervisor = new RelaySupervisor(world.dbs, mine, producer, { control: false, shards: true, shardRefreshMs: 600_000, pollIntervalMs: 60_000 });
    let listening = false;
    const listener = listen(world.dbs, world.dbs.controlLocation, 'relay', 'hotdash_shards', () => (listening = true));
    await supervisor.start();
    try {
      await waitFor('the spec’s listener to be connected', async () => listening, 10_000, 20);
      const r: ShardRegistration = await registry.execute(registration(), actor);
      expect(r).toEqual({
        shard: { id: expect.any(String), name: shardName('a'), host, port, database: DB.a, kind: 'dedicated', status: 'active', region: 'eu-spec-1', createdAt: expect.any(String) },
        outcome: 'registered',
        migrations: { applied: tenantFiles, alreadyApplied: 0 },
      });
      const location = { host, port, database: DB.a };
      expect(await inspector.migrationState(location, 'tenant')).toMatchObject({ applied: tenantFiles.length, pending: [] });
      expect(await inspector.catalogue(location)).toEqual([]);
      expect(await myShards()).toEqual([expect.objectContaining({ name: shardName('a'), status: 'active', region: 'eu-spec-1', kind: 'dedicated', tenant_count: 0 })]);

      // An event written to the new shard's outbox is relayed without any re-read of the shard list.
      const shard: ShardInfo = { ...r.shard, kind: 'dedicated', status: 'active' };
      const tenantId = newId() as TenantId;
      const event = await world.tenantDb.withTenantOnShard(shard, tenantId, (tx) =>
        publishInTx(tx, 'tenant.created', { tenantId, name: 'relay pick-up', plan: 'basic', shard: shard.name, createdBy: 'shard-registry-spec' }, { tenantId, producer: 'shard-registry-spec', correlationId: newId() }),
      );
      await waitFor('the new shard’s event relayed', async () => sent.some((s) => JSON.parse(s.value).id === event.id), 20_000);
      await waitFor('the relayed row marked published', async () => (await relayLagOf(world.dbs, location)).unpublished === 0, 10_000);
    } finally {
      await supervisor.stop();
      await listener.close();
    }
  });

  it('answers the same registration again with the shard as it is, and refuses another shard under its name or at its location', async () => {
    const again = await registry.execute(registration(), actor);
    expect(again).toMatchObject({ outcome: 'unchanged', shard: { name: shardName('a'), status: 'active' }, migrations: { applied: [], alreadyApplied: tenantFiles.length } });
    const before = await myShards();
    expect(before).toHaveLength(1);
    const otherPlace = registry.execute(registration({ database: DB.m1 }), actor);
    await expect(otherPlace).rejects.toThrow(/is registered as dedicated in region eu-spec-1/);
    expect(await problemOf(otherPlace)).toEqual({ status: 409, code: 'shard-exists' });
    const otherName = registry.execute(registration({ name: shardName('b') }), actor);
    await expect(otherName).rejects.toThrow(new RegExp(`is registered as shard ${shardName('a')}`));
    expect(await problemOf(otherName)).toEqual({ status: 409, code: 'shard-exists' });
    expect(await problemOf(registry.execute(registration({ region: 'us-spec-1' }), actor))).toEqual({ status: 409, code: 'shard-exists' });
    expect(await myShards()).toEqual(before);
  });
});

describe('shard status', () => {
  it('drains a shard so that the placement policy gives it no new tenant, and activates it again', async () => {
    expect(await dedicatedPick(shardName('a'))).toBe(shardName('a'));
    expect(await statuses.drain(shardName('a'), actor)).toMatchObject({ changed: true, shard: { status: 'draining' } });
    expect(await statuses.drain(shardName('a'), actor)).toMatchObject({ changed: false, shard: { status: 'draining' } });
    expect(await dedicatedPick(shardName('a'))).toMatch(/^refused: no free dedicated shard/);
    expect(await statuses.activate(shardName('a'), actor)).toMatchObject({ changed: true, shard: { status: 'active' } });
    expect(await dedicatedPick(shardName('a'))).toBe(shardName('a'));
    expect(await problemOf(statuses.drain(shardName('nope'), actor))).toEqual({ status: 404, code: 'not-found' });
    expect(await problemOf(statuses.drain('Not a name', actor))).toEqual({ status: 400, code: 'invalid-shard-name' });
  });

  it('refuses to retire a shard while it holds a tenant; once empty it retires, takes no placement, and comes back only by registering again', async () => {
    const shard = (await world.shards()).find((s) => s.name === shardName('a'))!;
    const held = await world.createTenant('placed on the scratch shard', shard);
    placedTenants.push(held.id);
    const before = await myShards();
    const refused = statuses.retire(shardName('a'), actor);
    await expect(refused).rejects.toThrow(/holds 1 tenant\(s\)/);
    expect(await problemOf(refused)).toEqual({ status: 409, code: 'shard-not-empty' });
    expect(await myShards()).toEqual(before);

    // An offboarded tenant's rows are erased: its placement, kept as a record, holds nothing.
    await asOwner(null, (c) => c.query(`update tenants set status = 'offboarded' where id = $1`, [held.id]));
    expect(await statuses.retire(shardName('a'), actor)).toMatchObject({ changed: true, shard: { status: 'retired' } });
    expect(await statuses.retire(shardName('a'), actor)).toMatchObject({ changed: false, shard: { status: 'retired' } });
    expect(await problemOf(statuses.activate(shardName('a'), actor))).toEqual({ status: 409, code: 'shard-retired' });
    expect(await problemOf(statuses.drain(shardName('a'), actor))).toEqual({ status: 409, code: 'shard-retired' });
    // A placement chosen before the retirement and committed after it is refused by the database.
    const late = newId();
    await expect(world.createTenant('too late', shard, late)).rejects.toThrow(/is retired/);
    expect(await asOwner(null, async (c) => (await c.query('select count(*)::int as n from tenants where id = $1', [late])).rows[0].n)).toBe(0);

    const back = await registry.execute(registration(), actor);
    expect(back).toMatchObject({ outcome: 'reregistered', shard: { status: 'active' } });
    await statuses.drain(shardName('a'), actor);
    expect((await myActions()).filter((a) => a.action !== 'shard.register')).toEqual([
      { action: 'shard.drain', target: shardName('a'), outcome: 'done' },
      { action: 'shard.drain', target: shardName('a'), outcome: 'unchanged' },
      { action: 'shard.activate', target: shardName('a'), outcome: 'done' },
      { action: 'shard.retire', target: shardName('a'), outcome: 'shard-not-empty' },
      { action: 'shard.retire', target: shardName('a'), outcome: 'done' },
      { action: 'shard.retire', target: shardName('a'), outcome: 'unchanged' },
      { action: 'shard.activate', target: shardName('a'), outcome: 'shard-retired' },
      { action: 'shard.drain', target: shardName('a'), outcome: 'shard-retired' },
      { action: 'shard.drain', target: shardName('a'), outcome: 'done' },
    ]);
  });
});

describe('the shard list', () => {
  it('gives each shard its tenants, size, schema version and relay lag, and an unreachable shard an error instead of failing', async () => {
    const dead = newId();
    await asOwner(null, (c) =>
      c.query(`insert into shards (id, name, host, port, database, kind, status, region) values ($1, $2, '127.0.0.1', 1, $3, 'dedicated', 'draining', 'local')`, [dead, shardName('dead'), dbName('dead')]),
    );
    try {
      const { shards } = await listing.execute();
      const a = shards.find((s) => s.name === shardName('a'))!;
      expect(a).toMatchObject({ status: 'draining', region: 'eu-spec-1', tenantCount: 0, schema: { applied: tenantFiles.length, latest: tenantFiles.at(-1), pending: [] }, relayLag: { unpublished: 0, oldestUnpublishedSeconds: null }, error: null });
      expect(a.databaseSizeBytes).toBeGreaterThan(1_000_000);
      expect(shards.find((s) => s.name === shardName('dead'))).toMatchObject({ databaseSizeBytes: null, schema: null, relayLag: null, error: { code: 'shard-unreachable', message: expect.stringMatching(/ECONNREFUSED/) } });
      // The bootstrap shards hold the world's tenants.
      expect(shards.find((s) => s.name === 'shard-1')).toMatchObject({ region: 'local', error: null, schema: { pending: [] } });
    } finally {
      await asOwner(null, (c) => c.query('delete from shards where id = $1', [dead]));
    }
  });

  it('measures relay lag from the rows waiting in a shard’s outbox', async () => {
    const location = { host, port, database: DB.lag };
    expect((await inspector.migrate(location, 'tenant')).error).toBeUndefined();
    expect(await relayLagOf(world.dbs, location)).toEqual({ unpublished: 0, oldestUnpublishedSeconds: null });
    // The database is not registered, so no relay drains it.
    const shard: ShardInfo = { id: newId(), name: 'lag', kind: 'dedicated', status: 'draining', ...location };
    const tenantId = newId() as TenantId;
    for (let i = 0; i < 3; i++)
      await world.tenantDb.withTenantOnShard(shard, tenantId, (tx) =>
        publishInTx(tx, 'tenant.created', { tenantId, name: `lag ${i}`, plan: 'basic', shard: 'lag', createdBy: 'shard-registry-spec' }, { tenantId, producer: 'shard-registry-spec', correlationId: newId() }),
      );
    const lag = await relayLagOf(world.dbs, location);
    expect(lag.unpublished).toBe(3);
    expect(lag.oldestUnpublishedSeconds).toBeGreaterThanOrEqual(0);
  });
});

describe('migrations across every database', () => {
  beforeAll(async () => {
    // m1: an applied migration whose file has changed since (the runner refuses it); m2: never
    // migrated. Registered as `npm run db:migrate` registers bootstrap shards (a row), draining.
    await asOwner(DB.m1, async (c) => {
      await c.query('create table hotdash_migrations (name text primary key, checksum text not null, applied_at timestamptz not null default now(), duration_ms integer not null)');
      await c.query(`insert into hotdash_migrations (name, checksum, duration_ms) values ($1, 'not-the-checksum', 0)`, [tenantFiles[0]]);
    });
    await asOwner(null, async (c) => {
      for (const label of ['m1', 'm2'] as const)
        await c.query(`insert into shards (id, name, host, port, database, kind, status) values ($1, $2, $3, $4, $5, 'dedicated', 'draining')`, [newId(), shardName(label), host, port, DB[label]]);
    });
  });

  it('says per database what is applied and what is pending', async () => {
    const { databases } = await migrations.status();
    const of = (name: string) => databases.find((d) => d.database === name);
    expect(databases[0]).toMatchObject({ database: 'control', role: 'control', error: null });
    expect(of(shardName('a'))).toMatchObject({ role: 'shard', applied: tenantFiles.length, pending: [], error: null });
    expect(of(shardName('m2'))).toEqual({ database: shardName('m2'), role: 'shard', target: `${host}:${port}/${DB.m2}`, applied: 0, latest: null, pending: tenantFiles, error: null });
    expect(of(shardName('m1'))).toMatchObject({ applied: 1, error: { code: 'migration-changed', message: expect.stringContaining(tenantFiles[0]!) } });
  });

  it('migrates every database on its own, in the background: a dry run applies nothing, a failing shard does not stop the others', async () => {
    const dry = await finished(await migrations.start({ dryRun: true }, actor));
    const of = (r: MigrationRun, name: string) => r.databases.find((d) => d.database === name)!;
    // Only this spec's shards have anything to do: the real run below must not apply migration
    // files that someone is still writing to the shared databases.
    const others = dry.databases.filter((d) => !d.database.startsWith(`spec-reg-${run}`) && d.outcome !== 'up-to-date');
    expect(others.map((d) => `${d.database}: ${d.outcome} ${d.applied.join(', ')} ${d.error?.message ?? ''}`)).toEqual([]);
    expect(dry).toMatchObject({ dryRun: true, ok: false, run: { dryRun: true, status: 'failed' } });
    expect(of(dry, shardName('m2'))).toMatchObject({ outcome: 'would-migrate', applied: tenantFiles, alreadyApplied: 0, error: null });
    expect(dry.run.databases.find((d) => d.database === shardName('m2'))).toMatchObject({ total: tenantFiles.length });
    expect(of(dry, shardName('m1'))).toMatchObject({ outcome: 'failed', error: { code: 'migration-changed' } });
    expect((await inspector.migrationState({ host, port, database: DB.m2 }, 'tenant')).applied).toBe(0);

    const started = await migrations.start({ dryRun: false }, actor);
    const real = await finished(started);
    expect(real).toMatchObject({ dryRun: false, ok: false });
    expect(of(real, 'control')).toMatchObject({ outcome: 'up-to-date', error: null });
    expect(of(real, shardName('a'))).toMatchObject({ outcome: 'up-to-date', applied: [], error: null });
    expect(of(real, shardName('m1'))).toMatchObject({ outcome: 'failed', applied: [], error: { code: 'migration-changed' } });
    expect(of(real, shardName('m2'))).toMatchObject({ outcome: 'migrated', applied: tenantFiles, error: null });
    expect(real.run.databases.find((d) => d.database === shardName('m2'))).toMatchObject({ total: tenantFiles.length, applied: tenantFiles });
    expect(await inspector.migrationState({ host, port, database: DB.m2 }, 'tenant')).toMatchObject({ applied: tenantFiles.length, pending: [] });
    expect(await inspector.catalogue({ host, port, database: DB.m2 })).toEqual([]);
    expect((await myActions()).filter((a) => a.action === 'migrations.run')).toEqual([{ action: 'migrations.run', target: 'all', outcome: 'failed' }]);
    expect(await problemOf(migrations.start({}, actor))).toEqual({ status: 400, code: 'validation-failed' });
    expect(await problemOf(migrations.get(newId()))).toEqual({ status: 404, code: 'not-found' });
  });

  it('runs one real run at a time, and reports a run whose process stopped as interrupted', async () => {
    // A real run in progress elsewhere: a row another provisioning instance is heartbeating.
    const elsewhere = newId();
    await asOwner(null, (c) => c.query(`insert into migration_runs (id, actor, dry_run) values ($1, $2, false)`, [elsewhere, actor]));
    const refused = migrations.start({ dryRun: false }, actor);
    await expect(refused).rejects.toThrow(new RegExp(`Migration run ${elsewhere}, started at .* by ${actor}, is still in progress`));
    expect(await problemOf(refused)).toEqual({ status: 409, code: 'migrations-running' });
    // A dry run is never in the way.
    const dry = await finished(await migrations.start({ dryRun: true }, actor));
    expect(dry.dryRun).toBe(true);
    expect(await migrations.get(elsewhere)).toMatchObject({ status: 'running', finishedAt: null });

    // Its instance stops: no heartbeat for longer than the limit. Reading it says so, and a new run may start.
    await asOwner(null, (c) => c.query(`update migration_runs set heartbeat_at = now() - make_interval(secs => $2) where id = $1`, [elsewhere, MIGRATION_RUN_STALE_MS / 1000 + 1]));
    expect(await migrations.get(elsewhere)).toMatchObject({ status: 'interrupted', finishedAt: expect.any(String), result: null });
    // Only this spec's shards may change: m1 is still refused, nothing else is pending (checked by the dry run above).
    expect(dry.databases.filter((d) => !d.database.startsWith(`spec-reg-${run}`) && d.outcome !== 'up-to-date')).toEqual([]);
    const again = await finished(await migrations.start({ dryRun: false }, actor));
    expect(again.databases.find((d) => d.database === shardName('m2'))).toMatchObject({ outcome: 'up-to-date', applied: [] });
    expect((await myActions()).filter((a) => a.action === 'migrations.run').map((a) => a.outcome)).toEqual(['failed', 'migrations-running', 'failed']);
  });
});
