import type { PoolClient } from 'pg';
import { DriverTransaction } from './driver-transaction';
import type { TenantDB } from './generated/kysely/tenant';

/** SQLSTATE of tenant_gate's refusal (prisma/tenant/migrations/20261214100000_tenant_moves). */
export const TENANT_FENCED_SQLSTATE = 'HDM01';

/**
 * The tenant's shard refused the transaction in its opening (tenant_gate), before any statement of
 * it ran (docs/tenant-move.md):
 * - `moved`: the shard holds a fence for the tenant since a move's decision; `movedTo` names the
 *   shard it went to and the placement version that says so;
 * - `moving-in`: a move is copying the tenant onto this shard, which does not serve it yet;
 * - `paused`: a repeatable-read transaction waited out a move's pause, and its snapshot (taken
 *   before the wait) could not show what the move decided meanwhile.
 * withTenant routes the tenant again and runs the transaction again; withTenantOnShard, whose caller
 * chose the shard, passes it on.
 */
export class TenantFencedError extends Error {
  readonly code = 'tenant-fenced';

  constructor(
    readonly tenantId: string,
    readonly reason: 'moved' | 'moving-in' | 'paused',
    readonly movedTo?: { shardId: string; placementVersion: number },
  ) {
    super(
      reason === 'moved'
        ? `tenant ${tenantId} moved to shard ${movedTo?.shardId} (placement version ${movedTo?.placementVersion}); this shard no longer serves it`
        : reason === 'moving-in'
          ? `tenant ${tenantId} is moving onto this shard, which does not serve it yet`
          : `tenant ${tenantId} was paused by a move while this transaction began; run it again`,
    );
    this.name = 'TenantFencedError';
  }

  /** The gate's error (SQLSTATE HDM01, DETAIL `<shard id>:<version>`, `moving-in` or `paused`) as a TenantFencedError; undefined for any other error. */
  static from(err: unknown, tenantId: string): TenantFencedError | undefined {
    const e = err as { code?: string; detail?: string };
    if (e?.code !== TENANT_FENCED_SQLSTATE) return undefined;
    const to = /^([0-9a-f-]{36}):(\d+)$/i.exec(e.detail ?? '');
    if (to) return new TenantFencedError(tenantId, 'moved', { shardId: to[1]!.toLowerCase(), placementVersion: Number(to[2]) });
    return new TenantFencedError(tenantId, e.detail === 'paused' ? 'paused' : 'moving-in');
  }
}

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
  private fence: TenantFencedError | undefined;

  constructor(
    client: PoolClient,
    private readonly tenantId = '',
  ) {
    super(client);
  }

  /** @internal the gate's refusal, when the shard refused this transaction in its opening (nothing of it ran). */
  get refusal(): TenantFencedError | undefined {
    return this.fence;
  }

  protected closedError(reason: Error): Error {
    if (reason instanceof TenantTransactionTimeoutError || reason instanceof TenantFencedError) return reason;
    return new TenantTransactionClosedError(reason.message);
  }

  protected override openingRefused(err: Error): Error | undefined {
    this.fence = TenantFencedError.from(err, this.tenantId);
    return this.fence;
  }
}
