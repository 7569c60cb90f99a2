// Offboarding over HTTP against the real control plane, shards, Weaviate and Redis: tenant A's
// data is removed from every store (rows of every tenant table, Weaviate objects, queued jobs, Redis
// keys), its data key destroyed and the offboarding recorded, while tenant B's data is untouched
// (counts per table and per Weaviate tenant before and after).
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { INestApplication, Module } from '@nestjs/common';
import { Queue, Worker } from 'bullmq';
import { sql } from 'kysely';
import Redis from 'ioredis';
import { parseTenantId, SignedTenantErasureCertificate, TenantId } from '@hotdash/contracts';
import { certificateVerifyKeysFromEnv, FieldCipher, SubjectKeyring, TenantKeyDestroyedError, TenantKeyring, KmsPort, verifyCertificate } from '@hotdash/platform-crypto';
import { DatabaseModule, newId, type TenantDB } from '@hotdash/platform-db';
import { createHttpApp } from '@hotdash/platform-http';
import { legacyTenantKeyPrefix, QueueName, redisConnection, SagaEngine, tenantKeyPrefix } from '@hotdash/platform-jobs';
import { VectorStore } from '@hotdash/platform-vector';
import { internalAuthorization, opsCaller, TestWorld, VectorNamespaces, waitFor } from '@hotdash/testing';
import { ProvisioningModule } from './provisioning.module';

jest.setTimeout(120_000);

@Module({ imports: [DatabaseModule.forRoot(), ProvisioningModule] })
class TestAppModule {}

const world = new TestWorld();
const namespaces = VectorNamespaces.local(world.config); // the namespaces of tenants not offboarded, deleted at the end
const redis = new Redis({ host: world.config.redis.host, port: world.config.redis.port });
const queue = new Queue(QueueName.SAGA_STEPS, { connection: redisConnection(world.config) });
// Jobs kept after they finished: the offboarding erases the tenant's (a queue no worker of this spec consumes).
const finishedQueue = new Queue(QueueName.KNOWLEDGE_INGESTION, { connection: redisConnection(world.config) });
const mailDir = mkdtempSync(join(tmpdir(), 'hotdash-offboard-mail-'));
const mailEnv = process.env.HOTDASH_MAIL_DIR;
let app: INestApplication;
let base: string;

beforeAll(async () => {
  process.env.HOTDASH_MAIL_DIR = mailDir;
  app = await createHttpApp(TestAppModule, { logger: false });
  app.get(SagaEngine).startWorker();
  await app.listen(0, '127.0.0.1');
  base = `http://127.0.0.1:${app.getHttpServer().address().port}`;
});
afterAll(async () => {
  if (mailEnv === undefined) delete process.env.HOTDASH_MAIL_DIR;
  else process.env.HOTDASH_MAIL_DIR = mailEnv;
  rmSync(mailDir, { recursive: true, force: true });
  for (const job of await finishedQueue.getJobs(['completed', 'failed'])) if (job?.name === 'spec-finished') await job.remove();
  await finishedQueue.close();
  await queue.close();
  redis.disconnect();
  await app.close();
  await namespaces.deleteAll();
  await world.close();
});

// As the gateway calls provisioning for platform operator carol (actor ops:carol).
const call = async (method: string, path: string, body?: unknown) =>
  fetch(`${base}${path}`, {
    method,
    headers: { 'content-type': 'application/json', authorization: await internalAuthorization('provisioning', opsCaller('carol')) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });

async function provisioned(name: string): Promise<TenantId> {
  const res = await call('POST', '/tenants', { name, plan: 'basic', admin: { email: `admin@${newId().slice(-6)}.test` } });
  const { tenantId } = (await res.json()) as { tenantId: string };
  namespaces.track(tenantId);
  await waitFor(`${name} provisioned`, async () => ((await (await call('GET', `/tenants/${tenantId}`)).json()) as { status: string }).status === 'active', 30_000, 50);
  return parseTenantId(tenantId);
}

/** Rows per tenant table (read from the catalogue), Weaviate objects, Redis keys and queued jobs of a tenant. */
async function footprint(tenantId: TenantId): Promise<Record<string, number | boolean>> {
  const shard = await world.router.shardOf(tenantId);
  const out: Record<string, number | boolean> = {};
  await world.tenantDb.withTenantOnShard(shard, tenantId, async (tx) => {
    const { rows: tables } = await sql<{ t: string }>`select c.relname as t from pg_class c join pg_attribute a on a.attrelid = c.oid and a.attname = 'tenant_id'
      join pg_namespace n on n.oid = c.relnamespace where n.nspname = 'public' and c.relkind = 'r' order by 1`.execute(tx.db);
    for (const { t } of tables) out[t] = Number((await tx.db.selectFrom(t as keyof TenantDB).select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow()).n);
  });
  const vectors = app.get(VectorStore);
  out.weaviateTenant = await vectors.tenantExists(tenantId);
  out.weaviateObjects = out.weaviateTenant ? await vectors.countObjects(tenantId) : 0;
  // Its keys, those named before issue 15 (no hash tag) included.
  out.redisKeys = (await Promise.all([`${tenantKeyPrefix(tenantId)}*`, `${legacyTenantKeyPrefix(tenantId)}*`, `hotdash:idem:${tenantId}:*`].map((p) => redis.keys(p)))).flat().length;
  out.queuedJobs = (await queue.getJobs(['delayed'])).filter((j) => j?.data?.tenantId === tenantId).length;
  out.finishedJobs = (await finishedQueue.getJobs(['completed', 'failed'])).filter((j) => j?.data?.tenantId === tenantId).length;
  out.mailFiles = existsSync(join(mailDir, tenantId)) ? readdirSync(join(mailDir, tenantId)).length : 0;
  out.subjectKeys = await world.dbs.control().subjectKey.count({ where: { tenantId } });
  return out;
}

async function seed(tenantId: TenantId): Promise<string> {
  // Audit entries (a chain of three and its head, each tenant's hashes its own), a knowledge
  // document and its chunks, Redis keys and a queued job: data in every store.
  await world.tenantDb.withTenant(tenantId, async (tx) => {
    await tx.db.insertInto('kb_documents').values({ id: newId(), tenant_id: tenantId, title: 'FAQ', content: '', bytes: '5', status: 'indexed', source: Buffer.from('Hello') }).execute();
    let prev = '0'.repeat(64);
    for (let seq = 1; seq <= 3; seq++) {
      const hash = createHash('sha256').update(`${tenantId}:${seq}:${newId()}`).digest('hex');
      await tx.db
        .insertInto('audit_log')
        .values({
          id: newId(),
          tenant_id: tenantId,
          seq: String(seq),
          event_id: newId(),
          event_type: 'spec.event',
          actor_id: 'spec',
          occurred_at: sql`now()`,
          recorded_at: sql`now()`,
          payload: '{}',
          prev_hash: prev,
          hash,
        })
        .execute();
      prev = hash;
    }
    await tx.db.insertInto('audit_heads').values({ tenant_id: tenantId, seq: '3', hash: prev }).execute();
  });
  const vectors = app.get(VectorStore);
  await vectors.upsertChunks(tenantId, [0, 1, 2].map((i) => ({ id: newId(), vector: [1, i, 0, 0], documentId: newId(), chunkIndex: i, text: `chunk ${i}`, title: 'FAQ', sourceVersion: 1 })));
  await redis.set(`${tenantKeyPrefix(tenantId)}rate`, '1');
  await redis.set(`${tenantKeyPrefix(tenantId)}quota:2026-11`, '42');
  await redis.hset(`${legacyTenantKeyPrefix(tenantId)}limits`, { rpm: '60', inflight: '5' });
  await redis.set(`hotdash:idem:${tenantId}:POST /operators:${'0'.repeat(64)}`, '{}', 'EX', 3_600);
  await queue.add('run', { sagaId: newId(), stepIndex: 0, tenantId }, { delay: 3_600_000, jobId: `spec-${newId()}` });
  // A job that finished and one that failed, as a worker leaves them (taken by hand: lifo puts each at the head).
  const worker = new Worker(QueueName.KNOWLEDGE_INGESTION, null, { connection: redisConnection(world.config), autorun: false });
  try {
    for (const outcome of ['completed', 'failed'] as const) {
      await finishedQueue.add('spec-finished', { tenantId, documentId: newId() }, { lifo: true, jobId: `spec-${newId()}` });
      const token = newId();
      const job = (await worker.getNextJob(token))!;
      expect(job.data.tenantId).toBe(tenantId);
      if (outcome === 'completed') await job.moveToCompleted('indexed', token, false);
      else await job.moveToFailed(new Error('spec failure'), token, false);
    }
  } finally {
    await worker.close();
  }
  // A data subject's key (a customer's tickets sealed under it).
  await new SubjectKeyring(world.dbs, app.get(TenantKeyring)).subjectFor(tenantId, 'customer@example.test');
  // Mail the local sender delivered.
  mkdirSync(join(mailDir, tenantId), { recursive: true });
  writeFileSync(join(mailDir, tenantId, `${newId()}.eml`), 'To: someone@example.test\r\n\r\nHello');
  return app.get(FieldCipher).encrypt(tenantId, 'spec.field', 'personal data');
}

it("offboarding tenant A erases it from every store and leaves tenant B's data untouched", async () => {
  const a = await provisioned('Offboard A');
  const b = await provisioned('Offboard B');
  const tokenA = await seed(a);
  const tokenB = await seed(b);
  const beforeA = await footprint(a);
  const beforeB = await footprint(b);
  expect(beforeA).toMatchObject({ audit_log: 3, audit_heads: 1, users: 1, kb_documents: 1, weaviateTenant: true, weaviateObjects: 3, redisKeys: 4, queuedJobs: 1, finishedJobs: 2, mailFiles: 1, subjectKeys: 1 });
  // What the control plane holds of each: its row, its provisioning saga, its events (as if the relay had published them).
  const control = world.dbs.control();
  await control.$executeRaw`update outbox set published_at = now() where tenant_id in (${a}::uuid, ${b}::uuid) and published_at is null`;
  const controlOf = async (t: TenantId) => ({
    tenant: await control.tenant.findUniqueOrThrow({ where: { id: t }, select: { name: true, slug: true } }),
    sagas: (await control.saga.findMany({ where: { tenantId: t }, select: { type: true } })).map((r) => r.type).sort(),
    events: await control.outbox.count({ where: { tenantId: t } }),
  });
  const controlB = await controlOf(b);
  expect((await controlOf(a)).sagas).toContain('tenant-provisioning');
  expect((await controlOf(a)).events).toBeGreaterThan(0);
  // The head of A's audit chain before erasure, as audit keeps it.
  const headA = await world.tenantDb.withTenant(a, (tx) => tx.db.selectFrom('audit_heads').select(['seq', 'hash']).executeTakeFirstOrThrow());
  expect(headA.seq).toBe('3');

  const res = await call('POST', `/tenants/${a}/offboard`, { reason: 'contract ended' });
  expect(res.status).toBe(202);
  const { sagaId } = (await res.json()) as { sagaId: string };
  const again = await call('POST', `/tenants/${a}/offboard`, { reason: 'asked twice' });
  expect(((await again.json()) as { sagaId: string }).sagaId).toBe(sagaId); // one offboarding per tenant

  await waitFor('tenant A offboarded', async () => ((await (await call('GET', `/tenants/${a}`)).json()) as { status: string }).status === 'offboarded', 60_000, 100);
  // The saga goes on after the status: the control plane's erasure is its last step.
  await waitFor('the offboarding saga finished', async () => ((await (await call('GET', `/tenants/${a}/offboarding`)).json()) as { steps: { status: string }[] }).steps.every((st) => st.status === 'completed'), 30_000, 100);

  // Ops follow it step by step; B, never offboarded, has no such view.
  const view = (await (await call('GET', `/tenants/${a}/offboarding`)).json()) as { sagaId: string; status: string; steps: { id: string; status: string; attempts: number; completedAt: string | null }[] };
  expect(view.sagaId).toBe(sagaId);
  expect(view.status).toBe('offboarded');
  expect(view.steps.length).toBeGreaterThan(3);
  for (const step of view.steps) expect(step).toMatchObject({ status: 'completed', attempts: 1, completedAt: expect.any(String) });
  const none = await call('GET', `/tenants/${b}/offboarding`);
  expect(none.status).toBe(404);
  expect(none.headers.get('content-type')).toContain('application/problem+json');

  const afterA = await footprint(a);
  expect(Object.entries(afterA).filter(([, v]) => v !== 0 && v !== false)).toEqual([]);
  expect(await footprint(b)).toEqual(beforeB);

  // Crypto-shredding: A's encrypted data can no longer be read anywhere; B's still can.
  const fresh = new FieldCipher(new TenantKeyring(world.dbs, app.get(KmsPort)));
  await expect(fresh.decrypt(a, 'spec.field', tokenA)).rejects.toBeInstanceOf(TenantKeyDestroyedError);
  await expect(fresh.decrypt(b, 'spec.field', tokenB)).resolves.toBe('personal data');

  const record = await world.dbs.control().$queryRaw<{ requested_by: string; reason: string; audit_entries: bigint; audit_head_hash: string | null; erased: Record<string, number> }[]>`
    select requested_by, reason, audit_entries, audit_head_hash, erased from offboarding_records where tenant_id = ${a}::uuid`;
  // What erase_tenant erased, table by table; the audit entries are its count of the audit log and
  // the head hash the chain's head it read before erasing (provisioning reads no table of audit's).
  expect(record[0]).toMatchObject({ requested_by: 'ops:carol', reason: 'contract ended', audit_head_hash: headA.hash });
  expect(Number(record[0]!.audit_entries)).toBe(beforeA.audit_log);
  expect(record[0]!.erased).toMatchObject({ audit_log: beforeA.audit_log, audit_heads: 1, users: 1, kb_documents: 1 });
  // The control plane keeps the record, the offboarding saga and the events still to publish; the
  // tenant's name, slug, other sagas and relayed events are gone; B's are all there.
  const offboarded = await control.outbox.findMany({ where: { tenantId: a }, orderBy: { seq: 'asc' } });
  expect(offboarded.map((o) => o.type)).toEqual(['tenant.offboarding.started', 'tenant.offboarded']);
  expect(await controlOf(a)).toEqual({ tenant: { name: 'Offboarded tenant', slug: `offboarded-${a}` }, sagas: ['tenant-offboarding'], events: 2 });
  expect(await controlOf(b)).toEqual(controlB);

  // The signed certificate: what was erased where, with the counts the stores had; it verifies with
  // the platform's public key, and a changed copy does not. B has none.
  const certRes = await call('GET', `/tenants/${a}/offboarding/certificate`);
  expect(certRes.status).toBe(200);
  const signed = (await certRes.json()) as SignedTenantErasureCertificate;
  const keys = certificateVerifyKeysFromEnv();
  expect(verifyCertificate(signed, keys)).toMatchObject({ valid: true });
  const c = signed.certificate;
  expect(c).toMatchObject({ type: 'hotdash.tenant-erasure-certificate', tenantId: a, offboardingId: sagaId, requestedBy: 'ops:carol', reason: 'contract ended', auditChain: { entries: 3, headHash: headA.hash } });
  const count = Object.fromEntries(c.stores.map((st) => [st.store, st.count]));
  const erasedRows = Object.entries(beforeA).filter(([k, v]) => typeof v === 'number' && !['weaviateObjects', 'redisKeys', 'queuedJobs', 'finishedJobs', 'mailFiles', 'subjectKeys'].includes(k)).reduce((sum, [, v]) => sum + (v as number), 0);
  expect(count).toMatchObject({ 'vector-store': 1, jobs: 3, redis: beforeA.redisKeys, postgresql: erasedRows, 'data-key': 1, 'subject-keys': 1, mail: 1 });
  expect(count['control-plane']).toBeGreaterThan(1); // the provisioning saga and the relayed events
  const tampered = { ...signed, certificate: { ...c, stores: c.stores.map((st) => (st.store === 'postgresql' ? { ...st, count: st.count - 1 } : st)) } };
  expect(verifyCertificate(tampered, keys)).toEqual({ valid: false, reason: 'bad-signature' });
  expect((await call('GET', `/tenants/${b}/offboarding/certificate`)).status).toBe(404);

  const late = await call('POST', `/tenants/${a}/offboard`, { reason: 'once more' });
  expect(late.status).toBe(202); // the same offboarding saga answers
  const bad = await call('POST', `/tenants/${b}/offboard`, {});
  expect(bad.status).toBe(400);
  expect(await footprint(b)).toEqual(beforeB);
});
