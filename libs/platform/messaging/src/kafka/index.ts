import { readSetting } from '@hotdash/platform-config';
import type { KafkaClientOptions, KafkaClientPort } from './kafka.port';
import { KafkajsClient } from './kafkajs.adapter';

export * from './kafka.port';

export type KafkaClientName = 'kafkajs' | 'platformatic';

/**
 * The platform's Kafka client. The default is chosen by bench/kafka-clients.bench.ts (see
 * docs/benchmarks.md); HOTDASH_KAFKA_CLIENT overrides it.
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
    default:
      throw new Error(`unknown HOTDASH_KAFKA_CLIENT ${JSON.stringify(name)}: use kafkajs or platformatic`);
  }
}
