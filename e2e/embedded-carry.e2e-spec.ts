// A tenant carried from embedded mode to the stack (issue 18, item 3) with the tenant backup format:
// in embedded mode (its own KMS key), a tenant signs up, its admin uploads a document (LanceDB), a
// ticket is drafted from it; an ops operator (made with ops:operator on the embedded databases) backs
// the tenant up with `hotdash-ops` against the embedded gateway; `npm run ops:carry -- export` writes
// a carry bundle while the process runs, and again once it stopped (opening the embedded folder
// itself). On the stack: refusals (a changed byte of the data, a changed header, another embedder's
// dimensions, a wrong passphrase), a dry run, the import (control records, the data key wrapped by the
// stack's KMS, the archive into provisioning's store), a second import refused; then `hotdash-ops
// tenants restore` and `reactivate`. Through the stack's gateway the tenant's admin logs in with the
// password set in embedded mode and sees the ticket, its draft and the document; the vectors are in
// Weaviate; the audit chain verifies; a tenant of the stack sees none of it. Everything made is
// removed: the embedded folder, the tenants' rows, the Weaviate tenant, the control rows, the
// operator, the temp folders and the processes.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { archiveList, type TenantId } from '@hotdash/contracts';
import { newId } from '@hotdash/platform-db';
import { WeaviateVectorStore } from '@hotdash/platform-vector';
import {
  cliDoc,
  closedPort,
  createAccount,
  createPlatformOperator,
  type EmbeddedRun,
  embeddedQuery,
  embeddedRun,
  opsCli,
  REPO_ROOT,
  type ServiceProcess,
  startEmbedded,
  startServices,
  stopEmbedded,
  TEST_PASSWORD,
  TestWorld,
  waitFor,
} from '@hotdash/testing';

jest.setTimeout(300_000);

const dir = mkdtempSync(join(tmpdir(), 'hotdash-embedded-carry-'));
const home = mkdtempSync(join(tmpdir(), 'hotdash-carry-ops-'));
const backupDir = mkdtempSync(join(tmpdir(), 'hotdash-carry-backups-'));
const bundle = join(home, 'tenant.carry');
const PASSWORD = 'correct horse battery staple';
const PASSPHRASE = `carry ${randomBytes(9).toString('base64url')}`;
/** Embedded mode's own key-encryption key: the stack's is another one, so the data key must be re-wrapped. */
const EMBEDDED_KMS = `embedded-k1:${randomBytes(32).toString('base64')}`;
const world = new TestWorld();
const vectors = WeaviateVectorStore.fromConfig(world.config);
let run: EmbeddedRun;
let proc: ServiceProcess | undefined;
let processes: ServiceProcess[] = [];
let gateway: string;
let carried: { tenantId: TenantId; slug: string; ticket: string; draft: string; document: string; archive: string } | undefined;
let other: { tenantId: TenantId; slug: string; email: string } | undefined;
let stackOps: { id: string; email: string } | undefined;

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** A tool of the repository (`npm run ops:carry`, `npm run ops:operator`) as an operator runs it. */
function tool(entry: string, args: string[], env: Record<string, string>): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['-r', '@swc-node/register', join(REPO_ROOT, entry), ...args],
      { cwd: REPO_ROOT, env: { ...process.env, NODE_NO_WARNINGS: '1', ...env }, timeout: 180_000, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => resolve({ code: err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0, stdout, stderr }),
    );
  });
}

/** `npm run ops:carry -- …` (the passphrase from HOTDASH_CARRY_PASSPHRASE). */
const carry = (args: string[], env: Record<string, string>) => tool('apps/provisioning/src/tenant-carry.cli.ts', args, env);

async function call<T = Record<string, unknown>>(base: string, method: string, path: string, token?: string, body?: unknown): Promise<{ status: number; body: T }> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body === undefined ? {} : { 'content-type': typeof body === 'string' ? 'text/markdown' : 'application/json' }),
      ...(path === '/signup' ? { 'idempotency-key': `carry-${newId()}` } : {}),
    },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
}

const login = (base: string, slug: string, email: string, password: string) => call<{ accessToken: string }>(base, 'POST', '/auth/login', undefined, { tenant: slug, email, password });

async function invitationToken(tenantId: string): Promise<string> {
  const folder = join(dir, 'mail', tenantId);
  return waitFor('the invitation mail', async () => {
    for (const f of readdirSync(folder).filter((n) => n.endsWith('.eml'))) {
      const token = /\/app\/invitation#([^\s"'<>)]+)/.exec(readFileSync(join(folder, f), 'utf8'))?.[1];
      if (token) return token;
    }
    return undefined;
  }, 30_000, 100);
}

beforeAll(async () => {
  run = await embeddedRun(dir);
  run.env.HOTDASH_KMS_MASTER_KEYS = EMBEDDED_KMS;
  const ports = await Promise.all([closedPort(), closedPort(), closedPort(), closedPort(), closedPort()]);
  const [gw, prov, drafts, knowledge, audit] = ports.map((p) => `http://127.0.0.1:${p}`) as [string, string, string, string, string];
  gateway = gw;
  // The embedded process first (kept in `proc` at once, so afterAll stops it whatever fails next).
  proc = await startEmbedded(run, 90_000);
  processes = await startServices([
    { entry: 'apps/gateway/src/main.ts', env: { HOTDASH_GATEWAY_PORT: String(ports[0]), HOTDASH_PROVISIONING_URL: prov, HOTDASH_DRAFTS_URL: drafts, HOTDASH_KNOWLEDGE_URL: knowledge, HOTDASH_AUDIT_URL: audit }, url: gw },
    { entry: 'apps/provisioning/src/main.ts', env: { HOTDASH_PROVISIONING_PORT: String(ports[1]), HOTDASH_BACKUP_DIR: backupDir }, url: prov },
    { entry: 'apps/drafts/src/main.ts', env: { HOTDASH_DRAFTS_PORT: String(ports[2]) }, url: drafts },
    { entry: 'apps/knowledge/src/main.ts', env: { HOTDASH_KNOWLEDGE_PORT: String(ports[3]) }, url: knowledge },
    { entry: 'apps/audit/src/main.ts', env: { HOTDASH_AUDIT_PORT: String(ports[4]) }, url: audit },
  ]);
}, 240_000);

afterAll(async () => {
  await proc?.kill();
  await Promise.all(processes.map((p) => p.stop()));
  const tenants = [carried?.tenantId, other?.tenantId].filter((t): t is TenantId => !!t);
  for (const t of tenants) {
    await world.tenantDb.withTenant(t, (tx) => tx.db.selectFrom((eb) => eb.fn<{ table_name: string }>('erase_tenant', [eb.val(t)]).as('e')).selectAll().execute()).catch(() => undefined);
    await vectors.deleteTenant(t).catch(() => undefined);
  }
  const owner = await world.connect(world.dbs.controlLocation, 'owner');
  try {
    for (const t of tenants) {
      for (const table of ['tenant_archive_runs', 'tenant_placements', 'tenant_keys', 'subject_keys']) await owner.query(`delete from ${table} where tenant_id = $1`, [t]);
      await owner.query('delete from ops_actions where target = $1', [t]);
      await owner.query('delete from tenants where id = $1', [t]);
    }
    if (stackOps) await owner.query('delete from platform_operators where id = $1', [stackOps.id]);
  } finally {
    await owner.end();
  }
  await vectors.close();
  await world.close();
  for (const d of [dir, home, backupDir]) rmSync(d, { recursive: true, force: true });
}, 120_000);

it('carries a tenant made in embedded mode onto a stack shard: its admin logs in there and finds the ticket, the draft and the document', async () => {
  // ── Embedded mode: a tenant with a user, a document, a ticket and its draft.
  const slug = `carry-${Date.now().toString(36)}`;
  const email = `owner@${slug}.test`;
  const signed = await call<{ tenantId: TenantId }>(run.gateway, 'POST', '/signup', undefined, { name: `Org ${slug}`, slug, plan: 'basic', admin: { email } });
  expect(signed.status).toBe(202);
  const tenantId = signed.body.tenantId;
  await waitFor('the tenant active', async () => (await embeddedQuery<{ status: string }>(run, 'select status from tenants where id = $1', [tenantId]))[0]?.status === 'active', 60_000, 100);
  expect((await call(run.gateway, 'POST', '/invitations/accept', undefined, { token: await invitationToken(tenantId), password: PASSWORD })).status).toBe(200);
  const admin = (await login(run.gateway, slug, email, PASSWORD)).body.accessToken;
  const up = await call<{ id: string }>(run.gateway, 'POST', '/documents?title=Refunds', admin, '# Refunds\n\nA refund takes five business days to reach the card the customer paid with.\n');
  expect(up.status).toBe(202);
  await waitFor('the document indexed', async () => (await call<{ state: string }>(run.gateway, 'GET', `/documents/${up.body.id}`, admin)).body.state === 'indexed', 60_000, 200);
  const ticket = await call<{ id: string }>(run.gateway, 'POST', '/tickets', admin, { customer: { name: 'Dana', email: 'dana@customer.test' }, subject: 'Refund', body: 'How long does my refund take?' });
  expect(ticket.status).toBe(201);
  const pending = await waitFor('the draft pending', async () => {
    const t = (await call<{ status: string; drafts: { id: string; body: string }[] }>(run.gateway, 'GET', `/tickets/${ticket.body.id}`, admin)).body;
    return t.status === 'pending' ? t : undefined;
  }, 60_000, 200);

  // ── An ops operator of the embedded mode backs the tenant up with hotdash-ops (into the embedded folder's backups/).
  const opsEmail = `ops-${newId().slice(-8)}@embedded.test`;
  // As docs/operations.md says: `HOTDASH_PG_PORT=<embedded port> npm run ops:operator -- add <email>`.
  const made = await tool('apps/gateway/src/ops-operator.cli.ts', ['add', opsEmail, 'Embedded ops'], { HOTDASH_PG_PORT: run.env.HOTDASH_EMBEDDED_PG_PORT!, HOTDASH_OPS_PASSWORD: TEST_PASSWORD });
  expect([made.code, made.stdout]).toEqual([0, expect.stringMatching(/platform operator .* active/)]);
  const embeddedOps = opsCli(join(home, 'embedded'), run.gateway);
  expect((await embeddedOps(['login', opsEmail], { HOTDASH_OPS_PASSWORD: TEST_PASSWORD })).code).toBe(0);
  const backup = await embeddedOps(['tenants', 'backup', tenantId]);
  expect([backup.code, backup.stdout]).toEqual([0, expect.stringMatching(/written and verified/)]);
  const archive = archiveList.parse(cliDoc(await embeddedOps(['backups', 'list', '--tenant', tenantId, '--json']))).archives[0]!;
  expect(archive.vectors).toBeGreaterThan(0);
  expect(readdirSync(join(dir, 'backups', tenantId)).filter((f) => f.endsWith('.manifest.json'))).toEqual([`${archive.id}.manifest.json`]);
  carried = { tenantId, slug, ticket: ticket.body.id, draft: pending.drafts[0]!.id, document: up.body.id, archive: archive.id };

  // ── An export while the process runs (through its databases' port); then the process stops, and the
  // export opens the embedded folder itself. Either seals the data key under the passphrase.
  const sourceEnv = { ...run.env, HOTDASH_CARRY_PASSPHRASE: PASSPHRASE };
  const live = await carry(['export', '--archive', archive.id, '--out', join(home, 'live.carry')], sourceEnv);
  expect([live.code, live.stdout]).toEqual([0, expect.stringMatching(new RegExp(`Carry bundle .* written .* tenant ${slug} \\(${tenantId}\\), archive ${archive.id}`))]);
  expect(await stopEmbedded(proc!, 20_000)).toBe(0);
  proc = undefined;
  const exported = await carry(['export', '--tenant', slug, '--out', bundle, '--json'], sourceEnv);
  expect([exported.code, exported.stderr]).toEqual([0, expect.stringMatching(/progress: archive done[\s\S]*progress: write bundle done/)]);
  expect(cliDoc(exported)).toMatchObject({ tenant: { id: tenantId, slug, status: 'active' }, archive: { id: archive.id }, embedder: { model: 'local-hash-384', dimensions: 384 } });
  expect(readFileSync(bundle).includes(Buffer.from(PASSPHRASE))).toBe(false);
  expect((await carry(['export', '--tenant', slug, '--out', bundle], sourceEnv)).stderr).toMatch(/error carry-output-exists/);

  // ── The stack: dry run, refusals, import.
  const targetEnv = { HOTDASH_BACKUP_DIR: backupDir, HOTDASH_CARRY_PASSPHRASE: PASSPHRASE };
  const wrong = await carry(['import', bundle, '--shard', 'shard-1', '--json'], { ...targetEnv, HOTDASH_CARRY_PASSPHRASE: `${PASSPHRASE}x` });
  expect([wrong.code, cliDoc(wrong).error]).toEqual([1, expect.objectContaining({ code: 'carry-passphrase-wrong' })]);
  const bytes = readFileSync(bundle);
  const dataAt = bytes.indexOf(0x0a, bytes.indexOf(0x0a) + 1) + 1;
  const changedData = join(home, 'changed-data.carry');
  writeFileSync(changedData, Buffer.concat([bytes.subarray(0, dataAt + 10), Buffer.from([bytes[dataAt + 10]! ^ 1]), bytes.subarray(dataAt + 11)]));
  const badData = await carry(['import', changedData, '--shard', 'shard-1', '--dry-run', '--json'], targetEnv);
  expect([badData.code, cliDoc(badData).error]).toEqual([1, expect.objectContaining({ code: 'archive-corrupt' })]);
  const changedHeader = join(home, 'changed-header.carry');
  writeFileSync(changedHeader, Buffer.from(bytes.toString('latin1').replace(`"slug":"${slug}"`, `"slug":"${slug}x"`), 'latin1'));
  const badHeader = await carry(['import', changedHeader, '--shard', 'shard-1', '--dry-run', '--json'], targetEnv);
  expect([badHeader.code, cliDoc(badHeader).error]).toEqual([1, expect.objectContaining({ code: 'carry-bundle-corrupt' })]);
  const otherEmbedder = await carry(['import', bundle, '--shard', 'shard-1', '--dry-run', '--json'], { ...targetEnv, HOTDASH_EMBEDDING_DIMENSIONS: '512' });
  expect([otherEmbedder.code, cliDoc(otherEmbedder).error]).toEqual([1, expect.objectContaining({ code: 'carry-embedder-mismatch' })]);
  const dry = await carry(['import', bundle, '--shard', 'shard-1', '--dry-run', '--json'], targetEnv);
  expect([dry.code, cliDoc(dry)]).toEqual([0, expect.objectContaining({ dryRun: true, tenantId, slug, shard: 'shard-1', sourceStatus: 'active', vectors: archive.vectors })]);
  expect((await world.dbs.controlDb().selectFrom('tenants').select('id').where('id', '=', tenantId).execute()).length).toBe(0);
  const imported = await carry(['import', bundle, '--shard', 'shard-1', '--json'], targetEnv);
  expect([imported.code, imported.stderr]).toEqual([0, expect.stringMatching(/progress: verify archive done[\s\S]*progress: control records done/)]);
  expect(cliDoc(imported).next).toEqual([`hotdash-ops tenants restore ${archive.id} --dry-run --replace`, `hotdash-ops tenants restore ${archive.id} --replace --yes`, `hotdash-ops tenants reactivate ${tenantId}`]);
  const again = await carry(['import', bundle, '--shard', 'shard-1', '--json'], targetEnv);
  expect([again.code, cliDoc(again).error]).toEqual([1, expect.objectContaining({ code: 'carry-tenant-exists' })]);
  // The data key is wrapped by the stack's KMS, not embedded mode's.
  const key = await world.dbs.controlDb().selectFrom('tenant_keys').select(['kek_id']).where('tenant_id', '=', tenantId).executeTakeFirstOrThrow();
  expect(key.kek_id).not.toBe('embedded-k1');
  expect(await world.dbs.controlDb().selectFrom('tenants').select(['status', 'slug']).where('id', '=', tenantId).executeTakeFirst()).toEqual({ status: 'suspended', slug });

  // ── The rows and vectors by the existing restore, then the tenant reactivated.
  stackOps = await createPlatformOperator(world);
  const ops = opsCli(join(home, 'stack'), gateway);
  expect((await ops(['login', stackOps.email], { HOTDASH_OPS_PASSWORD: TEST_PASSWORD })).code).toBe(0);
  const plan = await ops(['tenants', 'restore', archive.id, '--dry-run', '--replace', '--json']);
  expect([plan.code, cliDoc(plan)]).toEqual([0, expect.objectContaining({ dryRun: true, shard: 'shard-1', placementMoves: false, replace: true, vectors: archive.vectors })]);
  // (--replace: the gateway's audit entries of the ops calls on the tenant, the dry run's, are on the shard by now.)
  const restored = await ops(['tenants', 'restore', archive.id, '--replace', '--yes']);
  if (restored.code !== 0) throw new Error(`restore: exit ${restored.code}\n${restored.stdout}\n${restored.stderr}`);
  expect(restored.stdout).toMatch(/restored on shard-1/);
  expect((await ops(['tenants', 'reactivate', tenantId])).code).toBe(0);
  expect(await vectors.countObjects(tenantId)).toBe(archive.vectors);

  // ── The admin logs in on the stack with the password set in embedded mode and finds their work.
  const token = await waitFor('the admin’s login on the stack', async () => {
    const r = await login(gateway, slug, email, PASSWORD);
    return r.status === 200 ? r.body.accessToken : undefined;
  }, 30_000, 200);
  const seen = await waitFor('the ticket on the stack', async () => {
    const r = await call<{ status: string; drafts: { id: string; body: string; citations: { documentId: string }[] }[] }>(gateway, 'GET', `/tickets/${carried!.ticket}`, token);
    return r.status === 200 ? r.body : undefined;
  }, 30_000, 200);
  expect(seen.status).toBe('pending');
  expect(seen.drafts.map((d) => d.id)).toEqual([carried.draft]);
  expect(seen.drafts[0]!.body).toMatch(/five business days/);
  expect(seen.drafts[0]!.citations.map((c) => c.documentId)).toContain(carried.document);
  const document = await call<{ state: string; title: string }>(gateway, 'GET', `/documents/${carried.document}`, token);
  expect([document.status, document.body.state, document.body.title]).toEqual([200, 'indexed', 'Refunds']);
  const verified = await call<{ ok: boolean; checked: number }>(gateway, 'GET', '/audit-log/verify', token);
  expect([verified.status, verified.body.ok]).toEqual([200, true]);
  expect(verified.body.checked).toBeGreaterThan(5);

  // ── A tenant of the stack sees none of it.
  const account = await createAccount(world, 'admin');
  other = account;
  const otherToken = (await login(gateway, account.slug, account.email, TEST_PASSWORD)).body.accessToken;
  expect((await call(gateway, 'GET', `/tickets/${carried.ticket}`, otherToken)).status).toBe(404);
  expect((await call(gateway, 'GET', `/documents/${carried.document}`, otherToken)).status).toBe(404);
});
