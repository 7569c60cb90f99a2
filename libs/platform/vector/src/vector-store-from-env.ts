import { join } from 'node:path';
import Redis from 'ioredis';
import { readSetting, type PlatformConfig } from '@hotdash/platform-config';
import { LanceDbVectorStore } from './lancedb-vector-store';
import { RedisTenantActivityLog } from './tenant-activity';
import type { VectorStore } from './vector-store';
import { DEFAULT_KNOWLEDGE_COLLECTION, WeaviateVectorStore } from './weaviate-vector-store';

/**
 * The platform's vector store from the environment: HOTDASH_VECTOR_STORE=weaviate (default) or
 * lancedb (embedded, in HOTDASH_LANCEDB_DIR, default .local/lancedb). `dimensions` is the
 * embedder's. The knowledge service (indexing) and ai-drafting (retrieval) both build theirs here.
 * The Weaviate store records each namespace's last use in Redis (RedisTenantActivityLog, its own
 * connection, closed with the store), where the knowledge service's IdleTenantSweep reads it.
 */
export function vectorStoreFromEnv(config: PlatformConfig, dimensions: number, env: NodeJS.ProcessEnv = process.env): VectorStore {
  const kind = readSetting('HOTDASH_VECTOR_STORE', env);
  if (kind === 'weaviate') {
    // Lazy: no connection until the first use is recorded; a Redis outage only loses records
    // (the store never waits for them), so namespaces may go to rest early, never stay broken.
    const redis = new Redis({ host: config.redis.host, port: config.redis.port, lazyConnect: true, maxRetriesPerRequest: 1, connectTimeout: 2_000 });
    redis.on('error', () => undefined);
    return WeaviateVectorStore.fromConfig(config, { activity: new RedisTenantActivityLog(redis, DEFAULT_KNOWLEDGE_COLLECTION, { ownsClient: true }) });
  }
  return new LanceDbVectorStore({ directory: readSetting('HOTDASH_LANCEDB_DIR', env) ?? join(process.cwd(), '.local', 'lancedb'), dimensions });
}
