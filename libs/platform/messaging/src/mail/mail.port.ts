/** One e-mail to send. Bodies are plain text. */
export interface MailMessage {
  /** Mail outbox row id: senders use it as the Message-ID, so a resend is recognisable. */
  id: string;
  tenantId: string;
  to: string;
  subject: string;
  body: string;
  kind: string;
}

/** Where mail goes: SMTP or a provider's API in production, `.eml` files locally and in tests. */
export interface MailSender {
  send(message: MailMessage): Promise<void>;
}
