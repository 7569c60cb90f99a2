// The mail port (MailOutbox) and the mail dispatcher on a real shard of their own (a scratch
// database, so no other spec's mail is delivered or withdrawn here): mail queued in a tenant's
// transaction exists exactly when it commits, its address encrypted with the tenant's key; the
// dispatcher (relay role, Kysely) delivers it once as an .eml file or to an SMTP server (the local
// Mailpit), and sets aside what it cannot decrypt or the server refuses for good; a compensation withdraws only the tenant's unsent mail of one kind.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TenantId } from '@hotdash/contracts';
import { FieldCipher, LocalKms, TenantKeyring } from '@hotdash/platform-crypto';
import { newId, ShardInfo } from '@hotdash/platform-db';
import { closedPort, TestWorld } from '@hotdash/testing';
import { EmlFileMailSender } from './eml-file.mail-sender';
import { MailDispatcher } from './mail-dispatcher';
import { MAIL_ADDRESS_FIELD, MailOutbox } from './mail-outbox';
import { MailRejectedError, SmtpMailSender } from './smtp.mail-sender';

jest.setTimeout(60_000);

const world = new TestWorld();
const keyring = new TenantKeyring(world.dbs, LocalKms.fromEnv());
const cipher = new FieldCipher(keyring);
const mail = new MailOutbox(cipher);
const dir = mkdtempSync(join(tmpdir(), 'hotdash-mail-outbox-'));
const dispatcher = new MailDispatcher(world.dbs, cipher, new EmlFileMailSender(dir));
const scratchDb = `hotdash_mail_${newId().replace(/-/g, '').slice(-12)}`;
const shard: ShardInfo = world.scratchShardInfo(scratchDb);
let a: TenantId;
let b: TenantId;

async function tenantWithKey(name: string): Promise<TenantId> {
  const t = await world.createTenant(name);
  await world.dbs.withControl((tx) => keyring.createKey(tx, t.id));
  return t.id;
}

const inTenant = <T>(t: TenantId, fn: Parameters<typeof world.tenantDb.withTenantOnShard<T>>[2]) => world.tenantDb.withTenantOnShard(shard, t, fn);
const rows = (t: TenantId) =>
  inTenant(t, (tx) => tx.db.selectFrom('mail_outbox').select(['id', 'to_enc', 'subject', 'kind', 'sent_at', 'failed_at', 'last_error']).orderBy('created_at').execute());
const delivered = (t: TenantId): string[] => {
  try {
    return readdirSync(join(dir, t)).map((f) => readFileSync(join(dir, t, f), 'utf8'));
  } catch {
    return [];
  }
};

beforeAll(async () => {
  await world.createScratchShardDatabase(scratchDb);
  a = await tenantWithKey('Mail A');
  b = await tenantWithKey('Mail B');
});

afterAll(async () => {
  await world.close();
  await world.dropScratchDatabase(scratchDb);
  rmSync(dir, { recursive: true, force: true });
});

it('queues a message in the caller’s transaction, the address encrypted, and the dispatcher delivers it once', async () => {
  const id = await inTenant(a, (tx) => mail.queue(tx, { tenantId: a, to: 'Ada@Example.test', subject: 'Welcome to Acme', body: 'Line one.\nLine two.', kind: 'invitation' }));
  const [row] = await rows(a);
  expect(row).toMatchObject({ id, subject: 'Welcome to Acme', kind: 'invitation', sent_at: null, failed_at: null });
  expect(row!.to_enc).not.toContain('Ada');
  expect(await cipher.decrypt(a, MAIL_ADDRESS_FIELD, row!.to_enc)).toBe('Ada@Example.test');

  expect(await dispatcher.drain(shard)).toBe(1);
  const [eml] = delivered(a);
  expect(eml).toContain(`Message-ID: <${id}@hotdash.local>`);
  expect(eml).toContain('To: Ada@Example.test');
  expect(eml).toContain('Subject: Welcome to Acme');
  expect(eml).toContain('X-HotDash-Kind: invitation');
  expect(eml).toContain('Line one.\r\nLine two.');
  expect((await rows(a))[0]!.sent_at).toBeInstanceOf(Date);
  expect(await dispatcher.drain(shard)).toBe(0); // sent once
  expect(delivered(a)).toHaveLength(1);
});

it('queues nothing when the caller’s transaction rolls back', async () => {
  const before = (await rows(b)).length;
  await expect(
    inTenant(b, async (tx) => {
      await mail.queue(tx, { tenantId: b, to: 'bo@example.test', subject: 'Never', body: 'never sent', kind: 'invitation' });
      throw new Error('the change failed');
    }),
  ).rejects.toThrow('the change failed');
  expect(await rows(b)).toHaveLength(before);
});

it('takes an address sealed before the transaction, for its own tenant only', async () => {
  const sealed = await mail.seal(b, 'bo@example.test');
  const sealedForA = await mail.seal(a, 'x@example.test');
  await expect(inTenant(b, (tx) => mail.queue(tx, { tenantId: b, to: sealedForA, subject: 's', body: 'b', kind: 'invitation' }))).rejects.toThrow(/sealed for tenant/);
  const id = await inTenant(b, (tx) => mail.queue(tx, { tenantId: b, to: sealed, subject: 'Sealed first', body: 'b', kind: 'password-reset' }));
  expect(await dispatcher.drain(shard)).toBe(1);
  expect(delivered(b).find((m) => m.includes(`<${id}@`))).toContain('To: bo@example.test');
});

it("withdraws only the tenant's unsent mail of one kind; sent mail and other kinds and tenants stay", async () => {
  const queue = (t: TenantId, kind: string) => inTenant(t, (tx) => mail.queue(tx, { tenantId: t, to: `${kind}@example.test`, subject: kind, body: kind, kind }));
  const unsentInvitation = await queue(a, 'invitation');
  const unsentReset = await queue(a, 'password-reset');
  const otherTenant = await queue(b, 'invitation');
  const sentBefore = (await rows(a)).filter((r) => r.sent_at).map((r) => r.id);
  expect(sentBefore).toHaveLength(1); // the first spec's invitation, delivered

  expect(await inTenant(a, (tx) => mail.cancelUnsent(tx, a, 'invitation'))).toBe(1);
  const left = (await rows(a)).map((r) => r.id);
  expect(left).toEqual([...sentBefore, unsentReset]);
  expect(left).not.toContain(unsentInvitation);
  expect((await rows(b)).map((r) => r.id)).toContain(otherTenant);

  expect(await dispatcher.drain(shard)).toBe(2);
  expect(delivered(a).some((m) => m.includes(`<${unsentReset}@`))).toBe(true);
  expect(delivered(a).some((m) => m.includes(`<${unsentInvitation}@`))).toBe(false);
  expect(delivered(b).some((m) => m.includes(`<${otherTenant}@`))).toBe(true);
});

it('sets aside a message whose address cannot be decrypted, with the reason, and delivers the ones behind it', async () => {
  const bad = newId();
  await inTenant(a, (tx) => tx.db.insertInto('mail_outbox').values({ id: bad, tenant_id: a, to_enc: 'v1.not-a-token', subject: 'broken', body: 'broken', kind: 'invitation' }).execute());
  const good = await inTenant(a, (tx) => mail.queue(tx, { tenantId: a, to: 'after@example.test', subject: 'After', body: 'after', kind: 'invitation' }));
  expect(await dispatcher.drain(shard)).toBe(2);
  const byId = new Map((await rows(a)).map((r) => [r.id, r]));
  expect(byId.get(bad)).toMatchObject({ sent_at: null, failed_at: expect.any(Date), last_error: expect.any(String) });
  expect(byId.get(bad)!.last_error!.length).toBeGreaterThan(0);
  expect(byId.get(good)).toMatchObject({ sent_at: expect.any(Date), failed_at: null });
  expect(await dispatcher.drain(shard)).toBe(0); // set aside, not retried forever
});

describe('over SMTP', () => {
  const MAILPIT = `http://127.0.0.1:${process.env.HOTDASH_MAILPIT_UI_PORT ?? 8025}`;
  const delivered: string[] = [];
  afterAll(async () => {
    const found = await Promise.all(
      delivered.map(async (id) => ((await (await fetch(`${MAILPIT}/api/v1/search?query=${encodeURIComponent(`message-id:"${id}@hotdash.local"`)}`)).json()) as { messages: { ID: string }[] }).messages),
    );
    const ids = found.flat().map((m) => m.ID);
    if (ids.length) await fetch(`${MAILPIT}/api/v1/messages`, { method: 'DELETE', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ IDs: ids }) });
  });

  it('delivers to the SMTP server once; a message refused for good is set aside and the ones behind it go; a server that is down keeps them all', async () => {
    const refusing = new SmtpMailSender({ url: `smtp://127.0.0.1:${process.env.HOTDASH_SMTP_PORT ?? 1025}` });
    // Mailpit takes everything: a sender that refuses one address for good stands in front of it.
    const sender = {
      send: (m: Parameters<SmtpMailSender['send']>[0]) => (m.to.startsWith('gone@') ? Promise.reject(new MailRejectedError('550 mailbox unavailable', 550)) : refusing.send(m)),
    };
    const smtp = new MailDispatcher(world.dbs, cipher, sender);
    const down = new MailDispatcher(world.dbs, cipher, new SmtpMailSender({ url: `smtp://127.0.0.1:${await closedPort()}`, timeoutMs: 2_000 }));
    try {
      const gone = await inTenant(b, (tx) => mail.queue(tx, { tenantId: b, to: 'gone@example.test', subject: 'Gone', body: 'gone', kind: 'invitation' }));
      const next = await inTenant(b, (tx) => mail.queue(tx, { tenantId: b, to: 'next@example.test', subject: 'Next', body: 'https://hotdash.example/invitations/accept#next', kind: 'invitation' }));
      await expect(down.drain(shard)).rejects.toMatchObject({ code: expect.stringMatching(/ECONNREFUSED|ESOCKET|ECONNECTION/) });
      const pending = new Map((await rows(b)).map((r) => [r.id, r]));
      expect([pending.get(gone)?.sent_at, pending.get(gone)?.failed_at, pending.get(next)?.sent_at]).toEqual([null, null, null]);

      expect(await smtp.drain(shard)).toBeGreaterThanOrEqual(2);
      delivered.push(next);
      const byId = new Map((await rows(b)).map((r) => [r.id, r]));
      expect(byId.get(gone)).toMatchObject({ sent_at: null, failed_at: expect.any(Date), last_error: expect.stringMatching(/550/) });
      expect(byId.get(next)).toMatchObject({ sent_at: expect.any(Date), failed_at: null });
      const [message] = ((await (await fetch(`${MAILPIT}/api/v1/search?query=${encodeURIComponent(`message-id:"${next}@hotdash.local"`)}`)).json()) as { messages: { ID: string; To: { Address: string }[] }[] }).messages;
      expect(message!.To).toEqual([expect.objectContaining({ Address: 'next@example.test' })]);
      expect(await smtp.drain(shard)).toBe(0);
    } finally {
      refusing.close();
    }
  });
});
