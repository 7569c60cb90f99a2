// The tenant settings API (issue 16 item 1): GET /settings (admins and managers) and PUT /settings
// (admins), served by provisioning behind the gateway. One definition for the service that validates
// the body and for the gateway's OpenAPI document.
import { z } from 'zod';
import { OperatorRoles } from './operator.events';
import { MAX_TENANT_POLICIES } from './tenant.events';

/** The longest policy (one rule), in characters. */
export const MAX_POLICY_CHARS = 500;
/** The longest brand voice, in characters. */
export const MAX_BRAND_VOICE_CHARS = 2_000;
/** The most approval workflows a tenant has. */
export const MAX_APPROVAL_WORKFLOWS = 20;
/** The longest SLA: 30 days to the first decision. */
export const MAX_SLA_MINUTES = 43_200;
/** Largest PUT /settings body: 250 policies of 500 characters, with room for JSON escapes. */
export const SETTINGS_BODY_LIMIT = 512 * 1024;

const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/;
const LINE_BREAK = /[\n\r\u2028\u2029]/;

/** A one-line text: trimmed, 1..max characters, no line breaks or control characters. */
const line = (max: number, what: string) =>
  z
    .string({ message: `${what} must be a string` })
    .trim()
    .min(1, `${what} must not be empty`)
    .max(max, `${what} must be at most ${max} characters`)
    .refine((s) => !LINE_BREAK.test(s) && !CONTROL.test(s) && !s.includes('\t'), `${what} must be one line without control characters`);

/** One approval workflow as an admin writes it. */
export const approvalWorkflowInput = z
  .object({
    /** Stable within the tenant: lower-case letters, digits and dashes. */
    key: z.string().regex(/^[a-z0-9][a-z0-9-]{0,39}$/, 'key must be 1 to 40 lower-case letters, digits and dashes, starting with a letter or digit'),
    name: line(100, 'name'),
    /** Roles that may approve drafts in this queue (each once). */
    approverRoles: z
      .array(z.enum(OperatorRoles, { message: `approverRoles must be among: ${OperatorRoles.join(', ')}` }))
      .min(1, 'approverRoles must name at least one role')
      .refine((roles) => new Set(roles).size === roles.length, 'approverRoles must name each role once'),
    /** The queue new tickets go to (exactly one workflow is the default). */
    isDefault: z.boolean(),
    sla: z
      .object({
        /** Minutes from a ticket's arrival to the first decision on its draft. */
        firstDecisionMinutes: z
          .number()
          .int('sla.firstDecisionMinutes must be whole minutes')
          .min(1, 'sla.firstDecisionMinutes must be at least 1')
          .max(MAX_SLA_MINUTES, `sla.firstDecisionMinutes must be at most ${MAX_SLA_MINUTES} (30 days)`),
        /** Past the SLA, the ticket is escalated to the team lead. */
        escalateToTeamLead: z.boolean(),
      })
      .strict(),
  })
  .strict();
export type ApprovalWorkflowInput = z.infer<typeof approvalWorkflowInput>;

/** The tenant's model: the platform's, or its own OpenAI-compatible endpoint (the key is write-only). */
export const modelSettingsInput = z.discriminatedUnion(
  'mode',
  [
    z.object({ mode: z.literal('platform') }).strict(),
    z
      .object({
        mode: z.literal('own'),
        /**
         * The endpoint's base URL (…/v1): https, or plain http only to an origin the platform's egress
         * allow-list names (HOTDASH_EGRESS_ALLOW); never a private or loopback address the list does
         * not name, never the platform's own services.
         */
        baseUrl: z.url({ protocol: /^https?$/, message: 'model.baseUrl must be an http(s) URL' }).max(500, 'model.baseUrl must be at most 500 characters'),
        model: line(200, 'model.model'),
        /**
         * Write-only: stored encrypted with the tenant's data key, never answered. Leave it out to
         * keep the stored key (only while the endpoint stays the same: a new baseUrl needs the key again).
         */
        apiKey: z
          .string()
          .min(8, 'model.apiKey must be at least 8 characters')
          .max(500, 'model.apiKey must be at most 500 characters')
          .refine((k) => /^[\x21-\x7e]+$/.test(k), 'model.apiKey must be visible ASCII characters without spaces')
          .optional(),
        /** Sampling temperature, 0..2; null or absent: the model's default. */
        temperature: z.number().min(0, 'model.temperature must be 0 to 2').max(2, 'model.temperature must be 0 to 2').nullable().optional(),
        /** Longest reply in tokens; null or absent: the model's default. */
        maxTokens: z.number().int().min(1, 'model.maxTokens must be 1 to 32000').max(32_000, 'model.maxTokens must be 1 to 32000').nullable().optional(),
      })
      .strict(),
  ],
  { message: "model.mode must be 'platform' or 'own'" },
);
export type ModelSettingsInput = z.infer<typeof modelSettingsInput>;

/**
 * Body of PUT /settings: the tenant's whole settings (what is left out of the model is its default;
 * the API key may be left out to keep it), with the `version` they were read at. A version that is
 * not the current one is 409 `settings-version-conflict`: read them again and redo the change.
 * Unknown fields are refused.
 */
export const tenantSettingsBody = z
  .object({
    /** The version the settings were read at (GET /settings); 0 for a tenant whose settings were never written. */
    version: z.number().int().min(0).max(2_147_483_647),
    /** The name replies are signed with. */
    companyName: line(200, 'companyName'),
    /** How replies sound; may be empty. */
    brandVoice: z
      .string()
      .trim()
      .max(MAX_BRAND_VOICE_CHARS, `brandVoice must be at most ${MAX_BRAND_VOICE_CHARS} characters`)
      .refine((s) => !CONTROL.test(s), 'brandVoice must not contain control characters'),
    /** The rules every reply must keep, in order: each one line, trimmed, not empty. */
    policies: z.array(line(MAX_POLICY_CHARS, 'each policy')).max(MAX_TENANT_POLICIES, `at most ${MAX_TENANT_POLICIES} policies`),
    /** The approval workflows, each with its SLA; exactly one is the default. */
    approvalWorkflows: z
      .array(approvalWorkflowInput)
      .min(1, 'approvalWorkflows must have at least one workflow')
      .max(MAX_APPROVAL_WORKFLOWS, `at most ${MAX_APPROVAL_WORKFLOWS} approval workflows`)
      .superRefine((list, ctx) => {
        const keys = list.map((w) => w.key);
        if (new Set(keys).size !== keys.length) ctx.addIssue({ code: 'custom', message: 'approvalWorkflows must have distinct keys' });
        if (list.filter((w) => w.isDefault).length !== 1) ctx.addIssue({ code: 'custom', message: 'exactly one approval workflow must be the default' });
      }),
    model: modelSettingsInput,
  })
  .strict();
export type TenantSettingsBody = z.infer<typeof tenantSettingsBody>;

/** The tenant's model as GET /settings answers it: never the key, only whether one is set. */
export const modelSettingsView = z.discriminatedUnion('mode', [
  z.object({ mode: z.literal('platform') }),
  z.object({
    mode: z.literal('own'),
    baseUrl: z.string(),
    model: z.string(),
    temperature: z.number().nullable(),
    maxTokens: z.number().int().nullable(),
    /** Whether an API key is stored (it is never answered). */
    apiKeySet: z.boolean(),
  }),
]);
export type ModelSettingsView = z.infer<typeof modelSettingsView>;

/** Answer of GET /settings and PUT /settings. */
export const tenantSettingsView = z.object({
  /** Send it back with PUT /settings: a change made meanwhile makes the PUT a 409. 0: never written. */
  version: z.number().int(),
  companyName: z.string(),
  brandVoice: z.string(),
  policies: z.array(z.string()),
  approvalWorkflows: z.array(approvalWorkflowInput),
  model: modelSettingsView,
  /** When the settings were last changed (null: never written). */
  updatedAt: z.string().nullable(),
});
export type TenantSettingsView = z.infer<typeof tenantSettingsView>;

/** Stable codes of the settings API's refusals (RFC 9457 `code`). */
export const SettingsProblems = {
  /** 400: `version` missing or not a whole number ≥ 0. */
  INVALID_VERSION: 'invalid-version',
  INVALID_COMPANY_NAME: 'invalid-company-name',
  INVALID_BRAND_VOICE: 'invalid-brand-voice',
  /** 400: more than 250 policies, one empty, too long or on more than one line, or not a list. */
  INVALID_POLICIES: 'invalid-policies',
  /** 400: no workflow, more than 20, duplicate keys, not exactly one default, bad roles or name. */
  INVALID_APPROVAL_WORKFLOWS: 'invalid-approval-workflows',
  /** 400: a workflow's SLA: minutes not 1..43200, escalation not a boolean. */
  INVALID_SLA: 'invalid-sla',
  /** 400: the model's mode, name, temperature or maxTokens. */
  INVALID_MODEL: 'invalid-model',
  /** 400: the own endpoint's baseUrl: not an http(s) URL, or refused by the egress policy (plain http not allow-listed, credentials in it, a private/loopback address not allow-listed, a platform service). */
  INVALID_MODEL_ENDPOINT: 'invalid-model-endpoint',
  INVALID_MODEL_API_KEY: 'invalid-model-api-key',
  /** 400: an own model without an API key given, where none is stored or the endpoint changed (a key goes only to the endpoint it was given for). */
  MODEL_API_KEY_REQUIRED: 'model-api-key-required',
  /** 409: the settings changed since `version` was read. */
  VERSION_CONFLICT: 'settings-version-conflict',
} as const;

/** The settings API's problem code of a failing field (by its path in the body). */
export function settingsProblemCodeOf(path: string): string | undefined {
  const top = path.split('.', 1)[0];
  if (top === 'version') return SettingsProblems.INVALID_VERSION;
  if (top === 'companyName') return SettingsProblems.INVALID_COMPANY_NAME;
  if (top === 'brandVoice') return SettingsProblems.INVALID_BRAND_VOICE;
  if (top === 'policies') return SettingsProblems.INVALID_POLICIES;
  if (top === 'approvalWorkflows') return /^approvalWorkflows\.\d+\.sla(\.|$)/.test(path) ? SettingsProblems.INVALID_SLA : SettingsProblems.INVALID_APPROVAL_WORKFLOWS;
  if (top === 'model') {
    if (path === 'model.baseUrl') return SettingsProblems.INVALID_MODEL_ENDPOINT;
    if (path === 'model.apiKey') return SettingsProblems.INVALID_MODEL_API_KEY;
    return SettingsProblems.INVALID_MODEL;
  }
  return undefined;
}
