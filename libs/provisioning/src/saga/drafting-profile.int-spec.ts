// The provisioning saga announces each new tenant's drafting profile (tenant.settings-changed,
// version 1) from the tenant's shard, in the transaction that configures its model and before the
// tenant is activated: the company name, the default brand voice, no policies (an empty list, no
// placeholder text anywhere), and the model settings with a tenant's own key still encrypted. A step
// run again after a crash announces nothing twice. Real control plane, shards, Weaviate and Redis.
import { Envelope, parseTenantId, TenantEvents, TenantId, TenantSettingsChangedV1 } from '@hotdash/contracts';
import { newId } from '@hotdash/platform-db';
import { SagaEngine, SagaStatus } from '@hotdash/platform-jobs';
import { MODEL_API_KEY_FIELD } from '@hotdash/platform-models';
import { TestWorld, VectorNamespaces, waitFor } from '@hotdash/testing';
import { provisioningDeps, provisioningSaga, ProvisioningSteps } from './provisioning.saga';
import { ProvisionTenantInput } from './provisioning.input';
import { SignUp, startProvisioning } from './start-provisioning';

jest.setTimeout(120_000);

const world = new TestWorld();
const deps = provisioningDeps(world.dbs, world.config, world.router, world.tenantDb);
const engine = new SagaEngine(world.dbs, world.config, { queueName: `provisioning-profile-spec-${newId()}`, backoffMs: 20, maxAttempts: 3 });
engine.register(provisioningSaga(deps));
engine.startWorker();
const namespaces = new VectorNamespaces(deps.vectors); // every sign-up's, deleted at the end

afterAll(async () => {
  await engine.close();
  await namespaces.deleteAll();
  await deps.vectors.close();
  await world.close();
});

async function provision(signUp: SignUp): Promise<{ tenantId: TenantId; sagaId: string; saga: SagaStatus }> {
  const { sagaId, tenantId } = await startProvisioning(engine, deps.kms, signUp);
  namespaces.track(tenantId);
  const saga = await waitFor(`saga ${sagaId}`, async () => {
    const s = await engine.status(sagaId);
    return s && ['completed', 'compensated', 'failed'].includes(s.status) ? s : undefined;
  }, 90_000, 50);
  expect(saga.status).toBe('completed');
  return { tenantId: parseTenantId(tenantId), sagaId, saga };
}

/** The tenant.settings-changed events in the tenant's shard outbox, oldest first. */
const announced = (t: TenantId) =>
  world.tenantDb.withTenant(t, async (tx) =>
    (await tx.db.selectFrom('outbox').select('envelope').where('type', '=', TenantEvents.SETTINGS_CHANGED).orderBy('seq').execute()).map(
      (r) => r.envelope as Envelope<typeof TenantEvents.SETTINGS_CHANGED, TenantSettingsChangedV1>,
    ),
  );

it('announces an own-model tenant’s complete profile once: name, default voice, no policies, the key only encrypted', async () => {
  const name = `Profile Co ${newId().slice(-6)}`;
  const { tenantId, sagaId } = await provision({
    name,
    plan: 'basic',
    admin: { email: `admin.${newId().slice(-6)}@example.com` },
    model: { mode: 'own', provider: 'openai', model: 'gpt-own', apiKey: 'sk-profile-secret-1', baseUrl: 'https://models.example.com/v1' },
  });
  const events = await announced(tenantId);
  expect(events).toHaveLength(1);
  const [e] = events;
  expect(e).toMatchObject({ tenantId, producer: 'provisioning', correlationId: sagaId, version: 1 });
  expect(e!.payload).toMatchObject({
    tenantId,
    version: 1,
    by: `saga:${sagaId}`,
    companyName: name,
    brandVoice: `Friendly, concise and accurate; speak as ${name}.`,
    policies: [],
    model: { mode: 'own', provider: 'openai', model: 'gpt-own', baseUrl: 'https://models.example.com/v1', temperature: null, maxTokens: null },
  });
  expect(JSON.stringify(e)).not.toContain('sk-profile-secret');
  expect(await deps.cipher.decrypt(tenantId, MODEL_API_KEY_FIELD, e!.payload.model.apiKeyEnc!)).toBe('sk-profile-secret-1');
  // No placeholder in the settings either: none is what an admin has not written yet.
  const settings = await world.tenantDb.withTenant(tenantId, (tx) => tx.db.selectFrom('tenant_settings').select('policies').executeTakeFirstOrThrow());
  expect(settings.policies).toBe('');
  // Published from the shard before the tenant was activated (the control plane's tenant.activated).
  const activated = await world.dbs.control().$queryRaw<{ at: Date }[]>`select created_at as at from outbox where type = 'tenant.activated' and tenant_id = ${tenantId}::uuid`;
  expect(Date.parse(e!.occurredAt)).toBeLessThanOrEqual(activated[0]!.at.getTime());
});

it('announces a platform-model tenant’s profile without a key, and nothing more when the step runs again', async () => {
  const { tenantId, sagaId, saga } = await provision({ name: `Platform Co ${newId().slice(-6)}`, plan: 'basic', admin: { email: `admin.${newId().slice(-6)}@example.com` } });
  const [e, ...more] = await announced(tenantId);
  expect(more).toEqual([]);
  expect(e!.payload.model).toEqual({ mode: 'platform', provider: 'platform', model: 'platform-default', baseUrl: null, apiKeyEnc: null, temperature: null, maxTokens: null });
  // As after a crash between the step's commit and the saga moving on.
  const step = provisioningSaga(deps).steps.find((s) => s.id === ProvisioningSteps.MODEL_CONFIGURATION)!;
  await step.run({ sagaId, tenantId, input: saga.input as ProvisionTenantInput, state: {}, attempt: 2 });
  expect(await announced(tenantId)).toHaveLength(1);
});
