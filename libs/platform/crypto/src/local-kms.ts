import { createCipheriv, createDecipheriv, createSecretKey, KeyObject, randomBytes } from 'node:crypto';
import type { TenantId } from '@hotdash/contracts';
import { KeyUnwrapFailedError, KmsConfigError, KmsUnknownKeyError } from './errors';
import { KmsPort, WrappedKey } from './kms';

/** Environment variable holding the master keys: `id:base64(32 bytes)`, comma separated, current first. */
export const KMS_MASTER_KEYS_ENV = 'HOTDASH_KMS_MASTER_KEYS';

/**
 * The development master key, used only when {@link KMS_MASTER_KEYS_ENV} is unset and NODE_ENV is
 * not `production`. It is public (it is in this file): it protects nothing, it only lets a local
 * stack and the test suite run without configuration. Keys wrapped with it stay readable after
 * real keys are configured only if `dev:<this value>` is kept in the list as an older key.
 */
export const DEV_MASTER_KEY_ID = 'dev';
export const DEV_MASTER_KEY_BASE64 = 'B25TeduNj6OpHYFD1lXi8pfGW+6d79s4HjloZwx6MQc=';

export interface MasterKey {
  id: string;
  key: Buffer;
}

const KEY_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
const FORMAT = 1; // first byte of a wrapped key: the layout below
const IV_BYTES = 12;
const TAG_BYTES = 16;

/**
 * Parses `id:base64(32 bytes)[,id:base64(32 bytes)…]`. Errors name the entry and its id, never the
 * key text.
 */
export function parseMasterKeys(raw: string, source = KMS_MASTER_KEYS_ENV): MasterKey[] {
  const entries = raw.split(',').map((e) => e.trim());
  const keys: MasterKey[] = [];
  entries.forEach((entry, i) => {
    const where = `${source} entry ${i + 1}`;
    const colon = entry.indexOf(':');
    if (colon < 0) throw new KmsConfigError(`${where} is not of the form id:base64key`);
    const id = entry.slice(0, colon).trim();
    const b64 = entry.slice(colon + 1).trim();
    if (!KEY_ID.test(id)) throw new KmsConfigError(`${where} has an invalid key id (letters, digits, '.', '_', '-'; at most 64)`);
    if (keys.some((k) => k.id === id)) throw new KmsConfigError(`${where}: key id ${JSON.stringify(id)} appears twice`);
    const key = BASE64.test(b64) ? Buffer.from(b64, 'base64') : undefined;
    if (!key || key.toString('base64') !== b64) throw new KmsConfigError(`${where} (id ${JSON.stringify(id)}): the key is not valid base64`);
    if (key.length !== 32) throw new KmsConfigError(`${where} (id ${JSON.stringify(id)}): the key must be 32 bytes, got ${key.length}`);
    keys.push({ id, key });
  });
  return keys;
}

/**
 * A KMS whose key-encryption keys come from configuration. Wraps with AES-256-GCM under the current
 * master key, with `tenant:<tenantId>` as additional authenticated data. Wrapped layout:
 * `0x01 | iv (12) | ciphertext | tag (16)`; the KEK id is stored beside it (tenant_keys.kek_id).
 *
 * Rotation: put the new key first and keep the old ones after it; new keys are wrapped with the
 * first, existing ones still unwrap with theirs (TenantKeyring.rewrapKey moves them over).
 */
export class LocalKms extends KmsPort {
  readonly currentKekId: string;
  private readonly keks: ReadonlyMap<string, KeyObject>;

  constructor(keys: readonly MasterKey[]) {
    super();
    if (keys.length === 0) throw new KmsConfigError('LocalKms needs at least one master key');
    const keks = new Map<string, KeyObject>();
    for (const k of keys) {
      if (!KEY_ID.test(k.id)) throw new KmsConfigError(`invalid master key id ${JSON.stringify(k.id)}`);
      if (k.key.length !== 32) throw new KmsConfigError(`master key ${JSON.stringify(k.id)} must be 32 bytes, got ${k.key.length}`);
      if (keks.has(k.id)) throw new KmsConfigError(`master key id ${JSON.stringify(k.id)} appears twice`);
      // KeyObjects keep the bytes out of console.log / util.inspect output.
      keks.set(k.id, createSecretKey(Buffer.from(k.key)));
    }
    this.keks = keks;
    this.currentKekId = keys[0]!.id;
  }

  /**
   * From `HOTDASH_KMS_MASTER_KEYS`. When it is unset or empty: the public development key outside
   * production, a KmsConfigError in production. A set but malformed value is always an error.
   */
  static fromEnv(env: NodeJS.ProcessEnv = process.env): LocalKms {
    const raw = env[KMS_MASTER_KEYS_ENV]?.trim();
    if (raw) return new LocalKms(parseMasterKeys(raw));
    if (env.NODE_ENV === 'production') {
      throw new KmsConfigError(`${KMS_MASTER_KEYS_ENV} is not set; it is required in production (id:base64 of 32 random bytes, e.g. from \`openssl rand -base64 32\`)`);
    }
    return new LocalKms([{ id: DEV_MASTER_KEY_ID, key: Buffer.from(DEV_MASTER_KEY_BASE64, 'base64') }]);
  }

  /** The ids of the configured KEKs, current first. */
  get kekIds(): string[] {
    return [...this.keks.keys()];
  }

  async wrap(tenantId: TenantId, dataKey: Buffer): Promise<WrappedKey> {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.keks.get(this.currentKekId)!, iv);
    cipher.setAAD(aad(tenantId));
    const ct = Buffer.concat([cipher.update(dataKey), cipher.final()]);
    return { kekId: this.currentKekId, wrapped: Buffer.concat([Buffer.of(FORMAT), iv, ct, cipher.getAuthTag()]) };
  }

  async unwrap(tenantId: TenantId, key: WrappedKey): Promise<Buffer> {
    const kek = this.keks.get(key.kekId);
    if (!kek) throw new KmsUnknownKeyError(key.kekId);
    const w = key.wrapped;
    if (w.length < 1 + IV_BYTES + TAG_BYTES || w[0] !== FORMAT) throw new KeyUnwrapFailedError(tenantId);
    try {
      const decipher = createDecipheriv('aes-256-gcm', kek, w.subarray(1, 1 + IV_BYTES), { authTagLength: TAG_BYTES });
      decipher.setAAD(aad(tenantId));
      decipher.setAuthTag(w.subarray(w.length - TAG_BYTES));
      return Buffer.concat([decipher.update(w.subarray(1 + IV_BYTES, w.length - TAG_BYTES)), decipher.final()]);
    } catch {
      throw new KeyUnwrapFailedError(tenantId);
    }
  }
}

function aad(tenantId: TenantId): Buffer {
  return Buffer.from(`tenant:${tenantId}`, 'utf8');
}
