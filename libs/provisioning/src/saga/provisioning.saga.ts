import { KnowledgeEvents, parseTenantId, TenantEvents, TenantId } from '@hotdash/contracts';
import { FieldCipher, KmsPort, LocalKms, TenantKeyring } from '@hotdash/platform-crypto';
import { ControlDatabase, ControlTx, Databases, newId, ShardRouter, TenantDatabase, type TenantDB, TenantTx } from '@hotdash/platform-db';
import { NonRetryableStepError, SagaDefinition, SagaRecord, SagaStep, SagaStepContext } from '@hotdash/platform-jobs';
import { buildEnvelope, outboxRow, publishInTx } from '@hotdash/platform-messaging';
import { emailHash, newTenantSecret, tokenHash } from '@hotdash/platform-auth';
import type { PlatformConfig } from '@hotdash/platform-config';
import { PublicLinks } from '@hotdash/platform-http';
import { VectorStore, WeaviateVectorStore } from '@hotdash/platform-vector';
import { MODEL_API_KEY_FIELD } from '@hotdash/platform-models';
import { ProvisionTenantInput, SealedInput, slugFor } from './provisioning.input';

export const PROVISIONING_SAGA = 'tenant-provisioning';
export const PROVISIONING_PRODUCER = 'provisioning';
export const INVITATION_TTL_MS = 7 * 24 * 3600 * 1000;

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

export const DEFAULT_WORKFLOWS = [
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
 * benchmarks): the local KMS from the environment, a keyring and cipher on it, Weaviate from the
 * configuration. The Nest module provides the same through DI.
 */
export function provisioningDeps(dbs: Databases, config: PlatformConfig, router: ShardRouter, tenantDb: TenantDatabase): ProvisioningDeps {
  const kms = LocalKms.fromEnv();
  const keyring = new TenantKeyring(dbs, kms);
  return { dbs, control: new ControlDatabase(dbs), tenantDb, router, keyring, cipher: new FieldCipher(keyring), kms, vectors: WeaviateVectorStore.fromConfig(config) };
}

type Ctx = SagaStepContext<ProvisionTenantInput>;
type Step = SagaStep<ProvisionTenantInput>;

const tenantOf = (ctx: Ctx): TenantId => parseTenantId(ctx.input.tenantId);

export { emailHash, tokenHash } from '@hotdash/platform-auth';

/** An invitation token: the tenant id (to find its shard) and 256 random bits; only its hash is stored. */
export function newInvitationToken(tenantId: string): string {
  return newTenantSecret(tenantId);
}

/** The invitation e-mail: a working link to set the password, and what to sign in with afterwards (the tenant's login slug). */
export function invitationMail(tenantName: string, slug: string, token: string, role: string): { subject: string; body: string } {
  return {
    subject: `You are invited to ${tenantName} on HotDash`,
    body: [
      `You have been invited as ${role.replace('_', ' ')} of ${tenantName}.`,
      `Set your password to start: ${PublicLinks.invitation(token)}`,
      'The link expires in 7 days.',
      '',
      `Then sign in with the organisation "${slug}", this e-mail address and your password.`,
      `The API and its documentation: ${PublicLinks.docs()}`,
    ].join('\n'),
  };
}

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
      return control.transaction(async (tx) => {
        const existing = await tx.tenantPlacement.findUnique({ where: { tenantId }, include: { shard: true } });
        if (existing) return { shard: existing.shard.name };
        const shard = await pickShard(tx, ctx.input.dedicatedShard);
        const slug = ctx.input.slug ?? slugFor(ctx.input.name, tenantId);
        const taken = await tx.tenant.findUnique({ where: { slug }, select: { id: true } });
        if (taken) throw new NonRetryableStepError(`the tenant slug "${slug}" is taken: sign up again with another slug`, 'slug-taken');
        await tx.tenant.create({
          data: { id: tenantId, name: ctx.input.name, slug, planCode: ctx.input.plan, status: 'provisioning', placement: { create: { shardId: shard.id } } },
        });
        await keyring.createKey(tx, tenantId);
        await publishInTx(
          tx,
          TenantEvents.CREATED,
          { tenantId, name: ctx.input.name, plan: ctx.input.plan, shard: shard.name, createdBy: `saga:${ctx.sagaId}` },
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
      if (placed) await tenantDb.withTenant(tenantId, (tx) => tx.$queryRaw`select * from erase_tenant(${tenantId}::uuid)`);
      // A security-definer function: the application role cannot delete tenants, placements or keys,
      // and the function refuses any tenant that is not still being provisioned.
      await control.client.$queryRaw`select discard_provisioning_tenant(${tenantId}::uuid)`;
      keyring.invalidate(tenantId);
      router.invalidate(tenantId);
    },
  };

  /** Creates the admin user (invited) with an invitation token, and queues the invitation e-mail. */
  const adminUser: Step = {
    id: ProvisioningSteps.ADMIN_USER,
    description: 'admin user, invitation and invitation e-mail in the tenant shard',
    async run(ctx) {
      const tenantId = tenantOf(ctx);
      const { adminEmail } = await unseal(kms, ctx);
      const hash = emailHash(tenantId, adminEmail);
      const emailEnc = await cipher.encrypt(tenantId, 'users.email', adminEmail);
      const toEnc = await cipher.encrypt(tenantId, 'mail_outbox.to', adminEmail);
      return inTenant(ctx, async (tx) => {
        const found = await tx.$queryRaw<{ id: string }[]>`select id::text from users where tenant_id = ${tenantId}::uuid and email_hash = ${hash}`;
        if (found[0]) return { adminUserId: found[0].id };
        const userId = newId();
        const token = newInvitationToken(tenantId);
        const mail = invitationMail(ctx.input.name, ctx.input.slug ?? slugFor(ctx.input.name, tenantId), token, 'admin');
        await tx.$executeRaw`insert into users (id, tenant_id, email_enc, email_hash, display_name, role, status)
          values (${userId}::uuid, ${tenantId}::uuid, ${emailEnc}, ${hash}, ${ctx.input.adminDisplayName}, 'admin', 'invited')`;
        await tx.$executeRaw`insert into invitations (id, tenant_id, user_id, token_hash, expires_at)
          values (${newId()}::uuid, ${tenantId}::uuid, ${userId}::uuid, ${tokenHash(token)}, ${new Date(Date.now() + INVITATION_TTL_MS)})`;
        await tx.$executeRaw`insert into mail_outbox (id, tenant_id, to_enc, subject, body, kind)
          values (${newId()}::uuid, ${tenantId}::uuid, ${toEnc}, ${mail.subject},
                  ${mail.body}, 'invitation')`;
        return { adminUserId: userId };
      });
    },
    compensate: deleteRows('mail_outbox', 'invitations', 'users'),
  };

  /** Creates the tenant's Weaviate tenant in the knowledge collection. */
  const knowledgeNamespace: Step = {
    id: ProvisioningSteps.KNOWLEDGE_NAMESPACE,
    description: "the tenant's namespace (Weaviate tenant) in the knowledge collection",
    async run(ctx) {
      await vectors.ensureCollection();
      await vectors.createTenant(tenantOf(ctx));
      return { namespace: tenantOf(ctx) };
    },
    async compensate(ctx) {
      await vectors.deleteTenant(tenantOf(ctx));
    },
  };

  /** Default approval workflows, SLA settings, brand voice and policy placeholders. */
  const defaultWorkflows: Step = {
    id: ProvisioningSteps.DEFAULT_WORKFLOWS,
    description: 'default approval workflows and tenant settings (SLA, brand voice, policies)',
    async run(ctx) {
      const tenantId = tenantOf(ctx);
      await inTenant(ctx, async (tx) => {
        await tx.$executeRaw`insert into tenant_settings (tenant_id, brand_voice, policies, sla)
          values (${tenantId}::uuid, ${`Friendly, concise and accurate; speak as ${ctx.input.name}.`},
                  ${'No policies yet: a tenant admin writes them in Settings → Policies.'},
                  ${JSON.stringify({ firstResponseMinutes: 240, escalationMinutes: 60, businessHours: 'Mon-Fri 09:00-17:00' })}::jsonb)
          on conflict (tenant_id) do nothing`;
        for (const w of DEFAULT_WORKFLOWS) {
          await tx.$executeRaw`insert into approval_workflows (id, tenant_id, key, name, approver_roles, sla_minutes, is_default)
            values (${newId()}::uuid, ${tenantId}::uuid, ${w.key}, ${w.name}, ${w.approverRoles}::text[], ${w.slaMinutes}, ${w.isDefault})
            on conflict (tenant_id, key) do nothing`;
        }
      });
      return { workflows: DEFAULT_WORKFLOWS.map((w) => w.key) };
    },
    compensate: deleteRows('approval_workflows', 'tenant_settings'),
  };

  /** The model configuration: the shared platform key, or the tenant's own key stored encrypted. */
  const modelConfiguration: Step = {
    id: ProvisioningSteps.MODEL_CONFIGURATION,
    description: 'model configuration (platform key, or the tenant key encrypted with its data key)',
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
      await inTenant(ctx, (tx) => tx.$executeRaw`insert into model_configs (tenant_id, mode, provider, model, base_url, api_key_enc)
        values (${tenantId}::uuid, ${m.mode}, ${provider}, ${model}, ${baseUrl}, ${apiKeyEnc})
        on conflict (tenant_id) do nothing`);
      return { mode: m.mode };
    },
    compensate: deleteRows('model_configs'),
  };

  /** Stores the sign-up's knowledge-base documents and announces them for indexing. */
  const initialDocuments: Step = {
    id: ProvisioningSteps.INITIAL_DOCUMENTS,
    description: 'initial knowledge-base documents, announced with knowledge.documents-stored',
    async run(ctx) {
      const tenantId = tenantOf(ctx);
      const docs = ctx.input.documents;
      if (docs.length === 0) return { documents: 0 };
      await inTenant(ctx, async (tx) => {
        const present = await tx.$queryRaw<{ n: number }[]>`select count(*)::int as n from kb_documents where id = any(${docs.map((d) => d.id)}::uuid[])`;
        if (present[0]!.n === docs.length) return; // stored before a crash
        for (const d of docs) {
          await tx.$executeRaw`insert into kb_documents (id, tenant_id, title, content, bytes, status)
            values (${d.id}::uuid, ${tenantId}::uuid, ${d.title}, ${d.content}, ${Buffer.byteLength(d.content)}, 'stored') on conflict (id) do nothing`;
        }
        await publishInTx(
          tx,
          KnowledgeEvents.DOCUMENTS_STORED,
          { tenantId, documents: docs.map((d) => ({ documentId: d.id, title: d.title, bytes: Buffer.byteLength(d.content) })) },
          { tenantId, producer: PROVISIONING_PRODUCER, correlationId: ctx.sagaId, causationId: ctx.sagaId },
        );
      });
      return { documents: docs.length };
    },
    compensate: deleteRows('kb_documents'),
  };

  /** Activates the tenant and announces tenant.activated. Last step: nothing after it can fail. */
  const activation: Step = {
    id: ProvisioningSteps.ACTIVATION,
    description: 'tenant status active, tenant.activated',
    async run(ctx) {
      const tenantId = tenantOf(ctx);
      await control.transaction(async (tx) => {
        const n = await tx.$executeRaw`update tenants set status = 'active', updated_at = now() where id = ${tenantId}::uuid and status = 'provisioning'`;
        if (n === 0) return; // activated before a crash
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
    // The sealed secrets (admin e-mail, own API key) are needed only while steps may still run.
    forgetOnEnd: ['sealed'],
    hooks: {
      startedEvents: (saga) => {
        const input = saga.input as ProvisionTenantInput;
        const tenantId = parseTenantId(input.tenantId);
        return [
          outboxRow(
            buildEnvelope(TenantEvents.PROVISIONING_STARTED, { tenantId, sagaId: saga.id, name: input.name, plan: input.plan, dedicatedShard: input.dedicatedShard }, metaOf(saga)),
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

/**
 * The placement policy: a dedicated shard with no tenant (locked, so two Enterprise sign-ups in
 * flight never share one), or the active shared shard with the fewest tenants, ties by name; both
 * read `shards.tenant_count`, kept by the database at each placement's commit. The shared shard is
 * not locked: sign-ups in flight together see the same counts and may land on the same shard, and
 * the next ones even it out (an exclusive lock made each wait for the whole tenant-record
 * transaction of the one before: ~100 ms of a 20-in-flight sign-up's latency). A drain of a shard
 * must therefore look again for tenants placed while it was switching the shard's status.
 */
export async function pickShard(tx: ControlTx, dedicated: boolean): Promise<{ id: string; name: string }> {
  const rows = dedicated
    ? await tx.$queryRaw<{ id: string; name: string }[]>`
        select s.id::text as id, s.name from shards s
        where s.kind = 'dedicated' and s.status = 'active' and s.tenant_count = 0
        order by s.name limit 1 for update of s skip locked`
    : await tx.$queryRaw<{ id: string; name: string }[]>`
        select s.id::text as id, s.name from shards s
        where s.kind = 'shared' and s.status = 'active'
        order by s.tenant_count, s.name limit 1`;
  const shard = rows[0];
  if (!shard)
    throw new NonRetryableStepError(
      dedicated ? 'no free dedicated shard: ask ops to add one (a dedicated shard is a shard of kind dedicated with no tenant)' : 'no active shared shard is registered: ask ops to add one',
    );
  return shard;
}

