import { sql } from 'kysely';
import { parseTenantId } from '@hotdash/contracts';
import type { FieldCipher } from '@hotdash/platform-crypto';
import { Databases, DbLocation, withShardTransaction } from '@hotdash/platform-db';
import { MAIL_ADDRESS_FIELD } from './mail-outbox';
import type { MailSender } from './mail.port';
import { MailRejectedError } from './smtp.mail-sender';

/**
 * Delivers one shard's mail outbox: unsent rows in order, `FOR UPDATE SKIP LOCKED` so several
 * dispatchers share the work, each row marked sent in the transaction that locked it after the
 * sender accepted it (a crash in between sends it again: at-least-once, the Message-ID is stable).
 * Runs as the relay role, whose own policy on mail_outbox lets it see every tenant's mail of the shard.
 */
export class MailDispatcher {
  constructor(
    private readonly dbs: Databases,
    private readonly cipher: FieldCipher,
    private readonly sender: MailSender,
  ) {}

  /** Delivers the shard's mail until none is left; returns how many messages it handled. */
  async drain(shard: DbLocation, batch = 50): Promise<number> {
    let total = 0;
    for (let n = await this.dispatchOnce(shard, batch); n > 0; n = await this.dispatchOnce(shard, batch)) total += n;
    return total;
  }

  /** Sends (or sets aside as unsendable) up to `limit` messages of the shard; returns how many it handled. */
  async dispatchOnce(shard: DbLocation, limit = 50): Promise<number> {
    return withShardTransaction(
      this.dbs,
      shard,
      async (tx) => {
        const rows = await tx.db
          .selectFrom('mail_outbox')
          .select(['id', 'tenant_id', 'to_enc', 'subject', 'body', 'kind'])
          .where('sent_at', 'is', null)
          .where('failed_at', 'is', null)
          .orderBy('created_at')
          .limit(limit)
          .forUpdate()
          .skipLocked()
          .execute();
        for (const r of rows) {
          const tenantId = parseTenantId(r.tenant_id);
          let to: string;
          try {
            to = await this.cipher.decrypt(tenantId, MAIL_ADDRESS_FIELD, r.to_enc);
          } catch (err) {
            // Never sendable (the tenant's key is gone, or the row is corrupt): set it aside, go on.
            await tx.db.updateTable('mail_outbox').set({ failed_at: sql`now()`, last_error: (err as Error).message.slice(0, 500) }).where('id', '=', r.id).execute();
            continue;
          }
          // A sender failure (SMTP down) aborts the batch: it is retried as a whole later. A message
          // the server refused for good is set aside, and the others go on.
          try {
            await this.sender.send({ id: r.id, tenantId, to, subject: r.subject, body: r.body, kind: r.kind });
          } catch (err) {
            if (!(err instanceof MailRejectedError)) throw err;
            await tx.db.updateTable('mail_outbox').set({ failed_at: sql`now()`, last_error: err.message.slice(0, 500) }).where('id', '=', r.id).execute();
            continue;
          }
          await tx.db.updateTable('mail_outbox').set({ sent_at: sql`now()` }).where('id', '=', r.id).execute();
        }
        return rows.length;
      },
      { timeoutMs: 60_000 },
    );
  }
}
