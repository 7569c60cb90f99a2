import { Inject, Module, OnApplicationShutdown } from '@nestjs/common';
import { InternalAuthModule } from '@hotdash/platform-auth';
import { cryptoProviders, FieldCipher } from '@hotdash/platform-crypto';
import type { PlatformConfig } from '@hotdash/platform-config';
import { Databases, PLATFORM_CONFIG, ShardRouter, TenantDatabase } from '@hotdash/platform-db';
import { type JobQueue, type JobsPort, jobQueueProbe, jobsFromConfig, QueueName, redisProbe, TenantStatusCacheProvider } from '@hotdash/platform-jobs';
import { observeJobQueueDepth, readinessProbe } from '@hotdash/platform-http';
import { Embedder, embedderFromEnv } from '@hotdash/platform-models';
import { VectorStore, vectorStoreFromEnv, vectorStoreProbe } from '@hotdash/platform-vector';
import { DocumentsController } from './documents.controller';
import { DocumentsService, KNOWLEDGE_QUEUE } from './documents.service';
import { IngestionWorker } from './ingestion/ingestion.worker';
import { KnowledgeEventsHandler } from './knowledge.events-handler';
import { StoredDocumentsSweep, storedDocumentsSweepOptions } from './stored-documents.sweep';

export const KNOWLEDGE_JOBS = Symbol('KNOWLEDGE_JOBS');

class KnowledgeLifecycle implements OnApplicationShutdown {
  constructor(
    @Inject(IngestionWorker) private readonly worker: IngestionWorker,
    @Inject(KNOWLEDGE_QUEUE) private readonly queue: JobQueue<unknown>,
    @Inject(KNOWLEDGE_JOBS) private readonly jobs: JobsPort,
    @Inject(VectorStore) private readonly vectors: VectorStore,
  ) {}
  async onApplicationShutdown(): Promise<void> {
    await this.worker.close();
    await this.queue.close();
    await this.jobs.close();
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
    { provide: KNOWLEDGE_JOBS, useFactory: (config: PlatformConfig) => jobsFromConfig(config), inject: [PLATFORM_CONFIG] },
    { provide: KNOWLEDGE_QUEUE, useFactory: (jobs: JobsPort) => observeJobQueueDepth(jobs.queue(QueueName.KNOWLEDGE_INGESTION)), inject: [KNOWLEDGE_JOBS] },
    {
      provide: IngestionWorker,
      useFactory: (config: PlatformConfig, db: TenantDatabase, vectors: VectorStore, embedder: Embedder, cipher: FieldCipher, jobs: JobsPort) =>
        new IngestionWorker(config, db, vectors, embedder, cipher, jobs, { log: (m) => console.warn(m) }),
      inject: [PLATFORM_CONFIG, TenantDatabase, VectorStore, Embedder, FieldCipher, KNOWLEDGE_JOBS],
    },
    // Queues documents committed but never queued (a crash or a failed queueing after the commit).
    {
      provide: StoredDocumentsSweep,
      useFactory: (dbs: Databases, router: ShardRouter, documents: DocumentsService) => new StoredDocumentsSweep(dbs, router, documents, storedDocumentsSweepOptions()),
      inject: [Databases, ShardRouter, DocumentsService],
    },
    KnowledgeLifecycle,
    // Readiness: its Redis connections on the stack (the ingestion queue's and the limiter's; none for the embedded runner) and Weaviate (not the embedded LanceDB).
    readinessProbe('redis', 'knowledge', IngestionWorker, (worker: IngestionWorker) => (worker.slots.redis ? redisProbe(worker.slots.redis) : undefined)),
    readinessProbe('redis', 'ingestion queue', KNOWLEDGE_QUEUE, (queue: JobQueue<unknown>) => jobQueueProbe(queue)),
    readinessProbe('weaviate', 'weaviate', VectorStore, vectorStoreProbe),
  ],
  exports: [DocumentsService, IngestionWorker, VectorStore, Embedder, StoredDocumentsSweep],
})
export class KnowledgeModule {}
