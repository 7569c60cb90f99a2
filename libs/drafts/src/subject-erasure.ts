import { Inject, Injectable, Logger, OnModuleDestroy, Optional } from '@nestjs/common';
import { sql } from 'kysely';
import {
  ERASURE_CERTIFICATE_TYPE,
  ErasureStore,
  ErasureStoreResult,
  ErasureStores,
  PrivacyProblems,
  privacyProblemCodeOf,
  SignedErasureCertificate,
  subjectErasureBody,
  SubjectErasureView,
  SupportFields,
  TenantId,
} from '@hotdash/contracts';
import { actorOf, IdempotencyStore, Principal } from '@hotdash/platform-auth';
import { CertificateSigner, FieldCipher, normaliseSubjectEmail } from '@hotdash/platform-crypto';
import { newId, TenantDatabase, TenantTx } from '@hotdash/platform-db';
import { parseInput, ProblemException } from '@hotdash/platform-http';
import { MailSubjectErasure, outboxEventsSealedUnder } from '@hotdash/platform-messaging';
import { subjectKeyringOf } from './subject-seal';

/** The IdempotencyStore subject erasures clean (the gateway's stored answers of POST /tickets live there). */
export const SUBJECT_ERASURE_REPLIES = Symbol('SUBJECT_ERASURE_REPLIES');

/** Tickets read per page when the subject's are looked for. */
const TICKETS_PAGE = 1_000;

/** A running erasure not heard of for this long (its process died) is taken over by the same request again. */
export const ERASURE_STALE_MS = 60_000;

interface ErasureRow {
  id: string;
  subject_ref: string;
  requested_by: string;
  status: 'running' | 'succeeded' | 'failed';
  /** The subject-keys step also keeps the ids it destroyed (a run taken over certifies them too). */
  steps: { store: ErasureStore; status: 'pending' | 'done'; count: number | null; keyIds?: string[] }[];
  certificate: SignedErasureCertificate | null;
  error: string | null;
  started_at: Date;
  updated_at: Date;
  finished_at: Date | null;
}

const COLUMNS = ['id', 'subject_ref', 'requested_by', 'status', 'steps', 'certificate', 'error', 'started_at', 'updated_at', 'finished_at'] as const;

/**
 * Erasure of one data subject (GDPR art. 17; issue 16 item 5): a tenant admin names a customer by
 * e-mail, and the drafts service — owner of the subject's tickets, drafts and replies — erases it
 * everywhere, in the background, step by step (progress in `subject_erasures`), then signs a
 * certificate of what was erased where (platform/crypto certificate.ts). The steps, in order:
 *
 * 1. subject-keys: the subject's data keys are destroyed first (SubjectKeyring.destroy), so every
 *    copy sealed under them — topics, outbox, backups, jobs, the audit chain — is unreadable from
 *    then on, whatever happens to the later steps.
 * 2. postgresql: the subject's tickets (by subject_ref; tickets stored before subject references by
 *    their decrypted e-mail) and their drafts (on delete cascade), by their owner.
 * 3. kafka, 4. outbox, 5. backups: copies left in place, shredded (counted where they can be).
 * 6. redis: the gateway's stored answers of POST /tickets (Idempotency-Key, 24 h) that hold one of
 *    the subject's tickets in clear.
 * 7. mail: mail_outbox rows and local `.eml` files addressed to the subject (platform/messaging).
 * 8. vector-store: none held (the knowledge base holds the tenant's documents, never tickets).
 *
 * The e-mail address is never stored: only its blind index. A process that dies mid-way leaves the
 * erasure running; the same request again after ERASURE_STALE_MS takes it over (every step is
 * idempotent).
 */
@Injectable()
export class SubjectErasureService implements OnModuleDestroy {
  private readonly logger = new Logger('subject-erasure');
  private readonly inFlight = new Set<Promise<void>>();

  constructor(
    @Inject(TenantDatabase) private readonly db: TenantDatabase,
    @Inject(FieldCipher) private readonly cipher: FieldCipher,
    @Inject(CertificateSigner) private readonly signer: CertificateSigner,
    @Inject(MailSubjectErasure) private readonly mail: MailSubjectErasure,
    @Optional() @Inject(SUBJECT_ERASURE_REPLIES) private readonly replies?: IdempotencyStore,
  ) {}

  /** Asks for the erasure (202): a new one, or the subject's erasure already running. */
  async start(caller: Principal, body: unknown): Promise<{ erasure: SubjectErasureView; created: boolean }> {
    const { email } = parseInput(subjectErasureBody, body, privacyProblemCodeOf);
    const tenantId = caller.tenantId;
    const subjectRef = await subjectKeyringOf(this.cipher).subjectRef(tenantId, email);
    const requestedBy = actorOf(caller);
    const steps = ErasureStores.map((store) => ({ store, status: 'pending' as const, count: null }));
    const { row, created } = await this.db.withTenant(tenantId, async (tx) => {
      const id = newId();
      const inserted = await tx.db
        .insertInto('subject_erasures')
        .values({ id, tenant_id: tenantId, subject_ref: subjectRef, requested_by: requestedBy, steps: JSON.stringify(steps) })
        .onConflict((oc) => oc.columns(['tenant_id', 'subject_ref']).where('status', '=', 'running').doNothing())
        .returning(COLUMNS)
        .$castTo<ErasureRow>()
        .executeTakeFirst();
      if (inserted) return { row: inserted, created: true };
      // Running already: answered as it is, or taken over when its process went quiet.
      const taken = await tx.db
        .updateTable('subject_erasures')
        .set({ updated_at: sql<Date>`now()` })
        .where('subject_ref', '=', subjectRef)
        .where('status', '=', 'running')
        .where('updated_at', '<', sql<Date>`now() - make_interval(secs => ${ERASURE_STALE_MS / 1000})`)
        .returning(COLUMNS)
        .$castTo<ErasureRow>()
        .executeTakeFirst();
      if (taken) return { row: taken, created: true };
      return { row: await tx.db.selectFrom('subject_erasures').select(COLUMNS).where('subject_ref', '=', subjectRef).where('status', '=', 'running').$castTo<ErasureRow>().executeTakeFirstOrThrow(), created: false };
    });
    if (created) this.track(this.run(tenantId, row, email));
    return { erasure: viewOf(row), created };
  }

  /** An erasure of the caller's tenant; another tenant's answers 404 like a missing one. */
  async get(caller: Principal, id: string): Promise<SubjectErasureView> {
    const row = await this.db.withTenant(caller.tenantId, (tx) => tx.db.selectFrom('subject_erasures').select(COLUMNS).where('id', '=', id).$castTo<ErasureRow>().executeTakeFirst());
    if (!row) throw new ProblemException(404, PrivacyProblems.NOT_FOUND, 'Erasure not found', `erasure ${id} does not exist`);
    return viewOf(row);
  }

  /** Resolves when every erasure this process started has ended (specs; shutdown). */
  async settled(): Promise<void> {
    while (this.inFlight.size) await Promise.allSettled([...this.inFlight]);
  }

  async onModuleDestroy(): Promise<void> {
    await this.settled();
    // On Redis, its own connection (subject-erasure.providers.ts).
    this.replies?.close();
  }

  private track(p: Promise<void>): void {
    const tracked = p.catch((err: Error) => this.logger.error(`erasure failed: ${err.name}`)).finally(() => this.inFlight.delete(tracked));
    this.inFlight.add(tracked);
  }

  private async run(tenantId: TenantId, erasure: ErasureRow, email: string): Promise<void> {
    const ref = erasure.subject_ref;
    const keyring = subjectKeyringOf(this.cipher);
    const results: ErasureStoreResult[] = [];
    const done = async (store: ErasureStore, rs: ErasureStoreResult[], keyIds?: string[]) => {
      results.push(...rs);
      await this.progress(tenantId, erasure.id, store, rs.reduce((n, r) => n + r.count, 0), keyIds);
    };
    try {
      // 1. The keys first: from here on no copy of the subject's data decrypts anywhere.
      const tickets = await this.ticketsOf(tenantId, ref, email);
      const keyIds = new Set<string>(await keyring.destroy(tenantId, ref));
      for (const k of [...tickets.keyIds, ...(erasure.steps.find((s) => s.store === 'subject-keys')?.keyIds ?? [])]) keyIds.add(k);
      for (const k of keyIds) if (!(await keyring.isDestroyed(tenantId, k))) keyIds.delete(k);
      await done('subject-keys', [
        { store: 'subject-keys', method: 'deleted', items: 'subject_keys', count: keyIds.size, detail: 'the data subject keys every personal value of the subject was sealed under, destroyed (control plane; never archived)' },
      ], [...keyIds]);

      // 2. The owner's rows.
      const erasedRows = await this.db.withTenant(tenantId, async (tx) => this.deleteTickets(tx, tenantId, ref, tickets.ids));
      // A ticket stored while the keys were being destroyed got a new key: destroyed as well.
      for (const k of await keyring.destroy(tenantId, ref)) keyIds.add(k);
      await done('postgresql', [
        { store: 'postgresql', method: 'deleted', items: 'tickets', count: erasedRows.tickets, detail: "the subject's tickets: customer name, e-mail, subject, message, reply" },
        { store: 'postgresql', method: 'deleted', items: 'drafts', count: erasedRows.drafts, detail: 'the drafts of those tickets, with edits, diffs and reject reasons' },
      ]);

      // 3-5. Copies left in place, unreadable without the keys.
      const sealed = await this.db.withTenant(tenantId, (tx) => outboxEventsSealedUnder(tx, [...keyIds]));
      const legacy = tickets.legacy > 0 ? ` ${tickets.legacy} ticket(s) stored before per-subject keys had their events sealed under the tenant key: those topic copies stay readable to the tenant until the topic's retention removes them.` : '';
      await done('kafka', [
        { store: 'kafka', method: 'shredded', items: 'events', count: sealed.published, detail: `events published with the subject's values (tickets, drafts, decisions, replies), in their topics and dead-letter topics, hold only tokens under the destroyed keys.${legacy}` },
      ]);
      await done('outbox', [{ store: 'outbox', method: 'shredded', items: 'outbox events', count: sealed.published + sealed.unpublished, detail: "the tenant outbox's copies of those events (published or not), and the audit log's, hold only tokens under the destroyed keys" }]);
      await done('backups', [{ store: 'backups', method: 'shredded', items: 'tenant archives', count: 0, detail: "tenant backups hold the subject's rows as tokens under the destroyed keys, which live in the control plane and are never archived: a restore brings back nothing readable" }]);

      // 6. Redis.
      const replies = await this.eraseStoredReplies(tenantId, email, erasedRows.ticketIds);
      await done('redis', [
        { store: 'redis', method: 'deleted', items: 'idempotency replies', count: replies, detail: "the gateway's stored answers of POST /tickets that held one of the subject's tickets" },
        { store: 'redis', method: 'shredded', items: 'drafting jobs', count: 0, detail: 'queued and finished drafting jobs carry the ticket as tokens under the destroyed keys' },
      ]);

      // 7. Mail.
      const outboxMail = await this.db.withTenant(tenantId, (tx) => this.mail.eraseOutbox(tx, tenantId, email));
      const files = await this.mail.eraseFiles(tenantId, email);
      await done('mail', [
        { store: 'mail', method: 'deleted', items: 'mail_outbox', count: outboxMail, detail: 'messages addressed to the subject, queued, sent or set aside' },
        { store: 'mail', method: 'deleted', items: '.eml files', count: files, detail: "the local mail sender's files addressed to the subject" },
      ]);

      // 8. The vector store.
      await done('vector-store', [
        { store: 'vector-store', method: 'none-held', items: 'knowledge passages', count: 0, detail: "none held: the vector store indexes only the tenant's knowledge-base documents, uploaded by its admins; no ticket, draft or reply is embedded or indexed" },
      ]);

      await this.finish(tenantId, erasure, [...keyIds], results);
    } catch (err) {
      const e = err as Error & { code?: string };
      await this.db
        .withTenant(tenantId, (tx) =>
          tx.db
            .updateTable('subject_erasures')
            .set({ status: 'failed', error: `${e.code ?? e.name}: ask for the erasure again`, updated_at: sql<Date>`now()`, finished_at: sql<Date>`now()` })
            .where('id', '=', erasure.id)
            .where('status', '=', 'running')
            .execute(),
        )
        .catch(() => undefined);
      throw err;
    }
  }

  /**
   * The subject's tickets: by reference, and those stored before references existed (no
   * subject_ref) whose e-mail decrypts to the subject's; the subject keys their values name.
   */
  private async ticketsOf(tenantId: TenantId, ref: string, email: string): Promise<{ ids: string[]; keyIds: string[]; legacy: number }> {
    const wanted = normaliseSubjectEmail(email);
    const ids: string[] = [];
    const keyIds = new Set<string>();
    let legacy = 0;
    // In pages by id: a tenant with many tickets from before subject references is read a page at a time.
    for (let after: string | null = null; ; ) {
      const page: { id: string; subject_ref: string | null; customer_email_enc: string }[] = await this.db.withTenant(tenantId, (tx) =>
        tx.db
          .selectFrom('tickets')
          .select(['id', 'subject_ref', 'customer_email_enc'])
          .where((eb) => eb.or([eb('subject_ref', '=', ref), eb('subject_ref', 'is', null)]))
          .$if(after !== null, (qb) => qb.where('id', '>', after!))
          .orderBy('id')
          .limit(TICKETS_PAGE)
          .execute(),
      );
      for (const r of page) {
        const keyId = FieldCipher.subjectKeyIdOf(r.customer_email_enc);
        if (r.subject_ref === ref) {
          ids.push(r.id);
          if (keyId) keyIds.add(keyId);
          continue;
        }
        const address = await this.cipher.decrypt(tenantId, SupportFields.CUSTOMER_EMAIL, r.customer_email_enc).catch(() => undefined);
        if (address !== undefined && normaliseSubjectEmail(address) === wanted) {
          ids.push(r.id);
          if (keyId) keyIds.add(keyId);
          else legacy++;
        }
      }
      if (page.length < TICKETS_PAGE) break;
      after = page[page.length - 1]!.id;
    }
    return { ids, keyIds: [...keyIds], legacy };
  }

  private async deleteTickets(tx: TenantTx, tenantId: TenantId, ref: string, ids: string[]): Promise<{ tickets: number; drafts: number; ticketIds: string[] }> {
    const targets = await tx.db
      .selectFrom('tickets')
      .select('id')
      .where('tenant_id', '=', tenantId)
      .where((eb) => (ids.length ? eb.or([eb('subject_ref', '=', ref), eb('id', 'in', ids)]) : eb('subject_ref', '=', ref)))
      .forUpdate()
      .execute();
    const ticketIds = targets.map((t) => t.id);
    if (ticketIds.length === 0) return { tickets: 0, drafts: 0, ticketIds };
    const drafts = await tx.db.deleteFrom('drafts').where('ticket_id', 'in', ticketIds).executeTakeFirst();
    const tickets = await tx.db.deleteFrom('tickets').where('id', 'in', ticketIds).executeTakeFirst();
    return { tickets: Number(tickets.numDeletedRows), drafts: Number(drafts.numDeletedRows), ticketIds };
  }

  /**
   * The gateway keeps the answer of a POST /tickets sent with an Idempotency-Key for 24 hours: the
   * ticket as created, in clear. Those holding one of the subject's tickets (or its address) are
   * deleted; the keys are under the tenant's prefix (and, on a single node, the name of before issue 15).
   */
  private async eraseStoredReplies(tenantId: TenantId, email: string, ticketIds: string[]): Promise<number> {
    if (!this.replies) return 0;
    const wanted = normaliseSubjectEmail(email);
    const ids = new Set(ticketIds);
    return this.replies.eraseWhere(tenantId, 'POST /tickets', (raw) => {
      let body: string | undefined;
      try {
        body = (JSON.parse(raw) as { reply?: { body?: string } }).reply?.body;
      } catch {
        return false;
      }
      if (body === undefined) return false;
      let ticket: { id?: string; customer?: { email?: string } } = {};
      try {
        ticket = JSON.parse(body) as typeof ticket;
      } catch {
        /* not a ticket */
      }
      return (ticket.id !== undefined && ids.has(ticket.id)) || (typeof ticket.customer?.email === 'string' && normaliseSubjectEmail(ticket.customer.email) === wanted);
    });
  }

  private async progress(tenantId: TenantId, id: string, store: ErasureStore, count: number, keyIds?: string[]): Promise<void> {
    await this.db.withTenant(tenantId, async (tx) => {
      const row = await tx.db.selectFrom('subject_erasures').select('steps').where('id', '=', id).forUpdate().$castTo<Pick<ErasureRow, 'steps'>>().executeTakeFirstOrThrow();
      const steps = row.steps.map((s) => (s.store === store ? { ...s, status: 'done' as const, count, ...(keyIds ? { keyIds } : {}) } : s));
      await tx.db.updateTable('subject_erasures').set({ steps: JSON.stringify(steps), updated_at: sql<Date>`now()` }).where('id', '=', id).execute();
    });
  }

  private async finish(tenantId: TenantId, erasure: ErasureRow, keyIds: string[], stores: ErasureStoreResult[]): Promise<void> {
    const completedAt = new Date().toISOString();
    const signed = this.signer.sign({
      type: ERASURE_CERTIFICATE_TYPE,
      version: 1,
      erasureId: erasure.id,
      tenantId,
      subjectRef: erasure.subject_ref,
      requestedBy: erasure.requested_by,
      requestedAt: erasure.started_at.toISOString(),
      completedAt,
      subjectKeys: keyIds.sort(),
      stores,
    });
    await this.db.withTenant(tenantId, (tx) =>
      tx.db
        .updateTable('subject_erasures')
        .set({ status: 'succeeded', certificate: JSON.stringify(signed), updated_at: sql<Date>`now()`, finished_at: sql<Date>`now()` })
        .where('id', '=', erasure.id)
        .execute(),
    );
  }
}

function viewOf(r: ErasureRow): SubjectErasureView {
  return {
    id: r.id,
    status: r.status,
    subjectRef: r.subject_ref,
    requestedBy: r.requested_by,
    steps: r.steps.map(({ store, status, count }) => ({ store, status, count })),
    progress: { done: r.steps.filter((s) => s.status === 'done').length, total: r.steps.length },
    error: r.error,
    startedAt: r.started_at.toISOString(),
    finishedAt: r.finished_at?.toISOString() ?? null,
    certificate: r.certificate,
  };
}
