import type { TenantId } from '@hotdash/contracts';
import { tryCurrentTenantContext } from '@hotdash/platform-tenancy';
import { BEGIN_STATEMENT, runTransaction, Statement } from './driver-transaction';
import { TenantTransaction, TenantTransactionTimeoutError } from './tenant-transaction';

export type TenantTx = TenantTransaction;
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
  /**
   * How the transaction begins (default read committed, read-write). `snapshot`: repeatable read,
   * read only: every statement sees the tenant's rows as of the first one (a consistent copy of
   * all its tables, e.g. a backup); `repeatable-read`: the same, with writes.
   */
  isolation?: 'read-committed' | 'repeatable-read' | 'snapshot';
}

/** The `begin` of each isolation (fixed texts: the level is part of the statement, never a parameter), as named prepared statements. */
const BEGIN: Record<NonNullable<WithTenantOptions['isolation']>, Statement> = {
  'read-committed': BEGIN_STATEMENT,
  'repeatable-read': { text: 'begin isolation level repeatable read', name: 'hotdash_begin_rr' },
  snapshot: { text: 'begin isolation level repeatable read read only', name: 'hotdash_begin_snapshot' },
};
const SET_TENANT = "select set_config('app.tenant_id', $1, true)";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The only way services reach tenant data. Runs `fn` in a transaction on the tenant's shard, as the
 * application role, after `set_config('app.tenant_id', tenantId, true)`: every statement in it is
 * filtered by the tenant_isolation policies, and the setting ends with the transaction, so a pooled
 * connection never carries one tenant's context into another's work.
 *
 * On the driver, not Prisma Client (DESIGN.md §3.2): a connection is checked out of the shard's
 * pool, and `fn` gets a {@link TenantTransaction} (Kysely as `tx.db`, `sql` templates, savepoints);
 * `begin` and the setting go out in the same write as `fn`'s first statement, ahead of it
 * (pipelined: one round trip for all three), so a one-statement transaction costs two round trips
 * with its commit. An error rolls back; a timeout or a broken connection destroys the connection
 * instead of returning it to the pool.
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
    // Only a tenant id opens a tenant's transaction (it is a bind parameter of the setting).
    if (!UUID.test(tenantId)) throw new Error(`withTenant: ${JSON.stringify(String(tenantId).slice(0, 60))} is not a tenant id`);
    const client = await this.dbs.pool(shard, 'app').connect();
    // The setting is the transaction's first statement after `begin`, sent in the same write as the
    // callback's first statement: everything the callback runs is under the tenant's RLS.
    const opening = [BEGIN[options.isolation ?? 'read-committed'], { text: SET_TENANT, name: 'hotdash_set_tenant', values: [tenantId.toLowerCase()] }];
    const run = { opening, timeoutMs: options.timeoutMs ?? 10_000, timeoutError: (ms: number) => new TenantTransactionTimeoutError(ms), endedBy: 'withTenant' };
    return runTransaction(client, new TenantTransaction(client), run, fn);
  }
}
