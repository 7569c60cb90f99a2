import type { Databases, DbLocation, DbRole } from './databases';
import { BEGIN_STATEMENT, runTransaction } from './driver-transaction';
import { TenantTransaction, TenantTransactionTimeoutError } from './tenant-transaction';

export interface ShardTransactionOptions {
  /** Milliseconds the transaction may run; default 10 s. */
  timeoutMs?: number;
  /**
   * The role (default relay). As the application role, without a tenant, every tenant table shows
   * no rows: only functions granted to it that work across tenants by design (the knowledge
   * service's stored-documents sweep) see anything.
   */
  role?: Extract<DbRole, 'app' | 'relay'>;
}

/**
 * A transaction on one shard as the relay role, without a tenant: for the infrastructure that works
 * across every tenant of a shard by design (the mail dispatcher; the relay role's own policies let
 * it see the tenants' mail and outbox rows, nothing else). Services reach tenant data through
 * withTenant() only. `fn` gets the same handle withTenant gives (Kysely as `tx.db`, typed by
 * TenantDB) with the same guarantees: an error rolls back; a time limit or a broken connection
 * destroys the connection instead of returning it to the pool; statements after the end are refused.
 */
export async function withShardTransaction<T>(dbs: Databases, shard: DbLocation, fn: (tx: TenantTransaction) => Promise<T>, options: ShardTransactionOptions = {}): Promise<T> {
  const client = await dbs.pool(shard, options.role ?? 'relay').connect();
  const run = { opening: [BEGIN_STATEMENT], timeoutMs: options.timeoutMs ?? 10_000, timeoutError: (ms: number) => new TenantTransactionTimeoutError(ms), endedBy: 'withShardTransaction' };
  return runTransaction(client, new TenantTransaction(client), run, fn);
}
