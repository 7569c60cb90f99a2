// The SMTP sender against the local Mailpit (deploy/local/infra.sh: SMTP 1025, its API on 8025):
// what arrives (recipient, subject, text, Message-ID, the X-HotDash headers), an address refused
// for good (a 5xx from a scripted SMTP server) versus a server that is down, and the sender the
// configuration picks.
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { newId } from '@hotdash/platform-db';
import { closedPort } from '@hotdash/testing';
import { EmlFileMailSender } from './eml-file.mail-sender';
import { mailSenderFromEnv } from './mail-files';
import { MailRejectedError, SmtpMailSender } from './smtp.mail-sender';

const MAILPIT = `http://127.0.0.1:${process.env.HOTDASH_MAILPIT_UI_PORT ?? 8025}`;
const SMTP = `smtp://127.0.0.1:${process.env.HOTDASH_SMTP_PORT ?? 1025}`;

interface MailpitSummary {
  ID: string;
  MessageID: string;
  To: { Address: string }[];
  Subject: string;
}

/** The messages Mailpit holds with this Message-ID (without the angle brackets). */
async function inMailpit(messageId: string): Promise<MailpitSummary[]> {
  const res = await fetch(`${MAILPIT}/api/v1/search?query=${encodeURIComponent(`message-id:"${messageId}"`)}&limit=10`);
  expect(res.status).toBe(200);
  return ((await res.json()) as { messages: MailpitSummary[] }).messages;
}

const sent: string[] = [];
afterAll(async () => {
  // Delete what this spec delivered.
  const ids = (await Promise.all(sent.map(inMailpit))).flat().map((m) => m.ID);
  if (ids.length) await fetch(`${MAILPIT}/api/v1/messages`, { method: 'DELETE', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ IDs: ids }) });
});

it('delivers a message to the SMTP server with its Message-ID, text and X-HotDash headers', async () => {
  const sender = new SmtpMailSender({ url: SMTP, from: 'HotDash Spec <spec@hotdash.local>' });
  const id = newId();
  const tenantId = newId();
  try {
    await sender.send({ id, tenantId, to: 'new.operator@example.test', subject: 'You are invited to Acme — on HotDash', body: 'Set your password:\nhttps://hotdash.example/invitations/accept#t0k3n\n', kind: 'invitation' });
  } finally {
    sender.close();
  }
  sent.push(`${id}@hotdash.local`);
  const [summary] = await inMailpit(`${id}@hotdash.local`);
  expect(summary).toMatchObject({ MessageID: `${id}@hotdash.local`, To: [{ Address: 'new.operator@example.test' }], Subject: 'You are invited to Acme — on HotDash' });
  const message = (await (await fetch(`${MAILPIT}/api/v1/message/${summary!.ID}`)).json()) as { Text: string; From: { Address: string; Name: string } };
  expect(message.Text).toContain('https://hotdash.example/invitations/accept#t0k3n');
  expect(message.From).toMatchObject({ Address: 'spec@hotdash.local', Name: 'HotDash Spec' });
  const headers = (await (await fetch(`${MAILPIT}/api/v1/message/${summary!.ID}/headers`)).json()) as Record<string, string[]>;
  expect(headers['X-Hotdash-Tenant'] ?? headers['X-HotDash-Tenant']).toEqual([tenantId]);
  expect(headers['X-Hotdash-Kind'] ?? headers['X-HotDash-Kind']).toEqual(['invitation']);
});

/** An SMTP server that answers each command from a script (enough of RFC 5321 for one message). */
function scriptedSmtp(rcptAnswer: string): Promise<{ url: string; server: Server }> {
  const server = createServer((socket: Socket) => {
    socket.write('220 spec ESMTP\r\n');
    let buf = '';
    socket.on('data', (d: Buffer) => {
      buf += d.toString();
      let i: number;
      while ((i = buf.indexOf('\r\n')) >= 0) {
        const line = buf.slice(0, i).toUpperCase();
        buf = buf.slice(i + 2);
        if (line.startsWith('EHLO')) socket.write('250-spec\r\n250 8BITMIME\r\n');
        else if (line.startsWith('MAIL FROM')) socket.write('250 ok\r\n');
        else if (line.startsWith('RCPT TO')) socket.write(`${rcptAnswer}\r\n`);
        else if (line.startsWith('RSET')) socket.write('250 ok\r\n');
        else if (line.startsWith('QUIT')) socket.end('221 bye\r\n');
        else socket.write('500 unexpected\r\n');
      }
    });
    socket.on('error', () => undefined);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ url: `smtp://127.0.0.1:${(server.address() as AddressInfo).port}`, server })));
}

it('tells an address refused for good (5xx) from a refusal for now (4xx) and a server that is down', async () => {
  const message = { id: newId(), tenantId: newId(), to: 'gone@example.test', subject: 'Reset your password', body: 'x', kind: 'password-reset' };
  for (const [answer, expected] of [
    ['550 5.1.1 mailbox unavailable', MailRejectedError],
    ['451 4.3.0 try again later', Error],
  ] as const) {
    const { url, server } = await scriptedSmtp(answer);
    const sender = new SmtpMailSender({ url, timeoutMs: 2_000 });
    try {
      const err = await sender.send(message).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(expected);
      expect(err instanceof MailRejectedError).toBe(expected === MailRejectedError);
    } finally {
      sender.close();
      server.close();
    }
  }
  const down = new SmtpMailSender({ url: `smtp://127.0.0.1:${await closedPort()}`, timeoutMs: 2_000 });
  try {
    const err = await down.send(message).catch((e: unknown) => e);
    // The socket's own error (of Node's realm, not the spec's: matched by its code).
    expect(err).toMatchObject({ code: expect.stringMatching(/ECONNREFUSED|ESOCKET|ECONNECTION/) });
    expect(err).not.toBeInstanceOf(MailRejectedError);
  } finally {
    down.close();
  }
});

it('picks SMTP when HOTDASH_SMTP_URL is set, the file sender otherwise; refuses a URL that is not SMTP', () => {
  const saved = process.env.HOTDASH_SMTP_URL;
  try {
    process.env.HOTDASH_SMTP_URL = SMTP;
    const smtp = mailSenderFromEnv();
    expect(smtp).toBeInstanceOf(SmtpMailSender);
    smtp.close?.();
    delete process.env.HOTDASH_SMTP_URL;
    expect(mailSenderFromEnv()).toBeInstanceOf(EmlFileMailSender);
    expect(() => new SmtpMailSender({ url: 'http://127.0.0.1:1025' })).toThrow(/smtp:\/\/ or smtps:\/\//);
  } finally {
    if (saved === undefined) delete process.env.HOTDASH_SMTP_URL;
    else process.env.HOTDASH_SMTP_URL = saved;
  }
});
