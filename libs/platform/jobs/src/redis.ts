import Redis, { Cluster, type RedisOptions } from 'ioredis';
import type { PlatformConfig } from '@hotdash/platform-config';

/**
 * A connection to the platform's Redis: the single node (HOTDASH_REDIS_HOST/PORT) or, with
 * HOTDASH_REDIS_CLUSTER_NODES, a Redis Cluster. Both answer the same commands; on a cluster a
 * multi-key command, a pipeline or a Lua script must only touch keys of one slot: a tenant's keys
 * share the hash tag of `tenantKeyPrefix`, BullMQ queues the one of `queuePrefix`.
 */
export type RedisClient = Redis | Cluster;

/** True when the platform is configured for a Redis Cluster. */
export function usesRedisCluster(config: PlatformConfig): boolean {
  return (config.redis.cluster?.length ?? 0) > 0;
}

/**
 * The platform's Redis connection factory: a `Redis` to the single node, or a `Cluster` over the
 * configured seed nodes (the per-node options, timeouts and retries included, apply to every node;
 * `lazyConnect` and `enableOfflineQueue` to the cluster client too).
 */
export function createRedis(config: PlatformConfig, options: RedisOptions = {}): RedisClient {
  const nodes = config.redis.cluster;
  if (!nodes?.length) return new Redis({ host: config.redis.host, port: config.redis.port, ...options });
  const { lazyConnect, enableOfflineQueue, enableReadyCheck } = options;
  return new Cluster(
    nodes.map((n) => ({ host: n.host, port: n.port })),
    {
      redisOptions: options,
      ...(lazyConnect === undefined ? {} : { lazyConnect }),
      ...(enableOfflineQueue === undefined ? {} : { enableOfflineQueue }),
      ...(enableReadyCheck === undefined ? {} : { enableReadyCheck }),
    },
  );
}

/**
 * Runs `each` on every master of a cluster (the single node otherwise): SCAN covers only the node it
 * is sent to, so a key pattern is scanned on each master in turn.
 */
export async function forEachMaster<T>(redis: RedisClient, each: (node: Redis) => Promise<T>): Promise<T[]> {
  if (!redis.isCluster) return [await each(redis as Redis)];
  const cluster = redis as Cluster;
  if (cluster.status === 'wait') await cluster.connect();
  return Promise.all(cluster.nodes('master').map((node) => each(node)));
}

/**
 * Every key matching `pattern` (SCAN MATCH on every master), handed to `batch` per SCAN page;
 * the number of keys seen.
 */
export async function scanKeys(redis: RedisClient, pattern: string, batch: (node: Redis, keys: string[]) => Promise<void>, count = 500): Promise<number> {
  const seen = await forEachMaster(redis, async (node) => {
    let n = 0;
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', count);
      cursor = next;
      if (keys.length) {
        n += keys.length;
        await batch(node, keys);
      }
    } while (cursor !== '0');
    return n;
  });
  return seen.reduce((a, b) => a + b, 0);
}

/**
 * A readiness probe of a Redis connection (the `redis` probes of the services): PING, on a Redis
 * Cluster to every master (the details say how many). While the connection is reconnecting or
 * closed it fails at once with the connection's last error, rather than waiting in the client's
 * offline queue until the time limit.
 * `client` may be a function that gives it (a BullMQ queue's: `() => queue.getBackend().client`). Listening to
 * the client's errors (to name the last one) also stops ioredis printing each of them as unhandled.
 */
export function redisProbe(client: RedisClient | (() => Promise<unknown>)): () => Promise<void | { masters: number }> {
  const lastError = new WeakMap<RedisClient, Error>();
  const watched = new WeakSet<RedisClient>();
  const watch = (c: RedisClient): RedisClient => {
    if (!watched.has(c)) {
      watched.add(c);
      c.on('error', (err: Error) => lastError.set(c, err));
      c.on('ready', () => lastError.delete(c));
    }
    return c;
  };
  if (typeof client !== 'function') watch(client);
  return async () => {
    // BullMQ types its connection as its own client interface; on this platform it is an ioredis Redis or Cluster.
    const c = watch(typeof client === 'function' ? ((await client()) as RedisClient) : client);
    // The connection's own error says more than the command's ("max retries per request", "stream isn't writeable").
    const why = (fallback: string): Error => new Error(lastError.get(c)?.message ?? fallback);
    if (!c.isCluster) return pingNode(c as Redis).catch((err: Error) => Promise.reject(why(err.message)));
    if (c.status === 'end' || c.status === 'close' || c.status === 'reconnecting') throw why(`cluster connection ${c.status}`);
    if (c.status === 'wait') await (c as Cluster).connect();
    const masters = (c as Cluster).nodes('master');
    if (masters.length === 0) throw why('no cluster master connected');
    await Promise.all(masters.map((node) => pingNode(node).catch((err: Error) => Promise.reject(new Error(`${node.options.host}:${node.options.port}: ${err.message}`)))));
    return { masters: masters.length };
  };
}

/**
 * PING on one connection; fails at once while it is reconnecting or closed (its offline queue would
 * hold the command). A connection still being made (a service just started) is waited for: without
 * its offline queue the client refuses a command until it is ready ("stream isn't writeable"), which
 * would report a store that answers as down. The readiness registry bounds the wait.
 */
async function pingNode(node: Redis): Promise<void> {
  if (node.status === 'end' || node.status === 'close') throw new Error('connection closed');
  if (node.status === 'reconnecting') throw new Error('reconnecting');
  if (node.status === 'wait') await node.connect();
  else if (node.status !== 'ready') await untilReady(node);
  const answer = await node.ping();
  if (answer !== 'PONG') throw new Error(`PING answered ${answer}`);
}

/** Resolves when a connection being made is ready; rejects with its error, or when it closes first. */
function untilReady(node: Redis): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const settle = (err?: Error): void => {
      node.off('ready', onReady).off('error', onError).off('close', onClose);
      if (err) reject(err);
      else resolve();
    };
    const onReady = (): void => settle();
    const onError = (err: Error): void => settle(err);
    const onClose = (): void => settle(new Error('connection closed'));
    node.once('ready', onReady).once('error', onError).once('close', onClose);
  });
}
