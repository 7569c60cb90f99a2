import { DynamicModule, Inject, Module, OnApplicationShutdown } from '@nestjs/common';
import type { PlatformConfig } from '@hotdash/platform-config';
import { cryptoProviders, FieldCipher } from '@hotdash/platform-crypto';
import { PLATFORM_CONFIG } from '@hotdash/platform-db';
import { MailOutbox } from '@hotdash/platform-messaging';
import { InternalAuthModule, revocationStore, RevocationStore, stateRedis } from '@hotdash/platform-auth';
import { createRedis, type RedisClient, redisProbe } from '@hotdash/platform-jobs';
import { readinessProbe } from '@hotdash/platform-http';
import { OperatorsController } from './operators.controller';
import { OperatorsHandler } from './operators.handler';

/** The operators API's Redis connection (revocation markers; none with HOTDASH_STATE_STORE=embedded). */
const OPERATORS_REDIS = Symbol('OPERATORS_REDIS');

class OperatorsRedisLifecycle implements OnApplicationShutdown {
  constructor(@Inject(OPERATORS_REDIS) private readonly redis: RedisClient | null) {}
  onApplicationShutdown(): void {
    this.redis?.disconnect();
  }
}

/**
 * A tenant's operators over the internal API (invite, accept an invitation, change role or team,
 * remove, list): identity's accounts, served by the service the gateway calls for them
 * (apps/provisioning: `OperatorsModule.forService('provisioning')`, the gateway's proxies unchanged).
 * Needs DatabaseModule in the app.
 */
@Module({})
export class OperatorsModule {
  static forService(service: string): DynamicModule {
    return {
      module: OperatorsModule,
      // Every route needs the gateway's internal token (audience hotdash-internal:<service>).
      imports: [InternalAuthModule.forService(service)],
      controllers: [OperatorsController],
      providers: [
        OperatorsHandler,
        ...cryptoProviders(),
        // Invitation e-mails go through the platform's mail port.
        { provide: MailOutbox, useFactory: (cipher: FieldCipher) => new MailOutbox(cipher), inject: [FieldCipher] },
        // Revocation markers: removing an operator or changing a role ends their access tokens at once.
        { provide: OPERATORS_REDIS, useFactory: (config: PlatformConfig) => stateRedis(() => createRedis(config, { maxRetriesPerRequest: 2 })), inject: [PLATFORM_CONFIG] },
        OperatorsRedisLifecycle,
        readinessProbe('redis', 'operators', OPERATORS_REDIS, (redis: RedisClient | null) => (redis ? redisProbe(redis) : undefined)),
        { provide: RevocationStore, useFactory: (redis: RedisClient | null) => revocationStore(redis), inject: [OPERATORS_REDIS] },
      ],
    };
  }
}
