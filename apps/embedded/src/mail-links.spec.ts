import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from '@hotdash/testing';
import { describeMail, MailLinks } from './mail-links';

const eml = (to: string, subject: string, body: string) =>
  [`To: ${to}`, `Subject: ${subject}`, 'X-HotDash-Kind: invitation', 'Content-Type: text/plain; charset=utf-8', '', body.replace(/\n/g, '\r\n'), ''].join('\r\n');

describe('embedded mode mail links', () => {
  it('reads the recipient, the subject (encoded words too) and every link of a message', () => {
    const subject = `=?UTF-8?B?${Buffer.from('Einladung für Ö', 'utf8').toString('base64')}?=`;
    expect(describeMail(eml('a@b.test', subject, 'Open https://x.test/app/invitation#t.abc to accept.\nDocs: http://x.test/docs'))).toEqual({
      kind: 'invitation',
      to: 'a@b.test',
      subject: 'Einladung für Ö',
      links: ['https://x.test/app/invitation#t.abc', 'http://x.test/docs'],
    });
  });

  it('logs each new message of the mail folder once, not those there before it started', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mail-links-'));
    try {
      mkdirSync(join(dir, 'tenant-a'));
      writeFileSync(join(dir, 'tenant-a', 'old.eml'), eml('old@b.test', 'Old', 'https://x.test/old'));
      const lines: string[] = [];
      const links = new MailLinks(dir, (l) => lines.push(l), 20);
      await links.start();
      mkdirSync(join(dir, 'tenant-b'));
      writeFileSync(join(dir, 'tenant-b', 'new.eml'), eml('new@b.test', 'New', 'https://x.test/app/invitation#new'));
      await waitFor('the new message logged', async () => lines.length > 0, 5_000, 10);
      // A later message: logged by a later scan, which does not log the first one again.
      writeFileSync(join(dir, 'tenant-b', 'later.eml'), eml('later@b.test', 'Later', 'https://x.test/later'));
      await waitFor('the later message logged', async () => lines.some((l) => l.includes('later@b.test')), 5_000, 10);
      await links.stop();
      expect(lines).toHaveLength(2);
      expect(lines[0]).toContain('invitation to new@b.test: "New" — https://x.test/app/invitation#new');
      expect(lines.join('\n')).not.toContain('old@b.test');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
