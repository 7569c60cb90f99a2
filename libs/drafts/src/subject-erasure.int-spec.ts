// Erasure of one data subject against the real stores (issue 16, item 5): after it, no store holds
// the subject's plaintext (every tenant table's rows, the tenant's Redis keys, the mail files),
// the subject's events read back from Kafka and an earlier copy of the tenant's rows (what a backup
// archives) no longer decrypt while another subject's still do; the certificate verifies and a
// tampered one does not; tenant B neither erases nor reads tenant A's subject or erasure; bad input
// is a 400 problem with a stable code and writes nothing.
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { DraftEvents, Envelope, PrivacyProblems, SignedErasureCertificate, SupportFields, TenantId, TicketEvents, Topics } from '@hotdash/contracts';
import { type Principal, RedisIdempotencyStore } from '@hotdash/platform-auth';
import { certificateVerifyKeysFromEnv, CertificateSigner, FieldCipher, LocalKms, SubjectKeyDestroyedError, TenantKeyring, verifyCertificate } from '@hotdash/platform-crypto';
import { insertTenantRows, newId, readTenantRows, readTenantTables, TenantStatusCache, useCanonicalText } from '@hotdash/platform-db';
import { createRedis, scanKeys, tenantKeyPrefix } from '@hotdash/platform-jobs';
import { createKafkaClient, EmlFileMailSender, MailOutbox, MailSubjectErasure, OutboxRelay } from '@hotdash/platform-messaging';
import { createAccount, KafkaProbe, problemOf, TestAccount, TestWorld, waitFor } from '@hotdash/testing';
import { DecisionsService } from './decisions.service';
import { ERASURE_STALE_MS, SubjectErasureService } from './subject-erasure';
import { subjectKeyringOf } from './subject-seal';
import { ERASED_TEXT } from './ticket-records';
import { TicketsService } from './tickets.service';

jest.setTimeout(60_000);

const world = new TestWorld();
const kms = LocalKms.fromEnv();
const cipher = new FieldCipher(new TenantKeyring(world.dbs, kms));
const statuses = new TenantStatusCache(world.dbs);
const tickets = new TicketsService(world.tenantDb, cipher, statuses);
const decisions = new DecisionsService(world.tenantDb, cipher, statuses, tickets);
const redis = createRedis(world.config, { lazyConnect: true });
let mailDir: string;
let erasures: SubjectErasureService;

const as = (acc: TestAccount): Principal => ({ kind: 'user', tenantId: acc.tenantId, subject: acc.userId, role: 'admin', sessionId: newId(), scopes: ['*'], issuedAt: Date.now(), tokenId: newId() });

// Marked plaintext: searched for in every store afterwards.
const mark = newId().slice(-12);
const GONE = { name: `Erin Erased ${mark}`, email: `Erin.Erased+${mark}@Customer.test`, subject: `Refund ${mark} please`, body: `My order ${mark}-secret never arrived.`, draft: `Hello Erin ${mark}, we are sorry.` };
const KEPT = { name: `Kim Kept ${mark}`, email: `kim.kept+${mark}@customer.test`, subject: `Invoice ${mark}`, body: `Please resend invoice ${mark}-kept.` };
const gonePlaintext = [GONE.name, GONE.email.toLowerCase(), `${mark}-secret`, `Hello Erin ${mark}`, GONE.subject];

let a: TestAccount;
let b: TestAccount;
let goneTickets: string[];
let keptTicket: string;
let legacyTicket: string;
let backup: { table: string; columns: string[]; rows: (string | null)[][] }[];

/** Every row of every table of the tenant, as a backup copies them (platform/db tenant-rows, one snapshot). */
async function copyTenantRows(tenantId: TenantId): Promise<{ table: string; columns: string[]; rows: (string | null)[][] }[]> {
  return world.tenantDb.withTenant(
    tenantId,
    async (tx) => {
      await useCanonicalText(tx);
      const out = [];
      for (const table of await readTenantTables(tx.db)) {
        const rows: (string | null)[][] = [];
        for await (const page of readTenantRows(tx, tenantId, table)) rows.push(...page);
        out.push({ table: table.name, columns: table.columns.map((c) => c.name), rows });
      }
      return out;
    },
    { isolation: 'snapshot' },
  );
}

async function storedReply(tenantId: TenantId, ticket: unknown): Promise<string> {
  // As the gateway's IdempotentReplies keeps the answer of a POST /tickets sent with an Idempotency-Key.
  const key = `${tenantKeyPrefix(tenantId)}idem:POST /tickets:${createHash('sha256').update(newId()).digest('hex')}`;
  await redis.set(key, JSON.stringify({ state: 'done', fingerprint: 'f', reply: { status: 201, contentType: 'application/json', body: JSON.stringify(ticket) } }), 'EX', 600);
  return key;
}

async function tenantRedisValues(tenantId: TenantId): Promise<string[]> {
  const values: string[] = [];
  await scanKeys(redis, `hotdash:{t:${tenantId}}:*`, async (node, keys) => {
    for (const k of keys) if ((await node.type(k)) === 'string') values.push((await node.get(k)) ?? '');
  });
  return values;
}

async function mailFiles(tenantId: TenantId): Promise<string[]> {
  const dir = join(mailDir, tenantId);
  const names = await readdir(dir).catch(() => [] as string[]);
  return Promise.all(names.map((n) => readFile(join(dir, n), 'utf8')));
}

const finished = (tenantId: TenantId, id: string, who: TestAccount) =>
  waitFor(`erasure ${id} finished`, async () => {
    const e = await erasures.get(as(who), id);
    return e.status === 'running' ? undefined : e;
  }, 20_000);

beforeAll(async () => {
  mailDir = await mkdtemp(join(tmpdir(), 'hotdash-erasure-mail-'));
  erasures = new SubjectErasureService(world.tenantDb, cipher, CertificateSigner.fromEnv({}), new MailSubjectErasure(cipher, mailDir), new RedisIdempotencyStore(redis));
  a = await createAccount(world, 'admin');
  b = await createAccount(world, 'admin');
});

afterAll(async () => {
  await erasures.settled();
  for (const t of [a, b].filter(Boolean)) await scanKeys(redis, `hotdash:{t:${t.tenantId}}:idem:*`, async (node, keys) => void (await node.del(...keys)));
  redis.disconnect();
  await rm(mailDir, { recursive: true, force: true });
  await world.close();
});

describe('a data subject of tenant A', () => {
  let probe: { tickets: KafkaProbe; drafts: KafkaProbe };
  let gone: Envelope[];
  let kept: Envelope[];

  beforeAll(async () => {
    probe = { tickets: await KafkaProbe.start(Topics.TICKETS, { from: 'end' }), drafts: await KafkaProbe.start(Topics.DRAFTS, { from: 'end' }) };
    const admin = as(a);
    const t1 = (await tickets.create(admin, { customer: { name: GONE.name, email: GONE.email }, subject: GONE.subject, body: GONE.body })).ticket;
    // The same subject, the address typed differently: the same subject reference.
    const t2 = (await tickets.create(admin, { customer: { name: GONE.name, email: GONE.email.toUpperCase() }, body: `${GONE.body} (again)` })).ticket;
    const t3 = (await tickets.create(admin, { customer: { name: KEPT.name, email: KEPT.email }, subject: KEPT.subject, body: KEPT.body })).ticket;
    // A ticket stored before subject references and keys: tenant-key tokens, no reference.
    const legacyId = newId();
    const v1 = (field: string, text: string) => cipher.encrypt(a.tenantId, field, text);
    const legacy = { name: await v1(SupportFields.CUSTOMER_NAME, GONE.name), email: await v1(SupportFields.CUSTOMER_EMAIL, GONE.email), body: await v1(SupportFields.BODY, `${GONE.body} (legacy)`) };
    await world.tenantDb.withTenant(a.tenantId, (tx) =>
      tx.db
        .insertInto('tickets')
        .values({ id: legacyId, tenant_id: a.tenantId, channel: 'api', customer_name_enc: legacy.name, customer_email_enc: legacy.email, body_enc: legacy.body, status: 'drafting', received_at: new Date() })
        .execute(),
    );
    goneTickets = [t1.id, t2.id];
    legacyTicket = legacyId;
    keptTicket = t3.id;
    // A draft of the subject's ticket, as ai-drafting seals it (like the ticket), approved: reply.sent.
    const draftId = newId();
    const t1Row = await world.tenantDb.withTenant(a.tenantId, (tx) => tx.db.selectFrom('tickets').select(['body_enc', 'subject_ref']).where('id', '=', t1.id).executeTakeFirstOrThrow());
    const bodyEnc = await cipher.encrypt(a.tenantId, SupportFields.DRAFT_BODY, GONE.draft, { like: t1Row.body_enc });
    await world.tenantDb.withTenant(a.tenantId, (tx) => tickets.onGenerated(tx, { tenantId: a.tenantId, ticketId: t1.id, draftId, attempt: 1, bodyEnc, citations: [], model: 'offline', usage: { promptTokens: 1, completionTokens: 1 } }));
    await decisions.approve(admin, draftId);
    // Redis: the gateway's stored answers of the two subjects' POST /tickets.
    await storedReply(a.tenantId, t1);
    await storedReply(a.tenantId, t3);
    // Mail: a message to the subject queued, one delivered as a file, one to the other subject.
    const outbox = new MailOutbox(cipher);
    // Set aside in the same transaction: a relay running beside the spec must not deliver it elsewhere.
    await world.tenantDb.withTenant(a.tenantId, async (tx) => {
      const id = await outbox.queue(tx, { tenantId: a.tenantId, to: GONE.email, subject: `About ${mark}`, body: `Dear ${GONE.name}`, kind: 'customer-notice' });
      await tx.db.updateTable('mail_outbox').set({ failed_at: new Date(), last_error: 'held by the spec' }).where('id', '=', id).execute();
    });
    const sender = new EmlFileMailSender(mailDir);
    await sender.send({ id: newId(), tenantId: a.tenantId, to: GONE.email.toLowerCase(), subject: `About ${mark}`, body: `Dear ${GONE.name}`, kind: 'customer-notice' });
    await sender.send({ id: newId(), tenantId: a.tenantId, to: KEPT.email, subject: `About ${mark}`, body: `Dear ${KEPT.name}`, kind: 'customer-notice' });

    // The tenant's events to Kafka, by the relay (as apps/relay does).
    const kafka = createKafkaClient({ brokers: world.config.kafka.brokers, clientId: 'erasure-spec' });
    const shard = (await world.dbs.controlDb().selectFrom('tenant_placements').innerJoin('shards', 'shards.id', 'tenant_placements.shard_id').select('shards.name').where('tenant_id', '=', a.tenantId).executeTakeFirstOrThrow()).name;
    const relay = new OutboxRelay(world.dbs, (await world.shards()).find((s) => s.name === shard)!, await kafka.producer(), { pollIntervalMs: 200 });
    relay.start();
    try {
      const mine = () => [...probe.tickets.envelopes(), ...probe.drafts.envelopes()].filter((e) => e.tenantId === a.tenantId);
      await waitFor('the subjects’ events on Kafka', async () => {
        const seen = mine();
        const has = (type: string, ticketId: string) => seen.some((e) => e.type === type && (e.payload as { ticketId: string }).ticketId === ticketId);
        return has(TicketEvents.RECEIVED, t1.id) && has(TicketEvents.RECEIVED, t2.id) && has(TicketEvents.RECEIVED, t3.id) && has(TicketEvents.REPLY_SENT, t1.id) && has(DraftEvents.APPROVED, t1.id);
      }, 30_000);
      gone = mine().filter((e) => goneTickets.includes((e.payload as { ticketId: string }).ticketId));
      kept = mine().filter((e) => (e.payload as { ticketId: string }).ticketId === keptTicket);
    } finally {
      await relay.stop();
      await kafka.close();
    }
    // An earlier backup's rows.
    backup = await copyTenantRows(a.tenantId);
  });

  afterAll(async () => {
    await probe?.tickets.close();
    await probe?.drafts.close();
  });

  it('seals the subject’s values under its own key, with its reference', async () => {
    const rows = await world.tenantDb.withTenant(a.tenantId, (tx) => tx.db.selectFrom('tickets').select(['id', 'subject_ref', 'customer_email_enc', 'body_enc', 'reply_body_enc']).where('id', 'in', [...goneTickets, keptTicket]).execute());
    const byId = new Map(rows.map((r) => [r.id, r]));
    const [g1, g2, k] = [byId.get(goneTickets[0]!)!, byId.get(goneTickets[1]!)!, byId.get(keptTicket)!];
    expect(g1.subject_ref).toMatch(/^[0-9a-f]{64}$/);
    expect(g2.subject_ref).toBe(g1.subject_ref);
    expect(k.subject_ref).not.toBe(g1.subject_ref);
    for (const token of [g1.customer_email_enc, g1.body_enc, g1.reply_body_enc!, g2.body_enc]) expect(FieldCipher.subjectKeyIdOf(token)).toBe(FieldCipher.subjectKeyIdOf(g1.customer_email_enc));
    expect(FieldCipher.subjectKeyIdOf(k.body_enc)).not.toBe(FieldCipher.subjectKeyIdOf(g1.body_enc));
    // The scans below would see the subject's plaintext where it is held in clear before the erasure.
    expect((await tenantRedisValues(a.tenantId)).join('\n')).toContain(GONE.name);
    expect((await mailFiles(a.tenantId)).join('\n')).toContain(GONE.email.toLowerCase());
    // On Kafka: the subject's events carry only s1 tokens.
    expect(JSON.stringify(gone)).not.toContain(mark);
    expect(gone.some((e) => JSON.stringify(e.payload).includes('"s1.'))).toBe(true);
  });

  describe('bad input', () => {
    it.each([
      ['not an address', { email: 'not an address' }, PrivacyProblems.INVALID_EMAIL],
      ['no e-mail', {}, PrivacyProblems.INVALID_EMAIL],
      ['an unknown field', { email: GONE.email, extra: 1 }, 'unknown-field'],
      ['an address too long', { email: `${'x'.repeat(320)}@a.test` }, PrivacyProblems.INVALID_EMAIL],
    ])('%s → 400 %s, nothing written', async (_label, body, code) => {
      const before = await world.tenantDb.withTenant(a.tenantId, (tx) => tx.db.selectFrom('subject_erasures').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow());
      expect(await problemOf(erasures.start(as(a), body))).toEqual({ status: 400, code });
      const after = await world.tenantDb.withTenant(a.tenantId, (tx) => tx.db.selectFrom('subject_erasures').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow());
      expect(after.n).toBe(before.n);
    });
  });

  it('tenant B erasing the same address erases nothing of tenant A, and cannot read A’s erasure', async () => {
    const started = await erasures.start(as(b), { email: GONE.email });
    const done = await finished(b.tenantId, started.erasure.id, b);
    expect(done.status).toBe('succeeded');
    const c = done.certificate!.certificate;
    expect(c.tenantId).toBe(b.tenantId);
    expect(c.stores.filter((s) => s.store === 'postgresql').map((s) => s.count)).toEqual([0, 0]);
    expect(c.subjectKeys).toEqual([]);
    // A's subject is untouched: its tickets read, its key lives.
    const fresh = new FieldCipher(new TenantKeyring(world.dbs, kms));
    const t = await world.tenantDb.withTenant(a.tenantId, (tx) => tx.db.selectFrom('tickets').select('customer_email_enc').where('id', '=', goneTickets[0]!).executeTakeFirstOrThrow());
    expect(await fresh.decrypt(a.tenantId, SupportFields.CUSTOMER_EMAIL, t.customer_email_enc)).toBe(GONE.email);
    // B's erasure is not A's to read (404 as if missing), and A's is not B's.
    expect(await problemOf(erasures.get(as(a), started.erasure.id))).toEqual({ status: 404, code: PrivacyProblems.NOT_FOUND });
  });

  it('answers an erasure of the subject still running as it is, and takes over one whose process went quiet', async () => {
    const email = `quiet-${newId().slice(-8)}@customer.test`;
    const ref = await subjectKeyringOf(cipher).subjectRef(b.tenantId, email);
    const id = newId();
    const row = (updatedAt: Date) => ({ id, tenant_id: b.tenantId, subject_ref: ref, requested_by: 'user:spec', steps: JSON.stringify([]), updated_at: updatedAt });
    await world.tenantDb.withTenant(b.tenantId, (tx) => tx.db.insertInto('subject_erasures').values(row(new Date())).execute());
    // Running and heard of a moment ago: answered as it is, not run twice.
    const running = await erasures.start(as(b), { email });
    expect(running).toMatchObject({ created: false, erasure: { id, status: 'running' } });
    // Quiet for longer than ERASURE_STALE_MS (its process died): the same request takes it over and finishes it.
    await world.tenantDb.withTenant(b.tenantId, (tx) => tx.db.updateTable('subject_erasures').set({ updated_at: new Date(Date.now() - 2 * ERASURE_STALE_MS) }).where('id', '=', id).execute());
    const taken = await erasures.start(as(b), { email });
    expect(taken).toMatchObject({ created: true, erasure: { id } });
    expect(await finished(b.tenantId, id, b)).toMatchObject({ status: 'succeeded' });
  });

  describe('erased', () => {
    let certificate: SignedErasureCertificate;

    beforeAll(async () => {
      const started = await erasures.start(as(a), { email: GONE.email.toLowerCase() });
      expect(started.erasure).toMatchObject({ status: 'running', progress: { done: expect.any(Number), total: 8 } });
      // Asked again while it runs: the same erasure.
      const again = await erasures.start(as(a), { email: GONE.email });
      if (again.erasure.status === 'running') expect(again.erasure.id).toBe(started.erasure.id);
      const done = await finished(a.tenantId, started.erasure.id, a);
      expect(done).toMatchObject({ status: 'succeeded', progress: { done: 8, total: 8 }, error: null });
      expect(await problemOf(erasures.get(as(b), started.erasure.id))).toEqual({ status: 404, code: PrivacyProblems.NOT_FOUND });
      certificate = done.certificate!;
    });

    it('certifies what was erased where, signed by the platform: it verifies, a tampered copy does not', () => {
      const c = certificate.certificate;
      const count = (store: string, items: string) => c.stores.find((s) => s.store === store && s.items === items)?.count;
      expect(count('postgresql', 'tickets')).toBe(3);
      expect(c.stores.find((s) => s.store === 'kafka')!.detail).toMatch(/1 ticket\(s\) stored before per-subject keys/);
      expect(count('postgresql', 'drafts')).toBe(1);
      expect(count('subject-keys', 'subject_keys')).toBe(1);
      expect(count('redis', 'idempotency replies')).toBe(1);
      expect(count('mail', 'mail_outbox')).toBe(1);
      expect(count('mail', '.eml files')).toBe(1);
      // ticket.received ×2 and reply.sent carry the subject's tokens (draft.approved carries none).
      expect(count('kafka', 'events')).toBe(3);
      expect(count('outbox', 'outbox events')).toBe(3);
      expect(c.stores.find((s) => s.store === 'vector-store')).toMatchObject({ method: 'none-held', count: 0 });
      expect(JSON.stringify(certificate)).not.toContain(mark);
      const keys = certificateVerifyKeysFromEnv({});
      expect(verifyCertificate(JSON.parse(JSON.stringify(certificate)), keys)).toEqual({ valid: true, keyId: certificate.signature.keyId });
      const tampered = JSON.parse(JSON.stringify(certificate)) as SignedErasureCertificate;
      tampered.certificate.stores[1]!.count += 1;
      expect(verifyCertificate(tampered, keys)).toEqual({ valid: false, reason: 'bad-signature' });
      expect(verifyCertificate({ ...certificate, signature: { ...certificate.signature, keyId: 'other' } }, keys)).toEqual({ valid: false, reason: 'unknown-key' });
    });

    it('leaves no plaintext of the subject in any table of the tenant, its Redis keys or its mail files', async () => {
      const copy = await copyTenantRows(a.tenantId);
      const rows = JSON.stringify(copy);
      expect(rows).not.toContain(legacyTicket);
      const redisValues = (await tenantRedisValues(a.tenantId)).join('\n');
      const files = (await mailFiles(a.tenantId)).join('\n');
      for (const text of gonePlaintext) {
        expect(rows.toLowerCase()).not.toContain(text.toLowerCase());
        expect(redisValues.toLowerCase()).not.toContain(text.toLowerCase());
        expect(files.toLowerCase()).not.toContain(text.toLowerCase());
      }
      // The other subject's data is all there.
      expect(redisValues).toContain(keptTicket);
      expect(files).toContain(KEPT.email);
      const fresh = new FieldCipher(new TenantKeyring(world.dbs, kms));
      const k = await world.tenantDb.withTenant(a.tenantId, (tx) => tx.db.selectFrom('tickets').select('body_enc').where('id', '=', keptTicket).executeTakeFirstOrThrow());
      expect(await fresh.decrypt(a.tenantId, SupportFields.BODY, k.body_enc)).toBe(KEPT.body);
    });

    it('makes the subject’s messages on Kafka and its rows in an earlier backup unreadable; the other subject’s still read', async () => {
      // A process that never had the key in memory (another service, or a restore later on).
      const fresh = new FieldCipher(new TenantKeyring(world.dbs, kms));
      const fieldOf: Record<string, string> = { customerNameEnc: SupportFields.CUSTOMER_NAME, customerEmailEnc: SupportFields.CUSTOMER_EMAIL, subjectEnc: SupportFields.SUBJECT, bodyEnc: SupportFields.BODY };
      const tokens = (events: Envelope[]) =>
        events.flatMap((e) => Object.entries(e.payload as Record<string, unknown>).filter(([k, v]) => typeof v === 'string' && k in fieldOf && e.type === TicketEvents.RECEIVED).map(([k, v]) => [fieldOf[k]!, v as string] as const));
      const goneTokens = tokens(gone);
      expect(goneTokens.length).toBeGreaterThanOrEqual(7);
      for (const [field, token] of goneTokens) await expect(fresh.decrypt(a.tenantId, field, token)).rejects.toBeInstanceOf(SubjectKeyDestroyedError);
      // The erasure's own process too (its cache was told).
      await expect(cipher.decrypt(a.tenantId, goneTokens[0]![0], goneTokens[0]![1])).rejects.toBeInstanceOf(SubjectKeyDestroyedError);
      const reply = gone.find((e) => e.type === TicketEvents.REPLY_SENT)!;
      await expect(fresh.decrypt(a.tenantId, SupportFields.REPLY_BODY, (reply.payload as { bodyEnc: string }).bodyEnc)).rejects.toBeInstanceOf(SubjectKeyDestroyedError);
      const keptTokens = tokens(kept);
      expect(keptTokens.length).toBe(4);
      for (const [field, token] of keptTokens) await expect(fresh.decrypt(a.tenantId, field, token)).resolves.toEqual(expect.any(String));

      // The backup taken before: the subject's tickets are there, as tokens that no longer open.
      const t = backup.find((x) => x.table === 'tickets')!;
      const col = (name: string) => t.columns.indexOf(name);
      const goneRows = t.rows.filter((r) => goneTickets.includes(r[col('id')]!));
      const keptRow = t.rows.find((r) => r[col('id')] === keptTicket)!;
      expect(goneRows).toHaveLength(2);
      for (const r of goneRows) await expect(fresh.decrypt(a.tenantId, SupportFields.CUSTOMER_EMAIL, r[col('customer_email_enc')]!)).rejects.toBeInstanceOf(SubjectKeyDestroyedError);
      expect(await fresh.decrypt(a.tenantId, SupportFields.CUSTOMER_EMAIL, keptRow[col('customer_email_enc')]!)).toBe(KEPT.email);
      const drafts = backup.find((x) => x.table === 'drafts')!;
      const draftRow = drafts.rows.find((r) => r[drafts.columns.indexOf('ticket_id')] === goneTickets[0])!;
      await expect(fresh.decrypt(a.tenantId, SupportFields.DRAFT_BODY, draftRow[drafts.columns.indexOf('body_enc')]!)).rejects.toBeInstanceOf(SubjectKeyDestroyedError);
    });

    it('shows a ticket of the erased subject restored from the earlier backup as erased, and the queue still lists', async () => {
      const table = (await world.tenantDb.withTenant(a.tenantId, (tx) => readTenantTables(tx.db))).find((t) => t.name === 'tickets')!;
      const t = backup.find((x) => x.table === 'tickets')!;
      const row = t.rows.find((r) => r[t.columns.indexOf('id')] === goneTickets[1])!;
      await world.tenantDb.withTenant(a.tenantId, async (tx) => {
        await useCanonicalText(tx);
        await insertTenantRows(tx, table, table.columns, [row]);
      });
      try {
        const restored = await tickets.get(as(a), goneTickets[1]!);
        expect(restored).toMatchObject({ customer: { name: ERASED_TEXT, email: ERASED_TEXT }, body: ERASED_TEXT });
        const listed = await tickets.list(as(a), {});
        expect(listed.tickets.find((x) => x.id === goneTickets[1])?.customer.name).toBe(ERASED_TEXT);
        expect(listed.tickets.find((x) => x.id === keptTicket)?.customer.name).toBe(KEPT.name);
      } finally {
        await world.tenantDb.withTenant(a.tenantId, (tx) => tx.db.deleteFrom('tickets').where('id', '=', goneTickets[1]!).execute());
      }
    });

    it('starts over with a new key when the same customer writes again', async () => {
      const t = (await tickets.create(as(a), { customer: { name: 'Erin', email: GONE.email }, body: 'Hello again' })).ticket;
      const row = await world.tenantDb.withTenant(a.tenantId, (tx) => tx.db.selectFrom('tickets').select('body_enc').where('id', '=', t.id).executeTakeFirstOrThrow());
      expect(certificate.certificate.subjectKeys).not.toContain(FieldCipher.subjectKeyIdOf(row.body_enc));
      expect(await cipher.decrypt(a.tenantId, SupportFields.BODY, row.body_enc)).toBe('Hello again');
    });
  });
});
