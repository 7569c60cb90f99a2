import { Queue } from 'bullmq';
import { sql } from 'kysely';
import { parseTenantId, TenantEvents, TenantId } from '@hotdash/contracts';
import type { PlatformConfig } from '@hotdash/platform-config';
import { TenantKeyring } from '@hotdash/platform-crypto';
import { ControlDatabase, TenantDatabase, TenantStatusCache } from '@hotdash/platform-db';
import { createRedis, Json, legacyTenantKeyPrefix, QueueName, queueOptions, SagaDefinition, SagaStep, SagaStepContext, scanKeys, tenantKeyPrefix } from '@hotdash/platform-jobs';
import { buildEnvelope, outboxRow, publishInTx } from '@hotdash/platform-messaging';
import { VectorStore } from '@hotdash/platform-vector';
import { PROVISIONING_PRODUCER } from './provisioning.saga';

export const OFFBOARDING_SAGA = 'tenant-offboarding';

export interface OffboardTenantInput {
  [key: string]: Json;
  tenantId: string;
  reason: string;
  requestedBy: string;
}

export const OffboardingSteps = {
  STOP_WRITES: 'stop-writes',
  KNOWLEDGE_NAMESPACE: 'delete-knowledge-namespace',
  QUEUED_JOBS: 'delete-queued-jobs',
  REDIS_KEYS: 'delete-redis-keys',
  SHARD_ROWS: 'erase-shard-rows',
  RECORD_AND_SHRED: 'record-and-shred',
} as const;

export interface OffboardingDeps {
  config: PlatformConfig;
  control: ControlDatabase;
  tenantDb: TenantDatabase;
  keyring: TenantKeyring;
  vectors: VectorStore;
  statuses?: TenantStatusCache;
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
    description: "the tenant's waiting and delayed jobs in every queue (this saga's own excepted)",
    async run(ctx) {
      const tenantId = tenantOf(ctx);
      let removed = 0;
      for (const name of Object.values(QueueName)) {
        const queue = new Queue(name, queueOptions(config, name));
        try {
          const jobs = await queue.getJobs(['waiting', 'delayed', 'paused', 'prioritized']);
          for (const job of jobs) {
            const data = job?.data as { tenantId?: string; sagaId?: string } | undefined;
            if (data?.tenantId === tenantId && data.sagaId !== ctx.sagaId) {
              await job.remove();
              removed++;
            }
          }
        } finally {
          await queue.close();
        }
      }
      return { removed };
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

  return {
    type: OFFBOARDING_SAGA,
    steps: [stopWrites, knowledgeNamespace, queuedJobs, redisKeys, shardRows, recordAndShred],
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
