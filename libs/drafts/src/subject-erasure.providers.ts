import type { Provider } from '@nestjs/common';
import { loadConfig } from '@hotdash/platform-config';
import { CertificateSigner, FieldCipher } from '@hotdash/platform-crypto';
import { createRedis } from '@hotdash/platform-jobs';
import { MailSubjectErasure, mailDir } from '@hotdash/platform-messaging';
import { SUBJECT_ERASURE_REDIS, SubjectErasureService } from './subject-erasure';

/**
 * What data subject erasures need in the drafts service: the platform's certificate signing key
 * (HOTDASH_CERTIFICATE_SIGNING_KEY), the mail store (mail_outbox, and HOTDASH_MAIL_DIR's files), a
 * Redis connection of its own (connected when an erasure first uses it; closed with the service).
 */
export function subjectErasureProviders(): Provider[] {
  return [
    SubjectErasureService,
    { provide: CertificateSigner, useFactory: () => CertificateSigner.fromEnv() },
    { provide: MailSubjectErasure, useFactory: (cipher: FieldCipher) => new MailSubjectErasure(cipher, mailDir()), inject: [FieldCipher] },
    { provide: SUBJECT_ERASURE_REDIS, useFactory: () => createRedis(loadConfig(), { lazyConnect: true, maxRetriesPerRequest: 3 }) },
  ];
}
