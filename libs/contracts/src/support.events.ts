// The support workflow's events (issue 5): tickets in, drafts generated and decided, replies out.
// Customer name, e-mail and message, and reply texts travel encrypted with the tenant's data key
// (FieldCipher tokens, DESIGN.md §8): a consumer needs the tenant's key to read them, and
// offboarding (destroying the key) makes every copy unreadable, on Kafka included.
import { z } from 'zod';
import { uuidSchema } from './envelope';

export const TicketEvents = {
  /**
   * An integration hands in a customer ticket (e-mail, chat, a helpdesk connector). A request, not a
   * fact: the drafts service stores it and publishes ticket.received. Consumed by: drafts.
   */
  SUBMITTED: 'ticket.submitted',
  /**
   * A customer ticket is stored (from the drafts service API or a ticket.submitted), with the id of
   * its first draft. Published by drafts only. Consumed by: ai-drafting (writes that draft), quota
   * (counts the ticket against the month, settling the gateway's hold when there is one), audit.
   */
  RECEIVED: 'ticket.received',
  /** A reply went to the customer (an approved draft, or the operator's own reply). Consumed by: audit. */
  REPLY_SENT: 'reply.sent',
} as const;

export const DraftEvents = {
  /**
   * An operator asked for a new draft of a ticket (after a rejection, or a failed draft), with the
   * earlier drafts' reasons and edits (version 2) for the next draft to follow. Consumed by: ai-drafting.
   */
  REQUESTED: 'draft.requested',
  /** The model wrote a draft for a ticket. Consumed by: drafts (the approval queue), quota (model tokens), audit. */
  GENERATED: 'draft.generated',
  /** No draft could be written (retries exhausted, or refused); the ticket stays in the queue for a manual reply. */
  FAILED: 'draft.failed',
  APPROVED: 'draft.approved',
  /** Approved after the operator changed it; the change is kept with the draft. */
  EDITED: 'draft.edited',
  REJECTED: 'draft.rejected',
} as const;

/**
 * The field names the support workflow's values are encrypted under (FieldCipher binds them as
 * additional data): a ticket's values carry the same token in the drafts service's rows and in
 * events, so every service that reads them must use these names.
 */
export const SupportFields = {
  CUSTOMER_NAME: 'tickets.customer_name',
  CUSTOMER_EMAIL: 'tickets.customer_email',
  SUBJECT: 'tickets.subject',
  BODY: 'tickets.body',
  DRAFT_BODY: 'drafts.body',
  EDITED_BODY: 'drafts.edited_body',
  /** The operator's change to a draft, as a unified diff. */
  DIFF: 'drafts.diff',
  REJECT_REASON: 'drafts.reject_reason',
  REPLY_BODY: 'replies.body',
  /** A passage of the tenant's knowledge base a draft cites (for the operator; never in the reply). */
  CITED_PASSAGE: 'drafts.cited_passage',
} as const;

/**
 * A value encrypted with the tenant's data key, a FieldCipher token `v1.<iv>.<ciphertext+tag>`
 * (base64url), or with a data subject's key (issue 16: the customer's personal data, erasable by
 * destroying that key alone), `s1.<key id>.<iv>.<ciphertext+tag>`.
 */
export const encryptedField = z
  .string()
  .max(2_000_000)
  .regex(/^(?:v1|s1\.[A-Za-z0-9_-]{22})\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/, 'must be a value encrypted with the tenant data key');

const actor = z.string().min(1).max(200);
export const TicketChannels = ['api', 'email', 'chat', 'integration'] as const;

/** What a draft is written from, encrypted: the customer's name, the subject and the message. */
const encryptedTicketText = { customerNameEnc: encryptedField, subjectEnc: encryptedField.nullable(), bodyEnc: encryptedField };
/** The encrypted ticket text every drafting request carries (ticket.received, draft.requested). */
export type EncryptedTicketText = { [K in keyof typeof encryptedTicketText]: z.infer<(typeof encryptedTicketText)[K]> };

/** Channels an integration submits tickets through (tickets made through the API are the drafts service's own). */
export const SubmittedTicketChannels = ['email', 'chat', 'integration'] as const;

export const ticketSubmittedV1 = z
  .object({
    tenantId: uuidSchema,
    /** The integration's own id of the ticket: submitted again, it is the same ticket (stored once). */
    externalId: z.string().min(1).max(200).nullable(),
    channel: z.enum(SubmittedTicketChannels),
    ...encryptedTicketText,
    customerEmailEnc: encryptedField,
    /** When the customer's message reached the integration. */
    receivedAt: z.iso.datetime({ offset: true }),
  })
  .strict();
export type TicketSubmittedV1 = z.infer<typeof ticketSubmittedV1>;

/**
 * Version 2 (issue 13): the stored ticket carries the id of its first draft (minted by the drafts
 * service, as for every later draft) and the quota hold taken for it. Version 1 was never published
 * outside development builds and is no longer read.
 */
export const ticketReceivedV2 = z
  .object({
    tenantId: uuidSchema,
    ticketId: uuidSchema,
    /** The integration's own id of the ticket (a retried delivery is the same ticket). */
    externalId: z.string().min(1).max(200).nullable(),
    channel: z.enum(TicketChannels),
    ...encryptedTicketText,
    customerEmailEnc: encryptedField,
    receivedAt: z.iso.datetime({ offset: true }),
    /** The id the ticket's first draft will have (attempt 1). */
    draftId: uuidSchema,
    /** The gateway's hold on the month's ticket quota for this ticket (API tickets), settled by quota when it counts the ticket; null when none was taken. */
    quotaReservationId: uuidSchema.nullable(),
  })
  .strict();
export type TicketReceivedV2 = z.infer<typeof ticketReceivedV2>;

export const draftRequestedV1 = z
  .object({
    tenantId: uuidSchema,
    ticketId: uuidSchema,
    /** The id the new draft will have (allocated by the drafts service). */
    draftId: uuidSchema,
    /**
     * 2 for the first regeneration, and so on (1 is the draft ticket.received names); or the attempt
     * a ticket is still drafting, asked for again after a pilot import (tenant.imported): its draft
     * job stayed in the pilot's queue. ai-drafting queues one job per ticket and attempt.
     */
    attempt: z.number().int().min(1),
    by: actor,
    ...encryptedTicketText,
  })
  .strict();
export type DraftRequestedV1 = z.infer<typeof draftRequestedV1>;

/** How many of a ticket's earlier drafts a regeneration carries (the latest ones). */
export const MAX_EARLIER_DRAFTS = 5;

/**
 * An earlier draft of the ticket that the operator turned down or corrected, and what they said,
 * every text encrypted with the tenant's data key under the field it is stored under in the drafts
 * service (`SupportFields.DRAFT_BODY`, `REJECT_REASON`, `EDITED_BODY`): the same tokens as in its rows.
 */
export const encryptedEarlierDraft = z
  .object({
    attempt: z.number().int().min(1),
    /** The draft as it was written; null when that attempt has no text. */
    bodyEnc: encryptedField.nullable(),
    /** Why the operator rejected it; null when they did not. */
    rejectReasonEnc: encryptedField.nullable(),
    /** The operator's own version of the draft, when they wrote one. */
    editedBodyEnc: encryptedField.nullable(),
  })
  .strict();
export type EncryptedEarlierDraft = z.infer<typeof encryptedEarlierDraft>;

/**
 * Version 2 (issue 16): a regeneration carries the ticket's earlier drafts the operator rejected or
 * corrected, oldest first, at most {@link MAX_EARLIER_DRAFTS}, so that their reasons and edits shape
 * the next draft (empty for a ticket's first draft asked for again after a pilot import, or when no
 * earlier draft has a reason or an edit). Consumers still take version 1 (no earlier drafts).
 */
export const draftRequestedV2 = draftRequestedV1.extend({ earlierDrafts: z.array(encryptedEarlierDraft).max(MAX_EARLIER_DRAFTS) }).strict();
export type DraftRequestedV2 = z.infer<typeof draftRequestedV2>;

export const draftCitation = z.object({ chunkId: uuidSchema, documentId: z.string().min(1).max(200), title: z.string().max(500) }).strict();

export const draftGeneratedV1 = z
  .object({
    tenantId: uuidSchema,
    ticketId: uuidSchema,
    draftId: uuidSchema,
    /** 1 for the first draft of the ticket, then one more per regeneration. */
    attempt: z.number().int().min(1),
    bodyEnc: encryptedField,
    citations: z.array(draftCitation).max(50),
    model: z.string().min(1).max(200),
    usage: z.object({ promptTokens: z.number().int().min(0), completionTokens: z.number().int().min(0) }).strict(),
  })
  .strict();
export type DraftGeneratedV1 = z.infer<typeof draftGeneratedV1>;

/** Longest cited passage carried with a draft, in characters (a chunk of the knowledge base is shorter). */
export const MAX_CITED_PASSAGE = 4_000;

/**
 * A cited passage with its text (issue 16 item 3: the operator reads what the draft rests on),
 * encrypted under the tenant's data key (`SupportFields.CITED_PASSAGE`): the drafts service keeps it
 * from the event (it reads no table of the knowledge service's). Null when the text was not at hand.
 */
export const draftCitationV2 = draftCitation.extend({ textEnc: encryptedField.nullable() }).strict();

/** Version 2: each citation carries its passage's text, encrypted. Consumers still take version 1 (no text). */
export const draftGeneratedV2 = draftGeneratedV1.extend({ citations: z.array(draftCitationV2).max(50) }).strict();
export type DraftGeneratedV2 = z.infer<typeof draftGeneratedV2>;

export const draftFailedV1 = z
  .object({ tenantId: uuidSchema, ticketId: uuidSchema, draftId: uuidSchema, attempt: z.number().int().min(1), code: z.string().min(1).max(100), reason: z.string().min(1).max(1000) })
  .strict();
export type DraftFailedV1 = z.infer<typeof draftFailedV1>;

export const draftApprovedV1 = z.object({ tenantId: uuidSchema, ticketId: uuidSchema, draftId: uuidSchema, by: actor }).strict();
export type DraftApprovedV1 = z.infer<typeof draftApprovedV1>;

export const draftEditedV1 = z
  .object({
    tenantId: uuidSchema,
    ticketId: uuidSchema,
    draftId: uuidSchema,
    by: actor,
    editedBodyEnc: encryptedField,
    /** How much the operator changed (the diff itself is kept with the draft, encrypted). */
    changed: z.object({ charactersAdded: z.number().int().min(0), charactersRemoved: z.number().int().min(0) }).strict(),
  })
  .strict();
export type DraftEditedV1 = z.infer<typeof draftEditedV1>;

export const draftRejectedV1 = z.object({ tenantId: uuidSchema, ticketId: uuidSchema, draftId: uuidSchema, by: actor, reasonEnc: encryptedField }).strict();
export type DraftRejectedV1 = z.infer<typeof draftRejectedV1>;

export const replySentV1 = z
  .object({ tenantId: uuidSchema, ticketId: uuidSchema, draftId: uuidSchema.nullable(), by: actor, bodyEnc: encryptedField, sentAt: z.iso.datetime({ offset: true }) })
  .strict();
export type ReplySentV1 = z.infer<typeof replySentV1>;
