import { z } from 'zod';
import { PlanCode, PlanCodes } from '@hotdash/contracts';
import { parseInput } from '@hotdash/platform-http';

/** Body of POST /tenants. Unknown fields are refused, not ignored. */
export const createTenantBody = z
  .object({
    name: z
      .string()
      .trim()
      .min(1, 'name must not be empty')
      .max(200, 'name must be at most 200 characters')
      .refine((s) => !/[\u0000-\u001f\u007f]/.test(s), 'name must not contain control characters'),
    plan: z.enum(PlanCodes, { message: `plan must be one of: ${PlanCodes.join(', ')}` }),
  })
  .strict();

export class CreateTenantCommand {
  private constructor(
    readonly name: string,
    readonly plan: PlanCode,
    readonly actorId: string,
    readonly correlationId: string,
  ) {}

  /** Validates an HTTP body (400 problem+json on failure) and who asked. */
  static create(body: unknown, actorId: string, correlationId: string): CreateTenantCommand {
    const parsed = parseInput(createTenantBody, body, (path) => (path === 'plan' ? 'invalid-plan' : undefined));
    return new CreateTenantCommand(parsed.name, parsed.plan, actorId, correlationId);
  }
}
