import type { TenantId } from '@hotdash/contracts';
import { tryCurrentTenantContext } from '@hotdash/platform-tenancy';
import type { CompiledQuery, Kysely } from 'kysely';
import { BEGIN_STATEMENT, compilingKysely, pipelined, runTransaction, Statement, watchConnection } from './driver-transaction';
import type { TenantDB } from './generated/kysely/tenant';
import { TenantFencedError, tenantGate, TenantTransaction, TenantTransactionTimeoutError } from './tenant-transaction';

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
  /**
   * withTenant only: how long a tenant fenced on every shard it is routed to (a move between its
   * decision and the target's opening, or a mover that died there) is retried before the
   * TenantFencedError is thrown; default 30 s, above the saga engine's takeover of a dead mover.
   */
  fenceWaitMs?: number;
}

const FENCE_WAIT_MS = 30_000;

/** The `begin` of each isolation (fixed texts: the level is part of the statement, never a parameter), as named prepared statements. */
const BEGIN: Record<NonNullable<WithTenantOptions['isolation']>, Statement> = {
  'read-committed': BEGIN_STATEMENT,
  'repeatable-read': { text: 'begin isolation level repeatable read', name: 'hotdash_begin_rr' },
  snapshot: { text: 'begin isolation level repeatable read read only', name: 'hotdash_begin_snapshot' },
};

/** readOnce's transaction: read only (a write in it is refused by the server), committed in the same write. */
const BEGIN_READ_ONLY: Statement = { text: 'begin read only', name: 'hotdash_begin_ro' };
const COMMIT: Statement = { text: 'commit', name: 'hotdash_commit' };
/** Where readOnce's query is in its group: after begin and the gate's two statements. */
const READ_AT = 3;
const compiler = compilingKysely<TenantDB>();

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The only way services reach tenant data. Runs `fn` in a transaction on the tenant's shard, as the
 * application role, after the tenant's gate (`tenant_gate`: `set_config('app.tenant_id', tenantId,
 * true)`, the tenant's pause lock shared, its fence): every statement in it is filtered by the
 * tenant_isolation policies, and the setting ends with the transaction, so a pooled connection never
 * carries one tenant's context into another's work.
 *
 * A tenant being moved (docs/tenant-move.md): while the mover pauses it (exclusive lock) its
 * transactions wait in their opening; once a shard holds a fence for it, that shard refuses it in
 * the opening, before anything of `fn` ran, and withTenant routes it again (the router takes the
 * fence's destination, or re-reads the placement) and runs `fn` there: reads and writes wait out a
 * cut-over and then succeed.
 *
 * On the driver, not Prisma Client (DESIGN.md §3.2): a connection is checked out of the shard's
 * pool, and `fn` gets a {@link TenantTransaction} (Kysely as `tx.db`, `sql` templates, savepoints);
 * `begin` and the gate go out in the same write as `fn`'s first statement, ahead of it
 * (pipelined: one round trip for all of them, each a named prepared statement), so a one-statement
 * transaction costs two round trips with its commit. An error rolls back; a timeout or a broken connection destroys the connection
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
    let tx: TenantTransaction | undefined;
    // Only a refusal of this transaction's own opening is retried: nothing of `fn` ran on the
    // database (whatever `fn` made of the error), so running it on the tenant's shard is safe.
    return this.routed(
      tenantId,
      options.fenceWaitMs,
      (shard) => {
        tx = undefined; // this try's transaction only
        return this.run(shard, tenantId, (t) => fn(t, shard), options, (t) => (tx = t));
      },
      () => tx?.refusal,
    );
  }

  /**
   * Runs `once` on the tenant's shard; when the shard refused the tenant in the gate (`refusalOf`:
   * nothing ran), routes it again (the fence's destination, or the placement re-read) and runs it
   * there, until `fenceWaitMs` (default 30 s) passed.
   */
  private async routed<T>(tenantId: TenantId, fenceWaitMs: number | undefined, once: (shard: ShardInfo) => Promise<T>, refusalOf: (err: unknown) => TenantFencedError | undefined): Promise<T> {
    const deadline = Date.now() + (fenceWaitMs ?? FENCE_WAIT_MS);
    for (let attempt = 1; ; attempt++) {
      const shard = await this.router.shardOf(tenantId);
      try {
        return await once(shard);
      } catch (err) {
        const refusal = refusalOf(err);
        if (!refusal) throw err;
        if (Date.now() >= deadline) throw refusal;
        await this.router.fenced(tenantId, shard, refusal);
        // The first retry goes at once (to where the fence or the placement says); after that both
        // copies refuse the tenant (a cut-over between its decision and the target's opening): wait.
        if (attempt > 1) await sleep(Math.min(5 * attempt, 100));
      }
    }
  }

  /**
   * One read of the tenant's data in ONE round trip: the query built on `db` (a Kysely that only
   * compiles) goes out in the same write as the transaction's `begin read only`, the tenant's gate
   * and the `commit`, answered after one Sync. Same guarantees as withTenant (the tenant context
   * guard, the placement, `app.tenant_id` set by the gate before the query and gone with the
   * transaction, a fenced tenant routed again, the time limit; a write is refused by the server), at
   * the cost of one round trip instead of two: for the single-statement reads of the hot paths
   * (docs/benchmarks.md, tenant reads). More than one statement, or any write: withTenant.
   */
  async readOnce<R>(tenantId: TenantId, build: (db: Kysely<TenantDB>) => { compile(): CompiledQuery<R> }, options: Pick<WithTenantOptions, 'timeoutMs' | 'fenceWaitMs'> = {}): Promise<R[]> {
    const query = this.readQuery(tenantId, build);
    // Refused in the gate, before the query ran: routed again, as withTenant does.
    return this.routed(tenantId, options.fenceWaitMs, (shard) => this.readOn(shard, tenantId, query, options.timeoutMs), (err) => (err instanceof TenantFencedError ? err : undefined));
  }

  /** readOnce() against a given shard (a shard that holds a fence for the tenant refuses it: TenantFencedError, not retried). */
  readOnceOnShard<R>(shard: ShardInfo, tenantId: TenantId, build: (db: Kysely<TenantDB>) => { compile(): CompiledQuery<R> }, options: Pick<WithTenantOptions, 'timeoutMs'> = {}): Promise<R[]> {
    return this.readOn(shard, tenantId, this.readQuery(tenantId, build), options.timeoutMs);
  }

  private readQuery<R>(tenantId: TenantId, build: (db: Kysely<TenantDB>) => { compile(): CompiledQuery<R> }): CompiledQuery<R> {
    const ctx = tryCurrentTenantContext();
    if (ctx && ctx.tenantId !== tenantId) throw new TenantContextMismatchError(tenantId, ctx.tenantId);
    if (!UUID.test(tenantId)) throw new Error(`readOnce: ${JSON.stringify(String(tenantId).slice(0, 60))} is not a tenant id`);
    return build(compiler).compile();
  }

  /** One try of readOnce on a shard: the group in one write; a failure rolls back, a timeout or a broken connection destroys it. */
  private async readOn<R>(shard: ShardInfo, tenantId: TenantId, query: CompiledQuery<R>, timeoutMs = 10_000): Promise<R[]> {
    const id = tenantId.toLowerCase();
    const group = [BEGIN_READ_ONLY, ...tenantGate(id), { text: query.sql, values: query.parameters as unknown[] }, COMMIT];
    const client = await this.dbs.pool(shard, 'app').connect();
    const watch = watchConnection(client, timeoutMs, () => new TenantTransactionTimeoutError(timeoutMs));
    try {
      return (await pipelined(client, group, READ_AT)).rows as R[];
    } catch (err) {
      if (watch.timedOut) throw watch.timedOut;
      // The server skipped the rest of the group at the error: the transaction is open and aborted, or not open.
      await watch.rollback();
      throw TenantFencedError.from(err, id) ?? err;
    } finally {
      watch.release();
    }
  }

  /**
   * withTenant() against a given shard, for workflows that address a shard explicitly (backups,
   * restores, tenant moves). A shard that holds a fence for the tenant refuses it with a
   * TenantFencedError (not retried: the caller chose the shard).
   */
  withTenantOnShard<T>(shard: ShardInfo, tenantId: TenantId, fn: (tx: TenantTx) => Promise<T>, options: WithTenantOptions = {}): Promise<T> {
    return this.run(shard, tenantId, fn, options);
  }

  private async run<T>(shard: ShardInfo, tenantId: TenantId, fn: (tx: TenantTx) => Promise<T>, options: WithTenantOptions, opened?: (tx: TenantTransaction) => void): Promise<T> {
    // Only a tenant id opens a tenant's transaction (it is a bind parameter of the gate).
    if (!UUID.test(tenantId)) throw new Error(`withTenant: ${JSON.stringify(String(tenantId).slice(0, 60))} is not a tenant id`);
    const client = await this.dbs.pool(shard, 'app').connect();
    // The gate is the transaction's first statement after `begin`, sent in the same write as the
    // callback's first statement: everything the callback runs is under the tenant's RLS, and runs
    // only if the shard serves the tenant.
    const id = tenantId.toLowerCase();
    // The gate (tenantGate): sets `app.tenant_id`, takes the tenant's pause lock shared (a tenant move
    // pauses the tenant alone by taking it exclusively) and refuses a tenant the shard holds a fence
    // for (SQLSTATE HDM01, before anything of the transaction ran).
    const opening = [BEGIN[options.isolation ?? 'read-committed'], ...tenantGate(id)];
    const run = { opening, timeoutMs: options.timeoutMs ?? 10_000, timeoutError: (ms: number) => new TenantTransactionTimeoutError(ms), endedBy: 'withTenant' };
    const tx = new TenantTransaction(client, id);
    opened?.(tx);
    return runTransaction(client, tx, run, fn);
  }
}
