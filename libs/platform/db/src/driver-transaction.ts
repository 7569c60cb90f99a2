import {
  type CompiledQuery,
  type ConnectionProvider,
  type DatabaseConnection,
  DefaultQueryExecutor,
  type Driver,
  Kysely,
  PostgresDialect,
  type QueryResult as KyselyResult,
  SingleConnectionProvider,
} from 'kysely';
import type { PoolClient, QueryResult } from 'pg';

/** A statement with its bind parameters. */
export interface Statement {
  text: string;
  values?: unknown[];
  /**
   * For the statements every transaction sends (its opening): a named prepared statement, parsed
   * once per connection and only bound and executed after that (the server skips parsing and
   * planning it again).
   */
  name?: string;
}

/** `begin` as a named prepared statement: every transaction the platform opens starts with it. */
export const BEGIN_STATEMENT: Statement = { text: 'begin', name: 'hotdash_begin' };

// pg's own query class and value mapping: the pipelined query below is one of pg's queries that sends
// several statements (pg exports no types for them).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const PgQuery = require('pg/lib/query') as new (config: { text: string; values?: unknown[] }, values: undefined, callback: (err: Error | null, res: QueryResult | QueryResult[]) => void) => object;
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { prepareValue } = require('pg/lib/utils') as { prepareValue: (v: unknown) => unknown };

interface WireConnection {
  stream: { writable: boolean; write: (b: Buffer) => boolean };
  _send(buffer: Buffer): boolean;
  /** pg's record of the named statements parsed on this connection (name → text). */
  parsedStatements: Record<string, string>;
  close(m: { type: 'S'; name: string }): void;
  parse(m: { text: string; name: string }): void;
  bind(m: { portal: string; statement: string; values: unknown[]; binary: boolean; valueMapper: (v: unknown) => unknown }): void;
  describe(m: { type: 'P'; name: string }): void;
  execute(m: { portal: string; rows: number }): void;
  sync(): void;
}

/**
 * Statements sent in ONE write and answered after one Sync (the extended protocol's pipelining):
 * Parse/Bind/Describe/Execute for each, then Sync. The server runs them in order and stops at the
 * first error (skipping the rest up to the Sync). pg sends a query only after the previous one's
 * ReadyForQuery, so without this a transaction's `begin` and tenant setting would cost a round
 * trip of their own before its first statement: on this machine a round trip's socket writes are
 * most of a short transaction's CPU (docs/benchmarks.md, tenant reads). Resolves with the result of
 * the statement at `pick` (default the last).
 */
export function pipelined(client: PoolClient, statements: Statement[], pick = statements.length - 1): Promise<QueryResult> {
  return new Promise((resolve, reject) => {
    // Named statements parsed by this group: if the group fails they may not exist, so they are
    // parsed again next time (after a Close, which the server accepts for a statement it does not have).
    let fresh: { connection: WireConnection; names: string[] } | undefined;
    const query = new PgQuery({ text: statements[statements.length - 1]!.text }, undefined, (err, res) => {
      if (err) {
        for (const name of fresh?.names ?? []) delete fresh!.connection.parsedStatements[name];
        reject(err);
      } else resolve(Array.isArray(res) ? res[pick]! : res);
    }) as { submit: (c: WireConnection) => null };
    query.submit = (connection: WireConnection) => {
      // pg's message methods each write their own buffer; collected here, the group goes out as one
      // buffer in one write (corking them still cost a writev of a dozen small buffers).
      const parts: Buffer[] = [];
      connection._send = (buffer: Buffer) => parts.push(buffer) > 0;
      try {
        for (const s of statements) {
          const name = s.name ?? '';
          if (!name) connection.parse({ text: s.text, name: '' });
          else if (connection.parsedStatements[name] !== s.text) {
            connection.close({ type: 'S', name });
            connection.parse({ text: s.text, name });
            connection.parsedStatements[name] = s.text;
            (fresh ??= { connection, names: [] }).names.push(name);
          }
          connection.bind({ portal: '', statement: name, values: s.values ?? [], binary: false, valueMapper: prepareValue });
          connection.describe({ type: 'P', name: '' });
          connection.execute({ portal: '', rows: 0 });
        }
        connection.sync();
      } finally {
        delete (connection as Partial<WireConnection>)._send; // back to the prototype's
      }
      if (connection.stream.writable) connection.stream.write(Buffer.concat(parts));
      return null;
    };
    void client.query(query as never);
  });
}

/**
 * Kysely's PostgreSQL parts, made once per process and shared by every Kysely of the platform (each
 * transaction's, and the control plane's pool-level one): a Kysely costs no dialect, compiler or
 * driver, only an executor over its connection. The dialect's own pool is never used: connections
 * come from withTenant, withControl and withShardTransaction.
 */
const dialect = new PostgresDialect({
  pool: {
    connect: () => Promise.reject(new Error('Kysely gets its connections from withTenant, withControl or withShardTransaction')),
    end: async () => undefined,
  },
});
const compiler = dialect.createQueryCompiler();
const adapter = dialect.createAdapter();

/**
 * Transactions are opened by the platform (time limit, a broken connection destroyed, statements
 * after the end refused), never by Kysely's `transaction()`: on a pool's Kysely that would send
 * `begin` on one pooled connection and the next statement on another. Nest with `tx.savepoint()`.
 */
const refuse = (what: string) => () => Promise.reject(new Error(`${what}: open transactions with withTenant or withControl (nest with tx.savepoint)`));
const driver: Driver = {
  init: async () => undefined,
  acquireConnection: refuse('no connection of its own'),
  beginTransaction: refuse('Kysely transaction() is not offered'),
  commitTransaction: refuse('Kysely transaction() is not offered'),
  rollbackTransaction: refuse('Kysely transaction() is not offered'),
  releaseConnection: async () => undefined,
  destroy: async () => undefined,
};

const CHANGES = new Set(['INSERT', 'UPDATE', 'DELETE', 'MERGE']);

/** A driver result as Kysely reads it: rows as the driver parsed them, and the count of changed rows for writes. */
export function toKysely<R>(result: QueryResult): KyselyResult<R> {
  return { rows: (result.rows ?? []) as R[], numAffectedRows: CHANGES.has(result.command) ? BigInt(result.rowCount ?? 0) : undefined };
}

export const noStreaming = (): never => {
  throw new Error('streaming is not offered; page with limit and a cursor column');
};

/** A Kysely that only compiles (its queries are sent by the caller, e.g. TenantDatabase.readOnce); running one directly is refused. */
export function compilingKysely<DB>(): Kysely<DB> {
  return kyselyOn<DB>({ provideConnection: () => Promise.reject(new Error('this Kysely only compiles queries')) });
}

/** A Kysely over the given connections, on the shared dialect parts. */
export function kyselyOn<DB>(connections: ConnectionProvider): Kysely<DB> {
  return new Kysely<DB>({ config: { dialect }, dialect, driver, executor: new DefaultQueryExecutor(compiler, adapter, connections) });
}

/**
 * One connection inside a transaction the platform opened (withTenant, withControl,
 * withShardTransaction): `db` is Kysely on it, typed by the database's generated tables; where the
 * builder cannot say something, a Kysely `sql` template runs on it (`sql<Row>\`…\`.execute(tx.db)`,
 * every `${value}` a bind parameter). `savepoint()` nests. Once the transaction has ended (its
 * callback returned, it timed out, its connection broke) every statement is refused.
 */
export abstract class DriverTransaction<DB> {
  private kysely: Kysely<DB> | undefined;
  private closed: Error | undefined;
  private savepoints = 0;
  /** The statements that open the transaction, sent with its first statement; undefined once sent. */
  private opening: Statement[] | undefined;
  private begun = false;

  constructor(private readonly client: PoolClient) {}

  /** @internal runTransaction: what opens the transaction goes out in the same write as its first statement. */
  openWith(opening: Statement[]): void {
    this.opening = opening;
  }

  /** @internal whether the transaction was opened (a callback that sent nothing has nothing to commit). */
  get opened(): boolean {
    return this.begun;
  }

  /** The error a statement gets once the transaction is closed for `reason`. */
  protected abstract closedError(reason: Error): Error;

  /**
   * What a failure of the group that opened the transaction means, when the opening itself refused
   * it (a tenant's gate: the tenant is fenced): the error the transaction closes with, or undefined
   * when the failure is just the first statement's.
   */
  protected openingRefused(_err: Error): Error | undefined {
    return undefined;
  }

  /** Kysely on this transaction's connection (made on first use). */
  get db(): Kysely<DB> {
    if (!this.kysely) {
      const connection: DatabaseConnection = {
        executeQuery: async <R>(query: CompiledQuery): Promise<KyselyResult<R>> => toKysely<R>(await this.send(query.sql, query.parameters as unknown[])),
        streamQuery: noStreaming,
      };
      // The transaction's own connection: Kysely never begins, commits or releases it.
      this.kysely = kyselyOn<DB>(new SingleConnectionProvider(connection));
    }
    return this.kysely;
  }

  /** Runs `fn` in a savepoint: what it did is undone if it throws (and the error rethrown); the transaction goes on either way. */
  async savepoint<T>(fn: (tx: this) => Promise<T>): Promise<T> {
    const name = `hotdash_sp_${++this.savepoints}`;
    await this.run(`savepoint ${name}`);
    try {
      const result = await fn(this);
      await this.run(`release savepoint ${name}`);
      return result;
    } catch (err) {
      if (!this.closed) await this.run(`rollback to savepoint ${name}`);
      throw err;
    }
  }

  /** @internal runTransaction: no statement runs after this. */
  close(reason: Error): void {
    this.closed ??= reason;
  }

  /** @internal why the transaction closed early, if it did. */
  get closedBy(): Error | undefined {
    return this.closed;
  }

  private assertOpen(): void {
    if (this.closed) throw this.closedError(this.closed);
  }

  private async run(statement: string): Promise<void> {
    await this.send(statement, []);
  }

  /** One statement of the transaction; the first goes out together with what opens the transaction. */
  private send(text: string, values: unknown[]): Promise<QueryResult> {
    this.assertOpen();
    const opening = this.opening;
    if (!opening) return this.client.query(text, values);
    this.opening = undefined;
    this.begun = true;
    return pipelined(this.client, [...opening, { text, values }]).catch((err: Error) => {
      const refused = this.openingRefused(err);
      if (!refused) throw err;
      // Closed with the refusal: whatever the callback makes of the error, the transaction ends with it.
      this.close(refused);
      throw refused;
    });
  }
}

export interface TransactionRun {
  /**
   * What opens the transaction (`begin`, then for a tenant its gate, `tenantGate()`: the tenant
   * setting, its pause lock, its fence): sent in the same write as the transaction's first
   * statement, ahead of it, so nothing of the callback ever runs before them; a callback that sends
   * nothing opens nothing.
   */
  opening: Statement[];
  timeoutMs: number;
  /** The error of a transaction that ran past its time limit. */
  timeoutError: (timeoutMs: number) => Error;
  /** Who ended the transaction, for the error of a statement sent after it. */
  endedBy: string;
}

/**
 * Runs `fn` in a transaction on `client` (checked out of a pool by the caller, released here). An
 * error rolls back and rethrows; past the time limit the statement running is cut off (the
 * connection is destroyed, so the server rolls back) and the timeout is what the caller gets; a
 * connection that broke or timed out is destroyed rather than returned to the pool, never handed to
 * the next piece of work.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- any database: only close() and closedBy are used here
export async function runTransaction<T, X extends DriverTransaction<any>>(client: PoolClient, tx: X, run: TransactionRun, fn: (tx: X) => Promise<T>): Promise<T> {
  const watch = watchConnection(client, run.timeoutMs, () => run.timeoutError(run.timeoutMs), (timedOut) => tx.close(timedOut));
  tx.openWith(run.opening);
  try {
    const result = await fn(tx);
    if (tx.closedBy) throw tx.closedBy;
    tx.close(new Error(`${run.endedBy} returned`));
    if (tx.opened) await client.query('commit');
    return result;
  } catch (err) {
    tx.close(err instanceof Error ? err : new Error(String(err)));
    // Rolled back also when the opening was sent but failed with the first statement (the server
    // then skipped the rest: the transaction may be open and aborted, or not open; rollback covers both).
    if (tx.opened) await watch.rollback();
    throw watch.timedOut && tx.closedBy === watch.timedOut ? watch.timedOut : err;
  } finally {
    watch.release();
  }
}

/** A checked-out connection watched for one piece of work (runTransaction, TenantDatabase.readOnce). */
export interface ConnectionWatch {
  /** The time limit's error, once it passed. */
  readonly timedOut: Error | undefined;
  /** Rolls back, unless the connection broke or timed out (then it is destroyed at release, which rolls back on the server). */
  rollback(): Promise<void>;
  /** Returns the connection to the pool, or destroys it when it broke or timed out. */
  release(): void;
}

/**
 * Watches `client` until release(): an error on it marks it broken; past `timeoutMs` the statement
 * running is cut off (the connection is destroyed, so the server rolls the transaction back) and
 * `onTimeout` is told. A broken or timed-out connection is destroyed at release rather than
 * returned to the pool, never handed to the next piece of work.
 */
export function watchConnection(client: PoolClient, timeoutMs: number, timeoutError: () => Error, onTimeout?: (err: Error) => void): ConnectionWatch {
  let broken: Error | undefined;
  let timedOut: Error | undefined;
  const onError = (err: Error): void => {
    broken ??= err;
  };
  client.on('error', onError);
  const timer = setTimeout(() => {
    timedOut = timeoutError();
    onTimeout?.(timedOut);
    broken ??= timedOut;
    (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
  }, timeoutMs);
  return {
    get timedOut() {
      return timedOut;
    },
    async rollback() {
      if (!broken) await client.query('rollback').catch((e: Error) => (broken = e));
    },
    release() {
      clearTimeout(timer);
      client.off('error', onError);
      client.release(broken);
    },
  };
}
