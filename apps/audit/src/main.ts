// Audit service: consumes every domain event over Kafka into per-tenant hash-chained audit logs,
// and relays the shards' outboxes (audit.recorded).
import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { loadConfig } from '@hotdash/platform-config';
import { DatabaseModule, Databases, ShardRouter, TenantDatabase } from '@hotdash/platform-db';
import { createHttpApp, HealthController } from '@hotdash/platform-http';
import { createKafkaClient, KafkaEventTransport, RelaySupervisor } from '@hotdash/platform-messaging';
import { AuditModule } from '@hotdash/audit';

const config = loadConfig();

@Module({ imports: [DatabaseModule.forRoot(config), AuditModule], controllers: [HealthController] })
class AuditAppModule {}

async function main(): Promise<void> {
  const port = Number(process.env.HOTDASH_AUDIT_PORT ?? 3107);
  const app = await createHttpApp(AuditAppModule);
  const kafka = createKafkaClient({ brokers: config.kafka.brokers, clientId: 'audit' });
  app.connectMicroservice(
    {
      strategy: new KafkaEventTransport({
        consumer: process.env.HOTDASH_AUDIT_CONSUMER ?? 'audit',
        kafka,
        tenantDb: app.get(TenantDatabase),
        maxAttempts: Number(process.env.HOTDASH_CONSUMER_MAX_ATTEMPTS ?? 5),
        fromBeginning: (process.env.HOTDASH_CONSUMER_START ?? 'earliest') !== 'latest',
        sessionTimeoutMs: process.env.HOTDASH_KAFKA_SESSION_TIMEOUT_MS ? Number(process.env.HOTDASH_KAFKA_SESSION_TIMEOUT_MS) : undefined,
        log: (m) => console.warn(m),
      }),
    },
    { inheritAppConfig: true },
  );
  const relays = new RelaySupervisor(app.get(Databases), app.get(ShardRouter), await kafka.producer(), {
    control: false,
    shards: true,
    onError: (e) => console.error(`[relay] ${e.message}`),
  });
  await app.startAllMicroservices();
  await relays.start();
  await app.listen(port, process.env.HOTDASH_BIND ?? '127.0.0.1');
  console.log(`audit consuming; health on http://127.0.0.1:${port}/health`);
  const shutdown = async (): Promise<void> => {
    await relays.stop();
    await app.close();
    await kafka.close();
    process.exit(0);
  };
  process.once('SIGTERM', () => void shutdown());
  process.once('SIGINT', () => void shutdown());
}

main().catch((err: Error) => {
  console.error(`audit failed to start: ${err.stack ?? err.message}`);
  process.exit(1);
});
