import { Queue } from 'bullmq';
import Redis from 'ioredis';
import { parseTenantId, TenantEvents, TenantId } from '@hotdash/contracts';
import type { PlatformConfig } from '@hotdash/platform-config';
import { TenantKeyring } from '@hotdash/platform-crypto';
import { ControlDatabase, TenantDatabase, TenantStatusCache } from '@hotdash/platform-db';
import { Json, QueueName, redisConnection, SagaDefinition, SagaStep, SagaStepContext, tenantKeyPrefix } from '@hotdash/platform-jobs';
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
 * offboarding in the control plane (with the head of the erased audit chain) and destroy its data
 * key, so whatever copies remain (Kafka, backups) can no longer be read. Erasure cannot be undone,
 * so the steps have no compensation: they retry, and a saga that still fails stays for ops to
 * finish with the tenant kept in `offboarding` (no writes).
 */
export function offboardingSaga(deps: OffboardingDeps): SagaDefinition<OffboardTenantInput> {
  const { config, control, tenantDb, keyring, vectors } = deps;

  const stopWrites: Step = {
    id: OffboardingSteps.STOP_WRITES,
    description: "tenant status offboarding: its writes are refused from now on",
    async run(ctx) {
      const tenantId = tenantOf(ctx);
      await control.client.$executeRaw`update tenants set status = 'offboarding', updated_at = now() where id = ${tenantId}::uuid and status in ('active', 'suspended')`;
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
        const queue = new Queue(name, { connection: redisConnection(config) });
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
    description: `the tenant's Redis keys (prefix ${tenantKeyPrefix('<tenant>')})`,
    async run(ctx) {
      const redis = new Redis({ host: config.redis.host, port: config.redis.port, lazyConnect: true });
      let deleted = 0;
      try {
        await redis.connect();
        let cursor = '0';
        do {
          const [next, keys] = await redis.scan(cursor, 'MATCH', `${tenantKeyPrefix(tenantOf(ctx))}*`, 'COUNT', 500);
          cursor = next;
          if (keys.length) deleted += await redis.del(...keys);
        } while (cursor !== '0');
      } finally {
        redis.disconnect();
      }
      return { deleted };
    },
    maxAttempts: ERASURE_TRIES,
  };

  const shardRows: Step = {
    id: OffboardingSteps.SHARD_ROWS,
    description: "every row of the tenant on its shard, the audit log included (erase_tenant)",
    async run(ctx) {
      const tenantId = tenantOf(ctx);
      return tenantDb.withTenant(tenantId, async (tx) => {
        const head = await tx.$queryRaw<{ n: bigint; hash: string | null }[]>`
          select count(*) as n, (select hash from audit_log order by seq desc limit 1) as hash from audit_log`;
        const erased = await tx.$queryRaw<{ table_name: string; deleted: bigint }[]>`select * from erase_tenant(${tenantId}::uuid)`;
        return {
          auditEntries: Number(head[0]!.n),
          auditHeadHash: head[0]!.hash,
          erased: Object.fromEntries(erased.map((r) => [r.table_name, Number(r.deleted)])),
        };
      });
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
      await control.transaction(async (tx) => {
        const n = await tx.$executeRaw`insert into offboarding_records (tenant_id, saga_id, requested_by, reason, audit_entries, audit_head_hash, erased)
          values (${tenantId}::uuid, ${ctx.sagaId}::uuid, ${ctx.input.requestedBy}, ${ctx.input.reason}, ${rows.auditEntries}, ${rows.auditHeadHash}, ${JSON.stringify(rows.erased)}::jsonb)
          on conflict (tenant_id) do nothing`;
        if (n === 0) return; // recorded before a crash
        await tx.$executeRaw`update tenants set status = 'offboarded', updated_at = now() where id = ${tenantId}::uuid`;
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
