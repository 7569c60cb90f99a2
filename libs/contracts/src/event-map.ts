import { z } from 'zod';
import { AuditEvents, AuditRecordedV1, auditRecordedV1 } from './audit.events';
import { TenantCreatedV1, TenantEvents, tenantCreatedV1 } from './tenant.events';
import { Topic, Topics } from './topics';

/** Payload type of the version producers write today, per event type. */
export interface EventPayloads {
  [TenantEvents.CREATED]: TenantCreatedV1;
  [AuditEvents.RECORDED]: AuditRecordedV1;
}

export type EventType = keyof EventPayloads;

interface CatalogEntry {
  topic: Topic;
  /** Version producers write today. */
  current: number;
  /** Every version consumers may still receive, with its payload schema. */
  versions: Record<number, z.ZodType>;
}

/**
 * Every (type, version) the platform knows: its payload schema and its topic. Publishing and
 * handling are type-checked against EventPayloads; an event not in the catalogue is rejected.
 */
export const EventCatalog: { readonly [T in EventType]: CatalogEntry } = {
  [TenantEvents.CREATED]: { topic: Topics.TENANTS, current: 1, versions: { 1: tenantCreatedV1 } },
  [AuditEvents.RECORDED]: { topic: Topics.AUDIT, current: 1, versions: { 1: auditRecordedV1 } },
};

export function isKnownEventType(type: string): type is EventType {
  return Object.prototype.hasOwnProperty.call(EventCatalog, type);
}

export function topicOf(type: EventType): Topic {
  return EventCatalog[type].topic;
}

/** Payload schema of (type, version), or undefined when the platform does not know it. */
export function payloadSchemaOf(type: string, version: number): z.ZodType | undefined {
  if (!isKnownEventType(type)) return undefined;
  return EventCatalog[type].versions[version];
}
