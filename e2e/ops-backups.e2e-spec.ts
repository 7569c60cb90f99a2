// Tenant backup and restore through the ops command line end to end (issue 14, item 7): the real
// `hotdash-ops` bin against a gateway and provisioning started as separate processes (provisioning
// with its own archive folder, HOTDASH_BACKUP_DIR). An operator backs a tenant up (progress rows
// per step), lists its archives, dry-runs a restore (refused while the tenant's rows are there;
// with --replace it lists what would be erased), is stopped by the missing --yes, and restores with
// --replace --yes over a changed row: the row is as archived again. Every call is in the tenant's
// audit trail (the gateway's access entries, and the runs' outcomes), and a tenant's token is
// refused (403 ops-token-required, exit 3). Backup → erase → restore: every archived table's rows
// come back equal, row for row, with the knowledge vectors. The spec removes the tenant's rows, Weaviate tenant,
// runs, archives and the operator it made.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { archiveList, restorePlan, tenantArchiveRun, type TenantId } from '@hotdash/contracts';
import { sql } from 'kysely';
import { newId, readTenantTables, SHARD_BOOKKEEPING_TABLES } from '@hotdash/platform-db';
import { EXCLUDED_TABLES } from '@hotdash/provisioning';
import { WeaviateVectorStore } from '@hotdash/platform-vector';
import { cliDoc, createAccount, createPlatformOperator, ServiceProcess, startServices, TEST_PASSWORD, TestWorld, waitFor, opsCli } from '@hotdash/testing';

jest.setTimeout(120_000);

const GATEWAY = 'http://127.0.0.1:3277';
const PROVISIONING = 'http://127.0.0.1:3278';
const world = new TestWorld();
const vectors = WeaviateVectorStore.fromConfig(world.config);
const configHome = mkdtempSync(join(tmpdir(), 'hotdash-ops-backups-spec-'));
const backupDir = mkdtempSync(join(tmpdir(), 'hotdash-backups-e2e-'));
let processes: ServiceProcess[] = [];
let ops: { id: string; email: string };
let tenant: { tenantId: TenantId; slug: string; email: string };
let tenantToken: string;

const cli = opsCli(configHome, GATEWAY);
const doc = cliDoc;

const brandVoice = () => world.tenantDb.withTenant(tenant.tenantId, (tx) => tx.db.selectFrom('tenant_settings').select(['brand_voice']).executeTakeFirstOrThrow()).then((r) => r.brand_voice);

/** The access entries and outcomes of ops calls on the tenant waiting in its outbox (no relay runs here). */
const opsEntries = () =>
  world.tenantDb.withTenant(tenant.tenantId, async (tx) =>
    (await tx.db.selectFrom('outbox').select(['envelope']).where('type', '=', 'access.recorded').orderBy('seq').execute())
      .map((r) => r.envelope as unknown as { producer: string; payload: { actor: string; resourceType: string; route: string; status: number } })
      .filter((e) => e.payload.actor === `ops:${ops.id}`)
      .map((e) => `${e.producer} ${e.payload.route} ${e.payload.status}`),
  );

beforeAll(async () => {
  processes = await startServices([
    { entry: 'apps/gateway/src/main.ts', env: { HOTDASH_GATEWAY_PORT: '3277', HOTDASH_PROVISIONING_URL: PROVISIONING }, url: GATEWAY },
    { entry: 'apps/provisioning/src/main.ts', env: { HOTDASH_PROVISIONING_PORT: '3278', HOTDASH_BACKUP_DIR: backupDir }, url: PROVISIONING },
  ]);
  ops = await createPlatformOperator(world);
  tenant = await createAccount(world, 'admin');
  await world.tenantDb.withTenant(tenant.tenantId, (tx) => tx.db.insertInto('tenant_settings').values({ tenant_id: tenant.tenantId, brand_voice: 'as archived', policies: 'p', sla: '{}' }).execute());
  await vectors.createTenant(tenant.tenantId);
  await vectors.upsertChunks(tenant.tenantId, [{ id: newId(), vector: [1, 0, 0, 0], documentId: 'doc', chunkIndex: 0, text: 'refunds', title: 'Doc', sourceVersion: 1 }]);
  const res = await fetch(`${GATEWAY}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ tenant: tenant.slug, email: tenant.email, password: TEST_PASSWORD }) });
  tenantToken = ((await res.json()) as { accessToken: string }).accessToken;
  expect((await cli(['login', ops.email], { HOTDASH_OPS_PASSWORD: TEST_PASSWORD })).code).toBe(0);
}, 90_000);

afterAll(async () => {
  await Promise.all(processes.map((p) => p.stop()));
  if (tenant) {
    await world.tenantDb.withTenant(tenant.tenantId, (tx) => tx.db.selectFrom((eb) => eb.fn<{ table_name: string }>('erase_tenant', [eb.val(tenant.tenantId)]).as('e')).selectAll().execute());
    await vectors.deleteTenant(tenant.tenantId);
  }
  const owner = await world.connect(world.dbs.controlLocation, 'owner');
  try {
    if (tenant) {
      await owner.query('delete from tenant_archive_runs where tenant_id = $1', [tenant.tenantId]);
      await owner.query('delete from tenant_placements where tenant_id = $1', [tenant.tenantId]);
      await owner.query('delete from tenant_keys where tenant_id = $1', [tenant.tenantId]);
      await owner.query('delete from tenants where id = $1', [tenant.tenantId]);
    }
    if (ops) await owner.query('delete from platform_operators where id = $1', [ops.id]);
  } finally {
    await owner.end();
  }
  await vectors.close();
  await world.close();
  rmSync(configHome, { recursive: true, force: true });
  rmSync(backupDir, { recursive: true, force: true });
}, 60_000);

it('backs up, lists, dry-runs and restores a tenant with --replace, every call in the tenant’s audit trail', async () => {
  const backup = await cli(['tenants', 'backup', tenant.tenantId], { HOTDASH_OPS_PROGRESS: 'always' });
  // One progress row per step (first seen waiting or running; a small tenant is quick), each ending done.
  expect([backup.code, backup.stderr]).toEqual([0, expect.stringMatching(/progress: rows \d+ (waiting|running)[\s\S]*progress: rows \d+ done[\s\S]*progress: knowledge vectors 1 done[\s\S]*progress: verify archive (\d+)\/\2 done/)]);
  expect(backup.stdout).toMatch(/written and verified/);
  const listed = archiveList.parse(doc(await cli(['backups', 'list', '--tenant', tenant.tenantId, '--json'])));
  expect(listed.archives).toHaveLength(1);
  const archive = listed.archives[0]!;
  expect(archive).toMatchObject({ tenantId: tenant.tenantId, tenantSlug: tenant.slug, vectors: 1, createdBy: `ops:${ops.id}` });
  expect(archive.rows).toBeGreaterThanOrEqual(3);

  // The tenant's rows are there: a restore would be refused, with what to do.
  const refused = await cli(['tenants', 'restore', archive.id, '--dry-run', '--json']);
  expect([refused.code, doc(refused).error]).toEqual([1, expect.objectContaining({ code: 'tenant-rows-present', status: 409, hint: expect.stringContaining('--replace --yes') })]);
  const plan = restorePlan.parse(doc(await cli(['tenants', 'restore', archive.id, '--dry-run', '--replace', '--json'])));
  expect(plan).toMatchObject({ dryRun: true, shard: 'shard-1', replace: true, placementMoves: false, vectors: 1 });
  expect(plan.present.map((p) => p.table)).toEqual(expect.arrayContaining(['users', 'tenant_settings', 'knowledge vectors']));
  expect((await cli(['tenants', 'restore', archive.id, '--replace'])).code).toBe(2);

  // Every call so far is in the tenant's audit trail: the gateway's access entries, provisioning's
  // entry of the backup's outcome (read from the tenant's outbox, published or not).
  await waitFor('the ops calls in the tenant’s audit trail', async () => {
    const e = await opsEntries();
    return [
      'gateway /ops/tenants/:tenantId/backups 202',
      'provisioning /ops/tenants/:tenantId/backups 201',
      'gateway /ops/tenants/:tenantId/backup-runs/:runId 200',
      'gateway /ops/tenants/:tenantId/restore 409',
      'gateway /ops/tenants/:tenantId/restore 200',
    ].every((x) => e.includes(x));
  });

  await world.tenantDb.withTenant(tenant.tenantId, (tx) => tx.db.updateTable('tenant_settings').set({ brand_voice: 'changed after the backup' }).execute());
  await vectors.deleteByDocument(tenant.tenantId, 'doc');
  const restored = await cli(['tenants', 'restore', archive.id, '--replace', '--yes', '--json']);
  expect(restored.code).toBe(0);
  const run = tenantArchiveRun.parse(doc(restored));
  expect(run).toMatchObject({ kind: 'restore', status: 'succeeded', shard: 'shard-1', result: { kind: 'restore', archive: archive.id, auditChain: { ok: true }, vectors: { objects: 1 } } });
  expect(await brandVoice()).toBe('as archived');
  expect(await vectors.countObjects(tenant.tenantId)).toBe(1);
  // The restore replaced what was recorded after the backup; its own outcome is recorded in the
  // restoring transaction, after the restored chain, and the calls that followed it after that.
  await waitFor('the restore in the tenant’s audit trail', async () => {
    const e = await opsEntries();
    const outcome = e.indexOf('provisioning /ops/tenants/:tenantId/restore 200');
    return outcome >= 0 && e.slice(outcome).includes('gateway /ops/tenants/:tenantId/backup-runs/:runId 200');
  });
});

it('refuses a tenant’s token on the backup routes (403 ops-token-required; the CLI exits 3)', async () => {
  const res = await fetch(`${GATEWAY}/ops/tenants/${tenant.tenantId}/backups`, { method: 'POST', headers: { authorization: `Bearer ${tenantToken}`, 'content-type': 'application/json' }, body: '{}' });
  expect([res.status, ((await res.json()) as { code: string }).code]).toEqual([403, 'ops-token-required']);
  const r = await cli(['tenants', 'backup', tenant.tenantId, '--json'], { HOTDASH_OPS_TOKEN: tenantToken });
  expect([r.code, (doc(r).error as { code: string }).code]).toEqual([3, 'ops-token-required']);
  expect(archiveList.parse(doc(await cli(['backups', 'list', '--tenant', tenant.tenantId, '--json']))).archives).toHaveLength(1);
});

it('backup → erase → restore: every archived table equal row for row, the vectors back, the audit chain verified', async () => {
  await world.tenantDb.withTenant(tenant.tenantId, async (tx) => {
    for (let i = 0; i < 25; i++) await tx.db.insertInto('inbox').values({ tenant_id: tenant.tenantId, consumer: 'backup-round-trip', event_id: newId() }).execute();
    await tx.db.insertInto('usage_daily').values({ tenant_id: tenant.tenantId, day: '2026-12-05', metric: 'api_calls', amount: '42' }).execute();
  });
  const before = await tenantRows();
  expect(Object.values(before).flat().length).toBeGreaterThan(30);
  expect(Object.keys(before)).toEqual(expect.arrayContaining(['users', 'tenant_settings', 'inbox', 'usage_daily']));

  const backup = tenantArchiveRun.parse(doc(await cli(['tenants', 'backup', tenant.tenantId, '--json'])));
  expect(backup).toMatchObject({ kind: 'backup', status: 'succeeded' });
  const archive = (backup.result as { archive: { id: string } }).archive.id;

  // Erased: every row of the tenant on its shard, and its vector namespace.
  await world.tenantDb.withTenant(tenant.tenantId, (tx) => tx.db.selectFrom((eb) => eb.fn<{ table_name: string }>('erase_tenant', [eb.val(tenant.tenantId)]).as('e')).selectAll().execute());
  await vectors.deleteTenant(tenant.tenantId);
  expect(Object.values(await tenantRows()).flat()).toEqual([]);

  const restored = await cli(['tenants', 'restore', archive, '--yes', '--json']);
  expect(restored.code).toBe(0);
  expect(tenantArchiveRun.parse(doc(restored))).toMatchObject({ kind: 'restore', status: 'succeeded', result: { archive, auditChain: { ok: true }, vectors: { objects: 1 } } });
  expect(await tenantRows()).toEqual(before);
  expect(await vectors.countObjects(tenant.tenantId)).toBe(1);
});

/** Every row of the tenant in each table an archive holds (not the outbox, not the shard's move bookkeeping), as JSON, sorted. */
async function tenantRows(): Promise<Record<string, string[]>> {
  return world.tenantDb.withTenant(tenant.tenantId, async (tx) => {
    const rows: Record<string, string[]> = {};
    for (const t of await readTenantTables(tx.db)) {
      if (t.name in EXCLUDED_TABLES || SHARD_BOOKKEEPING_TABLES.includes(t.name)) continue;
      const r = await sql<{ r: string }>`select to_jsonb(x)::text as r from ${sql.table(t.name)} x where x.tenant_id = ${tenant.tenantId}::uuid order by 1`.execute(tx.db);
      if (r.rows.length) rows[t.name] = r.rows.map((x) => x.r);
    }
    return rows;
  });
}
