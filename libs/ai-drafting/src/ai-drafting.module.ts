import { Module } from '@nestjs/common';
import { Queue } from 'bullmq';
import type { PlatformConfig } from '@hotdash/platform-config';
import { cryptoProviders, FieldCipher } from '@hotdash/platform-crypto';
import { Databases, PLATFORM_CONFIG, TenantDatabase, TenantStatusCache } from '@hotdash/platform-db';
import { createRedis, QueueName, queueOptions, type RedisClient, redisProbe } from '@hotdash/platform-jobs';
import { observeQueueDepth, readinessProbe } from '@hotdash/platform-http';
import { Embedder, embedderFromEnv } from '@hotdash/platform-models';
import { VectorStore, vectorStoreFromEnv, vectorStoreProbe } from '@hotdash/platform-vector';
import { DraftingEventsHandler } from './drafting.events-handler';
import { DraftingProfilesEventsHandler } from './drafting-profiles.events-handler';
import { DraftingQueue } from './drafting.job';
import { DraftingWorker } from './drafting.worker';

const AI_DRAFTING_REDIS = Symbol('AI_DRAFTING_REDIS');

/**
 * The AI drafting service: queues a draft for every ticket received and every regeneration asked
 * for, and writes them (DraftingWorker: the tenant's model, its own knowledge and settings only);
 * keeps each tenant's drafting profile from tenant.settings-changed (DraftingProfilesEventsHandler).
 * The worker is started by the app (`app.get(DraftingWorker).start()`), not by importing the
 * module. Needs DatabaseModule in the app; the KMS master keys come from HOTDASH_KMS_MASTER_KEYS.
 */
@Module({
  controllers: [DraftingEventsHandler, DraftingProfilesEventsHandler],
  providers: [
    { provide: TenantStatusCache, useFactory: (dbs: Databases) => new TenantStatusCache(dbs), inject: [Databases] },
    ...cryptoProviders(),
    // The knowledge service's embedder and store, from the same variables: the query must be embedded as the chunks were.
    { provide: Embedder, useFactory: () => embedderFromEnv() },
    { provide: VectorStore, useFactory: (config: PlatformConfig, embedder: Embedder) => vectorStoreFromEnv(config, embedder.dimensions), inject: [PLATFORM_CONFIG, Embedder] },
    { provide: AI_DRAFTING_REDIS, useFactory: (config: PlatformConfig) => createRedis(config, { maxRetriesPerRequest: 2 }), inject: [PLATFORM_CONFIG] },
    { provide: DraftingQueue, useFactory: (config: PlatformConfig) => new DraftingQueue(observeQueueDepth(new Queue(QueueName.AI_DRAFTING, queueOptions(config, QueueName.AI_DRAFTING)))), inject: [PLATFORM_CONFIG] },
    {
      provide: DraftingWorker,
      useFactory: (config: PlatformConfig, db: TenantDatabase, cipher: FieldCipher, embedder: Embedder, vectors: VectorStore, redis: RedisClient) =>
        new DraftingWorker({ config, db, cipher, embedder, vectors, redis }, { log: (m) => console.warn(m) }),
      inject: [PLATFORM_CONFIG, TenantDatabase, FieldCipher, Embedder, VectorStore, AI_DRAFTING_REDIS],
    },
    // Readiness: its Redis connections (the limiter's and the drafting queue's) and Weaviate (not the embedded LanceDB).
    readinessProbe('redis', 'ai-drafting', AI_DRAFTING_REDIS, (redis: RedisClient) => redisProbe(redis)),
    readinessProbe('redis', 'drafting queue', DraftingQueue, (queue: DraftingQueue) => redisProbe(() => queue.queue.getBackend().client)),
    readinessProbe('weaviate', 'weaviate', VectorStore, vectorStoreProbe),
    {
      // One hook, in this order: the worker finishes its jobs before the connections they use close.
      provide: Symbol('AI_DRAFTING_SHUTDOWN'),
      useFactory: (worker: DraftingWorker, queue: DraftingQueue, redis: RedisClient, vectors: VectorStore) => ({
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
