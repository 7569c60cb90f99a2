// A relay in a process of its own, for crash specs: publishes one database's outbox until killed.
// HOTDASH_RELAY_LOCATION: JSON {host, port, database}. HOTDASH_RELAY_CRASH_AFTER_SEND: probability
// (0..1; 1: at the first batch) of SIGKILLing itself after Kafka acknowledged a batch and before
// marking it published; it prints `crash-after-send <n>` first.
import { writeSync } from 'node:fs';
import { loadConfig } from '@hotdash/platform-config';
import { Databases } from '@hotdash/platform-db';
import { createKafkaClient, OutboxRelay } from '@hotdash/platform-messaging';

async function main(): Promise<void> {
  const config = loadConfig();
  const location = JSON.parse(process.env.HOTDASH_RELAY_LOCATION ?? '');
  const crashP = Number(process.env.HOTDASH_RELAY_CRASH_AFTER_SEND ?? 0);
  const dbs = new Databases(config);
  const kafka = createKafkaClient({ brokers: config.kafka.brokers, clientId: 'relay-child' });
  const relay = new OutboxRelay(dbs, location, await kafka.producer(), {
    batchSize: Number(process.env.HOTDASH_RELAY_BATCH ?? 5),
    afterSend: (n) => {
      if (crashP > 0 && (crashP >= 1 || Math.random() < crashP)) {
        // Said before dying, so the spec knows the crash point was reached (stdout is a pipe: written synchronously).
        writeSync(1, `crash-after-send ${n}\n`);
        process.kill(process.pid, 'SIGKILL');
      }
    },
    onPublished: (n) => console.log(`published ${n}`),
    onError: (e) => console.error(`relay error: ${e.message}`),
  });
  relay.start();
  console.log('relay started');
}

void main();
