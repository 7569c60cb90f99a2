import { Inject, Injectable } from '@nestjs/common';
import {
  assignTicketBody,
  createTicketBody,
  DraftFailedV1,
  DraftGeneratedV1,
  SupportFields,
  TenantId,
  TicketEvents,
  ticketListQuery,
  TicketReceivedV1,
} from '@hotdash/contracts';
import type { Principal } from '@hotdash/platform-auth';
import { FieldCipher } from '@hotdash/platform-crypto';
import { newId, TenantDatabase, TenantStatusCache, TenantTx } from '@hotdash/platform-db';
import { notFound, parseInput, ProblemException } from '@hotdash/platform-http';
import { publishInTx } from '@hotdash/platform-messaging';
import { scopeParams, visibleTo } from './queue-scope';
import { DRAFT_COLUMNS, DraftRow, draftsEventMeta, TICKET_COLUMNS, TicketDto, TicketReader, TicketRow, TicketSummaryDto } from './ticket-records';

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

  /** A ticket from the API. Sent again with the same externalId, it answers with the ticket already created (`created: false`). */
  async create(caller: Principal, body: unknown): Promise<{ ticket: TicketDto; created: boolean }> {
    const input = parseInput(createTicketBody, body);
    const tenantId = caller.tenantId;
    await this.statuses.assertWritable(tenantId);
    const enc = (field: string, value: string) => this.cipher.encrypt(tenantId, field, value);
    const [customerNameEnc, customerEmailEnc, subjectEnc, bodyEnc] = await Promise.all([
      enc(SupportFields.CUSTOMER_NAME, input.customer.name),
      enc(SupportFields.CUSTOMER_EMAIL, input.customer.email),
      input.subject === undefined ? null : enc(SupportFields.SUBJECT, input.subject),
      enc(SupportFields.BODY, input.body),
    ]);
    const received: TicketReceivedV1 = {
      tenantId,
      ticketId: newId(),
      externalId: input.externalId ?? null,
      channel: 'api',
      customerNameEnc,
      customerEmailEnc,
      subjectEnc,
      bodyEnc,
      receivedAt: new Date().toISOString(),
    };
    const { id, created } = await this.db.withTenant(tenantId, async (tx) => {
      if (await this.store(tx, received)) {
        await publishInTx(tx, TicketEvents.RECEIVED, received, draftsEventMeta(tenantId));
        return { id: received.ticketId, created: true };
      }
      const [existing] = await tx.$queryRaw<{ id: string }[]>`select id::text from tickets where external_id = ${received.externalId}`;
      return { id: existing!.id, created: false };
    });
    return { ticket: await this.read(tenantId, id), created };
  }

  /** A ticket announced by an integration (ticket.received): stored once, assigned; its draft is ai-drafting's. */
  async ingest(tx: TenantTx, ticket: TicketReceivedV1): Promise<void> {
    await this.store(tx, ticket);
  }

  async list(caller: Principal, query: unknown): Promise<{ tickets: TicketSummaryDto[]; next: string | null }> {
    const q = parseInput(ticketListQuery, query);
    const limit = q.limit ?? 50;
    const rows = await this.db.withTenant(caller.tenantId, (tx) => {
      let select = tx.db.selectFrom('tickets as t').select(TICKET_COLUMNS).where(visibleTo(caller));
      if (q.status) select = select.where('t.status', '=', q.status);
      if (q.before) select = select.where('t.created_at', '<', new Date(q.before));
      return select.orderBy('t.created_at', 'desc').orderBy('t.id', 'desc').limit(limit + 1).$castTo<TicketRow>().execute();
    });
    const page = rows.slice(0, limit);
    return { tickets: await Promise.all(page.map((t) => this.reader.summary(caller.tenantId, t))), next: rows.length > limit ? page[page.length - 1]!.created_at.toISOString() : null };
  }

  /** A ticket with its drafts and reply; one the caller may not see is as missing as one that does not exist. */
  async get(caller: Principal, ticketId: string): Promise<TicketDto> {
    const { t, drafts } = await this.db.withTenant(caller.tenantId, async (tx) => {
      const visible = await tx.db.selectFrom('tickets as t').select(TICKET_COLUMNS).where(visibleTo(caller)).where('t.id', '=', ticketId).$castTo<TicketRow>().executeTakeFirst();
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
        const [u] = await tx.$queryRaw<{ team: string | null }[]>`select team from users where id = ${assigneeId}::uuid and status = 'active'`;
        if (!u) throw new ProblemException(422, 'unknown-assignee', 'Unknown assignee', `No active operator ${assigneeId} in this tenant.`);
        if (scope === 'team') {
          const [mine] = await tx.$queryRaw<{ team: string | null }[]>`select team from users where id = ${me}::uuid`;
          if (assigneeId !== me && (mine?.team == null || mine.team !== u.team))
            throw new ProblemException(403, 'outside-team', 'Outside your team', 'A team lead assigns tickets to the operators of their own team only.');
        }
      } else if (scope === 'team') {
        throw new ProblemException(403, 'outside-team', 'Outside your team', 'Only managers and admins leave tickets unassigned.');
      }
      await tx.$executeRaw`update tickets set assignee_id = ${assigneeId}::uuid, updated_at = now() where id = ${ticketId}::uuid`;
    });
    return this.read(caller.tenantId, ticketId);
  }

  /** A draft from ai-drafting: the ticket's current attempt puts it in front of its operator; an outdated one is kept as superseded. */
  async onGenerated(tx: TenantTx, d: DraftGeneratedV1): Promise<void> {
    const current = await this.lockForDraft(tx, d.ticketId, d.attempt);
    const n = await tx.$executeRaw`insert into drafts (id, tenant_id, ticket_id, attempt, status, body_enc, citations, model, prompt_tokens, completion_tokens)
      values (${d.draftId}::uuid, ${d.tenantId}::uuid, ${d.ticketId}::uuid, ${d.attempt}, ${current ? 'pending' : 'superseded'}, ${d.bodyEnc},
        ${JSON.stringify(d.citations)}::jsonb, ${d.model}, ${d.usage.promptTokens}, ${d.usage.completionTokens})
      on conflict do nothing`;
    if (n && current) await tx.$executeRaw`update tickets set status = 'pending', current_draft_id = ${d.draftId}::uuid, updated_at = now() where id = ${d.ticketId}::uuid`;
  }

  /** No draft could be written: the ticket waits for a hand-written reply (or a regeneration). */
  async onFailed(tx: TenantTx, d: DraftFailedV1): Promise<void> {
    const current = await this.lockForDraft(tx, d.ticketId, d.attempt);
    const n = await tx.$executeRaw`insert into drafts (id, tenant_id, ticket_id, attempt, status, failure_code, failure_reason)
      values (${d.draftId}::uuid, ${d.tenantId}::uuid, ${d.ticketId}::uuid, ${d.attempt}, 'failed', ${d.code}, ${d.reason})
      on conflict do nothing`;
    if (n && current) await tx.$executeRaw`update tickets set status = 'draft_failed', current_draft_id = ${d.draftId}::uuid, updated_at = now() where id = ${d.ticketId}::uuid`;
  }

  async read(tenantId: TenantId, ticketId: string): Promise<TicketDto> {
    const { t, drafts } = await this.db.withTenant(tenantId, async (tx) => ({
      t: await tx.db.selectFrom('tickets as t').select(TICKET_COLUMNS).where('t.id', '=', ticketId).$castTo<TicketRow>().executeTakeFirst(),
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
    const [t] = await tx.$queryRaw<{ status: string; attempt: number }[]>`select status, attempt from tickets where id = ${ticketId}::uuid for update`;
    if (!t) throw new TicketNotYetKnownError(ticketId);
    return t.status === 'drafting' && t.attempt === attempt;
  }

  /**
   * A removed operator's open tickets go to the active operators with the fewest open tickets, one
   * at a time (operator.removed); replied tickets keep their history.
   */
  async reassignFrom(tx: TenantTx, userId: string): Promise<number> {
    const open = await tx.$queryRaw<{ id: string }[]>`
      select id::text from tickets where assignee_id = ${userId}::uuid and status <> 'replied' order by created_at for update`;
    for (const t of open) await tx.$executeRaw`update tickets set assignee_id = ${await this.leastLoaded(tx, userId)}::uuid, updated_at = now() where id = ${t.id}::uuid`;
    return open.length;
  }

  /** The active operator with the fewest open tickets (null when there is none), other than `except`. */
  private async leastLoaded(tx: TenantTx, except: string | null = null): Promise<string | null> {
    const [u] = await tx.$queryRaw<{ id: string }[]>`
      select u.id::text from users u where u.role = 'operator' and u.status = 'active' and (${except}::uuid is null or u.id <> ${except}::uuid)
      order by (select count(*) from tickets t where t.assignee_id = u.id and t.status <> 'replied'), u.created_at, u.id limit 1`;
    return u?.id ?? null;
  }

  /** Inserts the ticket, assigned to the active operator with the fewest open tickets; false when it is already stored (same id or externalId). */
  private async store(tx: TenantTx, r: TicketReceivedV1): Promise<boolean> {
    const assignee = await this.leastLoaded(tx);
    const n = await tx.$executeRaw`insert into tickets (id, tenant_id, external_id, channel, customer_name_enc, customer_email_enc, subject_enc, body_enc, status, attempt, assignee_id, received_at)
      values (${r.ticketId}::uuid, ${r.tenantId}::uuid, ${r.externalId}, ${r.channel}, ${r.customerNameEnc}, ${r.customerEmailEnc}, ${r.subjectEnc}, ${r.bodyEnc},
        'drafting', 1, ${assignee}::uuid, ${r.receivedAt}::timestamptz)
      on conflict do nothing`;
    return n > 0;
  }

}
