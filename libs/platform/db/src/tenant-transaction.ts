import { DatabaseConnection, DefaultQueryExecutor, Kysely, PostgresDialect, QueryResult as KyselyResult, SingleConnectionProvider } from 'kysely';
import { types, type PoolClient, type QueryResult } from 'pg';
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
 * The raw queries' result types as the code written against Prisma's `$queryRaw` expects them: int8
 * as `bigint` (the driver's default is a string). Kysely queries keep the driver's defaults, which
 * the generated table types describe.
 */
const RAW_TYPES = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') => (oid === types.builtins.INT8 && format !== 'binary' ? BigInt : types.getTypeParser(oid, format))) as typeof types.getTypeParser,
};

/**
 * Kysely's PostgreSQL parts, made once per process: every transaction's Kysely shares them and only
 * brings its own connection (what Kysely's own transactions do), so a transaction costs no dialect,
 * compiler or driver. The dialect's pool is never used: connections come from withTenant.
 */
const dialect = new PostgresDialect({
  pool: {
    connect: () => Promise.reject(new Error('Kysely reaches tenant data only through withTenant')),
    end: async () => undefined,
  },
});
const compiler = dialect.createQueryCompiler();
const adapter = dialect.createAdapter();
const driver = dialect.createDriver();
const CHANGES = new Set(['INSERT', 'UPDATE', 'DELETE', 'MERGE']);

/** `a ${x} b ${y} c` → `a $1 b $2 c`, once per call site (a template's strings array is the same object on every call). */
const texts = new WeakMap<TemplateStringsArray, string>();
function textOf(strings: TemplateStringsArray): string {
  let text = texts.get(strings);
  if (text === undefined) {
    text = strings.reduce((acc, s, i) => `${acc}$${i}${s}`);
    texts.set(strings, text);
  }
  return text;
}

/**
 * The handle `withTenant` gives its callback: one connection of the tenant's shard, inside a
 * transaction whose first statement set `app.tenant_id`, so every statement here runs under the
 * tenant's row-level security. `db` is the typed query builder (Kysely, table types generated from
 * prisma/tenant/schema.prisma); the `$queryRaw`/`$executeRaw` tagged templates run parameterised SQL
 * (every `${value}` is a bind parameter, never text) with the result types Prisma gave them.
 * `savepoint()` nests a transaction.
 */
export class TenantTransaction {
  private kysely: Kysely<TenantDB> | undefined;
  private closed: Error | undefined;
  private savepoints = 0;

  constructor(private readonly client: PoolClient) {}

  /** Kysely on this transaction's connection (made on first use). */
  get db(): Kysely<TenantDB> {
    if (!this.kysely) {
      const connection: DatabaseConnection = {
        executeQuery: async <R>(query: { sql: string; parameters: readonly unknown[] }): Promise<KyselyResult<R>> => {
          this.assertOpen();
          const { command, rowCount, rows } = await this.client.query(query.sql, query.parameters as unknown[]);
          return { rows: (rows ?? []) as R[], numAffectedRows: CHANGES.has(command) ? BigInt(rowCount ?? 0) : undefined };
        },
        streamQuery: () => {
          throw new Error('streaming is not offered inside withTenant; page with limit and a cursor column');
        },
      };
      // The transaction's own connection: Kysely never begins, commits or releases it (withTenant does).
      const executor = new DefaultQueryExecutor(compiler, adapter, new SingleConnectionProvider(connection));
      this.kysely = new Kysely<TenantDB>({ config: { dialect }, dialect, driver, executor });
    }
    return this.kysely;
  }

  /** Rows of a parameterised query: tx.$queryRaw<Row[]>`select … where id = ${id}::uuid`. */
  async $queryRaw<T = unknown>(strings: TemplateStringsArray, ...values: unknown[]): Promise<T> {
    return (await this.run(textOf(strings), values)).rows as T;
  }

  /** The number of rows a parameterised statement changed. */
  async $executeRaw(strings: TemplateStringsArray, ...values: unknown[]): Promise<number> {
    return (await this.run(textOf(strings), values)).rowCount ?? 0;
  }

  /** Runs `fn` in a savepoint: what it did is undone if it throws (and the error rethrown); the transaction goes on either way. */
  async savepoint<T>(fn: (tx: this) => Promise<T>): Promise<T> {
    const name = `hotdash_sp_${++this.savepoints}`;
    await this.run(`savepoint ${name}`, []);
    try {
      const result = await fn(this);
      await this.run(`release savepoint ${name}`, []);
      return result;
    } catch (err) {
      if (!this.closed) await this.run(`rollback to savepoint ${name}`, []);
      throw err;
    }
  }

  /** @internal withTenant: no statement runs after this. */
  close(reason: Error): void {
    this.closed ??= reason;
  }

  /** @internal why the transaction closed early, if it did. */
  get closedBy(): Error | undefined {
    return this.closed;
  }

  private assertOpen(): void {
    if (this.closed) throw this.closed instanceof TenantTransactionTimeoutError ? this.closed : new TenantTransactionClosedError(this.closed.message);
  }

  private run(text: string, values: unknown[]): Promise<QueryResult> {
    this.assertOpen();
    return this.client.query({ text, values, types: RAW_TYPES });
  }
}
