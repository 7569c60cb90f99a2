// The audit chain against the real shard: appends chain, verification passes, and tampering with
// any stored entry (content, hash, link, deletion) is reported as the first broken link.
import { TenantEvents } from '@hotdash/contracts';
import { buildEnvelope } from '@hotdash/platform-messaging';
import { TestWorld, WorldTenant } from '@hotdash/testing';
import { AuditLogRepository } from '../../audit-log.repository';
import { RecordAuditEntryHandler } from '../record-audit-entry/record-audit-entry.handler';
import { VerifyAuditChainHandler } from './verify-audit-chain.handler';

const world = new TestWorld();
const repo = new AuditLogRepository();
const record = new RecordAuditEntryHandler(repo);
const verify = new VerifyAuditChainHandler(world.tenantDb, repo);
afterAll(() => world.close());

async function tenantWithChain(n: number): Promise<{ t: WorldTenant; other: WorldTenant }> {
  const { a, b } = await world.twoTenantWorld();
  for (let i = 0; i < n; i++) {
    for (const t of [a, b]) {
      const e = buildEnvelope(TenantEvents.CREATED, { tenantId: t.id, name: `${t.name} ${i}`, plan: 'basic', shard: t.shard.name, createdBy: 'spec' }, { tenantId: t.id, producer: 'spec', correlationId: 'c' });
      await world.tenantDb.withTenant(t.id, (tx) => record.execute(tx, e, 'ops:spec'));
    }
  }
  return { t: a, other: b };
}

async function tamper(t: WorldTenant, sql: string, seq: number): Promise<void> {
  const su = await world.connectSuperuser(t.shard.database);
  try {
    await su.query(sql, [t.id, seq]);
  } finally {
    await su.end();
  }
}

it('chains entries per tenant and verifies them', async () => {
  const { t, other } = await tenantWithChain(5);
  expect(await verify.execute(t.id)).toEqual({ ok: true, checked: 5 });
  expect(await verify.execute(other.id)).toEqual({ ok: true, checked: 5 });
  const rows = await world.tenantDb.withTenant(t.id, (tx) => repo.page(tx, t.id, 0, 10));
  expect(rows.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5]);
  for (let i = 1; i < rows.length; i++) expect(rows[i]!.prevHash).toBe(rows[i - 1]!.hash);
});

it('records the same event only once', async () => {
  const { a } = await world.twoTenantWorld();
  const e = buildEnvelope(TenantEvents.CREATED, { tenantId: a.id, name: 'once', plan: 'basic', shard: a.shard.name, createdBy: 'spec' }, { tenantId: a.id, producer: 'spec', correlationId: 'c' });
  const first = await world.tenantDb.withTenant(a.id, (tx) => record.execute(tx, e, null));
  const second = await world.tenantDb.withTenant(a.id, (tx) => record.execute(tx, e, null));
  expect(second).toEqual(first);
  expect(await verify.execute(a.id)).toEqual({ ok: true, checked: 1 });
});

it.each([
  ['an edited payload', `update audit_log set payload = jsonb_set(payload, '{name}', '"forged"') where tenant_id = $1 and seq = $2`, 'hash-mismatch'],
  ['an edited actor', `update audit_log set actor_id = 'ops:mallory' where tenant_id = $1 and seq = $2`, 'hash-mismatch'],
  ['a recomputed-looking hash', `update audit_log set hash = repeat('a', 64) where tenant_id = $1 and seq = $2`, 'hash-mismatch'],
  ['a re-pointed link', `update audit_log set prev_hash = repeat('0', 64) where tenant_id = $1 and seq = $2`, 'prev-hash-mismatch'],
  ['a deleted entry', `delete from audit_log where tenant_id = $1 and seq = $2`, 'seq-gap'],
])('names the first broken link after %s', async (_label, sql, reason) => {
  const { t, other } = await tenantWithChain(6);
  await tamper(t, sql, 3);
  const result = await verify.execute(t.id);
  expect(result).toMatchObject({ ok: false, checked: 2, firstBroken: { seq: reason === 'seq-gap' ? 4 : 3, reason } });
  // The other tenant's chain is untouched and still verifies.
  expect(await verify.execute(other.id)).toEqual({ ok: true, checked: 6 });
});

it('detects any single entry altered, deleted or moved, at its position, including the last', async () => {
  const n = 5;
  const { t, other } = await tenantWithChain(n);
  const su = await world.connectSuperuser(t.shard.database);
  try {
    const { rows } = await su.query(`select * from audit_log where tenant_id = $1 order by seq`, [t.id]);
    const restore = async (row: Record<string, unknown>) => {
      await su.query('delete from audit_log where id = $1', [row.id]);
      await su.query('insert into audit_log select * from jsonb_populate_record(null::audit_log, $1::jsonb)', [JSON.stringify(row)]);
    };
    for (let seq = 1; seq <= n; seq++) {
      const row = rows[seq - 1] as Record<string, unknown>;
      await su.query(`update audit_log set actor_id = 'ops:mallory' where id = $1`, [row.id]);
      expect([seq, await verify.execute(t.id)]).toMatchObject([seq, { ok: false, firstBroken: { seq, reason: 'hash-mismatch' } }]);
      await restore(row);
      await su.query(`delete from audit_log where id = $1`, [row.id]);
      // A deleted entry is a gap at the next seq; the last one shows against the recorded head.
      expect([seq, await verify.execute(t.id)]).toMatchObject([seq, { ok: false, firstBroken: seq === n ? { seq, reason: 'missing-entries' } : { seq: seq + 1, reason: 'seq-gap' } }]);
      await restore(row);
      expect(await verify.execute(t.id)).toEqual({ ok: true, checked: n });
    }
    // Moving an entry: entries 2 and 3 swap places (their seq numbers).
    await su.query(`update audit_log set seq = seq + 1000 where tenant_id = $1 and seq in (2, 3)`, [t.id]);
    await su.query(`update audit_log set seq = case when seq = 1002 then 3 else 2 end where tenant_id = $1 and seq in (1002, 1003)`, [t.id]);
    expect(await verify.execute(t.id)).toMatchObject({ ok: false, checked: 1, firstBroken: { seq: 2, reason: 'prev-hash-mismatch' } });
  } finally {
    await su.end();
  }
  expect(await verify.execute(other.id)).toEqual({ ok: true, checked: n });
});

it('refuses updates and deletes of audit entries from the application role', async () => {
  const { t } = await tenantWithChain(1);
  await expect(world.tenantDb.withTenant(t.id, (tx) => tx.db.updateTable('audit_log').set({ actor_id: 'x' }).where('tenant_id', '=', t.id).execute())).rejects.toThrow(/permission denied/);
  await expect(world.tenantDb.withTenant(t.id, (tx) => tx.db.deleteFrom('audit_log').where('tenant_id', '=', t.id).execute())).rejects.toThrow(/permission denied/);
});
