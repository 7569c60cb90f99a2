// Pooled connections: 10,000 interleaved operations from 50 tenants over a pool of only 5
// connections, through withTenant() and readOnce(). Every read sees only its own tenant's rows, every write lands
// in its own tenant, and outside a transaction no pooled connection carries a tenant setting.
import { sql } from 'kysely';
import { TenantId } from '@hotdash/contracts';
import { newId } from './ids';
import { TestWorld, WorldTenant } from '@hotdash/testing';

const TENANTS = 50;
const OPERATIONS = 10_000;
const POOL = 5;
const CONCURRENCY = 40;

const world = new TestWorld({ poolSize: POOL });
let tenants: WorldTenant[];
const consumer = `pool-spec-${newId()}`;

beforeAll(async () => {
  const [s1, s2] = await world.shards();
  tenants = [];
  for (let i = 0; i < TENANTS; i++) tenants.push(await world.createTenant(`pool tenant ${i}`, i % 2 ? s2 : s1));
}, 60_000);
afterAll(() => world.close());

it(`${OPERATIONS} interleaved operations from ${TENANTS} tenants over ${POOL} connections never cross tenants`, async () => {
  const written = new Map<TenantId, number>(tenants.map((t) => [t.id, 0]));
  const leaks: string[] = [];
  let next = 0;

  async function operation(i: number): Promise<void> {
    const t = tenants[(i * 7919) % TENANTS]!; // a scrambled but deterministic interleaving
    if (i % 3 === 2) {
      // A one-round-trip read (readOnce) interleaved with the transactions on the same connections.
      const rows = await world.tenantDb.readOnce(t.id, (db) => ({
        compile: () => sql<{ s: string; tenant_id: string | null }>`select current_setting('app.tenant_id', true) as s, (select string_agg(distinct tenant_id::text, ',') from inbox where consumer = ${consumer}) as tenant_id`.compile(db),
      }));
      if (rows[0]!.s !== t.id) leaks.push(`op ${i}: readOnce setting ${rows[0]!.s} inside ${t.id}`);
      for (const seen of rows[0]!.tenant_id?.split(',') ?? []) if (seen !== t.id) leaks.push(`op ${i}: readOnce of ${t.id} saw a row of ${seen}`);
      return;
    }
    await world.tenantDb.withTenant(t.id, async (tx) => {
      const setting = await sql<{ s: string }>`select current_setting('app.tenant_id', true) as s`.execute(tx.db).then((r) => r.rows);
      if (setting[0]!.s !== t.id) leaks.push(`op ${i}: setting ${setting[0]!.s} inside ${t.id}`);
      if (i % 3 === 0) {
        await sql`insert into inbox (tenant_id, consumer, event_id) values (${t.id}::uuid, ${consumer}, ${newId()}::uuid)`.execute(tx.db).then((r) => Number(r.numAffectedRows ?? 0));
        written.set(t.id, written.get(t.id)! + 1);
      } else {
        const rows = await sql<{ tenant_id: string }>`select distinct tenant_id::text from inbox where consumer = ${consumer}`.execute(tx.db).then((r) => r.rows);
        for (const r of rows) if (r.tenant_id !== t.id) leaks.push(`op ${i}: ${t.id} saw a row of ${r.tenant_id}`);
      }
    });
  }

  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < OPERATIONS) await operation(next++);
    }),
  );
  expect(leaks).toEqual([]);

  // Each tenant sees exactly what it wrote, however its operations were spread over the pool.
  for (const t of tenants) {
    const rows = await world.tenantDb.withTenant(t.id, (tx) => sql<{ n: number }>`select count(*)::int as n from inbox where consumer = ${consumer}`.execute(tx.db).then((r) => r.rows));
    expect({ tenant: t.id, rows: rows[0]!.n }).toEqual({ tenant: t.id, rows: written.get(t.id) });
  }

  // Every pooled connection, checked out outside any transaction, has an empty tenant setting
  // and sees no tenant rows at all.
  for (const shard of await world.shards()) {
    const pool = world.dbs.pool(shard, 'app');
    expect(pool.totalCount).toBeLessThanOrEqual(POOL);
    const clients = await Promise.all(Array.from({ length: POOL }, () => pool.connect()));
    try {
      for (const c of clients) {
        const { rows } = await c.query<{ s: string | null }>(`select current_setting('app.tenant_id', true) as s`);
        expect(rows[0]!.s ?? '').toBe('');
        const visible = await c.query<{ n: number }>(`select count(*)::int as n from inbox`);
        expect(visible.rows[0]!.n).toBe(0);
      }
    } finally {
      clients.forEach((c) => c.release());
    }
  }
}, 300_000);
