// Embedded mode (issue 18), the support workflow end to end in one process from a fresh folder, the
// stack's stores out of reach: sign up, the invitation accepted, login, a document uploaded and
// indexed (LanceDB), a ticket, its draft citing the document (the in-process bus and job runner),
// approved, the reply sent, the audit chain verified. Then the process is SIGKILLed while a sign-up's
// saga runs and while a ticket waits for its draft; started again on the same folder, the saga
// finishes and the ticket gets exactly one draft.
// The same launcher with HOTDASH_MODE=stack runs the same workflow in one process on the local
// stack's PostgreSQL, Redis, Kafka and Weaviate: one code path above the ports, the adapters chosen by
// the mode alone (nothing is written under its embedded folder).
import { parseTenantId } from '@hotdash/contracts';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type EmbeddedRun, embeddedQuery, embeddedRun, type ServiceProcess, startEmbedded, stopEmbedded, TestWorld, VectorNamespaces, waitFor } from '@hotdash/testing';

jest.setTimeout(240_000);

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

/** The invitation token mailed to the tenant's admin (the .eml file's link in `mailDir`). */
async function invitationToken(mailDir: string, tenantId: string): Promise<string> {
  const folder = join(mailDir, tenantId);
  return waitFor('the invitation mail', async () => {
    for (const f of (existsSync(folder) ? readdirSync(folder) : []).filter((n) => n.endsWith('.eml'))) {
      const token = /\/app\/invitation#([^\s"'<>)]+)/.exec(readFileSync(join(folder, f), 'utf8'))?.[1];
      if (token) return token;
    }
    return undefined;
  }, 30_000, 100);
}

const ticketOf = async (token: string, id: string) => (await call<Ticket>('GET', `/tickets/${id}`, token)).body;

/**
 * Sign-up to the reply sent, through the gateway at `run`: the tenant's status read by `tenantStatus`,
 * its mail in `mailDir`. Returns the tenant and its admin's token.
 */
async function workflow(prefix: string, tenantStatus: (tenantId: string) => Promise<string | undefined>, mailDir: string, signedUp: (tenantId: string) => void = () => undefined): Promise<{ tenantId: string; admin: string }> {
  const slug = `${prefix}-${Date.now().toString(36)}`;
  const tenantId = await signUp(slug);
  signedUp(tenantId);
  await waitFor('the tenant active', async () => (await tenantStatus(tenantId)) === 'active', 60_000, 100);

  const accepted = await call('POST', '/invitations/accept', undefined, { token: await invitationToken(mailDir, tenantId), password: PASSWORD });
  if (accepted.status !== 200) throw new Error(`accept: ${accepted.status} ${JSON.stringify(accepted.body)}`);
  const login = await call<{ accessToken: string }>('POST', '/auth/login', undefined, { tenant: slug, email: `owner@${slug}.test`, password: PASSWORD });
  expect(login.status).toBe(200);
  const admin = login.body.accessToken;

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
  return { tenantId, admin };
}

describe('embedded mode, from a fresh folder, the stack out of reach', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hotdash-embedded-flow-'));
  const tenantStatus = async (tenantId: string) => (await embeddedQuery<{ status: string }>(run, 'select status from tenants where id = $1', [tenantId]))[0]?.status;
  let admin: string;

  beforeAll(async () => {
    run = await embeddedRun(dir);
    proc = await startEmbedded(run);
  });

  afterAll(async () => {
    await proc?.kill();
    proc = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  it('works a ticket from sign-up to the reply sent, in one process, and the audit chain verifies', async () => {
    ({ admin } = await workflow('flow', tenantStatus, join(dir, 'mail')));
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
});

describe('HOTDASH_MODE=stack: the same launcher, every service in one process on the real stores', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hotdash-one-process-stack-'));
  const world = new TestWorld();
  const namespaces = VectorNamespaces.local(world.config);
  const tenantStatus = async (tenantId: string) => (await world.dbs.controlDb().selectFrom('tenants').select('status').where('id', '=', tenantId).executeTakeFirst())?.status;

  beforeAll(async () => {
    // The embedded run's free ports, with the stores left at the environment's (the local stack's).
    const { env, gateway } = await embeddedRun(join(dir, 'embedded'));
    const stack = Object.fromEntries(Object.entries(env).filter(([k]) => /^HOTDASH_(GATEWAY|PROVISIONING|DRAFTS|KNOWLEDGE|AI_DRAFTING|QUOTA|AUDIT|RELAY)_PORT$/.test(k)));
    run = { gateway, env: { ...stack, HOTDASH_MODE: 'stack', HOTDASH_EMBEDDED_DIR: join(dir, 'embedded'), HOTDASH_MAIL_DIR: join(dir, 'mail'), HOTDASH_SMTP_URL: '', HOTDASH_METRICS_PORT: 'off', HOTDASH_LOG_FORMAT: 'json' } };
    proc = await startEmbedded(run, 90_000);
  });

  afterAll(async () => {
    await proc?.kill();
    proc = undefined;
    await namespaces.deleteAll();
    await world.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('works the same ticket from sign-up to the reply sent on PostgreSQL, Kafka, BullMQ and Weaviate, and stops with exit 0', async () => {
    const { tenantId, admin } = await workflow('stack-flow', tenantStatus, join(dir, 'mail'), (id) => namespaces.track(id));
    // The rows are in the stack's shard, and nothing was made under the embedded folder.
    const tickets = await world.tenantDb.withTenant(parseTenantId(tenantId), (tx) => tx.db.selectFrom('tickets').select(['status']).execute());
    expect(tickets.map((t) => t.status)).toEqual(['replied']);
    expect(existsSync(join(dir, 'embedded'))).toBe(false);
    expect((await call('GET', '/tickets', admin)).status).toBe(200);
    expect(await stopEmbedded(proc!, 20_000)).toBe(0);
    proc = undefined;
  });
});
