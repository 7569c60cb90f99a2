// Data subjects' references and keys on the real control database: the reference is the same for
// one address however it is typed, differs between tenants and needs the tenant's key; a subject's
// values are sealed under its own key (s1 tokens) and read by any process, tenant-key tokens (v1)
// still read; a token is bound to its tenant, field and key; destroying the subject's key makes
// its tokens unreadable everywhere and leaves the tenant's other subjects and v1 tokens alone; the
// subject then starts over with a new key.
import { randomBytes } from 'node:crypto';
import { TestWorld } from '@hotdash/testing';
import { DecryptionFailedError, TenantKeyDestroyedError } from './errors';
import { FieldCipher } from './field-cipher';
import { LocalKms } from './local-kms';
import { SubjectKeyDestroyedError, SubjectKeyMissingError, SubjectKeyring } from './subject-keyring';
import { normaliseSubjectEmail } from './subject-ref';
import { TenantKeyring } from './tenant-keyring';

const world = new TestWorld({ poolSize: 3 });
afterAll(() => world.close());

const kms = new LocalKms([{ id: 'subject-spec', key: randomBytes(32) }]);
const tenantKeys = new TenantKeyring(world.dbs, kms);
const subjects = new SubjectKeyring(world.dbs, tenantKeys);
const cipher = new FieldCipher(tenantKeys, subjects);
/** Another process: cold caches. */
const fresh = () => new FieldCipher(new TenantKeyring(world.dbs, kms));

async function tenant() {
  const t = await world.createTenant();
  await world.dbs.withControl((tx) => tenantKeys.createKey(tx, t.id));
  return t.id;
}

it('names a subject by its normalised address, per tenant, under the tenant’s key', async () => {
  const [a, b] = [await tenant(), await tenant()];
  expect(normaliseSubjectEmail('  Dana@Customer.TEST ')).toBe('dana@customer.test');
  const ref = await subjects.subjectRef(a, 'dana@customer.test');
  expect(ref).toMatch(/^[0-9a-f]{64}$/);
  expect(await subjects.subjectRef(a, ' DANA@customer.test')).toBe(ref);
  expect(await subjects.subjectRef(a, 'dan@customer.test')).not.toBe(ref);
  expect(await subjects.subjectRef(b, 'dana@customer.test')).not.toBe(ref);
  // A shredded tenant's references cannot be computed any more.
  await tenantKeys.destroyKey(b);
  await expect(subjects.subjectRef(b, 'dana@customer.test')).rejects.toBeInstanceOf(TenantKeyDestroyedError);
});

it('seals under the subject’s key, readable by another process; v1 tokens still read; tokens stay bound to tenant, field and key', async () => {
  const [a, b] = [await tenant(), await tenant()];
  const dana = await subjects.subjectFor(a, 'dana@customer.test');
  expect(await subjects.subjectFor(a, 'Dana@customer.test')).toEqual(dana);
  const token = await cipher.encrypt(a, 'tickets.body', 'where is my refund?', { subjectKeyId: dana.keyId });
  expect(token).toMatch(/^s1\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]+$/);
  expect(FieldCipher.subjectKeyIdOf(token)).toBe(dana.keyId);
  expect(FieldCipher.isToken(token)).toBe(true);
  expect(await fresh().decrypt(a, 'tickets.body', token)).toBe('where is my refund?');
  // `like`: a text derived from the ticket follows its key; like a v1 token (or null), the tenant's key.
  const reply = await cipher.encrypt(a, 'replies.body', 'Hello Dana', { like: token });
  expect(FieldCipher.subjectKeyIdOf(reply)).toBe(dana.keyId);
  const v1 = await cipher.encrypt(a, 'tickets.body', 'old ticket');
  expect(v1).toMatch(/^v1\./);
  expect(FieldCipher.subjectKeyIdOf(await cipher.encrypt(a, 'replies.body', 'x', { like: v1 }))).toBeUndefined();
  expect(await fresh().decrypt(a, 'tickets.body', v1)).toBe('old ticket');
  // Another field, another tenant, another key id in the token: refused.
  await expect(fresh().decrypt(a, 'tickets.subject', token)).rejects.toBeInstanceOf(DecryptionFailedError);
  await expect(fresh().decrypt(b, 'tickets.body', token)).rejects.toBeInstanceOf(DecryptionFailedError);
  await expect(subjects.subjectKey(b, dana.keyId)).rejects.toBeInstanceOf(SubjectKeyMissingError);
  const kim = await subjects.subjectFor(a, 'kim@customer.test');
  const [, , iv, sealed] = token.split('.');
  const swapped = `s1.${Buffer.from(kim.keyId.replace(/-/g, ''), 'hex').toString('base64url')}.${iv}.${sealed}`;
  await expect(fresh().decrypt(a, 'tickets.body', swapped)).rejects.toBeInstanceOf(DecryptionFailedError);
  // Malformed key ids are not tokens at all.
  expect(FieldCipher.isToken(`s1.AAAA.${iv}.${sealed}`)).toBe(false);
});

it('destroys one subject’s key: its tokens fail everywhere, the others read, and the subject starts over with a new key', async () => {
  const a = await tenant();
  const dana = await subjects.subjectFor(a, 'dana@customer.test');
  const kim = await subjects.subjectFor(a, 'kim@customer.test');
  const other = fresh();
  const danaToken = await cipher.encrypt(a, 'tickets.body', 'dana’s message', { subjectKeyId: dana.keyId });
  const kimToken = await cipher.encrypt(a, 'tickets.body', 'kim’s message', { subjectKeyId: kim.keyId });
  const v1 = await cipher.encrypt(a, 'tickets.body', 'tenant-key value');
  expect(await other.decrypt(a, 'tickets.body', danaToken)).toBe('dana’s message');

  expect(await subjects.destroy(a, dana.subjectRef)).toEqual([dana.keyId]);
  expect(await subjects.destroy(a, dana.subjectRef)).toEqual([]);
  await expect(cipher.decrypt(a, 'tickets.body', danaToken)).rejects.toBeInstanceOf(SubjectKeyDestroyedError);
  await expect(fresh().decrypt(a, 'tickets.body', danaToken)).rejects.toBeInstanceOf(SubjectKeyDestroyedError);
  await expect(cipher.encrypt(a, 'replies.body', 'late reply', { like: danaToken })).rejects.toBeInstanceOf(SubjectKeyDestroyedError);
  expect(await fresh().decrypt(a, 'tickets.body', kimToken)).toBe('kim’s message');
  expect(await fresh().decrypt(a, 'tickets.body', v1)).toBe('tenant-key value');
  // The row is a tombstone: no key, no reference.
  const row = await world.dbs.controlDb().selectFrom('subject_keys').select(['subject_ref', 'wrapped_key', 'destroyed_at']).where('id', '=', dana.keyId).executeTakeFirstOrThrow();
  expect(row).toEqual({ subject_ref: null, wrapped_key: null, destroyed_at: expect.any(Date) });
  // Another process whose cache still held the key keeps it for at most its TTL; one told forgets at once.
  subjects.invalidate();
  const again = await subjects.subjectFor(a, 'dana@customer.test');
  expect(again.subjectRef).toBe(dana.subjectRef);
  expect(again.keyId).not.toBe(dana.keyId);
});

it('makes every subject key unreadable when the tenant’s key is destroyed', async () => {
  const a = await tenant();
  const dana = await subjects.subjectFor(a, 'dana@customer.test');
  const token = await cipher.encrypt(a, 'tickets.body', 'x', { subjectKeyId: dana.keyId });
  await tenantKeys.destroyKey(a);
  await expect(fresh().decrypt(a, 'tickets.body', token)).rejects.toBeInstanceOf(TenantKeyDestroyedError);
});
