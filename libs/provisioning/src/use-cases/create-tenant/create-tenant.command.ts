import { signUpBody } from '@hotdash/contracts';
import { parseInput, ProblemException } from '@hotdash/platform-http';
import type { SignUp } from '../../saga/start-provisioning';

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
    const parsed = parseInput(signUpBody, body, (path) => CODES[path] ?? (path.startsWith('model') ? 'invalid-model' : undefined));
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
