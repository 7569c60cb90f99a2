import { PlanCodes, publicSignUpBody, SelfServePlans, signUpBody } from '@hotdash/contracts';
import type { z } from 'zod';
import { parseInput, ProblemException } from '@hotdash/platform-http';
import type { SignUp } from '../../saga/start-provisioning';

type SignUpBody = z.infer<typeof signUpBody>;

const CODES: Record<string, string> = { slug: 'invalid-slug', plan: 'invalid-plan', 'admin.email': 'invalid-email', admin: 'invalid-email' };

export class CreateTenantCommand {
  private constructor(
    readonly signUp: SignUp,
    readonly actorId: string,
    readonly correlationId: string,
    readonly idempotencyKey: string | undefined,
    /** An anonymous sign-up on the public route (not the ops team's). */
    readonly publicSignUp: boolean,
  ) {}

  /**
   * Validates an HTTP body (400 problem+json on failure) and who asked. A public (anonymous)
   * sign-up takes only a self-serve plan on shared infrastructure with the platform's model: asking
   * for more is a 403 `not-self-serve` that says who can set it.
   */
  static create(body: unknown, actorId: string, correlationId: string, idempotencyKey?: string, options: { public?: boolean } = {}): CreateTenantCommand {
    if (options.public) refuseWhatIsNotSelfServe(body);
    const schema = options.public ? publicSignUpBody : signUpBody;
    const parsed: SignUpBody = parseInput(schema, body, (path) => CODES[path] ?? (path.startsWith('model') ? 'invalid-model' : undefined));
    if (parsed.dedicatedShard && parsed.plan !== 'enterprise')
      throw new ProblemException(400, 'dedicated-requires-enterprise', 'Dedicated shard needs the Enterprise plan', 'Only Enterprise tenants may ask for a dedicated database.');
    return new CreateTenantCommand(
      {
        name: parsed.name,
        slug: parsed.slug ?? null,
        plan: parsed.plan,
        dedicatedShard: parsed.dedicatedShard ?? false,
        region: parsed.region ?? null,
        admin: { email: parsed.admin.email, displayName: parsed.admin.displayName ?? null },
        model: parsed.model?.mode === 'own' ? { ...parsed.model, baseUrl: parsed.model.baseUrl ?? null } : { mode: 'platform' },
        documents: parsed.documents ?? [],
      },
      actorId,
      correlationId,
      idempotencyKey,
      options.public ?? false,
    );
  }
}

/** What an anonymous caller may not choose, refused by name before the body is parsed. */
function refuseWhatIsNotSelfServe(body: unknown): void {
  if (!body || typeof body !== 'object' || Array.isArray(body) || Buffer.isBuffer(body)) return;
  const b = body as Record<string, unknown>;
  const refuse = (what: string) => {
    throw new ProblemException(403, 'not-self-serve', 'Not available on public sign-up', `${what} is set up by our team: ask us, or sign up for ${SelfServePlans.join(' or ')} and let us change it afterwards.`);
  };
  const plan = PlanCodes.find((p) => p === b.plan);
  if (plan && !(SelfServePlans as readonly string[]).includes(plan)) refuse(`The ${plan} plan`);
  if (b.dedicatedShard !== undefined) refuse('A dedicated database');
  if (b.model !== undefined && (b.model as { mode?: unknown } | null)?.mode !== 'platform') refuse("A model endpoint of the tenant's own");
}
