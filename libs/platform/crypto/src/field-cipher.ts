import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { TenantId } from '@hotdash/contracts';
import { DecryptionFailedError } from './errors';
import type { DataKeySource } from './tenant-keyring';

const VERSION = 'v1';
const IV_BYTES = 12;
const TAG_BYTES = 16;
const B64URL = /^[A-Za-z0-9_-]*$/;
/** First byte of a sealed binary value (encryptBytes). */
const BYTES_VERSION = Buffer.from([1]);

/**
 * Encrypts single values (customer PII, ticket and draft bodies) under the tenant's data key, for
 * storage and for events. AES-256-GCM with a random 96-bit IV; the tenant id and the field name
 * are bound as additional authenticated data (`<tenantId>|<field>`), so a token copied to another
 * tenant or another field does not decrypt.
 *
 * Token: `v1.<base64url iv>.<base64url ciphertext+tag>` (ASCII, safe in JSON, URLs and text columns).
 *
 * Errors: TenantKeyMissingError, TenantKeyDestroyedError (crypto-shredded), DecryptionFailedError
 * (malformed or tampered token, wrong tenant, wrong field). Nothing here logs.
 */
export class FieldCipher {
  constructor(private readonly keys: DataKeySource) {}

  async encrypt(tenantId: TenantId, field: string, plaintext: string): Promise<string> {
    checkField(field);
    if (typeof plaintext !== 'string') throw new TypeError('FieldCipher.encrypt takes a string');
    const key = await this.keys.dataKey(tenantId);
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(aad(tenantId, field));
    const sealed = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final(), cipher.getAuthTag()]);
    return `${VERSION}.${iv.toString('base64url')}.${sealed.toString('base64url')}`;
  }

  async decrypt(tenantId: TenantId, field: string, token: string): Promise<string> {
    checkField(field);
    const parsed = parse(token);
    if (!parsed) throw new DecryptionFailedError(tenantId, field);
    // Malformed tokens are refused before any key is fetched; a well-formed token of a shredded
    // tenant answers TenantKeyDestroyedError, whether or not it would have verified.
    const key = await this.keys.dataKey(tenantId);
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, parsed.iv, { authTagLength: TAG_BYTES });
      decipher.setAAD(aad(tenantId, field));
      decipher.setAuthTag(parsed.sealed.subarray(parsed.sealed.length - TAG_BYTES));
      const plain = Buffer.concat([decipher.update(parsed.sealed.subarray(0, parsed.sealed.length - TAG_BYTES)), decipher.final()]);
      return plain.toString('utf8');
    } catch {
      throw new DecryptionFailedError(tenantId, field);
    }
  }

  /**
   * Encrypts a binary value (a knowledge-base document's source) the same way, without the text
   * encoding: `0x01 | iv (12) | ciphertext | tag (16)`, the tenant and field bound as for tokens.
   */
  async encryptBytes(tenantId: TenantId, field: string, plaintext: Buffer): Promise<Buffer> {
    checkField(field);
    if (!Buffer.isBuffer(plaintext)) throw new TypeError('FieldCipher.encryptBytes takes a Buffer');
    const key = await this.keys.dataKey(tenantId);
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(aad(tenantId, field));
    return Buffer.concat([BYTES_VERSION, iv, cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
  }

  /** The value encryptBytes sealed; DecryptionFailedError when it is not one, or not this tenant's and field's. */
  async decryptBytes(tenantId: TenantId, field: string, sealed: Buffer): Promise<Buffer> {
    checkField(field);
    if (!Buffer.isBuffer(sealed) || sealed.length < 1 + IV_BYTES + TAG_BYTES || sealed[0] !== BYTES_VERSION[0]) throw new DecryptionFailedError(tenantId, field);
    const key = await this.keys.dataKey(tenantId);
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, sealed.subarray(1, 1 + IV_BYTES), { authTagLength: TAG_BYTES });
      decipher.setAAD(aad(tenantId, field));
      decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
      return Buffer.concat([decipher.update(sealed.subarray(1 + IV_BYTES, sealed.length - TAG_BYTES)), decipher.final()]);
    } catch {
      throw new DecryptionFailedError(tenantId, field);
    }
  }

  /** Whether a value looks like a FieldCipher token (shape only; it says nothing of its validity). */
  static isToken(value: string): boolean {
    return parse(value) !== undefined;
  }
}

function checkField(field: string): void {
  if (typeof field !== 'string' || field.length === 0 || field.length > 200) throw new TypeError('a field name is a non-empty string of at most 200 characters');
}

function aad(tenantId: TenantId, field: string): Buffer {
  return Buffer.from(`${tenantId}|${field}`, 'utf8');
}

function parse(token: string): { iv: Buffer; sealed: Buffer } | undefined {
  if (typeof token !== 'string') return undefined;
  const parts = token.split('.');
  if (parts.length !== 3 || parts[0] !== VERSION) return undefined;
  const [, ivText, sealedText] = parts as [string, string, string];
  if (!B64URL.test(ivText) || !B64URL.test(sealedText)) return undefined;
  const iv = Buffer.from(ivText, 'base64url');
  const sealed = Buffer.from(sealedText, 'base64url');
  // Canonical encodings only: one value, one token.
  if (iv.length !== IV_BYTES || iv.toString('base64url') !== ivText) return undefined;
  if (sealed.length < TAG_BYTES || sealed.toString('base64url') !== sealedText) return undefined;
  return { iv, sealed };
}
