import { Module } from '@nestjs/common';
import type { PlatformConfig } from '@hotdash/platform-config';
import { cryptoProviders, FieldCipher } from '@hotdash/platform-crypto';
import { Databases, PLATFORM_CONFIG, TenantDatabase, TenantStatusCache } from '@hotdash/platform-db';
import { type JobsPort, jobQueueProbe, jobsFromConfig, QueueName, redisProbe } from '@hotdash/platform-jobs';
import { observeJobQueueDepth, readinessProbe } from '@hotdash/platform-http';
import { Embedder, embedderFromEnv } from '@hotdash/platform-models';
import { VectorStore, vectorStoreFromEnv, vectorStoreProbe } from '@hotdash/platform-vector';
import { DraftingEventsHandler } from './drafting.events-handler';
import { DraftingProfilesEventsHandler } from './drafting-profiles.events-handler';
import { DraftingQueue } from './drafting.job';
import { DraftingWorker } from './drafting.worker';

const AI_DRAFTING_JOBS = Symbol('AI_DRAFTING_JOBS');

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
    { provide: AI_DRAFTING_JOBS, useFactory: (config: PlatformConfig) => jobsFromConfig(config), inject: [PLATFORM_CONFIG] },
    { provide: DraftingQueue, useFactory: (jobs: JobsPort) => new DraftingQueue(observeJobQueueDepth(jobs.queue(QueueName.AI_DRAFTING))), inject: [AI_DRAFTING_JOBS] },
    {
      provide: DraftingWorker,
      useFactory: (config: PlatformConfig, db: TenantDatabase, cipher: FieldCipher, embedder: Embedder, vectors: VectorStore, jobs: JobsPort) =>
        new DraftingWorker({ config, db, cipher, embedder, vectors, jobs }, { log: (m) => console.warn(m) }),
      inject: [PLATFORM_CONFIG, TenantDatabase, FieldCipher, Embedder, VectorStore, AI_DRAFTING_JOBS],
    },
    // Readiness: its Redis connections on the stack (the limiter's and the drafting queue's; none for the embedded runner) and Weaviate (not the embedded LanceDB).
    readinessProbe('redis', 'ai-drafting', DraftingWorker, (worker: DraftingWorker) => (worker.slots.redis ? redisProbe(worker.slots.redis) : undefined)),
    readinessProbe('redis', 'drafting queue', DraftingQueue, (queue: DraftingQueue) => jobQueueProbe(queue.queue)),
    readinessProbe('weaviate', 'weaviate', VectorStore, vectorStoreProbe),
    {
      // One hook, in this order: the worker finishes its jobs before the connections they use close.
      provide: Symbol('AI_DRAFTING_SHUTDOWN'),
      useFactory: (worker: DraftingWorker, queue: DraftingQueue, jobs: JobsPort, vectors: VectorStore) => ({
        async onApplicationShutdown(): Promise<void> {
          await worker.close();
          await queue.close();
          await jobs.close();
          await vectors.close();
        },
      }),
      inject: [DraftingWorker, DraftingQueue, AI_DRAFTING_JOBS, VectorStore],
    },
  ],
  exports: [DraftingQueue, DraftingWorker],
})
export class AiDraftingModule {}
