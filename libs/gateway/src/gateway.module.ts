import { Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import type Redis from 'ioredis';
import { AUTH_REDIS } from '@hotdash/platform-auth';
import { PlanLimits } from './plan-limits';
import { RateLimitGuard } from './rate-limit.guard';
import { TenantRateLimiter } from './rate-limiter';

/** The gateway's own concerns on top of identity (the app composes IdentityModule too): per-tenant limits (and, next, audit of access and the routes to the services). */
@Module({
  providers: [PlanLimits, { provide: TenantRateLimiter, useFactory: (redis: Redis) => new TenantRateLimiter(redis), inject: [AUTH_REDIS] }, { provide: APP_GUARD, useClass: RateLimitGuard }],
  exports: [TenantRateLimiter],
})
export class GatewayModule {}
