import type { PoolClient } from 'pg';
import { DriverTransaction, type Statement } from './driver-transaction';
import type { TenantDB } from './generated/kysely/tenant';

/** SQLSTATE of tenant_gate's refusal (prisma/tenant/migrations/20261214100000_tenant_moves). */
export const TENANT_FENCED_SQLSTATE = 'HDM01';

/**
 * The tenant's gate as a tenant transaction opens (after `begin`; docs/tenant-move.md §5): two
 * plain SQL statements, named prepared statements sent in the same write as the callback's first
 * statement. On the fast path (the tenant not paused, no fence) no plpgsql runs; the plpgsql
 * `tenant_gate()` (tenant migrations 20261214100000, 20261214110000) runs only on the rare paths.
 *
 * 1. `open`: the tenant setting, and the tenant's pause lock tried shared without waiting; only if
 *    a mover holds it (a pause), `tenant_gate()` is called, which waits for it and then, in READ
 *    COMMITTED, reads the fence in a snapshot taken after the wait (refusing the tenant if a decision
 *    was taken meanwhile), or, in REPEATABLE READ, refuses the transaction (`paused`).
 * 2. `fence`: the tenant's fence read in this statement's own snapshot, under the tenant's RLS;
 *    for a fence row (rare) `tenant_gate()` is called, which raises HDM01 with the same DETAIL and
 *    HINT as ever (or, in READ COMMITTED, lets the transaction go on when its newer snapshot shows
 *    the fence lifted: a move's target opening). Either raise happens on the server, so the callback's
 *    first statement, behind it in the same group, never runs on a shard that refused the tenant.
 *
 * Measured (bench/tenant-gate.bench.ts): ~11–14 µs of PostgreSQL CPU less per transaction than
 * `select tenant_gate($1)` (the gate's cost over a bare `set_config` went from ~30–36 to ~18–24 µs),
 * Node CPU unchanged. Why two statements and not one (`select set_config(…),
 * pg_try_advisory_xact_lock_shared(…), (select … from tenant_fences …)`, which measured within
 * 1–3 µs of this): a statement's
 * snapshot is taken before it runs, so a one-statement gate reads the fence in a snapshot taken
 * BEFORE it tried the lock. A mover writes the fence under the lock taken exclusively and commits
 * (the commit visible to new snapshots, then the lock released): a snapshot taken while the mover
 * held the lock, followed by a try that finds the lock free because the mover committed in between,
 * misses the fence, and the transaction runs on the shard the tenant left (shown with a delay
 * between the two: `BENCH_RACE=1` of the bench). With the fence read in the NEXT statement, whose
 * snapshot (READ COMMITTED: a new one per statement) is taken after the lock is held, a mover either
 * committed before the lock was granted (its fence is visible) or cannot take its lock before this
 * transaction ends. REPEATABLE READ keeps the snapshot of `open` (before the lock), exactly as the
 * plpgsql gate always did: a wait is refused (`paused`); a mover committing in the microseconds
 * between that snapshot and an uncontended try is not detected, as before (such a transaction sees
 * the tenant as of its snapshot, before the decision; a write in it would land on the source).
 */
export function tenantGate(tenantId: string): Statement[] {
  return [
    {
      text:
        `select pg_catalog.set_config('app.tenant_id', $1::uuid::text, true), ` +
        `case when pg_catalog.pg_try_advisory_xact_lock_shared(72011260, pg_catalog.hashtext($1::uuid::text)) then null else tenant_gate($1::uuid) end as fallback`,
      name: 'hotdash_tenant_open',
      values: [tenantId],
    },
    { text: 'select tenant_gate(f.tenant_id) from tenant_fences f where f.tenant_id = $1::uuid', name: 'hotdash_tenant_fence', values: [tenantId] },
  ];
}

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
