import { readSetting } from '@hotdash/platform-config';
import type { KafkaClientOptions, KafkaClientPort } from './kafka.port';
import { KafkajsClient } from './kafkajs.adapter';

export * from './kafka.port';

export type KafkaClientName = 'kafkajs' | 'platformatic' | 'in-process';

/**
 * The platform's event bus client. The default Kafka client is chosen by
 * bench/kafka-clients.bench.ts (see docs/benchmarks.md); HOTDASH_KAFKA_CLIENT overrides it.
 * `in-process` is the embedded mode's bus (in-process.adapter.ts): no broker, the platform's topics
 * present from the start, logs under HOTDASH_BUS_DIR (`brokers` is not used).
 */
export function createKafkaClient(options: KafkaClientOptions, name: KafkaClientName = readSetting('HOTDASH_KAFKA_CLIENT')): KafkaClientPort {
  switch (name) {
    case 'kafkajs':
      return new KafkajsClient(options);
    case 'platformatic': {
      // Loaded lazily: only the selected client's code is loaded.
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { PlatformaticKafkaClient } = require('./platformatic.adapter') as typeof import('./platformatic.adapter');
      return new PlatformaticKafkaClient(options);
    }
    case 'in-process': {
      /* eslint-disable @typescript-eslint/no-require-imports */
      const { InProcessKafkaClient } = require('./in-process.adapter') as typeof import('./in-process.adapter');
      const { ALL_TOPICS, deadLetterTopic } = require('@hotdash/contracts') as typeof import('@hotdash/contracts');
      const { TOPIC_PARTITIONS } = require('../topics-cli') as typeof import('../topics-cli');
      /* eslint-enable @typescript-eslint/no-require-imports */
      return new InProcessKafkaClient({
        clientId: options.clientId,
        directory: readSetting('HOTDASH_BUS_DIR'),
        retentionBytes: readSetting('HOTDASH_BUS_RETENTION_BYTES'),
        retentionMs: readSetting('HOTDASH_BUS_RETENTION_HOURS') * 3_600_000,
        topics: ALL_TOPICS.flatMap((t) => [t, deadLetterTopic(t)]).map((topic) => ({ topic, partitions: TOPIC_PARTITIONS })),
      });
    }
    default:
      throw new Error(`unknown HOTDASH_KAFKA_CLIENT ${JSON.stringify(name)}: use platformatic, kafkajs or in-process`);
  }
}
