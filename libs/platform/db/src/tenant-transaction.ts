import { DriverTransaction } from './driver-transaction';
import type { TenantDB } from './generated/kysely/tenant';

/** A statement of a transaction that has ended (it timed out, or its callback returned) or whose connection broke. */
export class TenantTransactionClosedError extends Error {
  constructor(reason: string) {
    super(`the tenant transaction is closed: ${reason}`);
    this.name = 'TenantTransactionClosedError';
  }
}

/** The transaction ran longer than its time limit: it was rolled back and its connection closed. */
export class TenantTransactionTimeoutError extends Error {
  constructor(readonly timeoutMs: number) {
    super(`the tenant transaction ran longer than ${timeoutMs} ms and was rolled back`);
    this.name = 'TenantTransactionTimeoutError';
  }
}

/**
 * The handle `withTenant` gives its callback: one connection of the tenant's shard, inside a
 * transaction whose first statement set `app.tenant_id`, so every statement here runs under the
 * tenant's row-level security. `db` is the typed query builder (Kysely, table types generated from
 * prisma/tenant/schema.prisma); where the builder cannot say something, a Kysely `sql` template
 * runs on it (`sql<Row>\`…\`.execute(tx.db)`). `savepoint()` nests a transaction.
 */
export class TenantTransaction extends DriverTransaction<TenantDB> {
  protected closedError(reason: Error): Error {
    return reason instanceof TenantTransactionTimeoutError ? reason : new TenantTransactionClosedError(reason.message);
  }
}
