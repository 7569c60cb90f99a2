// Audit service: consumes every domain event over Kafka into per-tenant hash-chained audit logs.
// First of all: tracing (a no-op without OTEL_* settings) must patch the modules it instruments before they load.
import './tracing';
import 'reflect-metadata';
// First: the environment is checked before any module that reads it is loaded.
import { config } from './service-config';
import { Module } from '@nestjs/common';
import { DatabaseModule, Databases } from '@hotdash/platform-db';
import { createHttpApp, HealthModule, Readiness, runService, type RunningService } from '@hotdash/platform-http';
import { tenantStatusCacheWithSagas } from '@hotdash/platform-jobs';
import { connectServiceConsumer, createKafkaClient } from '@hotdash/platform-messaging';
import { AuditModule } from '@hotdash/audit';

@Module({ imports: [HealthModule.forRoot(), DatabaseModule.forRoot(config), AuditModule] })
class AuditAppModule {}

/** The audit service's start: its app and what to close on shutdown (runService, or apps/embedded with every service in one process). */
export async function startAudit(): Promise<RunningService> {
  const app = await createHttpApp(AuditAppModule);
  const kafka = createKafkaClient({ brokers: config.kafka.brokers, clientId: 'audit' });
  const dbs = app.get(Databases);
  app.get(Readiness).add('postgres', (ms) => dbs.ping(ms)).add('kafka', () => kafka.ping());
  // Knows of running sagas (asked of the saga engine): see awaitPlacement below.
  const statuses = tenantStatusCacheWithSagas(dbs);
  // Audit also hears of tenants whose provisioning was undone (nothing to record for them), and
  // skips tenants being offboarded: their data is being erased, their record is in the control plane.
  // A provisioning saga's first event precedes the tenant's placement: audit waits for it while the saga runs.
  connectServiceConsumer(app, { group: 'audit', kafka, skipTenant: (t) => statuses.isLeaving(t), awaitPlacement: (t) => statuses.mayBePlacedSoon(t) });
  await app.startAllMicroservices();
  return { app, afterClose: [() => kafka.close()] };
}

if (require.main === module) void runService('audit', config.port, startAudit);
