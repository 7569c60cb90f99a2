import { DEFAULT_REGION, parseTenantId, PlanCode } from '@hotdash/contracts';
import { KmsPort } from '@hotdash/platform-crypto';
import { newId } from '@hotdash/platform-db';
import { SagaEngine } from '@hotdash/platform-jobs';
import { PROVISIONING_SAGA, sealInput } from './provisioning.saga';
import { ProvisionTenantInput, slugFor } from './provisioning.input';

export interface SignUp {
  name: string;
  /** Login name of the tenant; derived from the name when not given. */
  slug?: string | null;
  plan: PlanCode;
  dedicatedShard?: boolean;
  /** The tenant's region (data residency), fixed for good; default `local` (the sign-up handler passes the platform's configured default). */
  region?: string | null;
  admin: { email: string; displayName?: string | null };
  model?: { mode: 'platform' } | { mode: 'own'; provider: 'openai'; model: string; apiKey: string; baseUrl?: string | null };
  documents?: { title: string; content: string }[];
}

/**
 * Starts the provisioning saga for a sign-up. The tenant id is chosen here, once: retries of the
 * same sign-up (same idempotency key) find the saga, and so the tenant, of the first call.
 */
export async function startProvisioning(engine: SagaEngine, kms: KmsPort, signUp: SignUp, idempotencyKey?: string): Promise<{ sagaId: string; tenantId: string; slug: string; created: boolean }> {
  const tenantId = parseTenantId(newId());
  const model = signUp.model ?? { mode: 'platform' as const };
  const input: ProvisionTenantInput = {
    tenantId,
    name: signUp.name,
    slug: signUp.slug ?? slugFor(signUp.name, tenantId),
    plan: signUp.plan,
    dedicatedShard: signUp.dedicatedShard ?? false,
    region: signUp.region ?? DEFAULT_REGION,
    adminDisplayName: signUp.admin.displayName ?? null,
    model: model.mode === 'own' ? { mode: 'own', provider: model.provider, model: model.model, baseUrl: model.baseUrl ?? null } : { mode: 'platform' },
    documents: (signUp.documents ?? []).map((d) => ({ id: newId(), title: d.title, content: d.content })),
    sealed: await sealInput(kms, tenantId, { adminEmail: signUp.admin.email, apiKey: model.mode === 'own' ? model.apiKey : null }),
  };
  const { sagaId, created } = await engine.start(PROVISIONING_SAGA, input, { tenantId, idempotencyKey });
  if (created) return { sagaId, tenantId, slug: input.slug!, created };
  const first = (await engine.status(sagaId))!.input as ProvisionTenantInput;
  return { sagaId, tenantId: first.tenantId, slug: first.slug ?? slugFor(first.name, first.tenantId), created };
}
