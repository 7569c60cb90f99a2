import { Global, Module } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { OpenApiController, OpenApiDocument } from './openapi';
import { APP_GUARD, APP_INTERCEPTOR } from '@nestjs/core';
import type Redis from 'ioredis';
import { AUTH_REDIS, RequestAdmission } from '@hotdash/platform-auth';
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
import { OpsMigrationsController, OpsShardsController } from './shards-proxies.controller';
import { OpsBackupsController, OpsTenantBackupsController } from './backups-proxies.controller';
import { OpsTenantMovesController } from './moves-proxies.controller';
import { OpsImportsController } from './imports-proxies.controller';
import { OpsTenantDedicatedController } from './dedicated-proxies.controller';
import { OpsRebalanceController } from './rebalance-proxies.controller';
import { AccountPagesController } from './pages/account-pages.controller';
import { TenantRateLimiter } from './rate-limiter';

/**
 * How the gateway admits a tenant request (global, so the identity module's auth guard uses it
 * too): the token's revocation and the tenant's limits in one Redis round trip.
 */
@Global()
@Module({
  providers: [PlanLimits, { provide: TenantRateLimiter, useFactory: (redis: Redis) => new TenantRateLimiter(redis), inject: [AUTH_REDIS] }, RateLimitGuard, { provide: RequestAdmission, useExisting: RateLimitGuard }],
  exports: [PlanLimits, TenantRateLimiter, RateLimitGuard, RequestAdmission],
})
export class GatewayAdmissionModule {}

/** The gateway's own concerns on top of identity (the app composes IdentityModule too): per-tenant limits, the audit of access, and the routes to the services behind it. */
@Module({
  imports: [DiscoveryModule, GatewayAdmissionModule],
  controllers: [AccountPagesController, AuditLogProxyController, UsageProxyController, TenantProxyController, OperatorsProxyController, PublicProvisioningController, OpsTenantsController, OpsTenantBackupsController, OpsTenantMovesController, OpsTenantDedicatedController, OpsBackupsController, OpsShardsController, OpsMigrationsController, OpsImportsController, OpsRebalanceController, DocumentsProxyController, TicketsProxyController, DraftsProxyController, DraftMetricsProxyController, OpenApiController],
  providers: [OpenApiDocument, ServiceClient, IdempotentReplies, AccessLog, { provide: APP_INTERCEPTOR, useClass: AccessAuditInterceptor }, { provide: APP_GUARD, useExisting: RateLimitGuard }],
  exports: [GatewayAdmissionModule, AccessLog],
})
export class GatewayModule {}
