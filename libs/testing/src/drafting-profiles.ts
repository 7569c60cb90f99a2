import { DraftingModelSettingsV1, Envelope, SupportFields, TenantEvents, TenantId, TenantSettingsChangedV1, TicketEvents } from '@hotdash/contracts';
import type { FieldCipher } from '@hotdash/platform-crypto';
import { newId } from '@hotdash/platform-db';
import { publishInTx } from '@hotdash/platform-messaging';
import type { TestWorld } from './world';

export type DraftingProfileFixture = Partial<Omit<TenantSettingsChangedV1, 'tenantId' | 'model'>> & { model?: Partial<DraftingModelSettingsV1> };

/**
 * A tenant.settings-changed payload for a fixture tenant (which the provisioning saga did not make):
 * version 1, the platform's model, no brand voice or policies, unless the fixture says otherwise.
 */
export function settingsChanged(tenantId: TenantId, profile: DraftingProfileFixture = {}): TenantSettingsChangedV1 {
  const { model, ...rest } = profile;
  return {
    tenantId,
    version: 1,
    changedAt: new Date().toISOString(),
    by: 'spec',
    companyName: 'Fixture Co',
    brandVoice: '',
    policies: [],
    ...rest,
    model: { mode: 'platform', provider: 'platform', model: 'platform-default', baseUrl: null, apiKeyEnc: null, temperature: null, maxTokens: null, ...model },
  };
}

/**
 * Publishes a fixture tenant's drafting profile as provisioning does: tenant.settings-changed in the
 * tenant shard's outbox (a relay must be running for it to reach Kafka and ai-drafting).
 */
export async function publishSettingsChanged(world: TestWorld, tenantId: TenantId, profile: DraftingProfileFixture = {}): Promise<Envelope<typeof TenantEvents.SETTINGS_CHANGED, TenantSettingsChangedV1>> {
  const payload = settingsChanged(tenantId, profile);
  return world.tenantDb.withTenant(tenantId, (tx) => publishInTx(tx, TenantEvents.SETTINGS_CHANGED, payload, { tenantId, producer: 'provisioning', correlationId: newId() }));
}

/** The ticket text announceTicket encrypts (subject optional). */
export interface AnnouncedTicket {
  customerName: string;
  customerEmail: string;
  subject: string | null;
  body: string;
}

/**
 * Announces a ticket as the drafts service does, without it: ticket.received with the fields
 * encrypted under the tenant's data key, published through the tenant shard's outbox (the relay
 * takes it to Kafka). Resolves with the ticket's id.
 */
export async function announceTicket(world: TestWorld, cipher: FieldCipher, tenantId: TenantId, ticket: AnnouncedTicket): Promise<string> {
  const ticketId = newId();
  const payload = {
    tenantId,
    ticketId,
    externalId: null,
    channel: 'api' as const,
    customerNameEnc: await cipher.encrypt(tenantId, SupportFields.CUSTOMER_NAME, ticket.customerName),
    customerEmailEnc: await cipher.encrypt(tenantId, SupportFields.CUSTOMER_EMAIL, ticket.customerEmail),
    subjectEnc: ticket.subject === null ? null : await cipher.encrypt(tenantId, SupportFields.SUBJECT, ticket.subject),
    bodyEnc: await cipher.encrypt(tenantId, SupportFields.BODY, ticket.body),
    receivedAt: new Date().toISOString(),
    draftId: newId(),
    quotaReservationId: null,
  };
  await world.tenantDb.withTenant(tenantId, (tx) => publishInTx(tx, TicketEvents.RECEIVED, payload, { tenantId, producer: 'drafts', correlationId: newId() }));
  return ticketId;
}
