import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { MailMessage, MailSender } from './mail.port';

function header(value: string): string {
  // RFC 2047 encoded-word for anything beyond printable ASCII; no header injection through newlines.
  const clean = value.replace(/[\r\n]+/g, ' ');
  return /^[\x20-\x7e]*$/.test(clean) ? clean : `=?UTF-8?B?${Buffer.from(clean, 'utf8').toString('base64')}?=`;
}

/**
 * Writes each message as an RFC 5322 `.eml` file in `<dir>/<tenantId>/<id>.eml` (written to a
 * temporary name and renamed, so a reader never sees half a file). The local and test adapter.
 */
export class EmlFileMailSender implements MailSender {
  constructor(
    private readonly dir: string,
    private readonly from = 'HotDash <no-reply@hotdash.local>',
  ) {}

  async send(m: MailMessage): Promise<void> {
    const folder = join(this.dir, m.tenantId);
    await mkdir(folder, { recursive: true });
    const eml = [
      `Message-ID: <${m.id}@hotdash.local>`,
      `Date: ${new Date().toUTCString()}`,
      `From: ${header(this.from)}`,
      `To: ${header(m.to)}`,
      `Subject: ${header(m.subject)}`,
      `X-HotDash-Tenant: ${m.tenantId}`,
      `X-HotDash-Kind: ${header(m.kind)}`,
      'MIME-Version: 1.0',
      'Content-Type: text/plain; charset=utf-8',
      'Content-Transfer-Encoding: 8bit',
      '',
      m.body.replace(/\r?\n/g, '\r\n'),
      '',
    ].join('\r\n');
    const target = join(folder, `${m.id}.eml`);
    await writeFile(`${target}.tmp`, eml, 'utf8');
    await rename(`${target}.tmp`, target);
  }
}
