import type { Json } from '@hotdash/platform-jobs';

/**
 * What the provisioning saga is started with (persisted as the saga's input). Secrets and PII (the
 * admin's e-mail, a tenant's own model API key) are not in clear here: `sealed` is the KMS-wrapped
 * JSON of {@link SealedInput}, bound to the tenant id, and is removed from the saga when it ends.
 */
export interface ProvisionTenantInput {
  [key: string]: Json;
  tenantId: string;
  name: string;
  plan: 'basic' | 'enterprise';
  dedicatedShard: boolean;
  adminDisplayName: string | null;
  model: { mode: 'platform' } | { mode: 'own'; provider: 'openai'; model: string; baseUrl: string | null };
  documents: { id: string; title: string; content: string }[];
  sealed: { kekId: string; wrapped: string } | null;
}

export interface SealedInput {
  adminEmail: string;
  apiKey: string | null;
}
