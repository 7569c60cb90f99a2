import { createTransport, type Transporter } from 'nodemailer';
import type { MailMessage, MailSender } from './mail.port';

/** The SMTP server refused this message for good (a 5xx answer): sending it again will not help. */
export class MailRejectedError extends Error {
  constructor(
    message: string,
    readonly responseCode: number,
  ) {
    super(message);
    this.name = 'MailRejectedError';
  }
}

export interface SmtpMailSenderOptions {
  /** `smtp://host:port` (STARTTLS when the server offers it), `smtps://host:port` (TLS from the start); user and password in the URL when the server wants them. */
  url: string;
  /** The From header. */
  from?: string;
  /** Time limits of the connection, the greeting and each command, in milliseconds. Default 10 000. */
  timeoutMs?: number;
}

/**
 * Delivers mail to an SMTP server with nodemailer (production's relay, or the local Mailpit): plain
 * text, the mail outbox row's id as the Message-ID (a message sent again after a crash is
 * recognisable), the tenant and the kind as X-HotDash headers. A 5xx answer is a MailRejectedError
 * (the dispatcher sets that message aside); anything else (the server down, a 4xx) is thrown as it
 * is and the batch is tried again later.
 */
export class SmtpMailSender implements MailSender {
  private readonly transport: Transporter;
  private readonly from: string;

  constructor(options: SmtpMailSenderOptions) {
    const url = new URL(options.url);
    if (url.protocol !== 'smtp:' && url.protocol !== 'smtps:') throw new Error(`SMTP URL must start with smtp:// or smtps:// (got ${url.protocol}//)`);
    const timeout = options.timeoutMs ?? 10_000;
    this.transport = createTransport({
      host: url.hostname,
      port: url.port ? Number(url.port) : url.protocol === 'smtps:' ? 465 : 587,
      secure: url.protocol === 'smtps:',
      ...(url.username ? { auth: { user: decodeURIComponent(url.username), pass: decodeURIComponent(url.password) } } : {}),
      connectionTimeout: timeout,
      greetingTimeout: timeout,
      socketTimeout: timeout,
      pool: true,
      maxConnections: 2,
    });
    this.from = options.from ?? 'HotDash <no-reply@hotdash.local>';
  }

  async send(m: MailMessage): Promise<void> {
    try {
      await this.transport.sendMail({
        from: this.from,
        to: m.to,
        subject: m.subject,
        text: m.body,
        messageId: `<${m.id}@hotdash.local>`,
        headers: { 'X-HotDash-Tenant': m.tenantId, 'X-HotDash-Kind': m.kind },
      });
    } catch (err) {
      const code = (err as { responseCode?: unknown }).responseCode;
      if (typeof code === 'number' && code >= 500 && code < 600) throw new MailRejectedError(`the SMTP server refused the message (${code}): ${(err as Error).message}`, code);
      throw err;
    }
  }

  close(): void {
    this.transport.close();
  }
}
