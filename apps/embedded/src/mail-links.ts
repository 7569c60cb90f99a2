import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

/** RFC 2047 `=?UTF-8?B?…?=` words (what EmlFileMailSender writes beyond ASCII) decoded. */
function decodeHeader(value: string): string {
  return value.replace(/=\?UTF-8\?B\?([A-Za-z0-9+/=]+)\?=/gi, (_, b64: string) => Buffer.from(b64, 'base64').toString('utf8'));
}

/** What the log line says of one `.eml` file: kind, recipient, subject and the links in its body. */
export function describeMail(eml: string): { kind: string; to: string; subject: string; links: string[] } {
  const split = eml.indexOf('\r\n\r\n');
  const head = split < 0 ? eml : eml.slice(0, split);
  const body = split < 0 ? '' : eml.slice(split + 4);
  const header = (name: string) => decodeHeader(new RegExp(`^${name}: (.*)$`, 'mi').exec(head)?.[1]?.trim() ?? '');
  return { kind: header('X-HotDash-Kind'), to: header('To'), subject: header('Subject'), links: [...body.matchAll(/https?:\/\/[^\s<>"]+/g)].map((m) => m[0]) };
}

/**
 * Embedded mode's mail is `.eml` files (HOTDASH_MAIL_DIR, one folder per tenant): this watches the
 * folder and writes a log line for each new message with its links (an invitation's, a password
 * reset's), so whoever runs the platform locally can follow them without a mail server. Files present
 * at start are not announced again.
 */
export class MailLinks {
  private readonly seen = new Set<string>();
  private timer?: NodeJS.Timeout;
  private scanning?: Promise<void>;

  constructor(
    private readonly dir: string,
    private readonly log: (line: string) => void,
    private readonly everyMs = 500,
  ) {}

  async start(): Promise<void> {
    await this.scan(false);
    this.timer = setInterval(() => {
      this.scanning ??= this.scan(true)
        .catch(() => undefined)
        .finally(() => (this.scanning = undefined));
    }, this.everyMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.scanning;
  }

  private async scan(announce: boolean): Promise<void> {
    const tenants = await readdir(this.dir, { withFileTypes: true }).catch(() => []);
    for (const t of tenants) {
      if (!t.isDirectory()) continue;
      const files = await readdir(join(this.dir, t.name)).catch(() => [] as string[]);
      for (const f of files) {
        if (!f.endsWith('.eml')) continue;
        const path = join(this.dir, t.name, f);
        if (this.seen.has(path)) continue;
        this.seen.add(path);
        if (!announce) continue;
        const mail = describeMail(await readFile(path, 'utf8').catch(() => ''));
        this.log(`[mail] ${mail.kind || 'mail'} to ${mail.to}: "${mail.subject}"${mail.links.length ? ` — ${mail.links.join(' ')}` : ''} (${path})`);
      }
    }
  }
}
