import { Inject, Module, OnApplicationShutdown } from '@nestjs/common';
import { Queue } from 'bullmq';
import { InternalAuthModule } from '@hotdash/platform-auth';
import { cryptoProviders, FieldCipher } from '@hotdash/platform-crypto';
import type { PlatformConfig } from '@hotdash/platform-config';
import { Databases, PLATFORM_CONFIG, ShardRouter, TenantDatabase } from '@hotdash/platform-db';
import { createRedis, QueueName, queueOptions, type RedisClient, redisProbe, TenantStatusCacheProvider } from '@hotdash/platform-jobs';
import { observeQueueDepth, readinessProbe } from '@hotdash/platform-http';
import { Embedder, embedderFromEnv } from '@hotdash/platform-models';
import { VectorStore, vectorStoreFromEnv, vectorStoreProbe } from '@hotdash/platform-vector';
import { DocumentsController } from './documents.controller';
import { DocumentsService, KNOWLEDGE_QUEUE } from './documents.service';
import { IngestionWorker } from './ingestion/ingestion.worker';
import { KnowledgeEventsHandler } from './knowledge.events-handler';
import { StoredDocumentsSweep, storedDocumentsSweepOptions } from './stored-documents.sweep';

export const KNOWLEDGE_REDIS = Symbol('KNOWLEDGE_REDIS');

class KnowledgeLifecycle implements OnApplicationShutdown {
  constructor(
    @Inject(IngestionWorker) private readonly worker: IngestionWorker,
    @Inject(KNOWLEDGE_QUEUE) private readonly queue: Queue,
    @Inject(KNOWLEDGE_REDIS) private readonly redis: RedisClient,
    @Inject(VectorStore) private readonly vectors: VectorStore,
  ) {}
  async onApplicationShutdown(): Promise<void> {
    await this.worker.close();
    await this.queue.close();
    this.redis.disconnect();
    await this.vectors.close();
  }
}

/**
 * The knowledge service: tenants' documents (upload, replace, delete, state), their ingestion
 * (chunked, embedded, written to the tenant's vector namespace) and the events around them. The
 * ingestion worker is started by the app (`app.get(IngestionWorker).start()`), not by importing
 * the module. The stored-documents sweep starts with the app and stops when it closes
 * (HOTDASH_KNOWLEDGE_SWEEP_MS / _GRACE_MS / _DELAY_MS). Needs DatabaseModule in the app.
 */
@Module({
  imports: [InternalAuthModule.forService('knowledge')],
  controllers: [DocumentsController, KnowledgeEventsHandler],
  providers: [
    DocumentsService,
    TenantStatusCacheProvider,
    // Documents submitted by other services arrive encrypted with the tenant's data key.
    ...cryptoProviders(),
    { provide: Embedder, useFactory: () => embedderFromEnv() },
    { provide: VectorStore, useFactory: (config: PlatformConfig, embedder: Embedder) => vectorStoreFromEnv(config, embedder.dimensions), inject: [PLATFORM_CONFIG, Embedder] },
    { provide: KNOWLEDGE_REDIS, useFactory: (config: PlatformConfig) => createRedis(config, { maxRetriesPerRequest: 2 }), inject: [PLATFORM_CONFIG] },
    { provide: KNOWLEDGE_QUEUE, useFactory: (config: PlatformConfig) => observeQueueDepth(new Queue(QueueName.KNOWLEDGE_INGESTION, queueOptions(config, QueueName.KNOWLEDGE_INGESTION))), inject: [PLATFORM_CONFIG] },
    {
      provide: IngestionWorker,
      useFactory: (config: PlatformConfig, db: TenantDatabase, vectors: VectorStore, embedder: Embedder, cipher: FieldCipher, redis: RedisClient) =>
        new IngestionWorker(config, db, vectors, embedder, cipher, redis, { log: (m) => console.warn(m) }),
      inject: [PLATFORM_CONFIG, TenantDatabase, VectorStore, Embedder, FieldCipher, KNOWLEDGE_REDIS],
    },
    // Queues documents committed but never queued (a crash or a failed queueing after the commit).
    {
      provide: StoredDocumentsSweep,
      useFactory: (dbs: Databases, router: ShardRouter, documents: DocumentsService) => new StoredDocumentsSweep(dbs, router, documents, storedDocumentsSweepOptions()),
      inject: [Databases, ShardRouter, DocumentsService],
    },
    KnowledgeLifecycle,
    // Readiness: its Redis connections (the ingestion queue's and the limiter's) and Weaviate (not the embedded LanceDB).
    readinessProbe('redis', 'knowledge', KNOWLEDGE_REDIS, (redis: RedisClient) => redisProbe(redis)),
    readinessProbe('redis', 'ingestion queue', KNOWLEDGE_QUEUE, (queue: Queue) => redisProbe(() => queue.getBackend().client)),
    readinessProbe('weaviate', 'weaviate', VectorStore, vectorStoreProbe),
  ],
  exports: [DocumentsService, IngestionWorker, VectorStore, Embedder, StoredDocumentsSweep],
})
export class KnowledgeModule {}
