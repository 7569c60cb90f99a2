// The relay's retention sweep (delivered-retention.ts, prune_delivered in each database): what was
// delivered longer ago than its retention goes (published outbox rows, applied inbox ids, sent
// mail), in batches; what is still to deliver, what was set aside and what is recent stays; a fenced
// tenant's rows stay (moved away: the verification after the cut-over compares them; moving in); and
// a shard a tenant move publishes from, or is about to, is left alone. On the stack's databases and
// on embedded ones (PGlite).
import type { Client } from 'pg';
import { Topics } from '@hotdash/contracts';
import { newId, TenantMover } from '@hotdash/platform-db';
import { DB_MODES, EMBEDDED_START_MS, type ModeWorld, type TestWorld, worldFor, type WorldTenant } from '@hotdash/testing';
import { DeliveredRetention, type DeliveredRetentionOptions } from './delivered-retention';

const DAY = 86_400_000;
const ago = (ms: number) => new Date(Date.now() - ms);
const OPTIONS: DeliveredRetentionOptions = { intervalMs: 0, firstRunMs: 0, outboxMs: 7 * DAY, inboxMs: 14 * DAY, mailMs: 30 * DAY, batch: 2 };

// The world of the databases being tested (describe.each below: the stack's, then embedded ones).
let world: TestWorld;
let retention: DeliveredRetention;
const logged: string[] = [];

/** An outbox row (a shard's or the control database's) written at `created`, published or set aside when given. */
const outboxRow = (tenantId: string, id: string, created: Date, published: Date | null, failed: Date | null = null) => ({
  id,
  tenant_id: tenantId,
  topic: Topics.TENANTS,
  key: tenantId,
  type: 'tenant.created',
  version: 1,
  envelope: '{}',
  created_at: created,
  published_at: published,
  failed_at: failed,
  last_error: failed ? 'set aside by the spec' : null,
});

/** One tenant's rows of every kind, old and recent, delivered or not; returns their ids by fate. */
async function seed(t: WorldTenant, consumer: string) {
  const id = () => newId();
  const outbox = { oldPublished: [id(), id(), id()], oldFailed: id(), oldPending: id(), recentPublished: id() };
  const inbox = { old: [id(), id(), id()], recent: id() };
  const mail = { oldSent: id(), oldFailed: id(), recentSent: id() };
  const event = (rowId: string, created: Date, published: Date | null, failed: Date | null = null) => outboxRow(t.id, rowId, created, published, failed);
  const message = (rowId: string, created: Date, sent: Date | null, failed: Date | null = null) => ({
    id: rowId,
    tenant_id: t.id,
    to_enc: 'sealed',
    subject: 'Spec',
    body: 'Spec',
    kind: 'invitation',
    created_at: created,
    sent_at: sent,
    failed_at: failed,
    last_error: failed ? 'set aside by the spec' : null,
  });
  await world.tenantDb.withTenant(t.id, async (tx) => {
    await tx.db
      .insertInto('outbox')
      .values([
        ...outbox.oldPublished.map((r) => event(r, ago(10 * DAY), ago(10 * DAY))),
        event(outbox.oldFailed, ago(10 * DAY), null, ago(10 * DAY)),
        // Still to publish (the spec's own relay is not running; the row is deleted at the end).
        event(outbox.oldPending, ago(10 * DAY), null),
        event(outbox.recentPublished, ago(DAY), ago(DAY)),
      ])
      .execute();
    await tx.db
      .insertInto('inbox')
      .values([...inbox.old.map((e) => ({ tenant_id: t.id, consumer, event_id: e, processed_at: ago(15 * DAY) })), { tenant_id: t.id, consumer, event_id: inbox.recent, processed_at: ago(13 * DAY) }])
      .execute();
    await tx.db
      .insertInto('mail_outbox')
      .values([message(mail.oldSent, ago(31 * DAY), ago(31 * DAY)), message(mail.oldFailed, ago(31 * DAY), null, ago(31 * DAY)), message(mail.recentSent, ago(29 * DAY), ago(29 * DAY))])
      .execute();
  });
  return { outbox, inbox, mail };
}

type Seeded = Awaited<ReturnType<typeof seed>>;

/** Which of a tenant's seeded rows are still there. */
async function left(t: WorldTenant, consumer: string, s: Seeded) {
  return world.tenantDb.withTenant(t.id, async (tx) => {
    const outboxIds = [...s.outbox.oldPublished, s.outbox.oldFailed, s.outbox.oldPending, s.outbox.recentPublished];
    const mailIds = [s.mail.oldSent, s.mail.oldFailed, s.mail.recentSent];
    return {
      outbox: new Set((await tx.db.selectFrom('outbox').select('id').where('id', 'in', outboxIds).execute()).map((r) => r.id)),
      inbox: new Set((await tx.db.selectFrom('inbox').select('event_id').where('consumer', '=', consumer).execute()).map((r) => r.event_id)),
      mail: new Set((await tx.db.selectFrom('mail_outbox').select('id').where('id', 'in', mailIds).execute()).map((r) => r.id)),
    };
  });
}

/** A statement on a tenant's fence as the mover writes it: the owner, in the tenant's context, in a transaction of its own. */
function fencing(owner: Client, t: WorldTenant) {
  return async (text: string, values: unknown[]): Promise<void> => {
    await owner.query('begin');
    await owner.query(`select set_config('app.tenant_id', $1, true)`, [t.id]);
    await owner.query(text, values);
    await owner.query('commit');
  };
}

async function removeSeeded(t: WorldTenant, consumer: string, s: Seeded): Promise<void> {
  await world.tenantDb.withTenant(t.id, async (tx) => {
    await tx.db.deleteFrom('outbox').where('id', 'in', [...s.outbox.oldPublished, s.outbox.oldFailed, s.outbox.oldPending, s.outbox.recentPublished]).execute();
    await tx.db.deleteFrom('inbox').where('consumer', '=', consumer).execute();
    await tx.db.deleteFrom('mail_outbox').where('id', 'in', [s.mail.oldSent, s.mail.oldFailed, s.mail.recentSent]).execute();
  });
}

describe.each(DB_MODES)('on the %s databases', (mode) => {
  let modes: ModeWorld;
  beforeAll(async () => {
    modes = await worldFor(mode);
    world = modes.world;
    retention = new DeliveredRetention(world.dbs, world.router, OPTIONS, (m) => logged.push(m));
  }, EMBEDDED_START_MS);
  afterAll(() => modes?.close());

  it("deletes a shard's published events, applied inbox ids and sent mail past their retention, in batches; keeps what is pending, set aside or recent, and a fenced tenant's rows", async () => {
    const { a, b } = await world.twoTenantWorld();
    const consumer = `retention-spec-${newId()}`;
    const sa = await seed(a, consumer);
    const sb = await seed(b, consumer);
    // b is fenced on this shard (a move's decision, or a move in): its rows are the mover's to compare and delete.
    const owner = await world.connect(a.shard, 'owner');
    const fence = fencing(owner, b);
    try {
      await fence('insert into tenant_fences (tenant_id, move_id) values ($1, $2)', [b.id, newId()]);
      const r = await retention.sweepShard(a.shard.name, a.shard);
      // Batches of 2: three old rows of a in each table took two calls (other specs' old rows may add to the counts).
      expect(r.heldBy).toBeUndefined();
      expect(r.outbox).toBeGreaterThanOrEqual(3);
      expect(r.inbox).toBeGreaterThanOrEqual(3);
      expect(r.mail).toBeGreaterThanOrEqual(1);
      await fence('delete from tenant_fences where tenant_id = $1', [b.id]);

      const la = await left(a, consumer, sa);
      expect([...la.outbox].sort()).toEqual([sa.outbox.oldFailed, sa.outbox.oldPending, sa.outbox.recentPublished].sort());
      expect([...la.inbox]).toEqual([sa.inbox.recent]);
      expect([...la.mail].sort()).toEqual([sa.mail.oldFailed, sa.mail.recentSent].sort());
      const lb = await left(b, consumer, sb);
      expect(lb.outbox.size).toBe(6);
      expect(lb.inbox.size).toBe(4);
      expect(lb.mail.size).toBe(3);

      // Its fence gone, b's old rows go at the next sweep, and then nothing is left to delete.
      expect(await retention.sweepShard(a.shard.name, a.shard)).toEqual({ database: a.shard.name, outbox: 3, inbox: 3, mail: 1 });
      const lb2 = await left(b, consumer, sb);
      expect([...lb2.outbox].sort()).toEqual([sb.outbox.oldFailed, sb.outbox.oldPending, sb.outbox.recentPublished].sort());
      expect([...lb2.inbox]).toEqual([sb.inbox.recent]);
      expect([...lb2.mail].sort()).toEqual([sb.mail.oldFailed, sb.mail.recentSent].sort());
      expect(await retention.sweepShard(a.shard.name, a.shard)).toEqual({ database: a.shard.name, outbox: 0, inbox: 0, mail: 0 });
    } finally {
      await fence('delete from tenant_fences where tenant_id = $1', [b.id]).catch(() => undefined);
      await owner.end();
      await removeSeeded(a, consumer, sa);
      await removeSeeded(b, consumer, sb);
    }
  });

  // On the stack only (the embedded databases share one session's temporary schema among their connections).
  if (mode === 'stack')
    it('is not fooled by a temporary table named like one it reads (its search path puts pg_temp last)', async () => {
      const { b } = await world.twoTenantWorld();
      const consumer = `retention-spec-${newId()}`;
      const sb = await seed(b, consumer);
      const owner = await world.connect(b.shard, 'owner');
      const relay = await world.connect(b.shard, 'relay');
      const fence = fencing(owner, b);
      try {
        await fence('insert into tenant_fences (tenant_id, move_id) values ($1, $2)', [b.id, newId()]);
        // The relay's session shadows the fences (and the publications) with empty tables of its own.
        await relay.query('create temporary table tenant_fences (tenant_id uuid)');
        await relay.query('create temporary table pg_publication (pubname text)');
        await relay.query(`select * from prune_delivered(interval '7 days', interval '14 days', interval '30 days', 1000)`);
        await fence('delete from tenant_fences where tenant_id = $1', [b.id]);
        const lb = await left(b, consumer, sb);
        expect([lb.outbox.size, lb.inbox.size, lb.mail.size]).toEqual([6, 4, 3]);
      } finally {
        await fence('delete from tenant_fences where tenant_id = $1', [b.id]).catch(() => undefined);
        await Promise.all([owner.end(), relay.end()]);
        await removeSeeded(b, consumer, sb);
      }
    });

  // On the stack only: the embedded databases serve one transaction at a time, so a mover's lock
  // held in an open transaction would make the sweep wait for it instead of finding it taken.
  if (mode === 'stack')
  it('leaves a shard alone while a tenant move publishes from it, and while a move is creating its publication', async () => {
    const { a } = await world.twoTenantWorld();
    const consumer = `retention-spec-${newId()}`;
    const sa = await seed(a, consumer);
    const publication = TenantMover.replicationName(newId());
    const owner = await world.connect(a.shard, 'owner');
    const mover = await world.connect(a.shard, 'owner');
    try {
      await owner.query(`create publication ${publication} for table inbox where (tenant_id = '${a.id}'::uuid)`);
      expect(await retention.sweepShard(a.shard.name, a.shard)).toEqual({ database: a.shard.name, outbox: 0, inbox: 0, mail: 0, heldBy: publication });
      await owner.query(`drop publication ${publication}`);

      // The mover holds the retention lock while it creates a publication.
      await mover.query('begin');
      await mover.query('select pg_advisory_xact_lock(7201126003)');
      expect(await retention.sweepShard(a.shard.name, a.shard)).toMatchObject({ outbox: 0, inbox: 0, mail: 0, heldBy: 'a tenant move creating its publication' });
      await mover.query('rollback');

      const la = await left(a, consumer, sa);
      expect(la.outbox.size).toBe(6);
      expect(la.inbox.size).toBe(4);
      expect(la.mail.size).toBe(3);

      // The runner logs what held it and what it deleted, per database.
      logged.length = 0;
      const all = await retention.runOnce();
      const shard = all.find((x) => x.database === a.shard.name);
      expect(shard?.heldBy).toBeUndefined();
      expect(shard?.inbox).toBeGreaterThanOrEqual(3);
      expect(all.map((x) => x.database)).toContain('control');
      expect((await left(a, consumer, sa)).inbox).toEqual(new Set([sa.inbox.recent]));
      expect(logged.some((m) => m.startsWith(`${a.shard.name}: deleted `))).toBe(true);
    } finally {
      await mover.query('rollback').catch(() => undefined);
      await owner.query(`drop publication if exists ${publication}`).catch(() => undefined);
      await owner.end();
      await mover.end();
      await removeSeeded(a, consumer, sa);
    }
  });

  it("deletes the control database's published events past their retention, and keeps the pending, set-aside and recent ones", async () => {
    const tenant = newId();
    const ids = { oldPublished: newId(), oldFailed: newId(), recentPublished: newId() };
    const row = (id: string, created: Date, published: Date | null, failed: Date | null = null) => outboxRow(tenant, id, created, published, failed);
    await world.dbs.withControl((tx) =>
      tx.db
        .insertInto('outbox')
        .values([row(ids.oldPublished, ago(8 * DAY), ago(8 * DAY)), row(ids.oldFailed, ago(8 * DAY), null, ago(8 * DAY)), row(ids.recentPublished, ago(6 * DAY), ago(6 * DAY))])
        .execute(),
    );
    try {
      const r = await retention.sweepControl();
      expect(r.outbox).toBeGreaterThanOrEqual(1);
      const kept = await world.dbs.withControl((tx) => tx.db.selectFrom('outbox').select('id').where('id', 'in', Object.values(ids)).execute());
      expect(kept.map((k) => k.id).sort()).toEqual([ids.oldFailed, ids.recentPublished].sort());
    } finally {
      // The application role may not delete from the control outbox: the owner cleans up.
      const owner = await world.connect(world.dbs.controlLocation, 'owner');
      await owner.query('delete from outbox where id = any($1::uuid[])', [Object.values(ids)]).finally(() => owner.end());
    }
  });
});
