import { SupportFields, type TenantId } from '@hotdash/contracts';
import { DecryptionFailedError, type FieldCipher, SubjectKeyDestroyedError, SubjectKeyMissingError, type SubjectRefs } from '@hotdash/platform-crypto';
import type { TenantDatabase, TenantTx } from '@hotdash/platform-db';

/** What a subject export's table header says of its columns (provisioning's export format, docs/exports.md). */
export interface SubjectTableHeader {
  columns: string[];
  decrypted: Record<string, string>;
  redacted: string[];
}

/** Where the subject's rows go: provisioning's export writer (bound by the provisioning app). */
export interface SubjectExportSink {
  beginTable(table: string, header: SubjectTableHeader, rowsEstimated: number): Promise<void>;
  row(values: Record<string, unknown>): Promise<void>;
  endTable(undecryptable: Record<string, number>): Promise<void>;
}

/** The FieldCipher field of each encrypted column drafts keeps (SupportFields). */
const FIELDS: Readonly<Record<'tickets' | 'drafts', Readonly<Record<string, string>>>> = {
  tickets: {
    customer_name_enc: SupportFields.CUSTOMER_NAME,
    customer_email_enc: SupportFields.CUSTOMER_EMAIL,
    subject_enc: SupportFields.SUBJECT,
    body_enc: SupportFields.BODY,
    reply_body_enc: SupportFields.REPLY_BODY,
  },
  drafts: {
    body_enc: SupportFields.DRAFT_BODY,
    edited_body_enc: SupportFields.EDITED_BODY,
    diff_enc: SupportFields.DIFF,
    reject_reason_enc: SupportFields.REJECT_REASON,
  },
};

/** A value that cannot be opened for good (not a token of its field, or its subject's key destroyed or gone): kept as stored. */
const unreadable = (err: unknown): boolean => err instanceof DecryptionFailedError || err instanceof SubjectKeyDestroyedError || err instanceof SubjectKeyMissingError;

/** Ids read per statement. */
const PAGE = 500;
/** How long the subject's snapshot may stay open. */
const SNAPSHOT_TIMEOUT_MS = 10 * 60_000;

/**
 * One data subject's rows for a data export (issue 16 item 4; CCPA): the tickets of a customer
 * known by e-mail (with the replies they got) and the drafts written for them, read by their owner
 * in ONE read-only snapshot of the tenant, decrypted, and written table by table to the export's
 * sink. The subject is named by its blind index (platform/crypto subject-ref.ts); tickets stored
 * before subject references (subject_ref null) are found by decrypting their e-mail and computing
 * its reference. Rows: every column, encrypted ones decrypted under the name without `_enc`,
 * timestamps as ISO 8601 (UTC, milliseconds). A value that does not decrypt is kept as stored and
 * counted in its table's end line.
 */
export class SubjectExport {
  constructor(
    private readonly db: TenantDatabase,
    private readonly cipher: FieldCipher,
    private readonly refs: SubjectRefs,
  ) {}

  async write(tenantId: TenantId, subjectRef: string, sink: SubjectExportSink): Promise<void> {
    await this.db.withTenant(
      tenantId,
      async (tx) => {
        const ids = await this.ticketIds(tx, tenantId, subjectRef);
        await this.table(tx, tenantId, 'tickets', ids, sink);
        await this.table(tx, tenantId, 'drafts', ids, sink);
      },
      { isolation: 'snapshot', timeoutMs: SNAPSHOT_TIMEOUT_MS },
    );
  }

  /** The subject's tickets, oldest first: by reference, and among tickets without one by their decrypted e-mail. */
  private async ticketIds(tx: TenantTx, tenantId: TenantId, subjectRef: string): Promise<string[]> {
    const byRef = await tx.db.selectFrom('tickets').select(['id', 'created_at']).where('tenant_id', '=', tenantId).where('subject_ref', '=', subjectRef).execute();
    const found = byRef.map((r) => ({ id: r.id, at: r.created_at.getTime() }));
    let after: string | undefined;
    for (;;) {
      let q = tx.db.selectFrom('tickets').select(['id', 'created_at', 'customer_email_enc']).where('tenant_id', '=', tenantId).where('subject_ref', 'is', null);
      if (after) q = q.where('id', '>', after);
      const page = await q.orderBy('id').limit(PAGE).execute();
      for (const t of page) {
        const email = await this.cipher.decrypt(tenantId, SupportFields.CUSTOMER_EMAIL, t.customer_email_enc).catch((err: Error) => {
          if (unreadable(err)) return undefined;
          throw err;
        });
        if (email !== undefined && (await this.refs.subjectRef(tenantId, email)) === subjectRef) found.push({ id: t.id, at: t.created_at.getTime() });
      }
      if (page.length < PAGE) break;
      after = page[page.length - 1]!.id;
    }
    return found.sort((x, y) => x.at - y.at || (x.id < y.id ? -1 : 1)).map((t) => t.id);
  }

  /** The table's rows of the subject's tickets (the tickets themselves, or their drafts), a page at a time. */
  private async table(tx: TenantTx, tenantId: TenantId, table: 'tickets' | 'drafts', ticketIds: readonly string[], sink: SubjectExportSink): Promise<void> {
    const fields = FIELDS[table];
    const undecryptable: Record<string, number> = {};
    const estimated = table === 'tickets' ? ticketIds.length : await this.countDrafts(tx, tenantId, ticketIds);
    let header: SubjectTableHeader | undefined;
    const open = async (row: Record<string, unknown>): Promise<Record<string, unknown>> => {
      const out: Record<string, unknown> = {};
      for (const [column, v] of Object.entries(row)) {
        const field = fields[column];
        if (!field) out[column] = v instanceof Date ? v.toISOString() : v;
        else if (v === null) out[column.slice(0, -4)] = null;
        else
          out[column.slice(0, -4)] = await this.cipher.decrypt(tenantId, field, v as string).catch((err: Error) => {
            if (!unreadable(err)) throw err;
            undecryptable[column.slice(0, -4)] = (undecryptable[column.slice(0, -4)] ?? 0) + 1;
            return v;
          });
      }
      return out;
    };
    const begin = async (sample: Record<string, unknown> | undefined) => {
      const columns = sample ? Object.keys(sample) : [];
      header = {
        columns: columns.map((c) => (fields[c] ? c.slice(0, -4) : c)),
        decrypted: Object.fromEntries(columns.filter((c) => fields[c]).map((c) => [c.slice(0, -4), c])),
        redacted: [],
      };
      await sink.beginTable(table, header, estimated);
    };
    for (let i = 0; i < ticketIds.length; i += PAGE) {
      const ids = ticketIds.slice(i, i + PAGE);
      const rows =
        table === 'tickets'
          ? await tx.db.selectFrom('tickets').selectAll().where('tenant_id', '=', tenantId).where('id', 'in', ids).orderBy('created_at').orderBy('id').execute()
          : await tx.db.selectFrom('drafts').selectAll().where('tenant_id', '=', tenantId).where('ticket_id', 'in', ids).orderBy('created_at').orderBy('id').execute();
      for (const r of rows) {
        if (!header) await begin(r);
        await sink.row(await open(r));
      }
    }
    if (!header) await begin(undefined);
    await sink.endTable(undecryptable);
  }

  private async countDrafts(tx: TenantTx, tenantId: TenantId, ticketIds: readonly string[]): Promise<number> {
    let n = 0;
    for (let i = 0; i < ticketIds.length; i += PAGE) {
      const r = await tx.db
        .selectFrom('drafts')
        .select((eb) => eb.fn.countAll<string>().as('n'))
        .where('tenant_id', '=', tenantId)
        .where('ticket_id', 'in', ticketIds.slice(i, i + PAGE))
        .executeTakeFirstOrThrow();
      n += Number(r.n);
    }
    return n;
  }
}
