import type { TenantId } from '@hotdash/contracts';
import type { TenantTx } from '@hotdash/platform-db';

/** The outcome of verifying a tenant's audit chain (the audit service's ChainVerification). */
export interface AuditChainCheck {
  ok: boolean;
  checked: number;
  firstBroken?: { seq: number; id: string | null; reason: string; expected: string; actual: string };
}

/**
 * The audit service's hash chain, as a restore needs it, inside the restore's own transaction:
 * `lock` takes the chain's append lock (appends of the audit service wait until the transaction
 * ends, so none slips in between the rows restored and the chain check, and the next ones continue
 * the restored chain); `verify` walks the chain as the audit service's verification does, reading
 * through the transaction (rows not committed yet included), so a restore whose chain does not
 * verify is rolled back. Provisioning may not import the audit library (one service lib never imports
 * another): the provisioning app binds it (apps/provisioning, TENANT_AUDIT_CHAIN).
 */
export interface TenantAuditChain {
  lock(tx: TenantTx, tenantId: TenantId): Promise<void>;
  verify(tx: TenantTx, tenantId: TenantId): Promise<AuditChainCheck>;
}

export const TENANT_AUDIT_CHAIN = Symbol('TENANT_AUDIT_CHAIN');
