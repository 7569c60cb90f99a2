import { DynamicModule, Global, Inject, Injectable, Logger, Module, OnApplicationShutdown } from '@nestjs/common';
import type { PlatformConfig } from '@hotdash/platform-config';
import { createRedis, type RedisClient, redisProbe } from '@hotdash/platform-jobs';
import { readinessProbe } from '@hotdash/platform-http';
import { Authenticator } from './authentication';
import { AUTH_SIGNING_KEY_ENV, AUTH_VERIFY_KEYS_ENV, AuthKeys } from './keys';
import { RevocationList } from './revocations';
import { TokenService, TokenServiceOptions } from './tokens';

/** The Redis connection auth uses (revocation markers). */
export const AUTH_REDIS = Symbol('AUTH_REDIS');

@Injectable()
class AuthRedisLifecycle implements OnApplicationShutdown {
  constructor(@Inject(AUTH_REDIS) private readonly redis: RedisClient) {}
  onApplicationShutdown(): void {
    this.redis.disconnect();
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
        { provide: AUTH_REDIS, useFactory: () => createRedis(config, { enableOfflineQueue: false, maxRetriesPerRequest: 1, connectTimeout: 2_000 }) },
        { provide: RevocationList, useFactory: (redis: RedisClient, tokens: TokenService) => new RevocationList(redis, tokens.accessTtlSeconds + 30), inject: [AUTH_REDIS, TokenService] },
        AuthRedisLifecycle,
        // Readiness: the gateway's limits, revocations and idempotency keys all live here.
        readinessProbe('redis', 'auth', AUTH_REDIS, (redis: RedisClient) => redisProbe(redis)),
        Authenticator,
      ],
      exports: [AuthKeys, TokenService, RevocationList, AUTH_REDIS, Authenticator],
    };
  }
}
