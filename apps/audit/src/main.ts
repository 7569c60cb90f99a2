// Audit service: consumes every domain event over Kafka into per-tenant hash-chained audit logs,
// and relays the shards' outboxes (audit.recorded).
import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { loadConfig } from '@hotdash/platform-config';
import { DatabaseModule, Databases, ShardRouter, TenantStatusCache } from '@hotdash/platform-db';
import { createHttpApp, HealthController, runService } from '@hotdash/platform-http';
import { connectServiceConsumer, createKafkaClient, RelaySupervisor } from '@hotdash/platform-messaging';
import { AuditModule } from '@hotdash/audit';

const config = loadConfig();

@Module({ imports: [DatabaseModule.forRoot(config), AuditModule], controllers: [HealthController] })
class AuditAppModule {}

void runService('audit', Number(process.env.HOTDASH_AUDIT_PORT ?? 3107), async () => {
  const app = await createHttpApp(AuditAppModule);
  const kafka = createKafkaClient({ brokers: config.kafka.brokers, clientId: 'audit' });
  const statuses = new TenantStatusCache(app.get(Databases));
  // Audit also hears of tenants whose provisioning was undone (nothing to record for them), and
  // skips tenants being offboarded: their data is being erased, their record is in the control plane.
  // A provisioning saga's first event precedes the tenant's placement: audit waits for it while the saga runs.
  connectServiceConsumer(app, { group: 'audit', kafka, skipTenant: (t) => statuses.isLeaving(t), awaitPlacement: (t) => statuses.mayBePlacedSoon(t) });
  const relays = new RelaySupervisor(app.get(Databases), app.get(ShardRouter), await kafka.producer(), {
    control: false,
    shards: true,
    onError: (e) => console.error(`[relay] ${e.message}`),
  });
  await app.startAllMicroservices();
  await relays.start();
  return { app, beforeClose: [() => relays.stop()], afterClose: [() => kafka.close()] };
});
