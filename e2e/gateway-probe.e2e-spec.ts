// Generated from the gateway's own OpenAPI document (a gateway process): every route that takes an
// id, called with tenant B's credential and tenant A's id, answers exactly as for an id that does
// not exist and leaves A's resource alone; tenant ids spoofed in the query, the X-Tenant-Id header
// or the body are never honoured; and every route with a body refuses bad input (missing fields,
// unknown fields, wrong types, huge bodies, invalid UUIDs, SQL and script fragments) with a 4xx
// problem+json, writing nothing.
// The probe runs twice (issue 18): through the stack's gateway (the gateway, provisioning,
// knowledge, drafts and quota processes on the stack's PostgreSQL), and through the embedded
// process's (apps/embedded: every service in one process, PGlite, the in-process bus), the spec's
// own database access (accounts, footprints, seeded rows) then going to its PostgreSQL wire server.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { parseTenantId, SupportFields } from '@hotdash/contracts';
import { loadConfig, type PlatformConfig } from '@hotdash/platform-config';
import { FieldCipher, LocalKms, TenantKeyring } from '@hotdash/platform-crypto';
import { newId } from '@hotdash/platform-db';
import { Permission, ROLE_PERMISSIONS } from '@hotdash/platform-auth';
import {
  createAccount,
  createPlatformOperator,
  DB_MODES,
  type DbMode,
  EMBEDDED_START_MS,
  type EmbeddedRun,
  embeddedRun,
  ServiceProcess,
  startEmbedded,
  startServices,
  stopEmbedded,
  TEST_PASSWORD,
  TestAccount,
  TestWorld,
  waitFor,
} from '@hotdash/testing';

// The embedded process answers on one thread, its databases (PGlite) included.
jest.setTimeout(120_000);

const PROVISIONING = 'http://127.0.0.1:3213';
const KNOWLEDGE = 'http://127.0.0.1:3215';
const DRAFTS = 'http://127.0.0.1:3216';
const QUOTA = 'http://127.0.0.1:3218';
// Every bad body below goes to the public routes too: their per-address limit must not answer first.
const PER_ADDRESS = { HOTDASH_PER_ADDRESS_PER_MINUTE: '100000' };

/** The mode under probe (each describe.each block's beforeAll sets these; the blocks run one after the other). */
let mode: DbMode;
let GATEWAY: string;
let world: TestWorld;
/** This mode's world, until afterAll closes it. */
let open: TestWorld | undefined;
let cipher: FieldCipher | undefined;
/** Stack: the services' processes. Embedded: the one process, its folder. */
let processes: ServiceProcess[] = [];
let embedded: { dir: string; proc?: ServiceProcess } | undefined;

/** The platform's configuration pointed at the embedded process's databases (its PostgreSQL wire server: the control database; the shards as registered there). */
function embeddedConfig(run: EmbeddedRun): PlatformConfig {
  const base = loadConfig();
  return { ...base, db: { ...base.db, controlHost: '127.0.0.1', controlPort: Number(run.env.HOTDASH_EMBEDDED_PG_PORT) } };
}

/**
 * Embedded mode: tenant A signed up through the public route and its saga (as the embedded process's
 * users do, e2e/embedded-workflow), its admin's invitation accepted from the mail folder: the
 * process drafts A's tickets, which needs what the saga makes (the vector namespace, the drafting
 * profile) and a fixture tenant lacks.
 */
async function signedUpAccount(dir: string): Promise<TestAccount> {
  const slug = `probe-${newId().slice(-10)}`;
  const email = `owner@${slug}.test`;
  const signup = await call('post', '/signup', null, JSON.stringify({ name: `Probe ${slug}`, slug, plan: 'basic', admin: { email } }), { 'idempotency-key': `signup-${slug}` });
  expect(signup.status).toBe(202);
  const tenantId = signup.body!.tenantId as string;
  const status = async () => (await world.dbs.controlDb().selectFrom('tenants').select('status').where('id', '=', tenantId).executeTakeFirst())?.status;
  await waitFor('A’s sign-up saga finished', async () => (await status()) === 'active', 60_000, 100);
  const token = await waitFor(
    'A’s invitation mail',
    async () => {
      const folder = join(dir, 'mail', tenantId);
      for (const f of readdirSync(folder).filter((n) => n.endsWith('.eml'))) {
        const found = /\/app\/invitation#([^\s"'<>)]+)/.exec(readFileSync(join(folder, f), 'utf8'))?.[1];
        if (found) return found;
      }
      return undefined;
    },
    60_000,
    100,
  );
  const accepted = await call('post', '/invitations/accept', null, JSON.stringify({ token, password: TEST_PASSWORD }));
  expect(accepted.status).toBe(200);
  const acc = { tenantId: parseTenantId(tenantId), slug, email, userId: '' };
  const me = await call('get', '/me', await login(acc));
  return { ...acc, userId: me.body!.userId as string };
}

async function startStack(): Promise<void> {
  GATEWAY = 'http://127.0.0.1:3199';
  world = open = new TestWorld();
  processes = await startServices([
    { entry: 'apps/gateway/src/main.ts', env: { HOTDASH_GATEWAY_PORT: '3199', HOTDASH_PROVISIONING_URL: PROVISIONING, HOTDASH_KNOWLEDGE_URL: KNOWLEDGE, HOTDASH_DRAFTS_URL: DRAFTS, HOTDASH_QUOTA_URL: QUOTA, ...PER_ADDRESS }, url: GATEWAY },
    { entry: 'apps/provisioning/src/main.ts', env: { HOTDASH_PROVISIONING_PORT: '3213' }, url: PROVISIONING },
    { entry: 'apps/knowledge/src/main.ts', env: { HOTDASH_KNOWLEDGE_PORT: '3215' }, url: KNOWLEDGE },
    { entry: 'apps/drafts/src/main.ts', env: { HOTDASH_DRAFTS_PORT: '3216' }, url: DRAFTS },
    { entry: 'apps/quota/src/main.ts', env: { HOTDASH_QUOTA_PORT: '3218' }, url: QUOTA },
  ]);
}

async function startEmbeddedMode(): Promise<void> {
  embedded = { dir: mkdtempSync(join(tmpdir(), 'hotdash-embedded-probe-')) };
  const run = await embeddedRun(embedded.dir);
  run.env = { ...run.env, ...PER_ADDRESS };
  // A fresh folder: PGlite's initdb and every migration first.
  embedded.proc = await startEmbedded(run, EMBEDDED_START_MS - 30_000);
  GATEWAY = run.gateway;
  world = open = new TestWorld({ config: embeddedConfig(run), poolSize: 2 });
}

async function stopMode(): Promise<void> {
  await open?.close();
  open = cipher = undefined;
  if (mode === 'stack') {
    await Promise.all(processes.map((p) => p.stop()));
    processes = [];
    return;
  }
  try {
    const proc = embedded?.proc;
    // A process that is gone before its stop died under the probe: that is a finding, with its output.
    if (proc && (proc.child.exitCode !== null || proc.child.signalCode !== null)) throw new Error(`the embedded process exited (${proc.child.exitCode ?? proc.child.signalCode}) under the probe\n${proc.output().slice(-8_000)}`);
    if (proc) await stopEmbedded(proc, 30_000);
  } finally {
    if (embedded) rmSync(embedded.dir, { recursive: true, force: true });
    embedded = undefined;
  }
}

interface Operation {
  method: string;
  path: string;
  security: unknown[];
  'x-resource'?: string;
  'x-ops'?: boolean;
  'x-permission'?: string;
  requestBody?: { content: { 'application/json'?: { schema: { properties?: Record<string, { type?: string }>; required?: string[] } } } & Record<string, unknown> };
}
let operations: Operation[] = [];
let a: TestAccount;
let b: TestAccount;
let tokenA: string;
let tokenB: string;
let opsToken: string;

const login = async (acc: TestAccount) =>
  ((await (await fetch(`${GATEWAY}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ tenant: acc.slug, email: acc.email, password: TEST_PASSWORD }) })).json()) as { accessToken: string })
    .accessToken;

async function call(method: string, path: string, token: string | null, body?: string, headers: Record<string, string> = {}): Promise<{ status: number; type: string; body: Record<string, unknown> | undefined }> {
  const res = await fetch(`${GATEWAY}${path}`, {
    method: method.toUpperCase(),
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
    body,
  });
  const text = await res.text();
  const type = res.headers.get('content-type') ?? '';
  // One JSON value (not the JSON lines of an export or the audit log's: those are not a problem's answer).
  const json = /^application\/(problem\+)?json\b/.test(type);
  try {
    return { status: res.status, type, body: text && json ? (JSON.parse(text) as Record<string, unknown>) : undefined };
  } catch (err) {
    throw new Error(`${method} ${path} answered ${res.status} ${type} that is not one JSON value (${(err as Error).message}): ${text.slice(0, 400)}`);
  }
}

/** What a tenant holds that a route could reach: counts that must not move when B probes. */
async function footprint(acc: TestAccount): Promise<Record<string, number>> {
  const [r] = await world.tenantDb.withTenant(acc.tenantId, (tx) =>
    sql<Record<string, number>>`select
      (select count(*)::int from api_keys where revoked_at is null) as live_keys,
      (select count(*)::int from auth_sessions where revoked_at is null) as live_sessions,
      (select count(*)::int from users where status = 'active') as active_users,
      (select count(*)::int from users) as users,
      (select count(*)::int from password_resets) as resets,
      (select count(*)::int from tickets where status = 'replied') as replied,
      (select count(*)::int from tickets where assignee_id is null) as unassigned,
      (select count(*)::int from drafts where decided_by is not null) as decided`.execute(tx.db).then((r) => r.rows),
  );
  return r!;
}

/** One resource of A per kind the document names (x-resource), made through the API as A. */
async function resourceOfA(kind: string): Promise<string> {
  if (kind === 'api-key') {
    const res = await call('post', '/api-keys', tokenA, JSON.stringify({ name: 'probe target', scopes: ['drafts:read'] }));
    return res.body!.id as string;
  }
  if (kind === 'document') {
    const res = await call('post', '/documents?title=probe', tokenA, 'A probe target document.', { 'content-type': 'text/plain' });
    return res.body!.id as string;
  }
  if (kind === 'operator') {
    const res = await call('post', '/operators', tokenA, JSON.stringify({ email: `probe-${newId().slice(-8)}@example.test`, role: 'operator' }));
    return res.body!.userId as string;
  }
  if (kind === 'ticket' || kind === 'draft') {
    const res = await call('post', '/tickets', tokenA, JSON.stringify({ customer: { name: 'Dana', email: 'dana@customer.test' }, body: 'A probe target ticket.' }));
    const ticketId = res.body!.id as string;
    if (kind === 'ticket') return ticketId;
    if (mode === 'embedded') {
      // ai-drafting runs in the embedded process (the offline drafter): its draft, pending in front of A's operators.
      return waitFor(
        'A’s ticket drafted',
        async () => {
          const t = (await call('get', `/tickets/${ticketId}`, tokenA)).body as { status?: string; drafts?: { id: string; status: string }[] } | undefined;
          return t?.status === 'pending' ? t.drafts?.find((d) => d.status === 'pending')?.id : undefined;
        },
        60_000,
        200,
      );
    }
    // The draft ai-drafting would write (no ai-drafting process here): pending, in front of A's operators.
    cipher ??= new FieldCipher(new TenantKeyring(world.dbs, LocalKms.fromEnv()));
    const draftId = newId();
    const bodyEnc = await cipher.encrypt(a.tenantId, SupportFields.DRAFT_BODY, 'A probe target draft.');
    await world.tenantDb.withTenant(a.tenantId, async (tx) => {
      await sql`insert into drafts (id, tenant_id, ticket_id, attempt, status, body_enc) values (${draftId}::uuid, ${a.tenantId}::uuid, ${ticketId}::uuid, 1, 'pending', ${bodyEnc})`.execute(tx.db).then((r) => Number(r.numAffectedRows ?? 0));
      await sql`update tickets set status = 'pending', current_draft_id = ${draftId}::uuid where id = ${ticketId}::uuid`.execute(tx.db).then((r) => Number(r.numAffectedRows ?? 0));
    });
    return draftId;
  }
  if (kind === 'export') {
    // One export of A at a time (409 while one runs): the first one made serves every export route.
    const listed = await call('get', '/exports', tokenA);
    const first = (listed.body!.exports as { id: string }[])[0];
    if (first) return first.id;
    return (await call('post', '/exports', tokenA, JSON.stringify({ kind: 'tenant' }))).body!.id as string;
  }
  if (kind === 'erasure') {
    // An erasure of a customer A never had: it erases nothing, and its id is A's.
    return (await call('post', '/privacy/erasures', tokenA, JSON.stringify({ email: `probe-${newId().slice(-8)}@customer.test` }))).body!.id as string;
  }
  throw new Error(`the probe does not know how to make a ${kind}: add it here`);
}

/** A body the route would accept, so the probe reaches the lookup of the id (not the body's validation). */
const VALID_BODIES: Record<string, string> = {
  'patch /operators/{id}': JSON.stringify({ role: 'operator' }),
  'put /tickets/{id}/assignee': JSON.stringify({ assigneeId: null }),
  'post /tickets/{id}/reply': JSON.stringify({ body: 'A reply.' }),
  'post /drafts/{id}/edit': JSON.stringify({ body: 'An edited draft.' }),
  'post /drafts/{id}/reject': JSON.stringify({ reason: 'Not our policy.' }),
};

/** What the probe sends to a route: JSON, or for an upload route (a raw body) a small text document. */
function probeBody(op: Operation): { body: string | undefined; headers: Record<string, string> } {
  if (!op.requestBody) return { body: undefined, headers: {} };
  if (!op.requestBody.content['application/json']) return { body: 'probe text', headers: { 'content-type': 'text/plain' } };
  return { body: VALID_BODIES[`${op.method} ${op.path}`] ?? '{}', headers: {} };
}

const comparable = (r: Awaited<ReturnType<typeof call>>, id: string) => ({ status: r.status, body: JSON.parse(JSON.stringify(r.body ?? null).split(id).join('<id>')) as unknown });

describe.each(DB_MODES)('through the %s gateway', (m) => {
  // Embedded: the process's start (a fresh folder: PGlite's initdb and every migration), then A's sign-up.
  beforeAll(async () => {
    mode = m;
    if (mode === 'stack') await startStack();
    else await startEmbeddedMode();
    const doc = (await (await fetch(`${GATEWAY}/openapi.json`)).json()) as { openapi: string; paths: Record<string, Record<string, Operation>> };
    expect(doc.openapi).toBe('3.1.0');
    operations = Object.entries(doc.paths).flatMap(([path, methods]) => Object.entries(methods).map(([method, op]) => ({ ...op, method, path })));
    a = mode === 'embedded' ? await signedUpAccount(embedded!.dir) : await createAccount(world, 'admin');
    b = await createAccount(world, 'admin');
    tokenA = await login(a);
    tokenB = await login(b);
    const ops = await createPlatformOperator(world);
    opsToken = ((await (await fetch(`${GATEWAY}/ops/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: ops.email, password: TEST_PASSWORD }) })).json()) as { accessToken: string })
      .accessToken;
  }, EMBEDDED_START_MS + 60_000);

  afterAll(stopMode, 60_000);

  it('answers tenant B asking for any of tenant A’s resources exactly as for one that does not exist', async () => {
    // Tenant resources only: /ops routes refuse every tenant token before any lookup (403 ops-token-required, the ops specs).
    const withId = operations.filter((o) => o.path.includes('{id}') && !o.path.startsWith('/ops/'));
    expect(withId.length).toBeGreaterThan(0);
    for (const op of withId) {
      const idOfA = await resourceOfA(op['x-resource'] ?? 'unknown');
      const before = await footprint(a);
      const missing = newId();
      const { body, headers } = probeBody(op);
      const foreign = await call(op.method, op.path.replace('{id}', idOfA), tokenB, body, headers);
      const absent = await call(op.method, op.path.replace('{id}', missing), tokenB, body, headers);
      expect([op.method, op.path, comparable(foreign, idOfA)]).toEqual([op.method, op.path, comparable(absent, missing)]);
      expect(foreign.status).toBe(404);
      expect(await footprint(a)).toEqual(before);
      // And an id that is not a UUID at all is a 400, not a lookup.
      const invalid = await call(op.method, op.path.replace('{id}', "1' or '1'='1"), tokenB, body, headers);
      expect([op.path, invalid.status, invalid.body?.code]).toEqual([op.path, 400, 'invalid-uuid']);
    }
  });

  it('never honours a tenant id spoofed in the query, a header or the body', async () => {
    const before = await footprint(a);
    for (const op of operations) {
      // Ops routes take no tenant credential at all (e2e/gateway-provisioning proves it): nothing to spoof.
      if (op.path === '/health' || op['x-ops']) continue;
      const path = op.path.replace('{id}', newId());
      const authenticated = op.security.length > 0;
      const token = authenticated ? tokenB : null;
      // A body of the kind the route takes (uploads: a document), so the media type is not what refuses it.
      const { body: probe, headers: probeHeaders } = probeBody(op);
      const spoofs: [string, string, Record<string, string>, string | undefined][] = [
        ['query', `${path}?tenantId=${a.tenantId}`, probeHeaders, probe && (probeHeaders['content-type'] ? probe : '{}')],
        ['header', path, { ...probeHeaders, 'x-tenant-id': a.tenantId }, probe && (probeHeaders['content-type'] ? probe : '{}')],
      ];
      if (op.requestBody?.content['application/json']) spoofs.push(['body', path, {}, JSON.stringify({ tenantId: a.tenantId })]);
      for (const [where, url, headers, body] of spoofs) {
        const r = await call(op.method, url, token, body, headers);
        if (authenticated) expect([op.method, op.path, where, r.status, r.body?.code]).toEqual([op.method, op.path, where, 403, 'tenant_mismatch']);
        else expect([op.method, op.path, where, r.status >= 200 && r.status < 300 && r.status !== 202]).toEqual([op.method, op.path, where, false]);
      }
    }
    expect(await footprint(a)).toEqual(before);
  });

  it.each(['operator', 'team_lead', 'manager', 'admin'] as const)('role matrix from the document, as %s: each route allowed exactly where the role table says', async (role) => {
    const acc = await createAccount(world, role);
    // Logout ends the session: it goes last.
    const routes = operations.filter((o) => o['x-permission']).sort((x, y) => Number(x.path === '/auth/logout') - Number(y.path === '/auth/logout'));
    expect(routes.length).toBeGreaterThan(8);
    const token = await login(acc);
    for (const op of routes) {
      const { body, headers } = probeBody(op);
      const r = await call(op.method, op.path.replace(/\{\w+\}/g, newId()), token, body && (headers['content-type'] ? body : '{}'), headers);
      const allowed = ROLE_PERMISSIONS[role].has(op['x-permission'] as Permission);
      if (allowed) expect([op.method, op.path, r.status === 403 || r.status === 401]).toEqual([op.method, op.path, false]);
      else expect([op.method, op.path, r.status, r.body?.code]).toEqual([op.method, op.path, 403, 'forbidden']);
    }
  });

  describe('bad input on every route with a body', () => {
    const fragments = ["'; drop table users; --", '<script>alert(1)</script>', '{{7*7}}', '../../etc/passwd', '\u0000'];

    it('answers 4xx problem+json and writes nothing', async () => {
      // JSON bodies; upload routes (raw documents) have their bad input covered in e2e/gateway-knowledge and the knowledge specs.
      const withBody = operations.filter((o) => o.requestBody?.content['application/json']);
      expect(withBody.length).toBeGreaterThan(3);
      const beforeA = await footprint(a);
      const beforeB = await footprint(b);
      for (const op of withBody) {
        const schema = op.requestBody!.content['application/json']!.schema;
        const props = Object.entries(schema.properties ?? {});
        const path = op.path.replace(/\{\w+\}/g, newId());
        const token = op['x-ops'] ? opsToken : op.security.length > 0 ? tokenB : null;
        const valid = Object.fromEntries(props.map(([k, s]) => [k, s.type === 'array' ? ['drafts:read'] : s.type === 'number' || s.type === 'integer' ? 1 : `x-${k}`]));
        const bodies: [string, string][] = [
          ['missing fields', '{}'],
          ['unknown field', JSON.stringify({ ...valid, surprise: true })],
          ['a JSON array', '[]'],
          ['malformed JSON', '{"a":'],
          ['a huge body', JSON.stringify({ ...valid, [props[0]?.[0] ?? 'x']: 'x'.repeat(300_000) })],
          ...props.map(([k, s]): [string, string] => [`${k} of the wrong type`, JSON.stringify({ ...valid, [k]: s.type === 'string' ? { nested: 1 } : 'not-a-number' })]),
          ...props.flatMap(([k, s]) => (s.type === 'string' ? fragments.map((f): [string, string] => [`${k} = ${JSON.stringify(f)}`, JSON.stringify({ ...valid, [k]: f })]) : [])),
        ];
        for (const [label, body] of bodies) {
          const r = await call(op.method, path, token, body);
          // A reset request answers 202 to everything (it never says which addresses exist) and writes nothing for nonsense.
          const accepted = op.path === '/auth/password-reset' && r.status === 202;
          if (accepted) continue;
          expect([op.method, op.path, label, r.status >= 400 && r.status < 500, r.type.startsWith('application/problem+json')]).toEqual([op.method, op.path, label, true, true]);
        }
      }
      expect(await footprint(a)).toEqual(beforeA);
      expect(await footprint(b)).toEqual(beforeB);
    }, 120_000);
  });
});
