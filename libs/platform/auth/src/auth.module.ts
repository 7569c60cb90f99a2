import { DynamicModule, Global, Inject, Injectable, Logger, Module, OnApplicationShutdown } from '@nestjs/common';
import type { PlatformConfig } from '@hotdash/platform-config';
import { createRedis, type RedisClient, redisProbe } from '@hotdash/platform-jobs';
import { readinessProbe } from '@hotdash/platform-http';
import { Authenticator } from './authentication';
import { AUTH_SIGNING_KEY_ENV, AUTH_VERIFY_KEYS_ENV, AuthKeys } from './keys';
import { TenantLimitsStore } from './limits';
import { RevocationStore } from './revocations';
import { EphemeralStore } from './state/ephemeral-store';
import { IdempotencyStore } from './state/idempotency-store';
import { ephemeralStore, idempotencyStore, revocationStore, stateRedis, tenantLimitsStore } from './state/state-stores';
import { TokenService, TokenServiceOptions } from './tokens';

/** The Redis connection auth uses (revocation markers, the gateway's limits, idempotency keys, sign-in states); null with HOTDASH_STATE_STORE=embedded. */
export const AUTH_REDIS = Symbol('AUTH_REDIS');

@Injectable()
class AuthRedisLifecycle implements OnApplicationShutdown {
  constructor(@Inject(AUTH_REDIS) private readonly redis: RedisClient | null) {}
  onApplicationShutdown(): void {
    this.redis?.disconnect();
  }
}

/**
 * Tokens and revocations for any service: the gateway signs (it holds the signing key), services
 * verify internal tokens and write revocation markers (provisioning, when an operator is removed).
 */
@Global()
@Module({})
export class AuthModule {
  static forRoot(config: PlatformConfig, options: TokenServiceOptions & { keys?: AuthKeys } = {}): DynamicModule {
    const keys = options.keys ?? AuthKeys.fromEnv();
    if (keys.development)
      new Logger('auth').warn(
        `tokens are signed and checked with the PUBLIC development key: anyone can mint a token this service accepts. Fine on a developer's machine; anywhere else set ${AUTH_SIGNING_KEY_ENV} (gateway) and ${AUTH_VERIFY_KEYS_ENV} (every service), see docs/operations.md`,
      );
    return {
      module: AuthModule,
      providers: [
        { provide: AuthKeys, useValue: keys },
        { provide: TokenService, useFactory: () => new TokenService(keys, options) },
        // Commands fail fast while Redis is away (no offline queue): auth answers 503 rather than hang.
        // No auto-pipelining: a request's one command (the gateway's decision, which also carries
        // the tenant's in-flight releases) goes out at once; batching them cost more Node CPU per
        // request than it saved Redis (docs/benchmarks.md, gateway read). Whoever sends several
        // commands together pipelines them explicitly.
        // The single node or the Redis Cluster (HOTDASH_REDIS_CLUSTER_NODES): createRedis.
        // Null with the embedded state store (no Redis at all: the ports below use the embedded state).
        { provide: AUTH_REDIS, useFactory: () => stateRedis(() => createRedis(config, { enableOfflineQueue: false, maxRetriesPerRequest: 1, connectTimeout: 2_000 })) },
        AuthRedisLifecycle,
        // Readiness: the gateway's limits, revocations and idempotency keys all live here (when it is Redis).
        readinessProbe('redis', 'auth', AUTH_REDIS, (redis: RedisClient | null) => (redis ? redisProbe(redis) : undefined)),
        // The state ports, each from its one factory (state/state-stores.ts): Redis or embedded.
        { provide: RevocationStore, useFactory: (redis: RedisClient | null, tokens: TokenService) => revocationStore(redis, tokens.accessTtlSeconds + 30), inject: [AUTH_REDIS, TokenService] },
        { provide: IdempotencyStore, useFactory: (redis: RedisClient | null) => idempotencyStore(redis), inject: [AUTH_REDIS] },
        { provide: EphemeralStore, useFactory: (redis: RedisClient | null) => ephemeralStore(redis), inject: [AUTH_REDIS] },
        { provide: TenantLimitsStore, useFactory: (redis: RedisClient | null) => tenantLimitsStore(redis), inject: [AUTH_REDIS] },
        Authenticator,
      ],
      exports: [AuthKeys, TokenService, RevocationStore, IdempotencyStore, EphemeralStore, TenantLimitsStore, AUTH_REDIS, Authenticator],
    };
  }
}
