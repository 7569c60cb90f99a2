import { Inject, Injectable } from '@nestjs/common';
import { sql } from 'kysely';
import { DraftEvents, editDraftBody, manualReplyBody, rejectDraftBody, SupportFields, TicketEvents } from '@hotdash/contracts';
import { actorOf, Principal } from '@hotdash/platform-auth';
import { FieldCipher } from '@hotdash/platform-crypto';
import { newId, TenantDatabase, TenantStatusCache, TenantTx } from '@hotdash/platform-db';
import { Metrics, notFound, parseInput, ProblemException } from '@hotdash/platform-http';
import { EventMeta, publishInTx } from '@hotdash/platform-messaging';
import { earlierDraftsOf } from './earlier-drafts';
import { visibleTo } from './queue-scope';
import { slaDecided } from './sla';
import { textChange } from './text-diff';
import { draftsEventMeta, TicketDto, TicketRow } from './ticket-records';

/** The transaction's time, as the decisions record it. */
const now = sql<Date>`now()`;
import { TicketsService } from './tickets.service';

interface DecisionRow {
  ticket_id: string;
  ticket_status: TicketRow['status'];
  current_draft_id: string | null;
  draft_status: string;
  body_enc: string;
  /** The ticket's message: texts written about the ticket are sealed under its key (the data subject's). */
  ticket_body_enc: string;
}

const STATE_HINT: Record<string, string> = {
  approved: 'It was approved and the reply sent.',
  edited: 'It was edited, approved and the reply sent.',
  rejected: 'It was rejected: ask for a new draft (POST /tickets/{id}/regenerate) or reply by hand (POST /tickets/{id}/reply).',
  failed: 'The model gave no draft: reply by hand or ask for a new draft.',
  superseded: 'A newer draft or a hand-written reply took its place.',
};

/**
 * An operator's decisions: approve a pending draft (the reply goes out), edit then approve it (the
 * change kept as a diff), reject it with a reason; ask for a new draft; reply by hand. Each
 * decision (ids as the controller parsed them) checks the ticket is in the caller's queue (otherwise: 404, as if it did not exist) and
 * the draft is still the pending one (otherwise: 409 with what to do), and publishes its events in
 * the same transaction.
 */
@Injectable()
export class DecisionsService {
  constructor(
    @Inject(TenantDatabase) private readonly db: TenantDatabase,
    @Inject(FieldCipher) private readonly cipher: FieldCipher,
    @Inject(TenantStatusCache) private readonly statuses: TenantStatusCache,
    @Inject(TicketsService) private readonly tickets: TicketsService,
  ) {}

  async approve(caller: Principal, draftId: string): Promise<TicketDto> {
    return this.counted(caller, 'approved', () =>
      this.decide(caller, draftId, async (tx, d, meta) => {
        const by = actorOf(caller);
        await tx.db.updateTable('drafts').set({ status: 'approved', decided_by: by, decided_at: now }).where('id', '=', draftId).execute();
        await publishInTx(tx, DraftEvents.APPROVED, { tenantId: caller.tenantId, ticketId: d.ticket_id, draftId, by }, meta);
        await this.sendReply(tx, caller, d.ticket_id, draftId, await this.cipher.decrypt(caller.tenantId, SupportFields.DRAFT_BODY, d.body_enc), meta, d.ticket_body_enc);
      }),
    );
  }

  async edit(caller: Principal, draftId: string, body: unknown): Promise<TicketDto> {
    const input = parseInput(editDraftBody, body);
    return this.counted(caller, 'edited', () =>
      this.decide(caller, draftId, async (tx, d, meta) => {
        const draft = await this.cipher.decrypt(caller.tenantId, SupportFields.DRAFT_BODY, d.body_enc);
        if (draft.trim() === input.body) throw new ProblemException(400, 'no-change', 'Nothing changed', 'The text is the draft as it is: approve the draft instead.');
        const change = textChange(draft, input.body);
        const by = actorOf(caller);
        const editedBodyEnc = await this.cipher.encrypt(caller.tenantId, SupportFields.EDITED_BODY, input.body, { like: d.ticket_body_enc });
        const diffEnc = await this.cipher.encrypt(caller.tenantId, SupportFields.DIFF, change.patch, { like: d.ticket_body_enc });
        await tx.db
          .updateTable('drafts')
          .set({ status: 'edited', edited_body_enc: editedBodyEnc, diff_enc: diffEnc, characters_added: change.charactersAdded, characters_removed: change.charactersRemoved, decided_by: by, decided_at: now })
          .where('id', '=', draftId)
          .execute();
        await publishInTx(
          tx,
          DraftEvents.EDITED,
          { tenantId: caller.tenantId, ticketId: d.ticket_id, draftId, by, editedBodyEnc, changed: { charactersAdded: change.charactersAdded, charactersRemoved: change.charactersRemoved } },
          meta,
        );
        await this.sendReply(tx, caller, d.ticket_id, draftId, input.body, meta, d.ticket_body_enc);
      }),
    );
  }

  /** Rejects the draft with a reason and, optionally, the operator's own version of it (not sent): both shape the next draft. */
  async reject(caller: Principal, draftId: string, body: unknown): Promise<TicketDto> {
    const { reason, editedBody } = parseInput(rejectDraftBody, body);
    return this.counted(caller, 'rejected', () =>
      this.decide(caller, draftId, async (tx, d, meta) => {
        const by = actorOf(caller);
        const reasonEnc = await this.cipher.encrypt(caller.tenantId, SupportFields.REJECT_REASON, reason, { like: d.ticket_body_enc });
        const editedBodyEnc = editedBody === undefined ? null : await this.cipher.encrypt(caller.tenantId, SupportFields.EDITED_BODY, editedBody, { like: d.ticket_body_enc });
        await tx.db.updateTable('drafts').set({ status: 'rejected', reject_reason_enc: reasonEnc, edited_body_enc: editedBodyEnc, decided_by: by, decided_at: now }).where('id', '=', draftId).execute();
        await tx.db.updateTable('tickets').set({ status: 'rejected', updated_at: now }).where('id', '=', d.ticket_id).execute();
        await publishInTx(tx, DraftEvents.REJECTED, { tenantId: caller.tenantId, ticketId: d.ticket_id, draftId, by, reasonEnc }, meta);
      }),
    );
  }

  /** A decision's outcome counted once it is committed (metrics: drafts approved, edited, rejected per tenant). */
  private async counted(caller: Principal, outcome: 'approved' | 'edited' | 'rejected', decide: () => Promise<TicketDto>): Promise<TicketDto> {
    const ticket = await decide();
    Metrics.draft(caller.tenantId, outcome);
    return ticket;
  }

  /**
   * A new draft for a ticket whose draft was rejected or failed (draft.requested, for ai-drafting),
   * with the earlier drafts' reasons and edits for it to follow (their encrypted tokens).
   */
  async regenerate(caller: Principal, ticketId: string): Promise<TicketDto> {
    await this.statuses.assertWritable(caller.tenantId);
    await this.db.withTenant(caller.tenantId, async (tx) => {
      const t = await this.lockTicket(tx, caller, ticketId);
      if (t.status !== 'rejected' && t.status !== 'draft_failed')
        throw new ProblemException(409, 'cannot-regenerate', 'No new draft now', `The ticket is ${t.status}; a new draft is asked for after a rejected or failed one.`);
      const draftId = newId();
      const attempt = t.attempt + 1;
      const earlierDrafts = (await earlierDraftsOf(tx, [{ id: ticketId, attempt }])).get(ticketId)!;
      await tx.db.updateTable('tickets').set({ status: 'drafting', attempt, current_draft_id: null, updated_at: now }).where('id', '=', ticketId).execute();
      await publishInTx(
        tx,
        DraftEvents.REQUESTED,
        { tenantId: caller.tenantId, ticketId, draftId, attempt, by: actorOf(caller), customerNameEnc: t.customer_name_enc, subjectEnc: t.subject_enc, bodyEnc: t.body_enc, earlierDrafts },
        draftsEventMeta(caller.tenantId),
      );
    });
    return this.tickets.read(caller.tenantId, ticketId);
  }

  /** The operator's own reply, whatever the draft's state (a pending draft is superseded by it). */
  async reply(caller: Principal, ticketId: string, body: unknown): Promise<TicketDto> {
    const input = parseInput(manualReplyBody, body);
    await this.statuses.assertWritable(caller.tenantId);
    await this.db.withTenant(caller.tenantId, async (tx) => {
      const t = await this.lockTicket(tx, caller, ticketId);
      if (t.status === 'replied') throw new ProblemException(409, 'already-replied', 'Already replied', 'The customer already got the reply to this ticket.');
      await slaDecided(tx, ticketId);
      await tx.db.updateTable('drafts').set({ status: 'superseded' }).where('ticket_id', '=', ticketId).where('status', '=', 'pending').execute();
      await this.sendReply(tx, caller, ticketId, null, input.body, draftsEventMeta(caller.tenantId), t.body_enc);
    });
    return this.tickets.read(caller.tenantId, ticketId);
  }

  private async decide(caller: Principal, draftId: string, apply: (tx: TenantTx, d: DecisionRow, meta: EventMeta) => Promise<void>): Promise<TicketDto> {
    await this.statuses.assertWritable(caller.tenantId);
    const ticketId = await this.db.withTenant(caller.tenantId, async (tx) => {
      const d = await tx.db
        .selectFrom('drafts as d')
        .innerJoin('tickets as t', 't.id', 'd.ticket_id')
        .select(['t.id as ticket_id', 't.status as ticket_status', 't.current_draft_id', 'd.status as draft_status', 'd.body_enc', 't.body_enc as ticket_body_enc'])
        .where(visibleTo(caller))
        .where('d.id', '=', draftId)
        .forUpdate(['t', 'd'])
        .$castTo<DecisionRow>()
        .executeTakeFirst();
      if (!d) throw notFound(`draft ${draftId}`);
      if (d.draft_status !== 'pending' || d.ticket_status !== 'pending' || d.current_draft_id !== draftId)
        throw new ProblemException(409, 'draft-not-pending', 'Draft already decided', `The draft is ${d.draft_status}, not pending approval. ${STATE_HINT[d.draft_status] ?? ''}`.trim());
      await apply(tx, d, draftsEventMeta(caller.tenantId));
      await slaDecided(tx, d.ticket_id);
      return d.ticket_id;
    });
    return this.tickets.read(caller.tenantId, ticketId);
  }

  private async lockTicket(tx: TenantTx, caller: Principal, ticketId: string): Promise<TicketRow> {
    const t = await tx.db
      .selectFrom('tickets as t')
      .select(['t.status', 't.attempt', 't.customer_name_enc', 't.subject_enc', 't.body_enc'])
      .where(visibleTo(caller))
      .where('t.id', '=', ticketId)
      .forUpdate()
      .$castTo<TicketRow>()
      .executeTakeFirst();
    if (!t) throw notFound(`ticket ${ticketId}`);
    return t;
  }

  /** `like`: the ticket's message token, whose key (the data subject's) the reply is sealed under. */
  private async sendReply(tx: TenantTx, caller: Principal, ticketId: string, draftId: string | null, text: string, meta: EventMeta, like: string): Promise<void> {
    const by = actorOf(caller);
    const bodyEnc = await this.cipher.encrypt(caller.tenantId, SupportFields.REPLY_BODY, text, { like });
    const sent = await tx.db
      .updateTable('tickets')
      .set({ status: 'replied', reply_body_enc: bodyEnc, reply_draft_id: draftId, replied_by: by, replied_at: now, updated_at: now })
      .where('id', '=', ticketId)
      .returning('replied_at')
      .executeTakeFirstOrThrow();
    await publishInTx(tx, TicketEvents.REPLY_SENT, { tenantId: caller.tenantId, ticketId, draftId, by, bodyEnc, sentAt: sent.replied_at!.toISOString() }, meta);
  }

}
