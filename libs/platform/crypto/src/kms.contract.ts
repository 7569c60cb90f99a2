// The contract every KmsPort adapter keeps, run by each adapter's spec (local-kms.spec.ts against
// LocalKms, transit-kms.int-spec.ts against the local Vault's transit engine). Tenant binding is
// proven from the attacker's side: tenant B's row holding A's wrapped key does not unwrap for B.
import { randomBytes, randomUUID } from 'node:crypto';
import { parseTenantId } from '@hotdash/contracts';
import { KeyUnwrapFailedError, KmsUnknownKeyError } from './errors';
import type { KmsPort } from './kms';

export interface KmsContractSubject {
  /** The adapter under test (called when the specs run, after the adapter spec's own setup). */
  kms(): KmsPort;
  /** Makes a new KEK current (older ones still unwrap) and returns the KMS that now wraps with it. */
  rotate(): Promise<KmsPort>;
  /** A KEK id of the adapter's own form that it does not hold. */
  unknownKekId(): string;
}

export function kmsContract(subject: KmsContractSubject): void {
  const tenantA = parseTenantId(randomUUID());
  const tenantB = parseTenantId(randomUUID());

  describe('contract: wrap and unwrap', () => {
    it('gives back the data key, wrapped under the current KEK, never in the clear, fresh each time', async () => {
      const kms = subject.kms();
      const dataKey = randomBytes(32);
      const a = await kms.wrap(tenantA, dataKey);
      const b = await kms.wrap(tenantA, dataKey);
      expect(a.kekId).toBe(kms.currentKekId);
      expect(a.wrapped.includes(dataKey)).toBe(false);
      expect(a.wrapped.equals(b.wrapped)).toBe(false);
      expect((await kms.unwrap(tenantA, a)).equals(dataKey)).toBe(true);
      expect((await kms.unwrap(tenantA, b)).equals(dataKey)).toBe(true);
    });

    it('binds the tenant: A’s wrapped key in B’s row does not unwrap for B', async () => {
      const kms = subject.kms();
      const a = await kms.wrap(tenantA, randomBytes(32));
      await expect(kms.unwrap(tenantB, a)).rejects.toBeInstanceOf(KeyUnwrapFailedError);
      await expect(kms.rewrap(tenantB, a)).rejects.toBeInstanceOf(KeyUnwrapFailedError);
    });

    it('refuses a tampered or truncated wrapped key', async () => {
      const kms = subject.kms();
      const a = await kms.wrap(tenantA, randomBytes(32));
      const flipped = Buffer.from(a.wrapped);
      flipped[flipped.length - 5]! ^= 0x01;
      await expect(kms.unwrap(tenantA, { ...a, wrapped: flipped })).rejects.toBeInstanceOf(KeyUnwrapFailedError);
      await expect(kms.unwrap(tenantA, { ...a, wrapped: a.wrapped.subarray(0, 10) })).rejects.toBeInstanceOf(KeyUnwrapFailedError);
      await expect(kms.unwrap(tenantA, { ...a, wrapped: Buffer.alloc(0) })).rejects.toBeInstanceOf(KeyUnwrapFailedError);
    });

    it('names a KEK it does not hold (KmsUnknownKeyError with that id)', async () => {
      const kms = subject.kms();
      const a = await kms.wrap(tenantA, randomBytes(32));
      const unknown = subject.unknownKekId();
      const err = await kms.unwrap(tenantA, { ...a, kekId: unknown }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(KmsUnknownKeyError);
      expect((err as KmsUnknownKeyError).kekId).toBe(unknown);
      await expect(kms.unwrap(tenantA, { ...a, kekId: 'contract-no-such-kek' })).rejects.toBeInstanceOf(KmsUnknownKeyError);
    });
  });

  describe('contract: rotation', () => {
    it('wraps new keys under the new KEK; keys under the old one still unwrap and re-wrap to the new one, the data key unchanged', async () => {
      const dataKey = randomBytes(32);
      const before = await subject.kms().wrap(tenantA, dataKey);
      const kms = await subject.rotate();
      expect(kms.currentKekId).not.toBe(before.kekId);
      expect((await kms.unwrap(tenantA, before)).equals(dataKey)).toBe(true);
      const moved = await kms.rewrap(tenantA, before);
      expect(moved.kekId).toBe(kms.currentKekId);
      expect((await kms.unwrap(tenantA, moved)).equals(dataKey)).toBe(true);
      expect((await kms.wrap(tenantA, dataKey)).kekId).toBe(kms.currentKekId);
      // Re-wrapping a key already under the current KEK keeps it there.
      expect((await kms.rewrap(tenantA, moved)).kekId).toBe(kms.currentKekId);
    });
  });
}
