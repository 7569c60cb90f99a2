import { createSecretKey, KeyObject, randomBytes } from 'node:crypto';
import { parseTenantId, TenantId } from '@hotdash/contracts';
import { DecryptionFailedError, TenantKeyDestroyedError } from './errors';
import { FieldCipher } from './field-cipher';
import type { DataKeySource } from './tenant-keyring';

const tenantA = parseTenantId('0194f5a8-7c1e-7d2a-8b3c-4d5e6f708192');
const tenantB = parseTenantId('0194f5a8-7c1e-7d2a-8b3c-4d5e6f708193');

/** Data keys in memory: the keyring's database part is covered by field-cipher.int-spec.ts. */
class MemoryKeys implements DataKeySource {
  readonly keys = new Map<string, KeyObject>();
  destroyed = new Set<string>();
  async dataKey(tenantId: TenantId): Promise<KeyObject> {
    if (this.destroyed.has(tenantId)) throw new TenantKeyDestroyedError(tenantId);
    let k = this.keys.get(tenantId);
    if (!k) this.keys.set(tenantId, (k = createSecretKey(randomBytes(32))));
    return k;
  }
}

const TOKEN = /^v1\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]+$/;

describe('FieldCipher', () => {
  let keys: MemoryKeys;
  let cipher: FieldCipher;
  beforeEach(() => {
    keys = new MemoryKeys();
    cipher = new FieldCipher(keys);
  });

  it.each([['plain ASCII'], [''], ['Grüße, 東京, 🚀 — "quotes" | pipes . dots'], ['x'.repeat(100_000)]])('round trips %#', async (plaintext) => {
    const token = await cipher.encrypt(tenantA, 'ticket.body', plaintext);
    expect(token).toMatch(TOKEN);
    expect(FieldCipher.isToken(token)).toBe(true);
    expect(await cipher.decrypt(tenantA, 'ticket.body', token)).toBe(plaintext);
  });

  it('gives a different token each time for the same value, and never contains the plaintext', async () => {
    const t1 = await cipher.encrypt(tenantA, 'customer.email', 'ada@example.com');
    const t2 = await cipher.encrypt(tenantA, 'customer.email', 'ada@example.com');
    expect(t1).not.toBe(t2);
    expect(t1).not.toContain('ada');
    expect(Buffer.from(t1.split('.')[2]!, 'base64url').toString('latin1')).not.toContain('ada@example.com');
  });

  it('binds the field: a token moved to another field does not decrypt', async () => {
    const token = await cipher.encrypt(tenantA, 'customer.email', 'ada@example.com');
    await expect(cipher.decrypt(tenantA, 'customer.name', token)).rejects.toBeInstanceOf(DecryptionFailedError);
  });

  it("binds the tenant: B's key cannot decrypt A's token", async () => {
    const token = await cipher.encrypt(tenantA, 'customer.email', 'ada@example.com');
    await expect(cipher.decrypt(tenantB, 'customer.email', token)).rejects.toBeInstanceOf(DecryptionFailedError);
  });

  it('binds the tenant even if two tenants were to share a key (AAD, not only the key)', async () => {
    keys.keys.set(tenantB, await keys.dataKey(tenantA));
    const token = await cipher.encrypt(tenantA, 'f', 'secret');
    await expect(cipher.decrypt(tenantB, 'f', token)).rejects.toBeInstanceOf(DecryptionFailedError);
  });

  it('rejects tampering anywhere in the token', async () => {
    const token = await cipher.encrypt(tenantA, 'f', 'a reasonably long secret value');
    const [v, iv, sealed] = token.split('.') as [string, string, string];
    const flip = (s: string, i: number) => {
      const b = Buffer.from(s, 'base64url');
      b[i] = b[i]! ^ 0x80;
      return b.toString('base64url');
    };
    const bad = [
      `${v}.${flip(iv, 0)}.${sealed}`,
      `${v}.${iv}.${flip(sealed, 0)}`,
      `${v}.${iv}.${flip(sealed, Buffer.from(sealed, 'base64url').length - 1)}`, // the tag
      `${v}.${iv}.${Buffer.from(sealed, 'base64url').subarray(1).toString('base64url')}`,
    ];
    for (const t of bad) await expect(cipher.decrypt(tenantA, 'f', t)).rejects.toBeInstanceOf(DecryptionFailedError);
  });

  it.each([[''], ['v1'], ['v1..'], ['v2.AAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA'], ['v1.AAAA.AAAAAAAAAAAAAAAAAAAAAA'], ['v1.AAAAAAAAAAAAAAAA.AAAA'], ['v1.AAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA.x'], ['v1.AAAAAAAAAAAAAAA=.AAAAAAAAAAAAAAAAAAAAAA'], ['plaintext']])(
    'rejects the malformed token %j',
    async (token) => {
      expect(FieldCipher.isToken(token)).toBe(false);
      await expect(cipher.decrypt(tenantA, 'f', token)).rejects.toBeInstanceOf(DecryptionFailedError);
    },
  );

  it('reports a destroyed key as such, for encrypt and decrypt alike', async () => {
    const token = await cipher.encrypt(tenantA, 'f', 'secret');
    keys.destroyed.add(tenantA);
    await expect(cipher.decrypt(tenantA, 'f', token)).rejects.toMatchObject({ code: 'tenant-key-destroyed' });
    await expect(cipher.encrypt(tenantA, 'f', 'more')).rejects.toBeInstanceOf(TenantKeyDestroyedError);
  });

  it('never puts the plaintext or the token in an error', async () => {
    const token = await cipher.encrypt(tenantA, 'customer.email', 'ada@example.com');
    const err = await cipher.decrypt(tenantB, 'customer.email', token).catch((e: Error) => e);
    expect(err).toBeInstanceOf(DecryptionFailedError);
    expect(err).toMatchObject({ code: 'decryption-failed', tenantId: tenantB, field: 'customer.email' });
    const text = `${(err as Error).message} ${(err as Error).stack}`;
    expect(text).not.toContain('ada@example.com');
    expect(text).not.toContain(token.split('.')[2]!);
  });

  it('seals binary values (a document source): round trip, bound to tenant and field, tampering refused, never the plaintext', async () => {
    const source = Buffer.concat([Buffer.from('%PDF-1.7 Gaskets are replaced free of charge'), randomBytes(64 * 1024)]);
    const sealed = await cipher.encryptBytes(tenantA, 'kb_documents.source', source);
    expect(sealed[0]).toBe(1);
    expect(sealed.length).toBe(source.length + 1 + 12 + 16);
    expect(sealed.includes(Buffer.from('Gaskets'))).toBe(false);
    expect((await cipher.decryptBytes(tenantA, 'kb_documents.source', sealed)).equals(source)).toBe(true);
    expect((await cipher.decryptBytes(tenantA, 'kb_documents.source', await cipher.encryptBytes(tenantA, 'kb_documents.source', Buffer.alloc(0)))).length).toBe(0);
    await expect(cipher.decryptBytes(tenantB, 'kb_documents.source', sealed)).rejects.toBeInstanceOf(DecryptionFailedError);
    await expect(cipher.decryptBytes(tenantA, 'other.field', sealed)).rejects.toBeInstanceOf(DecryptionFailedError);
    for (const at of [0, 5, 20, sealed.length - 1]) {
      const bad = Buffer.from(sealed);
      bad[at] = bad[at]! ^ 0x40;
      await expect(cipher.decryptBytes(tenantA, 'kb_documents.source', bad)).rejects.toBeInstanceOf(DecryptionFailedError);
    }
    await expect(cipher.decryptBytes(tenantA, 'kb_documents.source', source)).rejects.toBeInstanceOf(DecryptionFailedError);
  });

  it('refuses an empty field name', async () => {
    await expect(cipher.encrypt(tenantA, '', 'x')).rejects.toBeInstanceOf(TypeError);
  });
});
