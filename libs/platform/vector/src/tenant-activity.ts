/**
 * When each vector namespace was last used (a read or a write through the store), shared by every
 * process that uses the store, so that the idle sweep (IdleTenantSweep) puts to rest only the
 * namespaces no process has used for a while. Times are milliseconds since the epoch; a record only
 * ever moves forward.
 */
export interface TenantActivityLog {
  /** Records a use of each namespace at `at` (a later record is kept when there is one). */
  touch(namespaces: readonly string[], at: number): Promise<void>;
  /** Records `at` for each namespace that has no record yet (the sweep's first sight of it). */
  seen(namespaces: readonly string[], at: number): Promise<void>;
  /** The last recorded use of each namespace, in the order asked (undefined: none recorded). */
  lastUsed(namespaces: readonly string[]): Promise<(number | undefined)[]>;
  /** Drops the records (the namespaces were deleted). */
  forget(namespaces: readonly string[]): Promise<void>;
  close(): Promise<void>;
}

/** In one process only: for specs, and for a single-process deployment. */
export class MemoryTenantActivityLog implements TenantActivityLog {
  private readonly last = new Map<string, number>();

  async touch(namespaces: readonly string[], at: number): Promise<void> {
    for (const n of namespaces) this.last.set(n, Math.max(at, this.last.get(n) ?? at));
  }

  async seen(namespaces: readonly string[], at: number): Promise<void> {
    for (const n of namespaces) if (!this.last.has(n)) this.last.set(n, at);
  }

  async lastUsed(namespaces: readonly string[]): Promise<(number | undefined)[]> {
    return namespaces.map((n) => this.last.get(n));
  }

  async forget(namespaces: readonly string[]): Promise<void> {
    for (const n of namespaces) this.last.delete(n);
  }

  async close(): Promise<void> {}
}

/** The Redis commands RedisTenantActivityLog uses (an ioredis client, single node or cluster). */
export interface TenantActivityRedis {
  zadd(key: string, ...args: (string | number)[]): Promise<number | string | null>;
  zmscore(key: string, ...members: string[]): Promise<(string | null)[]>;
  zrem(key: string, ...members: string[]): Promise<number>;
  quit(): Promise<unknown>;
}

/** Members per Redis command: a 10,000-namespace sweep is 10 round trips. */
const PER_COMMAND = 1_000;

/**
 * In one Redis sorted set per collection (`hotdash:vector-activity:<collection>`, member = the
 * namespace, score = the last use): one key, so it sits on one slot of a Redis Cluster. `ZADD GT`
 * keeps the latest record whatever order processes write in.
 */
export class RedisTenantActivityLog implements TenantActivityLog {
  readonly key: string;

  constructor(
    private readonly redis: TenantActivityRedis,
    collection: string,
    private readonly options: { ownsClient?: boolean } = {},
  ) {
    this.key = `hotdash:vector-activity:${collection}`;
  }

  async touch(namespaces: readonly string[], at: number): Promise<void> {
    for (const part of parts(namespaces)) await this.redis.zadd(this.key, 'GT', ...part.flatMap((n) => [at, n]));
  }

  async seen(namespaces: readonly string[], at: number): Promise<void> {
    for (const part of parts(namespaces)) await this.redis.zadd(this.key, 'NX', ...part.flatMap((n) => [at, n]));
  }

  async lastUsed(namespaces: readonly string[]): Promise<(number | undefined)[]> {
    const out: (number | undefined)[] = [];
    for (const part of parts(namespaces)) for (const s of await this.redis.zmscore(this.key, ...part)) out.push(s === null ? undefined : Number(s));
    return out;
  }

  async forget(namespaces: readonly string[]): Promise<void> {
    for (const part of parts(namespaces)) await this.redis.zrem(this.key, ...part);
  }

  async close(): Promise<void> {
    if (this.options.ownsClient) await this.redis.quit().catch(() => undefined);
  }
}

function parts<T>(items: readonly T[], size = PER_COMMAND): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
