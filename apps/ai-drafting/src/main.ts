// AI drafting service: a draft for every ticket received (ticket.received) and every regeneration
// asked for (draft.requested), written by BullMQ jobs from the tenant's own knowledge base and
// settings with the tenant's model, announced as draft.generated (or draft.failed).
// First of all: tracing (a no-op without OTEL_* settings) must patch the modules it instruments before they load.
import './tracing';
import 'reflect-metadata';
// First: the environment is checked before any module that reads it is loaded.
import { config } from './service-config';
import { Module } from '@nestjs/common';
import { DatabaseModule, Databases, TenantStatusCache } from '@hotdash/platform-db';
import { createHttpApp, HealthModule, Readiness, runService, type RunningService } from '@hotdash/platform-http';
import { connectServiceConsumer, createKafkaClient } from '@hotdash/platform-messaging';
import { AiDraftingModule, DraftingWorker } from '@hotdash/ai-drafting';

@Module({ imports: [HealthModule.forRoot(), DatabaseModule.forRoot(config), AiDraftingModule] })
export class AiDraftingAppModule {}

/** The ai-drafting service's start: its app and what to close on shutdown (runService, or apps/embedded with every service in one process). */
export async function startAiDrafting(): Promise<RunningService> {
  const app = await createHttpApp(AiDraftingAppModule);
  app.get(DraftingWorker).start();
  const kafka = createKafkaClient({ brokers: config.kafka.brokers, clientId: 'ai-drafting' });
  const dbs = app.get(Databases);
  // Its Redis connections and Weaviate are registered by AiDraftingModule.
  app.get(Readiness)
    .add('postgres', (ms) => dbs.ping(ms))
    .add('kafka', () => kafka.ping());
  const statuses = new TenantStatusCache(dbs);
  // A tenant being offboarded is skipped (its data is being erased).
  connectServiceConsumer(app, { group: 'ai-drafting', kafka, skipTenant: (t) => statuses.isLeaving(t) });
  await app.startAllMicroservices();
  return { app, afterClose: [() => kafka.close()] };
}

if (require.main === module) void runService('ai-drafting', config.port, startAiDrafting);
