// The stored-documents sweep against the real shards, Redis (BullMQ) and Weaviate: a document
// committed but never queued (the process died between the commit and the queueing) is found by the
// running sweep, queued and indexed; one younger than the grace period is left to its own queueing.
// The shard function the sweep reads through works across tenants, so what it gives the
// application role is checked too: ids and versions only, and no way to reach another tenant's rows.
import { INestApplication, Module } from '@nestjs/common';
import type { Queue } from 'bullmq';
import { parseTenantId, TenantId } from '@hotdash/contracts';
import { DatabaseModule, newId } from '@hotdash/platform-db';
import { createHttpApp } from '@hotdash/platform-http';
import { VectorStore } from '@hotdash/platform-vector';
import { TestWorld, waitFor } from '@hotdash/testing';
import { DocumentsService, KNOWLEDGE_QUEUE } from './documents.service';
import { IngestionWorker } from './ingestion/ingestion.worker';
import { KnowledgeModule } from './knowledge.module';
import { StoredDocumentsSweep } from './stored-documents.sweep';

jest.setTimeout(120_000);

@Module({ imports: [DatabaseModule.forRoot(), KnowledgeModule] })
class TestAppModule {}

const world = new TestWorld();
let app: INestApplication;
let queue: Queue;
let a: TenantId;
let b: TenantId;
// A grace of 6 hours, and this spec's own left-behind document aged 12: the shard is shared with
// every other spec, and documents they left waiting minutes ago must not be queued (and indexed,
// loading the machine under later specs) by this spec's sweep. The spec's documents show the rule.
const GRACE_MS = 6 * 3_600_000;
const env = { HOTDASH_KNOWLEDGE_SWEEP_MS: '300', HOTDASH_KNOWLEDGE_SWEEP_DELAY_MS: '100', HOTDASH_KNOWLEDGE_SWEEP_GRACE_MS: String(GRACE_MS) };
const saved: Record<string, string | undefined> = {};

/** Stores a document as a submission is stored, in its own committed transaction, and queues nothing (as if the process died right after the commit). */
async function storedWithoutJob(t: TenantId, title: string, text: string, ageMs = 0): Promise<string> {
  const documentId = newId();
  await world.tenantDb.withTenant(t, async (tx) => {
    await app.get(DocumentsService).storeSubmitted(tx, t, { documentId, title, contentType: 'text/plain', text, by: 'spec', correlationId: newId(), causationId: newId() });
    if (ageMs) await tx.db.updateTable('kb_documents').set({ updated_at: new Date(Date.now() - ageMs) }).where('id', '=', documentId).execute();
  });
  return documentId;
}

beforeAll(async () => {
  for (const [k, v] of Object.entries(env)) {
    saved[k] = process.env[k];
    process.env[k] = v;
  }
  app = await createHttpApp(TestAppModule, { logger: false });
  const vectors = app.get(VectorStore);
  await vectors.ensureCollection();
  a = parseTenantId((await world.createTenant('Sweep A')).id);
  b = parseTenantId((await world.createTenant('Sweep B')).id);
  await vectors.createTenant(a);
  queue = app.get<Queue>(KNOWLEDGE_QUEUE);
  app.get(IngestionWorker).start();
  await app.init(); // starts the sweep
});

afterAll(async () => {
  await app?.close();
  await world.close();
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
});

it('queues and indexes a document left stored with no job, once it is older than the grace period', async () => {
  expect(app.get(StoredDocumentsSweep).options).toMatchObject({ intervalMs: 300, firstRunMs: 100, graceMs: GRACE_MS });
  const fresh = await storedWithoutJob(a, 'Fresh', 'Just stored: its own queueing is still due.');
  const left = await storedWithoutJob(a, 'Left behind', 'Parcels lost in transit are refunded after ten business days.', 2 * GRACE_MS);
  expect(await queue.getJob(`${left}-v1`)).toBeUndefined();

  await waitFor(`document ${left} indexed by the sweep`, async () => {
    const r = await world.tenantDb.withTenant(a, (tx) => tx.db.selectFrom('kb_documents').select(['status', 'error']).where('id', '=', left).executeTakeFirstOrThrow());
    if (r.status === 'failed') throw new Error(`failed: ${r.error}`);
    return r.status === 'indexed';
  }, 60_000, 100);
  expect((await queue.getJob(`${left}-v1`))?.data).toMatchObject({ tenantId: a, documentId: left, version: 1 });

  // Several sweeps have run meanwhile: the fresh document is still its own queueing's to do.
  expect(await queue.getJob(`${fresh}-v1`)).toBeUndefined();
  expect(await world.tenantDb.withTenant(a, (tx) => tx.db.selectFrom('kb_documents').select('status').where('id', '=', fresh).executeTakeFirstOrThrow())).toEqual({ status: 'queued' });
  await world.tenantDb.withTenant(a, (tx) => tx.db.deleteFrom('kb_documents').where('id', '=', fresh).execute());
});

it('gives the application role ids and versions of waiting documents, and no way to another tenant’s rows', async () => {
  const secret = `B's secret ${newId()}`;
  // Younger than the running sweep's grace period: it stays waiting while this runs.
  const theirs = await storedWithoutJob(b, 'Secret title', secret);
  const shard = await world.router.shardOf(b);
  const c = await world.connect(shard, 'app');
  try {
    const { rows, fields } = await c.query(`select * from stored_documents_sweep(interval '0', 1000)`);
    expect(fields.map((f) => f.name)).toEqual(['tenant_id', 'id', 'version']);
    expect(rows).toContainEqual({ tenant_id: b, id: theirs, version: 1 });
    expect(JSON.stringify(rows)).not.toMatch(/secret/i);
    // Paged after a cursor: nothing at or before it comes back.
    const { rows: after } = await c.query<{ tenant_id: string; id: string }>(`select * from stored_documents_sweep(interval '0', 1000, $1, $2)`, [b, theirs]);
    expect(after.every((r) => r.tenant_id > b || (r.tenant_id === b && r.id > theirs))).toBe(true);
    // A grace longer than the document's age hides it.
    const { rows: young } = await c.query(`select id from stored_documents_sweep(interval '2 minutes', 1000) where id = $1`, [theirs]);
    expect(young).toEqual([]);

    // Without a tenant the role sees no document, in the transaction that called the function too,
    // and setting the sweep's switch itself changes nothing (the policy is the owner's).
    await c.query('begin');
    await c.query(`select * from stored_documents_sweep(interval '0', 10)`);
    expect((await c.query('select count(*)::int as n from kb_documents')).rows).toEqual([{ n: 0 }]);
    await c.query(`select set_config('hotdash.kb_sweep', 'on', true)`);
    expect((await c.query('select count(*)::int as n from kb_documents')).rows).toEqual([{ n: 0 }]);
    // In tenant A's context, B's document stays invisible.
    await c.query(`select set_config('app.tenant_id', $1, true)`, [a]);
    expect((await c.query('select id from kb_documents where id = $1', [theirs])).rows).toEqual([]);
    await c.query('rollback');
    // And the role cannot widen the function or read what it reads with the owner's rights.
    await expect(c.query(`create or replace function stored_documents_sweep(p_grace interval, p_limit integer, p_after_tenant uuid default null, p_after_id uuid default null)
      returns table (tenant_id uuid, id uuid, version integer) language sql as 'select tenant_id, id, version from kb_documents'`)).rejects.toThrow(/must be owner|permission denied/);
  } finally {
    await c.end();
  }
  await world.tenantDb.withTenant(b, (tx) => tx.db.deleteFrom('kb_documents').where('id', '=', theirs).execute());
});
