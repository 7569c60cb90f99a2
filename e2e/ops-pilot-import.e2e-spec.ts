// Pilot import end to end from a single-tenant deployment started by the test (issue 14, item 6;
// docs/pilot.md). The pilot: its own control database and shard on the local server (own names,
// migrated with the project's runner, its shard registered as its bootstrap shard), its own master
// key, its own Weaviate (a second weaviate-server process from deploy/local's binary, on free
// loopback ports). Its tenant is provisioned by the platform's own provisioning saga pointed at the
// pilot's configuration (a saga engine on a queue of its own), then given an operator with a
// password and a login session, tickets and a draft with encrypted fields (drafts' TicketsService),
// knowledge chunks in the pilot's Weaviate, and audit entries (the audit service's own recording,
// of the events the pilot's relay published). The platform: a gateway and provisioning started as
// processes, driven by the real `hotdash-ops` bin.
//
// The platform reaches the pilot only as the pilot's import role (docs/pilot.md, "The import role":
// made here with that SQL, a password of its own, given to the CLI by HOTDASH_PILOT_DB_PASSWORD or a
// password file). The pilot's services run as a login role of their own (a member of the fixed
// `hotdash_app`, whose name the migrations grant to). Platform and pilot share the local PostgreSQL
// server, so its roles are the same roles with the same passwords: to show the platform does not use
// them on the pilot, the pilot's databases are sealed from the moment the pilot is seeded until the
// import has finished: CONNECT revoked from PUBLIC and the database owner, granted to the import role
// and the pilot's own service role only. Every role of the platform's configuration (owner, app,
// relay, mover) is then refused by the pilot's databases; only a superuser could still connect, and
// the platform's one superuser role (the subscriber) is used on the target shard alone. A wrong
// password of the import role is refused (422 pilot-auth-failed, nothing changed), and the import's
// record holds no clear password, neither while the CLI shows it nor after it (read as the owner).
//
// An operator is refused with stable codes (wrong pilot key, wrong import role password, pilot
// unreachable, not a pilot, pilot schema newer or older, unknown shard), dry-runs the import (what
// would be imported), imports
// while the pilot keeps taking writes (every write before the cut-over arrives; the pilot refuses
// the tenant after it), and a second import is refused (409). Verified on the platform: counts and
// checksums (the move's verifications), every pilot ticket readable (ciphertext kept, key
// re-wrapped), the audit chain, a login as the pilot's operator, a knowledge search that returns
// the pilot's passage, the sessions ended, the tenant active; the import is an ops action and an
// entry in the tenant's audit log. Work the pilot had in flight is finished on the platform (its
// relay, drafts, ai-drafting, knowledge and audit started as processes): events the pilot published
// to its own Kafka that its consumers had not taken (the drafting profile among them) are replayed,
// the ticket whose drafting job stayed in the pilot's Redis is asked for again (tenant.imported), the
// document it was indexing is indexed; every ticket ends with one draft. The spec removes everything it made: databases, the Weaviate
// process, the tenant's rows, vectors and control records, the pilot's queue, the operator.
//
// Needs PostgreSQL with wal_level=logical and the Weaviate binary (deploy/local/infra.sh up).
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { AuditLogRepository, RecordAuditEntryHandler, VerifyAuditChainHandler } from '@hotdash/audit';
import { importPlan, importRun, parseTenantId, SupportFields, type Envelope, type ImportRun, type TenantId } from '@hotdash/contracts';
import { TicketsService } from '@hotdash/drafts';
import { KB_SOURCE_FIELD } from '@hotdash/knowledge';
import { emailHash, hashPassword, type Principal } from '@hotdash/platform-auth';
import type { PlatformConfig } from '@hotdash/platform-config';
import { FieldCipher, LocalKms, parseMasterKeys, TenantKeyring } from '@hotdash/platform-crypto';
import { ControlDatabase, Databases, newId, ShardRouter, TenantDatabase, TenantFencedError, TenantMover, TenantStatusCache, type ShardInfo, type TenantTx, type WithTenantOptions } from '@hotdash/platform-db';
import { migrateAll } from '@hotdash/platform-db/src/migrate/migrate-all';
import { SagaEngine } from '@hotdash/platform-jobs';
import { OutboxRelay, type KafkaProducerPort } from '@hotdash/platform-messaging';
import { LocalEmbedder } from '@hotdash/platform-models';
import { WeaviateVectorStore, type KnowledgeChunk } from '@hotdash/platform-vector';
import { provisioningSaga, startProvisioning } from '@hotdash/provisioning';
import { cliDoc, createEmptyShardDatabase, createPlatformOperator, opsCli, ServiceProcess, startServices, startWeaviate, TEST_PASSWORD, TestWorld, waitFor, type WeaviateProcess } from '@hotdash/testing';

jest.setTimeout(180_000);

const GATEWAY = 'http://127.0.0.1:3321';
const PROVISIONING = 'http://127.0.0.1:3322';
const TARGET = 'shard-2';
const world = new TestWorld();
const platformVectors = WeaviateVectorStore.fromConfig(world.config);
const platformCipher = new FieldCipher(new TenantKeyring(world.dbs, LocalKms.fromEnv()));
const embedder = new LocalEmbedder();
const home = mkdtempSync(join(tmpdir(), 'hotdash-ops-import-spec-'));
const cli = opsCli(home, GATEWAY, 170_000);
const doc = cliDoc;
const label = newId().replace(/-/g, '').slice(-10);
const CONTROL_DB = `hotdash_spec_pilot_control_${label}`;
const SHARD_DB = `hotdash_spec_pilot_shard_${label}`;
const PILOT_KEYS = `pilot-k1:${randomBytes(32).toString('base64')}`;
const PILOT_QUEUE = `pilot-import-spec-${label}`;
const PILOT_ENV = join(home, 'pilot.env');
/** The pilot's import role (docs/pilot.md): the only credentials the platform is given. */
const IMPORT_ROLE = { user: `hotdash_spec_import_${label}`, password: `import-${randomBytes(18).toString('base64url')}` };
/** The pilot's services' own login role (a member of hotdash_app, which the migrations grant to by name). */
const PILOT_APP = { user: `hotdash_spec_pilot_app_${label}`, password: `app-${randomBytes(18).toString('base64url')}` };
/** The import role as the CLI takes it from the environment (the default path). */
const ROLE_ENV = { HOTDASH_PILOT_DB_USER: IMPORT_ROLE.user, HOTDASH_PILOT_DB_PASSWORD: IMPORT_ROLE.password };
const PASSWORD_FILE = join(home, 'pilot-import-password');

/**
 * The pilot's databases admit only the import role and the pilot's own service role (true), or
 * everyone as created (false): CONNECT for PUBLIC and the owner revoked or given back, as a superuser.
 */
async function sealPilot(sealed: boolean): Promise<void> {
  const su = await world.connectSuperuser('postgres');
  try {
    for (const db of [CONTROL_DB, SHARD_DB])
      if (sealed) await su.query(`revoke connect on database ${db} from public, ${world.config.db.owner.user}; grant connect on database ${db} to ${IMPORT_ROLE.user}, ${PILOT_APP.user}`);
      else await su.query(`grant connect on database ${db} to public, ${world.config.db.owner.user}`);
  } finally {
    await su.end();
  }
}

/** The pilot's TenantDatabase as its services would use it, except that a fenced tenant is given up at once (no 30 s of re-routing to a shard the pilot does not know). */
class PilotTenantDatabase extends TenantDatabase {
  override withTenant<T>(tenantId: TenantId, fn: (tx: TenantTx, shard: ShardInfo) => Promise<T>, options: WithTenantOptions = {}): Promise<T> {
    return super.withTenant(tenantId, fn, { ...options, fenceWaitMs: 0 });
  }
}

interface Pilot {
  config: PlatformConfig;
  dbs: Databases;
  tenantDb: PilotTenantDatabase;
  keyring: TenantKeyring;
  cipher: FieldCipher;
  vectors: WeaviateVectorStore;
  engine: SagaEngine;
  shard: ShardInfo;
}

let processes: ServiceProcess[] = [];
let weaviate: WeaviateProcess | undefined;
let pilot: Pilot | undefined;
let ops: { id: string; email: string } | undefined;
let tenantId: TenantId | undefined;
let slug: string;
let operator: { id: string; email: string };
let sessionId: string;
let tickets: TicketsService;
let principal: Principal;
const importIds: string[] = [];
const chunkIds: string[] = [];
/** The document the pilot was indexing when it was imported. */
const indexingDocument = newId();
/** The ticket whose drafting job the pilot had queued in its own Redis (lost with it). */
let lostJob: string;

/** The pilot's audit service: the events given recorded in the tenant's hash chain, as its consumer would. */
const auditLog = new AuditLogRepository();
const recordAudit = (events: Envelope[]) => pilot!.tenantDb.withTenant(tenantId!, (tx) => new RecordAuditEntryHandler(auditLog).executeMany(tx, events.map((event) => ({ event, actorId: null }))));
/** Events of the tenant in the pilot's shard outbox (published or not). */
const shardEvents = (ids?: string[]) =>
  pilot!.tenantDb.withTenant(tenantId!, async (tx) => {
    let q = tx.db.selectFrom('outbox').select('envelope').orderBy('seq');
    if (ids) q = q.where('id', 'in', ids);
    return (await q.execute()).map((r) => r.envelope as unknown as Envelope);
  });

const customer = (i: number) => ({ name: `Pilot Customer ${i}`, email: `customer${i}@pilot.test`, body: `My espresso machine ${i} leaks.` });

async function startPilot(w: WeaviateProcess): Promise<Pilot> {
  await createEmptyShardDatabase(world, CONTROL_DB);
  await createEmptyShardDatabase(world, SHARD_DB);
  const { controlHost: host, controlPort: port } = world.config.db;
  // Its services as a role of their own (its migrations and its relay run before the seal, as the owner and relay roles).
  const config: PlatformConfig = {
    ...world.config,
    db: { ...world.config.db, app: PILOT_APP, controlDatabase: CONTROL_DB, bootstrapShards: `pilot-1=${host}:${port}/${SHARD_DB}`, poolSize: 4 },
    weaviate: { url: w.url, grpcPort: w.grpcPort },
  };
  const report = await migrateAll(config);
  if (!report.ok) throw new Error(`migrating the pilot failed: ${JSON.stringify(report)}`);
  const dbs = new Databases(config);
  const router = new ShardRouter(dbs);
  const tenantDb = new PilotTenantDatabase(dbs, router);
  const kms = new LocalKms(parseMasterKeys(PILOT_KEYS));
  const keyring = new TenantKeyring(dbs, kms);
  const cipher = new FieldCipher(keyring);
  const vectors = WeaviateVectorStore.fromConfig(config);
  const engine = new SagaEngine(dbs, config, { queueName: PILOT_QUEUE, backoffMs: 20 }).register(
    provisioningSaga({ dbs, control: new ControlDatabase(dbs), tenantDb, router, keyring, cipher, kms, vectors }),
  );
  engine.startWorker();
  const shard = (await router.listShards())[0]!;
  writeFileSync(
    PILOT_ENV,
    [
      '# The pilot of the pilot-import spec, as it runs (docs/pilot.md)',
      `HOTDASH_PG_HOST=${host}`,
      `HOTDASH_PG_PORT=${port}`,
      `HOTDASH_CONTROL_DATABASE=${CONTROL_DB}`,
      `HOTDASH_BOOTSTRAP_SHARDS=pilot-1=${host}:${port}/${SHARD_DB}`,
      `HOTDASH_WEAVIATE_URL=${w.url}`,
      `HOTDASH_WEAVIATE_GRPC_PORT=${w.grpcPort}`,
      `HOTDASH_KMS_MASTER_KEYS="${PILOT_KEYS}"`,
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  pilot = { config, dbs, tenantDb, keyring, cipher, vectors, engine, shard };
  // The pilot's tenant, by the platform's provisioning saga on the pilot's configuration.
  const signUp = await startProvisioning(engine, kms, { name: 'Pilot Espresso Co', plan: 'enterprise', admin: { email: `owner-${label}@pilot.test`, displayName: 'Owner' } });
  await waitFor('the pilot’s tenant provisioned', async () => {
    const s = await engine.status(signUp.sagaId);
    if (s?.status === 'failed' || s?.status === 'compensated') throw new Error(`the pilot's provisioning ${s.status}: ${s.lastError}`);
    return s?.status === 'completed';
  }, 60_000);
  tenantId = parseTenantId(signUp.tenantId);
  slug = signUp.slug;
  return pilot;
}

/** What the pilot's tenant holds before the import: an operator who can log in (and a session of theirs), tickets and a draft, knowledge, audit entries. */
async function seedPilot(p: Pilot): Promise<void> {
  const t = tenantId!;
  operator = { id: newId(), email: `barista-${label}@pilot.test` };
  const emailEnc = await p.cipher.encrypt(t, 'users.email', operator.email);
  const passwordHash = await hashPassword(TEST_PASSWORD);
  sessionId = newId();
  await p.tenantDb.withTenant(t, async (tx) => {
    await tx.db.insertInto('users').values({ id: operator.id, tenant_id: t, email_enc: emailEnc, email_hash: emailHash(t, operator.email), display_name: 'Barista', role: 'admin', status: 'active', password_hash: passwordHash }).execute();
    await tx.db.insertInto('queue_members').values({ tenant_id: t, user_id: operator.id, role: 'admin', team: null, status: 'active', updated_at: new Date() }).execute();
    await tx.db.insertInto('auth_sessions').values({ id: sessionId, tenant_id: t, user_id: operator.id, expires_at: new Date(Date.now() + 86_400_000) }).execute();
    await tx.db.insertInto('refresh_tokens').values({ id: newId(), tenant_id: t, session_id: sessionId, token_hash: randomBytes(32).toString('hex'), status: 'active', expires_at: new Date(Date.now() + 86_400_000) }).execute();
  });
  principal = { kind: 'user', tenantId: t, subject: operator.id, role: 'admin', sessionId, scopes: ['*'], issuedAt: Date.now(), tokenId: newId() };
  tickets = new TicketsService(p.tenantDb, p.cipher, new TenantStatusCache(p.dbs));
  for (let i = 0; i < 5; i++) await tickets.create(principal, customerTicket(i));
  // A draft of the first ticket, as ai-drafting's event leaves it (encrypted body).
  const seededTickets = await p.tenantDb.withTenant(t, (tx) => tx.db.selectFrom('tickets').select('id').orderBy('created_at').execute());
  const [first] = seededTickets;
  const bodyEnc = await p.cipher.encrypt(t, SupportFields.DRAFT_BODY, 'Please send the machine back; we replace the gasket within 14 days.');
  await p.tenantDb.withTenant(t, (tx) =>
    tickets.onGenerated(tx, { tenantId: t, ticketId: first!.id, draftId: newId(), attempt: 1, bodyEnc, citations: [], model: 'offline-extractive-1', usage: { promptTokens: 10, completionTokens: 12 } }),
  );
  // Knowledge, as the pilot's ingestion left it in the pilot's Weaviate.
  const passages = [
    'Gaskets of our espresso machines are replaced free of charge within 14 days of the return arriving.',
    'Descaling every two months keeps the warranty valid; use the descaler we ship with the machine.',
    'Orders ship from Lisbon on weekdays; tracking numbers arrive by e-mail within a day.',
  ];
  const vectors = (await embedder.embed(passages)).vectors;
  const chunks: KnowledgeChunk[] = passages.map((text, i) => ({ id: newId(), vector: vectors[i]!, documentId: `pilot-handbook-${i}`, chunkIndex: 0, text, title: 'Pilot handbook', sourceVersion: 1 }));
  await p.vectors.upsertChunks(t, chunks);
  chunkIds.push(...chunks.map((c) => c.id));
  // The pilot's relay publishes its control events (the pilot's own Kafka is not started: a
  // recording producer stands in) and its audit service records them and the shard's events.
  const published: Envelope[] = [];
  const producer: KafkaProducerPort = { send: async (records) => void published.push(...records.map((r) => JSON.parse(r.value) as Envelope)), close: async () => undefined };
  const relay = new OutboxRelay(p.dbs, p.dbs.controlLocation, producer);
  while ((await relay.drainOnce()) > 0);
  await recordAudit([...published.filter((e) => e.tenantId === t), ...(await shardEvents())]);
  // Work in flight when the import comes. The pilot's relay has published the shard's events to the
  // pilot's Kafka (which does not come along); of its consumers, ai-drafting has taken the first two
  // tickets' ticket.received (inbox rows): the first one's draft is written, the second one's job is
  // in the pilot's Redis, lost with it. The other tickets' events no consumer of the pilot has taken
  // yet, nor the drafting profile's tenant.settings-changed. Its knowledge service was indexing a
  // document (its job in the pilot's Redis too).
  const shardRelay = new OutboxRelay(p.dbs, p.shard, producer);
  while ((await shardRelay.drainOnce()) > 0);
  const [, second] = seededTickets;
  const received = (await shardEvents()).filter((e) => e.type === 'ticket.received' && [first!.id, second!.id].includes((e.payload as { ticketId: string }).ticketId));
  expect(received).toHaveLength(2);
  const source = Buffer.from(`# Showroom\n\nOur Lisbon showroom opens from 9:00 to 18:00 on weekdays; espresso tastings run every Friday at ${label}.`, 'utf8');
  // Sealed under the tenant's data key as the pilot's knowledge service stores it: the platform opens it with the same key, re-wrapped.
  const sealedSource = await p.cipher.encryptBytes(t, KB_SOURCE_FIELD, source);
  await p.tenantDb.withTenant(t, async (tx) => {
    await tx.db.insertInto('inbox').values(received.map((e) => ({ tenant_id: t, consumer: 'ai-drafting', event_id: e.id }))).execute();
    await tx.db
      .insertInto('kb_documents')
      .values({ id: indexingDocument, tenant_id: t, title: 'Showroom', content: '', bytes: String(source.length), status: 'indexing', progress: 40, content_type: 'text/markdown', source: null, source_enc: sealedSource, sha256: createHash('sha256').update(source).digest('hex'), version: 1, created_by: `user:${operator.id}` })
      .execute();
  });
  lostJob = second!.id;
}

const customerTicket = (i: number) => ({ customer: { name: customer(i).name, email: customer(i).email }, subject: `Leak ${i}`, body: customer(i).body });

/** Rows of the tenant on a shard as its owner reads them in the tenant's context (the gate's fence is not asked). */
async function ownerRead<R>(location: ShardInfo, text: string, values: unknown[] = []): Promise<R[]> {
  const c = await world.connect(location, 'owner');
  try {
    await c.query(`select set_config('app.tenant_id', $1, false)`, [tenantId]);
    return (await c.query(text, values)).rows as R[];
  } finally {
    await c.end();
  }
}

beforeAll(async () => {
  const su = await world.connectSuperuser(world.config.db.controlDatabase);
  try {
    const { rows } = await su.query<{ w: string }>(`select current_setting('wal_level') as w`);
    if (rows[0]!.w !== 'logical') throw new Error(`this spec needs PostgreSQL with wal_level=logical (deploy/local/infra.sh starts it so), the server runs with ${rows[0]!.w}`);
  } finally {
    await su.end();
  }
  // The platform's services and the pilot's Weaviate start together.
  const [started, w] = await Promise.all([
    startServices([
      { entry: 'apps/gateway/src/main.ts', env: { HOTDASH_GATEWAY_PORT: '3321', HOTDASH_PROVISIONING_URL: PROVISIONING }, url: GATEWAY },
      { entry: 'apps/provisioning/src/main.ts', env: { HOTDASH_PROVISIONING_PORT: '3322' }, url: PROVISIONING },
      // What serves the tenant's work once imported: its relay, and the consumers that finish what the pilot left in flight.
      { entry: 'apps/relay/src/main.ts', env: { HOTDASH_RELAY_PORT: '3327' }, url: 'http://127.0.0.1:3327' },
      { entry: 'apps/drafts/src/main.ts', env: { HOTDASH_DRAFTS_PORT: '3323' }, url: 'http://127.0.0.1:3323' },
      { entry: 'apps/ai-drafting/src/main.ts', env: { HOTDASH_AI_DRAFTING_PORT: '3324' }, url: 'http://127.0.0.1:3324' },
      // No stored-documents sweep: the document the pilot was indexing is queued again by tenant.imported alone.
      { entry: 'apps/knowledge/src/main.ts', env: { HOTDASH_KNOWLEDGE_PORT: '3325', HOTDASH_KNOWLEDGE_SWEEP_MS: 'off' }, url: 'http://127.0.0.1:3325' },
      { entry: 'apps/audit/src/main.ts', env: { HOTDASH_AUDIT_PORT: '3326' }, url: 'http://127.0.0.1:3326' },
    ]),
    startWeaviate({ name: `pilot-${label}` }),
  ]);
  processes = started;
  weaviate = w;
  // The pilot's roles: its services' own, and the import role its ops make for the import (docs/pilot.md).
  const server = await world.connectSuperuser('postgres');
  try {
    await server.query(`create role ${PILOT_APP.user} login nosuperuser nocreatedb nocreaterole nobypassrls password '${PILOT_APP.password}' in role ${world.config.db.app.user}`);
    await server.query(`create role ${IMPORT_ROLE.user} login replication nosuperuser nocreatedb nocreaterole nobypassrls password '${IMPORT_ROLE.password}'`);
    await server.query(`grant ${world.config.db.owner.user} to ${IMPORT_ROLE.user}`);
  } finally {
    await server.end();
  }
  writeFileSync(PASSWORD_FILE, `${IMPORT_ROLE.password}\n`, { mode: 0o600 });
  await seedPilot(await startPilot(w));
  // From here until the import has finished, the platform's roles cannot connect to the pilot.
  await sealPilot(true);
  ops = await createPlatformOperator(world);
  expect((await cli(['login', ops.email], { HOTDASH_OPS_PASSWORD: TEST_PASSWORD })).code).toBe(0);
}, 150_000);

afterAll(async () => {
  await Promise.all(processes.map((p) => p.stop()));
  if (pilot) {
    await pilot.engine.close();
    const queue = new Queue(PILOT_QUEUE, { connection: { host: world.config.redis.host, port: world.config.redis.port } });
    await queue.obliterate({ force: true }).catch(() => undefined);
    await queue.close();
    await pilot.vectors.close();
    await pilot.dbs.close();
  }
  await weaviate?.stop();
  // Replication an unfinished import may have left: the subscription on the target, then the slots in the pilot's shard.
  const target = (await world.shards()).find((s) => s.name === TARGET)!;
  const su = await world.connectSuperuser(target.database);
  try {
    for (const name of importIds.map((id) => TenantMover.replicationName(id))) {
      if (!(await su.query('select 1 from pg_subscription where subname = $1', [name])).rowCount) continue;
      await su.query(`alter subscription ${name} disable`);
      await su.query(`alter subscription ${name} set (slot_name = none)`);
      await su.query(`drop subscription ${name}`);
    }
    for (const { slot_name } of (await su.query<{ slot_name: string }>('select slot_name from pg_replication_slots where database = $1', [SHARD_DB])).rows)
      await su.query('select pg_drop_replication_slot($1)', [slot_name]).catch(() => undefined);
  } finally {
    await su.end();
  }
  if (tenantId) {
    const t = tenantId;
    await ownerRead(target, 'select table_name from erase_tenant($1)', [t]).catch(() => undefined);
    await ownerRead(target, 'delete from tenant_fences where tenant_id = $1', [t]).catch(() => undefined);
    await platformVectors.deleteTenant(t).catch(() => undefined);
  }
  const owner = await world.connect(world.dbs.controlLocation, 'owner');
  try {
    if (tenantId) {
      await owner.query(`delete from sagas where tenant_id = $1 and type = 'pilot-import'`, [tenantId]);
      await owner.query('delete from tenant_placements where tenant_id = $1', [tenantId]);
      await owner.query('delete from tenant_keys where tenant_id = $1', [tenantId]);
      await owner.query('delete from tenants where id = $1', [tenantId]);
    }
    if (ops) {
      await owner.query('delete from ops_actions where actor = $1', [`ops:${ops.id}`]);
      await owner.query('delete from platform_operators where id = $1', [ops.id]);
    }
  } finally {
    await owner.end();
  }
  for (const d of [SHARD_DB, CONTROL_DB]) await world.dropScratchDatabase(d);
  const server = await world.connectSuperuser('postgres');
  try {
    for (const role of [IMPORT_ROLE.user, PILOT_APP.user]) await server.query(`drop role if exists ${role}`);
  } finally {
    await server.end();
  }
  await platformVectors.close();
  await world.close();
  rmSync(home, { recursive: true, force: true });
}, 90_000);

const dryRun = (extra: string[] = [], env: Record<string, string> = {}) => cli(['imports', 'start', '--pilot-env', PILOT_ENV, '--shard', TARGET, '--dry-run', '--json', ...extra], { ...ROLE_ENV, ...env });
const refusal = async (r: Promise<{ code: number; stdout: string; stderr: string }>) => {
  const res = await r;
  const e = doc(res).error as { code: string; status: number; detail?: string; hint?: string };
  return { exit: res.code, code: e.code, status: e.status, hint: typeof e.hint === 'string' };
};

it('refuses what cannot be imported with a stable code and what to do, changing nothing', async () => {
  // The pilot's control database as its ops would change it by hand (a superuser: sealed, it admits none of the platform's roles).
  const owner = await world.connectSuperuser(CONTROL_DB);
  try {
    // The wrong password of the import role, on a real start (no dry run): 422, refused by the pilot, nothing changed anywhere.
    const badPassword = `wrong-${randomBytes(12).toString('base64url')}`;
    const denied = await cli(['imports', 'start', '--pilot-env', PILOT_ENV, '--shard', TARGET, '--json'], { ...ROLE_ENV, HOTDASH_PILOT_DB_PASSWORD: badPassword });
    expect(await refusal(Promise.resolve(denied))).toEqual({ exit: 1, code: 'pilot-auth-failed', status: 422, hint: true });
    expect((doc(denied).error as { detail: string }).detail).toContain(IMPORT_ROLE.user);
    expect(`${denied.stdout}${denied.stderr}`).not.toContain(badPassword);
    expect(await world.dbs.controlDb().selectFrom('sagas').select('id').where('tenant_id', '=', tenantId!).where('type', '=', 'pilot-import').execute()).toEqual([]);
    const shard = await world.connectSuperuser(SHARD_DB);
    try {
      expect((await shard.query(`select pubname from pg_publication union all select slot_name from pg_replication_slots where database = $1`, [SHARD_DB])).rows).toEqual([]);
    } finally {
      await shard.end();
    }
    // A replay window that is not a whole number of minutes up to a week: a usage error naming it, nothing sent.
    for (const bad of ['soon', '-5', '10081']) {
      const r = await dryRun(['--replay-minutes', bad]);
      expect([r.code, (doc(r).error as { code: string }).code, (doc(r).error as { detail?: string }).detail]).toEqual([2, 'usage', expect.stringContaining('replayWindowMinutes')]);
    }
    // No password: a usage error before anything is sent (standard input is no terminal to ask on).
    const none = await cli(['imports', 'start', '--pilot-env', PILOT_ENV, '--shard', TARGET, '--dry-run', '--json'], { HOTDASH_PILOT_DB_USER: IMPORT_ROLE.user });
    expect([none.code, (doc(none).error as { code: string }).code]).toEqual([2, 'usage']);
    // The wrong pilot key (the id the pilot uses, another key): 422, the key never echoed.
    const wrongKey = `pilot-k1:${randomBytes(32).toString('base64')}`;
    const wrong = await cli(['imports', 'start', '--pilot-env', PILOT_ENV, '--shard', TARGET, '--dry-run', '--json'], { ...ROLE_ENV, HOTDASH_PILOT_KMS_MASTER_KEYS: wrongKey });
    expect(await refusal(Promise.resolve(wrong))).toEqual({ exit: 1, code: 'pilot-key-invalid', status: 422, hint: true });
    expect(`${wrong.stdout}${wrong.stderr}`).not.toContain(wrongKey.split(':')[1]);
    // Unreachable, unknown shard.
    expect(await refusal(dryRun(['--pilot-control', '127.0.0.1:1/nowhere']))).toEqual({ exit: 1, code: 'pilot-unreachable', status: 422, hint: true });
    expect(await refusal(cli(['imports', 'start', '--pilot-env', PILOT_ENV, '--shard', 'no-such-shard', '--dry-run', '--json'], ROLE_ENV))).toEqual({ exit: 1, code: 'shard-not-found', status: 404, hint: true });
    // Not a pilot: a second live tenant in its control database.
    const second = newId();
    await owner.query(`insert into tenants (id, name, slug, plan_code, status) values ($1, 'Second', $2, 'basic', 'active')`, [second, `second-${label}`]);
    try {
      expect(await refusal(dryRun())).toEqual({ exit: 1, code: 'pilot-not-single-tenant', status: 422, hint: true });
    } finally {
      await owner.query('delete from tenants where id = $1', [second]);
    }
    // A pilot newer than the platform (a migration it does not know), and one older (a migration missing).
    await owner.query(`insert into hotdash_migrations (name, checksum, duration_ms) values ('29991231000000_from_the_future', 'x', 0)`);
    try {
      expect(await refusal(dryRun())).toEqual({ exit: 1, code: 'pilot-schema-newer', status: 409, hint: true });
    } finally {
      await owner.query(`delete from hotdash_migrations where name = '29991231000000_from_the_future'`);
    }
    const latest = (await owner.query('select * from hotdash_migrations order by name desc limit 1')).rows[0] as Record<string, unknown>;
    await owner.query('delete from hotdash_migrations where name = $1', [latest.name]);
    try {
      const older = await dryRun();
      expect(await refusal(Promise.resolve(older))).toEqual({ exit: 1, code: 'pilot-schema-older', status: 409, hint: true });
      expect((doc(older).error as { detail: string }).detail).toContain('migrate the pilot first');
    } finally {
      const cols = Object.keys(latest);
      await owner.query(`insert into hotdash_migrations (${cols.join(', ')}) values (${cols.map((_, i) => `$${i + 1}`).join(', ')})`, cols.map((c) => latest[c]));
    }
  } finally {
    await owner.end();
  }
  // Nothing of the tenant reached the platform.
  expect(await world.dbs.controlDb().selectFrom('tenants').select('id').where('id', '=', tenantId!).execute()).toEqual([]);
});

it('dry-runs, imports the pilot while it keeps taking writes, and the platform serves the tenant', async () => {
  const t = tenantId!;
  const plan = importPlan.parse(doc(await dryRun()));
  expect(plan).toMatchObject({ dryRun: true, tenant: { id: t, slug, plan: 'enterprise', status: 'active' }, target: { shard: TARGET, region: 'local' }, key: { pilotKekIds: ['pilot-k1'], platformKekId: 'dev' }, vectors: 3, replay: { windowMinutes: 60 } });
  expect(importPlan.parse(doc(await dryRun(['--replay-minutes', '0']))).replay).toEqual({ windowMinutes: 0 });
  expect(plan.rows).toEqual(expect.arrayContaining([{ table: 'tickets', rows: 5 }, { table: 'users', rows: 2 }, { table: 'auth_sessions', rows: 1 }]));
  expect(plan.control.map((c) => c.table)).toEqual(expect.arrayContaining(['tenants', 'tenant_keys', 'tenant_placements', 'sagas', 'outbox']));
  expect(plan.steps.map((s) => s.id)).toEqual(['control-records', 'knowledge-namespace', 'fence-target', 'publish', 'slot', 'subscribe', 'initial-copy', 'copy-vectors', 'catch-up', 'cut-over', 'drop-replication', 'post-verify', 'subject-keys', 'sync-vectors', 'end-sessions', 'verify', 'activate']);

  // The pilot serves on while it is imported: tickets (and their audit entries) until it refuses the tenant.
  const written: string[] = [];
  const failures: string[] = [];
  let fenced: TenantFencedError | undefined;
  let writing = true;
  const writer = (async () => {
    for (let i = 100; writing && !fenced; i++) {
      try {
        const { ticket } = await tickets.create(principal, customerTicket(i));
        written.push(ticket.id);
        const events = await pilot!.tenantDb.withTenant(t, (tx) => tx.db.selectFrom('outbox').select('id').where('type', '=', 'ticket.received').orderBy('seq', 'desc').limit(1).execute());
        await recordAudit(await shardEvents(events.map((e) => e.id)));
      } catch (err) {
        if (err instanceof TenantFencedError) fenced = err;
        else failures.push((err as Error).message);
      }
      // A quiet pilot's pace: about 30 writes a second.
      await new Promise((r) => setTimeout(r, 30));
    }
  })();
  let imported: { code: number; stdout: string; stderr: string };
  try {
    // The import role's password from a file this time (the dry runs take it from the environment).
    imported = await cli(['imports', 'start', '--pilot-env', PILOT_ENV, '--shard', TARGET, '--pilot-user', IMPORT_ROLE.user, '--pilot-password-file', PASSWORD_FILE], { HOTDASH_OPS_PROGRESS: 'always' });
  } finally {
    writing = false;
    await writer;
    // The import has finished: the pilot's databases admit their owner again (the checks below read them as it).
    await sealPilot(false);
  }
  const id = /Import ([0-9a-f-]{36})/.exec(imported.stdout + imported.stderr)?.[1];
  if (id) importIds.push(id);
  expect([imported.code, imported.stdout]).toEqual([0, expect.stringMatching(/: succeeded\n[\s\S]*switch its traffic/)]);
  expect(imported.stderr).toMatch(/progress: \d+\/17 [\s\S]*progress: 17\/17 succeeded/);
  expect(failures).toEqual([]);
  // Writes went on during the copy and the catch-up; the cut-over fenced the pilot.
  expect(written.length).toBeGreaterThan(0);
  expect(fenced).toMatchObject({ reason: 'moved' });
  await expect(tickets.create(principal, customerTicket(9_999))).rejects.toBeInstanceOf(TenantFencedError);

  const status = await cli(['imports', 'status', id!, '--json']);
  const run: ImportRun = importRun.parse(doc(status));
  expect(run).toMatchObject({ status: 'succeeded', cutOver: true, target: TARGET, actor: `ops:${ops!.id}`, tenant: { id: t, slug }, error: null });
  // The import role's password: never shown, and not in the import's record once it has ended (read as the owner), sealed or not.
  expect(`${imported.stdout}${imported.stderr}${status.stdout}`).not.toContain(IMPORT_ROLE.password);
  const controlOwner = await world.connect(world.dbs.controlLocation, 'owner');
  try {
    const saga = (await controlOwner.query('select * from sagas where id = $1', [id])).rows[0] as { input: Record<string, unknown> };
    expect(saga.input).toMatchObject({ pilotUser: IMPORT_ROLE.user, pilotCredentials: null });
    const steps = (await controlOwner.query('select * from saga_steps where saga_id = $1', [id])).rows;
    const actions = (await controlOwner.query('select * from ops_actions where actor = $1', [`ops:${ops!.id}`])).rows;
    expect(steps.length).toBe(17);
    expect(JSON.stringify([saga, steps, actions])).not.toContain(IMPORT_ROLE.password);
  } finally {
    await controlOwner.end();
  }
  expect(run.steps.every((s) => s.status === 'completed')).toBe(true);
  const detail = (step: string) => run.steps.find((s) => s.id === step)!.detail as Record<string, unknown>;
  // Counts and checksums of every table, on snapshots before the cut-over and after it.
  expect(detail('catch-up')).toMatchObject({ verified: { tables: expect.any(Number), rows: expect.any(Number) } });
  expect(detail('post-verify')).toMatchObject({ tables: expect.any(Number), rows: expect.any(Number) });
  expect(detail('sync-vectors')).toMatchObject({ objects: 3, deleted: 0 });
  // The pilot's data subject keys, carried after the cut-over: one per customer of its tickets.
  expect(detail('subject-keys')).toMatchObject({ carried: expect.any(Number) });
  expect((detail('subject-keys') as { carried: number }).carried).toBeGreaterThan(0);
  expect(detail('end-sessions')).toMatchObject({ sessions: 1, refreshTokens: 1 });
  expect(detail('verify')).toMatchObject({ auditChain: { ok: true }, knowledge: { found: true } });

  // Every ticket of the pilot is on the platform, as the pilot holds it, and decrypts there.
  const target = (await world.shards()).find((s) => s.name === TARGET)!;
  const ids = (rows: { id: string }[]) => rows.map((r) => r.id).sort();
  const onPilot = ids(await ownerRead<{ id: string }>(pilot!.shard, 'select id from tickets where tenant_id = $1', [t]));
  const onPlatform = ids(await ownerRead<{ id: string }>(target, 'select id from tickets where tenant_id = $1', [t]));
  expect(onPlatform).toEqual(onPilot);
  expect(onPlatform).toEqual(expect.arrayContaining(written));
  // Among them, writes the pilot took while its rows were being copied and caught up.
  const copyStarted = Date.parse(run.steps.find((s) => s.id === 'initial-copy')!.startedAt!);
  const cutOverDone = Date.parse(run.steps.find((s) => s.id === 'cut-over')!.completedAt!);
  const received = await ownerRead<{ at: Date }>(target, 'select received_at as at from tickets where tenant_id = $1 and id = any($2::uuid[])', [t, written]);
  expect(received.filter((r) => r.at.getTime() > copyStarted && r.at.getTime() < cutOverDone).length).toBeGreaterThan(0);
  const readBack = new TicketsService(world.tenantDb, platformCipher, new TenantStatusCache(world.dbs));
  const asPlatform: Principal = { ...principal, issuedAt: Date.now() };
  for (const ticketId of [written[0]!, written.at(-1)!]) {
    const ticket = await readBack.get(asPlatform, ticketId);
    expect(ticket.customer.name).toMatch(/^Pilot Customer \d+$/);
    expect(ticket.body).toMatch(/^My espresso machine \d+ leaks\.$/);
  }
  const withDraft = (await ownerRead<{ id: string }>(target, 'select ticket_id as id from drafts where tenant_id = $1', [t]))[0]!;
  expect((await readBack.get(asPlatform, withDraft.id)).drafts[0]).toMatchObject({ body: expect.stringContaining('gasket') });

  // The key: re-wrapped under the platform's KEK, the same data key.
  const key = await world.dbs.controlDb().selectFrom('tenant_keys').select(['kek_id']).where('tenant_id', '=', t).executeTakeFirstOrThrow();
  expect(key.kek_id).toBe('dev');
  expect(await new TenantKeyring(world.dbs, LocalKms.fromEnv()).keyCheck(t)).toBe(await pilot!.keyring.keyCheck(t));

  // The audit chain verifies on the platform, every entry of the pilot in it.
  const pilotEntries = (await ownerRead<{ n: number }>(pilot!.shard, 'select count(*)::int as n from audit_log where tenant_id = $1', [t]))[0]!.n;
  const chain = await new VerifyAuditChainHandler(world.tenantDb, auditLog).execute(t);
  expect(chain.ok).toBe(true);
  expect(chain.checked).toBeGreaterThanOrEqual(pilotEntries);
  expect(pilotEntries).toBeGreaterThan(5);

  // The control records: the tenant active, on the target, its plan kept; its sessions ended.
  const record = await world.dbs.controlDb().selectFrom('tenants as x').innerJoin('tenant_placements as p', 'p.tenant_id', 'x.id').innerJoin('shards as s', 's.id', 'p.shard_id').select(['x.status', 'x.slug', 'x.plan_code', 'x.region', 's.name', 'p.version']).where('x.id', '=', t).executeTakeFirstOrThrow();
  expect(record).toEqual({ status: 'active', slug, plan_code: 'enterprise', region: 'local', name: TARGET, version: 2 });
  const session = (await ownerRead<{ revoked_at: Date | null; revoked_reason: string }>(target, 'select revoked_at, revoked_reason from auth_sessions where id = $1', [sessionId]))[0]!;
  expect(session).toMatchObject({ revoked_at: expect.any(Date), revoked_reason: 'admin' });

  // The pilot's operator logs in on the platform, and is who the pilot knew.
  const login = await fetch(`${GATEWAY}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ tenant: slug, email: operator.email, password: TEST_PASSWORD }) });
  expect(login.status).toBe(200);
  const token = ((await login.json()) as { accessToken: string }).accessToken;
  const me = await fetch(`${GATEWAY}/me`, { headers: { authorization: `Bearer ${token}` } });
  expect([me.status, ((await me.json()) as { email?: string }).email]).toEqual([200, operator.email]);

  // A knowledge search on the platform returns the pilot's passages (every one of them: the document the pilot was indexing may add its own by now).
  const objects = await platformVectors.countObjects(t);
  expect(objects).toBeGreaterThanOrEqual(3);
  const query = 'how long does a gasket replacement take';
  // Among the best hits (not necessarily first: the document the pilot was indexing during the import,
  // whose text carries a random marker, can score above it with the offline hashing embedder).
  const hits = await platformVectors.hybridSearch(t, { text: query, vector: (await embedder.embed([query])).vectors[0]!, limit: 3 });
  expect(hits.find((h) => h.id === chunkIds[0])).toMatchObject({ id: chunkIds[0], text: expect.stringContaining('Gaskets') });

  // The import in the ops actions, and in the tenant's audit log (its outbox entry, published or not).
  const actions = await world.dbs.controlDb().selectFrom('ops_actions').select(['action', 'outcome', 'target']).where('actor', '=', `ops:${ops!.id}`).orderBy('at').execute();
  expect(actions.map((a) => `${a.action} ${a.outcome}`)).toEqual(
    expect.arrayContaining(['import.start pilot-auth-failed', 'import.start pilot-key-invalid', 'import.start pilot-unreachable', 'import.start pilot-schema-newer', 'import.start dry-run', 'import.start started', 'import.finish done']),
  );
  const entries = await world.tenantDb.withTenant(t, (tx) => tx.db.selectFrom('outbox').select('envelope').where('type', '=', 'access.recorded').execute());
  expect(entries.map((e) => (e.envelope as unknown as { payload: { resourceType: string; actor: string } }).payload)).toEqual(
    expect.arrayContaining([expect.objectContaining({ resourceType: 'pilot-import', actor: `ops:${ops!.id}` })]),
  );

  // Done once: a second import of the same pilot is refused.
  expect(await refusal(dryRun())).toEqual({ exit: 1, code: 'import-tenant-exists', status: 409, hint: true });
});

it('finishes on the platform the work the pilot had in flight: every ticket drafted once, the document indexed', async () => {
  const t = tenantId!;
  const id = importIds[0]!;
  const run = importRun.parse(doc(await cli(['imports', 'status', id, '--json'])));
  // The pilot's shard events published to its own Kafka (the seed's, within the default hour) were published again on the platform.
  const cut = run.steps.find((s) => s.id === 'cut-over')!.detail as { replayed: number; decidedAt: string };
  expect(cut.replayed).toBeGreaterThanOrEqual(6);

  // Every ticket gets its draft: none left drafting, each with one draft, none written twice.
  const state = () =>
    world.tenantDb.withTenant(t, async (tx) => ({
      tickets: await tx.db.selectFrom('tickets').select(['id', 'status']).execute(),
      drafts: await tx.db.selectFrom('drafts').select(['ticket_id', 'status']).execute(),
      document: await tx.db.selectFrom('kb_documents').select(['status', 'chunk_count', 'version']).where('id', '=', indexingDocument).executeTakeFirstOrThrow(),
    }));
  const done = await waitFor(
    'every imported ticket drafted and the document indexed on the platform',
    async () => {
      const s = await state();
      return s.tickets.every((x) => x.status !== 'drafting') && s.document.status === 'indexed' ? s : undefined;
    },
    150_000,
  );
  expect(done.tickets.filter((x) => x.status !== 'pending')).toEqual([]);
  const perTicket = new Map<string, string[]>();
  for (const d of done.drafts) perTicket.set(d.ticket_id, [...(perTicket.get(d.ticket_id) ?? []), d.status]);
  expect(done.tickets.filter((x) => (perTicket.get(x.id) ?? []).join() !== 'pending').map((x) => [x.id, perTicket.get(x.id)])).toEqual([]);
  expect(perTicket.get(lostJob)).toEqual(['pending']);
  // The ticket whose job was lost with the pilot's Redis was asked for again (tenant.imported, by drafts), at its first attempt.
  const imported = await world.tenantDb.withTenant(t, (tx) => tx.db.selectFrom('outbox').select('envelope').where('type', '=', 'draft.requested').execute());
  const byImport = imported.map((r) => (r.envelope as unknown as { payload: { ticketId: string; attempt: number; by: string } }).payload).filter((p) => p.by === `import:${id}`);
  expect(byImport).toEqual(expect.arrayContaining([expect.objectContaining({ ticketId: lostJob, attempt: 1 })]));

  // The document the pilot was indexing: indexed on the platform, its passages searchable there.
  expect(done.document).toMatchObject({ status: 'indexed', version: 1 });
  expect(done.document.chunk_count).toBeGreaterThan(0);
  expect(await platformVectors.countObjects(t)).toBe(3 + done.document.chunk_count);
  const query = 'when does the Lisbon showroom open';
  const hits = await platformVectors.hybridSearch(t, { text: query, vector: (await embedder.embed([query])).vectors[0]!, limit: 3 });
  expect(hits.map((h) => h.text).join(' ')).toContain('showroom');
});
