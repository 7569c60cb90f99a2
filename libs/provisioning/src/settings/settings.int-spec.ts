// The tenant settings API as the provisioning service serves it (TenantSettingsModule over HTTP,
// the gateway's internal tokens), against the real shards: roles (admins write, managers read,
// operators neither); a table of bad inputs, each a 400 problem+json with its stable code and
// nothing written; optimistic concurrency (two admins at the same version: one wins, the other 409);
// the model's API key write-only and encrypted at rest with the tenant's data key; the change and
// its events written in one transaction (same transaction time, and an outbox that fails takes the
// change with it); tenant B never reaching A's settings.
import { INestApplication, Module } from '@nestjs/common';
import { Envelope, SettingsProblems, TenantApprovalWorkflowsChangedV1, TenantEvents, TenantId, TenantSettingsChangedV1, TenantSettingsView } from '@hotdash/contracts';
import { FieldCipher } from '@hotdash/platform-crypto';
import { DatabaseModule, newId, TenantDatabase, TenantDirectory, type TenantTx } from '@hotdash/platform-db';
import { createHttpApp } from '@hotdash/platform-http';
import { createEgressUrlCheck, MODEL_API_KEY_FIELD } from '@hotdash/platform-models';
import { InternalCaller } from '@hotdash/platform-auth';
import { internalAuthorization, tenantUser, TestWorld } from '@hotdash/testing';
import { DEFAULT_WORKFLOWS } from '../saga/provisioning.saga';
import { UpdateSettingsCommand } from '../use-cases/update-settings/update-settings.command';
import { UpdateSettingsHandler } from '../use-cases/update-settings/update-settings.handler';
import { TenantSettingsModule } from './settings.module';
import { TenantSettingsRepository } from './tenant-settings.repository';

jest.setTimeout(60_000);

/** The only plain-http endpoint the egress policy allows in this spec (nothing listens there: settings are only stored). */
const ALLOWED_HTTP = 'http://127.0.0.1:4987';

@Module({ imports: [DatabaseModule.forRoot(), TenantSettingsModule.register({ egress: { allow: ALLOWED_HTTP } })] })
class TestAppModule {}

const world = new TestWorld();
let app: INestApplication;
let base: string;
let cipher: FieldCipher;
let a: TenantId;
let b: TenantId;

const call = async <T = Record<string, unknown>>(method: string, t: TenantId, caller: InternalCaller, body?: unknown): Promise<{ status: number; type: string; body: T }> => {
  const res = await fetch(`${base}/tenants/${t}/settings`, {
    method,
    headers: { authorization: await internalAuthorization('provisioning', caller), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, type: res.headers.get('content-type') ?? '', body: (text ? JSON.parse(text) : undefined) as T };
};
const get = (t: TenantId, role: 'admin' | 'manager' | 'team_lead' | 'operator' = 'admin') => call<TenantSettingsView>('GET', t, tenantUser(t, role));
const put = (t: TenantId, body: unknown, caller: InternalCaller = tenantUser(t, 'admin')) => call<TenantSettingsView & { code?: string; detail?: string }>('PUT', t, caller, body);

/** A tenant with its data key and its settings as the provisioning saga leaves them (version 1). */
async function provisionedTenant(name: string): Promise<TenantId> {
  const t = (await world.createTenant(name)).id;
  await world.createKey(t);
  await world.tenantDb.withTenant(t, async (tx) => {
    await tx.db.insertInto('tenant_settings').values({ tenant_id: t, company_name: name, brand_voice: `Speak as ${name}.`, policies: '', sla: JSON.stringify({ firstResponseMinutes: 240 }) }).execute();
    for (const w of DEFAULT_WORKFLOWS)
      await tx.db.insertInto('approval_workflows').values({ id: newId(), tenant_id: t, key: w.key, name: w.name, approver_roles: w.approverRoles, sla_minutes: w.slaMinutes, is_default: w.isDefault }).execute();
    await tx.db.insertInto('model_configs').values({ tenant_id: t, mode: 'platform', provider: 'platform', model: 'platform-default' }).execute();
  });
  return t;
}

/** The tenant's settings rows and settings events, as they are stored. */
async function stored(t: TenantId) {
  return world.tenantDb.withTenant(t, async (tx) => ({
    settings: await tx.db.selectFrom('tenant_settings').selectAll().execute(),
    workflows: await tx.db.selectFrom('approval_workflows').selectAll().orderBy('key').execute(),
    model: await tx.db.selectFrom('model_configs').selectAll().execute(),
    events: await tx.db
      .selectFrom('outbox')
      .select(['id', 'type', 'envelope', 'created_at'])
      .where('type', 'in', [TenantEvents.SETTINGS_CHANGED, TenantEvents.APPROVAL_WORKFLOWS_CHANGED])
      .orderBy('seq')
      .execute(),
  }));
}

/** A valid body from what GET answered: the settings as they are, with `change` applied. */
function bodyFrom(view: TenantSettingsView, change: Record<string, unknown> = {}): Record<string, unknown> {
  const { updatedAt: _updatedAt, model, ...rest } = view;
  const m = model.mode === 'own' ? { mode: 'own', baseUrl: model.baseUrl, model: model.model, temperature: model.temperature, maxTokens: model.maxTokens } : { mode: 'platform' };
  return { ...rest, model: m, ...change };
}

beforeAll(async () => {
  app = await createHttpApp(TestAppModule, { logger: false, bodyLimit: '1mb' });
  await app.listen(0, '127.0.0.1');
  base = `http://127.0.0.1:${app.getHttpServer().address().port}`;
  cipher = app.get(FieldCipher);
  a = await provisionedTenant('Settings Alpha');
  b = await provisionedTenant('Settings Bravo');
});

afterAll(async () => {
  await app?.close();
  await world.close();
});

it('answers the settings as provisioning left them to admins and managers, and refuses team leads and operators', async () => {
  const r = await get(a);
  expect(r.status).toBe(200);
  expect(r.body).toMatchObject({
    version: 1,
    companyName: 'Settings Alpha',
    brandVoice: 'Speak as Settings Alpha.',
    policies: [],
    model: { mode: 'platform' },
    approvalWorkflows: [
      { key: 'general', isDefault: true, sla: { firstDecisionMinutes: 240, escalateToTeamLead: false } },
      { key: 'escalations', isDefault: false, sla: { firstDecisionMinutes: 60, escalateToTeamLead: false } },
    ],
  });
  expect((await get(a, 'manager')).status).toBe(200);
  for (const role of ['team_lead', 'operator'] as const) expect([role, (await get(a, role)).status]).toEqual([role, 403]);
  const manager = await put(a, bodyFrom(r.body, { brandVoice: 'a manager’s voice' }), tenantUser(a, 'manager'));
  expect([manager.status, manager.body.code]).toEqual([403, 'forbidden']);
  expect((await get(a)).body.brandVoice).toBe('Speak as Settings Alpha.');
});

describe('bad input: a 400 problem+json with a stable code, nothing written', () => {
  const long = (n: number) => 'x'.repeat(n);
  const cases: [string, string, (v: Record<string, unknown>) => unknown][] = [
    ['an array instead of an object', 'invalid-body', () => '[]'],
    ['no version', SettingsProblems.INVALID_VERSION, (v) => ({ ...v, version: undefined })],
    ['a negative version', SettingsProblems.INVALID_VERSION, (v) => ({ ...v, version: -1 })],
    ['a version as text', SettingsProblems.INVALID_VERSION, (v) => ({ ...v, version: '1' })],
    ['an unknown field', 'unknown-field', (v) => ({ ...v, tenantName: 'x' })],
    ['an empty company name', SettingsProblems.INVALID_COMPANY_NAME, (v) => ({ ...v, companyName: '   ' })],
    ['a company name on two lines', SettingsProblems.INVALID_COMPANY_NAME, (v) => ({ ...v, companyName: 'Acme\nEvil' })],
    ['a brand voice too long', SettingsProblems.INVALID_BRAND_VOICE, (v) => ({ ...v, brandVoice: long(2_001) })],
    ['a NUL character', 'validation-failed', (v) => ({ ...v, brandVoice: 'a\u0000b' })],
    ['251 policies', SettingsProblems.INVALID_POLICIES, (v) => ({ ...v, policies: Array.from({ length: 251 }, (_, i) => `Rule ${i}`) })],
    ['an empty policy', SettingsProblems.INVALID_POLICIES, (v) => ({ ...v, policies: ['Be kind.', '   '] })],
    ['a policy of 501 characters', SettingsProblems.INVALID_POLICIES, (v) => ({ ...v, policies: [long(501)] })],
    ['a policy on two lines', SettingsProblems.INVALID_POLICIES, (v) => ({ ...v, policies: ['Never promise\na date.'] })],
    ['policies as text', SettingsProblems.INVALID_POLICIES, (v) => ({ ...v, policies: 'Be kind.' })],
    ['no workflow', SettingsProblems.INVALID_APPROVAL_WORKFLOWS, (v) => ({ ...v, approvalWorkflows: [] })],
    ['two default workflows', SettingsProblems.INVALID_APPROVAL_WORKFLOWS, (v) => ({ ...v, approvalWorkflows: (v.approvalWorkflows as object[]).map((w) => ({ ...w, isDefault: true })) })],
    ['duplicate workflow keys', SettingsProblems.INVALID_APPROVAL_WORKFLOWS, (v) => ({ ...v, approvalWorkflows: (v.approvalWorkflows as object[]).map((w) => ({ ...w, key: 'general' })) })],
    ['an unknown approver role', SettingsProblems.INVALID_APPROVAL_WORKFLOWS, (v) => ({ ...v, approvalWorkflows: [{ ...(v.approvalWorkflows as object[])[0]!, approverRoles: ['owner'] }] })],
    ['an SLA of 0 minutes', SettingsProblems.INVALID_SLA, (v) => ({ ...v, approvalWorkflows: [{ ...(v.approvalWorkflows as object[])[0]!, sla: { firstDecisionMinutes: 0, escalateToTeamLead: true } }] })],
    ['an SLA over 30 days', SettingsProblems.INVALID_SLA, (v) => ({ ...v, approvalWorkflows: [{ ...(v.approvalWorkflows as object[])[0]!, sla: { firstDecisionMinutes: 43_201, escalateToTeamLead: true } }] })],
    ['an escalation that is not a boolean', SettingsProblems.INVALID_SLA, (v) => ({ ...v, approvalWorkflows: [{ ...(v.approvalWorkflows as object[])[0]!, sla: { firstDecisionMinutes: 30, escalateToTeamLead: 'yes' } }] })],
    ['an unknown model mode', SettingsProblems.INVALID_MODEL, (v) => ({ ...v, model: { mode: 'gpt' } })],
    ['an own model without a name', SettingsProblems.INVALID_MODEL, (v) => ({ ...v, model: { mode: 'own', baseUrl: 'https://models.example.com/v1', apiKey: 'sk-valid-key' } })],
    ['a temperature of 3', SettingsProblems.INVALID_MODEL, (v) => ({ ...v, model: { mode: 'own', baseUrl: 'https://models.example.com/v1', model: 'm', apiKey: 'sk-valid-key', temperature: 3 } })],
    ['maxTokens of 0', SettingsProblems.INVALID_MODEL, (v) => ({ ...v, model: { mode: 'own', baseUrl: 'https://models.example.com/v1', model: 'm', apiKey: 'sk-valid-key', maxTokens: 0 } })],
    ['a key on the platform model', 'unknown-field', (v) => ({ ...v, model: { mode: 'platform', apiKey: 'sk-valid-key' } })],
    ['an ftp endpoint', SettingsProblems.INVALID_MODEL_ENDPOINT, (v) => ({ ...v, model: { mode: 'own', baseUrl: 'ftp://models.example.com/v1', model: 'm', apiKey: 'sk-valid-key' } })],
    ['a plain-http endpoint not allow-listed', SettingsProblems.INVALID_MODEL_ENDPOINT, (v) => ({ ...v, model: { mode: 'own', baseUrl: 'http://models.example.com/v1', model: 'm', apiKey: 'sk-valid-key' } })],
    ['credentials in the endpoint URL', SettingsProblems.INVALID_MODEL_ENDPOINT, (v) => ({ ...v, model: { mode: 'own', baseUrl: 'https://user:pw@models.example.com/v1', model: 'm', apiKey: 'sk-valid-key' } })],
    ['a private endpoint', SettingsProblems.INVALID_MODEL_ENDPOINT, (v) => ({ ...v, model: { mode: 'own', baseUrl: 'https://10.1.2.3/v1', model: 'm', apiKey: 'sk-valid-key' } })],
    ['the cloud metadata address', SettingsProblems.INVALID_MODEL_ENDPOINT, (v) => ({ ...v, model: { mode: 'own', baseUrl: 'https://169.254.169.254/latest', model: 'm', apiKey: 'sk-valid-key' } })],
    ['a loopback endpoint on another port', SettingsProblems.INVALID_MODEL_ENDPOINT, (v) => ({ ...v, model: { mode: 'own', baseUrl: 'https://127.0.0.1:4988/v1', model: 'm', apiKey: 'sk-valid-key' } })],
    ['a key too short', SettingsProblems.INVALID_MODEL_API_KEY, (v) => ({ ...v, model: { mode: 'own', baseUrl: 'https://models.example.com/v1', model: 'm', apiKey: 'short' } })],
    ['a key with spaces', SettingsProblems.INVALID_MODEL_API_KEY, (v) => ({ ...v, model: { mode: 'own', baseUrl: 'https://models.example.com/v1', model: 'm', apiKey: 'sk with spaces' } })],
    ['an own model without any key', SettingsProblems.MODEL_API_KEY_REQUIRED, (v) => ({ ...v, model: { mode: 'own', baseUrl: 'https://models.example.com/v1', model: 'm' } })],
  ];

  it.each(cases)('%s → %s', async (_what, code, make) => {
    const view = (await get(a)).body;
    const before = await stored(a);
    const body = make(bodyFrom(view, { brandVoice: 'changed by a bad request' }));
    const r = await put(a, body);
    expect([r.status, r.type.split(';')[0], r.body.code]).toEqual([400, 'application/problem+json', code]);
    expect(await stored(a)).toEqual(before);
  });
});

it('writes a change and its events in one transaction; the key encrypted with the tenant’s data key, never answered', async () => {
  const view = (await get(a)).body;
  const apiKey = `sk-alpha-${newId()}`;
  const workflows = [
    { key: 'general', name: 'Everything', approverRoles: ['team_lead', 'admin'], isDefault: true, sla: { firstDecisionMinutes: 30, escalateToTeamLead: true } },
    { key: 'vip', name: 'VIP customers', approverRoles: ['manager'], isDefault: false, sla: { firstDecisionMinutes: 10, escalateToTeamLead: false } },
  ];
  const r = await put(
    a,
    bodyFrom(view, {
      companyName: '  Alpha Outfitters ',
      brandVoice: 'Warm, brief, no jargon.',
      policies: ['  Never promise a delivery date.  ', 'Refunds within 30 days.'],
      approvalWorkflows: workflows,
      model: { mode: 'own', baseUrl: `${ALLOWED_HTTP}/v1`, model: 'gpt-alpha', apiKey, temperature: 0.2, maxTokens: 600 },
    }),
  );
  expect(r.status).toBe(200);
  expect(r.body).toEqual({
    version: 2,
    companyName: 'Alpha Outfitters',
    brandVoice: 'Warm, brief, no jargon.',
    policies: ['Never promise a delivery date.', 'Refunds within 30 days.'],
    approvalWorkflows: workflows,
    model: { mode: 'own', baseUrl: `${ALLOWED_HTTP}/v1`, model: 'gpt-alpha', temperature: 0.2, maxTokens: 600, apiKeySet: true },
    updatedAt: expect.any(String),
  });
  expect(JSON.stringify(r.body)).not.toContain(apiKey);
  expect((await get(a, 'manager')).body).toEqual(r.body);

  const s = await stored(a);
  // At rest: a FieldCipher token under A's data key, not the key; it opens only as A's model_configs.api_key.
  const keyEnc = s.model[0]!.api_key_enc!;
  expect(keyEnc).not.toContain(apiKey);
  expect(keyEnc).not.toContain(Buffer.from(apiKey).toString('base64'));
  expect(await cipher.decrypt(a, MODEL_API_KEY_FIELD, keyEnc)).toBe(apiKey);
  await expect(cipher.decrypt(b, MODEL_API_KEY_FIELD, keyEnc)).rejects.toThrow();
  expect(s.workflows.map((w) => [w.key, w.sla_minutes, w.escalate_to_team_lead])).toEqual([
    ['general', 30, true],
    ['vip', 10, false],
  ]);
  // Both events, the complete profile under the new version, the key only as the same token.
  const [changed, workflowsChanged] = s.events as { type: string; envelope: Envelope; created_at: Date }[];
  expect([changed!.type, workflowsChanged!.type]).toEqual([TenantEvents.SETTINGS_CHANGED, TenantEvents.APPROVAL_WORKFLOWS_CHANGED]);
  expect(changed!.envelope.payload as TenantSettingsChangedV1).toEqual({
    tenantId: a,
    version: 2,
    changedAt: r.body.updatedAt,
    by: expect.stringMatching(/^user:/),
    companyName: 'Alpha Outfitters',
    brandVoice: 'Warm, brief, no jargon.',
    policies: ['Never promise a delivery date.', 'Refunds within 30 days.'],
    model: { mode: 'own', provider: 'openai', model: 'gpt-alpha', baseUrl: `${ALLOWED_HTTP}/v1`, apiKeyEnc: keyEnc, temperature: 0.2, maxTokens: 600 },
  });
  expect((workflowsChanged!.envelope.payload as TenantApprovalWorkflowsChangedV1).workflows).toEqual(workflows);
  expect(JSON.stringify(s.events)).not.toContain(apiKey);
  // One transaction: now() is the transaction's start time, the same for the row and both outbox rows.
  expect(changed!.created_at.getTime()).toBe(s.settings[0]!.updated_at.getTime());
  expect(workflowsChanged!.created_at.getTime()).toBe(s.settings[0]!.updated_at.getTime());

  // The key stays for the same endpoint when left out; a new endpoint needs it again (nothing written).
  const kept = await put(a, bodyFrom(r.body, { brandVoice: 'Warm and brief.' }));
  expect([kept.status, kept.body.version, kept.body.model]).toEqual([200, 3, r.body.model]);
  expect((await stored(a)).model[0]!.api_key_enc).toBe(keyEnc);
  const before = await stored(a);
  const moved = await put(a, bodyFrom(kept.body, { model: { mode: 'own', baseUrl: 'https://models.example.com/v1', model: 'gpt-alpha' } }));
  expect([moved.status, moved.body.code]).toEqual([400, SettingsProblems.MODEL_API_KEY_REQUIRED]);
  expect(await stored(a)).toEqual(before);
  // The same settings again change nothing: no version, no event.
  const same = await put(a, bodyFrom(kept.body));
  expect([same.status, same.body.version]).toEqual([200, 3]);
  expect(await stored(a)).toEqual(before);
});

it('refuses a change made at a stale version with 409: two admins at once, one wins, the other is told', async () => {
  const view = (await get(a)).body;
  const [x, y] = await Promise.all([put(a, bodyFrom(view, { brandVoice: 'Voice of admin X' })), put(a, bodyFrom(view, { brandVoice: 'Voice of admin Y' }))]);
  const statuses = [x.status, y.status].sort();
  expect(statuses).toEqual([200, 409]);
  const [won, lost] = x.status === 200 ? [x, y] : [y, x];
  expect(lost.body.code).toBe(SettingsProblems.VERSION_CONFLICT);
  expect(won.body.version).toBe(view.version + 1);
  const now = (await get(a)).body;
  expect([now.version, now.brandVoice]).toEqual([view.version + 1, won.body.brandVoice]);
  // A retry at the old version is still stale; exactly one event for the new version.
  const stale = await put(a, bodyFrom(view, { brandVoice: 'Late voice' }));
  expect([stale.status, stale.body.code]).toEqual([409, SettingsProblems.VERSION_CONFLICT]);
  const events = (await stored(a)).events.filter((e) => (e.envelope as Envelope).payload && ((e.envelope as Envelope).payload as { version: number }).version === view.version + 1);
  expect(events.map((e) => e.type)).toEqual([TenantEvents.SETTINGS_CHANGED]);
});

it('writes nothing when its event cannot be written: the change and the event are one transaction', async () => {
  const view = (await get(a)).body;
  const before = await stored(a);
  // The outbox insert fails, after the settings were written in the same transaction.
  const noOutbox = (tx: TenantTx): TenantTx =>
    new Proxy(tx, {
      get(target, p) {
        if (p !== 'db') return Reflect.get(target, p) as unknown;
        return new Proxy(target.db, {
          get(db, q) {
            if (q === 'insertInto')
              return (table: string) => {
                if (table === 'outbox') throw new Error('the outbox refused the event');
                return db.insertInto(table as 'tenant_settings');
              };
            const v = Reflect.get(db, q) as unknown;
            return typeof v === 'function' ? (v as (...args: unknown[]) => unknown).bind(db) : v;
          },
        });
      },
    });
  const failing = { withTenant: <T>(t: TenantId, fn: (tx: TenantTx) => Promise<T>) => world.tenantDb.withTenant(t, (tx) => fn(noOutbox(tx))) } as unknown as TenantDatabase;
  const handler = new UpdateSettingsHandler(failing, app.get(TenantDirectory), cipher, new TenantSettingsRepository(), createEgressUrlCheck({ allow: ALLOWED_HTTP }));
  const cmd = UpdateSettingsCommand.create(a, bodyFrom(view, { brandVoice: 'Written without its event?' }), 'user:spec', newId());
  await expect(handler.execute(cmd)).rejects.toThrow('the outbox refused the event');
  expect(await stored(a)).toEqual(before);
});

it('switches back to the platform model: the stored key is dropped, the event carries none', async () => {
  const view = (await get(a)).body;
  const r = await put(a, bodyFrom(view, { model: { mode: 'platform' } }));
  expect([r.status, r.body.model]).toEqual([200, { mode: 'platform' }]);
  const s = await stored(a);
  expect(s.model[0]).toMatchObject({ mode: 'platform', api_key_enc: null, base_url: null });
  expect((s.events.at(-1)!.envelope as Envelope<'tenant.settings-changed', TenantSettingsChangedV1>).payload.model).toEqual({
    mode: 'platform',
    provider: 'platform',
    model: 'platform-default',
    baseUrl: null,
    apiKeyEnc: null,
    temperature: null,
    maxTokens: null,
  });
});

it('keeps tenants apart: B cannot read or change A’s settings, and A’s changes never touch B’s', async () => {
  const bBefore = await stored(b);
  const aBefore = await stored(a);
  const asB = tenantUser(b, 'admin');
  const read = await call('GET', a, asB);
  expect([read.status, read.body.code]).toEqual([403, 'tenant_mismatch']);
  const write = await put(a, bodyFrom((await get(a)).body, { brandVoice: 'B was here' }), asB);
  expect([write.status, write.body.code]).toEqual([403, 'tenant_mismatch']);
  expect(await stored(a)).toEqual(aBefore);
  const own = (await get(b)).body;
  expect(own).toMatchObject({ version: 1, companyName: 'Settings Bravo', brandVoice: 'Speak as Settings Bravo.', model: { mode: 'platform' } });
  expect(await stored(b)).toEqual(bBefore);
});

it('serves a tenant whose settings were never written at version 0 (its name, the defaults) and creates them on the first change', async () => {
  const t = (await world.createTenant('Settings Charlie')).id;
  await world.createKey(t);
  const view = (await get(t)).body;
  expect(view).toMatchObject({ version: 0, companyName: 'Settings Charlie', brandVoice: '', policies: [], model: { mode: 'platform' }, updatedAt: null });
  expect(view.approvalWorkflows.map((w) => w.key)).toEqual(['general', 'escalations']);
  const r = await put(t, bodyFrom(view, { policies: ['Always greet by name.'] }));
  expect([r.status, r.body.version, r.body.policies]).toEqual([200, 1, ['Always greet by name.']]);
  const s = await stored(t);
  expect(s.settings).toHaveLength(1);
  expect(s.events.map((e) => [e.type, ((e.envelope as Envelope).payload as { version: number }).version])).toEqual([[TenantEvents.SETTINGS_CHANGED, 1]]);
});

it('refuses changes of a suspended tenant (423), still answering reads', async () => {
  const t = await provisionedTenant('Settings Delta');
  const view = (await get(t)).body;
  await world.dbs.control().tenant.update({ where: { id: t }, data: { status: 'suspended' } });
  const r = await put(t, bodyFrom(view, { brandVoice: 'while suspended' }));
  expect([r.status, r.body.code]).toEqual([423, 'tenant-suspended']);
  expect((await get(t)).body.brandVoice).toBe('Speak as Settings Delta.');
});
