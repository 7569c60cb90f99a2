// Provisioning service: HTTP API for tenant sign-up, and the relay of the control-plane outbox.
import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { loadConfig } from '@hotdash/platform-config';
import { DatabaseModule, Databases, ShardRouter } from '@hotdash/platform-db';
import { createHttpApp, HealthController, runService } from '@hotdash/platform-http';
import { createKafkaClient, EmlFileMailSender, MailDispatcher, RelaySupervisor } from '@hotdash/platform-messaging';
import { FieldCipher } from '@hotdash/platform-crypto';
import { join } from 'node:path';
import { SagaEngine } from '@hotdash/platform-jobs';
import { ProvisioningModule } from '@hotdash/provisioning';

const config = loadConfig();

@Module({ imports: [DatabaseModule.forRoot(config), ProvisioningModule], controllers: [HealthController] })
class ProvisioningAppModule {}

void runService('provisioning', Number(process.env.HOTDASH_PROVISIONING_PORT ?? 3101), async () => {
  // Sign-ups may carry initial knowledge-base documents.
  const app = await createHttpApp(ProvisioningAppModule, { bodyLimit: '1mb' });
  const engine = app.get(SagaEngine);
  engine.startWorker();
  const resumed = await engine.resume();
  if (resumed) console.log(`provisioning resumed ${resumed} unfinished saga(s)`);
  const kafka = createKafkaClient({ brokers: config.kafka.brokers, clientId: 'provisioning' });
  const relays = new RelaySupervisor(app.get(Databases), app.get(ShardRouter), await kafka.producer(), {
    control: true,
    shards: false,
    onError: (e) => console.error(`[relay] ${e.message}`),
  });
  await relays.start();
  // Invitation mail: the tenants' mail outboxes, delivered as .eml files locally (HOTDASH_MAIL_DIR).
  const mailDir = process.env.HOTDASH_MAIL_DIR ?? join(__dirname, '..', '..', '..', '.local', 'mail');
  const mail = new MailDispatcher(app.get(Databases), app.get(FieldCipher), new EmlFileMailSender(mailDir));
  let mailing = false;
  const mailTimer = setInterval(() => {
    if (mailing) return;
    mailing = true;
    void (async () => {
      for (const shard of await app.get(ShardRouter).listShards()) await mail.drain(shard);
    })()
      .catch((e: Error) => console.error(`[mail] ${e.message}`))
      .finally(() => (mailing = false));
  }, 1_000);
  return { app, beforeClose: [async () => clearInterval(mailTimer), () => relays.stop()], afterClose: [() => kafka.close()] };
});
