// Field encryption against the real control plane: per-tenant data keys in tenant_keys, wrapped by
// the KMS with the tenant bound; isolation between tenants and fields; crypto-shredding; KEK rotation.
import { createSecretKey, randomBytes } from 'node:crypto';
import type { TenantId } from '@hotdash/contracts';
import { TestWorld, WorldTenant } from '@hotdash/testing';
import { DecryptionFailedError, KeyUnwrapFailedError, KmsUnknownKeyError, TenantKeyDestroyedError, TenantKeyMissingError } from './errors';
import { FieldCipher } from './field-cipher';
import { LocalKms, MasterKey } from './local-kms';
import { TenantKeyring, TenantKeyringOptions } from './tenant-keyring';

const world = new TestWorld({ poolSize: 4 });
afterAll(() => world.close());

const k1: MasterKey = { id: 'int-k1', key: randomBytes(32) };
const k2: MasterKey = { id: 'int-k2', key: randomBytes(32) };
const kms = new LocalKms([k1]);
const keyring = new TenantKeyring(world.dbs, kms);
const cipher = new FieldCipher(keyring);

/** A keyring with its own (empty) cache, as another process would have. */
const otherProcess = (options: TenantKeyringOptions = {}, k = kms) => {
  const ring = new TenantKeyring(world.dbs, k, options);
  return { ring, cipher: new FieldCipher(ring) };
};

async function tenantWithKey(): Promise<WorldTenant> {
  const t = await world.createTenant();
  expect(await world.dbs.withControl((tx) => keyring.createKey(tx, t.id))).toBe(true);
  return t;
}

async function keyRow(tenantId: TenantId) {
  const rows = await world.dbs.control().$queryRaw<{ kek_id: string; wrapped_key: Uint8Array | null; destroyed_at: Date | null }[]>`
    select kek_id, wrapped_key, destroyed_at from tenant_keys where tenant_id = ${tenantId}::uuid`;
  return rows[0];
}

let a: WorldTenant;
let b: WorldTenant;
beforeAll(async () => {
  a = await tenantWithKey();
  b = await tenantWithKey();
});

it('round trips per tenant, and another process (cold cache) reads the same values', async () => {
  const ta = await cipher.encrypt(a.id, 'customer.email', 'ada@example.com');
  const tb = await cipher.encrypt(b.id, 'customer.email', 'bob@example.com');
  expect(await cipher.decrypt(a.id, 'customer.email', ta)).toBe('ada@example.com');
  expect(await cipher.decrypt(b.id, 'customer.email', tb)).toBe('bob@example.com');
  const other = otherProcess();
  expect(await other.cipher.decrypt(a.id, 'customer.email', ta)).toBe('ada@example.com');
  expect(await other.cipher.decrypt(b.id, 'customer.email', tb)).toBe('bob@example.com');
});

it('concurrent first reads of a key share one load', async () => {
  const other = otherProcess();
  const keys = await Promise.all(Array.from({ length: 20 }, () => other.ring.dataKey(a.id)));
  expect(new Set(keys).size).toBe(1);
  expect(await other.ring.dataKey(a.id)).toBe(keys[0]);
});

it("tenant B's key cannot decrypt tenant A's token", async () => {
  const token = await cipher.encrypt(a.id, 'ticket.body', 'my order never arrived');
  await expect(cipher.decrypt(b.id, 'ticket.body', token)).rejects.toBeInstanceOf(DecryptionFailedError);
});

it('a token moved to another field does not decrypt', async () => {
  const token = await cipher.encrypt(a.id, 'customer.email', 'ada@example.com');
  await expect(cipher.decrypt(a.id, 'customer.phone', token)).rejects.toBeInstanceOf(DecryptionFailedError);
});

it('stores the data key wrapped, never in the clear, and a wrapped key copied to another tenant does not unwrap', async () => {
  const [victim, thief] = [await tenantWithKey(), await tenantWithKey()];
  const row = (await keyRow(victim.id))!;
  expect(row.kek_id).toBe(k1.id);
  expect(row.wrapped_key).not.toBeNull();
  await world.dbs.control().$executeRaw`update tenant_keys set wrapped_key = ${Buffer.from(row.wrapped_key!)} where tenant_id = ${thief.id}::uuid`;
  await expect(otherProcess().ring.dataKey(thief.id)).rejects.toBeInstanceOf(KeyUnwrapFailedError);
});

it('createKey twice keeps the first key', async () => {
  const t = await tenantWithKey();
  const token = await cipher.encrypt(t.id, 'f', 'first key');
  const before = (await keyRow(t.id))!;
  expect(await world.dbs.withControl((tx) => keyring.createKey(tx, t.id))).toBe(false);
  const after = (await keyRow(t.id))!;
  expect(Buffer.from(after.wrapped_key!).equals(Buffer.from(before.wrapped_key!))).toBe(true);
  expect(await otherProcess().cipher.decrypt(t.id, 'f', token)).toBe('first key');
});

it('a key created in a transaction that rolls back does not exist (and was not cached)', async () => {
  const t = await world.createTenant();
  await expect(
    world.dbs.withControl(async (tx) => {
      await keyring.createKey(tx, t.id);
      throw new Error('saga step failed');
    }),
  ).rejects.toThrow('saga step failed');
  expect(await keyRow(t.id)).toBeUndefined();
  await expect(cipher.encrypt(t.id, 'f', 'x')).rejects.toBeInstanceOf(TenantKeyMissingError);
  await expect(cipher.encrypt(t.id, 'f', 'x')).rejects.toMatchObject({ code: 'tenant-key-missing' });
});

it('destroyKey makes every token of A undecryptable, while B still works', async () => {
  const [x, y] = [await tenantWithKey(), await tenantWithKey()];
  const fields = ['customer.email', 'customer.name', 'ticket.body', 'draft.body'];
  const xs = await Promise.all(fields.map((f, i) => cipher.encrypt(x.id, f, `x secret ${i}`)));
  const ys = await Promise.all(fields.map((f, i) => cipher.encrypt(y.id, f, `y secret ${i}`)));
  const warm = otherProcess({ cacheTtlMs: 0 });
  expect(await warm.cipher.decrypt(x.id, fields[0]!, xs[0]!)).toBe('x secret 0');

  await keyring.destroyKey(x.id);

  for (const [i, f] of fields.entries()) {
    await expect(cipher.decrypt(x.id, f, xs[i]!)).rejects.toBeInstanceOf(TenantKeyDestroyedError);
    await expect(warm.cipher.decrypt(x.id, f, xs[i]!)).rejects.toMatchObject({ code: 'tenant-key-destroyed' });
    await expect(otherProcess().cipher.decrypt(x.id, f, xs[i]!)).rejects.toBeInstanceOf(TenantKeyDestroyedError);
    expect(await cipher.decrypt(y.id, f, ys[i]!)).toBe(`y secret ${i}`);
  }
  await expect(cipher.encrypt(x.id, 'customer.email', 'new')).rejects.toBeInstanceOf(TenantKeyDestroyedError);

  const row = (await keyRow(x.id))!;
  expect(row.wrapped_key).toBeNull();
  expect(row.destroyed_at).toBeInstanceOf(Date);
});

it('destroyKey is idempotent and final: a later createKey does not bring a key back', async () => {
  const t = await tenantWithKey();
  await keyring.destroyKey(t.id);
  const first = (await keyRow(t.id))!.destroyed_at;
  await keyring.destroyKey(t.id);
  expect((await keyRow(t.id))!.destroyed_at).toEqual(first);
  expect(await world.dbs.withControl((tx) => keyring.createKey(tx, t.id))).toBe(false);
  await expect(otherProcess().ring.dataKey(t.id)).rejects.toBeInstanceOf(TenantKeyDestroyedError);
});

it('destroyKey for a tenant that never had a key leaves a destroyed one, so none can be created later', async () => {
  const t = await world.createTenant();
  await keyring.destroyKey(t.id);
  expect(await world.dbs.withControl((tx) => keyring.createKey(tx, t.id))).toBe(false);
  await expect(otherProcess().cipher.encrypt(t.id, 'f', 'x')).rejects.toBeInstanceOf(TenantKeyDestroyedError);
});

it("another process's cache drops a destroyed key within one TTL", async () => {
  const t = await tenantWithKey();
  let now = 1_000_000;
  const other = otherProcess({ cacheTtlMs: 30_000, now: () => now });
  const token = await other.cipher.encrypt(t.id, 'f', 'cached');
  await keyring.destroyKey(t.id);
  now += 29_999;
  expect(await other.cipher.decrypt(t.id, 'f', token)).toBe('cached');
  now += 2;
  await expect(other.cipher.decrypt(t.id, 'f', token)).rejects.toBeInstanceOf(TenantKeyDestroyedError);
});

it('KEK rotation: rewrapKey moves a key to the current KEK; tokens are unchanged', async () => {
  const t = await tenantWithKey();
  const token = await cipher.encrypt(t.id, 'f', 'survives rotation');
  const rotated = new LocalKms([k2, k1]);
  const ring = new TenantKeyring(world.dbs, rotated);
  expect(await new FieldCipher(ring).decrypt(t.id, 'f', token)).toBe('survives rotation'); // older KEK still unwraps
  expect(await ring.rewrapKey(t.id)).toBe(true);
  expect(await ring.rewrapKey(t.id)).toBe(false);
  expect((await keyRow(t.id))!.kek_id).toBe(k2.id);

  expect(await otherProcess({}, new LocalKms([k2])).cipher.decrypt(t.id, 'f', token)).toBe('survives rotation');
  await expect(otherProcess({}, new LocalKms([k1])).ring.dataKey(t.id)).rejects.toBeInstanceOf(KmsUnknownKeyError);
});

it('the application role can neither delete key rows nor move them to another tenant', async () => {
  const t = await tenantWithKey();
  await expect(world.dbs.control().$executeRaw`delete from tenant_keys where tenant_id = ${t.id}::uuid`).rejects.toThrow(/permission denied/);
  await expect(world.dbs.control().$executeRaw`update tenant_keys set tenant_id = ${b.id}::uuid where tenant_id = ${t.id}::uuid`).rejects.toThrow(/permission denied/);
  await expect(world.dbs.control().$executeRaw`update tenant_keys set destroyed_at = now() where tenant_id = ${t.id}::uuid`).rejects.toThrow(/tenant_keys_shredded/);
});

it("importKey (a pilot import): another deployment's data key stored under this KMS, its tokens readable here; again a no-op; another key refused", async () => {
  const t = await world.createTenant();
  // The other deployment: its own KMS and keyring; only its dataKey() is asked.
  const theirs = { key: createSecretKey(randomBytes(32)) };
  const pilot = { dataKey: async () => theirs.key };
  const token = await new FieldCipher(pilot).encrypt(t.id, 'ticket.body', 'written on the pilot');
  const first = await world.dbs.withControl((tx) => keyring.importKey(tx, t.id, pilot));
  expect(first).toMatchObject({ kekId: k1.id, imported: true });
  expect(await otherProcess().cipher.decrypt(t.id, 'ticket.body', token)).toBe('written on the pilot');
  expect(await otherProcess().ring.keyCheck(t.id)).toBe(first.check);
  expect((await keyRow(t.id))!.kek_id).toBe(k1.id);
  // The same key again (a retried import): nothing changes.
  expect(await world.dbs.withControl((tx) => keyring.importKey(tx, t.id, pilot))).toEqual({ ...first, imported: false });
  // Another key for a tenant that has one: refused, the stored key kept.
  const other = { dataKey: async () => createSecretKey(randomBytes(32)) };
  await expect(world.dbs.withControl((tx) => keyring.importKey(tx, t.id, other))).rejects.toBeInstanceOf(KeyUnwrapFailedError);
  expect(await otherProcess().cipher.decrypt(t.id, 'ticket.body', token)).toBe('written on the pilot');
});
