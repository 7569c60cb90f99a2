import { join } from 'node:path';
import { Module } from '@nestjs/common';
import { Queue } from 'bullmq';
import Redis from 'ioredis';
import type { PlatformConfig } from '@hotdash/platform-config';
import { FieldCipher, KmsPort, LocalKms, TenantKeyring } from '@hotdash/platform-crypto';
import { ControlDatabase, Databases, PLATFORM_CONFIG, TenantDatabase } from '@hotdash/platform-db';
import { QueueName, redisConnection } from '@hotdash/platform-jobs';
import { Embedder, LocalEmbedder, OpenAiEmbedder } from '@hotdash/platform-models';
import { LanceDbVectorStore, VectorStore, WeaviateVectorStore } from '@hotdash/platform-vector';
import { DraftingEventsHandler } from './drafting.events-handler';
import { DraftingQueue } from './drafting.job';
import { DraftingWorker } from './drafting.worker';

const AI_DRAFTING_REDIS = Symbol('AI_DRAFTING_REDIS');
const RETRIEVAL = Symbol('AI_DRAFTING_RETRIEVAL');

/**
 * The retrieval side of the knowledge service, from the same variables it reads (HOTDASH_EMBEDDER,
 * HOTDASH_EMBEDDING_MODEL, HOTDASH_EMBEDDING_DIMENSIONS, HOTDASH_OPENAI_*, HOTDASH_VECTOR_STORE,
 * HOTDASH_LANCEDB_DIR): a query embedded by another model than the chunks would find nothing.
 */
export function retrievalFromEnv(config: PlatformConfig, env: NodeJS.ProcessEnv = process.env): { embedder: Embedder; vectors: VectorStore } {
  const openai = env.HOTDASH_EMBEDDER === 'openai';
  if (!openai && (env.HOTDASH_EMBEDDER ?? 'local') !== 'local') throw new Error(`HOTDASH_EMBEDDER must be local or openai, got ${env.HOTDASH_EMBEDDER}`);
  const dimensions = Number(env.HOTDASH_EMBEDDING_DIMENSIONS ?? (openai ? 1536 : 384));
  const embedder = openai
    ? new OpenAiEmbedder({ baseUrl: env.HOTDASH_OPENAI_BASE_URL ?? 'https://api.openai.com/v1', apiKey: env.HOTDASH_OPENAI_API_KEY ?? '', model: env.HOTDASH_EMBEDDING_MODEL ?? 'text-embedding-3-small', dimensions })
    : new LocalEmbedder(dimensions);
  const store = env.HOTDASH_VECTOR_STORE ?? 'weaviate';
  if (store !== 'weaviate' && store !== 'lancedb') throw new Error(`HOTDASH_VECTOR_STORE must be weaviate or lancedb, got ${store}`);
  const vectors = store === 'weaviate' ? WeaviateVectorStore.fromConfig(config) : new LanceDbVectorStore({ directory: env.HOTDASH_LANCEDB_DIR ?? join(process.cwd(), '.local', 'lancedb'), dimensions });
  return { embedder, vectors };
}

/**
 * The AI drafting service: queues a draft for every ticket received and every regeneration asked
 * for, and writes them (DraftingWorker: the tenant's model, its own knowledge and settings only).
 * The worker is started by the app (`app.get(DraftingWorker).start()`), not by importing the
 * module. Needs DatabaseModule in the app; the KMS master keys come from HOTDASH_KMS_MASTER_KEYS.
 */
@Module({
  controllers: [DraftingEventsHandler],
  providers: [
    { provide: KmsPort, useFactory: () => LocalKms.fromEnv() },
    { provide: TenantKeyring, useFactory: (dbs: Databases, kms: KmsPort) => new TenantKeyring(dbs, kms), inject: [Databases, KmsPort] },
    { provide: FieldCipher, useFactory: (k: TenantKeyring) => new FieldCipher(k), inject: [TenantKeyring] },
    { provide: RETRIEVAL, useFactory: (config: PlatformConfig) => retrievalFromEnv(config), inject: [PLATFORM_CONFIG] },
    { provide: Embedder, useFactory: (r: ReturnType<typeof retrievalFromEnv>) => r.embedder, inject: [RETRIEVAL] },
    { provide: VectorStore, useFactory: (r: ReturnType<typeof retrievalFromEnv>) => r.vectors, inject: [RETRIEVAL] },
    { provide: AI_DRAFTING_REDIS, useFactory: (config: PlatformConfig) => new Redis({ host: config.redis.host, port: config.redis.port, maxRetriesPerRequest: 2 }), inject: [PLATFORM_CONFIG] },
    { provide: DraftingQueue, useFactory: (config: PlatformConfig) => new DraftingQueue(new Queue(QueueName.AI_DRAFTING, { connection: redisConnection(config) })), inject: [PLATFORM_CONFIG] },
    {
      provide: DraftingWorker,
      useFactory: (config: PlatformConfig, db: TenantDatabase, control: ControlDatabase, cipher: FieldCipher, embedder: Embedder, vectors: VectorStore, redis: Redis) =>
        new DraftingWorker({ config, db, control, cipher, embedder, vectors, redis }, { log: (m) => console.warn(m) }),
      inject: [PLATFORM_CONFIG, TenantDatabase, ControlDatabase, FieldCipher, Embedder, VectorStore, AI_DRAFTING_REDIS],
    },
    {
      // One hook, in this order: the worker finishes its jobs before the connections they use close.
      provide: Symbol('AI_DRAFTING_SHUTDOWN'),
      useFactory: (worker: DraftingWorker, queue: DraftingQueue, redis: Redis, vectors: VectorStore) => ({
        async onApplicationShutdown(): Promise<void> {
          await worker.close();
          await queue.close();
          redis.disconnect();
          await vectors.close();
        },
      }),
      inject: [DraftingWorker, DraftingQueue, AI_DRAFTING_REDIS, VectorStore],
    },
  ],
  exports: [DraftingQueue, DraftingWorker],
})
export class AiDraftingModule {}
