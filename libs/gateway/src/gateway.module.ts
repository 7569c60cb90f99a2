import { Global, Module } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { OpenApiController, OpenApiDocument } from './openapi';
import type { RedisClient } from '@hotdash/platform-jobs';
import { AUTH_REDIS, RequestAdmission, RequestAudit } from '@hotdash/platform-auth';
import { cryptoProviders } from '@hotdash/platform-crypto';
import { PlanLimits } from './plan-limits';
import { AccessLog } from './access-log';
import { AccessAudit } from './access-audit';
import { AuditLogProxyController, UsageProxyController } from './service-proxies.controller';
import { ServiceClient } from './service-client';
import { IdempotentReplies } from './idempotency';
import { DocumentsProxyController } from './knowledge-proxies.controller';
import { DraftMetricsProxyController, DraftsProxyController, TicketsProxyController } from './drafts-proxies.controller';
import { QueueProxyController } from './queue-proxies.controller';
import { OperatorsProxyController, OpsTenantsController, PublicProvisioningController, TenantProxyController } from './provisioning-proxies.controller';
import { SettingsProxyController } from './settings-proxies.controller';
import { ExportsProxyController } from './exports-proxies.controller';
import { PrivacyProxyController } from './privacy-proxies.controller';
import { GatewayAdmission } from './admission';
import { OpsMigrationsController, OpsShardsController } from './shards-proxies.controller';
import { OpsBackupsController, OpsTenantBackupsController } from './backups-proxies.controller';
import { OpsTenantMovesController } from './moves-proxies.controller';
import { OpsImportsController } from './imports-proxies.controller';
import { OpsTenantDedicatedController } from './dedicated-proxies.controller';
import { OpsRebalanceController } from './rebalance-proxies.controller';
import { OpsKeysController } from './keys-proxies.controller';
import { OpsDeadLettersController } from './dlq-proxies.controller';
import { AccountPagesController } from './pages/account-pages.controller';
import { rateLimitStore } from './rate-limiter';
import { RateLimitStore } from './rate-limit-store';
import { PortalStatic } from './portal-static';
import { QueueDashboardModule } from './queue-dashboard';

/**
 * What the gateway adds to the platform's one auth guard and one interceptor (global, so the
 * identity module's AuthGuard and TenantContextInterceptor use them): admission (the token's
 * revocation and the tenant's limits in one Redis round trip; public routes' limits) and the audit
 * of access. The gateway registers no guard or interceptor of its own.
 */
@Global()
@Module({
  providers: [
    PlanLimits,
    // Redis (one script per request) or the embedded process's memory: HOTDASH_STATE_STORE, chosen in rateLimitStore.
    { provide: RateLimitStore, useFactory: (redis: RedisClient | null) => rateLimitStore(redis), inject: [AUTH_REDIS] },
    GatewayAdmission,
    { provide: RequestAdmission, useExisting: GatewayAdmission },
    // The access log seals each entry's IP address under the tenant's data key.
    ...cryptoProviders(),
    AccessLog,
    AccessAudit,
    { provide: RequestAudit, useExisting: AccessAudit },
  ],
  exports: [PlanLimits, RateLimitStore, GatewayAdmission, RequestAdmission, AccessLog, AccessAudit, RequestAudit],
})
export class GatewayAdmissionModule {}

/** The gateway's own concerns on top of identity (the app composes IdentityModule too): per-tenant limits, the audit of access, and the routes to the services behind it. */
@Module({
  // QueueDashboardModule: the ops queue dashboard at /ops/queues/ (@bull-board, read-only, no job payloads).
  imports: [DiscoveryModule, GatewayAdmissionModule, QueueDashboardModule.forQueues()],
  controllers: [AccountPagesController, AuditLogProxyController, UsageProxyController, TenantProxyController, SettingsProxyController, PrivacyProxyController, ExportsProxyController, OperatorsProxyController, PublicProvisioningController, OpsTenantsController, OpsTenantBackupsController, OpsTenantMovesController, OpsTenantDedicatedController, OpsBackupsController, OpsShardsController, OpsMigrationsController, OpsImportsController, OpsRebalanceController, OpsKeysController, OpsDeadLettersController, DocumentsProxyController, TicketsProxyController, QueueProxyController, DraftsProxyController, DraftMetricsProxyController, OpenApiController],
  // PortalStatic: the web portal at / (dist/portal), behind every API route.
  providers: [OpenApiDocument, ServiceClient, IdempotentReplies, PortalStatic],
  exports: [GatewayAdmissionModule],
})
export class GatewayModule {}
