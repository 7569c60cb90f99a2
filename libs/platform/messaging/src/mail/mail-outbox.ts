import type { TenantId } from '@hotdash/contracts';
import type { FieldCipher } from '@hotdash/platform-crypto';
import { newId, type TenantTx } from '@hotdash/platform-db';

/** The field name addresses are encrypted under in the mail outbox (FieldCipher binds it with the tenant). */
export const MAIL_ADDRESS_FIELD = 'mail_outbox.to';

/** An address already encrypted for a tenant's mail outbox (MailOutbox.seal). */
export interface SealedAddress {
  readonly tenantId: TenantId;
  readonly sealed: string;
}

/** A message to queue: plain-text body; `kind` says what it is (invitation, password-reset) and lets unsent mail of a kind be cancelled. */
export interface OutgoingMail {
  tenantId: TenantId;
  /** The address in clear (encrypted on the way in), or sealed beforehand. */
  to: string | SealedAddress;
  subject: string;
  body: string;
  kind: string;
}

/**
 * The mail port of the platform (platform/messaging owns `mail_outbox`): services queue a message
 * inside their own tenant transaction, so it exists exactly when their change commits; the mail
 * dispatcher of the relay app delivers it. The address is stored encrypted with the tenant's data
 * key (so destroying the key at offboarding makes unsent mail unreadable too).
 */
export class MailOutbox {
  constructor(private readonly cipher: FieldCipher) {}

  /**
   * Encrypts an address for the tenant's outbox. Worth doing before the transaction: the data key
   * may have to be fetched from the control plane, which should not hold a tenant connection.
   */
  async seal(tenantId: TenantId, address: string): Promise<SealedAddress> {
    return { tenantId, sealed: await this.cipher.encrypt(tenantId, MAIL_ADDRESS_FIELD, address) };
  }

  /** Queues a message in the caller's tenant transaction (sent once that commits); returns its id (the Message-ID senders use). */
  async queue(tx: TenantTx, mail: OutgoingMail): Promise<string> {
    const to = typeof mail.to === 'string' ? await this.seal(mail.tenantId, mail.to) : mail.to;
    if (to.tenantId !== mail.tenantId) throw new Error(`an address sealed for tenant ${to.tenantId} cannot be mailed for tenant ${mail.tenantId}`);
    const id = newId();
    await tx.db.insertInto('mail_outbox').values({ id, tenant_id: mail.tenantId, to_enc: to.sealed, subject: mail.subject, body: mail.body, kind: mail.kind }).execute();
    return id;
  }

  /**
   * Withdraws the tenant's mail of a kind that has not gone out yet (a compensation: the change
   * that queued it was undone); mail already sent or set aside stays as the record of what
   * happened. Returns how many messages were withdrawn.
   */
  async cancelUnsent(tx: TenantTx, tenantId: TenantId, kind: string): Promise<number> {
    const r = await tx.db
      .deleteFrom('mail_outbox')
      .where('tenant_id', '=', tenantId)
      .where('kind', '=', kind)
      .where('sent_at', 'is', null)
      .where('failed_at', 'is', null)
      // A message the dispatcher is sending right now is waited for, then left alone (it was sent).
      .executeTakeFirst();
    return Number(r.numDeletedRows);
  }
}
