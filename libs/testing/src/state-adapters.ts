import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedStateFile } from '@hotdash/platform-auth';
import { loadConfig, readSetting, type PlatformConfig } from '@hotdash/platform-config';
import { createRedis, type RedisClient, scanKeys } from '@hotdash/platform-jobs';

/**
 * The backings a state port's contract spec runs on (describe.each): the single Redis, deploy/local's
 * Redis Cluster, and the embedded state file in a scratch folder with a clock the spec moves.
 */
export interface StateBacking {
  name: 'redis' | 'redis-cluster' | 'embedded';
  /** The Redis adapters' connection. */
  redis?: RedisClient;
  /** The embedded adapters' file (a new one after restart()). */
  state?: EmbeddedStateFile;
  /** Moves the embedded clock (nothing for Redis, whose time is its own). */
  advance(ms: number): void;
  /** The value stored under `key`, read around the port (undefined when absent or expired). */
  raw(key: string): Promise<string | undefined>;
  /** Embedded: closes the file and opens it again from disk, as a restarted process would. */
  restart(): void;
  /** Deletes every key under the prefixes (specs clean up what they made), and lets go of the backing. */
  close(prefixes: string[]): Promise<void>;
}

export function redisBacking(name: 'redis' | 'redis-cluster'): StateBacking {
  const base = loadConfig();
  const single: PlatformConfig['redis'] = { host: base.redis.host, port: base.redis.port };
  const clusterPort = readSetting('HOTDASH_REDIS_CLUSTER_PORT');
  const redisConfig = name === 'redis' ? single : { ...single, cluster: base.redis.cluster ?? [0, 1, 2].map((i) => ({ host: '127.0.0.1', port: clusterPort + i })) };
  const redis = createRedis({ ...base, redis: redisConfig });
  return {
    name,
    redis,
    advance: () => undefined,
    raw: async (key) => (await redis.get(key)) ?? undefined,
    restart: () => {
      throw new Error('Redis outlives the process: nothing to restart');
    },
    async close(prefixes) {
      for (const p of prefixes) await scanKeys(redis, `${p.replace(/[[\]*?\\]/g, '\\$&')}*`, async (node, keys) => void (await Promise.all(keys.map((k) => node.unlink(k)))));
      await redis.quit();
    },
  };
}

export function embeddedBacking(): StateBacking {
  const dir = mkdtempSync(join(tmpdir(), 'hotdash-state-'));
  let t = Date.now();
  const now = () => t;
  const backing: StateBacking = {
    name: 'embedded',
    state: EmbeddedStateFile.open(dir, { now }),
    advance: (ms) => void (t += ms),
    raw: async (key) => backing.state!.get(key),
    restart: () => {
      backing.state!.close();
      backing.state = EmbeddedStateFile.open(dir, { now });
    },
    async close() {
      backing.state!.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return backing;
}

/** The three backings, made lazily (describe.each names them; each describe makes its own). */
export const STATE_BACKINGS: [StateBacking['name'], () => StateBacking][] = [
  ['redis', () => redisBacking('redis')],
  ['redis-cluster', () => redisBacking('redis-cluster')],
  ['embedded', embeddedBacking],
];
