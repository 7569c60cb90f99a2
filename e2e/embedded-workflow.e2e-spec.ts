// Embedded mode (issue 18), the support workflow end to end in one process from a fresh folder, the
// stack's stores out of reach: sign up, the invitation accepted, login, a document uploaded and
// indexed (LanceDB), a ticket, its draft citing the document (the in-process bus and job runner),
// approved, the reply sent, the audit chain verified. Then the process is SIGKILLed while a sign-up's
// saga runs and while a ticket waits for its draft; started again on the same folder, the saga
// finishes and the ticket gets exactly one draft.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type EmbeddedRun, embeddedQuery, embeddedRun, type ServiceProcess, startEmbedded, stopEmbedded, waitFor } from '@hotdash/testing';

jest.setTimeout(240_000);

const dir = mkdtempSync(join(tmpdir(), 'hotdash-embedded-flow-'));
const PASSWORD = 'correct horse battery staple';
let run: EmbeddedRun;
let proc: ServiceProcess | undefined;

interface Ticket {
  id: string;
  status: string;
  attempt: number;
  currentDraftId: string | null;
  drafts: { id: string; status: string; body: string | null; citations: { documentId: string; text?: string | null }[] }[];
  reply: { body: string } | null;
}

async function call<T = Record<string, unknown>>(method: string, path: string, token?: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: T }> {
  const res = await fetch(`${run.gateway}${path}`, {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body === undefined ? {} : { 'content-type': typeof body === 'string' ? 'text/markdown' : 'application/json' }),
      ...headers,
    },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
}

/** Signs an organisation up; its tenant id once accepted (202). */
async function signUp(slug: string): Promise<string> {
  const r = await call<{ tenantId: string }>('POST', '/signup', undefined, { name: `Org ${slug}`, slug, plan: 'basic', admin: { email: `owner@${slug}.test` } }, { 'idempotency-key': `signup-${slug}` });
  expect(r.status).toBe(202);
  return r.body.tenantId;
}

const tenantStatus = async (tenantId: string) => (await embeddedQuery<{ status: string }>(run, 'select status from tenants where id = $1', [tenantId]))[0]?.status;

/** The invitation token mailed to the tenant's admin (the .eml file's link). */
async function invitationToken(tenantId: string): Promise<string> {
  const folder = join(dir, 'mail', tenantId);
  return waitFor('the invitation mail', async () => {
    for (const f of readdirSync(folder).filter((n) => n.endsWith('.eml'))) {
      const token = /\/app\/invitation#([^\s"'<>)]+)/.exec(readFileSync(join(folder, f), 'utf8'))?.[1];
      if (token) return token;
    }
    return undefined;
  }, 30_000, 100);
}

const ticketOf = async (token: string, id: string) => (await call<Ticket>('GET', `/tickets/${id}`, token)).body;

beforeAll(async () => {
  run = await embeddedRun(dir);
  proc = await startEmbedded(run);
});

afterAll(async () => {
  await proc?.kill();
  rmSync(dir, { recursive: true, force: true });
});

let admin: string;

it('works a ticket from sign-up to the reply sent, in one process, and the audit chain verifies', async () => {
  const slug = `flow-${Date.now().toString(36)}`;
  const tenantId = await signUp(slug);
  await waitFor('the tenant active', async () => (await tenantStatus(tenantId)) === 'active', 60_000, 100);

  const accepted = await call('POST', '/invitations/accept', undefined, { token: await invitationToken(tenantId), password: PASSWORD });
  if (accepted.status !== 200) throw new Error(`accept: ${accepted.status} ${JSON.stringify(accepted.body)}`);
  const login = await call<{ accessToken: string }>('POST', '/auth/login', undefined, { tenant: slug, email: `owner@${slug}.test`, password: PASSWORD });
  expect(login.status).toBe(200);
  admin = login.body.accessToken;

  const up = await call<{ id: string }>('POST', '/documents?title=Refunds', admin, '# Refunds\n\nA refund takes five business days to reach the card the customer paid with.\n');
  expect(up.status).toBe(202);
  await waitFor('the document indexed', async () => (await call<{ state: string }>('GET', `/documents/${up.body.id}`, admin)).body.state === 'indexed', 60_000, 200);

  const created = await call<Ticket>('POST', '/tickets', admin, { customer: { name: 'Dana', email: 'dana@customer.test' }, subject: 'Refund', body: 'How long does my refund take?' });
  expect(created.status).toBe(201);
  const pending = await waitFor('the draft pending', async () => {
    const t = await ticketOf(admin, created.body.id);
    return t.status === 'pending' ? t : undefined;
  }, 60_000, 200);
  const draft = pending.drafts[0]!;
  expect(draft.body).toMatch(/five business days/);
  expect(draft.citations.map((c) => c.documentId)).toContain(up.body.id);

  const approved = await call<Ticket>('POST', `/drafts/${draft.id}/approve`, admin);
  expect(approved.status).toBe(200);
  expect(approved.body).toMatchObject({ status: 'replied', reply: { body: draft.body } });
  // reply.sent went through the outbox and the in-process bus into the audit log.
  await waitFor('reply.sent in the audit log', async () => {
    const entries = (await call<{ entries: { eventType: string }[] }>('GET', '/audit-log?eventType=reply.sent', admin)).body.entries ?? [];
    return entries.length > 0;
  }, 60_000, 200);
  const verified = await call<{ ok: boolean; checked: number }>('GET', '/audit-log/verify', admin);
  expect(verified.status).toBe(200);
  expect(verified.body.ok).toBe(true);
  expect(verified.body.checked).toBeGreaterThan(5);
});

it('finishes a sign-up whose process was killed mid-saga, and drafts once a ticket whose process was killed before its draft', async () => {
  // Killed while the saga runs.
  const slug = `killed-${Date.now().toString(36)}`;
  const tenantId = await signUp(slug);
  const sagaBefore = (await embeddedQuery<{ status: string }>(run, `select status from sagas where tenant_id = $1 and type = 'tenant-provisioning'`, [tenantId]))[0]?.status;
  await proc!.kill();
  // Killed while a ticket waits for its draft.
  proc = await startEmbedded(run);
  await waitFor('the killed sign-up finished', async () => (await tenantStatus(tenantId)) === 'active', 60_000, 100);
  const created = await call<Ticket>('POST', '/tickets', admin, { customer: { name: 'Eve', email: 'eve@customer.test' }, subject: 'Refund', body: 'Where is my refund?' });
  expect(created.status).toBe(201);
  const draftBefore = (await ticketOf(admin, created.body.id)).drafts.length;
  await proc.kill();

  proc = await startEmbedded(run);
  const pending = await waitFor('the draft after the restart', async () => {
    const t = await ticketOf(admin, created.body.id);
    return t.status === 'pending' ? t : undefined;
  }, 60_000, 200);
  // Each kill came before what it interrupted had finished, and the work was done once.
  expect({ sagaBefore, draftBefore }).toEqual({ sagaBefore: 'running', draftBefore: 0 });
  expect(pending.drafts).toHaveLength(1);
  expect(pending.attempt).toBe(1);
  expect(await stopEmbedded(proc, 15_000)).toBe(0);
  proc = undefined;
});
