import { Global, Module } from '@nestjs/common';
import type { TenantId } from '@hotdash/contracts';
import { AuditLogRepository, VerifyAuditChainHandler } from '@hotdash/audit';
import type { TenantDatabase, TenantTx } from '@hotdash/platform-db';
import { TENANT_AUDIT_CHAIN, type AuditChainCheck, type TenantAuditChain } from '@hotdash/provisioning';

/**
 * The audit service's own chain code, for tenant restores (provisioning's TENANT_AUDIT_CHAIN):
 * `lock` is the audit log's append lock (AuditLogRepository.lockHead), `verify` the audit service's
 * verification (VerifyAuditChainHandler) reading through the restore's transaction: its
 * withTenant() calls are answered with that transaction, so the chain checked is the one being
 * restored, before it is committed.
 */
export function auditChainOfLibrary(log = new AuditLogRepository()): TenantAuditChain {
  return {
    async lock(tx: TenantTx, tenantId: TenantId): Promise<void> {
      await log.lockHead(tx, tenantId);
    },
    verify(tx: TenantTx, tenantId: TenantId): Promise<AuditChainCheck> {
      const inTransaction = { withTenant: <T>(id: TenantId, fn: (t: TenantTx) => Promise<T>) => (id === tenantId ? fn(tx) : Promise.reject(new Error(`the restore's transaction is tenant ${tenantId}'s, not ${id}'s`))) };
      return new VerifyAuditChainHandler(inTransaction as unknown as TenantDatabase, log).execute(tenantId);
    },
  };
}

/** Binds TENANT_AUDIT_CHAIN for the provisioning app (global: ProvisioningModule's restore handler injects it). */
@Global()
@Module({ providers: [{ provide: TENANT_AUDIT_CHAIN, useFactory: () => auditChainOfLibrary() }], exports: [TENANT_AUDIT_CHAIN] })
export class TenantAuditChainModule {}
