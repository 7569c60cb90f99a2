import { Queue } from 'bullmq';
import { sql } from 'kysely';
import { parseTenantId, TENANT_ERASURE_CERTIFICATE_TYPE, TenantErasureCertificate, TenantEvents, TenantId } from '@hotdash/contracts';
import type { PlatformConfig } from '@hotdash/platform-config';
import { CertificateSigner, SubjectKeyring, TenantKeyring } from '@hotdash/platform-crypto';
import { ControlDatabase, TenantDatabase, TenantStatusCache } from '@hotdash/platform-db';
import { createRedis, eraseTenantSagas, Json, legacyTenantKeyPrefix, QueueName, queueOptions, SagaDefinition, SagaStep, SagaStepContext, scanKeys, tenantKeyPrefix } from '@hotdash/platform-jobs';
import { buildEnvelope, eraseSentEvents, eraseTenantMailFiles, mailDir, outboxRow, publishInTx } from '@hotdash/platform-messaging';
import { VectorStore } from '@hotdash/platform-vector';
import { PROVISIONING_PRODUCER } from './provisioning.saga';

export const OFFBOARDING_SAGA = 'tenant-offboarding';

export interface OffboardTenantInput {
  [key: string]: Json;
  tenantId: string;
  reason: string;
  requestedBy: string;
  /** When ops asked (absent in sagas started before the certificate: the record's time stands in). */
  requestedAt: string | null;
}

export const OffboardingSteps = {
  STOP_WRITES: 'stop-writes',
  KNOWLEDGE_NAMESPACE: 'delete-knowledge-namespace',
  QUEUED_JOBS: 'delete-queued-jobs',
  REDIS_KEYS: 'delete-redis-keys',
  SHARD_ROWS: 'erase-shard-rows',
  RECORD_AND_SHRED: 'record-and-shred',
  MAIL_FILES: 'delete-mail-files',
  CONTROL_PLANE: 'erase-control-plane',
  CERTIFICATE: 'issue-certificate',
} as const;

/** Job states whose jobs are the tenant's to erase: queued ones (a paused queue's are `waiting` since BullMQ 6), and those kept after they finished. */
const JOB_STATES = ['waiting', 'delayed', 'prioritized', 'completed', 'failed'] as const;
const JOB_PAGE = 500;

export interface OffboardingDeps {
  config: PlatformConfig;
  control: ControlDatabase;
  tenantDb: TenantDatabase;
  keyring: TenantKeyring;
  vectors: VectorStore;
  statuses?: TenantStatusCache;
  /** Signs the offboarding's certificate. Default: CertificateSigner.fromEnv() (HOTDASH_CERTIFICATE_SIGNING_KEY), read when the step runs. */
  signer?: CertificateSigner;
  /**
   * How long to wait after stopping writes before erasing: longer than the tenant-status cache of
   * every service (TenantStatusCache, 2 s), so no consumer still writes for the tenant. Default 3 s.
   */
  drainMs?: number;
}

/** Erasure cannot be undone, so its steps have no compensation and retry longer than the engine's default. */
const ERASURE_TRIES = 10;

type Ctx = SagaStepContext<OffboardTenantInput>;
type Step = SagaStep<OffboardTenantInput>;
const tenantOf = (ctx: Ctx): TenantId => parseTenantId(ctx.input.tenantId);

/**
 * Offboarding: stop the tenant's writes, then erase it from every store — its Weaviate tenant, its
 * queued jobs, its Redis keys, its rows on its shard (the audit log included) — record the
 * offboarding in the control plane (with what was erased, table by table, and the head of the
 * erased audit chain) and destroy its data key, so whatever copies remain (Kafka, backups) can no
 * longer be read. Erasure cannot be undone, so the steps have no compensation: they retry, and a
 * saga that still fails stays for ops to finish with the tenant kept in `offboarding` (no writes).
 */
export function offboardingSaga(deps: OffboardingDeps): SagaDefinition<OffboardTenantInput> {
  const { config, control, tenantDb, keyring, vectors } = deps;

  const stopWrites: Step = {
    id: OffboardingSteps.STOP_WRITES,
    description: "tenant status offboarding: its writes are refused from now on",
    async run(ctx) {
      const tenantId = tenantOf(ctx);
      await control.db
        .updateTable('tenants')
        .set({ status: 'offboarding', updated_at: sql`now()` })
        .where('id', '=', tenantId)
        .where('status', 'in', ['active', 'suspended'])
        .execute();
      deps.statuses?.invalidate(tenantId);
      // Every service sees the new status within its cache's lifetime; erase only after that.
      await new Promise((r) => setTimeout(r, deps.drainMs ?? 3_000));
      return null;
    },
    maxAttempts: ERASURE_TRIES,
  };

  const knowledgeNamespace: Step = {
    id: OffboardingSteps.KNOWLEDGE_NAMESPACE,
    description: "the tenant's Weaviate tenant and every object in it",
    run: async (ctx) => {
      await vectors.deleteTenant(tenantOf(ctx));
      return null;
    },
    maxAttempts: ERASURE_TRIES,
  };

  const queuedJobs: Step = {
    id: OffboardingSteps.QUEUED_JOBS,
    description: "the tenant's jobs in every queue, queued or kept after they finished or failed (this saga's own excepted)",
    async run(ctx) {
      const tenantId = tenantOf(ctx);
      let removed = 0;
      let finished = 0;
      for (const name of Object.values(QueueName)) {
        const queue = new Queue(name, queueOptions(config, name));
        try {
          for (const state of JOB_STATES) {
            // Page by page; what is removed leaves the list, so a page starts after what was kept.
            for (let kept = 0; ; ) {
              const jobs = (await queue.getJobs([state], kept, kept + JOB_PAGE - 1)).filter((j) => j !== undefined);
              if (jobs.length === 0) break;
              for (const job of jobs) {
                const data = job.data as { tenantId?: string; sagaId?: string } | undefined;
                if (data?.tenantId === tenantId && data.sagaId !== ctx.sagaId) {
                  await job.remove();
                  if (state === 'completed' || state === 'failed') finished++;
                  else removed++;
                } else kept++;
              }
            }
          }
        } finally {
          await queue.close();
        }
      }
      return { removed, finished };
    },
    maxAttempts: ERASURE_TRIES,
  };

  const redisKeys: Step = {
    id: OffboardingSteps.REDIS_KEYS,
    description: `the tenant's Redis keys (prefix ${tenantKeyPrefix('<tenant>')}, on every master of a cluster)`,
    async run(ctx) {
      const redis = createRedis(config, { lazyConnect: true });
      const tenantId = tenantOf(ctx);
      let deleted = 0;
      // The tenant's keys; on the single node also those named before issue 15 (no hash tag).
      const patterns = [`${tenantKeyPrefix(tenantId)}*`, ...(redis.isCluster ? [] : [`${legacyTenantKeyPrefix(tenantId)}*`, `hotdash:idem:${tenantId}:*`])];
      try {
        await redis.connect();
        for (const pattern of patterns)
          await scanKeys(redis, pattern, async (node, keys) => {
            // One UNLINK per key, pipelined on the node that holds them (a multi-key command must stay in one slot).
            const pipeline = node.pipeline();
            for (const key of keys) pipeline.unlink(key);
            for (const [err, n] of (await pipeline.exec()) ?? []) {
              if (err) throw err;
              deleted += Number(n);
            }
          });
      } finally {
        redis.disconnect();
      }
      return { deleted };
    },
    maxAttempts: ERASURE_TRIES,
  };

  /**
   * Erases the tenant's rows on its shard with the platform's erasure function (erase_tenant, a
   * security definer: every table with a tenant_id, the audit log included, which the application
   * role may not delete from). What was erased comes back from the function, table by table, with
   * the audit chain's head as it was before the erasure (the hash of the audit_heads row it deleted):
   * the number of audit entries is the audit log's count there and the head hash the function's, so
   * provisioning reads no table of audit's.
   */
  const shardRows: Step = {
    id: OffboardingSteps.SHARD_ROWS,
    description: "every row of the tenant on its shard, the audit log included (erase_tenant)",
    async run(ctx) {
      const tenantId = tenantOf(ctx);
      const erased = await tenantDb.withTenant(tenantId, (tx) =>
        sql<{ table_name: string; deleted: string; audit_head_hash: string | null }>`select table_name, deleted, audit_head_hash from erase_tenant(${tenantId}::uuid)`.execute(tx.db),
      );
      const counts = Object.fromEntries(erased.rows.map((r) => [r.table_name, Number(r.deleted)]));
      const auditHeadHash = erased.rows.find((r) => r.audit_head_hash !== null)?.audit_head_hash ?? null;
      return { auditEntries: counts.audit_log ?? 0, auditHeadHash, erased: counts };
    },
    maxAttempts: ERASURE_TRIES,
  };

  const recordAndShred: Step = {
    id: OffboardingSteps.RECORD_AND_SHRED,
    description: 'offboarding record in the control plane, data key destroyed, status offboarded, tenant.offboarded',
    async run(ctx) {
      const tenantId = tenantOf(ctx);
      // Crypto-shredding: what is left anywhere else (Kafka, backups) becomes unreadable.
      await keyring.destroyKey(tenantId);
      const rows = ctx.state[OffboardingSteps.SHARD_ROWS] as { auditEntries: number; auditHeadHash: string | null; erased: Record<string, number> };
      const erasedRows = Object.values(rows.erased).reduce((a, b) => a + b, 0);
      await control.withControl(async (tx) => {
        const recorded = await tx.db
          .insertInto('offboarding_records')
          .values({
            tenant_id: tenantId,
            saga_id: ctx.sagaId,
            requested_by: ctx.input.requestedBy,
            reason: ctx.input.reason,
            audit_entries: String(rows.auditEntries),
            audit_head_hash: rows.auditHeadHash ?? null,
            erased: JSON.stringify(rows.erased),
          })
          .onConflict((oc) => oc.column('tenant_id').doNothing())
          .executeTakeFirst();
        if (recorded.numInsertedOrUpdatedRows === 0n) return; // recorded before a crash
        await tx.db.updateTable('tenants').set({ status: 'offboarded', updated_at: sql`now()` }).where('id', '=', tenantId).execute();
        await publishInTx(tx, TenantEvents.OFFBOARDED, { tenantId, sagaId: ctx.sagaId, erasedRows }, { tenantId, producer: PROVISIONING_PRODUCER, correlationId: ctx.sagaId, causationId: ctx.sagaId });
      });
      deps.statuses?.invalidate(tenantId);
      return { erasedRows };
    },
    maxAttempts: ERASURE_TRIES,
  };

  const mailFiles: Step = {
    id: OffboardingSteps.MAIL_FILES,
    description: "the mail the local sender delivered for the tenant (its folder of .eml files)",
    run: async (ctx) => ({ files: await eraseTenantMailFiles(mailDir(), tenantOf(ctx)) }),
    maxAttempts: ERASURE_TRIES,
  };

  /**
   * What the control plane still holds of the tenant beyond its offboarding record: its name and
   * slug (the row stays, as the record's anchor, named by its id; the slug is free again), its
   * finished sagas (their inputs carry its name and first admin's address) and its events already
   * relayed from the control outbox. Placements, key records and ops actions hold no tenant data.
   */
  const controlPlane: Step = {
    id: OffboardingSteps.CONTROL_PLANE,
    description: "the tenant's name and slug, finished sagas and relayed events in the control plane",
    async run(ctx) {
      const tenantId = tenantOf(ctx);
      const out = await control.withControl(async (tx) => {
        await tx.db.updateTable('tenants').set({ name: 'Offboarded tenant', slug: `offboarded-${tenantId}`, updated_at: sql`now()` }).where('id', '=', tenantId).execute();
        const sagas = await eraseTenantSagas(tx.db, tenantId, ctx.sagaId);
        const events = await eraseSentEvents(tx, tenantId);
        const subjectKeys = await SubjectKeyring.eraseTenant(tx.db, tenantId);
        return { tenantRow: 'name and slug erased', sagas: sagas.erased, unfinishedSagas: sagas.unfinished, events, subjectKeys };
      });
      deps.statuses?.invalidate(tenantId);
      return out;
    },
    maxAttempts: ERASURE_TRIES,
  };

  /**
   * The certificate: what every step erased, where, signed with the platform's key
   * (HOTDASH_CERTIFICATE_SIGNING_KEY) and kept in the offboarding record; ops fetch it with
   * `hotdash-ops tenants certificate <id>` and anyone holding the public key checks it with
   * `hotdash-ops certificate verify`. Written once (a step run again after a crash signs nothing new).
   */
  const certificate: Step = {
    id: OffboardingSteps.CERTIFICATE,
    description: 'the signed certificate of what was erased where, kept in the offboarding record',
    async run(ctx) {
      const tenantId = tenantOf(ctx);
      const kept = await control.db.selectFrom('offboarding_records').select(['certificate', 'completed_at']).where('tenant_id', '=', tenantId).executeTakeFirstOrThrow();
      if (kept.certificate) return { signed: true };
      const at = (id: string) => (ctx.state[id] ?? {}) as Record<string, Json>;
      const n = (v: Json | undefined) => (typeof v === 'number' ? v : 0);
      const rows = at(OffboardingSteps.SHARD_ROWS) as { auditEntries?: number; auditHeadHash?: string | null; erased?: Record<string, number> };
      const jobs = at(OffboardingSteps.QUEUED_JOBS);
      const cp = at(OffboardingSteps.CONTROL_PLANE);
      const erasedRows = Object.values(rows.erased ?? {}).reduce((a, b) => a + b, 0);
      const tables = Object.entries(rows.erased ?? {}).filter(([, c]) => c > 0).map(([t]) => t).sort();
      const cert: TenantErasureCertificate = {
        type: TENANT_ERASURE_CERTIFICATE_TYPE,
        version: 1,
        tenantId,
        offboardingId: ctx.sagaId,
        requestedBy: ctx.input.requestedBy,
        reason: ctx.input.reason.slice(0, 1000),
        requestedAt: ctx.input.requestedAt ?? kept.completed_at.toISOString(),
        completedAt: new Date().toISOString(),
        auditChain: { entries: rows.auditEntries ?? 0, headHash: rows.auditHeadHash ?? null },
        stores: [
          { store: 'vector-store', method: 'deleted', items: 'the tenant\u2019s Weaviate tenant and every object in it', count: 1, detail: 'Deleted whole (its knowledge base chunks and vectors).' },
          { store: 'jobs', method: 'deleted', items: 'queued jobs, and jobs kept after they finished or failed', count: n(jobs.removed) + n(jobs.finished), detail: `${n(jobs.removed)} queued and ${n(jobs.finished)} finished or failed job(s), in every queue.` },
          { store: 'redis', method: 'deleted', items: 'keys under the tenant\u2019s prefix', count: n(at(OffboardingSteps.REDIS_KEYS).deleted), detail: 'Rate limits, quotas, idempotent replies, sign-in states, caches: on every node of a cluster.' },
          { store: 'postgresql', method: 'deleted', items: 'rows of every tenant table on its shard', count: erasedRows, detail: `erase_tenant(): ${tables.join(', ') || 'no rows'}; the audit log included.` },
          { store: 'data-key', method: 'shredded', items: 'the tenant\u2019s data key', count: 1, detail: 'Destroyed in the KMS-wrapped key table: every value sealed under it, wherever a copy is, can no longer be decrypted.' },
          { store: 'subject-keys', method: 'deleted', items: 'its data subjects\u2019 key records', count: n(cp.subjectKeys), detail: 'Wrapped by the destroyed data key, so unreadable already; the records and their subject references deleted.' },
          { store: 'kafka', method: 'shredded', items: 'the tenant\u2019s events still in topics', count: 0, detail: 'Their personal fields are sealed under the destroyed keys: unreadable until retention removes them.' },
          { store: 'backups', method: 'shredded', items: 'tenant backups taken before', count: 0, detail: 'Sealed under the destroyed keys: a restore yields no personal data.' },
          { store: 'mail', method: 'deleted', items: '.eml files the local sender delivered', count: n(at(OffboardingSteps.MAIL_FILES).files), detail: 'Unsent mail went with the shard rows; mail delivered over SMTP is in its recipients\u2019 mailboxes, beyond the platform.' },
          {
            store: 'control-plane',
            method: 'deleted',
            items: 'name and slug, finished sagas, relayed events',
            count: n(cp.sagas) + n(cp.events),
            detail: `${n(cp.sagas)} saga(s) and ${n(cp.events)} relayed event(s) deleted; the tenant row keeps only its id and status, as the anchor of this record${n(cp.unfinishedSagas) ? `; ${n(cp.unfinishedSagas)} unfinished saga(s) left to the engine` : ''}.`,
          },
        ],
      };
      const signed = (deps.signer ?? CertificateSigner.fromEnv()).sign(cert);
      await control.db.updateTable('offboarding_records').set({ certificate: JSON.stringify(signed) }).where('tenant_id', '=', tenantId).where('certificate', 'is', null).execute();
      return { signed: true };
    },
    maxAttempts: ERASURE_TRIES,
  };

  return {
    type: OFFBOARDING_SAGA,
    steps: [stopWrites, knowledgeNamespace, queuedJobs, redisKeys, shardRows, recordAndShred, mailFiles, controlPlane, certificate],
    hooks: {
      startedEvents(saga) {
        const input = saga.input as OffboardTenantInput;
        const tenantId = parseTenantId(input.tenantId);
        return [
          outboxRow(
            buildEnvelope(
              TenantEvents.OFFBOARDING_STARTED,
              { tenantId, sagaId: saga.id, reason: input.reason, by: input.requestedBy },
              { tenantId, producer: PROVISIONING_PRODUCER, correlationId: saga.id, causationId: saga.id },
            ),
          ),
        ];
      },
    },
  };
}
