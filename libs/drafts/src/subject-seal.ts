import { SupportFields, TenantId } from '@hotdash/contracts';
import { FieldCipher, SubjectKeyring } from '@hotdash/platform-crypto';

/** A ticket's customer values sealed under the data subject's key, and the subject's reference. */
export interface SealedTicketText {
  subjectRef: string;
  customerNameEnc: string;
  customerEmailEnc: string;
  subjectEnc: string | null;
  bodyEnc: string;
}

/** The data subjects' keyring of the service's FieldCipher (cryptoProviders makes one; so does a FieldCipher over a TenantKeyring). */
export function subjectKeyringOf(cipher: FieldCipher): SubjectKeyring {
  if (!(cipher.subjects instanceof SubjectKeyring)) throw new TypeError('the drafts service needs a FieldCipher with data subject keys (SubjectKeyring)');
  return cipher.subjects;
}

/**
 * Which of a ticket's values are the data subject's personal data, sealed under the subject's own
 * key (per-subject crypto-shredding): the customer's name, e-mail, the subject line and the
 * message; and, derived from them (sealed `like` the ticket's message, by decisions and
 * ai-drafting), drafts, the operator's edits and diff, reject reasons and the reply. Everything
 * else of a ticket (status, times, ids, assignee, model, token counts, citations of the tenant's
 * own documents) is not about the customer and stays as it is.
 */
export async function sealTicketText(cipher: FieldCipher, tenantId: TenantId, plain: { name: string; email: string; subject: string | null; body: string }): Promise<SealedTicketText> {
  const subject = await subjectKeyringOf(cipher).subjectFor(tenantId, plain.email);
  const seal = { subjectKeyId: subject.keyId };
  const [customerNameEnc, customerEmailEnc, subjectEnc, bodyEnc] = await Promise.all([
    cipher.encrypt(tenantId, SupportFields.CUSTOMER_NAME, plain.name, seal),
    cipher.encrypt(tenantId, SupportFields.CUSTOMER_EMAIL, plain.email, seal),
    plain.subject === null ? null : cipher.encrypt(tenantId, SupportFields.SUBJECT, plain.subject, seal),
    cipher.encrypt(tenantId, SupportFields.BODY, plain.body, seal),
  ]);
  return { subjectRef: subject.subjectRef, customerNameEnc, customerEmailEnc, subjectEnc, bodyEnc };
}

/**
 * A ticket an integration submitted, its values sealed by the integration (under the tenant's key,
 * `v1.`, or already under the subject's, `s1.`): opened in memory and sealed again under the
 * subject's key, so what the drafts service stores and publishes is erasable by subject. (The
 * integration's own ticket.submitted message stays as it sealed it: integrations that seal with
 * FieldCipher and the subject's key make that copy erasable too.)
 */
export async function resealSubmittedText(
  cipher: FieldCipher,
  tenantId: TenantId,
  t: { customerNameEnc: string; customerEmailEnc: string; subjectEnc: string | null; bodyEnc: string },
): Promise<SealedTicketText> {
  const open = (field: string, token: string) => cipher.decrypt(tenantId, field, token);
  const [name, email, subject, body] = await Promise.all([
    open(SupportFields.CUSTOMER_NAME, t.customerNameEnc),
    open(SupportFields.CUSTOMER_EMAIL, t.customerEmailEnc),
    t.subjectEnc === null ? null : open(SupportFields.SUBJECT, t.subjectEnc),
    open(SupportFields.BODY, t.bodyEnc),
  ]);
  return sealTicketText(cipher, tenantId, { name, email, subject, body });
}
