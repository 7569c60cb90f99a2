// The portal's account pages and admin screens in a real browser (Debian's Chromium driven by
// playwright-core) against the real services (gateway serving dist/portal, provisioning, drafts,
// quota, the relay delivering mail to the local Mailpit over SMTP): a new operator accepts the
// e-mailed invitation and sets a password in the portal; an operator asks for a password reset on
// the sign-in screen and completes it from the mail (through the link's former address, which
// now redirects); the sign-in screen turns single sign-on's handoff failures into sentences; an
// admin configures single sign-on against a local OpenID Connect provider (oidc-provider, started
// here), is told why password sign-in cannot go off before an SSO sign-in worked, and an operator
// then signs in through it; an admin runs a tenant export and downloads it, sees an expired one as
// expired; an admin erases a customer (with a confirmation step) and gets the signed certificate;
// an operator and a manager see none of these admin screens and the API refuses them; another
// tenant's admin gets nothing of this tenant's. axe-core on every screen at desktop and 360 px;
// screenshots into docs/screenshots/ (the README shows them).
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runInThisContext } from 'node:vm';
import { exportJWK, generateKeyPair } from 'jose';
import Provider from 'oidc-provider';
import type { Browser, Page } from 'playwright-core';
import { newId } from '@hotdash/platform-db';
import { certificateVerifyKeysFromEnv, verifyCertificate } from '@hotdash/platform-crypto';
import { addOperator, createAccount, launchBrowser, ServiceProcess, startServices, TEST_PASSWORD, TestAccount, TestWorld, waitFor } from '@hotdash/testing';

jest.setTimeout(120_000);

const GATEWAY = 'http://127.0.0.1:3570';
const PROVISIONING = 'http://127.0.0.1:3571';
const DRAFTS = 'http://127.0.0.1:3572';
const QUOTA = 'http://127.0.0.1:3573';
const RELAY = 'http://127.0.0.1:3574';
const MAILPIT = `http://127.0.0.1:${process.env.HOTDASH_MAILPIT_UI_PORT ?? 8025}`;
const SMTP_URL = `smtp://127.0.0.1:${process.env.HOTDASH_SMTP_PORT ?? 1025}`;
const ROOT = join(__dirname, '..');
const SHOTS = join(ROOT, 'docs', 'screenshots');
const AXE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const NEW_PASSWORD = 'a fresh portal passphrase';

const world = new TestWorld();
const exportDir = mkdtempSync(join(tmpdir(), 'hotdash-portal-admin-'));
let processes: ServiceProcess[] = [];
let browser: Browser;
let admin: TestAccount;
let adminToken: string;
let manager: TestAccount;
let carol: TestAccount;
let other: TestAccount;
const mailedTo: string[] = [];
let idp: { issuer: string; server: Server; accounts: Map<string, { email: string; email_verified: boolean }> };
const CLIENT = { id: 'hd-portal', secret: `secret-${newId()}` };
const roomyPlan = `portal-admin-${newId().slice(-8)}`;

async function call<T = Record<string, unknown>>(method: string, path: string, token: string | null, body?: unknown): Promise<{ status: number; body: T }> {
  const res = await fetch(`${GATEWAY}${path}`, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: (text && (res.headers.get('content-type') ?? '').includes('json') ? JSON.parse(text) : undefined) as T };
}

const login = async (acc: TestAccount, password = TEST_PASSWORD) => (await call<{ accessToken: string }>('POST', '/auth/login', null, { tenant: acc.slug, email: acc.email, password })).body.accessToken;

/** axe-core in the page (evaluated, so the portal's CSP stays on): WCAG 2.0–2.2 A and AA rules. */
async function axe(page: Page, screen: string): Promise<void> {
  if (!(await page.evaluate(() => 'axe' in globalThis))) await page.evaluate(AXE);
  const violations = await page.evaluate(async () => {
    const w = globalThis as unknown as { document: unknown; axe: { run: (ctx: unknown, o: object) => Promise<{ violations: { id: string; impact: string; help: string; nodes: { target: string[] }[] }[] }> } };
    const r = await w.axe.run(w.document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'] } });
    return r.violations.map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
  });
  expect({ screen, violations }).toEqual({ screen, violations: [] });
}

/** A screenshot for the README and the accessibility check of the same screen; at 360 px also nothing wider than the screen. */
async function screen(page: Page, name: string): Promise<void> {
  await axe(page, name);
  if (name.endsWith('-360')) expect({ name, width: await page.evaluate(() => (globalThis as unknown as { document: { documentElement: { scrollWidth: number } } }).document.documentElement.scrollWidth) }).toEqual({ name, width: 360 });
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

async function signIn(page: Page, acc: TestAccount, password = TEST_PASSWORD): Promise<void> {
  await page.goto(`${GATEWAY}/`);
  await page.getByLabel('Organisation').fill(acc.slug);
  await page.getByLabel('E-mail address').fill(acc.email);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.getByRole('button', { name: 'Sign out' }).waitFor();
}

const desktop = () => browser.newPage({ viewport: { width: 1280, height: 860 } });
const phone = () => browser.newPage({ viewport: { width: 360, height: 740 }, deviceScaleFactor: 1, isMobile: true, hasTouch: true });

async function mailpitMessages(to: string): Promise<{ ID: string }[]> {
  return ((await (await fetch(`${MAILPIT}/api/v1/search?query=${encodeURIComponent(`to:"${to}"`)}`)).json()) as { messages: { ID: string }[] }).messages;
}

/**
 * The link to `path` in the mail to `to` (waits for it): at Mailpit, where this spec's relay delivers;
 * or in the tenant's folder of the default mail directory, should a relay of another spec running at
 * the same time (file sender) have delivered it first.
 */
async function mailedLink(to: string, path: string, tenantId: string): Promise<string> {
  mailedTo.push(to);
  const pattern = new RegExp(`${GATEWAY}${path}#(\\S+)`);
  const folder = join(ROOT, '.local', 'mail', tenantId);
  return waitFor(
    `a mail to ${to} with a link to ${path}`,
    async () => {
      for (const m of await mailpitMessages(to)) {
        const text = ((await (await fetch(`${MAILPIT}/api/v1/message/${m.ID}`)).json()) as { Text: string }).Text;
        const link = pattern.exec(text)?.[0];
        if (link) return link;
      }
      const files = existsSync(folder) ? readdirSync(folder).map((f) => readFileSync(join(folder, f), 'utf8')) : [];
      return files.filter((f) => f.includes(`\r\nTo: ${to}\r\n`)).map((f) => pattern.exec(f)?.[0]).find(Boolean);
    },
    45_000,
    200,
  );
}

/** A local OpenID Connect provider (oidc-provider in Node's own realm: jest.setup.ts loads it there) whose client redirects to this gateway. */
async function startProvider(): Promise<typeof idp> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const accounts = new Map<string, { email: string; email_verified: boolean }>();
  const outerJson = runInThisContext('JSON') as typeof JSON;
  const data = {
    clients: [{ client_id: CLIENT.id, client_secret: CLIENT.secret, redirect_uris: [`${GATEWAY}/auth/sso/callback`], grant_types: ['authorization_code'], response_types: ['code'] }],
    jwks: { keys: [{ ...(await exportJWK(privateKey)), kid: `k-${newId()}`, alg: 'RS256', use: 'sig' }] },
    claims: { openid: ['sub'], email: ['email', 'email_verified'] },
    conformIdTokenClaims: false,
  };
  const provider = new Provider(issuer, Object.assign(outerJson.parse(JSON.stringify(data)) as Record<string, unknown>, { findAccount: (_ctx: unknown, id: string) => ({ accountId: id, claims: () => ({ sub: id, ...accounts.get(id) }) }) }));
  server.on('request', provider.callback());
  return { issuer, server, accounts };
}

/** The browser at the provider: its login form (any password), then its consent, until it is back at the gateway. */
async function atProvider(page: Page, loginName: string): Promise<void> {
  await page.locator('input[name="login"]').fill(loginName);
  await page.locator('input[name="password"]').fill('any');
  await page.getByRole('button', { name: 'Sign-in' }).click();
  const consent = page.getByRole('button', { name: 'Continue' });
  const back = page.waitForURL((u) => u.origin === GATEWAY);
  if ((await Promise.race([consent.waitFor().then(() => 'consent'), back.then(() => 'back')])) === 'consent') await consent.click();
  await back;
}

async function asSuperuser(fn: (su: Awaited<ReturnType<TestWorld['connectSuperuser']>>) => Promise<void>): Promise<void> {
  const su = await world.connectSuperuser(world.config.db.controlDatabase);
  try {
    await fn(su);
  } finally {
    await su.end();
  }
}

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  idp = await startProvider();
  processes = await startServices([
    {
      entry: 'apps/gateway/src/main.ts',
      env: {
        HOTDASH_GATEWAY_PORT: '3570',
        HOTDASH_PROVISIONING_URL: PROVISIONING,
        HOTDASH_DRAFTS_URL: DRAFTS,
        HOTDASH_QUOTA_URL: QUOTA,
        HOTDASH_PUBLIC_URL: GATEWAY,
        // The local provider is plain http on loopback: allowed for this spec's gateway only.
        HOTDASH_SSO_INSECURE_ISSUERS: '1',
        HOTDASH_EGRESS_ALLOW: idp.issuer,
      },
      url: GATEWAY,
    },
    { entry: 'apps/provisioning/src/main.ts', env: { HOTDASH_PROVISIONING_PORT: '3571', HOTDASH_PUBLIC_URL: GATEWAY, HOTDASH_EXPORT_DIR: exportDir }, url: PROVISIONING },
    { entry: 'apps/drafts/src/main.ts', env: { HOTDASH_DRAFTS_PORT: '3572' }, url: DRAFTS },
    { entry: 'apps/quota/src/main.ts', env: { HOTDASH_QUOTA_PORT: '3573' }, url: QUOTA },
    { entry: 'apps/relay/src/main.ts', env: { HOTDASH_RELAY_PORT: '3574', HOTDASH_SMTP_URL: SMTP_URL }, url: RELAY },
  ]);
  admin = await createAccount(world, 'admin');
  other = await createAccount(world, 'admin');
  // A plan with room for the portal's polling (the plans allow 100 requests a minute; limits have specs of their own); removed at the end.
  await asSuperuser(async (su) => {
    await su.query(`insert into plans (code, name, monthly_ticket_quota, rate_limit_per_minute, concurrency_limit, knowledge_base_bytes) values ($1, 'Portal admin e2e', 5000, 100000, 50, 10737418240)`, [roomyPlan]);
    await su.query('update tenants set plan_code = $1 where id = $2', [roomyPlan, admin.tenantId]);
  });
  manager = await addOperator(world, admin, 'manager');
  carol = await addOperator(world, admin, 'operator');
  adminToken = await login(admin);
  browser = await launchBrowser();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await Promise.all(processes.map((p) => p.stop()));
  await new Promise((resolve) => idp?.server.close(resolve));
  const ids = (await Promise.all(mailedTo.map(mailpitMessages))).flat().map((m) => m.ID);
  if (ids.length) await fetch(`${MAILPIT}/api/v1/messages`, { method: 'DELETE', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ IDs: ids }) });
  await asSuperuser(async (su) => {
    await su.query(`update tenants set plan_code = 'basic' where plan_code = $1`, [roomyPlan]);
    await su.query('delete from plans where code = $1', [roomyPlan]);
  });
  await world.close();
  rmSync(exportDir, { recursive: true, force: true });
}, 60_000);

it('accepts an e-mailed invitation in the portal: the token leaves the address bar, the password is set, the sign-in follows filled in', async () => {
  const email = `newcomer-${newId().slice(-8)}@example.test`;
  expect((await call('POST', '/operators', adminToken, { email, role: 'operator' })).status).toBe(201);
  const link = await mailedLink(email, '/app/invitation', admin.tenantId);

  const page = await desktop();
  await page.goto(link);
  await page.getByRole('heading', { name: 'Accept your invitation' }).waitFor();
  expect(page.url()).toBe(`${GATEWAY}/app/invitation`); // the token left the address bar
  await screen(page, 'invitation');
  // Two different passwords: said so, nothing sent.
  await page.getByLabel('New password').fill(NEW_PASSWORD);
  await page.getByLabel('The same password again').fill(`${NEW_PASSWORD}!`);
  await page.getByRole('button', { name: 'Set password' }).click();
  await expect(page.getByRole('alert').textContent()).resolves.toBe('The two passwords differ: type the same one twice.');
  await page.getByLabel('The same password again').fill(NEW_PASSWORD);
  await page.getByLabel('Your name (optional)').fill('Nia Newcomer');
  await page.getByRole('button', { name: 'Set password' }).click();
  await page.getByText(`Your password is set. Sign in with the organisation "${admin.slug}" and your e-mail address.`).waitFor();
  expect(new URL(page.url()).pathname).toBe('/');
  expect(await page.getByLabel('Organisation').inputValue()).toBe(admin.slug);
  await page.getByLabel('E-mail address').fill(email);
  await page.getByLabel('Password', { exact: true }).fill(NEW_PASSWORD);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.getByText('Nia Newcomer (operator)').waitFor();
  await page.close();

  // The same link again, on a phone: a sentence, not a failure.
  const small = await phone();
  await small.goto(link);
  await small.getByLabel('New password').fill(NEW_PASSWORD);
  await small.getByLabel('The same password again').fill(NEW_PASSWORD);
  await small.getByRole('button', { name: 'Set password' }).click();
  await expect(small.getByRole('alert').textContent()).resolves.toMatch(/^This invitation was accepted already/);
  await screen(small, 'invitation-360');
  await small.close();
});

it('completes a password reset asked for on the sign-in screen, from the mailed link (its former address redirects)', async () => {
  const page = await desktop();
  await page.goto(`${GATEWAY}/`);
  await page.getByLabel('Organisation').fill(carol.slug);
  await page.getByLabel('E-mail address').fill(carol.email);
  await page.getByRole('button', { name: 'Forgot your password?' }).click();
  await page.getByText('If that address belongs to an operator of the organisation, a link to set a new password is on its way.').waitFor();
  const link = await mailedLink(carol.email, '/app/reset', carol.tenantId);

  // A link mailed before the portal had this page: /auth/password-reset/confirm#<token>.
  await page.goto(`${GATEWAY}/auth/password-reset/confirm${new URL(link).hash}`);
  await page.getByRole('heading', { name: 'Set a new password' }).waitFor();
  expect(page.url()).toBe(`${GATEWAY}/app/reset`);
  await screen(page, 'password-reset');
  await page.getByLabel('New password').fill(NEW_PASSWORD);
  await page.getByLabel('The same password again').fill(NEW_PASSWORD);
  await page.getByRole('button', { name: 'Set password' }).click();
  await page.getByText('Your new password is set and your earlier sessions have ended. Sign in with it.').waitFor();
  // Asked for in this browser: the organisation is filled in.
  expect(await page.getByLabel('Organisation').inputValue()).toBe(carol.slug);
  await page.getByLabel('E-mail address').fill(carol.email);
  await page.getByLabel('Password', { exact: true }).fill(NEW_PASSWORD);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.getByRole('button', { name: 'Sign out' }).waitFor();
  expect((await call('POST', '/auth/login', null, { tenant: carol.slug, email: carol.email, password: TEST_PASSWORD })).status).toBe(401);
  await page.close();

  // Used once: the second time is a sentence. Without a token, the page says where it comes from.
  const again = await phone();
  await again.goto(link);
  await again.getByLabel('New password').fill('yet another passphrase');
  await again.getByLabel('The same password again').fill('yet another passphrase');
  await again.getByRole('button', { name: 'Set password' }).click();
  await expect(again.getByRole('alert').textContent()).resolves.toMatch(/^This link was used already/);
  await screen(again, 'password-reset-360');
  await again.goto(`${GATEWAY}/app/reset`);
  await again.getByText('This page needs the link from your e-mail: open the link exactly as it was sent.').waitFor();
  await again.close();
  expect(await login(carol, NEW_PASSWORD)).toBeTruthy();
});

it("shows single sign-on's refusals coming back to the sign-in screen as sentences", async () => {
  const page = await desktop();
  await page.goto(`${GATEWAY}/#sso-error=sso-domain-not-allowed`);
  await expect(page.getByRole('alert').textContent()).resolves.toBe('Addresses of your e-mail domain may not sign in to this organisation: ask your admin.');
  expect(page.url()).toBe(`${GATEWAY}/`);
  await page.close();
  const handoff = await desktop();
  await handoff.goto(`${GATEWAY}/#sso=${'x'.repeat(43)}`);
  await expect(handoff.getByRole('alert').textContent()).resolves.toBe('That single sign-on has expired or was used already: sign in again.');
  await handoff.close();
});

it('lets an admin set up single sign-on (password sign-in stays on until an SSO sign-in worked), an operator sign in through it, then passwords go off', async () => {
  const page = await desktop();
  await signIn(page, admin);
  await page.getByRole('link', { name: 'Single sign-on' }).click();
  await page.getByText('No single sign-on is set up: operators sign in with their passwords.').waitFor();
  await page.getByLabel(/^Issuer/).fill(idp.issuer);
  await page.getByLabel('Client id').fill(CLIENT.id);
  await page.getByLabel(/^Client secret/).fill(CLIENT.secret);
  await page.getByLabel('Allowed e-mail domains, one a line').fill('example.test');
  // An issuer where no provider answers (here: loopback, not on the egress allow list): a sentence, nothing stored.
  await page.getByLabel(/^Issuer/).fill('http://127.0.0.1:9/realms/none');
  await page.getByRole('button', { name: 'Save single sign-on' }).click();
  await expect(page.getByRole('alert').textContent()).resolves.toMatch(/^No OpenID Connect provider answers at this issuer/);
  expect((await call('GET', '/sso', adminToken)).status).toBe(404);
  await page.getByLabel(/^Issuer/).fill(idp.issuer);
  await page.getByLabel(/^Role mapping/).fill('not a mapping');
  await page.getByRole('button', { name: 'Save single sign-on' }).click();
  await expect(page.getByRole('alert').textContent()).resolves.toMatch(/^Role mapping, line 1: write/);
  await page.getByLabel(/^Role mapping/).fill('');
  // Passwords off before any SSO sign-in worked: refused with the reason, nothing stored.
  await page.getByLabel('Operators may also sign in with a password').uncheck();
  await page.getByRole('button', { name: 'Save single sign-on' }).click();
  await expect(page.getByRole('alert').textContent()).resolves.toMatch(/^Password sign-in can be turned off only once someone has signed in through single sign-on/);
  expect((await call('GET', '/sso', adminToken)).status).toBe(404);
  await page.getByLabel('Operators may also sign in with a password').check();
  await page.getByRole('button', { name: 'Save single sign-on' }).click();
  await page.getByText('Single sign-on saved. Operators can sign in with it or with a password.').waitFor();
  await page.getByText(`${GATEWAY}/auth/sso/callback`).waitFor();
  await page.getByText('Not verified yet: sign in with single sign-on once before turning password sign-in off.').waitFor();
  expect((await call('GET', '/sso', adminToken)).body).toMatchObject({ issuer: idp.issuer, clientId: CLIENT.id, clientSecretSet: true, passwordSignIn: true, verifiedAt: null });
  await screen(page, 'single-sign-on');

  // An operator signs in through the provider, in the browser; back in the portal, signed in.
  idp.accounts.set('carol', { email: carol.email, email_verified: true });
  const sso = await desktop();
  await sso.goto(`${GATEWAY}/`);
  await sso.getByLabel('Organisation').fill(admin.slug);
  await sso.getByRole('button', { name: 'Sign in with single sign-on' }).click();
  await atProvider(sso, 'carol');
  await sso.getByRole('button', { name: 'Sign out' }).waitFor();
  expect(new URL(sso.url()).hash).toBe('');
  const me = await sso.evaluate(async () => {
    const token = (JSON.parse(sessionStorage.getItem('hotdash.session')!) as { accessToken: string }).accessToken;
    return (await fetch('/me', { headers: { authorization: `Bearer ${token}` } })).json() as Promise<{ email: string; role: string }>;
  });
  expect(me).toMatchObject({ email: carol.email, role: 'operator' });
  await sso.close();

  // Now passwords can go off; the screen says it is verified. Then single sign-on is removed again.
  await page.reload();
  await page.getByText(/^Verified: a single sign-on worked on/).waitFor();
  await page.getByLabel('Operators may also sign in with a password').uncheck();
  await page.getByRole('button', { name: 'Save single sign-on' }).click();
  await page.getByText('Single sign-on saved. Password sign-in is off: operators sign in with single sign-on only.').waitFor();
  expect((await call('POST', '/auth/login', null, { tenant: manager.slug, email: manager.email, password: TEST_PASSWORD })).body).toMatchObject({ code: 'password-sign-in-disabled' });
  const small = await phone();
  await small.goto(`${GATEWAY}/`);
  await small.evaluate((s) => sessionStorage.setItem('hotdash.session', s), await page.evaluate(() => sessionStorage.getItem('hotdash.session')!));
  await small.goto(`${GATEWAY}/app/sso`);
  await small.getByRole('heading', { name: 'Single sign-on' }).waitFor();
  await small.getByLabel('Client id').waitFor();
  await screen(small, 'single-sign-on-360');
  await small.close();
  await page.getByRole('button', { name: 'Remove single sign-on' }).click();
  await page.getByRole('button', { name: 'Yes, remove it' }).click();
  await page.getByText('Single sign-on removed: operators sign in with their passwords again.').waitFor();
  expect((await call('GET', '/sso', adminToken)).status).toBe(404);
  await page.close();
});

it('lets an admin export the organisation, follow it and download it; an expired export is shown as such; bad input is a sentence', async () => {
  const page = await desktop();
  await signIn(page, admin);
  await page.getByRole('link', { name: 'Data export' }).click();
  await page.getByText('No exports yet.').waitFor();
  // A subject export for an address the API refuses: its sentence, nothing started.
  await page.getByLabel('One customer’s data').check();
  await page.getByLabel('Customer’s e-mail address').fill('dana@localhost');
  await page.getByRole('button', { name: 'Start export' }).click();
  await expect(page.getByRole('alert').textContent()).resolves.toBe('That is not an e-mail address: type the customer’s address as they wrote to you.');
  expect((await call<{ exports: unknown[] }>('GET', '/exports', adminToken)).body.exports).toEqual([]);

  await page.getByLabel('The whole organisation').check();
  await page.getByRole('button', { name: 'Start export' }).click();
  await page.getByText('Export of the organisation started: it is listed below with its progress.').waitFor();
  const row = page.locator('tr[data-export][data-status="succeeded"]');
  await row.waitFor({ timeout: 60_000 });
  await screen(page, 'data-export');
  const id = (await row.getAttribute('data-export'))!;
  const download = page.waitForEvent('download');
  await row.getByRole('button', { name: /^Download/ }).click();
  const file = await download;
  expect(file.suggestedFilename()).toMatch(/^hotdash-export-tenant-\d{4}-\d{2}-\d{2}-[0-9a-f]{8}\.ndjson$/);
  const lines = readFileSync((await file.path())!, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { type: string; tenantId?: string; table?: string; values?: Record<string, unknown> });
  expect(lines[0]).toMatchObject({ type: 'export', tenantId: admin.tenantId, kind: 'tenant' });
  expect(lines.at(-1)).toMatchObject({ type: 'end' });
  expect(lines.filter((l) => l.type === 'row' && l.table === 'users').map((l) => l.values!.email)).toContain(admin.email);

  // Past its expiry the export is listed as expired, without a link.
  await world.tenantDb.withTenant(admin.tenantId, (tx) => tx.db.updateTable('export_runs').set({ expires_at: new Date(Date.now() - 60_000) }).where('id', '=', id).execute());
  await page.reload();
  await page.locator(`tr[data-export="${id}"][data-status="expired"]`).getByText(/^Expired .*the file was deleted$/).waitFor();
  expect(await page.locator(`tr[data-export="${id}"]`).getByRole('button').count()).toBe(0);

  const small = await phone();
  await small.goto(`${GATEWAY}/`);
  await small.evaluate((s) => sessionStorage.setItem('hotdash.session', s), await page.evaluate(() => sessionStorage.getItem('hotdash.session')!));
  await small.goto(`${GATEWAY}/app/exports`);
  await small.locator(`tr[data-export="${id}"]`).waitFor();
  await screen(small, 'data-export-360');
  await small.close();
  await page.close();
});

it('lets an admin erase a customer after a confirmation step and shows the signed certificate, downloadable as JSON', async () => {
  const customer = `erin-${newId().slice(-8)}@customer.test`;
  const ticket = await call<{ id: string }>('POST', '/tickets', adminToken, { customer: { name: 'Erin Example', email: customer }, subject: 'Please forget me', body: 'Delete everything you hold about me.' });
  expect(ticket.status).toBe(201);

  const page = await desktop();
  await signIn(page, admin);
  await page.getByRole('link', { name: 'Erasure' }).click();
  // Not an address: the API's refusal as a sentence, nothing started.
  await page.getByLabel('Customer’s e-mail address').fill('erin at customer');
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.getByRole('button', { name: 'Yes, erase this customer’s data' }).click();
  await expect(page.getByRole('alert').textContent()).resolves.toBe('That is not an e-mail address: type the customer’s address as they wrote to you.');
  expect((await call('GET', `/tickets/${ticket.body.id}`, adminToken)).status).toBe(200);

  await page.getByLabel('Customer’s e-mail address').fill(customer);
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.getByRole('heading', { name: `Erase every record of ${customer}?` }).waitFor();
  await screen(page, 'erasure-confirm');
  // Cancel leaves everything as it was.
  await page.getByRole('button', { name: 'Cancel' }).click();
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.getByRole('button', { name: 'Yes, erase this customer’s data' }).click();
  await page.getByRole('heading', { name: 'Erasure complete' }).waitFor({ timeout: 60_000 });
  await page.getByRole('heading', { name: 'Certificate' }).waitFor();
  expect(await page.getByRole('table', { name: 'What was erased where' }).getByRole('row').count()).toBeGreaterThan(5);
  await screen(page, 'erasure-certificate');
  const download = page.waitForEvent('download');
  await page.getByRole('button', { name: 'Download the certificate (JSON)' }).click();
  const file = await download;
  expect(file.suggestedFilename()).toMatch(/^erasure-certificate-[0-9a-f-]{36}\.json$/);
  const signed = JSON.parse(readFileSync((await file.path())!, 'utf8')) as { certificate: { tenantId: string; stores: { store: string; count: number }[] } };
  expect(verifyCertificate(signed, certificateVerifyKeysFromEnv())).toMatchObject({ valid: true });
  expect(signed.certificate.tenantId).toBe(admin.tenantId);
  expect(signed.certificate.stores.find((s) => s.store === 'postgresql')!.count).toBeGreaterThan(0);
  expect(JSON.stringify(signed)).not.toContain(customer);
  expect((await call('GET', `/tickets/${ticket.body.id}`, adminToken)).status).toBe(404);

  const small = await phone();
  await small.goto(`${GATEWAY}/`);
  await small.evaluate((s) => sessionStorage.setItem('hotdash.session', s), await page.evaluate(() => sessionStorage.getItem('hotdash.session')!));
  await small.evaluate((id) => sessionStorage.setItem('hotdash.erasure', id), (await page.locator('[data-erasure]').getAttribute('data-erasure'))!);
  await small.goto(`${GATEWAY}/app/erasure`);
  await small.getByRole('heading', { name: 'Certificate' }).waitFor();
  await screen(small, 'erasure-360');
  await small.close();

  // Another tenant's admin: neither the erasure nor the export by id.
  const erasureId = (await page.locator('[data-erasure]').getAttribute('data-erasure'))!;
  const exportId = (await call<{ exports: { id: string }[] }>('GET', '/exports', adminToken)).body.exports[0]!.id;
  const otherToken = await login(other);
  expect((await call<{ code: string }>('GET', `/privacy/erasures/${erasureId}`, otherToken)).body.code).toBe('erasure-not-found');
  expect((await call<{ code: string }>('GET', `/exports/${exportId}`, otherToken)).body.code).toBe('export-not-found');
  expect((await call<{ exports: unknown[] }>('GET', '/exports', otherToken)).body.exports).toEqual([]);
  await page.close();
});

it('shows an operator and a manager none of the admin screens, and the API refuses them', async () => {
  for (const [acc, password, nav] of [
    [carol, NEW_PASSWORD, ['Queue']],
    [manager, TEST_PASSWORD, ['Queue', 'Knowledge base', 'Operators', 'Usage', 'Settings']],
  ] as const) {
    const page = await desktop();
    await signIn(page, acc, password);
    expect(await page.getByRole('navigation', { name: 'Screens' }).getByRole('link').allTextContents()).toEqual(nav);
    for (const path of ['/app/sso', '/app/exports', '/app/erasure']) {
      await page.goto(`${GATEWAY}${path}`);
      await page.getByRole('heading', { name: 'Your queue' }).waitFor();
      expect(new URL(page.url()).pathname).toBe('/app/queue');
    }
    const refused = await page.evaluate(async () => {
      const token = (JSON.parse(sessionStorage.getItem('hotdash.session')!) as { accessToken: string }).accessToken;
      const send = async (method: string, path: string, body?: unknown) =>
        (await fetch(path, { method, headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined })).status;
      return {
        sso: await send('GET', '/sso'),
        ssoPut: await send('PUT', '/sso', { issuer: 'https://idp.example.com', clientId: 'x', allowedDomains: ['example.com'] }),
        exports: await send('GET', '/exports'),
        exportStart: await send('POST', '/exports', { kind: 'tenant' }),
        erasure: await send('POST', '/privacy/erasures', { email: 'someone@customer.test' }),
      };
    });
    expect(refused).toEqual({ sso: 403, ssoPut: 403, exports: 403, exportStart: 403, erasure: 403 });
    await page.close();
  }
  expect((await call<{ exports: unknown[] }>('GET', '/exports', adminToken)).body.exports).toHaveLength(1);
});
