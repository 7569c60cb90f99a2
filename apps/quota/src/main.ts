// Quota service: meters usage from events (API calls from the gateway's access events, storage
// from stored documents), keeps quota counters and exact reservations, and serves usage per day
// and reservations to the gateway and services (internal tokens).
import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { loadConfig } from '@hotdash/platform-config';
import { DatabaseModule, Databases, TenantStatusCache } from '@hotdash/platform-db';
import { createHttpApp, HealthController, runService } from '@hotdash/platform-http';
import { connectServiceConsumer, createKafkaClient } from '@hotdash/platform-messaging';
import { QuotaModule } from '@hotdash/quota';

const config = loadConfig();

@Module({ imports: [DatabaseModule.forRoot(config), QuotaModule], controllers: [HealthController] })
class QuotaAppModule {}

void runService('quota', Number(process.env.HOTDASH_QUOTA_PORT ?? 3105), async () => {
  const app = await createHttpApp(QuotaAppModule);
  const kafka = createKafkaClient({ brokers: config.kafka.brokers, clientId: 'quota' });
  const statuses = new TenantStatusCache(app.get(Databases));
  // Usage of a tenant being offboarded is not metered any more.
  connectServiceConsumer(app, { group: 'quota', kafka, skipTenant: (t) => statuses.isLeaving(t) });
  await app.startAllMicroservices();
  return { app, afterClose: [() => kafka.close()] };
});
