// Request bodies of the provisioning API (sign-up, operators, tenant lifecycle): one definition
// for the service that validates them and for the gateway's OpenAPI document that describes them.
import { z } from 'zod';
import { PlanCodes } from './tenant.events';
import { OperatorRoles, OperatorStatuses } from './operator.events';
import { MAX_SUBMITTED_DOCUMENT_CHARS } from './knowledge.events';
import { REGION } from './shards.api';

/** A tenant's slug: 3 to 64 lower-case letters, digits and dashes, starting and ending with a letter or digit. */
export const TENANT_SLUG = /^[a-z0-9][a-z0-9-]{1,62}[a-z0-9]$/;

const text = (max: number, what: string) =>
  z
    .string()
    .trim()
    .min(1, `${what} must not be empty`)
    .max(max, `${what} must be at most ${max} characters`)
    .refine((s) => !/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(s), `${what} must not contain control characters`);

/** Body of POST /tenants (a sign-up). Unknown fields are refused, not ignored. */
export const signUpBody = z
  .object({
    name: text(200, 'name').refine((s) => !/[\n\r\t]/.test(s), 'name must be one line'),
    slug: z
      .string()
      .regex(TENANT_SLUG, 'slug must be 3 to 64 lower-case letters, digits and dashes, starting and ending with a letter or digit')
      .optional(),
    plan: z.enum(PlanCodes, { message: `plan must be one of: ${PlanCodes.join(', ')}` }),
    dedicatedShard: z.boolean().optional(),
    /**
     * Where the tenant's data lives (data residency), fixed here for good: a region with an active
     * shared shard, or for a dedicated sign-up a free dedicated one (`hotdash-ops shards list`).
     * Default: the platform's default region (HOTDASH_DEFAULT_REGION, `local` locally). A region
     * without one is refused (422 region-unknown).
     */
    region: z.string().regex(REGION, 'region must be 1 to 63 lower-case letters, digits and dashes (e.g. eu-west-1)').optional(),
    admin: z
      .object({
        email: z.email({ message: 'admin.email must be an e-mail address' }).max(254),
        displayName: text(200, 'admin.displayName').optional(),
      })
      .strict(),
    model: z
      .discriminatedUnion('mode', [
        z.object({ mode: z.literal('platform') }).strict(),
        z
          .object({
            mode: z.literal('own'),
            provider: z.literal('openai'),
            model: text(100, 'model.model'),
            apiKey: z.string().min(8).max(500),
            baseUrl: z.url({ protocol: /^https$/, message: 'model.baseUrl must be an https URL (plain http is refused)' }).max(500).optional(),
          })
          .strict(),
      ])
      .optional(),
    documents: z
      .array(z.object({ title: text(500, 'documents[].title'), content: z.string().min(1).max(MAX_SUBMITTED_DOCUMENT_CHARS) }).strict())
      .max(20)
      .optional(),
  })
  .strict();

/** Stable codes of a sign-up's refusals that concern where the tenant goes (RFC 9457 `code`). */
export const SignUpProblems = {
  /**
   * 422: the region asked for (or, without one, the platform's default region) has no shard the
   * sign-up can be placed on: no active shared shard, or for a dedicated sign-up no free dedicated
   * shard (active, kind dedicated, no tenant). A region served only by dedicated shards is refused to
   * a shared sign-up. The same code ends a saga whose region lost its last such shard meanwhile.
   */
  REGION_UNKNOWN: 'region-unknown',
} as const;

/** Plans anyone may sign up for on the public route; the others (Enterprise) are set up by the ops team. */
export const SelfServePlans = ['basic'] as const satisfies readonly (typeof PlanCodes)[number][];

/**
 * Body of the public, anonymous sign-up: a self-serve plan on shared infrastructure with the
 * platform's model. A dedicated database, the Enterprise plan and a model endpoint of the tenant's
 * own are set by the ops team (POST /ops/tenants) or by the tenant's admin after sign-up.
 */
export const publicSignUpBody = signUpBody
  .omit({ dedicatedShard: true, model: true })
  .extend({
    plan: z.enum(SelfServePlans, { message: `plan must be one of: ${SelfServePlans.join(', ')} (Enterprise is set up by our team)` }),
    model: z.object({ mode: z.literal('platform') }).strict().optional(),
  })
  .strict();

const roleSchema = z.enum(OperatorRoles, { message: `role must be one of: ${OperatorRoles.join(', ')}` });

/** Body of inviting an operator. */
export const inviteOperatorBody = z
  .object({
    email: z.email({ message: 'email must be an e-mail address' }).max(254),
    role: roleSchema,
    displayName: z.string().trim().min(1).max(200).optional(),
  })
  .strict();
/** Body of accepting an invitation (the token from the e-mail) and setting the password. */
export const acceptInvitationBody = z
  .object({
    token: z.string().min(40).max(200),
    password: z.string().min(12, 'password must be at least 12 characters').max(200),
    displayName: z.string().trim().min(1).max(200).optional(),
  })
  .strict();
/** Body of changing an operator: their role, their team (null: none), or both. */
export const updateOperatorBody = z
  .object({
    role: roleSchema.optional(),
    team: z
      .string()
      .trim()
      .min(1, 'team must not be empty (null takes the operator out of their team)')
      .max(100)
      .refine((s) => !/[\u0000-\u001f\u007f]/.test(s), 'team must be one line without control characters')
      .nullable()
      .optional(),
  })
  .strict()
  .refine((b) => b.role !== undefined || b.team !== undefined, 'give a role, a team, or both');
export const changePlanBody = z.object({ plan: z.enum(PlanCodes, { message: `plan must be one of: ${PlanCodes.join(', ')}` }) }).strict();
export const suspendBody = z.object({ reason: z.string().trim().min(1, 'reason must not be empty').max(500) }).strict();
export const offboardBody = z.object({ reason: z.string().trim().min(1, 'reason must not be empty').max(500) }).strict();

/** A tenant's record (GET /tenant, GET /ops/tenants/{id}, the answer of suspend, reactivate and plan changes). */
export const tenantRecord = z.object({
  id: z.string(),
  name: z.string(),
  slug: z.string(),
  plan: z.string(),
  status: z.string(),
  /** The shard it is placed on ('' before placement). */
  shard: z.string(),
  /** Where its data lives (data residency): fixed at sign-up; only a move to another region that ops forced changes it. */
  region: z.string(),
  createdAt: z.string(),
});
export type TenantRecord = z.infer<typeof tenantRecord>;

/** Answer of a sign-up (202): follow it by the saga id; `tenant` is the login slug. */
export const signUpAccepted = z.object({ sagaId: z.string(), tenantId: z.string(), tenant: z.string(), status: z.literal('provisioning'), links: z.record(z.string(), z.string()) });

/** Answer of offboarding a tenant (202): follow it at GET /ops/tenants/{id}/offboarding. */
export const offboardingAccepted = z.object({ sagaId: z.string(), tenantId: z.string(), status: z.literal('offboarding') });

/** A tenant's provisioning or offboarding saga, step by step (GET /ops/tenants/{id}/provisioning, /offboarding). */
export const tenantSagaProgress = z.object({
  tenantId: z.string(),
  sagaId: z.string(),
  status: z.string(),
  failedStep: z.string().nullable(),
  error: z.string().nullable(),
  steps: z.array(
    z.object({
      id: z.string(),
      description: z.string(),
      status: z.string(),
      attempts: z.number().int(),
      lastError: z.string().nullable(),
      startedAt: z.string().nullable(),
      completedAt: z.string().nullable(),
      compensatedAt: z.string().nullable(),
    }),
  ),
  startedAt: z.string(),
  finishedAt: z.string().nullable(),
});
export type TenantSagaProgress = z.infer<typeof tenantSagaProgress>;

// Answers (the OpenAPI document's response schemas, for clients generated from it, e.g. the portal).
/** An operator of the tenant, as its admins see them. */
export const operatorView = z.object({
  userId: z.uuid(),
  email: z.string(),
  displayName: z.string().nullable(),
  role: z.enum(OperatorRoles),
  team: z.string().nullable(),
  status: z.enum(OperatorStatuses),
});
export const operatorListView = z.array(operatorView);
export const invitedOperatorView = operatorView.extend({ expiresAt: z.string() });
/** What a sign-in answers (password or single sign-on). */
export const tokenPairView = z.object({
  tokenType: z.literal('Bearer'),
  accessToken: z.string(),
  expiresIn: z.number().int(),
  refreshToken: z.string(),
  refreshExpiresAt: z.string(),
  tenantId: z.uuid(),
  userId: z.uuid(),
  role: z.enum(OperatorRoles),
});
/** An accepted invitation (POST /invitations/accept): who the operator is, and the tenant's login slug to sign in with. */
export const acceptedInvitationView = z.object({ tenantId: z.uuid(), userId: z.uuid(), tenant: z.string(), links: z.object({ login: z.string() }) });
/** The caller's own profile. */
export const meView = z.object({ tenantId: z.uuid(), userId: z.uuid(), email: z.string(), displayName: z.string().nullable(), role: z.enum(OperatorRoles) });
