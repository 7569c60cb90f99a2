// Knowledge service: tenants' knowledge-base documents behind the gateway (internal tokens), their
// ingestion (BullMQ jobs: chunked, embedded, written to the tenant's vector namespace, with
// progress), the documents other services submit (knowledge.document-submitted), the sweep that
// queues documents whose queueing was lost, and the sweep that puts idle vector namespaces to rest
// (IdleTenantSweep: unused for 10 minutes, or beyond 1,000 active, they go INACTIVE in Weaviate and
// are loaded again by their next read or write).
// First of all: tracing (a no-op without OTEL_* settings) must patch the modules it instruments before they load.
import './tracing';
import 'reflect-metadata';
// First: the environment is checked before any module that reads it is loaded.
import { config } from './service-config';
import { Module } from '@nestjs/common';
import { DatabaseModule, Databases, TenantStatusCache } from '@hotdash/platform-db';
import { createHttpApp, HealthModule, Readiness, runService, type RunningService } from '@hotdash/platform-http';
import { connectServiceConsumer, createKafkaClient } from '@hotdash/platform-messaging';
import { IdleTenantSweep, VectorStore, WeaviateVectorStore } from '@hotdash/platform-vector';
import { KNOWLEDGE_UPLOAD_TYPES, MAX_DOCUMENT_BYTES } from '@hotdash/contracts';
import { IngestionWorker, KnowledgeModule } from '@hotdash/knowledge';

// Readiness: postgres and kafka (below); redis (its queue and limiter) and weaviate are registered by KnowledgeModule.
@Module({ imports: [HealthModule.forRoot(), DatabaseModule.forRoot(config), KnowledgeModule] })
export class KnowledgeAppModule {}

/** The knowledge service's start: its app and what to close on shutdown (runService, or apps/embedded with every service in one process). */
export async function startKnowledge(): Promise<RunningService> {
  const app = await createHttpApp(KnowledgeAppModule, { raw: { types: KNOWLEDGE_UPLOAD_TYPES, limit: MAX_DOCUMENT_BYTES } });
  const vectors = app.get(VectorStore);
  await vectors.ensureCollection();
  const sweep = vectors instanceof WeaviateVectorStore ? IdleTenantSweep.of(vectors, { log: (line) => console.log(`[knowledge] ${line}`) }) : undefined;
  sweep?.start();
  app.get(IngestionWorker).start();
  const kafka = createKafkaClient({ brokers: config.kafka.brokers, clientId: 'knowledge' });
  const dbs = app.get(Databases);
  app.get(Readiness).add('postgres', (ms) => dbs.ping(ms)).add('kafka', () => kafka.ping());
  const statuses = new TenantStatusCache(dbs);
  // A tenant being offboarded is skipped (its data is being erased).
  connectServiceConsumer(app, { group: 'knowledge', kafka, skipTenant: (t) => statuses.isLeaving(t) });
  await app.startAllMicroservices();
  return { app, beforeClose: [async () => sweep?.stop()], afterClose: [() => kafka.close()] };
}

if (require.main === module) void runService('knowledge', config.port, startKnowledge);
