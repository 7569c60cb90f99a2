import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { parseTenantId } from '@hotdash/contracts';
import { KeyUnwrapFailedError, KmsConfigError, KmsUnknownKeyError } from './errors';
import { kmsContract } from './kms.contract';
import { DEV_MASTER_KEY_BASE64, DEV_MASTER_KEY_ID, KMS_MASTER_KEYS_ENV, LocalKms, parseMasterKeys } from './local-kms';

const tenantA = parseTenantId('0194f5a8-7c1e-7d2a-8b3c-4d5e6f708192');
const tenantB = parseTenantId('0194f5a8-7c1e-7d2a-8b3c-4d5e6f708193');
const master = (id: string) => ({ id, key: randomBytes(32) });
const entry = (m: { id: string; key: Buffer }) => `${m.id}:${m.key.toString('base64')}`;

describe('LocalKms', () => {
  it('wraps and unwraps a data key (round trip), with a fresh IV each time', async () => {
    const kms = new LocalKms([master('k1')]);
    const dataKey = randomBytes(32);
    const w1 = await kms.wrap(tenantA, dataKey);
    const w2 = await kms.wrap(tenantA, dataKey);
    expect(w1.kekId).toBe('k1');
    expect(w1.wrapped.equals(w2.wrapped)).toBe(false);
    expect(w1.wrapped.includes(dataKey)).toBe(false);
    expect((await kms.unwrap(tenantA, w1)).equals(dataKey)).toBe(true);
    expect((await kms.unwrap(tenantA, w2)).equals(dataKey)).toBe(true);
  });

  it('binds the tenant: a key wrapped for tenant A does not unwrap as tenant B', async () => {
    const kms = new LocalKms([master('k1')]);
    const wrapped = await kms.wrap(tenantA, randomBytes(32));
    await expect(kms.unwrap(tenantB, wrapped)).rejects.toBeInstanceOf(KeyUnwrapFailedError);
  });

  it('rejects a tampered or truncated wrapped key', async () => {
    const kms = new LocalKms([master('k1')]);
    const { kekId, wrapped } = await kms.wrap(tenantA, randomBytes(32));
    for (const i of [0, 5, 20, wrapped.length - 1]) {
      const bad = Buffer.from(wrapped);
      bad[i] = bad[i]! ^ 0x01;
      await expect(kms.unwrap(tenantA, { kekId, wrapped: bad })).rejects.toBeInstanceOf(KeyUnwrapFailedError);
    }
    await expect(kms.unwrap(tenantA, { kekId, wrapped: wrapped.subarray(0, 20) })).rejects.toBeInstanceOf(KeyUnwrapFailedError);
  });

  it('rotates: new keys use the first KEK, keys wrapped by an older KEK still unwrap', async () => {
    const k1 = master('k1');
    const k2 = master('k2');
    const before = new LocalKms([k1]);
    const dataKey = randomBytes(32);
    const old = await before.wrap(tenantA, dataKey);

    const after = new LocalKms([k2, k1]);
    expect(after.currentKekId).toBe('k2');
    expect(after.kekIds).toEqual(['k2', 'k1']);
    expect((await after.unwrap(tenantA, old)).equals(dataKey)).toBe(true);
    const fresh = await after.wrap(tenantA, dataKey);
    expect(fresh.kekId).toBe('k2');

    // Once k1 is retired, what it wrapped no longer unwraps, with an error that names the KEK.
    const retired = new LocalKms([k2]);
    await expect(retired.unwrap(tenantA, old)).rejects.toEqual(new KmsUnknownKeyError('k1'));
    expect((await retired.unwrap(tenantA, fresh)).equals(dataKey)).toBe(true);
  });

  it('a KEK id does not unlock a key wrapped by a different KEK of the same id', async () => {
    const a = new LocalKms([master('k1')]);
    const b = new LocalKms([master('k1')]);
    await expect(b.unwrap(tenantA, await a.wrap(tenantA, randomBytes(32)))).rejects.toBeInstanceOf(KeyUnwrapFailedError);
  });

  it('keeps master keys out of inspect() output', () => {
    const m = master('k1');
    const text = inspect(new LocalKms([m]), { depth: 10, showHidden: true });
    expect(text).not.toContain(m.key.toString('base64'));
    expect(text).not.toContain(m.key.toString('hex'));
  });
});

describe('master key configuration', () => {
  it('parses id:base64 entries, current first, ignoring spaces around them', () => {
    const k1 = master('k-2026.11');
    const k2 = master('k_old');
    const keys = parseMasterKeys(` ${entry(k1)} , ${entry(k2)} `);
    expect(keys.map((k) => k.id)).toEqual(['k-2026.11', 'k_old']);
    expect(keys[0]!.key.equals(k1.key)).toBe(true);
    expect(keys[1]!.key.equals(k2.key)).toBe(true);
  });

  it.each([
    ['no colon', () => randomBytes(32).toString('base64'), /entry 1 is not of the form id:base64key/],
    ['an empty id', () => `:${randomBytes(32).toString('base64')}`, /entry 1 has an invalid key id/],
    ['a bad id', () => `k 1:${randomBytes(32).toString('base64')}`, /entry 1 has an invalid key id/],
    ['bad base64', () => 'k1:not*base64!', /entry 1 \(id "k1"\): the key is not valid base64/],
    ['a key of 16 bytes', () => `k1:${randomBytes(16).toString('base64')}`, /the key must be 32 bytes, got 16/],
    ['a key of 33 bytes', () => `k1:${randomBytes(33).toString('base64')}`, /the key must be 32 bytes, got 33/],
    ['an empty key', () => 'k1:', /entry 1 \(id "k1"\): the key is not valid base64/],
    ['an empty entry', () => `k1:${randomBytes(32).toString('base64')},`, /entry 2 is not of the form/],
    ['a duplicate id', () => `k1:${randomBytes(32).toString('base64')},k1:${randomBytes(32).toString('base64')}`, /entry 2: key id "k1" appears twice/],
  ])('rejects %s with a clear error that does not echo the key', (_what, value, message) => {
    const raw = value();
    let error: unknown;
    try {
      parseMasterKeys(raw);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(KmsConfigError);
    expect((error as KmsConfigError).code).toBe('kms-config-invalid');
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message).toContain(KMS_MASTER_KEYS_ENV);
    for (const part of raw.split(/[,:]/)) if (part.length > 8) expect((error as Error).message).not.toContain(part);
  });

  it('fromEnv uses the configured keys', () => {
    const k1 = master('prod-1');
    const k0 = master('prod-0');
    const kms = LocalKms.fromEnv({ NODE_ENV: 'production', [KMS_MASTER_KEYS_ENV]: `${entry(k1)},${entry(k0)}` });
    expect(kms.currentKekId).toBe('prod-1');
    expect(kms.kekIds).toEqual(['prod-1', 'prod-0']);
  });

  it('fromEnv falls back to the documented development key outside production only', async () => {
    for (const env of [{}, { NODE_ENV: 'development' }, { NODE_ENV: 'test', [KMS_MASTER_KEYS_ENV]: ' ' }]) {
      const kms = LocalKms.fromEnv(env);
      expect(kms.currentKekId).toBe(DEV_MASTER_KEY_ID);
      const wrapped = await kms.wrap(tenantA, randomBytes(32));
      const same = new LocalKms([{ id: DEV_MASTER_KEY_ID, key: Buffer.from(DEV_MASTER_KEY_BASE64, 'base64') }]);
      await expect(same.unwrap(tenantA, wrapped)).resolves.toHaveLength(32);
    }
    expect(() => LocalKms.fromEnv({ NODE_ENV: 'production' })).toThrow(KmsConfigError);
    expect(() => LocalKms.fromEnv({ NODE_ENV: 'production', [KMS_MASTER_KEYS_ENV]: '' })).toThrow(/HOTDASH_KMS_MASTER_KEYS is not set; it is required in production/);
  });

  it('fromEnv refuses a malformed value even outside production', () => {
    expect(() => LocalKms.fromEnv({ NODE_ENV: 'development', [KMS_MASTER_KEYS_ENV]: 'k1:short' })).toThrow(KmsConfigError);
  });

  it('the constructor validates keys given directly', () => {
    expect(() => new LocalKms([])).toThrow(KmsConfigError);
    expect(() => new LocalKms([{ id: 'k1', key: randomBytes(31) }])).toThrow(/must be 32 bytes/);
    expect(() => new LocalKms([master('k1'), master('k1')])).toThrow(/appears twice/);
    expect(() => new LocalKms([master('k:1')])).toThrow(/invalid master key id/);
  });
});

describe('LocalKms keeps the KMS contract', () => {
  // Rotation as an operator does it: a new master key first, the older ones kept after it.
  const keys = [master('contract-1')];
  let kms = new LocalKms(keys);
  kmsContract({
    kms: () => kms,
    rotate: async () => {
      keys.unshift(master(`contract-${keys.length + 1}`));
      return (kms = new LocalKms(keys));
    },
    unknownKekId: () => 'contract-retired',
  });
});
