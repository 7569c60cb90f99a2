import type { Provider } from '@nestjs/common';
import { loadConfig } from '@hotdash/platform-config';
import { CertificateSigner, FieldCipher } from '@hotdash/platform-crypto';
import { idempotencyStore } from '@hotdash/platform-auth';
import { createRedis } from '@hotdash/platform-jobs';
import { MailSubjectErasure, mailDir } from '@hotdash/platform-messaging';
import { SUBJECT_ERASURE_REPLIES, SubjectErasureService } from './subject-erasure';

/**
 * What data subject erasures need in the drafts service: the platform's certificate signing key
 * (HOTDASH_CERTIFICATE_SIGNING_KEY), the mail store (mail_outbox, and HOTDASH_MAIL_DIR's files), a
 * the gateway's idempotency entries (IdempotencyStore as HOTDASH_STATE_STORE says: on Redis a
 * connection of its own, connected when an erasure first uses it and closed with the service).
 */
export function subjectErasureProviders(): Provider[] {
  return [
    SubjectErasureService,
    { provide: CertificateSigner, useFactory: () => CertificateSigner.fromEnv() },
    { provide: MailSubjectErasure, useFactory: (cipher: FieldCipher) => new MailSubjectErasure(cipher, mailDir()), inject: [FieldCipher] },
    { provide: SUBJECT_ERASURE_REPLIES, useFactory: () => idempotencyStore(() => createRedis(loadConfig(), { lazyConnect: true, maxRetriesPerRequest: 3 })) },
  ];
}
