import type { TenantId } from '@hotdash/contracts';
import { Databases } from './databases';
import { TenantDirectory } from './tenant-directory';

export type TenantStatusName = 'provisioning' | 'active' | 'suspended' | 'offboarding' | 'offboarded';

/** A write for a tenant that does not accept writes (suspended, being offboarded). Maps to 423 tenant-suspended. */
export class TenantNotWritableError extends Error {
  readonly code = 'tenant-suspended';
  constructor(
    readonly tenantId: string,
    readonly status: string,
  ) {
    super(`tenant ${tenantId} is ${status}: writes are refused until it is reactivated (reads still work)`);
    this.name = 'TenantNotWritableError';
  }
}

/**
 * Whether a saga of the tenant is running. The saga engine (libs/platform/jobs, owner of `sagas`)
 * provides it (`sagaRunningProbe`); platform/db cannot ask it itself, since platform/jobs depends on
 * platform/db.
 */
export type SagaRunningProbe = (tenantId: TenantId) => Promise<boolean>;

export interface TenantStatusCacheOptions {
  /** Answers mayBePlacedSoon(); without it, no saga is known to be running. */
  sagaRunning?: SagaRunningProbe;
}

/**
 * The lifecycle status of tenants, from the control plane, cached for `ttlMs` (a suspension takes
 * effect everywhere within that time). Services call assertWritable() before a tenant's writes;
 * event consumers use isSuspended() to skip a suspended tenant's new work.
 */
export class TenantStatusCache {
  /** The tenant's record comes from the one tenant directory; this cache only says how old an answer may be. */
  private readonly directory: TenantDirectory;

  constructor(
    dbs: Databases,
    private readonly ttlMs = 2_000,
    private readonly options: TenantStatusCacheOptions = {},
  ) {
    this.directory = new TenantDirectory(dbs);
  }

  async status(tenantId: TenantId): Promise<TenantStatusName | undefined> {
    return (await this.directory.of(tenantId, { maxAgeMs: this.ttlMs }))?.status;
  }

  async assertWritable(tenantId: TenantId): Promise<void> {
    const s = await this.status(tenantId);
    if (s === 'suspended' || s === 'offboarding' || s === 'offboarded') throw new TenantNotWritableError(tenantId, s);
  }

  async isSuspended(tenantId: TenantId): Promise<boolean> {
    return (await this.status(tenantId)) === 'suspended';
  }

  /** Being offboarded, or gone: its data is being (or was) erased. */
  async isLeaving(tenantId: TenantId): Promise<boolean> {
    const s = await this.status(tenantId);
    return s === 'offboarding' || s === 'offboarded';
  }

  /**
   * True while a saga is running for a tenant that has no placement yet: its provisioning is under
   * way and will place it (a saga's first events precede the placement). Asked of the saga engine
   * through the probe given at construction (false without one); not cached.
   */
  async mayBePlacedSoon(tenantId: TenantId): Promise<boolean> {
    return (await this.options.sagaRunning?.(tenantId)) === true;
  }

  invalidate(tenantId?: TenantId): void {
    this.directory.forget(tenantId);
  }
}
