import type { Json } from '@hotdash/platform-jobs';

/**
 * What the provisioning saga is started with (persisted as the saga's input). Secrets and PII (the
 * admin's e-mail, a tenant's own model API key) are not in clear here: `sealed` is the KMS-wrapped
 * JSON of {@link SealedInput}, bound to the tenant id, and is removed from the saga when it ends,
 * as are the initial documents (forgetOnEnd).
 */
export type ProvisionTenantInput = ProvisionTenantFields & {
  /**
   * Where the tenant's data lives (data residency): the shard is chosen in it (startProvisioning
   * always sets it). Absent in sagas started before regions: the default region `local`.
   */
  region?: string | null;
};

/** The fields every provisioning saga's input has had since before regions. */
export interface ProvisionTenantFields {
  [key: string]: Json;
  tenantId: string;
  name: string;
  /** Null in sagas started before slugs existed: the step derives one then. */
  slug: string | null;
  plan: 'basic' | 'enterprise';
  dedicatedShard: boolean;
  adminDisplayName: string | null;
  model: { mode: 'platform' } | { mode: 'own'; provider: 'openai'; model: string; baseUrl: string | null };
  /** The sign-up's initial knowledge-base documents (ids chosen at sign-up); null once the saga has ended: their text is kept no longer than the saga needs it. */
  documents: { id: string; title: string; content: string }[] | null;
  sealed: { kekId: string; wrapped: string } | null;
}

export interface SealedInput {
  adminEmail: string;
  apiKey: string | null;
}

/** A tenant's login name: 3–64 lower-case letters, digits and dashes (the control plane checks the same). */

/** A slug from the tenant's name, made unique by the random end of its id (UUIDv7's last 6 hex digits). */
export function slugFor(name: string, tenantId: string): string {
  const base = name
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 50)
    .replace(/-+$/g, '');
  return `${base || 'tenant'}-${tenantId.replace(/-/g, '').slice(-6)}`;
}

