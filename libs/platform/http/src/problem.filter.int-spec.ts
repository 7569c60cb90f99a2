// A request whose tenant transaction could not get a lock in time (held by another transaction past
// lock_timeout: as the embedded database refuses a connection that waited for another one's
// transaction, with 55P03) is answered 503 database-busy with Retry-After, as problem+json, on both
// app flavours: its transaction was rolled back, so the caller may retry. It used to be a 500
// "internal error". A statement past its own statement_timeout stays a 500: slow every time, a
// retry would not help.
import { Controller, Get, INestApplication, Module, Param, Type } from '@nestjs/common';
import { sql } from 'kysely';
import { parseTenantId } from '@hotdash/contracts';
import { TestWorld } from '@hotdash/testing';
import { createFastifyHttpApp, createHttpApp } from './http-app';

const world = new TestWorld();
afterAll(() => world.close());

/** The advisory lock the spec holds from another connection while the route waits for it. */
const LOCK = 7_201_126_909;

@Controller()
class BusyController {
  @Get('locked/:tenant')
  async locked(@Param('tenant') tenant: string): Promise<{ ok: true }> {
    await world.tenantDb.withTenant(parseTenantId(tenant), async (tx) => {
      await sql`set local lock_timeout = '100ms'`.execute(tx.db);
      await sql`select pg_advisory_xact_lock(${LOCK}::bigint)`.execute(tx.db);
      await tx.db.insertInto('inbox').values({ tenant_id: tenant, consumer: 'busy-spec', event_id: '00000000-0000-4000-8000-000000000001' }).execute();
    });
    return { ok: true };
  }

  @Get('slow/:tenant')
  async slow(@Param('tenant') tenant: string): Promise<{ ok: true }> {
    await world.tenantDb.withTenant(parseTenantId(tenant), async (tx) => {
      await sql`set local statement_timeout = '100ms'`.execute(tx.db);
      // Cancelled by the statement timeout at 100 ms: the test never waits the whole second.
      await sql`select pg_sleep(1)`.execute(tx.db);
    });
    return { ok: true };
  }
}

@Module({ controllers: [BusyController] })
class BusyModule {}

describe.each<[string, (m: Type<unknown>) => Promise<INestApplication>]>([
  ['express', (m) => createHttpApp(m, { logger: false })],
  ['fastify', (m) => createFastifyHttpApp(m, { logger: false })],
])('on %s', (_flavour, create) => {
  it('answers a transaction that waited too long for a lock 503 database-busy with Retry-After, and changes nothing; a statement timeout 500', async () => {
    const { a } = await world.twoTenantWorld();
    const app = await create(BusyModule);
    await app.listen(0, '127.0.0.1');
    const base = (await app.getUrl()).replace('[::1]', '127.0.0.1');
    const holder = await world.connect(a.shard, 'app');
    try {
      await holder.query('select pg_advisory_lock($1::bigint)', [LOCK]);
      const res = await fetch(`${base}/locked/${a.id}`);
      expect(res.status).toBe(503);
      expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(res.headers.get('retry-after')).toBe('2');
      expect(await res.json()).toMatchObject({ status: 503, code: 'database-busy', detail: expect.stringMatching(/rolled back\. Retry in a few seconds/) });
      const slow = await fetch(`${base}/slow/${a.id}`);
      expect(slow.status).toBe(500);
      expect(await slow.json()).toMatchObject({ code: 'internal-error' });
      const written = await world.tenantDb.withTenant(a.id, (tx) => tx.db.selectFrom('inbox').select('event_id').where('consumer', '=', 'busy-spec').execute());
      expect(written).toEqual([]);
      // The lock released, the same request goes through.
      await holder.query('select pg_advisory_unlock($1::bigint)', [LOCK]);
      expect((await fetch(`${base}/locked/${a.id}`)).status).toBe(200);
    } finally {
      await holder.end();
      await world.tenantDb.withTenant(a.id, (tx) => tx.db.deleteFrom('inbox').where('consumer', '=', 'busy-spec').execute());
      await app.close();
    }
  });
});
