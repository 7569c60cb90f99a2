import { Inject, Injectable } from '@nestjs/common';
import { ApprovalWorkflowInput, SettingsProblems, TenantEvents, TenantSettingsView } from '@hotdash/contracts';
import { FieldCipher } from '@hotdash/platform-crypto';
import { TenantDatabase, TenantDirectory } from '@hotdash/platform-db';
import { ProblemException } from '@hotdash/platform-http';
import { publishInTx } from '@hotdash/platform-messaging';
import { EgressError, MODEL_API_KEY_FIELD } from '@hotdash/platform-models';
import { SETTINGS_ENDPOINT_CHECK } from '../../provisioning.tokens';
import { PROVISIONING_PRODUCER } from '../../saga/provisioning.saga';
import { draftingModelOf, OWN_MODEL_PROVIDER, settingsView, StoredModel, TenantSettingsRepository } from '../../settings/tenant-settings.repository';
import { settingsTenant } from '../read-settings/read-settings.handler';
import { UpdateSettingsCommand } from './update-settings.command';

/**
 * Changes a tenant's settings (an admin's PUT /settings): company name, brand voice, policies, the
 * approval workflows with their SLAs, and the model (the platform's, or its own endpoint with a
 * write-only key). One transaction on the tenant's shard: the settings row locked, its version
 * compared with the one the change was read at (409 settings-version-conflict otherwise), the
 * tables written, and the events in the outbox — tenant.settings-changed with the complete drafting
 * profile when any of it changed (ai-drafting's next draft follows), tenant.approval-workflows-changed
 * when the workflows did — under the new version. A refusal writes nothing. A change that changes
 * nothing writes nothing and keeps the version.
 *
 * The API key is encrypted with the tenant's data key before the transaction and travels only as
 * that token (model_configs, the event); it is never answered or logged. Left out, the stored key
 * stays, but only for the endpoint it was given for: a new baseUrl needs the key again (otherwise
 * whoever can change the URL could send the key anywhere).
 */
@Injectable()
export class UpdateSettingsHandler {
  constructor(
    @Inject(TenantDatabase) private readonly db: TenantDatabase,
    @Inject(TenantDirectory) private readonly directory: TenantDirectory,
    @Inject(FieldCipher) private readonly cipher: FieldCipher,
    @Inject(TenantSettingsRepository) private readonly settings: TenantSettingsRepository,
    @Inject(SETTINGS_ENDPOINT_CHECK) private readonly checkEndpoint: (url: string) => Promise<URL>,
  ) {}

  async execute(cmd: UpdateSettingsCommand): Promise<TenantSettingsView> {
    const { tenantId, settings: input, actorId, correlationId } = cmd;
    const tenant = await settingsTenant(this.directory, tenantId, { write: true });
    if (input.model.mode === 'own') await this.endpointAllowed(input.model.baseUrl);
    const newKeyEnc = input.model.mode === 'own' && input.model.apiKey !== undefined ? await this.cipher.encrypt(tenantId, MODEL_API_KEY_FIELD, input.model.apiKey) : null;
    return this.db.withTenant(tenantId, async (tx) => {
      const prev = await this.settings.read(tx, tenantId, { lock: true });
      if (input.version !== prev.version) throw versionConflict(input.version, prev.version);
      const model = nextModel(prev.model, input.model, newKeyEnc);
      const prevCompany = prev.companyName ?? tenant.name;
      const changed = {
        drafting:
          input.companyName !== prevCompany ||
          input.brandVoice !== prev.brandVoice ||
          !sameList(input.policies, prev.policies) ||
          newKeyEnc !== null ||
          JSON.stringify(draftingModelOf(model)) !== JSON.stringify(draftingModelOf(prev.model)),
        workflows: !sameWorkflows(input.approvalWorkflows, prev.workflows),
      };
      if (!changed.drafting && !changed.workflows) return settingsView(prev, tenant.name);
      const next = { version: prev.version + 1, companyName: input.companyName, brandVoice: input.brandVoice, policies: input.policies, workflows: input.approvalWorkflows, model };
      const changedAt = await this.settings.write(tx, tenantId, prev, next, { model: JSON.stringify(model) !== JSON.stringify(prev.model), workflows: changed.workflows });
      // Only a first write of a tenant whose settings were never written can miss: another first write got in.
      if (!changedAt) throw versionConflict(input.version, input.version + 1);
      const meta = { tenantId, producer: PROVISIONING_PRODUCER, correlationId };
      const common = { tenantId, version: next.version, changedAt: changedAt.toISOString(), by: actorId };
      if (changed.drafting)
        await publishInTx(tx, TenantEvents.SETTINGS_CHANGED, { ...common, companyName: next.companyName, brandVoice: next.brandVoice, policies: next.policies, model: draftingModelOf(model) }, meta);
      if (changed.workflows) await publishInTx(tx, TenantEvents.APPROVAL_WORKFLOWS_CHANGED, { ...common, workflows: next.workflows }, meta);
      return settingsView({ ...next, updatedAt: changedAt }, tenant.name);
    });
  }

  /** The own endpoint as the egress guard will judge it when drafting: refused now, with the guard's reason, rather than at the first draft. */
  private async endpointAllowed(baseUrl: string): Promise<void> {
    try {
      await this.checkEndpoint(baseUrl);
    } catch (err) {
      if (!(err instanceof EgressError)) throw err;
      throw new ProblemException(400, SettingsProblems.INVALID_MODEL_ENDPOINT, 'Model endpoint refused', err.message, [{ path: 'model.baseUrl', message: err.message }]);
    }
  }
}

function versionConflict(given: number, current: number): ProblemException {
  return new ProblemException(
    409,
    SettingsProblems.VERSION_CONFLICT,
    'Settings changed meanwhile',
    `The settings were changed since version ${given} was read (now ${current}); nothing was written. Read them again (GET /settings) and redo your change.`,
  );
}

/** The model the change leaves: the given key's token, else the stored one if the endpoint stays; an own model without either is refused. */
function nextModel(prev: StoredModel, input: UpdateSettingsCommand['settings']['model'], newKeyEnc: string | null): StoredModel {
  if (input.mode === 'platform') return { mode: 'platform' };
  const kept = prev.mode === 'own' && prev.baseUrl === input.baseUrl ? prev.apiKeyEnc : null;
  const apiKeyEnc = newKeyEnc ?? kept;
  if (apiKeyEnc === null)
    throw new ProblemException(
      400,
      SettingsProblems.MODEL_API_KEY_REQUIRED,
      'API key required',
      prev.mode === 'own'
        ? 'model.apiKey is required when the endpoint changes: a stored key is only ever sent to the endpoint it was given for.'
        : 'model.apiKey is required to use an own model endpoint.',
      [{ path: 'model.apiKey', message: 'required' }],
    );
  return {
    mode: 'own',
    provider: prev.mode === 'own' ? prev.provider : OWN_MODEL_PROVIDER,
    baseUrl: input.baseUrl,
    model: input.model,
    apiKeyEnc,
    temperature: input.temperature ?? null,
    maxTokens: input.maxTokens ?? null,
  };
}

const sameList = (a: readonly string[], b: readonly string[]): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

/** The workflows as a set by key (their order is the order they were created in). */
function sameWorkflows(a: readonly ApprovalWorkflowInput[], b: readonly ApprovalWorkflowInput[]): boolean {
  const canonical = (list: readonly ApprovalWorkflowInput[]) =>
    JSON.stringify(
      [...list]
        .sort((x, y) => x.key.localeCompare(y.key))
        .map((w) => [w.key, w.name, [...w.approverRoles].sort(), w.isDefault, w.sla.firstDecisionMinutes, w.sla.escalateToTeamLead]),
    );
  return canonical(a) === canonical(b);
}

