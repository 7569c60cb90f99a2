// Data exports as the provisioning service serves them (ExportsModule over HTTP, wired as the
// provisioning app wires it, drafts' reader of a data subject's rows included; the gateway's
// internal tokens, its own BullMQ queue and export directory), against the real shards and Redis:
// the export equals the tenant's rows read directly, table by table and row by row (encrypted
// fields decrypted, credentials left out); progress is reported; the file at rest is ciphertext;
// the link expires (the service's clock moved on, no sleep) and the sweep deletes the file; tenant
// B never sees or downloads A's export (by id, by token swap); bad input is a 4xx problem+json with
// nothing written; a subject export holds only that subject's tickets and drafts.
import { mkdtempSync } from 'node:fs';
import { readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { INestApplication, Module } from '@nestjs/common';
import { sql } from 'kysely';
import { ExportProblems, SupportFields, type ExportView, type TenantId } from '@hotdash/contracts';
import { FieldCipher, SubjectKeyring, SubjectRefs, TenantKeyring, type SubjectSeal } from '@hotdash/platform-crypto';
import { DatabaseModule, newId, readTenantTables } from '@hotdash/platform-db';
import { createHttpApp } from '@hotdash/platform-http';
import type { InternalCaller } from '@hotdash/platform-auth';
import { internalAuthorization, tenantUser, TestWorld, waitFor } from '@hotdash/testing';
import { SubjectExport } from '@hotdash/drafts';
import { ExportsModule, ExportsService } from '@hotdash/provisioning';
import { Queue } from 'bullmq';
import { queueOptions } from '@hotdash/platform-jobs';

jest.setTimeout(60_000);

const TTL_MS = 60 * 60_000;
let clock = Date.now();
const dir = mkdtempSync(join(tmpdir(), 'hotdash-exports-'));
const queueName = `hotdash-data-export-spec-${newId()}`;

@Module({
  imports: [
    DatabaseModule.forRoot(),
    ExportsModule.register({
      dir,
      linkTtlMs: TTL_MS,
      now: () => new Date(clock),
      queueName,
      sweepEveryMs: 0,
      // As the provisioning app binds it: drafts' own reader of a subject's tickets and drafts.
      subjects: ({ db, cipher, keyring }) => new SubjectExport(db, cipher, new SubjectRefs(keyring)),
    }),
  ],
})
class TestAppModule {}

const world = new TestWorld();
let app: INestApplication;
let base: string;
let cipher: FieldCipher;
let a: TenantId;
let b: TenantId;

interface Reply<T> {
  status: number;
  type: string;
  body: T;
  text: string;
}

async function call<T = ExportView & { code?: string }>(method: string, path: string, caller: InternalCaller, body?: unknown): Promise<Reply<T>> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: await internalAuthorization('provisioning', caller), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  const type = res.headers.get('content-type') ?? '';
  return { status: res.status, type, text, body: (type.includes('json') && !type.includes('ndjson') && text ? JSON.parse(text) : undefined) as T };
}

const admin = (t: TenantId) => tenantUser(t, 'admin');
const start = (t: TenantId, body: unknown, caller = admin(t)) => call('POST', `/tenants/${t}/exports`, caller, body);
const view = (t: TenantId, id: string, caller = admin(t)) => call('GET', `/tenants/${t}/exports/${id}`, caller);
/** The download URL a view gives (the gateway's public path), as the provisioning route. */
const downloadPath = (t: TenantId, url: string) => `/tenants/${t}${url}`;

async function finished(t: TenantId, id: string): Promise<ExportView> {
  return waitFor(`export ${id} finished`, async () => {
    const r = await view(t, id);
    return r.body.status === 'succeeded' || r.body.status === 'failed' ? r.body : undefined;
  });
}

async function runs(t: TenantId): Promise<number> {
  return world.tenantDb.withTenant(t, async (tx) => Number((await tx.db.selectFrom('export_runs').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow()).n));
}

const PLAIN = {
  name: 'Dana Customer',
  email: 'dana@customer.test',
  subject: 'My order',
  body: 'Where is my order 123?',
  reply: 'It ships today.',
  draft: 'It ships today, Dana.',
  source: 'Shipping policy: orders ship in two days.',
  passage: 'Orders ship in two days.',
};

/** A user, tickets of two customers with replies and drafts, a sealed knowledge document: the tenant's rows. */
async function seed(t: TenantId, refs: SubjectRefs): Promise<{ dana: string[]; other: string[] }> {
  const enc = (field: string, v: string, seal?: SubjectSeal) => cipher.encrypt(t, field, v, seal);
  // Dana's first ticket sealed under her own key (s1 tokens, as drafts now stores tickets), the rest under the tenant's (v1).
  const danaKey = { subjectKeyId: (await (cipher.subjects as SubjectKeyring).subjectFor(t, PLAIN.email)).keyId };
  const userId = newId();
  const tickets = { dana: [newId(), newId()], other: [newId()] };
  await world.tenantDb.withTenant(t, async (tx) => {
    await tx.db
      .insertInto('users')
      .values({ id: userId, tenant_id: t, email_enc: await enc('users.email', 'op@tenant.test'), email_hash: newId(), display_name: 'Op', role: 'operator', status: 'active', password_hash: 'scrypt$secret-hash' })
      .execute();
    for (const [who, ids] of Object.entries(tickets))
      for (const id of ids) {
        const email = who === 'dana' ? (id === tickets.dana[1] ? '  Dana@Customer.TEST ' : PLAIN.email) : 'someone@else.test';
        const seal = id === tickets.dana[0] ? danaKey : undefined;
        await tx.db
          .insertInto('tickets')
          .values({
            id,
            tenant_id: t,
            channel: 'email',
            customer_name_enc: await enc(SupportFields.CUSTOMER_NAME, who === 'dana' ? PLAIN.name : 'Someone Else', seal),
            customer_email_enc: await enc(SupportFields.CUSTOMER_EMAIL, email, seal),
            subject_enc: await enc(SupportFields.SUBJECT, PLAIN.subject),
            body_enc: await enc(SupportFields.BODY, `${PLAIN.body} (${who})`, seal),
            status: 'replied',
            reply_body_enc: await enc(SupportFields.REPLY_BODY, PLAIN.reply),
            replied_by: `user:${userId}`,
            replied_at: new Date(),
            received_at: new Date('2026-12-01T10:00:00.123456Z'),
            // The second of Dana's tickets was stored before subject references: found by its e-mail.
            subject_ref: id === tickets.dana[1] ? null : await refs.subjectRef(t, email),
          })
          .execute();
        await tx.db
          .insertInto('drafts')
          .values({ id: newId(), tenant_id: t, ticket_id: id, attempt: 1, status: 'approved', body_enc: await enc(SupportFields.DRAFT_BODY, `${PLAIN.draft} (${who})`), citations: JSON.stringify([{ n: 1, title: 'Shipping policy', textEnc: await enc(SupportFields.CITED_PASSAGE, PLAIN.passage) }]), model: 'offline', decided_by: `user:${userId}`, decided_at: new Date() })
          .execute();
      }
    await tx.db
      .insertInto('kb_documents')
      .values({ id: newId(), tenant_id: t, title: 'Shipping', content: '', bytes: String(PLAIN.source.length), status: 'indexed', source_enc: await cipher.encryptBytes(t, 'kb_documents.source', Buffer.from(PLAIN.source)) })
      .execute();
  });
  return tickets;
}

type Line = { type: string; table?: string; values?: Record<string, unknown>; columns?: string[]; decrypted?: Record<string, string>; redacted?: string[]; rows?: number; [k: string]: unknown };
const linesOf = (text: string): Line[] =>
  text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Line);

/** A value as read by the driver, in the export's terms (timestamps to the millisecond: the driver's Date has no more). */
function comparable(v: unknown): unknown {
  if (v === null || v === undefined) return null;
  if (v instanceof Date) return v.getTime();
  if (Buffer.isBuffer(v)) return v.toString('base64');
  if (typeof v === 'bigint') return String(v);
  return v;
}
function exported(v: unknown, db: unknown): unknown {
  if (v === null) return null;
  if (db instanceof Date) return Date.parse((v as string).replace(' ', 'T').replace(/\+00$/, 'Z'));
  if (Array.isArray(db) && typeof v === 'string') return v === '{}' ? [] : v.slice(1, -1).split(',');
  return v;
}

beforeAll(async () => {
  app = await createHttpApp(TestAppModule, { logger: false, bodyLimit: '1mb' });
  await app.listen(0, '127.0.0.1');
  base = `http://127.0.0.1:${app.getHttpServer().address().port}`;
  cipher = app.get(FieldCipher);
  a = (await world.createTenant('Export Alpha')).id;
  b = (await world.createTenant('Export Bravo')).id;
  await world.createKey(a);
  await world.createKey(b);
});

afterAll(async () => {
  // The spec's own queue goes with it (its finished jobs are kept a while otherwise).
  await app?.close();
  const queue = new Queue(queueName, queueOptions(world.config, queueName));
  await queue.obliterate({ force: true });
  await queue.close();
  for (const t of [a, b].filter(Boolean)) await world.tenantDb.withTenant(t, (tx) => sql`select erase_tenant(${t}::uuid)`.execute(tx.db)).catch(() => undefined);
  await world.close();
  await rm(dir, { recursive: true, force: true });
});

let tickets: { dana: string[]; other: string[] };

describe('a tenant export', () => {
  let run: ExportView;
  let lines: Line[];

  beforeAll(async () => {
    tickets = await seed(a, new SubjectRefs(app.get(TenantKeyring)));
    const started = await start(a, { kind: 'tenant' });
    expect([started.status, started.body.status, started.body.kind]).toEqual([202, 'queued', 'tenant']);
    run = await finished(a, started.body.id);
    expect(run).toMatchObject({ status: 'succeeded', error: null });
    const d = await call('GET', downloadPath(a, run.download!.url), admin(a));
    expect([d.status, d.type]).toEqual([200, 'application/x-ndjson; charset=utf-8']);
    lines = linesOf(d.text);
  });

  it('holds every tenant table of the catalogue, each row as the database holds it, encrypted fields decrypted and credentials left out', async () => {
    expect(lines[0]).toMatchObject({ type: 'export', format: 'hotdash-data-export', formatVersion: 1, id: run.id, kind: 'tenant', tenantId: a });
    expect(lines.at(-1)).toMatchObject({ type: 'end' });
    const db = await world.tenantDb.withTenant(a, async (tx) => {
      const tables = await readTenantTables(tx.db);
      const out = new Map<string, Record<string, unknown>[]>();
      for (const t of tables) out.set(t.name, (await sql<Record<string, unknown>>`select * from ${sql.table(t.name)}`.execute(tx.db)).rows);
      return { tables, out };
    });
    // Every table, parents first, as the catalogue gives them (export_runs holds this run, as queued… or running).
    expect(lines.filter((l) => l.type === 'table').map((l) => l.table)).toEqual(db.tables.map((t) => t.name));
    let compared = 0;
    for (const t of db.tables) {
      const header = lines.find((l) => l.type === 'table' && l.table === t.name)!;
      const rows = lines.filter((l) => l.type === 'row' && l.table === t.name).map((l) => l.values!);
      const end = lines.find((l) => l.type === 'table-end' && l.table === t.name)!;
      if (t.name === 'export_runs') continue; // the run changed after its snapshot (running → succeeded)
      expect([t.name, rows.length, end.rows]).toEqual([t.name, db.out.get(t.name)!.length, db.out.get(t.name)!.length]);
      const key = t.primaryKey.length ? t.primaryKey : t.columns.map((c) => c.name);
      for (const dbRow of db.out.get(t.name)!) {
        const match = rows.filter((r) => key.every((k) => String(comparable(dbRow[k])) === String(exported(r[k] ?? null, dbRow[k]))));
        expect([t.name, match.length]).toEqual([t.name, 1]);
        const row = match[0]!;
        for (const c of t.columns) {
          const v = dbRow[c.name];
          if (header.redacted!.includes(c.name)) expect(c.name in row).toBe(false);
          else if (c.name.endsWith('_enc')) {
            const k = Object.entries(header.decrypted!).find(([, col]) => col === c.name)![0];
            const base = c.name.slice(0, -4);
            expect(k).toBe(t.columns.some((x) => x.name === base) ? `${base}_decrypted` : base);
            const field = t.name === 'tickets' && base === 'reply_body' ? SupportFields.REPLY_BODY : `${t.name}.${base}`;
            const plain = v === null ? null : Buffer.isBuffer(v) ? (await cipher.decryptBytes(a, field, v)).toString('base64') : await cipher.decrypt(a, field, v as string);
            expect([t.name, k, row[k]]).toEqual([t.name, k, plain]);
          } else if (t.name === 'drafts' && c.name === 'citations' && Array.isArray(v)) {
            // The cited passages' text is sealed inside the json column: exported opened (textEnc → text).
            const opened = await Promise.all(
              (v as Record<string, unknown>[]).map(async ({ textEnc, ...rest }) => (typeof textEnc === 'string' ? { ...rest, text: await cipher.decrypt(a, SupportFields.CITED_PASSAGE, textEnc) } : rest)),
            );
            expect([t.name, c.name, row[c.name]]).toEqual([t.name, c.name, opened]);
          } else expect([t.name, c.name, exported(row[c.name], v)]).toEqual([t.name, c.name, comparable(v)]);
          compared++;
        }
      }
    }
    expect(compared).toBeGreaterThan(50);
    // Spot checks in the tenant's own words.
    const tickets = lines.filter((l) => l.type === 'row' && l.table === 'tickets').map((l) => l.values!);
    expect(tickets.find((r) => r.customer_email === PLAIN.email)).toMatchObject({ customer_name: PLAIN.name, subject: PLAIN.subject, reply_body: PLAIN.reply, status: 'replied', attempt: 1 });
    const users = lines.filter((l) => l.type === 'row' && l.table === 'users').map((l) => l.values!);
    expect(users[0]).toMatchObject({ email: 'op@tenant.test' });
    expect(users[0]).not.toHaveProperty('password_hash');
    const doc = lines.find((l) => l.type === 'row' && l.table === 'kb_documents')!.values!;
    expect(Buffer.from(doc.source_decrypted as string, 'base64').toString()).toBe(PLAIN.source);
    expect(doc.source).toBeNull();
    const draft = lines.find((l) => l.type === 'row' && l.table === 'drafts')!.values!;
    // A cited passage's text, sealed inside the json column, comes out opened.
    expect(draft.citations).toEqual([{ n: 1, title: 'Shipping policy', text: PLAIN.passage }]);
  });

  it('reports its progress per table: rows done of rows estimated', () => {
    const tickets = run.progress.tables.find((t) => t.table === 'tickets');
    expect(tickets).toEqual({ table: 'tickets', rowsDone: 3, rowsEstimated: 3 });
    expect(run.progress.rowsDone).toBe(run.progress.tables.reduce((n, t) => n + t.rowsDone, 0));
    expect(run.progress.rowsDone).toBeGreaterThanOrEqual(8);
    expect(run.progress.rowsEstimated).toBe(run.progress.rowsDone);
    expect(run.progress.tables.map((t) => t.table)).toEqual(lines.filter((l) => l.type === 'table').map((l) => l.table));
  });

  it('is stored encrypted: the file at rest holds none of the plaintext', async () => {
    const [file] = (await readdir(join(dir, a))).filter((n) => n.startsWith(run.id));
    const raw = await readFile(join(dir, a, file!));
    expect(raw.length).toBe(run.bytes);
    expect(raw.includes(Buffer.from(PLAIN.name))).toBe(false);
    expect(raw.includes(Buffer.from('"type"'))).toBe(false);
    expect(raw.subarray(0, 2).equals(Buffer.from([0x1f, 0x8b]))).toBe(false); // not even plain gzip
  });

  it('never shows or hands A’s export to tenant B: by id, by another tenant’s path, by a swapped token', async () => {
    const token = new URL(run.download!.url, 'http://x').searchParams.get('token')!;
    const byId = await view(b, run.id);
    expect([byId.status, byId.body.code]).toEqual([404, ExportProblems.NOT_FOUND]);
    expect((await call('GET', `/tenants/${a}/exports/${run.id}`, admin(b))).status).toBe(403);
    expect((await call<{ exports: ExportView[] }>('GET', `/tenants/${b}/exports`, admin(b))).body.exports.map((e) => e.id)).not.toContain(run.id);
    const withAToken = await call('GET', `/tenants/${b}/exports/${run.id}/download?token=${token}`, admin(b));
    expect([withAToken.status, withAToken.body.code]).toEqual([404, ExportProblems.NOT_FOUND]);
    // B's own export, its token on A's export, and A's token on B's export.
    const own = await finished(b, (await start(b, { kind: 'tenant' })).body.id);
    const bToken = new URL(own.download!.url, 'http://x').searchParams.get('token')!;
    expect((await call('GET', `/tenants/${b}/exports/${run.id}/download?token=${bToken}`, admin(b))).status).toBe(404);
    const swapped = await call('GET', `/tenants/${b}/exports/${own.id}/download?token=${token}`, admin(b));
    expect([swapped.status, swapped.body.code]).toEqual([404, ExportProblems.NOT_FOUND]);
    expect((await call('GET', `/tenants/${a}/exports/${own.id}/download?token=${token}`, admin(a))).status).toBe(404);
    // B's export holds none of A's rows.
    const bLines = linesOf((await call('GET', downloadPath(b, own.download!.url), admin(b))).text);
    expect(bLines.filter((l) => l.type === 'row' && l.table === 'tickets')).toEqual([]);
    expect(bLines.filter((l) => l.type === 'row').every((l) => l.values!.tenant_id === b)).toBe(true);
  });

  it('expires: past its TTL the link answers 410 export-expired, the run says expired, and the sweep deletes the file', async () => {
    const saved = clock;
    try {
      clock = Date.parse(run.expiresAt!) + 1;
      const r = await call('GET', downloadPath(a, run.download!.url), admin(a));
      expect([r.status, r.type.split(';')[0], r.body.code]).toEqual([410, 'application/problem+json', ExportProblems.EXPIRED]);
      expect((await view(a, run.id)).body).toMatchObject({ status: 'expired', download: null });
      expect(await app.get(ExportsService).sweep()).toContain(run.id);
      expect((await readdir(join(dir, a))).filter((n) => n.startsWith(run.id))).toEqual([]);
    } finally {
      clock = saved;
    }
    // Back before the expiry, the link is good but the file is gone: still 410, never a partial answer.
    const again = await call('GET', downloadPath(a, run.download!.url), admin(a));
    expect([again.status, again.body.code]).toEqual([410, ExportProblems.EXPIRED]);
  });
});

describe('a data subject export', () => {
  it('holds only that customer’s tickets (by reference, and stored before references, by e-mail) with their replies and drafts, decrypted', async () => {
    const started = await start(a, { kind: 'subject', email: ' DANA@customer.test' });
    expect([started.status, started.body.kind]).toEqual([202, 'subject']);
    const run = await finished(a, started.body.id);
    expect(run.status).toBe('succeeded');
    const lines = linesOf((await call('GET', downloadPath(a, run.download!.url), admin(a))).text);
    expect(lines[0]).toMatchObject({ type: 'export', kind: 'subject', tenantId: a, subjectRef: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(lines.at(-1)).toMatchObject({ type: 'end', tables: 2 });
    expect(lines.filter((l) => l.type === 'table').map((l) => l.table)).toEqual(['tickets', 'drafts']);
    const rows = (table: string) => lines.filter((l) => l.type === 'row' && l.table === table).map((l) => l.values!);
    expect(rows('tickets').map((t) => t.id).sort()).toEqual([...tickets.dana].sort());
    expect(rows('tickets').every((t) => t.customer_name === PLAIN.name && t.reply_body === PLAIN.reply && String(t.body).endsWith('(dana)'))).toBe(true);
    expect(rows('tickets')[0]).not.toHaveProperty('customer_email_enc');
    expect(rows('drafts').map((d) => d.ticket_id).sort()).toEqual([...tickets.dana].sort());
    expect(rows('drafts').every((d) => d.body === `${PLAIN.draft} (dana)`)).toBe(true);
    expect(JSON.stringify(lines)).not.toContain('someone@else.test');
    expect(run.progress.tables).toEqual([
      { table: 'tickets', rowsDone: 2, rowsEstimated: 2 },
      { table: 'drafts', rowsDone: 2, rowsEstimated: 2 },
    ]);
    // The same address in tenant B names nobody there (its reference is another): an empty export.
    const inB = await finished(b, (await start(b, { kind: 'subject', email: PLAIN.email })).body.id);
    const bLines = linesOf((await call('GET', downloadPath(b, inB.download!.url), admin(b))).text);
    expect(bLines.filter((l) => l.type === 'row')).toEqual([]);
    expect(inB.progress.rowsDone).toBe(0);
  });
});

describe('an erased data subject', () => {
  it('does not stop the tenant export: values sealed under a destroyed subject key stay as stored, counted as undecryptable', async () => {
    const keys = cipher.subjects as SubjectKeyring;
    const erin = await keys.subjectFor(b, 'erin@customer.test');
    const seal = { subjectKeyId: erin.keyId };
    const id = newId();
    const nameEnc = await cipher.encrypt(b, SupportFields.CUSTOMER_NAME, 'Erin', seal);
    await world.tenantDb.withTenant(b, async (tx) =>
      tx.db
        .insertInto('tickets')
        .values({
          id,
          tenant_id: b,
          channel: 'api',
          customer_name_enc: nameEnc,
          customer_email_enc: await cipher.encrypt(b, SupportFields.CUSTOMER_EMAIL, 'erin@customer.test', seal),
          body_enc: await cipher.encrypt(b, SupportFields.BODY, 'Forget me.', seal),
          status: 'drafting',
          received_at: new Date(),
          subject_ref: erin.subjectRef,
        })
        .execute(),
    );
    await keys.destroy(b, erin.subjectRef);
    const run = await finished(b, (await start(b, { kind: 'tenant' })).body.id);
    expect(run.status).toBe('succeeded');
    const lines = linesOf((await call('GET', downloadPath(b, run.download!.url), admin(b))).text);
    expect(lines.find((l) => l.type === 'row' && l.table === 'tickets')!.values).toMatchObject({ id, customer_name: nameEnc, subject: null });
    expect(lines.find((l) => l.type === 'table-end' && l.table === 'tickets')).toMatchObject({ rows: 1, undecryptable: { customer_name: 1, customer_email: 1, body: 1 } });
  });
});

describe('bad input: a 4xx problem+json with a stable code, nothing written', () => {
  const cases: [string, unknown, number, string][] = [
    ['no kind', {}, 400, ExportProblems.INVALID_KIND],
    ['an unknown kind', { kind: 'everything' }, 400, ExportProblems.INVALID_KIND],
    ['a subject without an e-mail', { kind: 'subject' }, 400, ExportProblems.INVALID_EMAIL],
    ['a subject e-mail that is no address', { kind: 'subject', email: 'dana at customer' }, 400, ExportProblems.INVALID_EMAIL],
    ['an e-mail too long', { kind: 'subject', email: `${'x'.repeat(320)}@a.test` }, 400, ExportProblems.INVALID_EMAIL],
    ['an unknown field', { kind: 'tenant', scope: 'all' }, 400, 'unknown-field'],
    ['an array', '[]', 400, 'invalid-body'],
  ];
  it.each(cases)('%s', async (_what, body, status, code) => {
    const before = await runs(b);
    const r = await start(b, body);
    expect([r.status, r.type.split(';')[0], r.body.code]).toEqual([status, 'application/problem+json', code]);
    expect(await runs(b)).toBe(before);
  });

  it('refuses managers and operators (403), a bad id (400) and a missing or malformed token (400)', async () => {
    const before = await runs(b);
    for (const role of ['manager', 'team_lead', 'operator'] as const) expect([role, (await start(b, { kind: 'tenant' }, tenantUser(b, role))).status]).toEqual([role, 403]);
    expect((await view(b, 'not-a-uuid')).body.code).toBe('invalid-uuid');
    expect((await call('GET', `/tenants/${b}/exports/${newId()}/download`, admin(b))).body.code).toBe(ExportProblems.NOT_FOUND);
    const [id] = (await call<{ exports: ExportView[] }>('GET', `/tenants/${b}/exports`, admin(b))).body.exports.map((e) => e.id);
    expect(id).toBeDefined();
    for (const q of ['', '?token=', '?token=abc', '?token=1.2', '?other=1'])
      expect([q, (await call('GET', `/tenants/${b}/exports/${id}/download${q}`, admin(b))).body.code]).toEqual([q, ExportProblems.INVALID_TOKEN]);
    expect(await runs(b)).toBe(before);
  });

  it('refuses a second export while one is unfinished (409 export-in-progress)', async () => {
    const id = newId();
    await world.tenantDb.withTenant(b, (tx) => tx.db.insertInto('export_runs').values({ id, tenant_id: b, kind: 'tenant', requested_by: 'spec', status: 'running' }).execute());
    try {
      const r = await start(b, { kind: 'tenant' });
      expect([r.status, r.body.code]).toEqual([409, ExportProblems.IN_PROGRESS]);
    } finally {
      await world.tenantDb.withTenant(b, (tx) => tx.db.updateTable('export_runs').set({ status: 'failed', error: 'spec' }).where('id', '=', id).execute());
    }
  });
});
