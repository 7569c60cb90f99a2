import { Inject, Injectable, OnModuleInit, Optional } from '@nestjs/common';
import { sql } from 'kysely';
import { AccessEvents, parseTenantId, TenantEvents, type PlanCode, type TenantId } from '@hotdash/contracts';
import { FieldCipher, KmsPort, SubjectKeyring, TenantKeyring } from '@hotdash/platform-crypto';
import { ControlDatabase, ShardRouter, TenantDatabase, TenantMover, withForeignControl } from '@hotdash/platform-db';
import { Json, NonRetryableStepError, SagaDefinition, SagaEngine, SagaStep, SagaStepContext } from '@hotdash/platform-jobs';
import { publishInTx } from '@hotdash/platform-messaging';
import { VectorStore, WeaviateVectorStore, type KnowledgeChunk } from '@hotdash/platform-vector';
import { TenantAdmins } from '@hotdash/identity';
import { chunkLine, VectorDigest } from '../backups/archive-format';
import { TENANT_AUDIT_CHAIN, type TenantAuditChain } from '../backups/tenant-audit-chain';
import { MoveSteps, TENANT_MOVE_CHECKPOINT, tenantMoveSaga, type MovePlacement, type TenantMoveDeps, type TenantMoveInput } from '../moves/tenant-move.saga';
import { OpsActions } from '../shards.repository';
import { knowledgeNamespaceStep, PROVISIONING_PRODUCER } from '../saga/provisioning.saga';
import { openPilotCredentials, type SealedPilotCredentials } from './pilot-credentials';

export const PILOT_IMPORT_SAGA = 'pilot-import';

/** What an import's audit entry in the tenant's log names as the resource. */
export const IMPORT_AUDIT_RESOURCE = 'pilot-import';

/** The pilot's Weaviate as the saga keeps it. */
export interface PilotWeaviate {
  [key: string]: Json;
  url: string;
  grpcPort: number;
  collection: string | null;
}

/**
 * A pilot import's input (jsonb): a tenant move's (its id is the import's; the source is the pilot's
 * shard, which is no shard of this platform), and what the import adds. No key material: the data
 * key was re-wrapped under the platform's KEK when the import was accepted (tenant_keys); only its
 * check value is kept, to verify the platform reads the same key. No password in clear: the pilot's
 * import role is sealed under the platform's KEK (`pilotCredentials`), and forgotten when the saga ends.
 */
export interface PilotImportInput extends TenantMoveInput {
  pilot: { control: string; shard: string; weaviate: PilotWeaviate };
  /** The pilot's control database, where its subject keys are read (null or absent in imports started before: read from `pilot.control`). */
  pilotControlAt: { host: string; port: number; database: string } | null;
  tenant: { slug: string; name: string; plan: string; status: string };
  /** TenantKeyring.keyCheck of the pilot's data key. */
  keyCheck: string;
  /** The pilot's events published this many ms before the cut-over are published again on the platform (TenantMove.replayPublishedWithinMs; 0: none). */
  replayPublishedWithinMs: number;
  /** Objects in the pilot's namespace when the import was accepted (progress). */
  vectors: number;
  /** The import role's name on the pilot (not secret: ops drop that role once the import has ended). */
  pilotUser: string;
  /**
   * The import role (user and password) sealed by the KMS under the platform's current KEK, bound to
   * the tenant and to this import; every step that connects to the pilot unseals it in memory (the
   * mover's source credentials). Null once the saga has ended (forgetOnEnd).
   */
  pilotCredentials: SealedPilotCredentials | null;
}

/** Step ids of the import's own steps (the move's keep theirs: MoveSteps). Persisted: never renamed. */
export const ImportSteps = {
  CONTROL_RECORDS: 'control-records',
  KNOWLEDGE_NAMESPACE: 'knowledge-namespace',
  COPY_VECTORS: 'copy-vectors',
  SYNC_VECTORS: 'sync-vectors',
  END_SESSIONS: 'end-sessions',
  VERIFY: 'verify',
  ACTIVATE: 'activate',
  SUBJECT_KEYS: 'subject-keys',
} as const;

/** The move's steps an import runs, in order around its own (the pilot keeps its rows behind its fence: no cleanup-source; the import's own last step records it). */
const MOVE_STEPS_BEFORE_CUT_OVER = [MoveSteps.FENCE_TARGET, MoveSteps.PUBLISH, MoveSteps.SLOT, MoveSteps.SUBSCRIBE, MoveSteps.INITIAL_COPY] as const;
const MOVE_STEPS_CUT_OVER = [MoveSteps.CATCH_UP, MoveSteps.CUT_OVER, MoveSteps.DROP_REPLICATION, MoveSteps.POST_VERIFY] as const;

/** Steps after the cut-over only go forward (the pilot refuses the tenant from there): retried, not undone. */
const FORWARD_TRIES = 20;
/** Documents whose ids the vector pre-copy records (beyond, the sync keeps every chunk the platform has of a document the pilot lost). */
const MAX_RECORDED_DOCUMENTS = 50_000;

export interface PilotImportDeps {
  mover: TenantMover;
  control: ControlDatabase;
  tenantDb: TenantDatabase;
  router: ShardRouter;
  keyring: TenantKeyring;
  cipher: FieldCipher;
  /** The platform's knowledge vectors. */
  vectors: VectorStore;
  /** Unseals the pilot's import role for the steps that connect to the pilot. */
  kms: KmsPort;
  actions: OpsActions;
  /** The audit service's chain verification (the provisioning app binds it); without it the verify step fails. */
  chain?: TenantAuditChain;
  /** The pilot's vector store (default: its Weaviate through the official client). */
  pilotVectors?: (w: PilotWeaviate) => VectorStore;
  checkpoint?: TenantMoveDeps['checkpoint'];
  copyTimeoutMs?: number;
}

type Ctx = SagaStepContext<PilotImportInput>;
type Step = SagaStep<PilotImportInput>;

const tenantOf = (ctx: Ctx): TenantId => parseTenantId(ctx.input.tenantId);
/** `host:port/database`, as the input names the pilot's control database. */
function locationOf(where: string): { host: string; port: number; database: string } {
  const m = /^(.+):(\d+)\/([^/]+)$/.exec(where);
  if (!m) throw new NonRetryableStepError(`the pilot's control database "${where}" is not host:port/database`, 'pilot-control-unreadable');
  return { host: m[1]!, port: Number(m[2]), database: m[3]! };
}
const json = (v: unknown): Json => JSON.parse(JSON.stringify(v)) as Json;

/**
 * An import's placement: the tenant is placed on the target from the start (fenced there by the move
 * until the cut-over opens it), at the pilot's placement version + 1; the cut-over only checks it and
 * has every router read it again.
 */
function importPlacement(control: ControlDatabase, router: ShardRouter): MovePlacement {
  return {
    async check(m, from) {
      const placed = await control.db.selectFrom('tenant_placements').select(['shard_id', 'version']).where('tenant_id', '=', m.tenantId).executeTakeFirst();
      if (placed?.shard_id !== m.target.id || placed.version !== from + 1)
        throw new NonRetryableStepError(`the placement of tenant ${m.tenantId} changed during the import (now ${placed?.shard_id}:${placed?.version})`, 'placement-changed');
    },
    async move(m) {
      router.invalidate(m.tenantId);
    },
  };
}

/**
 * Imports a single-tenant pilot deployment's tenant into this platform (docs/pilot.md). The import
 * was accepted with the control records already written in one transaction (the tenant, status
 * provisioning, of the pilot's id, slug, name and plan, in the target shard's region; its placement
 * on the target; its data key re-wrapped under the platform's KEK) and this saga started in it. Then:
 * the tenant's knowledge namespace; every tenant row through the live move with the pilot's shard as
 * the source (fence on the target, publication and slot on the pilot, subscription on the target,
 * initial copy) while the pilot serves; the pilot's vectors copied; catch-up, verification and the
 * cut-over (the pilot's tenant fenced: from there it refuses the tenant, its rows kept behind the
 * fence); replication dropped and both copies verified again; the vectors brought in step with the
 * pilot as it was at the cut-over and verified; the pilot's sessions ended; the key, the audit chain
 * verified on the platform; the tenant given its pilot status (active), an audit entry and an ops
 * action.
 *
 * Before the cut-over every step is undone on a failure (the pilot serves on, nothing of the import is
 * left on the platform); after it the steps only go forward, like a move's.
 */
export function pilotImportSaga(deps: PilotImportDeps): SagaDefinition<PilotImportInput> {
  const { control, tenantDb, router, keyring, vectors, actions } = deps;
  const admins = new TenantAdmins(tenantDb, deps.cipher);
  const checkpoint = async (point: string) => deps.checkpoint?.(point);
  const pilotStore = (w: PilotWeaviate): VectorStore => deps.pilotVectors?.(w) ?? new WeaviateVectorStore({ url: w.url, grpcPort: w.grpcPort, collection: w.collection ?? undefined });
  const withPilotVectors = async <T>(ctx: Ctx, fn: (pilot: VectorStore) => Promise<T>): Promise<T> => {
    const pilot = pilotStore(ctx.input.pilot.weaviate);
    try {
      return await fn(pilot);
    } finally {
      await pilot.close().catch(() => undefined);
    }
  };
  const move = tenantMoveSaga({ mover: deps.mover, control, tenantDb, router, checkpoint: deps.checkpoint, copyTimeoutMs: deps.copyTimeoutMs, placement: importPlacement(control, router) });
  /**
   * The step's context with the pilot's import role as the source's own credentials, unsealed in
   * memory for this one run or compensation (the move's steps pass them to the mover: every
   * connection to the pilot, and the subscription's). Nothing of it is written back: the saga stores
   * step outputs, never the context.
   */
  const withPilotRole = async (ctx: Ctx): Promise<Ctx> => {
    const sealed = ctx.input.pilotCredentials;
    if (!sealed) throw new NonRetryableStepError(`the pilot's import role of import ${ctx.sagaId} is gone (the import has ended)`, 'pilot-credentials-gone');
    const credentials = await openPilotCredentials(deps.kms, tenantOf(ctx), ctx.sagaId, sealed);
    return { ...ctx, input: { ...ctx.input, source: { ...ctx.input.source, credentials } } };
  };
  const moveStep = (id: string): Step => {
    const found = move.steps.find((s) => s.id === id);
    if (!found) throw new Error(`the tenant-move saga has no step ${id}`);
    const step = found as unknown as Step;
    return {
      ...step,
      run: async (ctx) => step.run(await withPilotRole(ctx)),
      ...(step.compensate ? { compensate: async (ctx: Ctx) => step.compensate!(await withPilotRole(ctx)) } : {}),
    };
  };

  const controlRecords: Step = {
    id: ImportSteps.CONTROL_RECORDS,
    description: "the tenant, its placement on the target and its data key re-wrapped under the platform's KEK (written when the import was accepted): checked",
    async run(ctx) {
      const tenantId = tenantOf(ctx);
      const t = await control.db.selectFrom('tenants').select(['status', 'slug', 'plan_code', 'region']).where('id', '=', tenantId).executeTakeFirst();
      if (!t) throw new NonRetryableStepError(`tenant ${tenantId} is not in the control plane: the import's records are gone`, 'import-records-missing');
      const check = await keyring.keyCheck(tenantId, { fresh: true });
      if (check !== ctx.input.keyCheck) throw new NonRetryableStepError(`the data key of tenant ${tenantId} on the platform is not the pilot's`, 'tenant-key-mismatch');
      return { status: t.status, slug: t.slug, plan: t.plan_code, region: t.region, shard: ctx.input.target.name, placementVersion: ctx.input.fromVersion + 1 };
    },
    async compensate(ctx) {
      const tenantId = tenantOf(ctx);
      // A security-definer function (the application role cannot delete tenants, placements or
      // keys): refuses any tenant that is no longer being set up.
      await sql`select discard_provisioning_tenant(${tenantId}::uuid)`.execute(control.db);
      keyring.invalidate(tenantId);
      router.invalidate(tenantId);
    },
  };

  const knowledgeNamespace: Step = knowledgeNamespaceStep(ImportSteps.KNOWLEDGE_NAMESPACE, "the tenant's namespace (Weaviate tenant) in the platform's knowledge collection", vectors);

  const copyVectors: Step = {
    id: ImportSteps.COPY_VECTORS,
    description: "the pilot's knowledge vectors copied with their vectors into the tenant's namespace, while the pilot serves",
    async run(ctx) {
      const tenantId = tenantOf(ctx);
      await checkpoint('copy-vectors');
      return withPilotVectors(ctx, async (pilot) => {
        if (!(await pilot.tenantExists(tenantId))) return { copied: 0, documents: [] };
        let copied = 0;
        const documents = new Set<string>();
        for await (const page of pilot.exportChunks(tenantId)) {
          await vectors.upsertChunks(tenantId, page);
          copied += page.length;
          for (const c of page) documents.add(c.documentId);
        }
        return { copied, documents: documents.size <= MAX_RECORDED_DOCUMENTS ? [...documents].sort() : null };
      });
    },
  };

  const syncVectors: Step = {
    id: ImportSteps.SYNC_VECTORS,
    description: "the vectors brought in step with the pilot's as they were at the cut-over, and verified (every pilot object equal on the platform)",
    maxAttempts: FORWARD_TRIES,
    async run(ctx) {
      const tenantId = tenantOf(ctx);
      await checkpoint('sync-vectors');
      const recorded = (ctx.state[ImportSteps.COPY_VECTORS] as { documents: string[] | null } | undefined)?.documents;
      const copiedDocuments = recorded ? new Set(recorded) : undefined;
      return withPilotVectors(ctx, async (pilot) => json(await syncNamespaces(tenantId, pilot, vectors, copiedDocuments)));
    },
  };

  const endSessions: Step = {
    id: ImportSteps.END_SESSIONS,
    description: "the pilot's login sessions ended (users and password hashes are carried, sessions are not: everyone signs in again)",
    maxAttempts: FORWARD_TRIES,
    run: async (ctx) => json(await admins.endSessions(tenantOf(ctx))),
  };

  const verify: Step = {
    id: ImportSteps.VERIFY,
    description: 'verified on the platform: the data key is the pilot’s (key check), the audit chain verifies, the rows are there, a knowledge search finds the pilot’s passages',
    maxAttempts: FORWARD_TRIES,
    async run(ctx) {
      const tenantId = tenantOf(ctx);
      await checkpoint('verify');
      const check = await keyring.keyCheck(tenantId, { fresh: true });
      if (check !== ctx.input.keyCheck) throw new NonRetryableStepError(`the platform's data key of tenant ${tenantId} is not the pilot's (key check differs)`, 'tenant-key-mismatch');
      if (!deps.chain) throw new NonRetryableStepError('this provisioning instance has no audit chain verifier bound (TENANT_AUDIT_CHAIN)', 'audit-verification-unavailable');
      const chain = deps.chain;
      const audit = await tenantDb.withTenant(tenantId, (tx) => chain.verify(tx, tenantId), { isolation: 'snapshot', timeoutMs: 60_000 });
      if (!audit.ok) throw new NonRetryableStepError(`the audit chain of tenant ${tenantId} does not verify on the platform: ${JSON.stringify(audit.firstBroken)}`, 'audit-chain-broken');
      const rows = await deps.mover.tenantRowCounts(ctx.input.target, tenantId);
      // Retrieval works on the imported namespace: a search with one of its passages finds that passage.
      let knowledge: { probe: string; found: boolean } | null = null;
      for await (const [probe] of vectors.exportChunks(tenantId, 1)) {
        if (!probe) break;
        const hits = await vectors.hybridSearch(tenantId, { text: probe.text, vector: probe.vector, limit: 5 });
        if (!hits.some((h) => h.id === probe.id)) throw new Error(`a knowledge search of tenant ${tenantId} for its passage ${probe.id} does not find it`);
        knowledge = { probe: probe.id, found: true };
        break;
      }
      return { key: 'the pilot’s', auditChain: { ok: audit.ok, checked: audit.checked }, tables: rows.length, rows: rows.reduce((n, r) => n + r.rows, 0), knowledge, postVerify: ctx.state[MoveSteps.POST_VERIFY] ?? null };
    },
  };

  const activate: Step = {
    id: ImportSteps.ACTIVATE,
    description: 'the tenant given its pilot status (active), announced with tenant.imported (its unfinished drafts and documents begun again); the import in its audit log and in the ops actions',
    maxAttempts: FORWARD_TRIES,
    async run(ctx) {
      const tenantId = tenantOf(ctx);
      const { status, plan } = ctx.input.tenant;
      const changed = await control.withControl(async (tx) => {
        const r = await tx.db.updateTable('tenants').set({ status, updated_at: sql<Date>`now()` }).where('id', '=', tenantId).where('status', '=', 'provisioning').executeTakeFirst();
        if (r.numUpdatedRows === 0n) return false;
        const meta = { tenantId, producer: PROVISIONING_PRODUCER, correlationId: ctx.sagaId, causationId: ctx.sagaId };
        if (status === 'active') await publishInTx(tx, TenantEvents.ACTIVATED, { tenantId, plan: plan as PlanCode }, meta);
        else await publishInTx(tx, TenantEvents.SUSPENDED, { tenantId, reason: 'imported suspended, as it was on its pilot', by: ctx.input.actor.slice(0, 200) }, meta);
        // Work the pilot began and did not finish (its queues stay behind) is begun again by its owners.
        // When the cut-over was decided (a cut-over resumed after its decision did not record it: now).
        const cutOverAt = (ctx.state[MoveSteps.CUT_OVER] as { decidedAt?: string } | undefined)?.decidedAt ?? new Date().toISOString();
        await publishInTx(tx, TenantEvents.IMPORTED, { tenantId, importId: ctx.sagaId, pilot: ctx.input.pilot.control.slice(0, 400), cutOverAt }, meta);
        return true;
      });
      router.invalidate(tenantId);
      if (changed) {
        await tenantDb.withTenant(tenantId, (tx) =>
          publishInTx(
            tx,
            AccessEvents.RECORDED,
            { actor: ctx.input.actor.slice(0, 100), action: 'create', resourceType: IMPORT_AUDIT_RESOURCE, resourceId: ctx.sagaId, method: 'POST', route: '/ops/imports', status: 200, ipEnc: null, at: new Date().toISOString() },
            { tenantId, producer: PROVISIONING_PRODUCER, correlationId: ctx.sagaId },
          ),
        );
        await actions.record(control.db, { actor: ctx.input.actor, action: 'import.finish', target: tenantId, outcome: 'done', detail: { import: ctx.sagaId, pilot: ctx.input.pilot.control, shard: ctx.input.target.name, status } });
      }
      return { status };
    },
  };

  /**
   * The pilot's data subject keys (platform/crypto SubjectKeyring.carryTenant), read with the import
   * role after the cut-over, when the pilot takes no more writes of the tenant (so no subject is
   * missed): the tickets sealed under them (s1 tokens) decrypt on the platform. A key erased on the
   * pilot stays erased. Forward only, like every step after the cut-over.
   */
  const subjectKeys: Step = {
    id: ImportSteps.SUBJECT_KEYS,
    description: "the pilot's data subject keys copied as they are (wrapped under the tenant's data key), after the cut-over",
    maxAttempts: FORWARD_TRIES,
    async run(ctx) {
      const tenantId = tenantOf(ctx);
      const sealed = ctx.input.pilotCredentials;
      if (!sealed) throw new NonRetryableStepError(`the pilot's import role of import ${ctx.sagaId} is gone (the import has ended)`, 'pilot-credentials-gone');
      const credentials = await openPilotCredentials(deps.kms, tenantId, ctx.sagaId, sealed);
      const at = ctx.input.pilotControlAt ?? locationOf(ctx.input.pilot.control);
      const carried = await withForeignControl(at, credentials, (pilot) => SubjectKeyring.carryTenant(pilot, control.db, tenantId));
      return { carried };
    },
  };

  const steps: Step[] = [
    controlRecords,
    knowledgeNamespace,
    ...MOVE_STEPS_BEFORE_CUT_OVER.map(moveStep),
    copyVectors,
    ...MOVE_STEPS_CUT_OVER.map(moveStep),
    subjectKeys,
    syncVectors,
    endSessions,
    verify,
    activate,
  ];
  return {
    type: PILOT_IMPORT_SAGA,
    steps,
    // The way into the pilot is kept no longer than steps may run.
    forgetOnEnd: ['pilotCredentials'],
    hooks: {
      async onCompensated(tx, saga) {
        const input = saga.input as unknown as PilotImportInput;
        // The control records were written with the import's start, not by a step: when the first step
        // itself failed, no compensation of it was registered, and they are discarded here.
        if (saga.failedStep === ImportSteps.CONTROL_RECORDS) {
          const tenantId = parseTenantId(input.tenantId);
          const t = await tx.db.selectFrom('tenants').select('status').where('id', '=', tenantId).executeTakeFirst();
          if (t?.status === 'provisioning') await sql`select discard_provisioning_tenant(${tenantId}::uuid)`.execute(tx.db);
          keyring.invalidate(tenantId);
          router.invalidate(tenantId);
        }
        await actions.record(tx.db, { actor: input.actor, action: 'import.finish', target: input.tenantId, outcome: 'rolled-back', detail: { import: saga.id, pilot: input.pilot.control, error: saga.lastError } });
      },
    },
  };
}

/**
 * The tenant's namespace on the platform made equal to the pilot's (the pilot frozen since the
 * cut-over): both read in id order side by side; pilot objects missing or different on the platform
 * written; the platform's chunks of a document the pilot no longer has (deleted after the pre-copy:
 * among `copiedDocuments`), or of an older version than the pilot's, deleted. Chunks of documents the
 * pilot never had are the platform's own (indexed since the cut-over) and kept. Then every pilot
 * object is compared again (count and sha256 of the pilot's objects, read on both sides).
 */
async function syncNamespaces(
  tenantId: TenantId,
  pilot: VectorStore,
  platform: VectorStore,
  copiedDocuments: Set<string> | undefined,
): Promise<{ objects: number; written: number; deleted: number; platformOnly: number; sha256: string }> {
  const pilotHas = await pilot.tenantExists(tenantId);
  const newest = new Map<string, number>();
  let written = 0;
  const extra: { documentId: string; sourceVersion: number }[] = [];
  const pages = (store: VectorStore) => (pilotHas || store === platform ? store.exportChunks(tenantId)[Symbol.asyncIterator]() : undefined);
  const ours = chunks(pages(platform));
  let mine = await ours.next();
  const pending: KnowledgeChunk[] = [];
  const flush = async () => {
    if (!pending.length) return;
    await platform.upsertChunks(tenantId, pending.splice(0));
  };
  for await (const c of chunks(pages(pilot))) {
    newest.set(c.documentId, Math.max(newest.get(c.documentId) ?? 0, c.sourceVersion));
    while (!mine.done && mine.value.id < c.id) {
      extra.push({ documentId: mine.value.documentId, sourceVersion: mine.value.sourceVersion });
      mine = await ours.next();
    }
    if (mine.done || mine.value.id !== c.id || JSON.stringify(chunkLine(mine.value)) !== JSON.stringify(chunkLine(c))) {
      pending.push(c);
      written++;
      if (pending.length >= 200) await flush();
    }
    if (!mine.done && mine.value.id === c.id) mine = await ours.next();
  }
  for (; !mine.done; mine = await ours.next()) extra.push({ documentId: mine.value.documentId, sourceVersion: mine.value.sourceVersion });
  await flush();
  let deleted = 0;
  const done = new Set<string>();
  for (const e of extra) {
    if (done.has(e.documentId)) continue;
    const v = newest.get(e.documentId);
    if (v !== undefined && e.sourceVersion < v) {
      deleted += await platform.deleteByDocument(tenantId, e.documentId, { olderThanVersion: v });
      done.add(e.documentId);
    } else if (v === undefined && (copiedDocuments === undefined || copiedDocuments.has(e.documentId))) {
      // The pilot had it at the pre-copy and deleted it since (or the pre-copy's list was too long to keep).
      deleted += await platform.deleteByDocument(tenantId, e.documentId);
      done.add(e.documentId);
    }
  }
  // Verification: every pilot object equal on the platform.
  const a = new VectorDigest();
  const b = new VectorDigest();
  const theirs = chunks(pages(platform));
  let t = await theirs.next();
  let platformOnly = 0;
  for await (const c of chunks(pages(pilot))) {
    a.add(c);
    while (!t.done && t.value.id < c.id) {
      platformOnly++;
      t = await theirs.next();
    }
    if (!t.done && t.value.id === c.id) {
      b.add(t.value);
      t = await theirs.next();
    }
  }
  for (; !t.done; t = await theirs.next()) platformOnly++;
  const [pa, pb] = [a.digest(), b.digest()];
  if (pa.objects !== pb.objects || pa.sha256 !== pb.sha256)
    throw new Error(`the platform's vectors of tenant ${tenantId} differ from the pilot's (${pb.objects} of ${pa.objects} objects equal): the next try syncs them again`);
  return { objects: pa.objects, written, deleted, platformOnly, sha256: pa.sha256 };
}

/** The chunks of a paged export one at a time (none for a namespace that is not there). */
async function* chunks(pages: AsyncIterator<KnowledgeChunk[]> | undefined): AsyncGenerator<KnowledgeChunk> {
  if (!pages) return;
  for (let p = await pages.next(); !p.done; p = await pages.next()) yield* p.value;
}

/**
 * Registers the pilot-import saga with the provisioning service's engine when the module starts (before
 * the app starts the worker and resumes unfinished sagas).
 */
@Injectable()
export class PilotImportSagaRegistration implements OnModuleInit {
  constructor(
    @Inject(SagaEngine) private readonly engine: SagaEngine,
    @Inject(TenantMover) private readonly mover: TenantMover,
    @Inject(ControlDatabase) private readonly control: ControlDatabase,
    @Inject(TenantDatabase) private readonly tenantDb: TenantDatabase,
    @Inject(ShardRouter) private readonly router: ShardRouter,
    @Inject(TenantKeyring) private readonly keyring: TenantKeyring,
    @Inject(FieldCipher) private readonly cipher: FieldCipher,
    @Inject(VectorStore) private readonly vectors: VectorStore,
    @Inject(OpsActions) private readonly actions: OpsActions,
    @Inject(KmsPort) private readonly kms: KmsPort,
    @Optional() @Inject(TENANT_AUDIT_CHAIN) private readonly chain?: TenantAuditChain,
    @Optional() @Inject(TENANT_MOVE_CHECKPOINT) private readonly checkpoint?: TenantMoveDeps['checkpoint'],
  ) {}

  onModuleInit(): void {
    this.engine.register(
      pilotImportSaga({
        mover: this.mover,
        control: this.control,
        tenantDb: this.tenantDb,
        router: this.router,
        keyring: this.keyring,
        cipher: this.cipher,
        vectors: this.vectors,
        actions: this.actions,
        kms: this.kms,
        chain: this.chain,
        checkpoint: this.checkpoint ?? undefined,
      }),
    );
  }
}
