import { DynamicModule, Inject, Module, OnApplicationShutdown } from '@nestjs/common';
import { InternalAuthModule } from '@hotdash/platform-auth';
import type { PlatformConfig } from '@hotdash/platform-config';
import { PLATFORM_CONFIG } from '@hotdash/platform-db';
import { createKafkaClient, DeadLetterReader, type KafkaClientName, type KafkaClientPort } from '@hotdash/platform-messaging';
import { OpsActions } from '../shards.repository';
import { DeadLetters } from './dead-letters';
import { DeadLettersController } from './dead-letters.controller';
import { DEAD_LETTER_READER, DEAD_LETTERS_KAFKA } from './dead-letters.tokens';

class DeadLettersLifecycle implements OnApplicationShutdown {
  constructor(
    @Inject(DEAD_LETTER_READER) private readonly reader: DeadLetterReader,
    @Inject(DEAD_LETTERS_KAFKA) private readonly kafka: KafkaClientPort,
  ) {}
  async onApplicationShutdown(): Promise<void> {
    await this.reader.close();
    await this.kafka.close().catch(() => undefined);
  }
}

/**
 * The dead-letter API (GET /dead-letters, GET /dead-letters/:topic/:partition/:offset, POST …/replay,
 * POST /dead-letters/replays), for platform operators through the gateway's /ops/dead-letters. Served
 * by the provisioning service (which hosts the ops APIs and records ops actions); its own Kafka
 * client (HOTDASH_KAFKA_BROKERS, HOTDASH_KAFKA_CLIENT, or `client`) reads the dead-letter topics
 * without a consumer group and sends replays. Needs DatabaseModule in the app.
 */
@Module({})
export class DeadLettersModule {
  static register(options: { client?: KafkaClientName } = {}): DynamicModule {
    return {
      module: DeadLettersModule,
      // Every route needs the gateway's internal token (audience hotdash-internal:provisioning), a platform operator's.
      imports: [InternalAuthModule.forService('provisioning')],
      controllers: [DeadLettersController],
      providers: [
        { provide: DEAD_LETTERS_KAFKA, useFactory: (config: PlatformConfig) => createKafkaClient({ brokers: config.kafka.brokers, clientId: 'provisioning-dead-letters' }, options.client), inject: [PLATFORM_CONFIG] },
        { provide: DEAD_LETTER_READER, useFactory: (kafka: KafkaClientPort) => new DeadLetterReader(kafka), inject: [DEAD_LETTERS_KAFKA] },
        OpsActions,
        DeadLetters,
        DeadLettersLifecycle,
      ],
    };
  }
}
