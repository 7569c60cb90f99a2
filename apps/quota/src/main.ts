// Quota service: meters usage from events (API calls from the gateway's access events, storage
// from stored documents), keeps quota counters and exact reservations, and serves usage per day
// and reservations to the gateway and services (internal tokens).
import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { loadConfig } from '@hotdash/platform-config';
import { DatabaseModule, TenantDatabase, TenantStatusCache, Databases } from '@hotdash/platform-db';
import { createHttpApp, HealthController, runService } from '@hotdash/platform-http';
import { createKafkaClient, KafkaEventTransport } from '@hotdash/platform-messaging';
import { QuotaModule } from '@hotdash/quota';

const config = loadConfig();
const env = process.env;

@Module({ imports: [DatabaseModule.forRoot(config), QuotaModule], controllers: [HealthController] })
class QuotaAppModule {}

void runService('quota', Number(env.HOTDASH_QUOTA_PORT ?? 3105), async () => {
  const app = await createHttpApp(QuotaAppModule);
  const kafka = createKafkaClient({ brokers: config.kafka.brokers, clientId: 'quota' });
  const statuses = new TenantStatusCache(app.get(Databases));
  app.connectMicroservice(
    {
      strategy: new KafkaEventTransport({
        consumer: env.HOTDASH_QUOTA_CONSUMER ?? 'quota',
        kafka,
        tenantDb: app.get(TenantDatabase),
        maxAttempts: Number(env.HOTDASH_CONSUMER_MAX_ATTEMPTS ?? 5),
        fromBeginning: (env.HOTDASH_CONSUMER_START ?? 'earliest') !== 'latest',
        unknownTenant: 'skip',
        // Usage of a tenant being offboarded is not metered any more.
        skipTenant: (t) => statuses.isLeaving(t),
        log: (m) => console.warn(m),
      }),
    },
    { inheritAppConfig: true },
  );
  await app.startAllMicroservices();
  return { app, afterClose: [() => kafka.close()] };
});
