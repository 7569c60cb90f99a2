import { z } from 'zod';
import { AuditEvents, AuditRecordedV1, auditRecordedV1 } from './audit.events';
import { AccessEvents, accessRecordedV1, AccessRecordedV2, accessRecordedV2 } from './access.events';
import { QuotaEvents, QuotaExceededV1, quotaExceededV1, UsageRecordedV1, usageRecordedV1 } from './quota.events';
import {
  TenantActivatedV1,
  tenantActivatedV1,
  TenantCreatedV1,
  tenantCreatedV1,
  TenantEvents,
  TenantProvisionedV1,
  tenantProvisionedV1,
  TenantProvisioningFailedV1,
  tenantProvisioningFailedV1,
  TenantProvisioningStartedV1,
  tenantProvisioningStartedV1,
  TenantProvisioningStepCompletedV1,
  tenantProvisioningStepCompletedV1,
  TenantSuspendedV1,
  tenantSuspendedV1,
  TenantReactivatedV1,
  tenantReactivatedV1,
  TenantPlanChangedV1,
  tenantPlanChangedV1,
  TenantOffboardingStartedV1,
  tenantOffboardingStartedV1,
  TenantOffboardedV1,
  tenantOffboardedV1,
  TenantSettingsChangedV1,
  tenantSettingsChangedV1,
  TenantApprovalWorkflowsChangedV1,
  tenantApprovalWorkflowsChangedV1,
  TenantImportedV1,
  tenantImportedV1,
  TenantRestoredV1,
  tenantRestoredV1,
} from './tenant.events';
import {
  OperatorEvents,
  OperatorInvitedV1,
  operatorInvitedV1,
  OperatorJoinedV1,
  operatorJoinedV1,
  OperatorRemovedV1,
  operatorRemovedV1,
  OperatorTeamChangedV1,
  operatorTeamChangedV1,
  OperatorRoleChangedV1,
  operatorRoleChangedV1,
} from './operator.events';
import {
  KnowledgeDocumentFailedV1,
  knowledgeDocumentFailedV1,
  KnowledgeDocumentIndexedV1,
  knowledgeDocumentIndexedV1,
  KnowledgeDocumentRemovedV1,
  knowledgeDocumentRemovedV1,
  KnowledgeDocumentsStoredV1,
  knowledgeDocumentsStoredV1,
  KnowledgeDocumentSubmittedV1,
  knowledgeDocumentSubmittedV1,
  KnowledgeEvents,
} from './knowledge.events';
import {
  DraftApprovedV1,
  draftApprovedV1,
  DraftEditedV1,
  draftEditedV1,
  DraftEvents,
  DraftFailedV1,
  draftFailedV1,
  DraftGeneratedV2,
  draftGeneratedV1,
  draftGeneratedV2,
  DraftRejectedV1,
  draftRequestedV1,
  DraftRequestedV2,
  draftRequestedV2,
  draftRejectedV1,
  ReplySentV1,
  replySentV1,
  TicketEvents,
  TicketReceivedV2,
  ticketReceivedV2,
  TicketSubmittedV1,
  ticketSubmittedV1,
} from './support.events';
import { SlaEvents, TicketSlaBreachedV1, ticketSlaBreachedV1 } from './sla.events';
import { Topic, Topics } from './topics';

/** Payload type of the version producers write today, per event type. */
export interface EventPayloads {
  [TenantEvents.CREATED]: TenantCreatedV1;
  [AuditEvents.RECORDED]: AuditRecordedV1;
  [AccessEvents.RECORDED]: AccessRecordedV2;
  [QuotaEvents.USAGE_RECORDED]: UsageRecordedV1;
  [QuotaEvents.EXCEEDED]: QuotaExceededV1;
  [TenantEvents.PROVISIONING_STARTED]: TenantProvisioningStartedV1;
  [TenantEvents.PROVISIONING_STEP_COMPLETED]: TenantProvisioningStepCompletedV1;
  [TenantEvents.PROVISIONED]: TenantProvisionedV1;
  [TenantEvents.PROVISIONING_FAILED]: TenantProvisioningFailedV1;
  [TenantEvents.ACTIVATED]: TenantActivatedV1;
  [KnowledgeEvents.DOCUMENT_SUBMITTED]: KnowledgeDocumentSubmittedV1;
  [KnowledgeEvents.DOCUMENTS_STORED]: KnowledgeDocumentsStoredV1;
  [KnowledgeEvents.DOCUMENT_INDEXED]: KnowledgeDocumentIndexedV1;
  [KnowledgeEvents.DOCUMENT_FAILED]: KnowledgeDocumentFailedV1;
  [KnowledgeEvents.DOCUMENT_REMOVED]: KnowledgeDocumentRemovedV1;
  [TicketEvents.SUBMITTED]: TicketSubmittedV1;
  [TicketEvents.RECEIVED]: TicketReceivedV2;
  [TicketEvents.REPLY_SENT]: ReplySentV1;
  [SlaEvents.BREACHED]: TicketSlaBreachedV1;
  [DraftEvents.REQUESTED]: DraftRequestedV2;
  [DraftEvents.GENERATED]: DraftGeneratedV2;
  [DraftEvents.FAILED]: DraftFailedV1;
  [DraftEvents.APPROVED]: DraftApprovedV1;
  [DraftEvents.EDITED]: DraftEditedV1;
  [DraftEvents.REJECTED]: DraftRejectedV1;
  [TenantEvents.SUSPENDED]: TenantSuspendedV1;
  [TenantEvents.REACTIVATED]: TenantReactivatedV1;
  [TenantEvents.PLAN_CHANGED]: TenantPlanChangedV1;
  [TenantEvents.OFFBOARDING_STARTED]: TenantOffboardingStartedV1;
  [TenantEvents.OFFBOARDED]: TenantOffboardedV1;
  [TenantEvents.SETTINGS_CHANGED]: TenantSettingsChangedV1;
  [TenantEvents.APPROVAL_WORKFLOWS_CHANGED]: TenantApprovalWorkflowsChangedV1;
  [TenantEvents.IMPORTED]: TenantImportedV1;
  [TenantEvents.RESTORED]: TenantRestoredV1;
  [OperatorEvents.INVITED]: OperatorInvitedV1;
  [OperatorEvents.JOINED]: OperatorJoinedV1;
  [OperatorEvents.ROLE_CHANGED]: OperatorRoleChangedV1;
  [OperatorEvents.TEAM_CHANGED]: OperatorTeamChangedV1;
  [OperatorEvents.REMOVED]: OperatorRemovedV1;
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
  [AccessEvents.RECORDED]: { topic: Topics.ACCESS, current: 2, versions: { 1: accessRecordedV1, 2: accessRecordedV2 } },
  [QuotaEvents.USAGE_RECORDED]: { topic: Topics.USAGE, current: 1, versions: { 1: usageRecordedV1 } },
  [QuotaEvents.EXCEEDED]: { topic: Topics.USAGE, current: 1, versions: { 1: quotaExceededV1 } },
  [TenantEvents.PROVISIONING_STARTED]: { topic: Topics.TENANTS, current: 1, versions: { 1: tenantProvisioningStartedV1 } },
  [TenantEvents.PROVISIONING_STEP_COMPLETED]: { topic: Topics.TENANTS, current: 1, versions: { 1: tenantProvisioningStepCompletedV1 } },
  [TenantEvents.PROVISIONED]: { topic: Topics.TENANTS, current: 1, versions: { 1: tenantProvisionedV1 } },
  [TenantEvents.PROVISIONING_FAILED]: { topic: Topics.TENANTS, current: 1, versions: { 1: tenantProvisioningFailedV1 } },
  [TenantEvents.ACTIVATED]: { topic: Topics.TENANTS, current: 1, versions: { 1: tenantActivatedV1 } },
  [KnowledgeEvents.DOCUMENT_SUBMITTED]: { topic: Topics.KNOWLEDGE, current: 1, versions: { 1: knowledgeDocumentSubmittedV1 } },
  [KnowledgeEvents.DOCUMENTS_STORED]: { topic: Topics.KNOWLEDGE, current: 1, versions: { 1: knowledgeDocumentsStoredV1 } },
  [KnowledgeEvents.DOCUMENT_INDEXED]: { topic: Topics.KNOWLEDGE, current: 1, versions: { 1: knowledgeDocumentIndexedV1 } },
  [KnowledgeEvents.DOCUMENT_FAILED]: { topic: Topics.KNOWLEDGE, current: 1, versions: { 1: knowledgeDocumentFailedV1 } },
  [KnowledgeEvents.DOCUMENT_REMOVED]: { topic: Topics.KNOWLEDGE, current: 1, versions: { 1: knowledgeDocumentRemovedV1 } },
  [TicketEvents.SUBMITTED]: { topic: Topics.TICKETS, current: 1, versions: { 1: ticketSubmittedV1 } },
  [TicketEvents.RECEIVED]: { topic: Topics.TICKETS, current: 2, versions: { 2: ticketReceivedV2 } },
  [TicketEvents.REPLY_SENT]: { topic: Topics.TICKETS, current: 1, versions: { 1: replySentV1 } },
  [SlaEvents.BREACHED]: { topic: Topics.TICKETS, current: 1, versions: { 1: ticketSlaBreachedV1 } },
  [DraftEvents.REQUESTED]: { topic: Topics.DRAFTS, current: 2, versions: { 1: draftRequestedV1, 2: draftRequestedV2 } },
  [DraftEvents.GENERATED]: { topic: Topics.DRAFTS, current: 2, versions: { 1: draftGeneratedV1, 2: draftGeneratedV2 } },
  [DraftEvents.FAILED]: { topic: Topics.DRAFTS, current: 1, versions: { 1: draftFailedV1 } },
  [DraftEvents.APPROVED]: { topic: Topics.DRAFTS, current: 1, versions: { 1: draftApprovedV1 } },
  [DraftEvents.EDITED]: { topic: Topics.DRAFTS, current: 1, versions: { 1: draftEditedV1 } },
  [DraftEvents.REJECTED]: { topic: Topics.DRAFTS, current: 1, versions: { 1: draftRejectedV1 } },
  [TenantEvents.SUSPENDED]: { topic: Topics.TENANTS, current: 1, versions: { 1: tenantSuspendedV1 } },
  [TenantEvents.REACTIVATED]: { topic: Topics.TENANTS, current: 1, versions: { 1: tenantReactivatedV1 } },
  [TenantEvents.PLAN_CHANGED]: { topic: Topics.TENANTS, current: 1, versions: { 1: tenantPlanChangedV1 } },
  [TenantEvents.OFFBOARDING_STARTED]: { topic: Topics.TENANTS, current: 1, versions: { 1: tenantOffboardingStartedV1 } },
  [TenantEvents.OFFBOARDED]: { topic: Topics.TENANTS, current: 1, versions: { 1: tenantOffboardedV1 } },
  [TenantEvents.SETTINGS_CHANGED]: { topic: Topics.TENANTS, current: 1, versions: { 1: tenantSettingsChangedV1 } },
  [TenantEvents.APPROVAL_WORKFLOWS_CHANGED]: { topic: Topics.TENANTS, current: 1, versions: { 1: tenantApprovalWorkflowsChangedV1 } },
  [TenantEvents.IMPORTED]: { topic: Topics.TENANTS, current: 1, versions: { 1: tenantImportedV1 } },
  [TenantEvents.RESTORED]: { topic: Topics.TENANTS, current: 1, versions: { 1: tenantRestoredV1 } },
  [OperatorEvents.INVITED]: { topic: Topics.TENANTS, current: 1, versions: { 1: operatorInvitedV1 } },
  [OperatorEvents.JOINED]: { topic: Topics.TENANTS, current: 1, versions: { 1: operatorJoinedV1 } },
  [OperatorEvents.ROLE_CHANGED]: { topic: Topics.TENANTS, current: 1, versions: { 1: operatorRoleChangedV1 } },
  [OperatorEvents.TEAM_CHANGED]: { topic: Topics.TENANTS, current: 1, versions: { 1: operatorTeamChangedV1 } },
  [OperatorEvents.REMOVED]: { topic: Topics.TENANTS, current: 1, versions: { 1: operatorRemovedV1 } },
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
