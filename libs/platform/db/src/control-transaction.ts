import type { CompiledQuery, DatabaseConnection, Kysely, QueryResult as KyselyResult } from 'kysely';
import type { Pool, PoolClient } from 'pg';
import { BEGIN_STATEMENT, DriverTransaction, kyselyOn, noStreaming, runTransaction, toKysely } from './driver-transaction';
import type { ControlDB } from './generated/kysely/control';

/** A statement of a control-plane transaction that has ended (it timed out, or its callback returned) or whose connection broke. */
export class ControlTransactionClosedError extends Error {
  constructor(reason: string) {
    super(`the control-plane transaction is closed: ${reason}`);
    this.name = 'ControlTransactionClosedError';
  }
}

/** The control-plane transaction ran longer than its time limit: it was rolled back and its connection closed. */
export class ControlTransactionTimeoutError extends Error {
  constructor(readonly timeoutMs: number) {
    super(`the control-plane transaction ran longer than ${timeoutMs} ms and was rolled back`);
    this.name = 'ControlTransactionTimeoutError';
  }
}

export interface WithControlOptions {
  /** Milliseconds the transaction may run; default 10 s. */
  timeoutMs?: number;
}

/**
 * Named prepared statements on the pool's Kysely: each connection parses and plans a statement
 * once instead of per call (bench/control-call.bench.ts: ~10–15 µs less PostgreSQL time per saga
 * transition on the 2-core machine). A name per distinct text, for the first 500 texts a process
 * sees (the control plane's statements are a few dozen shapes; past the cap they run unnamed).
 * Statements select their columns by name, so a migration adding a column never changes a
 * prepared statement's result type.
 */
const names = new Map<string, string>();
const NAMES_CAP = 500;
function nameOf(text: string): string | undefined {
  let name = names.get(text);
  if (name === undefined && names.size < NAMES_CAP) names.set(text, (name = `hotdash_ctl_${names.size}`));
  return name;
}

/**
 * Kysely on a control-plane pool, for single statements (each is its own transaction): every
 * statement takes a pooled connection for itself and gives it back, as `pool.query` does; queries
 * run concurrently, as named prepared statements. Rows as the driver parses them (jsonb as
 * objects, timestamptz as Date, int8 as string), which the generated ControlDB types describe.
 */
export function controlKysely(pool: Pool): Kysely<ControlDB> {
  const connection: DatabaseConnection = {
    executeQuery: async <R>(query: CompiledQuery): Promise<KyselyResult<R>> =>
      toKysely<R>(await pool.query({ name: nameOf(query.sql), text: query.sql, values: query.parameters as unknown[] })),
    streamQuery: noStreaming,
  };
  return kyselyOn<ControlDB>({ provideConnection: (consumer) => consumer(connection) });
}

/**
 * The handle `withControl` gives its callback: one connection of the control plane's pool inside a
 * transaction. `db` is the typed query builder (Kysely, table types generated from
 * prisma/control/schema.prisma); where the builder cannot say something, a `sql` template of
 * Kysely runs on it (`sql<Row>\`…\`.execute(tx.db)`, every `${value}` a bind parameter).
 * `savepoint()` nests.
 */
export class ControlTransaction extends DriverTransaction<ControlDB> {
  protected closedError(reason: Error): Error {
    return reason instanceof ControlTransactionTimeoutError ? reason : new ControlTransactionClosedError(reason.message);
  }
}

/**
 * Runs `fn` in a transaction on one connection of a control-plane pool (Databases.withControl).
 * An error rolls back and rethrows; past the time limit the statement running is cut off (the
 * connection is destroyed, so the server rolls back) and the timeout is what the caller gets; a
 * connection that broke or timed out is destroyed rather than returned to the pool; statements
 * after the transaction ended are refused.
 */
export async function runControlTransaction<T>(pool: Pool, fn: (tx: ControlTransaction) => Promise<T>, options: WithControlOptions = {}): Promise<T> {
  const client: PoolClient = await pool.connect();
  return runTransaction(client, new ControlTransaction(client), { opening: [BEGIN_STATEMENT], timeoutMs: options.timeoutMs ?? 10_000, timeoutError: (ms) => new ControlTransactionTimeoutError(ms), endedBy: 'withControl' }, fn);
}
