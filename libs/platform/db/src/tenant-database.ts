import type { TenantId } from '@hotdash/contracts';
import { tryCurrentTenantContext } from '@hotdash/platform-tenancy';
import type { TenantTx } from './clients';
import { Databases, ShardInfo } from './databases';
import { ShardRouter } from './shard-router';

export class TenantContextMismatchError extends Error {
  constructor(requested: string, current: string) {
    super(`withTenant(${requested}) called inside the context of tenant ${current}`);
    this.name = 'TenantContextMismatchError';
  }
}

export interface WithTenantOptions {
  /** Milliseconds the transaction may run; default 10 s. */
  timeoutMs?: number;
}

/**
 * The only way services reach tenant data. Runs `fn` in a transaction on the tenant's shard, as the
 * application role, after `set_config('app.tenant_id', tenantId, true)`: every statement in it is
 * filtered by the tenant_isolation policies, and the setting ends with the transaction, so a pooled
 * connection never carries one tenant's context into another's work.
 */
export class TenantDatabase {
  constructor(
    private readonly dbs: Databases,
    readonly router: ShardRouter,
  ) {}

  async withTenant<T>(tenantId: TenantId, fn: (tx: TenantTx, shard: ShardInfo) => Promise<T>, options: WithTenantOptions = {}): Promise<T> {
    const ctx = tryCurrentTenantContext();
    if (ctx && ctx.tenantId !== tenantId) throw new TenantContextMismatchError(tenantId, ctx.tenantId);
    const shard = await this.router.shardOf(tenantId);
    return this.withTenantOnShard(shard, tenantId, (tx) => fn(tx, shard), options);
  }

  /** withTenant() against a given shard, for workflows that address a shard explicitly (tenant moves). */
  async withTenantOnShard<T>(shard: ShardInfo, tenantId: TenantId, fn: (tx: TenantTx) => Promise<T>, options: WithTenantOptions = {}): Promise<T> {
    const prisma = this.dbs.shard(shard, 'app');
    return prisma.$transaction(
      async (tx) => {
        // Must be the first statement of the transaction: everything after it runs under the tenant's RLS.
        await tx.$executeRaw`select set_config('app.tenant_id', ${tenantId}, true)`;
        return fn(tx);
      },
      { timeout: options.timeoutMs ?? 10_000, maxWait: 10_000 },
    );
  }
}
