import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { readSetting } from '@hotdash/platform-config';
import { EmlFileMailSender } from './eml-file.mail-sender';
import type { MailSender } from './mail.port';
import { SmtpMailSender } from './smtp.mail-sender';

/** Where the local mail sender writes (HOTDASH_MAIL_DIR, or `.local/mail` of the checkout). */
export function mailDir(): string {
  return readSetting('HOTDASH_MAIL_DIR') ?? join(__dirname, '..', '..', '..', '..', '..', '.local', 'mail');
}

/**
 * The mail files the local sender delivered for a tenant (`<dir>/<tenantId>/`), erased at its
 * offboarding. Answers how many files there were (0 when the folder does not exist, as with a
 * sender that delivers over SMTP: what it sent is in the recipients' mailboxes, beyond the platform).
 */
export async function eraseTenantMailFiles(dir: string, tenantId: string): Promise<number> {
  if (!/^[0-9a-f-]{36}$/.test(tenantId)) throw new Error('eraseTenantMailFiles takes a tenant id');
  const folder = join(dir, tenantId);
  let files: string[];
  try {
    files = await readdir(folder);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw err;
  }
  await rm(folder, { recursive: true, force: true });
  return files.filter((f) => f.endsWith('.eml')).length;
}

/**
 * The mail sender the configuration asks for, chosen in this one place: SMTP when HOTDASH_SMTP_URL
 * is set (the local stack's Mailpit, or production's relay), otherwise `.eml` files in
 * {@link mailDir} (specs that read the files, a machine without Mailpit).
 */
export function mailSenderFromEnv(): MailSender & { close?(): void } {
  const url = readSetting('HOTDASH_SMTP_URL');
  const from = readSetting('HOTDASH_MAIL_FROM');
  return url ? new SmtpMailSender({ url, from }) : new EmlFileMailSender(mailDir(), from);
}
