// The provisioning saga against the real control plane, shards, Weaviate and Redis: 50 concurrent
// sign-ups end active and complete; a permanent failure at any step undoes the steps before it,
// once each, last first, and leaves nothing of the tenant behind; one idempotency key, one tenant.
import Redis from 'ioredis';
import { sql } from 'kysely';
import { parseTenantId, SUBMITTED_DOCUMENT_CONTENT_FIELD, TenantId } from '@hotdash/contracts';
import { ControlTransaction, newId, type TenantDB } from '@hotdash/platform-db';
import { NonRetryableStepError, SagaDefinition, SagaEngine, SagaStatus } from '@hotdash/platform-jobs';
import { MAIL_ADDRESS_FIELD } from '@hotdash/platform-messaging';
import { MODEL_API_KEY_FIELD } from '@hotdash/platform-models';
import { TestWorld, VectorNamespaces, waitFor } from '@hotdash/testing';
import { DEFAULT_WORKFLOWS, emailHash, pickShard, provisioningDeps, provisioningSaga, ProvisioningDeps, ProvisioningSteps } from './provisioning.saga';
import { ProvisionTenantInput } from './provisioning.input';
import { startProvisioning } from './start-provisioning';

jest.setTimeout(120_000);

const world = new TestWorld();
const redis = new Redis({ host: world.config.redis.host, port: world.config.redis.port });
const deps: ProvisioningDeps = provisioningDeps(world.dbs, world.config, world.router, world.tenantDb);
const { kms } = deps;
// Every sign-up's knowledge namespace, deleted at the end (the tenants' rows stay, as other specs' do).
const namespaces = new VectorNamespaces(deps.vectors);
const STEP_IDS = Object.values(ProvisioningSteps);
const engines: SagaEngine[] = [];

function engineWith(def: SagaDefinition<ProvisionTenantInput>): SagaEngine {
  const engine = new SagaEngine(world.dbs, world.config, { queueName: `provisioning-spec-${newId()}`, backoffMs: 20, maxAttempts: 3 });
  engine.register(def);
  engine.startWorker();
  engines.push(engine);
  return engine;
}

const finished = (engine: SagaEngine, sagaId: string): Promise<SagaStatus> =>
  waitFor(`saga ${sagaId}`, async () => {
    const s = await engine.status(sagaId);
    return s && ['completed', 'compensated', 'failed'].includes(s.status) ? s : undefined;
  }, 90_000, 50);

const signUp = (i: number | string) => ({
  name: `Spec Co ${i}`,
  plan: 'basic' as const,
  admin: { email: `Admin.${i}@Example.com`, displayName: `Admin ${i}` },
  model: { mode: 'own' as const, provider: 'openai' as const, model: 'gpt-x', apiKey: `sk-secret-${i}` },
  documents: [{ title: 'Returns policy', content: `Returns within 30 days (${i}).` }],
});

const TENANT_TABLES = ['users', 'invitations', 'tenant_settings', 'approval_workflows', 'model_configs', 'kb_documents', 'mail_outbox'];

/** Rows of the tenant in every table that provisioning writes, on every shard, plus control-plane rows. */
async function footprint(tenantId: TenantId): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const shard of await world.shards()) {
    const counts = await world.tenantDb.withTenantOnShard(shard, tenantId, async (tx) => {
      // Every table with a tenant_id column (audit log, outbox and inbox included), from the catalogue.
      const { rows: tables } = await sql<{ t: string }>`select c.relname as t from pg_class c
        join pg_attribute a on a.attrelid = c.oid and a.attname = 'tenant_id' join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = 'public' and c.relkind = 'r' order by 1`.execute(tx.db);
      const r: Record<string, number> = {};
      for (const { t } of tables) r[`${shard.name}.${t}`] = Number((await tx.db.selectFrom(t as keyof TenantDB).select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow()).n);
      expect(tables.map((x) => x.t)).toEqual(expect.arrayContaining(TENANT_TABLES));
      return r;
    });
    Object.assign(out, counts);
  }
  const c = world.dbs.control();
  out['control.tenants'] = await c.tenant.count({ where: { id: tenantId } });
  out['control.tenant_placements'] = await c.tenantPlacement.count({ where: { tenantId } });
  out['control.tenant_keys'] = (await c.$queryRaw<{ n: number }[]>`select count(*)::int as n from tenant_keys where tenant_id = ${tenantId}::uuid`)[0]!.n;
  out['weaviate.tenant'] = (await deps.vectors.tenantExists(tenantId)) ? 1 : 0;
  out['redis.keys'] = (await redis.keys(`*${tenantId}*`)).length;
  return out;
}

/** The knowledge.document-submitted events in the tenant's outbox, their content decrypted. */
async function submissions(tenantId: TenantId): Promise<Record<string, string>[]> {
  const rows = await world.tenantDb.withTenant(tenantId, (tx) => tx.db.selectFrom('outbox').select(['envelope']).where('type', '=', 'knowledge.document-submitted').orderBy('seq').execute());
  return Promise.all(
    rows.map(async ({ envelope }) => {
      const e = envelope as { producer: string; payload: { documentId: string; title: string; contentType: string; content: string; by: string } };
      const { content, ...rest } = e.payload;
      return { ...rest, text: await deps.cipher.decrypt(tenantId, SUBMITTED_DOCUMENT_CONTENT_FIELD, content), producer: e.producer };
    }),
  );
}

async function controlEvents(sagaId: string): Promise<string[]> {
  const rows = await world.dbs.control().$queryRaw<{ type: string; step: string | null }[]>`
    select type, envelope->'payload'->>'step' as step from outbox where envelope->>'correlationId' = ${sagaId} order by seq`;
  return rows.map((r) => (r.step ? `${r.type}:${r.step}` : r.type));
}

afterAll(async () => {
  await Promise.all(engines.map((e) => e.close()));
  redis.disconnect();
  await namespaces.deleteAll();
  await deps.vectors.close();
  await world.close();
});

it('provisions 50 tenants concurrently: all active, one admin, one knowledge namespace, default workflows', async () => {
  const engine = engineWith(provisioningSaga(deps));
  const started = await Promise.all(Array.from({ length: 50 }, (_, i) => startProvisioning(engine, kms, signUp(`c${i}`))));
  namespaces.track(...started.map((s) => s.tenantId));
  const results = await Promise.all(started.map((s) => finished(engine, s.sagaId)));
  expect(results.map((r) => r.status)).toEqual(results.map(() => 'completed'));
  for (const [i, s] of started.entries()) {
    const tenantId = parseTenantId(s.tenantId);
    const tenant = await world.dbs.control().tenant.findUnique({ where: { id: tenantId } });
    expect(tenant).toMatchObject({ status: 'active', name: `Spec Co c${i}`, planCode: 'basic' });
    const fp = await footprint(tenantId);
    const shard = (await world.router.shardOf(tenantId)).name;
    expect(fp).toMatchObject({
      [`${shard}.users`]: 1,
      [`${shard}.invitations`]: 1,
      [`${shard}.approval_workflows`]: DEFAULT_WORKFLOWS.length,
      [`${shard}.tenant_settings`]: 1,
      [`${shard}.model_configs`]: 1,
      [`${shard}.mail_outbox`]: 1,
      'control.tenant_keys': 1,
      'weaviate.tenant': 1,
    });
    const admin = await world.tenantDb.withTenant(tenantId, (tx) => tx.db.selectFrom('users').select(['role', 'status', 'email_enc', 'email_hash']).execute());
    expect(admin).toEqual([expect.objectContaining({ role: 'admin', status: 'invited', email_hash: emailHash(tenantId, `admin.c${i}@example.com`) })]);
    expect(await deps.cipher.decrypt(tenantId, 'users.email', admin[0]!.email_enc)).toBe(`Admin.c${i}@Example.com`);
    // One knowledge.document-submitted per sign-up document, its text encrypted with the tenant's key
    // (the id chosen at sign-up: the saga's input no longer holds the documents, see below).
    expect(await submissions(tenantId)).toEqual([
      { tenantId, documentId: expect.stringMatching(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/), title: 'Returns policy', contentType: 'text/plain', text: `Returns within 30 days (c${i}).`, by: `saga:${s.sagaId}`, producer: 'provisioning' },
    ]);
    // The invitation e-mail, through the mail port: to the admin's address, encrypted.
    const mails = await world.tenantDb.withTenant(tenantId, (tx) => tx.db.selectFrom('mail_outbox').select(['to_enc', 'kind', 'subject']).execute());
    expect(mails).toEqual([{ to_enc: expect.not.stringContaining('xample'), kind: 'invitation', subject: `You are invited to Spec Co c${i} on HotDash` }]);
    expect(await deps.cipher.decrypt(tenantId, MAIL_ADDRESS_FIELD, mails[0]!.to_enc)).toBe(`Admin.c${i}@Example.com`);
    const model = await world.tenantDb.withTenant(tenantId, (tx) => tx.db.selectFrom('model_configs').select('api_key_enc').execute());
    expect(model[0]!.api_key_enc).not.toContain('sk-secret');
    expect(await deps.cipher.decrypt(tenantId, MODEL_API_KEY_FIELD, model[0]!.api_key_enc!)).toBe(`sk-secret-c${i}`);
    expect(await controlEvents(s.sagaId)).toEqual([
      'tenant.provisioning.started',
      'tenant.created',
      ...STEP_IDS.slice(0, 6).map((id) => `tenant.provisioning.step-completed:${id}`),
      'tenant.activated',
      `tenant.provisioning.step-completed:${ProvisioningSteps.ACTIVATION}`,
      'tenant.provisioned',
    ]);
  }
  // Compensation's discard function refuses a tenant that is no longer being provisioned.
  await expect(world.dbs.control().$queryRaw`select discard_provisioning_tenant(${started[0]!.tenantId}::uuid)`).rejects.toThrow(/not provisioning/);
  await expect(world.dbs.control().$executeRaw`delete from tenants where id = ${started[0]!.tenantId}::uuid`).rejects.toThrow(/permission denied/);
  // The sign-up secrets and the initial documents' text do not outlive the saga (the rest of the input stays).
  const inputs = await world.dbs.control().$queryRaw<{ sealed: unknown; documents: unknown; name: string }[]>`
    select input->'sealed' as sealed, input->'documents' as documents, input->>'name' as name from sagas where id = any(${started.map((s) => s.sagaId)}::uuid[])`;
  expect(inputs).toHaveLength(started.length);
  for (const r of inputs) expect(r).toEqual({ sealed: null, documents: null, name: expect.stringMatching(/^Spec Co c\d+$/) });
});

describe.each(STEP_IDS.map((id, k) => [k, id] as const))('when step %i (%s) fails for good', (k, stepId) => {
  it('compensates steps k-1 … 0 once each, last first, and leaves nothing of the tenant', async () => {
    const def = provisioningSaga(deps);
    const failing = { ...def, steps: def.steps.map((s, i) => (i === k ? { ...s, run: async () => { throw new NonRetryableStepError(`injected failure of ${s.id}`); } } : s)) };
    const engine = engineWith(failing);
    const { sagaId, tenantId } = await startProvisioning(engine, kms, signUp(`f${k}-${newId().slice(-4)}`));
    namespaces.track(tenantId);
    const s = await finished(engine, sagaId);
    expect(s.status).toBe('compensated');
    expect(s.failedStep).toBe(stepId);
    // Undone sign-ups forget their secrets and documents too.
    expect(s.input).toMatchObject({ sealed: null, documents: null });
    const compensated = s.steps.filter((x) => x.status === 'compensated').map((x) => x.index);
    const withCompensation = def.steps.map((x, i) => (i < k && x.compensate ? i : -1)).filter((i) => i >= 0);
    expect(compensated).toEqual(withCompensation);
    expect(s.steps.filter((x) => x.index < k).every((x) => x.compensationAttempts === (x.compensationRegistered ? 1 : 0))).toBe(true);
    // Last first: each compensation finished after the one of the step after it.
    const times = withCompensation.map((i) => s.steps[i]!.compensatedAt!).reverse();
    expect([...times].sort()).toEqual(times);
    const fp = await footprint(parseTenantId(tenantId));
    expect(Object.entries(fp).filter(([, n]) => n !== 0)).toEqual([]);
    const events = await controlEvents(sagaId);
    expect(events).toContain(`tenant.provisioning.failed:${stepId}`);
    expect(events).not.toContain('tenant.provisioned');
  });
});

it('starts one tenant for one idempotency key, asked 20 times at once', async () => {
  const engine = engineWith(provisioningSaga(deps));
  const key = newId();
  const results = await Promise.all(Array.from({ length: 20 }, () => startProvisioning(engine, kms, signUp(`idem-${key.slice(-4)}`), key)));
  namespaces.track(...results.map((r) => r.tenantId));
  expect(new Set(results.map((r) => r.sagaId)).size).toBe(1);
  expect(new Set(results.map((r) => r.tenantId)).size).toBe(1);
  expect(results.filter((r) => r.created)).toHaveLength(1);
  await finished(engine, results[0]!.sagaId);
  expect(await world.dbs.control().tenant.count({ where: { name: `Spec Co idem-${key.slice(-4)}` } })).toBe(1);
});

it("keeps each shard's tenant count equal to its placements through sign-ups and compensations", async () => {
  // After the sign-ups and compensated sagas above; other specs placing tenants meanwhile do not
  // matter: the counts and the placements are read in one snapshot.
  const rows = await world.dbs.control().$queryRaw<{ name: string; counted: number; placed: number }[]>`select s.name, s.tenant_count as counted,
    (select count(*)::int from tenant_placements p where p.shard_id = s.id) as placed from shards s order by s.name`;
  expect(rows.length).toBeGreaterThan(0);
  expect(rows.map((r) => [r.name, r.counted])).toEqual(rows.map((r) => [r.name, r.placed]));
  // Not writable by the services: only the database keeps it.
  await expect(world.dbs.control().$executeRaw`update shards set tenant_count = 0`).rejects.toThrow(/permission denied/);
});

it('places a tenant on the active shared shard with the fewest tenants, or on a dedicated shard of its own', async () => {
  // In a transaction that is rolled back, each shared shard in turn is made the least loaded.
  const owner = await world.connect(world.dbs.controlLocation, 'owner');
  // The placement policy's statements on the owner's connection (a control-plane transaction's handle on it).
  const tx = new ControlTransaction(owner as unknown as ConstructorParameters<typeof ControlTransaction>[0]);
  try {
    await owner.query('begin');
    const shared: string[] = (await owner.query(`select name from shards where kind = 'shared' and status = 'active' order by name`)).rows.map((r) => r.name);
    expect(shared.length).toBeGreaterThan(0);
    for (const target of shared) {
      await owner.query(`update shards set tenant_count = case when name = $1 then 10 else 11 end where kind = 'shared'`, [target]);
      expect((await pickShard(tx, false)).name).toBe(target);
    }
    // A draining shard gets no new tenant however empty it is.
    await owner.query(`update shards set status = 'draining', tenant_count = 0 where name = $1`, [shared[0]]);
    if (shared.length > 1) expect((await pickShard(tx, false)).name).not.toBe(shared[0]);
    else await expect(pickShard(tx, false)).rejects.toThrow(/no active shared shard/);
    // A dedicated shard goes to one tenant only: free while it has none, then no more.
    await owner.query(`update shards set status = 'retired' where kind = 'dedicated'`);
    const dedicated = `spec-dedicated-${newId().slice(-6)}`;
    await owner.query(`insert into shards (id, name, host, port, database, kind, status) values ($1, $2, '127.0.0.1', 1, 'none', 'dedicated', 'active')`, [newId(), dedicated]);
    expect((await pickShard(tx, true)).name).toBe(dedicated);
    await owner.query(`update shards set tenant_count = 1 where name = $1`, [dedicated]);
    await expect(pickShard(tx, true)).rejects.toThrow(/no free dedicated shard/);
  } finally {
    await owner.query('rollback');
    await owner.end();
  }
});
