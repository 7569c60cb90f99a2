// Provisioning service: HTTP API for tenant sign-up, and the relay of the control-plane outbox.
import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { loadConfig } from '@hotdash/platform-config';
import { DatabaseModule, Databases, ShardRouter } from '@hotdash/platform-db';
import { createHttpApp, HealthController } from '@hotdash/platform-http';
import { createKafkaClient, RelaySupervisor } from '@hotdash/platform-messaging';
import { ProvisioningModule } from '@hotdash/provisioning';

const config = loadConfig();

@Module({ imports: [DatabaseModule.forRoot(config), ProvisioningModule], controllers: [HealthController] })
class ProvisioningAppModule {}

async function main(): Promise<void> {
  const port = Number(process.env.HOTDASH_PROVISIONING_PORT ?? 3101);
  const app = await createHttpApp(ProvisioningAppModule);
  const kafka = createKafkaClient({ brokers: config.kafka.brokers, clientId: 'provisioning' });
  const relays = new RelaySupervisor(app.get(Databases), app.get(ShardRouter), await kafka.producer(), {
    control: true,
    shards: false,
    onError: (e) => console.error(`[relay] ${e.message}`),
  });
  await relays.start();
  await app.listen(port, process.env.HOTDASH_BIND ?? '127.0.0.1');
  console.log(`provisioning listening on http://127.0.0.1:${port}`);
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
  console.error(`provisioning failed to start: ${err.stack ?? err.message}`);
  process.exit(1);
});
