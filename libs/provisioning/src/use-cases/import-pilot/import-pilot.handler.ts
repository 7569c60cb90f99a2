import { Inject, Injectable, Optional } from '@nestjs/common';
import { sql } from 'kysely';
import {
  ImportProblems,
  MoveProblems,
  parseTenantId,
  PlanCodes,
  startImportBody,
  type DatabaseLocation,
  type ImportPlan,
  type ImportRun,
  type PilotCredentials,
  DEFAULT_REPLAY_WINDOW_MINUTES,
  type StartImportBody,
  type TenantId,
} from '@hotdash/contracts';
import type { DbRoleCredentials, PlatformConfig } from '@hotdash/platform-config';
import { CryptoError, KmsPort, LocalKms, parseMasterKeys, SubjectKeyring, TenantKeyring } from '@hotdash/platform-crypto';
import { ControlDatabase, Databases, newId, PLATFORM_CONFIG, ShardInspector, ShardUnreachableError, TenantMoveError, TenantMover, type ShardInfo, type TenantMove } from '@hotdash/platform-db';
import { notFound, parseInput, ProblemException } from '@hotdash/platform-http';
import { SagaEngine, sagaRunningProbe } from '@hotdash/platform-jobs';
import { relayLagOf } from '@hotdash/platform-messaging';
import { VectorStore, WeaviateVectorStore } from '@hotdash/platform-vector';
import { TENANT_AUDIT_CHAIN, type TenantAuditChain } from '../../backups/tenant-audit-chain';
import { ImportSteps, PILOT_IMPORT_SAGA, pilotImportSaga, type PilotImportInput } from '../../imports/pilot-import.saga';
import { checkPilotAccess } from '../../imports/pilot-access';
import { PILOT_CONTROL_TABLES } from '../../imports/pilot-control-tables';
import { sealPilotCredentials } from '../../imports/pilot-credentials';
import { MoveSteps, type MoveShard } from '../../moves/tenant-move.saga';
import { OpsActions, ShardsRepository } from '../../shards.repository';
import { statusOf, stepViews } from '../move-tenant/move-tenant.handler';

const problem = (status: number, code: string, title: string, detail: string) => new ProblemException(status, code, title, detail);

/** The mover's preflight codes as the import's problems (the source is the pilot's shard). */
const PREFLIGHT: Record<string, { status: number; code: string; title: string }> = {
  'replication-unavailable': { status: 409, code: MoveProblems.REPLICATION_UNAVAILABLE, title: 'Logical replication unavailable on the pilot' },
  'schema-differs': { status: 409, code: MoveProblems.SCHEMA_DIFFERS, title: 'Pilot and target shard at different schema versions' },
  'mover-role-unavailable': { status: 422, code: ImportProblems.PILOT_UNREACHABLE, title: 'A role of the move cannot connect' },
  'target-holds-rows': { status: 409, code: ImportProblems.TENANT_EXISTS, title: 'Tenant rows on the target' },
  'replica-identity-missing': { status: 409, code: MoveProblems.REPLICA_IDENTITY_MISSING, title: 'Replica identity missing' },
};

/** The step list of the saga, for dry runs (built without dependencies: only ids and descriptions are read). */
const STEPS = pilotImportSaga({} as Parameters<typeof pilotImportSaga>[0]).steps.map((s) => ({ id: s.id, description: s.description }));

/** Statuses of a pilot tenant that can be imported (and that it keeps on the platform). */
const IMPORTABLE = ['active', 'suspended'];

const where = (l: DatabaseLocation) => `${l.host}:${l.port}/${l.database}`;

interface PilotTenant {
  id: TenantId;
  slug: string;
  name: string;
  plan: string;
  status: string;
  createdAt: Date;
}

/** The pilot's databases as the import role reaches them (for one request: closed after it). */
interface PilotSession {
  credentials: PilotCredentials;
  /** Its control database (every role of this configuration is the import role). */
  dbs: Databases;
  /** Its databases' migrations, read as the import role. */
  inspector: ShardInspector;
}

/** What the checks found: everything a plan shows and a start needs. */
interface Inspected {
  tenant: PilotTenant;
  /** The pilot's shard, with the import role the mover connects to it as. */
  pilotShard: ShardInfo & { credentials: DbRoleCredentials };
  fromVersion: number;
  target: ShardInfo & { region: string };
  schema: { control: string | null; tenant: string | null };
  planDifferences: ImportPlan['plan']['differences'];
  keyring: TenantKeyring;
  pilotKekIds: string[];
  keyCheck: string;
  rows: ImportPlan['rows'];
  vectors: number;
}

/**
 * Imports a single-tenant pilot deployment into the platform (the ops API's POST /ops/imports;
 * docs/pilot.md), as the pilot-import saga, followed at GET /ops/imports/{id}. Everything is checked
 * before anything changes (4xx, stable codes; a refusal changes nothing here or on the pilot, and is
 * an ops action): the pilot's import role given (422 pilot-credentials-missing); the target shard;
 * the pilot reachable as that role, which logs in (422 pilot-auth-failed) and holds what the import
 * needs (422 pilot-privilege-missing: which, and the SQL that grants it) on its control database and
 * its shard; its Weaviate reachable; both pilot databases at exactly this platform's schema version
 * (newer: upgrade the platform; older: migrate the pilot); one live tenant on the pilot, active or
 * suspended, with no saga of it running and no control event waiting for the pilot's relay; the
 * tenant's id and slug free here (and its namespace empty); its plan known here; the pilot keys given
 * unwrap its data key; the mover's own preflight (logical decoding on the pilot, replica identities,
 * same schema on the target). A dry run stops there (200, what would be imported). Otherwise one
 * control transaction writes the tenant (status provisioning), its placement on the target and its
 * data key re-wrapped under the platform's KEK, and starts the saga (202); a sign-up or import that
 * took the tenant's id or slug meanwhile makes it 409 import-tenant-exists. The pilot's keys are used
 * in memory for that request alone: never stored, never logged, never in the saga's input. The import
 * role's password is never logged or shown back; the saga keeps it sealed under the platform's KEK
 * while it runs (a resumed step needs it) and forgets it when it ends. The platform never connects to
 * the pilot with its own roles: their passwords never reach the pilot.
 */
@Injectable()
export class ImportPilotHandler {
  constructor(
    @Inject(PLATFORM_CONFIG) private readonly config: PlatformConfig,
    @Inject(SagaEngine) private readonly engine: SagaEngine,
    @Inject(ControlDatabase) private readonly control: ControlDatabase,
    @Inject(ShardsRepository) private readonly shards: ShardsRepository,
    @Inject(ShardInspector) private readonly inspector: ShardInspector,
    @Inject(TenantMover) private readonly mover: TenantMover,
    @Inject(TenantKeyring) private readonly keyring: TenantKeyring,
    @Inject(KmsPort) private readonly kms: KmsPort,
    @Inject(VectorStore) private readonly vectors: VectorStore,
    @Inject(OpsActions) private readonly actions: OpsActions,
    @Optional() @Inject(TENANT_AUDIT_CHAIN) private readonly chain?: TenantAuditChain,
  ) {}

  async start(body: unknown, actor: string): Promise<ImportPlan | ImportRun> {
    const input = parseInput(startImportBody, body);
    const importId = newId();
    const credentials = input.pilot.credentials;
    // The import role's name (never its password) is what the ops action keeps of it.
    const detail = { import: importId, pilot: where(input.pilot.control), pilotShard: input.pilot.shard ? where(input.pilot.shard) : null, pilotUser: credentials?.user ?? null, weaviate: input.pilot.weaviate.url, shard: input.shard };
    let target = `pilot:${where(input.pilot.control)}`;
    try {
      if (!credentials)
        throw problem(
          422,
          ImportProblems.PILOT_CREDENTIALS_MISSING,
          'Pilot credentials missing',
          "the request carries no pilot.credentials: the platform connects to a pilot's databases only as the import role its ops made there (docs/pilot.md, \"The import role\"), never with the platform's own roles; give its user and password",
        );
      const answer = await this.withPilot(input, credentials, async (pilot) => {
        const found = await this.inspect(input, pilot);
        target = found.tenant.id;
        if (input.dryRun) return this.plan(input, found);
        await this.begin(importId, input, found, actor);
        return this.run(importId);
      });
      await this.actions.record(this.control.db, { actor, action: 'import.start', target, outcome: input.dryRun ? 'dry-run' : 'started', detail });
      return answer;
    } catch (err) {
      if (err instanceof ProblemException) await this.actions.record(this.control.db, { actor, action: 'import.start', target, outcome: err.code, detail: { ...detail, reason: err.detail ?? err.title } });
      throw err;
    }
  }

  /** An import: its steps, what each reported, progress, and its outcome once finished (404 for an unknown id). */
  async run(importId: string): Promise<ImportRun> {
    const saga = await this.engine.status(importId);
    if (!saga || saga.type !== PILOT_IMPORT_SAGA) throw notFound(`import ${importId}`);
    const input = saga.input as unknown as PilotImportInput;
    const status = statusOf(saga);
    const phase = status === 'succeeded' || status === 'rolled-back' ? null : (saga.failedStep ?? saga.steps.find((s) => s.status === 'running' || s.status === 'compensating')?.id ?? null);
    let progress: ImportRun['progress'] = null;
    const tenantId = parseTenantId(input.tenantId);
    if (phase === MoveSteps.INITIAL_COPY) {
      const m: TenantMove = { moveId: input.moveId, tenantId, source: shardOf(input.source), target: shardOf(input.target) };
      progress = await this.mover.copyState(m).then((s) => ({ done: s.ready, total: s.tables, unit: 'tables' as const }), () => null);
    } else if (phase === ImportSteps.COPY_VECTORS || phase === ImportSteps.SYNC_VECTORS) {
      progress = await this.vectors.countObjects(tenantId).then((n) => ({ done: Math.min(n, input.vectors), total: input.vectors, unit: 'vectors' as const }), () => null);
    }
    return {
      id: saga.id,
      tenant: { id: tenantId, slug: input.tenant.slug, name: input.tenant.name, plan: input.tenant.plan },
      pilot: { control: input.pilot.control, shard: input.pilot.shard, weaviate: input.pilot.weaviate.url },
      target: input.target.name,
      status,
      phase,
      cutOver: saga.steps.some((s) => s.id === MoveSteps.CUT_OVER && s.status === 'completed'),
      actor: input.actor,
      progress,
      steps: stepViews(saga),
      error: saga.lastError,
      startedAt: saga.createdAt,
      finishedAt: saga.finishedAt,
    };
  }

  // ------------------------------------------------------------------------------------ checks

  /**
   * The pilot's databases as its import role reaches them (short-lived pools), closed after `fn`. A
   * configuration of its own whose every role is the import role: none of this platform's role
   * passwords is in it, so whatever reads the pilot can only send the pilot's own credentials.
   */
  private async withPilot<T>(input: StartImportBody, credentials: PilotCredentials, fn: (pilot: PilotSession) => Promise<T>): Promise<T> {
    const c = input.pilot.control;
    const role: DbRoleCredentials = { user: credentials.user, password: credentials.password };
    const config: PlatformConfig = {
      ...this.config,
      db: { controlHost: c.host, controlPort: c.port, controlDatabase: c.database, owner: role, app: role, relay: role, mover: role, subscriber: role, poolSize: 2, bootstrapShards: '' },
    };
    const dbs = new Databases(config, { connectionTimeoutMillis: 5_000, application_name: 'hotdash-import' });
    try {
      return await fn({ credentials: role, dbs, inspector: new ShardInspector(config) });
    } finally {
      await dbs.close().catch(() => undefined);
    }
  }

  private async inspect(input: StartImportBody, session: PilotSession): Promise<Inspected> {
    const pilot = session.dbs;
    if (!this.chain)
      throw problem(503, ImportProblems.AUDIT_VERIFIER_MISSING, 'Imports unavailable', 'this provisioning instance has no audit chain verifier bound (TENANT_AUDIT_CHAIN): an import could not verify the audit chain it brings');
    const target = await this.shards.byName(this.control.db, input.shard);
    if (!target) throw problem(404, ImportProblems.SHARD_NOT_FOUND, 'Shard not found', `no shard is named ${input.shard} (\`hotdash-ops shards list\`)`);
    if (target.status !== 'active') throw problem(409, ImportProblems.SHARD_NOT_ACTIVE, 'Shard not active', `shard ${target.name} is ${target.status}: it takes no tenant (pick an active one: \`hotdash-ops shards list\`)`);

    // The pilot's control database: the import role logs in and may read what the import reads; at
    // this platform's schema version; one live tenant.
    const controlAt = input.pilot.control;
    await checkPilotAccess(session.inspector, controlAt, session.credentials.user, 'control');
    const controlSchema = await this.schemaOf(session, controlAt, 'control', 'control database');
    const tenant = await reading('control database', controlAt, () => pilotTenant(pilot));
    const placed = await reading('control database', controlAt, () =>
      pilot
        .controlDb()
        .selectFrom('tenant_placements as p')
        .innerJoin('shards as s', 's.id', 'p.shard_id')
        .select(['p.version', 's.id', 's.name', 's.host', 's.port', 's.database', 's.kind', 's.status'])
        .where('p.tenant_id', '=', tenant.id)
        .executeTakeFirst(),
    );
    if (!placed) throw problem(409, ImportProblems.PILOT_TENANT_NOT_READY, 'Pilot tenant not placed', `the pilot's tenant ${tenant.id} has no placement in its control database`);
    const shardAt = input.pilot.shard ?? { host: placed.host, port: placed.port, database: placed.database };
    // The mover connects to the pilot's shard as the import role alone (its own credentials on the source).
    const pilotShard = { id: placed.id, name: `pilot-${placed.name}`.slice(0, 63), ...shardAt, kind: placed.kind as ShardInfo['kind'], status: placed.status as ShardInfo['status'], credentials: session.credentials };
    await checkPilotAccess(session.inspector, shardAt, session.credentials.user, 'tenant');
    const tenantSchema = await this.schemaOf(session, shardAt, 'tenant', 'shard');

    // This platform: no import of it running, its id and slug free.
    await this.refuseRunning(tenant.id);
    await this.refuseExisting(tenant);

    // The pilot is quiet enough: no saga of the tenant running, no control event waiting for its relay.
    if (await reading('control database', controlAt, () => sagaRunningProbe(pilot)(tenant.id)))
      throw problem(409, ImportProblems.PILOT_BUSY, 'Pilot busy', `a saga of tenant ${tenant.id} runs on the pilot (its provisioning, a move, an offboarding): let it finish, then import`);
    const lag = await reading('control database', controlAt, () => relayLagOf(pilot, pilot.controlLocation));
    if (lag.unpublished > 0)
      throw problem(409, ImportProblems.PILOT_BUSY, 'Pilot events waiting', `${lag.unpublished} control event(s) of the pilot wait for its relay (oldest ${lag.oldestUnpublishedSeconds ?? '?'} s): start the pilot's relay (or let it catch up), then import`);

    // The plan: known here; where its limits differ, listed.
    const planDifferences = await this.planDifferences(pilot, controlAt, tenant.plan);

    // The data key: the pilot's keys given must unwrap it.
    let keyring: TenantKeyring;
    let pilotKekIds: string[];
    try {
      const kms = new LocalKms(parseMasterKeys(input.pilot.kmsMasterKeys, 'pilot.kmsMasterKeys'));
      pilotKekIds = kms.kekIds;
      keyring = new TenantKeyring(pilot, kms, { cacheTtlMs: 60_000 });
    } catch (err) {
      throw problem(422, ImportProblems.PILOT_KEY_INVALID, 'Pilot keys malformed', `${(err as Error).message} (the pilot's HOTDASH_KMS_MASTER_KEYS: id:base64 of 32 bytes, comma separated)`);
    }
    const keyCheck = await this.pilotKeyCheck(keyring, tenant.id, controlAt);

    // Its vectors: the pilot's Weaviate reachable; the platform's namespace of the tenant empty.
    const vectors = await this.pilotVectors(input, tenant.id);
    if ((await this.vectors.tenantExists(tenant.id)) && (await this.vectors.countObjects(tenant.id)) > 0)
      throw problem(409, ImportProblems.TENANT_EXISTS, 'Tenant vectors present', `the platform's knowledge store has objects of tenant ${tenant.id} already: an earlier import's leftovers? remove its namespace first`);

    // The mover's own checks, with the pilot's shard as the source.
    const targetInfo = { id: target.id, name: target.name, host: target.host, port: target.port, database: target.database, kind: target.kind, status: target.status };
    await this.preflight({ moveId: newId(), tenantId: tenant.id, source: pilotShard, target: targetInfo });
    const rows = await reading('shard', shardAt, () => this.mover.tenantRowCounts(pilotShard, tenant.id));
    return {
      tenant,
      pilotShard,
      fromVersion: placed.version,
      target: { ...targetInfo, region: target.region },
      schema: { control: controlSchema, tenant: tenantSchema },
      planDifferences,
      keyring,
      pilotKekIds,
      keyCheck,
      rows,
      vectors,
    };
  }

  /** A pilot database's schema version (read as the import role) against this platform's migrations: the latest applied, or 409 newer / older. */
  private async schemaOf(session: PilotSession, at: DatabaseLocation, plane: 'control' | 'tenant', what: string): Promise<string | null> {
    let applied: string[];
    try {
      applied = await session.inspector.appliedMigrations(at);
    } catch (err) {
      if (err instanceof ShardUnreachableError) throw problem(422, ImportProblems.PILOT_UNREACHABLE, 'Pilot unreachable', `the pilot's ${what} at ${where(at)} cannot be reached: ${err.message}`);
      throw err;
    }
    const ours = this.inspector.migrationFiles(plane).map((m) => m.name);
    const unknown = applied.filter((n) => !ours.includes(n));
    if (unknown.length)
      throw problem(
        409,
        ImportProblems.PILOT_SCHEMA_NEWER,
        'Pilot newer than the platform',
        `the pilot's ${what} at ${where(at)} has migrations this platform does not know (${unknown.slice(0, 3).join(', ')}): upgrade the platform to the pilot's version (or newer) first, then import`,
      );
    const missing = ours.filter((n) => !applied.includes(n));
    if (missing.length)
      throw problem(
        409,
        ImportProblems.PILOT_SCHEMA_OLDER,
        'Pilot older than the platform',
        `the pilot's ${what} at ${where(at)} lacks ${missing.length} migration(s) of this platform (${missing.slice(0, 3).join(', ')}${missing.length > 3 ? ', …' : ''}): migrate the pilot first (\`npm run db:migrate\` with the pilot's env file, the same build as the platform), then import`,
      );
    return applied.at(-1) ?? null;
  }

  private async refuseRunning(tenantId: TenantId): Promise<void> {
    const latest = await this.engine.latestOf(PILOT_IMPORT_SAGA, tenantId);
    const status = latest ? (await this.engine.status(latest))?.status : undefined;
    if (latest && (status === 'running' || status === 'compensating'))
      throw problem(409, ImportProblems.IN_PROGRESS, 'Import in progress', `tenant ${tenantId} is being imported (import ${latest}): follow it (\`hotdash-ops imports status ${latest}\`)`);
  }

  private async refuseExisting(t: PilotTenant): Promise<void> {
    const found = await this.control.db.selectFrom('tenants').select(['id', 'slug', 'status']).where((eb) => eb.or([eb('id', '=', t.id), eb('slug', '=', t.slug)])).execute();
    const same = found.find((f) => f.id === t.id);
    if (same) throw problem(409, ImportProblems.TENANT_EXISTS, 'Tenant exists', `the platform has tenant ${t.id} already (${same.status}, slug ${same.slug}): it cannot be imported twice`);
    if (found.length) throw problem(409, ImportProblems.TENANT_EXISTS, 'Slug taken', `the platform has another tenant with the slug ${t.slug} (${found[0]!.id}): the pilot's tenant logs in with that slug; change one of them first`);
  }

  private async planDifferences(pilot: Databases, at: DatabaseLocation, code: string): Promise<ImportPlan['plan']['differences']> {
    const columns = ['code', 'monthly_ticket_quota', 'rate_limit_per_minute', 'concurrency_limit', 'knowledge_base_bytes'] as const;
    const ours = await this.control.db.selectFrom('plans').select(columns).where('code', '=', code).executeTakeFirst();
    if (!ours || !(PlanCodes as readonly string[]).includes(code))
      throw problem(409, ImportProblems.PLAN_UNKNOWN, 'Plan unknown', `the pilot's tenant is on plan ${code}, which this platform does not have (${PlanCodes.join(', ')}): change its plan on the pilot first`);
    const theirs = await reading('control database', at, () => pilot.controlDb().selectFrom('plans').select(columns).where('code', '=', code).executeTakeFirst());
    if (!theirs) return [];
    return columns
      .filter((c) => c !== 'code' && String(theirs[c]) !== String(ours[c]))
      .map((c) => ({ limit: c, pilot: String(theirs[c]), platform: String(ours[c]) }));
  }

  /** The pilot's data key unwrapped with the keys given (its check value), or 422. */
  private async pilotKeyCheck(keyring: TenantKeyring, tenantId: TenantId, at: DatabaseLocation): Promise<string> {
    try {
      return await keyring.keyCheck(tenantId);
    } catch (err) {
      if (!(err instanceof CryptoError)) return reading('control database', at, () => Promise.reject(err));
      if (err.code === 'tenant-key-missing' || err.code === 'tenant-key-destroyed')
        throw problem(422, ImportProblems.PILOT_KEY_UNUSABLE, 'Pilot tenant key unusable', `${err.message} on the pilot: its encrypted data cannot be read, and it cannot be imported`);
      const which = err.code === 'kms-unknown-key' ? `it is wrapped with the pilot key ${JSON.stringify((err as { kekId?: string }).kekId)}, which is not among the keys given` : 'the keys given do not unwrap it (another key of the same id?)';
      throw problem(422, ImportProblems.PILOT_KEY_INVALID, 'Wrong pilot key', `the data key of the pilot's tenant ${tenantId} could not be unwrapped: ${which}. Give the pilot's HOTDASH_KMS_MASTER_KEYS, every key of it`);
    }
  }

  /** Objects in the pilot's namespace of the tenant (0 when it has none); 422 when its Weaviate cannot be reached. */
  private async pilotVectors(input: StartImportBody, tenantId: TenantId): Promise<number> {
    const w = input.pilot.weaviate;
    const store = new WeaviateVectorStore({ url: w.url, grpcPort: w.grpcPort, collection: w.collection, timeoutMs: 5_000 });
    try {
      return (await store.tenantExists(tenantId)) ? await store.countObjects(tenantId) : 0;
    } catch (err) {
      throw problem(422, ImportProblems.PILOT_UNREACHABLE, 'Pilot Weaviate unreachable', `the pilot's Weaviate at ${w.url} (gRPC ${w.grpcPort}) cannot be read: ${(err as Error).message}`);
    } finally {
      await store.close().catch(() => undefined);
    }
  }

  /** The mover's checks of the pilot's shard and the target; the first problem is the answer. */
  private async preflight(m: TenantMove): Promise<void> {
    let problems: { code: string; message: string }[];
    try {
      problems = await this.mover.preflight(m);
    } catch (err) {
      if (err instanceof TenantMoveError) throw problem(422, ImportProblems.PILOT_UNREACHABLE, 'Shard unreachable', err.message);
      throw err;
    }
    const first = problems[0];
    if (!first) return;
    const p = PREFLIGHT[first.code] ?? { status: 409, code: first.code, title: 'Import refused' };
    throw problem(p.status, p.code, p.title, problems.map((x) => x.message).join('; '));
  }

  // ------------------------------------------------------------------------------- the answers

  private plan(input: StartImportBody, f: Inspected): ImportPlan {
    return {
      dryRun: true,
      tenant: { ...f.tenant, createdAt: f.tenant.createdAt.toISOString() },
      pilot: { control: where(input.pilot.control), shard: where(f.pilotShard), weaviate: input.pilot.weaviate.url, schema: f.schema },
      target: { shard: f.target.name, region: f.target.region },
      key: { pilotKekIds: f.pilotKekIds, platformKekId: this.kms.currentKekId },
      plan: { code: f.tenant.plan, differences: f.planDifferences },
      rows: f.rows,
      vectors: f.vectors,
      replay: { windowMinutes: input.replayWindowMinutes ?? DEFAULT_REPLAY_WINDOW_MINUTES },
      control: [...PILOT_CONTROL_TABLES],
      steps: STEPS,
    };
  }

  /** The control records and the saga's start, in one control transaction (under a lock of the tenant's imports), then its first job. */
  private async begin(importId: string, input: StartImportBody, f: Inspected, actor: string): Promise<void> {
    const t = f.tenant;
    const moveShard = (s: ShardInfo): MoveShard => ({ id: s.id, name: s.name, host: s.host, port: s.port, database: s.database, kind: s.kind, status: s.status });
    const w = input.pilot.weaviate;
    const saga: PilotImportInput = {
      moveId: importId,
      tenantId: t.id,
      source: moveShard(f.pilotShard),
      target: moveShard(f.target),
      fromVersion: f.fromVersion,
      actor,
      regionChange: null,
      replayPublishedWithinMs: (input.replayWindowMinutes ?? DEFAULT_REPLAY_WINDOW_MINUTES) * 60_000,
      pilot: { control: where(input.pilot.control), shard: where(f.pilotShard), weaviate: { url: w.url, grpcPort: w.grpcPort, collection: w.collection ?? null } },
      pilotControlAt: { host: input.pilot.control.host, port: input.pilot.control.port, database: input.pilot.control.database },
      tenant: { slug: t.slug, name: t.name, plan: t.plan, status: t.status },
      keyCheck: f.keyCheck,
      vectors: f.vectors,
      pilotUser: f.pilotShard.credentials.user,
      pilotCredentials: await sealPilotCredentials(this.kms, t.id, importId, f.pilotShard.credentials),
    };
    try {
      await this.control.withControl(async (tx) => {
        await sql`select pg_advisory_xact_lock(hashtext('pilot-import'), hashtext(${t.id}::text))`.execute(tx.db);
        await this.refuseRunning(t.id);
        await this.refuseExisting(t);
        await tx.db
          .insertInto('tenants')
          .values({ id: t.id, name: t.name, slug: t.slug, plan_code: t.plan, status: 'provisioning', region: f.target.region, created_at: t.createdAt })
          .execute();
        await tx.db.insertInto('tenant_placements').values({ tenant_id: t.id, shard_id: f.target.id, version: f.fromVersion + 1 }).execute();
        const key = await this.keyring.importKey(tx, t.id, f.keyring);
        if (key.check !== f.keyCheck) throw new Error('the imported data key changed between the checks and the import');
        // The pilot's data subject keys as they are now (the saga carries those made until the cut-over after it).
        await SubjectKeyring.carryTenant(f.keyring.dbs.controlDb(), tx.db, t.id);
        await this.engine.start(PILOT_IMPORT_SAGA, saga, { tenantId: t.id, sagaId: importId, tx });
      });
    } catch (err) {
      // A sign-up (or another import) committed the same id or slug between the check above and the
      // insert: the unique constraint decides, and the answer is the check's (409, nothing written).
      if (uniqueViolation(err))
        throw problem(409, ImportProblems.TENANT_EXISTS, 'Tenant exists', `the platform took tenant ${t.id} or its slug ${t.slug} meanwhile (a sign-up or another import): it cannot be imported as it is; nothing was changed`);
      throw err;
    }
    await this.engine.kick(importId);
  }
}

/** The one live tenant of a pilot's control database (offboarded ones aside), or 422 / 409. */
async function pilotTenant(pilot: Databases): Promise<PilotTenant> {
  const live = await pilot.controlDb().selectFrom('tenants').select(['id', 'slug', 'name', 'plan_code', 'status', 'created_at']).where('status', '<>', 'offboarded').orderBy('created_at').limit(3).execute();
  if (live.length !== 1)
    throw problem(
      422,
      ImportProblems.PILOT_NOT_SINGLE_TENANT,
      'Not a pilot',
      live.length === 0
        ? 'the control database given holds no live tenant: is it the pilot’s?'
        : `the control database given holds ${live.length === 3 ? 'three or more' : 'two'} live tenants (${live.map((x) => x.slug).join(', ')}): a pilot serves exactly one; tenants of a multi-tenant deployment are moved shard by shard, not imported`,
    );
  const t = live[0]!;
  if (!IMPORTABLE.includes(t.status))
    throw problem(409, ImportProblems.PILOT_TENANT_NOT_READY, 'Pilot tenant not ready', `the pilot's tenant ${t.id} is ${t.status}: only an active or suspended tenant is imported (let its provisioning finish)`);
  return { id: parseTenantId(t.id), slug: t.slug, name: t.name, plan: t.plan_code, status: t.status, createdAt: t.created_at };
}

/** A read of a pilot database as the import role: a privilege it lacks is 422 pilot-privilege-missing; a connection failure (down, refused) 422 pilot-unreachable. */
async function reading<T>(what: string, at: DatabaseLocation, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof ProblemException) throw err;
    if ((err as { code?: string }).code === '42501')
      throw problem(422, ImportProblems.PILOT_PRIVILEGE_MISSING, 'Import role lacks a privilege', `the pilot's ${what} at ${where(at)} refused the import role a read: ${(err as Error).message} (docs/pilot.md, "The import role", says what it needs)`);
    throw problem(422, ImportProblems.PILOT_UNREACHABLE, 'Pilot unreachable', `the pilot's ${what} at ${where(at)} cannot be read as the import role: ${(err as Error).message}`);
  }
}

/** PostgreSQL's unique_violation, as the driver reports it (or wrapped once). */
function uniqueViolation(err: unknown): boolean {
  const e = err as { code?: string; cause?: { code?: string } } | null;
  return e?.code === '23505' || e?.cause?.code === '23505';
}

function shardOf(s: MoveShard): ShardInfo {
  return { id: s.id, name: s.name, host: s.host, port: s.port, database: s.database, kind: s.kind as ShardInfo['kind'], status: s.status as ShardInfo['status'] };
}
