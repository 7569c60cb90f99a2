import { Controller } from '@nestjs/common';
import { Ctx, Payload } from '@nestjs/microservices';
import { EventPattern } from '@hotdash/platform-messaging';
import { Envelope, parseTenantId, TenantEvents, TenantSettingsChangedV1 } from '@hotdash/contracts';
import { NonRetryableError } from '@hotdash/platform-messaging';
import type { EventContext } from '@hotdash/platform-messaging';
import { DraftingProfiles } from './drafting-profiles.repository';

/**
 * Keeps ai-drafting's drafting profiles from tenant.settings-changed (published by provisioning
 * when a tenant's settings are set or changed). Runs in the event transport's transaction, with
 * the inbox row, so each event applies once; a newer version replaces the profile, an older one
 * is ignored. An event whose payload names another tenant than its envelope is refused for good
 * (dead-lettered): a tenant's event never touches another tenant's profile.
 */
@Controller()
export class DraftingProfilesEventsHandler {
  @EventPattern(TenantEvents.SETTINGS_CHANGED)
  async onSettingsChanged(@Payload() event: Envelope<typeof TenantEvents.SETTINGS_CHANGED, TenantSettingsChangedV1>, @Ctx() ctx: EventContext): Promise<void> {
    const tenantId = parseTenantId(event.tenantId);
    if (event.payload.tenantId !== tenantId) throw new NonRetryableError(`tenant.settings-changed ${event.id} of tenant ${tenantId} names another tenant in its payload`, 'tenant-mismatch');
    await DraftingProfiles.apply(ctx.tx, tenantId, event.payload, event.id);
  }
}
