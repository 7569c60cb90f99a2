// Knowledge service: tenants' knowledge-base documents behind the gateway (internal tokens), their
// ingestion (BullMQ jobs: chunked, embedded, written to the tenant's vector namespace, with
// progress), the documents other services submit (knowledge.document-submitted), and the sweep that
// queues documents whose queueing was lost.
import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { loadConfig } from '@hotdash/platform-config';
import { DatabaseModule, Databases, TenantStatusCache } from '@hotdash/platform-db';
import { createHttpApp, HealthController, runService } from '@hotdash/platform-http';
import { connectServiceConsumer, createKafkaClient } from '@hotdash/platform-messaging';
import { VectorStore } from '@hotdash/platform-vector';
import { KNOWLEDGE_UPLOAD_TYPES, MAX_DOCUMENT_BYTES } from '@hotdash/contracts';
import { IngestionWorker, KnowledgeModule } from '@hotdash/knowledge';

const config = loadConfig();

@Module({ imports: [DatabaseModule.forRoot(config), KnowledgeModule], controllers: [HealthController] })
export class KnowledgeAppModule {}

if (require.main === module) {
  void runService('knowledge', Number(process.env.HOTDASH_KNOWLEDGE_PORT ?? 3103), async () => {
    const app = await createHttpApp(KnowledgeAppModule, { raw: { types: KNOWLEDGE_UPLOAD_TYPES, limit: MAX_DOCUMENT_BYTES } });
    await app.get(VectorStore).ensureCollection();
    app.get(IngestionWorker).start();
    const kafka = createKafkaClient({ brokers: config.kafka.brokers, clientId: 'knowledge' });
    const statuses = new TenantStatusCache(app.get(Databases));
    // A tenant being offboarded is skipped (its data is being erased).
    connectServiceConsumer(app, { group: 'knowledge', kafka, skipTenant: (t) => statuses.isLeaving(t) });
    await app.startAllMicroservices();
    return { app, afterClose: [() => kafka.close()] };
  });
}
