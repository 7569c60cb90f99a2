import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { TenantId } from '@hotdash/contracts';
import { DecryptionFailedError } from './errors';
import { SubjectKeyMissingError, SubjectKeyring, type SubjectKeySource } from './subject-keyring';
import { type DataKeySource, TenantKeyring } from './tenant-keyring';

const VERSION = 'v1';
/** A token sealed under a data subject's key: `s1.<key id>.<iv>.<ciphertext+tag>`. */
const SUBJECT_VERSION = 's1';
const IV_BYTES = 12;
const TAG_BYTES = 16;
const B64URL = /^[A-Za-z0-9_-]*$/;
/**
 * Under which key `encrypt` seals a value: a data subject's key by its id (SubjectKeyring), or the
 * key another token was sealed under (`like`: the subject's key for an `s1.` token, the tenant's for
 * a `v1.` one; null, the tenant's) — a text derived from a ticket follows the ticket's key.
 */
export type SubjectSeal = { subjectKeyId: string } | { like: string | null };

/** First byte of a sealed binary value (encryptBytes). */
const BYTES_VERSION = Buffer.from([1]);

/**
 * Encrypts single values (customer PII, ticket and draft bodies) under the tenant's data key, for
 * storage and for events. AES-256-GCM with a random 96-bit IV; the tenant id and the field name
 * are bound as additional authenticated data (`<tenantId>|<field>`), so a token copied to another
 * tenant or another field does not decrypt.
 *
 * Token: `v1.<base64url iv>.<base64url ciphertext+tag>` (ASCII, safe in JSON, URLs and text columns).
 * A data subject's personal data is sealed under the subject's own key instead (`encrypt`'s `seal`;
 * per-subject crypto-shredding): `s1.<base64url key id>.<iv>.<ciphertext+tag>`, the key id bound
 * as additional data too (`<tenantId>|<field>|<key id>`). `decrypt` reads both; `v1` tokens stay
 * what they were.
 *
 * Errors: TenantKeyMissingError, TenantKeyDestroyedError (crypto-shredded), DecryptionFailedError
 * (malformed or tampered token, wrong tenant, wrong field). Nothing here logs.
 */
export class FieldCipher {
  /** Data subjects' keys: given, or made over the tenant keyring's database. */
  readonly subjects: SubjectKeySource | undefined;

  constructor(
    private readonly keys: DataKeySource,
    subjects?: SubjectKeySource,
  ) {
    this.subjects = subjects ?? (keys instanceof TenantKeyring ? new SubjectKeyring(keys.dbs, keys) : undefined);
  }

  async encrypt(tenantId: TenantId, field: string, plaintext: string, seal?: SubjectSeal): Promise<string> {
    checkField(field);
    if (typeof plaintext !== 'string') throw new TypeError('FieldCipher.encrypt takes a string');
    const subjectKeyId = seal === undefined ? undefined : 'subjectKeyId' in seal ? seal.subjectKeyId : seal.like === null ? undefined : FieldCipher.subjectKeyIdOf(seal.like);
    if (subjectKeyId !== undefined) return this.encryptForSubject(tenantId, field, plaintext, subjectKeyId);
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
    // tenant (or subject) answers TenantKeyDestroyedError (SubjectKeyDestroyedError), whether or
    // not it would have verified.
    const key = parsed.subjectKeyId === undefined ? await this.keys.dataKey(tenantId) : await this.subjectKey(tenantId, field, parsed.subjectKeyId);
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, parsed.iv, { authTagLength: TAG_BYTES });
      decipher.setAAD(aad(tenantId, field, parsed.subjectKeyId));
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

  /** The data subject key a token is sealed under (an `s1.` token), else undefined. */
  static subjectKeyIdOf(token: string): string | undefined {
    return parse(token)?.subjectKeyId;
  }

  private async encryptForSubject(tenantId: TenantId, field: string, plaintext: string, keyId: string): Promise<string> {
    const key = await this.subjectSource().subjectKey(tenantId, keyId);
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(aad(tenantId, field, keyId));
    const sealed = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final(), cipher.getAuthTag()]);
    return `${SUBJECT_VERSION}.${Buffer.from(keyId.replace(/-/g, ''), 'hex').toString('base64url')}.${iv.toString('base64url')}.${sealed.toString('base64url')}`;
  }

  /** A subject key for decrypting: one the tenant does not have (another tenant's token, a made-up id) is a token that does not decrypt. */
  private async subjectKey(tenantId: TenantId, field: string, keyId: string) {
    try {
      return await this.subjectSource().subjectKey(tenantId, keyId);
    } catch (err) {
      if (err instanceof SubjectKeyMissingError) throw new DecryptionFailedError(tenantId, field, true);
      throw err;
    }
  }

  private subjectSource(): SubjectKeySource {
    if (!this.subjects) throw new TypeError('this FieldCipher has no data subject keys (construct it with a SubjectKeySource)');
    return this.subjects;
  }
}

function checkField(field: string): void {
  if (typeof field !== 'string' || field.length === 0 || field.length > 200) throw new TypeError('a field name is a non-empty string of at most 200 characters');
}

function aad(tenantId: TenantId, field: string, subjectKeyId?: string): Buffer {
  return Buffer.from(subjectKeyId === undefined ? `${tenantId}|${field}` : `${tenantId}|${field}|${subjectKeyId}`, 'utf8');
}

function parse(token: string): { iv: Buffer; sealed: Buffer; subjectKeyId?: string } | undefined {
  if (typeof token !== 'string') return undefined;
  const parts = token.split('.');
  let subjectKeyId: string | undefined;
  if (parts.length === 4 && parts[0] === SUBJECT_VERSION) {
    const idText = parts[1]!;
    const id = B64URL.test(idText) ? Buffer.from(idText, 'base64url') : Buffer.alloc(0);
    if (id.length !== 16 || id.toString('base64url') !== idText) return undefined;
    const hex = id.toString('hex');
    subjectKeyId = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
    parts.splice(0, 2, VERSION);
  }
  if (parts.length !== 3 || parts[0] !== VERSION) return undefined;
  const [, ivText, sealedText] = parts as [string, string, string];
  if (!B64URL.test(ivText) || !B64URL.test(sealedText)) return undefined;
  const iv = Buffer.from(ivText, 'base64url');
  const sealed = Buffer.from(sealedText, 'base64url');
  // Canonical encodings only: one value, one token.
  if (iv.length !== IV_BYTES || iv.toString('base64url') !== ivText) return undefined;
  if (sealed.length < TAG_BYTES || sealed.toString('base64url') !== sealedText) return undefined;
  return { iv, sealed, subjectKeyId };
}
