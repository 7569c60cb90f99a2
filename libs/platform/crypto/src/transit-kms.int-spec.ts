// TransitKms against the local Vault's transit engine (deploy/local/vault.sh up: it reads the root
// token that script keeps in $HOTDASH_STATE/vault). The KMS contract, what the server refuses and
// how each refusal reaches the platform, a KEK rotation of real tenant keys (rewrapBatch) after the
// transit key is rotated, the move of keys wrapped by LocalKms onto the transit key, and the
// services' token deploy/local made. Each run works on transit keys of its own (spec-<run>…),
// shreds the tenant data keys it made and deletes those transit keys at the end.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { readSetting } from '@hotdash/platform-config';
import { parseTenantId, type TenantId } from '@hotdash/contracts';
import { TestWorld, waitFor } from '@hotdash/testing';
import { kmsFromEnv } from './crypto.providers';
import { KeyUnwrapFailedError, KmsConfigError, KmsUnavailableError, KmsUnknownKeyError } from './errors';
import { FieldCipher } from './field-cipher';
import { KekNotConfiguredError, rewrapBatch } from './kek-rotation';
import { kmsContract } from './kms.contract';
import { LocalKms } from './local-kms';
import { TenantKeyring } from './tenant-keyring';
import { TransitKms, type TransitKmsOptions } from './transit-kms';

const ROOT = join(__dirname, '..', '..', '..', '..');
const VAULT_DIR = join(process.env.HOTDASH_STATE || join(ROOT, '.local'), 'vault');
const URL = readSetting('HOTDASH_KMS_TRANSIT_URL');
const run = randomBytes(5).toString('hex');
const KEY = `spec-${run}`;
const PLAIN_KEY = `spec-${run}-plain`;
const created: string[] = [];

function secret(name: string): string {
  try {
    return readFileSync(join(VAULT_DIR, name), 'utf8').trim();
  } catch {
    throw new Error(`no ${join(VAULT_DIR, name)}: start the local Vault first (deploy/local/vault.sh up)`);
  }
}
const rootToken = secret('root-token');

/** The transit API with the root token (what an operator does). */
async function admin(method: string, path: string, body?: object, token = rootToken): Promise<{ status: number; data: Record<string, unknown> }> {
  const res = await fetch(`${URL}/v1/transit/${path}`, { method, headers: { 'X-Vault-Token': token, 'Content-Type': 'application/json' }, body: body ? JSON.stringify(body) : undefined });
  const text = await res.text();
  return { status: res.status, data: text ? ((JSON.parse(text) as { data?: Record<string, unknown> }).data ?? {}) : {} };
}
async function createKey(name: string, derived = true): Promise<void> {
  const r = await admin('POST', `keys/${name}`, { type: 'aes256-gcm96', derived });
  expect(r.status).toBeLessThan(300);
  created.push(name);
}
async function rotateKey(name = KEY): Promise<void> {
  expect((await admin('POST', `keys/${name}/rotate`)).status).toBeLessThan(300);
}
const connect = (options: Partial<TransitKmsOptions> = {}) => TransitKms.connect({ url: URL, token: rootToken, key: KEY, ...options });

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

const world = new TestWorld({ poolSize: 2 });
const tenants: TenantId[] = [];
let kms: TransitKms;

beforeAll(async () => {
  await createKey(KEY);
  kms = await connect();
});

afterAll(async () => {
  // No live data key may stay wrapped under a transit key that is about to go.
  const shredder = new TenantKeyring(world.dbs, kms);
  for (const t of tenants) await shredder.destroyKey(t);
  for (const name of created) {
    await admin('POST', `keys/${name}/config`, { deletion_allowed: true });
    await admin('DELETE', `keys/${name}`);
  }
  await world.close();
});

describe('TransitKms keeps the KMS contract', () => {
  kmsContract({
    kms: () => kms,
    rotate: async () => {
      await rotateKey();
      await kms.refresh();
      return kms;
    },
    unknownKekId: () => `transit:${KEY}:v99`,
  });
});

describe('TransitKms', () => {
  it('names its KEKs transit:<key>:v<version> and follows a rotation made elsewhere (refresh, or in the background after refreshMs)', async () => {
    const latest = async () => Number((await admin('GET', `keys/${KEY}`)).data.latest_version);
    const v = await latest();
    expect(kms.currentKekId).toBe(`transit:${KEY}:v${v}`);
    const other = await connect();
    const eager = await connect({ refreshMs: 0 });
    await rotateKey();
    expect(other.currentKekId).toBe(`transit:${KEY}:v${v}`); // within its refresh interval: as last read
    await other.refresh();
    expect(other.currentKekId).toBe(`transit:${KEY}:v${v + 1}`);
    await waitFor('the background refresh', async () => eager.currentKekId === `transit:${KEY}:v${v + 1}`);
    // What currentKekId says is what a wrap uses.
    expect((await other.wrap(tenantOf(0), randomBytes(32))).kekId).toBe(other.currentKekId);
    await kms.refresh();
  });

  it('refuses to start on a key it cannot use, a token the server refuses, or a server it cannot reach', async () => {
    await createKey(PLAIN_KEY, false);
    await expect(connect({ key: PLAIN_KEY })).rejects.toThrow(new KmsConfigError(`the transit key "${PLAIN_KEY}" is not derived: TransitKms binds the tenant as its derivation context (create it with derived=true)`));
    await expect(connect({ key: `spec-${run}-missing` })).rejects.toThrow(/^the transit key "spec-\w+-missing" does not exist at the transit KMS at http/);
    await expect(connect({ key: `spec-${run}-missing` })).rejects.toBeInstanceOf(KmsConfigError);
    const denied = await connect({ token: 'hvs.not-a-token' }).catch((e: unknown) => e);
    expect(denied).toBeInstanceOf(KmsConfigError);
    expect((denied as Error).message).toMatch(/refused to read the key with the key "spec-\w+" \(403: .*permission denied.*\): check HOTDASH_KMS_TRANSIT_TOKEN/);
    const port = await freePort();
    const down = await connect({ url: `http://127.0.0.1:${port}` }).catch((e: unknown) => e);
    expect(down).toBeInstanceOf(KmsUnavailableError);
    expect((down as Error).message).toBe(`the transit KMS at http://127.0.0.1:${port} could not be reached (ECONNREFUSED)`);
    expect((down as KmsUnavailableError).code).toBe('kms-unavailable');
  });

  it('is what HOTDASH_KMS=transit picks; without a token it does not start; LocalKms stays the default', async () => {
    const env = { HOTDASH_KMS: 'transit', HOTDASH_KMS_TRANSIT_URL: URL, HOTDASH_KMS_TRANSIT_TOKEN: rootToken, HOTDASH_KMS_TRANSIT_KEY: KEY };
    const picked = await kmsFromEnv(env);
    expect(picked).toBeInstanceOf(TransitKms);
    expect(picked.currentKekId).toBe(kms.currentKekId);
    await expect(kmsFromEnv({ ...env, HOTDASH_KMS_TRANSIT_TOKEN: '' })).rejects.toThrow(/^HOTDASH_KMS_TRANSIT_TOKEN is not set; HOTDASH_KMS=transit needs a token/);
    expect(await kmsFromEnv({})).toBeInstanceOf(LocalKms);
    expect(await kmsFromEnv({ HOTDASH_KMS: 'local' })).toBeInstanceOf(LocalKms);
  });

  it('a KEK rotation re-wraps the tenants’ data keys to the new version on the server; the old version can then be retired', async () => {
    const keyring = new TenantKeyring(world.dbs, kms);
    const cipher = new FieldCipher(keyring);
    const mine = await Promise.all([0, 1, 2].map(() => world.createTenant()));
    tenants.push(...mine.map((t) => t.id));
    const tokens = new Map<TenantId, string>();
    for (const t of mine) {
      await world.dbs.withControl((tx) => keyring.createKey(tx, t.id));
      tokens.set(t.id, await cipher.encrypt(t.id, 'customer.email', `ada+${t.id}@example.com`));
    }
    const from = kms.currentKekId;
    const spare = await kms.wrap(mine[0]!.id, randomBytes(32)); // a wrapped key no rotation will see
    await rotateKey();
    await kms.refresh();
    const to = kms.currentKekId;
    expect(to).not.toBe(from);

    const done: Record<string, number> = {};
    for (;;) {
      const batch = await world.dbs.withControl((tx) => rewrapBatch(tx, kms, { toKekId: to, fromKekId: from }, 2));
      if (Object.keys(batch).length === 0) break;
      for (const [k, n] of Object.entries(batch)) done[k] = (done[k] ?? 0) + n;
    }
    expect(done).toEqual({ [from]: 3 });
    const rows = await world.dbs.controlDb().selectFrom('tenant_keys').select(['tenant_id', 'kek_id']).where('tenant_id', 'in', mine.map((t) => t.id)).execute();
    expect(rows.map((r) => r.kek_id)).toEqual([to, to, to]);

    // Retire every older version: the keys still decrypt (they really are under the new one), what
    // was left under the old one is a KEK this KMS no longer holds.
    const version = Number(/:v(\d+)$/.exec(to)![1]);
    expect((await admin('POST', `keys/${KEY}/config`, { min_decryption_version: version })).status).toBeLessThan(300);
    const fresh = new FieldCipher(new TenantKeyring(world.dbs, kms));
    for (const t of mine) expect(await fresh.decrypt(t.id, 'customer.email', tokens.get(t.id)!)).toBe(`ada+${t.id}@example.com`);
    await expect(kms.unwrap(mine[0]!.id, spare)).rejects.toBeInstanceOf(KmsUnknownKeyError);
    await expect(kms.rewrap(mine[0]!.id, spare)).rejects.toBeInstanceOf(KmsUnknownKeyError);
    // A live key under a retired version stops a rotation, naming it.
    await world.dbs.controlDb().updateTable('tenant_keys').set({ kek_id: spare.kekId, wrapped_key: spare.wrapped }).where('tenant_id', '=', mine[0]!.id).execute();
    await expect(world.dbs.withControl((tx) => rewrapBatch(tx, kms, { toKekId: to, fromKekId: from }, 2))).rejects.toBeInstanceOf(KekNotConfiguredError);
  });

  it('moves keys LocalKms wrapped onto the transit key: they unwrap through `legacy` until a rotation has re-wrapped them', async () => {
    const local = new LocalKms([{ id: `spec-local-${run}`, key: randomBytes(32) }]);
    const before = new TenantKeyring(world.dbs, local);
    const t = await world.createTenant();
    tenants.push(t.id);
    await world.dbs.withControl((tx) => before.createKey(tx, t.id));
    const token = await new FieldCipher(before).encrypt(t.id, 'note', 'written before the switch');

    await expect(new FieldCipher(new TenantKeyring(world.dbs, kms)).decrypt(t.id, 'note', token)).rejects.toBeInstanceOf(KmsUnknownKeyError);
    const bridged = await connect({ legacy: local });
    expect(await new FieldCipher(new TenantKeyring(world.dbs, bridged)).decrypt(t.id, 'note', token)).toBe('written before the switch');
    // Another tenant's row holding this key still does not unwrap through the bridge.
    const row = await world.dbs.controlDb().selectFrom('tenant_keys').select(['kek_id', 'wrapped_key']).where('tenant_id', '=', t.id).executeTakeFirstOrThrow();
    await expect(bridged.unwrap(tenantOf(1), { kekId: row.kek_id, wrapped: Buffer.from(row.wrapped_key!) })).rejects.toBeInstanceOf(KeyUnwrapFailedError);

    const moved = await world.dbs.withControl((tx) => rewrapBatch(tx, bridged, { toKekId: bridged.currentKekId, fromKekId: local.currentKekId }, 10));
    expect(moved).toEqual({ [local.currentKekId]: 1 });
    // Now readable with the transit key alone.
    expect(await new FieldCipher(new TenantKeyring(world.dbs, kms)).decrypt(t.id, 'note', token)).toBe('written before the switch');
  });

  it('deploy/local’s services token wraps and unwraps with the platform key, and cannot rotate it', async () => {
    const platformKey = readSetting('HOTDASH_KMS_TRANSIT_KEY');
    const token = secret('platform-token');
    const services = await connect({ token, key: platformKey });
    const dataKey = randomBytes(32);
    const wrapped = await services.wrap(tenantOf(0), dataKey);
    expect((await services.unwrap(tenantOf(0), wrapped)).equals(dataKey)).toBe(true);
    expect((await admin('POST', `keys/${platformKey}/rotate`, undefined, token)).status).toBe(403);
    expect((await admin('POST', `encrypt/${KEY}`, { plaintext: dataKey.toString('base64'), context: 'eA==' }, token)).status).toBe(403);
  });
});

/** Tenant ids with no tenant row (the KMS alone does not need one). */
function tenantOf(i: number): TenantId {
  return parseTenantId(['0194f5a8-7c1e-7d2a-8b3c-4d5e6f708192', '0194f5a8-7c1e-7d2a-8b3c-4d5e6f708193'][i]!);
}
