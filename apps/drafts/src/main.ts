// Drafts service: tickets (its API behind the gateway, and ticket.received from integrations), the
// operators' approval queue, their decisions on drafts (draft.approved / edited / rejected,
// reply.sent, draft.requested), and the drafts ai-drafting writes (draft.generated / draft.failed).
// First of all: tracing (a no-op without OTEL_* settings) must patch the modules it instruments before they load.
import './tracing';
import 'reflect-metadata';
// First: the environment is checked before any module that reads it is loaded.
import { config } from './service-config';
import { Module } from '@nestjs/common';
import { DatabaseModule, Databases, TenantStatusCache } from '@hotdash/platform-db';
import { createHttpApp, HealthModule, Readiness, runService, type RunningService } from '@hotdash/platform-http';
import { connectServiceConsumer, createKafkaClient } from '@hotdash/platform-messaging';
import { DraftsModule } from '@hotdash/drafts';

@Module({ imports: [HealthModule.forRoot(), DatabaseModule.forRoot(config), DraftsModule] })
export class DraftsAppModule {}

/** The drafts service's start: its app and what to close on shutdown (runService, or apps/embedded with every service in one process). */
export async function startDrafts(): Promise<RunningService> {
  const app = await createHttpApp(DraftsAppModule);
  const kafka = createKafkaClient({ brokers: config.kafka.brokers, clientId: 'drafts' });
  const dbs = app.get(Databases);
  app.get(Readiness).add('postgres', (ms) => dbs.ping(ms)).add('kafka', () => kafka.ping());
  const statuses = new TenantStatusCache(dbs);
  // A tenant being offboarded is skipped (its data is being erased).
  connectServiceConsumer(app, { group: 'drafts', kafka, skipTenant: (t) => statuses.isLeaving(t) });
  await app.startAllMicroservices();
  return { app, afterClose: [() => kafka.close()] };
}

if (require.main === module) void runService('drafts', config.port, startDrafts);
