import { Module } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { OpenApiController, OpenApiDocument } from './openapi';
import { APP_GUARD, APP_INTERCEPTOR } from '@nestjs/core';
import type Redis from 'ioredis';
import { AUTH_REDIS } from '@hotdash/platform-auth';
import { PlanLimits } from './plan-limits';
import { AccessLog } from './access-log';
import { AccessAuditInterceptor } from './access-audit.interceptor';
import { AuditLogProxyController, UsageProxyController } from './service-proxies.controller';
import { ServiceClient } from './service-client';
import { IdempotentReplies } from './idempotency';
import { DocumentsProxyController } from './knowledge-proxies.controller';
import { DraftMetricsProxyController, DraftsProxyController, TicketsProxyController } from './drafts-proxies.controller';
import { OperatorsProxyController, OpsTenantsController, PublicProvisioningController, TenantProxyController } from './provisioning-proxies.controller';
import { RateLimitGuard } from './rate-limit.guard';
import { AccountPagesController } from './pages/account-pages.controller';
import { TenantRateLimiter } from './rate-limiter';

/** The gateway's own concerns on top of identity (the app composes IdentityModule too): per-tenant limits, the audit of access, and the routes to the services behind it. */
@Module({
  imports: [DiscoveryModule],
  controllers: [AccountPagesController, AuditLogProxyController, UsageProxyController, TenantProxyController, OperatorsProxyController, PublicProvisioningController, OpsTenantsController, DocumentsProxyController, TicketsProxyController, DraftsProxyController, DraftMetricsProxyController, OpenApiController],
  providers: [OpenApiDocument, ServiceClient, IdempotentReplies, AccessLog, { provide: APP_INTERCEPTOR, useClass: AccessAuditInterceptor }, PlanLimits, { provide: TenantRateLimiter, useFactory: (redis: Redis) => new TenantRateLimiter(redis), inject: [AUTH_REDIS] }, { provide: APP_GUARD, useClass: RateLimitGuard }],
  exports: [TenantRateLimiter, AccessLog],
})
export class GatewayModule {}
