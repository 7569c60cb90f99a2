// Catalog guard: every tenant table of every shard has RLS enabled and forced with the tenancy
// policy; the application role cannot bypass RLS and owns nothing. The guard is also proven able to
// fail: in a scratch database migrated like a shard, dropping one policy (or un-forcing RLS) makes it
// report exactly that table.
import { checkTenantCatalog } from './catalog-guard';
import { newId } from './ids';
import { TestWorld } from '@hotdash/testing';

const world = new TestWorld();
afterAll(() => world.close());

it('every registered shard passes the guard', async () => {
  const shards = await world.shards();
  expect(shards.length).toBeGreaterThanOrEqual(2);
  for (const shard of shards) {
    const c = await world.connect(shard, 'owner');
    try {
      expect({ shard: shard.name, violations: await checkTenantCatalog(c, world.config.db.app.user) }).toEqual({ shard: shard.name, violations: [] });
    } finally {
      await c.end();
    }
  }
});

it('puts a new table under tenant isolation with one call of enable_tenant_rls, which only the owner may make', async () => {
  const [shard] = await world.shards();
  const owner = await world.connect(shard!, 'owner');
  const table = `scratch_${newId().replace(/-/g, '').slice(-12)}`;
  try {
    await owner.query('begin');
    await owner.query(`create table ${table} (id uuid primary key, tenant_id uuid not null)`);
    await owner.query(`create unique index ${table}_tenant_id_id_key on ${table} (tenant_id, id)`);
    const before = (await checkTenantCatalog(owner, world.config.db.app.user)).filter((v) => v.table === table).map((v) => v.problem);
    expect(before).toEqual(['row level security is not enabled', 'row level security is not forced', 'replica identity lacks tenant_id', 'tenant_isolation policy missing']);
    await owner.query(`select enable_tenant_rls('${table}')`);
    expect((await checkTenantCatalog(owner, world.config.db.app.user)).filter((v) => v.table === table)).toEqual([]);
    // The replica identity it chose: the unique (tenant_id, id) index (the primary key lacks tenant_id).
    const identity = await owner.query(`select c.relreplident, (select ic.relname from pg_index i join pg_class ic on ic.oid = i.indexrelid where i.indrelid = c.oid and i.indisreplident) as index from pg_class c where c.relname = $1`, [table]);
    expect(identity.rows[0]).toEqual({ relreplident: 'i', index: `${table}_tenant_id_id_key` });
  } finally {
    await owner.query('rollback');
    await owner.end();
  }
  const app = await world.connect(shard!, 'app');
  try {
    await expect(app.query(`select enable_tenant_rls('audit_log')`)).rejects.toThrow(/permission denied/);
  } finally {
    await app.end();
  }
});

it('the application role cannot bypass RLS even by asking', async () => {
  const [shard] = await world.shards();
  const c = await world.connect(shard!, 'app');
  try {
    await expect(c.query('set row_security = off')).resolves.toBeDefined();
    // With row_security off, a query that RLS would filter raises instead of returning every row.
    await expect(c.query('select * from audit_log')).rejects.toThrow(/row-level security/);
    await expect(c.query('alter table audit_log disable row level security')).rejects.toThrow(/must be owner/);
    await expect(c.query('drop policy tenant_isolation on audit_log')).rejects.toThrow(/must be owner/);
  } finally {
    await c.end();
  }
});

describe('in a scratch database', () => {
  const name = `hotdash_scratch_${newId().replace(/-/g, '').slice(-12)}`;
  const location = () => ({ host: world.config.db.controlHost, port: world.config.db.controlPort, database: name });

  beforeAll(() => world.createScratchShardDatabase(name));
  afterAll(() => world.dropScratchDatabase(name));

  async function violations(): Promise<{ table: string; problem: string }[]> {
    const c = await world.connect(location(), 'owner');
    try {
      return await checkTenantCatalog(c, world.config.db.app.user);
    } finally {
      await c.end();
    }
  }

  it('passes right after migration', async () => {
    expect(await violations()).toEqual([]);
  });

  it('fails when one policy is dropped', async () => {
    const c = await world.connect(location(), 'owner');
    await c.query('drop policy tenant_isolation on inbox');
    await c.end();
    expect(await violations()).toEqual([{ table: 'inbox', problem: 'tenant_isolation policy missing' }]);
  });

  it('fails when RLS is no longer forced, or a table lacks it', async () => {
    const c = await world.connect(location(), 'owner');
    await c.query('alter table audit_log no force row level security');
    await c.query('create table sneaky (id uuid primary key, tenant_id uuid not null)');
    await c.end();
    expect(await violations()).toEqual(
      expect.arrayContaining([
        { table: 'audit_log', problem: 'row level security is not forced' },
        { table: 'sneaky', problem: 'row level security is not enabled' },
        { table: 'sneaky', problem: 'replica identity lacks tenant_id' },
        { table: 'sneaky', problem: 'tenant_isolation policy missing' },
        { table: 'sneaky', problem: 'no index leads with tenant_id' },
      ]),
    );
  });

  it('fails when a table’s replica identity loses tenant_id (a move would make its updates and deletes fail)', async () => {
    const c = await world.connect(location(), 'owner');
    await c.query('alter table tickets replica identity default');
    await c.query('alter table usage_daily replica identity nothing');
    await c.end();
    // (sneaky, made by the case above, lacks one too.)
    expect((await violations()).filter((v) => v.problem.startsWith('replica identity') && v.table !== 'sneaky')).toEqual([
      { table: 'tickets', problem: 'replica identity lacks tenant_id' },
      { table: 'usage_daily', problem: 'replica identity lacks tenant_id' },
    ]);
  });

  it('fails when the application role owns a table or a permissive policy widens access', async () => {
    const c = await world.connect(location(), 'owner');
    await c.query(`create policy wide_open on outbox for select to public using (true)`);
    await c.end();
    const su = await world.connectSuperuser(name);
    await su.query(`create table app_owned (x int); alter table app_owned owner to ${world.config.db.app.user}`);
    await su.end();
    expect(await violations()).toEqual(
      expect.arrayContaining([
        { table: 'outbox', problem: `policy wide_open widens access for ${world.config.db.app.user}` },
        { table: 'app_owned', problem: `owned by ${world.config.db.app.user}` },
      ]),
    );
  });

  it('fails when the application role may execute a security definer function not on the list', async () => {
    const c = await world.connect(location(), 'owner');
    // Executable by PUBLIC unless revoked: the forgotten revoke is the usual way in.
    await c.query(`create function peek_documents() returns bigint language sql security definer as 'select count(*) from kb_documents'`);
    await c.end();
    expect(await violations()).toEqual(expect.arrayContaining([{ table: 'peek_documents', problem: `security definer function executable by ${world.config.db.app.user}` }]));
    expect((await violations()).filter((v) => ['erase_tenant', 'stored_documents_sweep'].includes(v.table))).toEqual([]);
  });
});
