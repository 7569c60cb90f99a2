import { z } from 'zod';
import { PlanCodes } from '@hotdash/contracts';
import { parseInput, ProblemException } from '@hotdash/platform-http';
import type { SignUp } from '../../saga/start-provisioning';
import { TENANT_SLUG } from '../../saga/provisioning.input';

const text = (max: number, what: string) =>
  z
    .string()
    .trim()
    .min(1, `${what} must not be empty`)
    .max(max, `${what} must be at most ${max} characters`)
    .refine((s) => !/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(s), `${what} must not contain control characters`);

/** Body of POST /tenants (a sign-up). Unknown fields are refused, not ignored. */
export const createTenantBody = z
  .object({
    name: text(200, 'name').refine((s) => !/[\n\r\t]/.test(s), 'name must be one line'),
    slug: z
      .string()
      .regex(TENANT_SLUG, 'slug must be 3 to 64 lower-case letters, digits and dashes, starting and ending with a letter or digit')
      .optional(),
    plan: z.enum(PlanCodes, { message: `plan must be one of: ${PlanCodes.join(', ')}` }),
    dedicatedShard: z.boolean().optional(),
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
            baseUrl: z.url({ protocol: /^https?$/ }).max(500).optional(),
          })
          .strict(),
      ])
      .optional(),
    documents: z
      .array(z.object({ title: text(500, 'documents[].title'), content: z.string().min(1).max(200_000) }).strict())
      .max(20)
      .optional(),
  })
  .strict();

const CODES: Record<string, string> = { slug: 'invalid-slug', plan: 'invalid-plan', 'admin.email': 'invalid-email', admin: 'invalid-email' };

export class CreateTenantCommand {
  private constructor(
    readonly signUp: SignUp,
    readonly actorId: string,
    readonly correlationId: string,
    readonly idempotencyKey: string | undefined,
  ) {}

  /** Validates an HTTP body (400 problem+json on failure) and who asked. */
  static create(body: unknown, actorId: string, correlationId: string, idempotencyKey?: string): CreateTenantCommand {
    const parsed = parseInput(createTenantBody, body, (path) => CODES[path] ?? (path.startsWith('model') ? 'invalid-model' : undefined));
    if (parsed.dedicatedShard && parsed.plan !== 'enterprise')
      throw new ProblemException(400, 'dedicated-requires-enterprise', 'Dedicated shard needs the Enterprise plan', 'Only Enterprise tenants may ask for a dedicated database.');
    return new CreateTenantCommand(
      {
        name: parsed.name,
        slug: parsed.slug ?? null,
        plan: parsed.plan,
        dedicatedShard: parsed.dedicatedShard ?? false,
        admin: { email: parsed.admin.email, displayName: parsed.admin.displayName ?? null },
        model: parsed.model?.mode === 'own' ? { ...parsed.model, baseUrl: parsed.model.baseUrl ?? null } : { mode: 'platform' },
        documents: parsed.documents ?? [],
      },
      actorId,
      correlationId,
      idempotencyKey,
    );
  }
}
