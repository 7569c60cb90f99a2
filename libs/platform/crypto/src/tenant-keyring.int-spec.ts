// Tenant data keys created in a control-plane transaction on the typed layer (withControl), as in
// Prisma's (field-cipher.int-spec.ts covers that form and the rest of the keyring): the key is
// written with the transaction or not at all, once per tenant, and never over a destroyed one.
import { randomBytes } from 'node:crypto';
import { TestWorld } from '@hotdash/testing';
import { TenantKeyMissingError, TenantKeyDestroyedError } from './errors';
import { FieldCipher } from './field-cipher';
import { LocalKms } from './local-kms';
import { TenantKeyring } from './tenant-keyring';

const world = new TestWorld({ poolSize: 3 });
afterAll(() => world.close());

const kms = new LocalKms([{ id: 'keyring-spec', key: randomBytes(32) }]);
/** A keyring with a cold cache, as another process would have. */
const fresh = () => new FieldCipher(new TenantKeyring(world.dbs, kms));

it('creates a key in withControl once: a second call keeps the first, and the key serves every process', async () => {
  const t = await world.createTenant();
  const keyring = new TenantKeyring(world.dbs, kms);
  expect(await world.dbs.withControl((tx) => keyring.createKey(tx, t.id))).toBe(true);
  const token = await new FieldCipher(keyring).encrypt(t.id, 'f', 'first key');
  expect(await world.dbs.withControl((tx) => keyring.createKey(tx, t.id))).toBe(false);
  expect(await fresh().decrypt(t.id, 'f', token)).toBe('first key');
  // The row as the KMS wrapped it, for this tenant.
  const row = await world.dbs.controlDb().selectFrom('tenant_keys').select(['kek_id', 'wrapped_key', 'destroyed_at']).where('tenant_id', '=', t.id).executeTakeFirstOrThrow();
  expect(row).toMatchObject({ kek_id: 'keyring-spec', destroyed_at: null });
  expect(Buffer.isBuffer(row.wrapped_key)).toBe(true);
});

it('writes nothing when the transaction rolls back', async () => {
  const t = await world.createTenant();
  const keyring = new TenantKeyring(world.dbs, kms);
  await expect(
    world.dbs.withControl(async (tx) => {
      await keyring.createKey(tx, t.id);
      throw new Error('saga step failed');
    }),
  ).rejects.toThrow('saga step failed');
  await expect(fresh().encrypt(t.id, 'f', 'x')).rejects.toBeInstanceOf(TenantKeyMissingError);
});

it('never replaces a destroyed key', async () => {
  const t = await world.createTenant();
  const keyring = new TenantKeyring(world.dbs, kms);
  await keyring.destroyKey(t.id);
  expect(await world.dbs.withControl((tx) => keyring.createKey(tx, t.id))).toBe(false);
  await expect(fresh().encrypt(t.id, 'f', 'x')).rejects.toBeInstanceOf(TenantKeyDestroyedError);
});
