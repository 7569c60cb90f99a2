// Appending against the real shard as the event transport does it: several events of a tenant in
// one transaction (the head read once, under the chain's lock), a group at once (executeMany), a
// savepoint rolled back under a head the handler kept, duplicates, and concurrent transactions on
// one chain. Every chain ends verified, its head recorded, each new entry announced once.
import { AccessEvents, Envelope, TenantId } from '@hotdash/contracts';
import { buildEnvelope } from '@hotdash/platform-messaging';
import { TestWorld } from '@hotdash/testing';
import { AuditLogRepository } from '../../audit-log.repository';
import { VerifyAuditChainHandler } from '../verify-audit-chain/verify-audit-chain.handler';
import { RecordAuditEntryHandler } from './record-audit-entry.handler';

const world = new TestWorld();
const repo = new AuditLogRepository();
const record = new RecordAuditEntryHandler(repo);
const verify = new VerifyAuditChainHandler(world.tenantDb, repo);
afterAll(() => world.close());

function access(tenantId: TenantId, n: number): Envelope {
  return buildEnvelope(
    AccessEvents.RECORDED,
    { actor: `user:spec-${n}`, action: 'read', resourceType: 'api-key', resourceId: null, method: 'GET', route: '/api-keys', status: 200, ipEnc: null, at: new Date().toISOString() },
    { tenantId, producer: 'gateway', correlationId: `c-${n}` },
  );
}

/** The chain's entries (seq, event) in order, its recorded head and the audit.recorded announcements in the outbox (seqs). */
async function chainOf(tenantId: TenantId): Promise<{ seqs: number[]; events: string[]; head?: { seq: number; hash: string }; lastHash?: string; announced: number[] }> {
  return world.tenantDb.withTenant(tenantId, async (tx) => {
    const rows = await repo.page(tx, tenantId, 0, 10_000);
    const head = await repo.head(tx, tenantId);
    const outbox = await tx.db.selectFrom('outbox').select('envelope').where('tenant_id', '=', tenantId).where('type', '=', 'audit.recorded').execute();
    return {
      seqs: rows.map((r) => r.seq),
      events: rows.map((r) => r.eventId),
      head,
      lastHash: rows.at(-1)?.hash,
      announced: outbox.map((o) => (o.envelope as { payload: { seq: number } }).payload.seq).sort((a, b) => a - b),
    };
  });
}

const upTo = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

it('chains several events of one transaction, one after the other, as the transport applies a group', async () => {
  const { a, b } = await world.twoTenantWorld();
  const events = upTo(12).map((n) => access(a.id, n));
  await world.tenantDb.withTenant(a.id, async (tx) => {
    for (const e of events.slice(0, 5)) await record.execute(tx, e, 'user:spec');
  });
  await world.tenantDb.withTenant(a.id, async (tx) => {
    for (const e of events.slice(5)) await record.execute(tx, e, 'user:spec');
  });
  await world.tenantDb.withTenant(b.id, (tx) => record.execute(tx, access(b.id, 1), 'user:spec'));
  const chain = await chainOf(a.id);
  expect(chain.seqs).toEqual(upTo(12));
  expect(chain.events).toEqual(events.map((e) => e.id));
  expect(chain.head).toEqual({ seq: 12, hash: chain.lastHash });
  expect(chain.announced).toEqual(upTo(12));
  expect(await verify.execute(a.id)).toEqual({ ok: true, checked: 12 });
  expect(await verify.execute(b.id)).toEqual({ ok: true, checked: 1 });
});

it('records an event seen twice in one transaction once, and goes on after it', async () => {
  const { a } = await world.twoTenantWorld();
  const [e1, e2] = [access(a.id, 1), access(a.id, 2)];
  const [first, again, second] = await world.tenantDb.withTenant(a.id, async (tx) => [
    await record.execute(tx, e1, 'user:spec'),
    await record.execute(tx, e1, 'user:spec'),
    await record.execute(tx, e2, 'user:spec'),
  ]);
  expect(again).toEqual(first);
  expect(second.seq).toBe(2);
  expect(second.prevHash).toBe(first.hash);
  expect((await chainOf(a.id)).announced).toEqual([1, 2]);
  expect(await verify.execute(a.id)).toEqual({ ok: true, checked: 2 });
});

it('re-reads the head when a savepoint undid an append it had kept, so the chain has no gap', async () => {
  const { a } = await world.twoTenantWorld();
  const undone = access(a.id, 2);
  await world.tenantDb.withTenant(a.id, async (tx) => {
    await record.execute(tx, access(a.id, 1), 'user:spec');
    await expect(
      tx.savepoint(async (sp) => {
        expect((await record.execute(sp, undone, 'user:spec')).seq).toBe(2);
        throw new Error('undo');
      }),
    ).rejects.toThrow('undo');
    // The head kept in memory says seq 2; the chain ends at 1.
    expect((await record.execute(tx, access(a.id, 3), 'user:spec')).seq).toBe(2);
    expect((await record.execute(tx, access(a.id, 4), 'user:spec')).seq).toBe(3);
  });
  const chain = await chainOf(a.id);
  expect(chain.seqs).toEqual([1, 2, 3]);
  expect(chain.events).not.toContain(undone.id);
  expect(chain.announced).toEqual([1, 2, 3]);
  expect(await verify.execute(a.id)).toEqual({ ok: true, checked: 3 });
});

it('appends a group at once, skipping events recorded before and repeated in the group', async () => {
  const { a } = await world.twoTenantWorld();
  const before = access(a.id, 0);
  await world.tenantDb.withTenant(a.id, (tx) => record.execute(tx, before, 'user:spec'));
  const group = upTo(20).map((n) => access(a.id, n));
  const items = [...group.slice(0, 10), before, group[3]!, ...group.slice(10)].map((event) => ({ event, actorId: 'user:spec' }));
  const rows = await world.tenantDb.withTenant(a.id, async (tx) => {
    const r = await record.executeMany(tx, items);
    // The head it leaves is the one a next event of the same transaction builds on.
    const next = await record.execute(tx, access(a.id, 99), 'user:spec');
    return [...r, next];
  });
  expect(rows.map((r) => r.seq)).toEqual([...upTo(11).slice(1), 1, 5, ...upTo(21).slice(11), 22]);
  const chain = await chainOf(a.id);
  expect(chain.seqs).toEqual(upTo(22));
  expect(chain.events.slice(0, 21)).toEqual([before, ...group].map((e) => e.id));
  expect(chain.head).toEqual({ seq: 22, hash: chain.lastHash });
  expect(chain.announced).toEqual(upTo(22));
  expect(await verify.execute(a.id)).toEqual({ ok: true, checked: 22 });
  // Again, whole: nothing new.
  const again = await world.tenantDb.withTenant(a.id, (tx) => record.executeMany(tx, items));
  expect(again.map((r) => r.id)).toEqual(rows.slice(0, items.length).map((r) => r.id));
  expect((await chainOf(a.id)).seqs).toEqual(upTo(22));
});

it('refuses a group of several tenants', async () => {
  const { a, b } = await world.twoTenantWorld();
  await expect(world.tenantDb.withTenant(a.id, (tx) => record.executeMany(tx, [{ event: access(a.id, 1), actorId: null }, { event: access(b.id, 1), actorId: null }]))).rejects.toThrow(/one tenant/);
});

it('keeps one chain when transactions append to it concurrently, one event at a time and in groups', async () => {
  const { a } = await world.twoTenantWorld();
  const batches = upTo(8).map((k) => upTo(10).map((n) => access(a.id, k * 100 + n)));
  await Promise.all(
    batches.map((batch, k) =>
      world.tenantDb.withTenant(a.id, async (tx) => {
        if (k % 2) await record.executeMany(tx, batch.map((event) => ({ event, actorId: 'user:spec' })));
        else for (const e of batch) await record.execute(tx, e, 'user:spec');
      }),
    ),
  );
  const chain = await chainOf(a.id);
  expect(chain.seqs).toEqual(upTo(80));
  expect(new Set(chain.events)).toEqual(new Set(batches.flat().map((e) => e.id)));
  expect(chain.announced).toEqual(upTo(80));
  expect(await verify.execute(a.id)).toEqual({ ok: true, checked: 80 });
});
