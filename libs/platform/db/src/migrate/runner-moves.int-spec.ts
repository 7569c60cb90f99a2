// The migration runner leaves a database alone while a tenant move replicates from it or into it
// (a publication or subscription named tmove_…): DDL is not replicated, so a migration on one side
// would break the move. Nothing is applied; once the move is gone, the same migrations apply.
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { TestWorld } from '@hotdash/testing';
import { newId } from '../ids';
import { PRISMA_DIR } from './migrate-all';
import { migrateDatabase, readMigrations } from './runner';

const world = new TestWorld();
const name = `hotdash_spec_runner_${newId().replace(/-/g, '').slice(-12)}`;

beforeAll(() => world.createScratchShardDatabase(name));
afterAll(async () => {
  await world.dropScratchDatabase(name);
  await world.close();
});

it('does not migrate a database a tenant move replicates from, and migrates it once the move is gone', async () => {
  const location = { host: world.config.db.controlHost, port: world.config.db.controlPort, database: name };
  const sql = 'create table runner_probe (id int)';
  const probe = { name: '29991231000000_runner_probe', sql, checksum: createHash('sha256').update(sql).digest('hex') };
  const migrations = [...readMigrations(join(PRISMA_DIR, 'tenant', 'migrations')), probe];
  const owner = await world.connect(location, 'owner');
  try {
    await owner.query(`create publication tmove_${newId().replace(/-/g, '')}`);
    const refused = await migrateDatabase(location, world.config.db.owner, migrations);
    expect(refused.applied).toEqual([]);
    expect(refused.error).toMatch(/a tenant move is running on .*tmove_.*migrations wait until it has finished/);
    expect((await owner.query(`select to_regclass('runner_probe') as t`)).rows[0].t).toBeNull();

    for (const { pubname } of (await owner.query<{ pubname: string }>(`select pubname from pg_publication where pubname like 'tmove\\_%'`)).rows) await owner.query(`drop publication ${pubname}`);
    const applied = await migrateDatabase(location, world.config.db.owner, migrations);
    expect(applied.applied).toEqual([probe.name]);
    expect(applied.error).toBeUndefined();
  } finally {
    await owner.end();
  }
});
