import { sql } from 'kysely';
import { DEFAULT_REGION, KnowledgeEvents, OperatorRole, parseTenantId, SignUpProblems, SUBMITTED_DOCUMENT_CONTENT_FIELD, TenantEvents, TenantId } from '@hotdash/contracts';
import { FieldCipher, KmsPort, LocalKms, TenantKeyring } from '@hotdash/platform-crypto';
import { ControlDatabase, ControlTransaction, Databases, newId, ShardRouter, TenantDatabase, type TenantDB, TenantTx } from '@hotdash/platform-db';
import { NonRetryableStepError, SagaDefinition, SagaRecord, SagaStep, SagaStepContext } from '@hotdash/platform-jobs';
import { buildEnvelope, outboxRow, publishInTx } from '@hotdash/platform-messaging';
import type { PlatformConfig } from '@hotdash/platform-config';
import { VectorStore, WeaviateVectorStore } from '@hotdash/platform-vector';
import { MODEL_API_KEY_FIELD } from '@hotdash/platform-models';
import { TenantAdmins } from '@hotdash/identity';
import { ProvisionTenantInput, SealedInput, slugFor } from './provisioning.input';

export const PROVISIONING_SAGA = 'tenant-provisioning';
export const PROVISIONING_PRODUCER = 'provisioning';

/** Step ids: persisted with every saga, never renamed. */
export const ProvisioningSteps = {
  TENANT_RECORD: 'tenant-record',
  ADMIN_USER: 'admin-user',
  KNOWLEDGE_NAMESPACE: 'knowledge-namespace',
  DEFAULT_WORKFLOWS: 'default-workflows',
  MODEL_CONFIGURATION: 'model-configuration',
  INITIAL_DOCUMENTS: 'initial-documents',
  ACTIVATION: 'activation',
} as const;

export const DEFAULT_WORKFLOWS: { key: string; name: string; approverRoles: OperatorRole[]; slaMinutes: number; isDefault: boolean }[] = [
  { key: 'general', name: 'General queue', approverRoles: ['operator', 'team_lead', 'manager', 'admin'], slaMinutes: 240, isDefault: true },
  { key: 'escalations', name: 'Escalations', approverRoles: ['team_lead', 'manager', 'admin'], slaMinutes: 60, isDefault: false },
];

export interface ProvisioningDeps {
  dbs: Databases;
  control: ControlDatabase;
  tenantDb: TenantDatabase;
  router: ShardRouter;
  keyring: TenantKeyring;
  cipher: FieldCipher;
  kms: KmsPort;
  vectors: VectorStore;
}

/**
 * The provisioning saga's dependencies outside Nest (workers in their own process, specs,
 * benchmarks): the given KMS (a worker process passes `await kmsFromEnv()`; default the local KMS
 * from the environment), a keyring and cipher on it, Weaviate from the configuration. The Nest module provides the same through DI.
 */
export function provisioningDeps(dbs: Databases, config: PlatformConfig, router: ShardRouter, tenantDb: TenantDatabase, kms: KmsPort = LocalKms.fromEnv()): ProvisioningDeps {
  const keyring = new TenantKeyring(dbs, kms);
  return { dbs, control: new ControlDatabase(dbs), tenantDb, router, keyring, cipher: new FieldCipher(keyring), kms, vectors: WeaviateVectorStore.fromConfig(config) };
}

type Ctx = SagaStepContext<ProvisionTenantInput>;
type Step = SagaStep<ProvisionTenantInput>;

const tenantOf = (ctx: Ctx): TenantId => parseTenantId(ctx.input.tenantId);

export { emailHash, tokenHash } from '@hotdash/platform-auth';

/** Seals the secrets and PII of a sign-up for the saga input (KMS-wrapped, bound to the tenant). */
export async function sealInput(kms: KmsPort, tenantId: TenantId, sealed: SealedInput): Promise<ProvisionTenantInput['sealed']> {
  const w = await kms.wrap(tenantId, Buffer.from(JSON.stringify(sealed), 'utf8'));
  return { kekId: w.kekId, wrapped: w.wrapped.toString('base64') };
}

async function unseal(kms: KmsPort, ctx: Ctx): Promise<SealedInput> {
  const s = ctx.input.sealed;
  if (!s) throw new NonRetryableStepError('the sign-up secrets are gone (the saga already ended)');
  const raw = await kms.unwrap(tenantOf(ctx), { kekId: s.kekId, wrapped: Buffer.from(s.wrapped, 'base64') });
  return JSON.parse(raw.toString('utf8')) as SealedInput;
}

/**
 * The provisioning saga: tenant record → admin user → knowledge-base namespace → default approval
 * workflows → model configuration → initial documents → activation. Every step is idempotent under
 * the saga (the tenant id is chosen at sign-up and is the saga's key), and undoes itself.
 */
export function provisioningSaga(deps: ProvisioningDeps): SagaDefinition<ProvisionTenantInput> {
  const { control, tenantDb, router, keyring, cipher, kms, vectors } = deps;
  // The first admin's account is identity's to write (users and invitations are identity's tables).
  const admins = new TenantAdmins(tenantDb, cipher);
  const inTenant = <T>(ctx: Ctx, fn: (tx: TenantTx) => Promise<T>): Promise<T> => tenantDb.withTenant(tenantOf(ctx), fn);
  /** Compensation of the steps that only insert rows: delete the tenant's rows, children first. */
  const deleteRows =
    (...tables: (keyof TenantDB)[]) =>
    (ctx: Ctx): Promise<void> =>
      inTenant(ctx, async (tx) => {
        for (const t of tables) await tx.db.deleteFrom(t).where('tenant_id', '=', tenantOf(ctx)).execute();
      });

  /** Creates the tenant (status provisioning), its data key and its placement; announces tenant.created. */
  const tenantRecord: Step = {
    id: ProvisioningSteps.TENANT_RECORD,
    description: 'tenant row, data key and shard placement in the control plane',
    async run(ctx) {
      const tenantId = tenantOf(ctx);
      return control.withControl(async (tx) => {
        const existing = await tx.db
          .selectFrom('tenant_placements as p')
          .innerJoin('shards as s', 's.id', 'p.shard_id')
          .select('s.name')
          .where('p.tenant_id', '=', tenantId)
          .executeTakeFirst();
        if (existing) return { shard: existing.name };
        const region = regionOf(ctx.input);
        const shard = await pickShard(tx, ctx.input.dedicatedShard, region);
        const slug = ctx.input.slug ?? slugFor(ctx.input.name, tenantId);
        const taken = await tx.db.selectFrom('tenants').select('id').where('slug', '=', slug).executeTakeFirst();
        if (taken) throw new NonRetryableStepError(`the tenant slug "${slug}" is taken: sign up again with another slug`, 'slug-taken');
        await tx.db.insertInto('tenants').values({ id: tenantId, name: ctx.input.name, slug, plan_code: ctx.input.plan, status: 'provisioning', region }).execute();
        await tx.db.insertInto('tenant_placements').values({ tenant_id: tenantId, shard_id: shard.id }).execute();
        await keyring.createKey(tx, tenantId);
        await publishInTx(
          tx,
          TenantEvents.CREATED,
          { tenantId, name: ctx.input.name, plan: ctx.input.plan, shard: shard.name, region, createdBy: `saga:${ctx.sagaId}` },
          { tenantId, producer: PROVISIONING_PRODUCER, correlationId: ctx.sagaId, causationId: ctx.sagaId },
        );
        return { shard: shard.name };
      });
    },
    async compensate(ctx) {
      const tenantId = tenantOf(ctx);
      // Whatever else reached the tenant's shard meanwhile (the audit consumer's entries for its
      // provisioning events, inbox rows) goes too, while the placement still says where it is.
      const placed = await control.client.tenantPlacement.findUnique({ where: { tenantId } });
      if (placed) await tenantDb.withTenant(tenantId, (tx) => sql`select table_name from erase_tenant(${tenantId}::uuid)`.execute(tx.db));
      // A security-definer function: the application role cannot delete tenants, placements or keys,
      // and the function refuses any tenant that is not still being provisioned.
      await sql`select discard_provisioning_tenant(${tenantId}::uuid)`.execute(control.db);
      keyring.invalidate(tenantId);
      router.invalidate(tenantId);
    },
  };

  /** Has identity invite the first admin (an invited user, an invitation token and its e-mail, operator.invited). */
  const adminUser: Step = {
    id: ProvisioningSteps.ADMIN_USER,
    description: 'admin user, invitation and invitation e-mail in the tenant shard',
    async run(ctx) {
      const tenantId = tenantOf(ctx);
      const { adminEmail } = await unseal(kms, ctx);
      const { userId } = await admins.inviteFirst({
        tenantId,
        tenantName: ctx.input.name,
        slug: ctx.input.slug ?? slugFor(ctx.input.name, tenantId),
        email: adminEmail,
        displayName: ctx.input.adminDisplayName,
        by: `saga:${ctx.sagaId}`,
        correlationId: ctx.sagaId,
        causationId: ctx.sagaId,
      });
      return { adminUserId: userId };
    },
    async compensate(ctx) {
      await admins.withdrawFirst(tenantOf(ctx));
    },
  };

  const knowledgeNamespace: Step = knowledgeNamespaceStep(ProvisioningSteps.KNOWLEDGE_NAMESPACE, "the tenant's namespace (Weaviate tenant) in the knowledge collection", vectors);

  /**
   * Default approval workflows, SLA settings and brand voice; no policies until an admin writes them
   * (none, not a placeholder). The workflows are announced in the same transaction
   * (tenant.approval-workflows-changed version 1), so drafts holds the tenant to their SLAs from its
   * first ticket, as it does after an admin changes them.
   */
  const defaultWorkflows: Step = {
    id: ProvisioningSteps.DEFAULT_WORKFLOWS,
    description: 'default approval workflows and tenant settings (SLA, brand voice, policies), tenant.approval-workflows-changed',
    async run(ctx) {
      const tenantId = tenantOf(ctx);
      await inTenant(ctx, async (tx) => {
        const created = await tx.db
          .insertInto('tenant_settings')
          .values({
            tenant_id: tenantId,
            company_name: ctx.input.name,
            brand_voice: `Friendly, concise and accurate; speak as ${ctx.input.name}.`,
            policies: '',
            // jsonb sent as its text (an array would otherwise go as a PostgreSQL array)
            sla: JSON.stringify({ firstResponseMinutes: 240, escalationMinutes: 60, businessHours: 'Mon-Fri 09:00-17:00' }),
          })
          .onConflict((oc) => oc.column('tenant_id').doNothing())
          .returning('tenant_id')
          .executeTakeFirst();
        for (const w of DEFAULT_WORKFLOWS) {
          await tx.db
            .insertInto('approval_workflows')
            .values({ id: newId(), tenant_id: tenantId, key: w.key, name: w.name, approver_roles: w.approverRoles, sla_minutes: w.slaMinutes, is_default: w.isDefault })
            .onConflict((oc) => oc.columns(['tenant_id', 'key']).doNothing())
            .execute();
        }
        if (!created) return; // written and announced before a crash
        await publishInTx(
          tx,
          TenantEvents.APPROVAL_WORKFLOWS_CHANGED,
          {
            tenantId,
            version: 1,
            changedAt: new Date().toISOString(),
            by: `saga:${ctx.sagaId}`,
            workflows: DEFAULT_WORKFLOWS.map((w) => ({ key: w.key, name: w.name, approverRoles: w.approverRoles, isDefault: w.isDefault, sla: { firstDecisionMinutes: w.slaMinutes, escalateToTeamLead: true } })),
          },
          { tenantId, producer: PROVISIONING_PRODUCER, correlationId: ctx.sagaId, causationId: ctx.sagaId },
        );
      });
      return { workflows: DEFAULT_WORKFLOWS.map((w) => w.key) };
    },
    compensate: deleteRows('approval_workflows', 'tenant_settings'),
  };

  /**
   * The model configuration (the shared platform key, or the tenant's own key stored encrypted) and,
   * in the same transaction, the tenant's complete drafting profile announced: tenant.settings-changed
   * version 1 (company name, brand voice, policies, model settings with the key still encrypted),
   * before the tenant is activated, so ai-drafting has it when the first ticket comes.
   */
  const modelConfiguration: Step = {
    id: ProvisioningSteps.MODEL_CONFIGURATION,
    description: 'model configuration (platform key, or the tenant key encrypted with its data key), tenant.settings-changed',
    async run(ctx) {
      const tenantId = tenantOf(ctx);
      const m = ctx.input.model;
      let apiKeyEnc: string | null = null;
      if (m.mode === 'own') {
        const { apiKey } = await unseal(kms, ctx);
        if (!apiKey) throw new NonRetryableStepError('own model mode without an API key');
        apiKeyEnc = await cipher.encrypt(tenantId, MODEL_API_KEY_FIELD, apiKey);
      }
      const provider = m.mode === 'own' ? m.provider : 'platform';
      const model = m.mode === 'own' ? m.model : 'platform-default';
      const baseUrl = m.mode === 'own' ? m.baseUrl : null;
      await inTenant(ctx, async (tx) => {
        const inserted = await tx.db
          .insertInto('model_configs')
          .values({ tenant_id: tenantId, mode: m.mode, provider, model, base_url: baseUrl, api_key_enc: apiKeyEnc })
          .onConflict((oc) => oc.column('tenant_id').doNothing())
          .returning('tenant_id')
          .executeTakeFirst();
        if (!inserted) return; // configured and announced before a crash
        const settings = await tx.db.selectFrom('tenant_settings').select(['brand_voice', 'policies']).where('tenant_id', '=', tenantId).executeTakeFirstOrThrow();
        await publishInTx(
          tx,
          TenantEvents.SETTINGS_CHANGED,
          {
            tenantId,
            version: 1,
            changedAt: new Date().toISOString(),
            by: `saga:${ctx.sagaId}`,
            companyName: ctx.input.name,
            brandVoice: settings.brand_voice,
            policies: policyList(settings.policies),
            model: { mode: m.mode, provider, model, baseUrl, apiKeyEnc, temperature: null, maxTokens: null },
          },
          { tenantId, producer: PROVISIONING_PRODUCER, correlationId: ctx.sagaId, causationId: ctx.sagaId },
        );
      });
      return { mode: m.mode };
    },
    compensate: deleteRows('model_configs'),
  };

  /**
   * Hands the sign-up's knowledge-base documents to knowledge: one knowledge.document-submitted per
   * document (its id chosen at sign-up, its text encrypted with the tenant's data key), in the
   * tenant's outbox. Knowledge stores each as an upload (once per id, so a step run again after a
   * crash asks again harmlessly), announces it with knowledge.documents-stored and indexes it.
   * No compensation: once stored the documents are knowledge's, and an undone sign-up is erased
   * whole by the tenant record's compensation (erase_tenant: stored documents and submissions still
   * in the outbox alike); a submission that arrives after that finds no tenant and is skipped.
   */
  const initialDocuments: Step = {
    id: ProvisioningSteps.INITIAL_DOCUMENTS,
    description: 'initial knowledge-base documents, handed to knowledge (knowledge.document-submitted)',
    async run(ctx) {
      const tenantId = tenantOf(ctx);
      const docs = ctx.input.documents ?? []; // null only once the saga has ended (forgetOnEnd)
      if (docs.length === 0) return { documents: 0 };
      const sealed = await Promise.all(docs.map(async (d) => ({ ...d, content: await cipher.encrypt(tenantId, SUBMITTED_DOCUMENT_CONTENT_FIELD, d.content) })));
      await inTenant(ctx, async (tx) => {
        for (const d of sealed) {
          await publishInTx(
            tx,
            KnowledgeEvents.DOCUMENT_SUBMITTED,
            { tenantId, documentId: d.id, title: d.title, contentType: 'text/plain', content: d.content, by: `saga:${ctx.sagaId}` },
            { tenantId, producer: PROVISIONING_PRODUCER, correlationId: ctx.sagaId, causationId: ctx.sagaId },
          );
        }
      });
      return { documents: docs.length };
    },
  };

  /** Activates the tenant and announces tenant.activated. Last step: nothing after it can fail. */
  const activation: Step = {
    id: ProvisioningSteps.ACTIVATION,
    description: 'tenant status active, tenant.activated',
    async run(ctx) {
      const tenantId = tenantOf(ctx);
      await control.withControl(async (tx) => {
        const { numUpdatedRows } = await tx.db
          .updateTable('tenants')
          .set({ status: 'active', updated_at: sql`now()` })
          .where('id', '=', tenantId)
          .where('status', '=', 'provisioning')
          .executeTakeFirst();
        if (numUpdatedRows === 0n) return; // activated before a crash
        await publishInTx(tx, TenantEvents.ACTIVATED, { tenantId, plan: ctx.input.plan }, { tenantId, producer: PROVISIONING_PRODUCER, correlationId: ctx.sagaId, causationId: ctx.sagaId });
      });
      return { status: 'active' };
    },
  };

  const metaOf = (saga: SagaRecord) => ({ tenantId: parseTenantId((saga.input as ProvisionTenantInput).tenantId), producer: PROVISIONING_PRODUCER, correlationId: saga.id, causationId: saga.id });

  const steps = [tenantRecord, adminUser, knowledgeNamespace, defaultWorkflows, modelConfiguration, initialDocuments, activation];
  return {
    type: PROVISIONING_SAGA,
    steps,
    // The sealed secrets (admin e-mail, own API key) and the initial documents' text are needed
    // only while steps may still run.
    forgetOnEnd: ['sealed', 'documents'],
    hooks: {
      startedEvents: (saga) => {
        const input = saga.input as ProvisionTenantInput;
        const tenantId = parseTenantId(input.tenantId);
        return [
          outboxRow(
            buildEnvelope(
              TenantEvents.PROVISIONING_STARTED,
              { tenantId, sagaId: saga.id, name: input.name, plan: input.plan, dedicatedShard: input.dedicatedShard, region: regionOf(input) },
              metaOf(saga),
            ),
          ),
        ];
      },
      stepCompletedEvents: (saga, step) => {
        const tenantId = parseTenantId((saga.input as ProvisionTenantInput).tenantId);
        const index = steps.findIndex((s) => s.id === step.id);
        return [outboxRow(buildEnvelope(TenantEvents.PROVISIONING_STEP_COMPLETED, { tenantId, sagaId: saga.id, step: step.id, index }, metaOf(saga)))];
      },
      completedEvents: (saga) => [outboxRow(buildEnvelope(TenantEvents.PROVISIONED, { tenantId: metaOf(saga).tenantId, sagaId: saga.id }, metaOf(saga)))],
      onFailed: async (tx, saga, failedStep, reason) => {
        const meta = metaOf(saga);
        await publishInTx(tx, TenantEvents.PROVISIONING_FAILED, { tenantId: meta.tenantId, sagaId: saga.id, step: failedStep, reason: reason.slice(0, 2000) }, meta);
      },
    },
  };
}

/** A step that creates the tenant's Weaviate tenant in the knowledge collection (undone by deleting it): sign-up's, and a pilot import's. */
export function knowledgeNamespaceStep<I extends { tenantId: string }>(id: string, description: string, vectors: VectorStore): SagaStep<I> {
  return {
    id,
    description,
    async run(ctx) {
      const tenantId = parseTenantId(ctx.input.tenantId);
      await vectors.ensureCollection();
      await vectors.createTenant(tenantId);
      return { namespace: tenantId };
    },
    async compensate(ctx) {
      await vectors.deleteTenant(parseTenantId(ctx.input.tenantId));
    },
  };
}

/** tenant_settings.policies (one policy a line, as an admin writes them) as the ordered list drafting takes: list bullets, blank lines and surrounding spaces dropped. */
export function policyList(text: string): string[] {
  return text
    .split('\n')
    .map((line) => line.replace(/^[-*\s]+/, '').trim())
    .filter((line) => line !== '');
}

/** The tenant's region of a saga's input: sagas started before regions carry none (their tenants are in the default region). */
export const regionOf = (input: Pick<ProvisionTenantInput, 'region'>): string => input.region ?? DEFAULT_REGION;

/**
 * The placement policy, within the tenant's region (data residency; the database refuses a
 * placement outside it anyway): a dedicated shard with no tenant (locked, so two Enterprise sign-ups
 * in flight never share one), or the active shared shard with the fewest tenants, ties by name; both
 * read `shards.tenant_count`, kept by the database at each placement's commit. The shared shard is
 * not locked: sign-ups in flight together see the same counts and may land on the same shard, and
 * the next ones even it out (an exclusive lock made each wait for the whole tenant-record
 * transaction of the one before: ~100 ms of a 20-in-flight sign-up's latency); a rebalance evens out
 * what is left (tenant sizes, which this policy does not know). A drain of a shard must therefore
 * look again for tenants placed while it was switching the shard's status. No shard of the kind in
 * the region: NonRetryableStepError `region-unknown` (the sign-up checks the region first, so this
 * is a region whose last shard was drained or retired meanwhile). Without `region` (older callers,
 * specs of the policy itself) any region's shard is taken.
 */
export async function pickShard(tx: ControlTransaction, dedicated: boolean, region?: string): Promise<{ id: string; name: string }> {
  let active = tx.db.selectFrom('shards').select(['id', 'name']).where('status', '=', 'active');
  if (region !== undefined) active = active.where('region', '=', region);
  const shard = dedicated
    ? await active.where('kind', '=', 'dedicated').where('tenant_count', '=', 0).orderBy('name').limit(1).forUpdate().skipLocked().executeTakeFirst()
    : await active.where('kind', '=', 'shared').orderBy('tenant_count').orderBy('name').limit(1).executeTakeFirst();
  if (!shard) {
    const where = region === undefined ? '' : ` in region ${region}`;
    throw new NonRetryableStepError(
      dedicated
        ? `no free dedicated shard${where}: ask ops to add one (a dedicated shard is a shard of kind dedicated with no tenant)`
        : `no active shared shard is registered${where}: ask ops to add one${region === undefined ? '' : ' there (a tenant’s data stays in its region)'}`,
      SignUpProblems.REGION_UNKNOWN,
    );
  }
  return shard;
}

