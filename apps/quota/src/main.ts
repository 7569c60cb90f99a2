// Quota service: meters usage from events (API calls from the gateway's access events, storage
// from stored documents), keeps quota counters and exact reservations, and serves usage per day
// and reservations to the gateway and services (internal tokens).
import 'reflect-metadata';
// First: the environment is checked before any module that reads it is loaded.
import { config } from './service-config';
import { Module } from '@nestjs/common';
import { DatabaseModule, Databases, TenantStatusCache } from '@hotdash/platform-db';
import { createHttpApp, HealthController, runService } from '@hotdash/platform-http';
import { connectServiceConsumer, createKafkaClient } from '@hotdash/platform-messaging';
import { QuotaModule } from '@hotdash/quota';

@Module({ imports: [DatabaseModule.forRoot(config), QuotaModule], controllers: [HealthController] })
class QuotaAppModule {}

void runService('quota', config.port, async () => {
  const app = await createHttpApp(QuotaAppModule);
  const kafka = createKafkaClient({ brokers: config.kafka.brokers, clientId: 'quota' });
  const statuses = new TenantStatusCache(app.get(Databases));
  // Usage of a tenant being offboarded is not metered any more.
  connectServiceConsumer(app, { group: 'quota', kafka, skipTenant: (t) => statuses.isLeaving(t) });
  await app.startAllMicroservices();
  return { app, afterClose: [() => kafka.close()] };
});
