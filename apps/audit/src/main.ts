// Audit service: consumes every domain event over Kafka into per-tenant hash-chained audit logs,
// and relays the shards' outboxes (audit.recorded).
import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { loadConfig } from '@hotdash/platform-config';
import { DatabaseModule, Databases, ShardRouter, TenantDatabase, TenantStatusCache } from '@hotdash/platform-db';
import { createHttpApp, HealthController, runService } from '@hotdash/platform-http';
import { createKafkaClient, KafkaEventTransport, RelaySupervisor } from '@hotdash/platform-messaging';
import { AuditModule } from '@hotdash/audit';

const config = loadConfig();
const env = process.env;

@Module({ imports: [DatabaseModule.forRoot(config), AuditModule], controllers: [HealthController] })
class AuditAppModule {}

void runService('audit', Number(env.HOTDASH_AUDIT_PORT ?? 3107), async () => {
  const app = await createHttpApp(AuditAppModule);
  const kafka = createKafkaClient({ brokers: config.kafka.brokers, clientId: 'audit' });
  const statuses = new TenantStatusCache(app.get(Databases));
  app.connectMicroservice(
    {
      strategy: new KafkaEventTransport({
        consumer: env.HOTDASH_AUDIT_CONSUMER ?? 'audit',
        kafka,
        tenantDb: app.get(TenantDatabase),
        maxAttempts: Number(env.HOTDASH_CONSUMER_MAX_ATTEMPTS ?? 5),
        fromBeginning: (env.HOTDASH_CONSUMER_START ?? 'earliest') !== 'latest',
        sessionTimeoutMs: env.HOTDASH_KAFKA_SESSION_TIMEOUT_MS ? Number(env.HOTDASH_KAFKA_SESSION_TIMEOUT_MS) : undefined,
        // Audit also hears of tenants whose provisioning was undone: nothing to record for them.
        unknownTenant: 'skip',
        // A tenant being offboarded is being erased; its offboarding record lives in the control plane.
        skipTenant: (t) => statuses.isLeaving(t),
        log: (m) => console.warn(m),
      }),
    },
    // Inherit the ProblemFilter, which hands event-handler errors back untouched to the transport.
    { inheritAppConfig: true },
  );
  const relays = new RelaySupervisor(app.get(Databases), app.get(ShardRouter), await kafka.producer(), {
    control: false,
    shards: true,
    onError: (e) => console.error(`[relay] ${e.message}`),
  });
  await app.startAllMicroservices();
  await relays.start();
  return { app, beforeClose: [() => relays.stop()], afterClose: [() => kafka.close()] };
});
