import type { INestApplication } from '@nestjs/common';
import type { TenantId } from '@hotdash/contracts';
import { parseSettings, type SettingName } from '@hotdash/platform-config';
import { TenantDatabase } from '@hotdash/platform-db';
import { KafkaEventTransport } from './event-transport';
import { withConsumerLag } from './consumer-lag';
import type { KafkaClientPort } from './kafka';

export interface ServiceConsumerOptions {
  /** The consumer group (overridable with HOTDASH_<NAME>_CONSUMER, `-` as `_`; declared in the settings schema). */
  group: string;
  kafka: KafkaClientPort;
  /** Events of tenants this returns true for are skipped (see KafkaEventTransportOptions.skipTenant). */
  skipTenant?: (tenantId: TenantId) => Promise<boolean>;
  /** See KafkaEventTransportOptions.awaitPlacement. */
  awaitPlacement?: (tenantId: TenantId) => Promise<boolean>;
  /** See KafkaEventTransportOptions.unknownTenant (default here: skip, for consumers of every tenant's events). */
  unknownTenant?: 'dead-letter' | 'skip';
  env?: NodeJS.ProcessEnv;
}

/**
 * Connects a service's `@EventPattern` handlers to Kafka with the platform's settings, the same in
 * every service: the group (HOTDASH_<NAME>_CONSUMER), tries before dead-lettering
 * (HOTDASH_CONSUMER_MAX_ATTEMPTS), where a new group starts (HOTDASH_CONSUMER_START) and the session
 * timeout (HOTDASH_KAFKA_SESSION_TIMEOUT_MS). The app's filters are inherited: the ProblemFilter
 * hands event-handler errors back to the transport untouched.
 */
export function connectServiceConsumer(app: INestApplication, options: ServiceConsumerOptions): void {
  // Checked by the settings schema: a malformed HOTDASH_CONSUMER_MAX_ATTEMPTS (NaN) once meant no event was ever dead-lettered.
  const settings = parseSettings(options.env ?? process.env);
  const groupSetting = `HOTDASH_${options.group.toUpperCase().replace(/-/g, '_')}_CONSUMER`;
  if (!(groupSetting in settings)) throw new Error(`consumer group ${options.group}: ${groupSetting} is not declared in the settings schema (libs/platform/config/src/settings.ts)`);
  const group = (settings[groupSetting as SettingName] as string | undefined) ?? options.group;
  app.connectMicroservice(
    {
      strategy: new KafkaEventTransport({
        consumer: group,
        // Its lag per partition as a metric (hotdash_kafka_consumer_lag).
        kafka: withConsumerLag(options.kafka, group),
        tenantDb: app.get(TenantDatabase),
        maxAttempts: settings.HOTDASH_CONSUMER_MAX_ATTEMPTS,
        fromBeginning: settings.HOTDASH_CONSUMER_START === 'earliest',
        sessionTimeoutMs: settings.HOTDASH_KAFKA_SESSION_TIMEOUT_MS,
        unknownTenant: options.unknownTenant ?? 'skip',
        skipTenant: options.skipTenant,
        awaitPlacement: options.awaitPlacement,
        log: (m) => console.warn(m),
      }),
    },
    { inheritAppConfig: true },
  );
}
