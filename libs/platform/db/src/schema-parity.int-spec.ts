// Schema parity: prisma/control/schema.prisma and prisma/tenant/schema.prisma (the schemas of record,
// from which the Prisma clients and the Kysely types are generated) describe exactly what the SQL
// migrations created in the control database and in every registered shard: every table, column,
// type, nullability, default, primary key, index (unique and partial too) and foreign key.
// What is compared and what is not (CHECK constraints, RLS, triggers, functions, grants… which a
// Prisma schema cannot express) is listed at the top of schema-parity.ts. The migration runner's
// own hotdash_migrations table is left out: it is bookkeeping, not part of the data model.
//
// The guard is also proven able to fail: a scratch column added in a shard, and a set of changes to
// control tables (each in a transaction that is rolled back), and a schema that lost a few lines,
// are each reported exactly.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Client } from 'pg';
import { PRISMA_DIR } from './migrate/migrate-all';
import { diffShapes, SchemaShape, shapeFromDatabase, shapeFromPrismaSchema } from './schema-parity';
import { TestWorld } from '@hotdash/testing';

const world = new TestWorld();
afterAll(() => world.close());

const schemaText = (name: 'control' | 'tenant') => readFileSync(join(PRISMA_DIR, name, 'schema.prisma'), 'utf8');
let controlSchema: SchemaShape;
let tenantSchema: SchemaShape;

beforeAll(async () => {
  controlSchema = await shapeFromPrismaSchema(schemaText('control'));
  tenantSchema = await shapeFromPrismaSchema(schemaText('tenant'));
});

const controlLocation = () => ({ host: world.config.db.controlHost, port: world.config.db.controlPort, database: world.config.db.controlDatabase });

/**
 * Runs `change` as the owner in a transaction, reads the catalogue inside it, and rolls back: the
 * database is left as it was whatever happens. lock_timeout keeps a busy table from stalling the run.
 */
async function catalogueAfter(location: { host: string; port: number; database: string }, change: string): Promise<SchemaShape> {
  const c: Client = await world.connect(location, 'owner');
  try {
    await c.query('begin');
    await c.query(`set local lock_timeout = '5s'`);
    await c.query(change);
    return await shapeFromDatabase(c);
  } finally {
    await c.query('rollback').catch(() => undefined);
    await c.end();
  }
}

async function catalogue(location: { host: string; port: number; database: string }): Promise<SchemaShape> {
  const c = await world.connect(location, 'owner');
  try {
    return await shapeFromDatabase(c);
  } finally {
    await c.end();
  }
}

it('the control database matches prisma/control/schema.prisma', async () => {
  const db = await catalogue(controlLocation());
  expect(Object.keys(db).length).toBeGreaterThanOrEqual(10);
  expect({ database: 'control', differences: diffShapes(controlSchema, db) }).toEqual({ database: 'control', differences: [] });
});

it('every registered shard matches prisma/tenant/schema.prisma', async () => {
  const shards = await world.shards();
  expect(shards.length).toBeGreaterThanOrEqual(1);
  for (const shard of shards) {
    const db = await catalogue(shard);
    expect(Object.keys(db).length).toBeGreaterThanOrEqual(20);
    expect({ shard: shard.name, differences: diffShapes(tenantSchema, db) }).toEqual({ shard: shard.name, differences: [] });
  }
});

describe('the guard fails', () => {
  it('on a column the schema does not have, and reports only that column', async () => {
    const [shard] = await world.shards();
    const db = await catalogueAfter(shard!, 'alter table tenant_settings add column parity_scratch text');
    expect(diffShapes(tenantSchema, db)).toEqual(['tenant_settings.parity_scratch: column in the database, not in the schema (text, nullable)']);
  });

  it('on a changed type, nullability and default, an extra index and foreign key, a missing unique index', async () => {
    const db = await catalogueAfter(
      controlLocation(),
      `alter table offboarding_records alter column reason type varchar, alter column requested_by drop not null,
         alter column completed_at drop default;
       create index parity_scratch_idx on offboarding_records (saga_id) where audit_entries > 0;
       alter table offboarding_records add constraint parity_scratch_fkey foreign key (saga_id) references sagas (id) not valid;
       drop index platform_operators_email_key`,
    );
    expect(diffShapes(controlSchema, db)).toEqual([
      'offboarding_records.completed_at: default is none in the database, now() in the schema',
      'offboarding_records.reason: type is character varying in the database, text in the schema',
      'offboarding_records.requested_by: nullable in the database, not null in the schema',
      'offboarding_records: foreign key (saga_id) → sagas(id) in the database, not in the schema (on delete no action on update no action)',
      'offboarding_records: index parity_scratch_idx in the database, not in the schema (btree (saga_id) where (audit_entries > 0))',
      'platform_operators: index platform_operators_email_key in the schema, not in the database (unique btree (email))',
    ]);
  });

  it('on a schema that lost a table, a column, an index and a relation', async () => {
    const text = schemaText('control')
      .replace(/\nmodel PlatformOperator \{[^}]*\}\n/, '\n')
      .replace(/(\nmodel Outbox \{[^}]*?)\n\s*lastError [^\n]*/, '$1')
      .replace(/\n\s*@@index\(\[status\]\)\n/, '\n')
      .replace(', onDelete: Cascade, onUpdate: NoAction)', ')');
    const db = await catalogue(controlLocation());
    expect(diffShapes(await shapeFromPrismaSchema(text), db)).toEqual([
      'outbox.last_error: column in the database, not in the schema (text, nullable)',
      'saga_steps: foreign key (saga_id) → sagas(id) is on delete cascade on update no action in the database, on delete restrict on update cascade in the schema',
      'table platform_operators: in the database, not in the schema (columns id, email, display_name, password_hash, status, created_at, disabled_at, last_login_at)',
      'tenants: index tenants_status_idx in the database, not in the schema (btree (status))',
    ]);
  });
});
