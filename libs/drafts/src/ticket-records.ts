import { SupportFields, TenantId, TicketStatus } from '@hotdash/contracts';
import { type FieldCipher, SubjectKeyDestroyedError } from '@hotdash/platform-crypto';
import { newId } from '@hotdash/platform-db';
import type { EventMeta } from '@hotdash/platform-messaging';
import { tryCurrentTenantContext } from '@hotdash/platform-tenancy';

export const DRAFTS_PRODUCER = 'drafts';

/** What a value of an erased data subject reads as (its key destroyed). */
export const ERASED_TEXT = '[erased]';

/** Metadata of the drafts service's events: the request's correlation id when there is one. */
export function draftsEventMeta(tenantId: TenantId): EventMeta {
  return { tenantId, producer: DRAFTS_PRODUCER, correlationId: tryCurrentTenantContext()?.correlationId ?? newId() };
}

/** A ticket's SLA as the queue shows it. */
export interface TicketSlaView {
  /** When the first decision is due; null when no workflow applied or the first decision was made. */
  slaDueAt: string | null;
  slaBreached: boolean;
  slaBreachedAt: string | null;
  /** The team lead it was escalated to when it breached. */
  slaEscalatedTo: string | null;
}

export interface SlaColumns {
  sla_due_at?: Date | null;
  sla_decided_at?: Date | null;
  sla_breached_at?: Date | null;
  sla_escalated_to?: string | null;
}

export function slaViewOf(r: SlaColumns): TicketSlaView {
  const breachedAt = r.sla_breached_at ?? null;
  return {
    slaDueAt: r.sla_due_at && !r.sla_decided_at ? r.sla_due_at.toISOString() : null,
    slaBreached: breachedAt !== null,
    slaBreachedAt: breachedAt?.toISOString() ?? null,
    slaEscalatedTo: r.sla_escalated_to ?? null,
  };
}

export interface TicketRow extends SlaColumns {
  id: string;
  external_id: string | null;
  channel: string;
  customer_name_enc: string;
  customer_email_enc: string;
  subject_enc: string | null;
  body_enc: string;
  status: TicketStatus;
  attempt: number;
  current_draft_id: string | null;
  assignee_id: string | null;
  reply_body_enc: string | null;
  reply_draft_id: string | null;
  replied_by: string | null;
  replied_at: Date | null;
  received_at: Date;
  created_at: Date;
  updated_at: Date;
}

/** The columns of a TicketRow, for Kysely selects on `tickets as t`. */
export const TICKET_COLUMNS = [
  't.id',
  't.external_id',
  't.channel',
  't.customer_name_enc',
  't.customer_email_enc',
  't.subject_enc',
  't.body_enc',
  't.status',
  't.attempt',
  't.current_draft_id',
  't.assignee_id',
  't.reply_body_enc',
  't.reply_draft_id',
  't.replied_by',
  't.replied_at',
  't.received_at',
  't.created_at',
  't.updated_at',
] as const;

/** A citation as the drafts row keeps it (the event's, unchanged). */
export interface StoredCitation {
  chunkId: string;
  documentId: string;
  title: string;
  textEnc?: string | null;
}

export interface DraftRow {
  id: string;
  ticket_id: string;
  attempt: number;
  status: DraftDto['status'];
  body_enc: string | null;
  /** As draft.generated carried them (version 2: each passage's text as a FieldCipher token). */
  citations: StoredCitation[];
  model: string | null;
  prompt_tokens: number;
  completion_tokens: number;
  edited_body_enc: string | null;
  diff_enc: string | null;
  characters_added: number | null;
  characters_removed: number | null;
  reject_reason_enc: string | null;
  failure_code: string | null;
  failure_reason: string | null;
  decided_by: string | null;
  decided_at: Date | null;
  created_at: Date;
}

/** The columns of a DraftRow, for Kysely selects on `drafts as d`. */
export const DRAFT_COLUMNS = [
  'd.id',
  'd.ticket_id',
  'd.attempt',
  'd.status',
  'd.body_enc',
  'd.citations',
  'd.model',
  'd.prompt_tokens',
  'd.completion_tokens',
  'd.edited_body_enc',
  'd.diff_enc',
  'd.characters_added',
  'd.characters_removed',
  'd.reject_reason_enc',
  'd.failure_code',
  'd.failure_reason',
  'd.decided_by',
  'd.decided_at',
  'd.created_at',
] as const;

/** A ticket in the queue, as its operators see it (decrypted for them). */
export interface TicketSummaryDto {
  id: string;
  externalId: string | null;
  channel: string;
  /** drafting → pending (a draft awaits approval) → replied; or rejected / draft_failed (regenerate, or reply by hand). */
  status: TicketStatus;
  attempt: number;
  currentDraftId: string | null;
  assigneeId: string | null;
  customer: { name: string; email: string };
  subject: string | null;
  receivedAt: string;
  updatedAt: string;
  /** The approval SLA (sla.ts): when the first decision is due while it runs, whether and when it was breached, the team lead it went to. */
  slaDueAt: string | null;
  slaBreached: boolean;
  slaBreachedAt: string | null;
  slaEscalatedTo: string | null;
}

export interface DraftDto {
  id: string;
  attempt: number;
  status: 'pending' | 'approved' | 'edited' | 'rejected' | 'failed' | 'superseded';
  body: string | null;
  /** The passages the draft rests on, with their text (null for drafts written before it was kept): for the operator, never in the reply. */
  citations: { chunkId: string; documentId: string; title: string; text: string | null }[];
  model: string | null;
  usage: { promptTokens: number; completionTokens: number };
  /** For an edited draft: what was sent, and the change as a unified diff; for a rejected draft, the operator's own version if they gave one (not sent, no diff). */
  editedBody: string | null;
  diff: string | null;
  changed: { charactersAdded: number; charactersRemoved: number } | null;
  rejectReason: string | null;
  failure: { code: string; reason: string } | null;
  decidedBy: string | null;
  decidedAt: string | null;
  createdAt: string;
}

export interface TicketDto extends TicketSummaryDto {
  body: string;
  drafts: DraftDto[];
  reply: { body: string; draftId: string | null; by: string; sentAt: string } | null;
}

/** A ticket's summary from its row and its decrypted customer values. */
function summaryOf(t: TicketRow, name: string, email: string, subject: string | null): TicketSummaryDto {
  return {
    id: t.id,
    externalId: t.external_id,
    channel: t.channel,
    status: t.status,
    attempt: t.attempt,
    currentDraftId: t.current_draft_id,
    assigneeId: t.assignee_id,
    customer: { name, email },
    subject,
    receivedAt: t.received_at.toISOString(),
    updatedAt: t.updated_at.toISOString(),
    ...slaViewOf(t),
  };
}

/** Decrypts a ticket's and its drafts' values for a caller who may see them. */
export class TicketReader {
  constructor(private readonly cipher: FieldCipher) {}

  async summary(tenantId: TenantId, t: TicketRow): Promise<TicketSummaryDto> {
    const [name, email, subject] = await Promise.all([
      this.read(tenantId, SupportFields.CUSTOMER_NAME, t.customer_name_enc),
      this.read(tenantId, SupportFields.CUSTOMER_EMAIL, t.customer_email_enc),
      this.open(tenantId, SupportFields.SUBJECT, t.subject_enc),
    ]);
    return summaryOf(t, name, email, subject);
  }

  /** A ticket just stored, from the plaintext it was encrypted from: no drafts, no reply, nothing to decrypt. */
  stored(t: TicketRow, plain: { name: string; email: string; subject: string | null; body: string }): TicketDto {
    return { ...summaryOf(t, plain.name, plain.email, plain.subject), body: plain.body, drafts: [], reply: null };
  }

  async ticket(tenantId: TenantId, t: TicketRow, drafts: DraftRow[]): Promise<TicketDto> {
    const [summary, body, reply] = await Promise.all([this.summary(tenantId, t), this.read(tenantId, SupportFields.BODY, t.body_enc), this.open(tenantId, SupportFields.REPLY_BODY, t.reply_body_enc)]);
    return {
      ...summary,
      body,
      drafts: await Promise.all(drafts.map((d) => this.draft(tenantId, d))),
      reply: reply === null ? null : { body: reply, draftId: t.reply_draft_id, by: t.replied_by!, sentAt: t.replied_at!.toISOString() },
    };
  }

  async draft(tenantId: TenantId, d: DraftRow): Promise<DraftDto> {
    const [body, editedBody, diff, rejectReason, citations] = await Promise.all([
      this.open(tenantId, SupportFields.DRAFT_BODY, d.body_enc),
      this.open(tenantId, SupportFields.EDITED_BODY, d.edited_body_enc),
      this.open(tenantId, SupportFields.DIFF, d.diff_enc),
      this.open(tenantId, SupportFields.REJECT_REASON, d.reject_reason_enc),
      Promise.all(
        (d.citations ?? []).map(async (c) => ({ chunkId: c.chunkId, documentId: c.documentId, title: c.title, text: await this.open(tenantId, SupportFields.CITED_PASSAGE, c.textEnc ?? null) })),
      ),
    ]);
    return {
      id: d.id,
      attempt: d.attempt,
      status: d.status,
      body,
      citations,
      model: d.model,
      usage: { promptTokens: d.prompt_tokens, completionTokens: d.completion_tokens },
      editedBody,
      diff,
      changed: d.characters_added === null ? null : { charactersAdded: d.characters_added, charactersRemoved: d.characters_removed ?? 0 },
      rejectReason,
      failure: d.failure_code === null ? null : { code: d.failure_code, reason: d.failure_reason ?? '' },
      decidedBy: d.decided_by,
      decidedAt: d.decided_at?.toISOString() ?? null,
      createdAt: d.created_at.toISOString(),
    };
  }

  /** A value that may be absent (null stays null). */
  private open(tenantId: TenantId, field: string, token: string | null): Promise<string | null> {
    return token === null ? Promise.resolve(null) : this.read(tenantId, field, token);
  }

  /** A value; one of an erased data subject (its key destroyed: a row back from an older backup, or mid-erasure) reads as ERASED_TEXT. */
  private read(tenantId: TenantId, field: string, token: string): Promise<string> {
    return this.cipher.decrypt(tenantId, field, token).catch((err: unknown) => {
      if (err instanceof SubjectKeyDestroyedError) return ERASED_TEXT;
      throw err;
    });
  }
}
