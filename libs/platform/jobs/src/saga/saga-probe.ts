import type { Provider } from '@nestjs/common';
import type { TenantId } from '@hotdash/contracts';
import { Databases, SagaRunningProbe, TenantStatusCache } from '@hotdash/platform-db';

/**
 * The saga engine's answer to "is a saga of this tenant running?" (`sagas` belongs to the engine;
 * nothing else reads it). The tenant status cache of libs/platform/db takes it as its
 * `sagaRunning` probe: an event consumer waits for a tenant's placement while its provisioning
 * saga runs. One indexed read (sagas_tenant_idx), not cached.
 */
export function sagaRunningProbe(dbs: Databases): SagaRunningProbe {
  return async (tenantId: TenantId) => {
    const row = await dbs.controlDb().selectFrom('sagas').select('id').where('tenant_id', '=', tenantId).where('status', '=', 'running').limit(1).executeTakeFirst();
    return row !== undefined;
  };
}

/** A TenantStatusCache that knows of running sagas (the probe above). */
export function tenantStatusCacheWithSagas(dbs: Databases, ttlMs?: number): TenantStatusCache {
  return new TenantStatusCache(dbs, ttlMs, { sagaRunning: sagaRunningProbe(dbs) });
}

/** The Nest provider of TenantStatusCache for modules of services that consume events (needs Databases, from DatabaseModule). */
export const TenantStatusCacheProvider: Provider = { provide: TenantStatusCache, useFactory: (dbs: Databases) => tenantStatusCacheWithSagas(dbs), inject: [Databases] };
