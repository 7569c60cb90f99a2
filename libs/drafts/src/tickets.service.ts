import { Inject, Injectable } from '@nestjs/common';
import { Insertable, QueryCreator, sql } from 'kysely';
import {
  assignTicketBody,
  createTicketBody,
  DraftEvents,
  DraftFailedV1,
  DraftGeneratedV1,
  DraftGeneratedV2,
  TenantId,
  TenantImportedV1,
  TenantRestoredV1,
  TicketEvents,
  ticketListQuery,
  TicketReceivedV2,
  TicketSubmittedV1,
} from '@hotdash/contracts';
import type { Principal } from '@hotdash/platform-auth';
import { FieldCipher } from '@hotdash/platform-crypto';
import { newId, TenantDatabase, TenantDB, TenantStatusCache, TenantTx } from '@hotdash/platform-db';
import { notFound, parseInput, ProblemException } from '@hotdash/platform-http';
import { publishInTx, publishManyInTx } from '@hotdash/platform-messaging';
import { earlierDraftsOf } from './earlier-drafts';
import { scopeParams, visibleTo } from './queue-scope';
import { SLA_COLUMNS, startSla } from './sla';
import { resealSubmittedText, sealTicketText } from './subject-seal';
import { DRAFT_COLUMNS, DraftRow, DRAFTS_PRODUCER, draftsEventMeta, TICKET_COLUMNS, TicketDto, TicketReader, TicketRow, TicketSummaryDto } from './ticket-records';

/** A draft event for a ticket this service has not stored yet (its ticket.received is still on its way): retried by the transport. */
export class TicketNotYetKnownError extends Error {
  constructor(ticketId: string) {
    super(`ticket ${ticketId} is not stored yet; retrying until its ticket.received arrives`);
  }
}

/**
 * Tickets and the approval queue: tickets in (the API, and ticket.received from integrations),
 * each assigned to the active operator with the fewest open tickets; the queue as the caller's
 * role lets them see it; drafts arriving from ai-drafting (draft.generated / draft.failed) put a
 * ticket in front of its operator. Customer data is encrypted before it is stored or published.
 */
@Injectable()
export class TicketsService {
  private readonly reader: TicketReader;

  constructor(
    @Inject(TenantDatabase) private readonly db: TenantDatabase,
    @Inject(FieldCipher) private readonly cipher: FieldCipher,
    @Inject(TenantStatusCache) private readonly statuses: TenantStatusCache,
  ) {
    this.reader = new TicketReader(cipher);
  }

  /**
   * A ticket from the API. Sent again with the same externalId, it answers with the ticket already
   * created (`created: false`). `quotaReservationId` is the gateway's hold on the month's ticket
   * quota: it travels in ticket.received, and quota settles it when it counts the ticket.
   */
  async create(caller: Principal, body: unknown, quotaReservationId: string | null = null): Promise<{ ticket: TicketDto; created: boolean }> {
    const input = parseInput(createTicketBody, body);
    const tenantId = caller.tenantId;
    await this.statuses.assertWritable(tenantId);
    // The customer's values under the data subject's own key (subject-seal.ts), with its reference.
    const { subjectRef, customerNameEnc, customerEmailEnc, subjectEnc, bodyEnc } = await sealTicketText(this.cipher, tenantId, {
      name: input.customer.name,
      email: input.customer.email,
      subject: input.subject ?? null,
      body: input.body,
    });
    const received = this.receive(tenantId, {
      externalId: input.externalId ?? null,
      channel: 'api',
      customerNameEnc,
      customerEmailEnc,
      subjectEnc,
      bodyEnc,
      receivedAt: new Date().toISOString(),
    }, quotaReservationId);
    const stored = await this.db.withTenant(tenantId, async (tx): Promise<{ row: TicketRow } | { existingId: string }> => {
      const row = await this.store(tx, received, subjectRef);
      if (row) {
        await publishInTx(tx, TicketEvents.RECEIVED, received, draftsEventMeta(tenantId));
        return { row };
      }
      const existing = await tx.db.selectFrom('tickets').select('id').where('external_id', '=', received.externalId).executeTakeFirstOrThrow();
      return { existingId: existing.id };
    });
    // A new ticket is answered from what was just stored (no second transaction, nothing to decrypt);
    // a known externalId with the ticket as it is now.
    if ('row' in stored) return { ticket: this.reader.stored(stored.row, { name: input.customer.name, email: input.customer.email, subject: input.subject ?? null, body: input.body }), created: true };
    return { ticket: await this.read(tenantId, stored.existingId), created: false };
  }

  /**
   * A ticket an integration submitted (ticket.submitted, in the transport's transaction): stored once
   * (a known externalId is the same ticket) and announced as ticket.received, caused by the submission.
   */
  async onSubmitted(tx: TenantTx, submitted: TicketSubmittedV1, meta: { correlationId: string; causationId: string }): Promise<boolean> {
    const { tenantId, ...ticket } = submitted;
    const { subjectRef, ...sealed } = await resealSubmittedText(this.cipher, tenantId as TenantId, ticket);
    const received = this.receive(tenantId as TenantId, { ...ticket, ...sealed }, null);
    if (!(await this.store(tx, received, subjectRef))) return false;
    await publishInTx(tx, TicketEvents.RECEIVED, received, { ...draftsEventMeta(tenantId as TenantId), correlationId: meta.correlationId, causationId: meta.causationId });
    return true;
  }

  async list(caller: Principal, query: unknown): Promise<{ tickets: TicketSummaryDto[]; next: string | null }> {
    const q = parseInput(ticketListQuery, query);
    const limit = q.limit ?? 50;
    const rows = await this.db.withTenant(caller.tenantId, (tx) => {
      let select = tx.db.selectFrom('tickets as t').leftJoin('ticket_slas as s', (j) => j.onRef('s.tenant_id', '=', 't.tenant_id').onRef('s.ticket_id', '=', 't.id')).select(TICKET_COLUMNS).select(SLA_COLUMNS).where(visibleTo(caller));
      if (q.status) select = select.where('t.status', '=', q.status);
      if (q.breached) select = select.where('s.breached_at', q.breached === 'true' ? 'is not' : 'is', null);
      if (q.before) select = select.where('t.created_at', '<', new Date(q.before));
      return select.orderBy('t.created_at', 'desc').orderBy('t.id', 'desc').limit(limit + 1).$castTo<TicketRow>().execute();
    });
    const page = rows.slice(0, limit);
    return { tickets: await Promise.all(page.map((t) => this.reader.summary(caller.tenantId, t))), next: rows.length > limit ? page[page.length - 1]!.created_at.toISOString() : null };
  }

  /** A ticket with its drafts and reply; one the caller may not see is as missing as one that does not exist. */
  async get(caller: Principal, ticketId: string): Promise<TicketDto> {
    const { t, drafts } = await this.db.withTenant(caller.tenantId, async (tx) => {
      const visible = await tx.db.selectFrom('tickets as t').leftJoin('ticket_slas as s', (j) => j.onRef('s.tenant_id', '=', 't.tenant_id').onRef('s.ticket_id', '=', 't.id')).select(TICKET_COLUMNS).select(SLA_COLUMNS).where(visibleTo(caller)).where('t.id', '=', ticketId).$castTo<TicketRow>().executeTakeFirst();
      return { t: visible, drafts: visible ? await this.draftsOf(tx, visible.id) : [] };
    });
    if (!t) throw notFound(`ticket ${ticketId}`);
    return this.reader.ticket(caller.tenantId, t, drafts);
  }

  /** Team leads (within their team), managers and admins give a ticket to an active operator of the tenant, or take it back (null). */
  async assign(caller: Principal, ticketId: string, body: unknown): Promise<TicketDto> {
    const { assigneeId } = parseInput(assignTicketBody, body);
    await this.statuses.assertWritable(caller.tenantId);
    const [scope, me] = scopeParams(caller);
    await this.db.withTenant(caller.tenantId, async (tx) => {
      const t = await tx.db.selectFrom('tickets as t').select('t.id').where(visibleTo(caller)).where('t.id', '=', ticketId).forUpdate().executeTakeFirst();
      if (!t) throw notFound(`ticket ${ticketId}`);
      if (assigneeId !== null) {
        const u = await tx.db.selectFrom('queue_members').select('team').where('user_id', '=', assigneeId).where('status', '=', 'active').executeTakeFirst();
        if (!u) throw new ProblemException(422, 'unknown-assignee', 'Unknown assignee', `No active operator ${assigneeId} in this tenant.`);
        if (scope === 'team') {
          const mine = me === null ? undefined : await tx.db.selectFrom('queue_members').select('team').where('user_id', '=', me).executeTakeFirst();
          if (assigneeId !== me && (mine?.team == null || mine.team !== u.team))
            throw new ProblemException(403, 'outside-team', 'Outside your team', 'A team lead assigns tickets to the operators of their own team only.');
        }
      } else if (scope === 'team') {
        throw new ProblemException(403, 'outside-team', 'Outside your team', 'Only managers and admins leave tickets unassigned.');
      }
      await tx.db.updateTable('tickets').set({ assignee_id: assigneeId, updated_at: sql<Date>`now()` }).where('id', '=', ticketId).execute();
    });
    return this.read(caller.tenantId, ticketId);
  }

  /** A draft from ai-drafting: the ticket's current attempt puts it in front of its operator; an outdated one is kept as superseded. */
  async onGenerated(tx: TenantTx, d: DraftGeneratedV1 | DraftGeneratedV2): Promise<void> {
    const current = await this.lockForDraft(tx, d.ticketId, d.attempt);
    await this.keepDraft(
      tx,
      {
        id: d.draftId,
        tenant_id: d.tenantId,
        ticket_id: d.ticketId,
        attempt: d.attempt,
        status: current ? 'pending' : 'superseded',
        body_enc: d.bodyEnc,
        citations: JSON.stringify(d.citations),
        model: d.model,
        prompt_tokens: d.usage.promptTokens,
        completion_tokens: d.usage.completionTokens,
      },
      current ? 'pending' : undefined,
    );
  }

  /**
   * After a pilot import (tenant.imported): every ticket still drafting has its draft asked for again
   * (draft.requested for the attempt it waits for, a new draft id), since its drafting job, if the
   * pilot had queued one, stayed in the pilot's queue. ai-drafting queues one job per ticket and
   * attempt, so a ticket whose ticket.received also reaches the platform (moved pending, or replayed)
   * is drafted once; should the pilot's own draft of it arrive too (its draft.generated replayed), the
   * first one to arrive is shown and the other kept as superseded. Returns the tickets asked for.
   */
  async resumeAfterImport(tx: TenantTx, tenantId: TenantId, imported: TenantImportedV1, causation: { correlationId: string; causationId: string }): Promise<number> {
    return this.askAgainForDrafting(tx, tenantId, `import:${imported.importId}`, false, causation);
  }

  /**
   * After a restore (tenant.restored): every ticket the archive caught drafting has a new draft
   * asked for, as a new attempt (its ticket waits for that one). Its drafting job, if one ran, was
   * not in the archive; one that is still kept in the queue under the old attempt's job id would
   * make a request for the same attempt a no-op. A draft of the old attempt that arrives after all
   * is kept as superseded. Returns the tickets asked for.
   */
  async resumeAfterRestore(tx: TenantTx, tenantId: TenantId, restored: TenantRestoredV1, causation: { correlationId: string; causationId: string }): Promise<number> {
    return this.askAgainForDrafting(tx, tenantId, `restore:${restored.runId}`, true, causation);
  }

  /** draft.requested for every ticket still drafting, in batches of 500: for the attempt it waits for, or (`nextAttempt`) the next one. */
  private async askAgainForDrafting(tx: TenantTx, tenantId: TenantId, by: string, nextAttempt: boolean, causation: { correlationId: string; causationId: string }): Promise<number> {
    const drafting = await tx.db
      .selectFrom('tickets')
      .select(['id', 'attempt', 'customer_name_enc', 'subject_enc', 'body_enc'])
      .where('status', '=', 'drafting')
      .orderBy('received_at')
      .forUpdate()
      .execute();
    const meta = { tenantId, producer: DRAFTS_PRODUCER, ...causation };
    for (let i = 0; i < drafting.length; i += 500) {
      const batch = drafting.slice(i, i + 500).map((t) => ({ ...t, attempt: nextAttempt ? t.attempt + 1 : t.attempt }));
      if (nextAttempt)
        await tx.db
          .updateTable('tickets')
          .set({ attempt: sql<number>`attempt + 1`, current_draft_id: null, updated_at: sql<Date>`now()` })
          .where((eb) => eb('id', '=', eb.fn.any(eb.val(batch.map((t) => t.id)))))
          .execute();
      const earlier = await earlierDraftsOf(tx, batch);
      await publishManyInTx(
        tx,
        batch.map((t) => ({
          type: DraftEvents.REQUESTED,
          payload: { tenantId, ticketId: t.id, draftId: newId(), attempt: t.attempt, by, customerNameEnc: t.customer_name_enc, subjectEnc: t.subject_enc, bodyEnc: t.body_enc, earlierDrafts: earlier.get(t.id)! },
          meta,
        })),
      );
    }
    return drafting.length;
  }

  /** No draft could be written: the ticket waits for a hand-written reply (or a regeneration). */
  async onFailed(tx: TenantTx, d: DraftFailedV1): Promise<void> {
    const current = await this.lockForDraft(tx, d.ticketId, d.attempt);
    await this.keepDraft(
      tx,
      { id: d.draftId, tenant_id: d.tenantId, ticket_id: d.ticketId, attempt: d.attempt, status: 'failed', failure_code: d.code, failure_reason: d.reason },
      current ? 'draft_failed' : undefined,
    );
  }

  /**
   * Stores the draft once (a draft id already stored changes nothing) and, when `show` is given
   * (the draft is the one the ticket waits for), makes the ticket show it with that status — only
   * if the draft was new: one statement, the update conditioned on the insert's RETURNING.
   */
  private async keepDraft(tx: TenantTx, draft: Insertable<TenantDB['drafts']>, show: 'pending' | 'draft_failed' | undefined): Promise<void> {
    const insert = (db: QueryCreator<TenantDB>) => db.insertInto('drafts').values(draft).onConflict((oc) => oc.doNothing());
    if (!show) {
      await insert(tx.db).execute();
      return;
    }
    await tx.db
      .with('kept', (db) => insert(db).returning('id'))
      .updateTable('tickets')
      .set({ status: show, current_draft_id: draft.id, updated_at: sql<Date>`now()` })
      .where('id', '=', draft.ticket_id)
      .where((eb) => eb.exists(eb.selectFrom('kept').select('kept.id')))
      .execute();
  }

  async read(tenantId: TenantId, ticketId: string): Promise<TicketDto> {
    const { t, drafts } = await this.db.withTenant(tenantId, async (tx) => ({
      t: await tx.db.selectFrom('tickets as t').leftJoin('ticket_slas as s', (j) => j.onRef('s.tenant_id', '=', 't.tenant_id').onRef('s.ticket_id', '=', 't.id')).select(TICKET_COLUMNS).select(SLA_COLUMNS).where('t.id', '=', ticketId).$castTo<TicketRow>().executeTakeFirst(),
      drafts: await this.draftsOf(tx, ticketId),
    }));
    if (!t) throw notFound(`ticket ${ticketId}`);
    return this.reader.ticket(tenantId, t, drafts);
  }

  private draftsOf(tx: TenantTx, ticketId: string): Promise<DraftRow[]> {
    return tx.db.selectFrom('drafts as d').select(DRAFT_COLUMNS).where('d.ticket_id', '=', ticketId).orderBy('d.attempt').$castTo<DraftRow>().execute();
  }

  /** Whether the draft is the one the ticket waits for (the ticket row locked); throws while the ticket is not stored yet. */
  private async lockForDraft(tx: TenantTx, ticketId: string, attempt: number): Promise<boolean> {
    const t = await tx.db.selectFrom('tickets').select(['status', 'attempt']).where('id', '=', ticketId).forUpdate().executeTakeFirst();
    if (!t) throw new TicketNotYetKnownError(ticketId);
    return t.status === 'drafting' && t.attempt === attempt;
  }

  /**
   * A removed operator's open tickets go to the active operators with the fewest open tickets, one
   * at a time (operator.removed); replied tickets keep their history.
   */
  async reassignFrom(tx: TenantTx, userId: string): Promise<number> {
    const open = await tx.db.selectFrom('tickets').select('id').where('assignee_id', '=', userId).where('status', '<>', 'replied').orderBy('created_at').forUpdate().execute();
    for (const t of open) await tx.db.updateTable('tickets').set({ assignee_id: await this.leastLoaded(tx, userId), updated_at: sql<Date>`now()` }).where('id', '=', t.id).execute();
    return open.length;
  }

  /**
   * The active operator with the fewest open tickets (null when there is none), other than `except`;
   * of equally loaded ones the longest-standing (user ids are UUIDv7). Drafts' own queue members.
   */
  private async leastLoaded(tx: TenantTx, except: string | null = null): Promise<string | null> {
    const u = await this.leastLoadedQuery(tx, except).executeTakeFirst();
    return u?.user_id ?? null;
  }

  /** leastLoaded's query, also used as a sub-select where a ticket is inserted (one statement, one round trip). */
  private leastLoadedQuery(tx: TenantTx, except: string | null = null) {
    return tx.db
      .selectFrom('queue_members as m')
      .select('m.user_id')
      .where('m.role', '=', 'operator')
      .where('m.status', '=', 'active')
      .$if(except !== null, (qb) => qb.where('m.user_id', '<>', except!))
      .orderBy((eb) => eb.selectFrom('tickets as t').select(eb.fn.countAll().as('n')).whereRef('t.assignee_id', '=', 'm.user_id').where('t.status', '<>', 'replied'))
      .orderBy('m.user_id')
      .limit(1);
  }

  /** The stored fact of a ticket: its id and its first draft's id are minted here, and nowhere else. */
  private receive(tenantId: TenantId, t: Omit<TicketReceivedV2, 'tenantId' | 'ticketId' | 'draftId' | 'quotaReservationId'>, quotaReservationId: string | null): TicketReceivedV2 {
    return { tenantId, ticketId: newId(), ...t, draftId: newId(), quotaReservationId };
  }

  /**
   * Inserts the ticket, assigned to the active operator with the fewest open tickets (chosen by a
   * sub-select of the same statement); the stored row, or undefined when it is already stored (same
   * id or externalId).
   */
  private async store(tx: TenantTx, r: TicketReceivedV2, subjectRef: string): Promise<TicketRow | undefined> {
    const inserted = await tx.db
      .insertInto('tickets')
      .values({
        id: r.ticketId,
        tenant_id: r.tenantId,
        external_id: r.externalId,
        channel: r.channel,
        customer_name_enc: r.customerNameEnc,
        customer_email_enc: r.customerEmailEnc,
        subject_enc: r.subjectEnc,
        body_enc: r.bodyEnc,
        status: 'drafting',
        attempt: 1,
        assignee_id: this.leastLoadedQuery(tx),
        received_at: r.receivedAt,
        subject_ref: subjectRef,
      })
      .onConflict((oc) => oc.doNothing())
      .returning(['assignee_id', 'received_at', 'created_at', 'updated_at'])
      .executeTakeFirst();
    if (!inserted) return undefined;
    // Its approval SLA, from the workflow that applies now (sla.ts).
    const sla = await startSla(tx, r.ticketId, inserted.received_at);
    return {
      id: r.ticketId,
      external_id: r.externalId,
      channel: r.channel,
      customer_name_enc: r.customerNameEnc,
      customer_email_enc: r.customerEmailEnc,
      subject_enc: r.subjectEnc,
      body_enc: r.bodyEnc,
      status: 'drafting',
      attempt: 1,
      current_draft_id: null,
      assignee_id: inserted.assignee_id,
      reply_body_enc: null,
      reply_draft_id: null,
      replied_by: null,
      replied_at: null,
      received_at: inserted.received_at,
      created_at: inserted.created_at,
      updated_at: inserted.updated_at,
      ...sla,
    };
  }
}
