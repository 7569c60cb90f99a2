import { parseTenantId, settingsProblemCodeOf, TenantId, tenantSettingsBody, TenantSettingsBody } from '@hotdash/contracts';
import { parseInput } from '@hotdash/platform-http';

/** A change of a tenant's settings by one of its admins (PUT /settings): the whole settings, at the version they were read. */
export class UpdateSettingsCommand {
  private constructor(
    readonly tenantId: TenantId,
    readonly settings: TenantSettingsBody,
    readonly actorId: string,
    readonly correlationId: string,
  ) {}

  /** Validates the HTTP body: 400 problem+json with the code of the first failing field (SettingsProblems), nothing written. */
  static create(tenantId: string, body: unknown, actorId: string, correlationId: string): UpdateSettingsCommand {
    return new UpdateSettingsCommand(parseTenantId(tenantId), parseInput(tenantSettingsBody, body, settingsProblemCodeOf), actorId, correlationId);
  }
}
