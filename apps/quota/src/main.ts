// Quota service: meters usage from events (API calls from the gateway's access events, storage
// from stored documents), keeps quota counters and exact reservations, and serves usage per day
// and reservations to the gateway and services (internal tokens).
// First of all: tracing (a no-op without OTEL_* settings) must patch the modules it instruments before they load.
import './tracing';
import 'reflect-metadata';
// First: the environment is checked before any module that reads it is loaded.
import { config } from './service-config';
import { Module } from '@nestjs/common';
import { DatabaseModule, Databases, TenantStatusCache } from '@hotdash/platform-db';
import { createHttpApp, HealthModule, Readiness, runService, type RunningService } from '@hotdash/platform-http';
import { connectServiceConsumer, createKafkaClient } from '@hotdash/platform-messaging';
import { QuotaModule } from '@hotdash/quota';

@Module({ imports: [HealthModule.forRoot(), DatabaseModule.forRoot(config), QuotaModule] })
class QuotaAppModule {}

/** The quota service's start: its app and what to close on shutdown (runService, or apps/embedded with every service in one process). */
export async function startQuota(): Promise<RunningService> {
  const app = await createHttpApp(QuotaAppModule);
  const kafka = createKafkaClient({ brokers: config.kafka.brokers, clientId: 'quota' });
  const dbs = app.get(Databases);
  app.get(Readiness).add('postgres', (ms) => dbs.ping(ms)).add('kafka', () => kafka.ping());
  const statuses = new TenantStatusCache(dbs);
  // Usage of a tenant being offboarded is not metered any more.
  connectServiceConsumer(app, { group: 'quota', kafka, skipTenant: (t) => statuses.isLeaving(t) });
  await app.startAllMicroservices();
  return { app, afterClose: [() => kafka.close()] };
}

if (require.main === module) void runService('quota', config.port, startQuota);
