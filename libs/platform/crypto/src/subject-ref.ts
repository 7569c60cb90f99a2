import { createHmac, hkdfSync } from 'node:crypto';
import type { TenantId } from '@hotdash/contracts';
import type { DataKeySource } from './tenant-keyring';

/** The HKDF label of the tenant-scoped key data subjects' references are made under. */
const SUBJECT_REF_INFO = 'hotdash subject ref v1';

/**
 * The form of an e-mail address a data subject is known by: trimmed, Unicode NFC, lower case (the
 * same address typed twice names the same subject; `Dana@Customer.test` is `dana@customer.test`).
 */
export function normaliseSubjectEmail(email: string): string {
  if (typeof email !== 'string') throw new TypeError('a data subject is named by an e-mail address (a string)');
  return email.normalize('NFC').trim().toLowerCase();
}

/**
 * Blind index of a data subject (a tenant's customer, known by e-mail; DESIGN.md §8 and issue 16):
 * `subject_ref` = hex HMAC-SHA256 of the normalised e-mail under a key of the tenant alone, derived
 * (HKDF-SHA256, salt = the tenant id) from the tenant's data key. Stored beside the encrypted
 * e-mail (`tickets.subject_ref`), it finds a subject's rows with an index and never reveals the
 * address: without the tenant's data key nobody can compute or test it, the same address gives
 * another reference in another tenant, and destroying the tenant key (offboarding) makes every
 * reference meaningless. Used by the subject's data keys (SubjectKeyring), erasure and export.
 */
export class SubjectRefs {
  constructor(private readonly keys: DataKeySource) {}

  /** The subject's reference in the tenant (64 hex characters); the errors of DataKeySource.dataKey. */
  async subjectRef(tenantId: TenantId, email: string): Promise<string> {
    const normalised = normaliseSubjectEmail(email);
    const key = Buffer.from(hkdfSync('sha256', await this.keys.dataKey(tenantId), Buffer.from(tenantId, 'utf8'), SUBJECT_REF_INFO, 32));
    try {
      return createHmac('sha256', key).update(normalised, 'utf8').digest('hex');
    } finally {
      key.fill(0);
    }
  }
}

/** Shape of a subject reference (hex HMAC-SHA256). */
export const SUBJECT_REF_PATTERN = /^[0-9a-f]{64}$/;
