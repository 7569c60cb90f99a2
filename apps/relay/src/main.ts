// Relay: publishes the control database's outbox and every registered shard's outbox to Kafka
// (a shard registered while it runs is picked up on the control plane's hotdash_shards
// notification, or at the latest after HOTDASH_RELAY_SHARD_REFRESH_MS, default 5 s), and delivers
// the shards' mail outboxes (to HOTDASH_SMTP_URL, the local Mailpit under `npm start`, or as .eml
// files into HOTDASH_MAIL_DIR). Several replicas may
// run: each outbox is drained by one relay at a time, mail rows are locked with SKIP LOCKED. It also
// deletes what was delivered longer ago than its retention (HOTDASH_RETENTION_SWEEP_MS and the
// HOTDASH_*_RETENTION_DAYS settings; several replicas' sweeps skip each other's locked rows).
// First of all: tracing (a no-op without OTEL_* settings) must patch the modules it instruments before they load.
import './tracing';
import 'reflect-metadata';
// First: the environment is checked before any module that reads it is loaded.
import { config } from './service-config';
import { Module } from '@nestjs/common';
import { cryptoProviders, FieldCipher } from '@hotdash/platform-crypto';
import { DatabaseModule, Databases, ShardRouter } from '@hotdash/platform-db';
import { createHttpApp, HealthModule, Readiness, runService, type RunningService } from '@hotdash/platform-http';
import { createKafkaClient, DeliveredRetention, MailDispatcher, mailSenderFromEnv, observeRelayLag, RelaySupervisor } from '@hotdash/platform-messaging';

@Module({ imports: [HealthModule.forRoot(), DatabaseModule.forRoot(config)], providers: cryptoProviders() })
class RelayAppModule {}

/** The relay service's start: its app and what to close on shutdown (runService, or apps/embedded with every service in one process). */
export async function startRelay(): Promise<RunningService> {
  const app = await createHttpApp(RelayAppModule);
  const dbs = app.get(Databases);
  const router = app.get(ShardRouter);
  const kafka = createKafkaClient({ brokers: config.kafka.brokers, clientId: 'relay' });
  // Readiness: the control database and every shard it relays (postgres), the broker it publishes to.
  app.get(Readiness).add('postgres', (ms) => dbs.ping(ms)).add('kafka', () => kafka.ping());
  const refresh = config.settings.HOTDASH_RELAY_SHARD_REFRESH_MS;
  const relays = new RelaySupervisor(dbs, router, await kafka.producer(), {
    control: true,
    shards: true,
    shardRefreshMs: refresh,
    onError: (e) => console.error(`[relay] ${e.message}`),
  });
  await relays.start();
  // The outboxes' backlog on the metrics endpoint (hotdash_relay_lag_events, hotdash_relay_lag_oldest).
  observeRelayLag(dbs, router);

  // Retention: what the outboxes, inboxes and mail outboxes delivered longer ago than their
  // retention is deleted, hourly (HOTDASH_RETENTION_SWEEP_MS; the first sweep a minute after start).
  const retention = new DeliveredRetention(dbs, router);
  retention.start();

  // Mail (invitations): every non-retired shard's mail outbox, every second.
  const sender = mailSenderFromEnv();
  const mail = new MailDispatcher(dbs, app.get(FieldCipher), sender);
  let mailing: Promise<void> | undefined;
  const mailTimer = setInterval(() => {
    if (mailing) return;
    mailing = (async () => {
      for (const shard of await router.listShards()) if (shard.status !== 'retired') await mail.drain(shard);
    })()
      .catch((e: Error) => console.error(`[mail] ${e.message}`))
      .finally(() => (mailing = undefined));
  }, 1_000);

  return {
    app,
    beforeClose: [
      async () => {
        clearInterval(mailTimer);
        await mailing;
        sender.close?.();
      },
      () => relays.stop(),
      () => retention.stop(),
    ],
    afterClose: [() => kafka.close()],
  };
}

if (require.main === module) void runService('relay', config.port, startRelay);
