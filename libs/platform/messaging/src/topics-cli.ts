// Creates the platform's topics and their dead-letter topics when missing (idempotent).
import { ALL_TOPICS, deadLetterTopic } from '@hotdash/contracts';
import { loadConfig } from '@hotdash/platform-config';
import { createKafkaClient } from './kafka';

export const TOPIC_PARTITIONS = 6;

async function main(): Promise<void> {
  const config = loadConfig();
  const kafka = createKafkaClient({ brokers: config.kafka.brokers, clientId: 'hotdash-topics' });
  try {
    await kafka.ensureTopics(ALL_TOPICS.flatMap((t) => [t, deadLetterTopic(t)]).map((topic) => ({ topic, partitions: TOPIC_PARTITIONS })));
    console.log(`[topics] ${ALL_TOPICS.length * 2} topics present on ${config.kafka.brokers.join(',')}`);
  } finally {
    await kafka.close();
  }
}

if (require.main === module) {
  main().catch((err: Error) => {
    console.error(`[topics] ${err.message}; is Kafka running? start it with npm run infra:up`);
    process.exit(1);
  });
}
