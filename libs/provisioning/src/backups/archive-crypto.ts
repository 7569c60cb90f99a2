import { createCipheriv, createDecipheriv, hkdfSync, randomBytes, type CipherGCM, type DecipherGCM, type KeyObject } from 'node:crypto';

/**
 * An archive's data file is encrypted (AES-256-GCM, the archive id as additional data) under a key
 * derived from the tenant's data key (HKDF-SHA256, the archive id as salt). So the whole archive,
 * not only the fields the services encrypt (document texts, titles and audit payloads are plain in
 * the database), is readable only while the tenant's data key lives: destroying it
 * (crypto-shredding at offboarding) erases every archive of the tenant too. Nothing of the key is
 * stored: the manifest holds the IV, the tag and the key's check value.
 */
export const ARCHIVE_CIPHER = 'aes-256-gcm';

export interface ArchiveSealing {
  algorithm: typeof ARCHIVE_CIPHER;
  /** base64 */
  iv: string;
  /** base64, known once the data is written */
  tag: string;
}

export function archiveKey(dataKey: KeyObject, archiveId: string): Buffer {
  return Buffer.from(hkdfSync('sha256', dataKey, Buffer.from(archiveId, 'utf8'), Buffer.from('hotdash tenant archive v1', 'utf8'), 32));
}

/** A cipher for a new archive's data, and its IV. */
export function sealingCipher(key: Buffer, archiveId: string): { cipher: CipherGCM; iv: Buffer } {
  const iv = randomBytes(12);
  const cipher = createCipheriv(ARCHIVE_CIPHER, key, iv);
  cipher.setAAD(Buffer.from(archiveId, 'utf8'));
  return { cipher, iv };
}

/** The decipher of an archive's data; a wrong key, IV, tag or a changed byte fails at its end. */
export function openingDecipher(key: Buffer, archiveId: string, s: Pick<ArchiveSealing, 'iv' | 'tag'>): DecipherGCM {
  const decipher = createDecipheriv(ARCHIVE_CIPHER, key, Buffer.from(s.iv, 'base64'));
  decipher.setAAD(Buffer.from(archiveId, 'utf8'));
  decipher.setAuthTag(Buffer.from(s.tag, 'base64'));
  return decipher;
}
