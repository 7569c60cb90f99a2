import * as http from 'node:http';
import * as https from 'node:https';
import type { TenantId } from '@hotdash/contracts';
import { readSetting } from '@hotdash/platform-config';
import { KeyUnwrapFailedError, KmsConfigError, KmsUnavailableError, KmsUnknownKeyError } from './errors';
import { KmsPort, WrappedKey } from './kms';
import { KMS_MASTER_KEYS_ENV, LocalKms } from './local-kms';

export interface TransitKmsOptions {
  /** The server's address, e.g. `http://127.0.0.1:18200` (deploy/local/vault.sh). */
  url: string;
  /** A token allowed to encrypt, decrypt and rewrap with the key and to read it. */
  token: string;
  /** The transit key: derived (the tenant is its derivation context), an AEAD type such as aes256-gcm96. */
  key: string;
  /** Where the transit engine is mounted. Default `transit`. */
  mount?: string;
  /** Per request. Default 5 s. */
  timeoutMs?: number;
  /** How long the key's latest version is trusted before currentKekId asks again (in the background). Default 60 s. */
  refreshMs?: number;
  /**
   * Unwraps keys whose KEK is not a transit key (wrapped before the switch to transit, e.g. by
   * LocalKms), so that a KEK rotation moves them under the transit key.
   */
  legacy?: KmsPort;
}

/** `transit:<key>:v<version>`; at most 64 characters (tenant_keys.kek_id), so a key name has at most 44. */
const KEK_ID = /^transit:([A-Za-z0-9][A-Za-z0-9._-]{0,43}):v([1-9][0-9]{0,9})$/;
export const TRANSIT_KEY_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,43}$/;
/** Transit's ciphertext: `vault:v<version>:<base64>` (OpenBao keeps the same prefix). */
const CIPHERTEXT = /^vault:v([1-9][0-9]{0,9}):([A-Za-z0-9+/]+={0,2})$/;

interface TransitResponse {
  status: number;
  data?: Record<string, unknown>;
  errors: string[];
}

/**
 * A KMS backed by the transit secrets engine of HashiCorp Vault or OpenBao (the same HTTP API):
 * the KEK never leaves the server. A data key is wrapped with `encrypt` under the key's current
 * version, with `tenant:<tenantId>` as the derivation context of a derived key: the server derives a
 * key per tenant, so a wrapped key copied to another tenant's row does not authenticate
 * (KeyUnwrapFailedError), as LocalKms's additional data guarantees. (Transit's `associated_data`
 * would bind the tenant too, but its `rewrap` does not take it.)
 *
 * KEK ids are `transit:<key>:v<version>`: rotating the transit key (`keys/<key>/rotate`) makes a new
 * current KEK, older versions still unwrap until the key's min_decryption_version passes them
 * (then KmsUnknownKeyError), and a KEK rotation re-wraps each data key with transit's `rewrap`
 * (the data key never reaches this process). The stored bytes are the ciphertext's base64 part,
 * decoded; the version is in the KEK id.
 *
 * `currentKekId` is the key's latest version as last read: at `connect`, on `refresh()`, and again
 * in the background when it is read more than `refreshMs` after the last look. Wraps use exactly
 * that version, so what currentKekId says is what new keys get.
 */
export class TransitKms extends KmsPort {
  private readonly base: string;
  private readonly mount: string;
  private readonly timeoutMs: number;
  private readonly refreshMs: number;
  private latest = 0;
  private lookedAt = 0;
  private refreshing: Promise<void> | undefined;
  private readonly client: typeof http | typeof https;
  private readonly agent: http.Agent;

  private constructor(private readonly options: TransitKmsOptions) {
    super();
    let url: URL;
    try {
      url = new URL(options.url);
    } catch {
      throw new KmsConfigError(`the transit KMS address ${JSON.stringify(options.url)} is not a URL`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new KmsConfigError(`the transit KMS address must be http(s), got ${url.protocol}`);
    if (!options.token) throw new KmsConfigError('the transit KMS needs a token');
    if (!TRANSIT_KEY_NAME.test(options.key)) throw new KmsConfigError(`invalid transit key name ${JSON.stringify(options.key)} (letters, digits, '.', '_', '-'; at most 44)`);
    this.base = url.toString().replace(/\/+$/, '');
    this.client = url.protocol === 'https:' ? https : http;
    // Idle sockets close after 30 s, well before the server's idle timeout (Vault: 5 min).
    this.agent = new this.client.Agent({ keepAlive: true, maxSockets: 16, timeout: 30_000 });
    this.mount = (options.mount ?? 'transit').replace(/^\/+|\/+$/g, '');
    this.timeoutMs = options.timeoutMs ?? 5_000;
    this.refreshMs = options.refreshMs ?? 60_000;
  }

  /**
   * A TransitKms whose key has been read: it must exist, be derived and support encryption
   * (KmsConfigError otherwise; KmsUnavailableError when the server cannot be reached).
   */
  static async connect(options: TransitKmsOptions): Promise<TransitKms> {
    const kms = new TransitKms(options);
    await kms.refresh();
    return kms;
  }

  /**
   * From HOTDASH_KMS_TRANSIT_URL, HOTDASH_KMS_TRANSIT_TOKEN (required) and HOTDASH_KMS_TRANSIT_KEY.
   * Keys wrapped under LocalKms's master keys (HOTDASH_KMS_MASTER_KEYS, or its development key
   * outside production) still unwrap, until a KEK rotation has moved them to the transit key.
   */
  static async fromEnv(env: NodeJS.ProcessEnv = process.env): Promise<TransitKms> {
    const token = readSetting('HOTDASH_KMS_TRANSIT_TOKEN', env);
    if (!token)
      throw new KmsConfigError(
        'HOTDASH_KMS_TRANSIT_TOKEN is not set; HOTDASH_KMS=transit needs a token allowed to encrypt, decrypt and rewrap with the transit key and to read it (`deploy/local/vault.sh env` prints the local one)',
      );
    const legacy = env[KMS_MASTER_KEYS_ENV]?.trim() || env.NODE_ENV !== 'production' ? LocalKms.fromEnv(env) : undefined;
    return TransitKms.connect({ url: readSetting('HOTDASH_KMS_TRANSIT_URL', env), token, key: readSetting('HOTDASH_KMS_TRANSIT_KEY', env), legacy });
  }

  get currentKekId(): string {
    if (Date.now() - this.lookedAt > this.refreshMs && !this.refreshing) void this.refresh().catch(() => undefined);
    return this.kekId(this.latest);
  }

  /** Reads the key's latest version (and checks the key is one TransitKms can use). */
  override async refresh(): Promise<void> {
    if (this.refreshing) return this.refreshing;
    this.refreshing = (async () => {
      try {
        const res = await this.call('GET', `keys/${this.options.key}`);
        if (res.status === 404) throw new KmsConfigError(`the transit key ${JSON.stringify(this.options.key)} does not exist at ${this.where()}`);
        const data = this.ok(res, 'read the key');
        if (data.derived !== true) throw new KmsConfigError(`the transit key ${JSON.stringify(this.options.key)} is not derived: TransitKms binds the tenant as its derivation context (create it with derived=true)`);
        if (data.supports_encryption !== true) throw new KmsConfigError(`the transit key ${JSON.stringify(this.options.key)} (type ${String(data.type)}) does not support encryption`);
        const latest = Number(data.latest_version);
        if (!Number.isSafeInteger(latest) || latest < 1) throw new KmsUnavailableError(`${this.where()} answered the key's read without a latest_version`);
        this.latest = latest;
      } finally {
        this.lookedAt = Date.now();
        this.refreshing = undefined;
      }
    })();
    return this.refreshing;
  }

  async wrap(tenantId: TenantId, dataKey: Buffer): Promise<WrappedKey> {
    if (!this.latest) await this.refresh();
    const encrypt = () => this.call('POST', `encrypt/${this.options.key}`, { plaintext: dataKey.toString('base64'), context: context(tenantId), key_version: this.latest });
    let res = await encrypt();
    if (res.status === 400 && res.errors.some((e) => /higher than the latest|less than the minimum/.test(e))) {
      // The key was re-created or its minimum raised since the last look: look again, once.
      await this.refresh();
      res = await encrypt();
    }
    if (res.status === 400 && res.errors.some((e) => /key not found/.test(e))) throw new KmsConfigError(`the transit key ${JSON.stringify(this.options.key)} does not exist at ${this.where()}`);
    return this.wrapped(this.ok(res, 'encrypt'));
  }

  async unwrap(tenantId: TenantId, key: WrappedKey): Promise<Buffer> {
    const version = this.ownVersion(key.kekId);
    if (version === undefined) return this.legacyUnwrap(tenantId, key);
    const res = await this.call('POST', `decrypt/${this.options.key}`, { ciphertext: ciphertext(version, key.wrapped), context: context(tenantId) });
    this.refused(res, tenantId, key.kekId);
    const plaintext = this.ok(res, 'decrypt').plaintext;
    if (typeof plaintext !== 'string') throw new KeyUnwrapFailedError(tenantId);
    return Buffer.from(plaintext, 'base64');
  }

  /** Transit's `rewrap`: the data key is decrypted and encrypted again under the current version on the server. */
  override async rewrap(tenantId: TenantId, key: WrappedKey): Promise<WrappedKey> {
    const version = this.ownVersion(key.kekId);
    if (version === undefined) return super.rewrap(tenantId, key);
    if (!this.latest) await this.refresh();
    const res = await this.call('POST', `rewrap/${this.options.key}`, { ciphertext: ciphertext(version, key.wrapped), context: context(tenantId), key_version: this.latest });
    this.refused(res, tenantId, key.kekId);
    return this.wrapped(this.ok(res, 'rewrap'));
  }

  private kekId(version: number): string {
    return `transit:${this.options.key}:v${version}`;
  }

  /** The version of a KEK id of this KMS's key; undefined for any other KEK id. */
  private ownVersion(kekId: string): number | undefined {
    const m = KEK_ID.exec(kekId);
    return m && m[1] === this.options.key ? Number(m[2]) : undefined;
  }

  private legacyUnwrap(tenantId: TenantId, key: WrappedKey): Promise<Buffer> {
    // A transit KEK id of another key is as unknown as any id no adapter holds.
    if (!this.options.legacy || KEK_ID.test(key.kekId)) throw new KmsUnknownKeyError(key.kekId);
    return this.options.legacy.unwrap(tenantId, key);
  }

  /** The KEK id and bytes of an encrypt or rewrap answer. */
  private wrapped(data: Record<string, unknown>): WrappedKey {
    const m = typeof data.ciphertext === 'string' ? CIPHERTEXT.exec(data.ciphertext) : null;
    if (!m) throw new KmsUnavailableError(`${this.where()} answered without a transit ciphertext`);
    const version = Number(m[1]);
    if (version > this.latest) this.latest = version;
    return { kekId: this.kekId(version), wrapped: Buffer.from(m[2]!, 'base64') };
  }

  /**
   * A decrypt or rewrap the server refused for the ciphertext: a version it does not hold (newer
   * than its latest, or below min_decryption_version) or a missing key → KmsUnknownKeyError; failed
   * authentication or a malformed ciphertext (another tenant's, corrupted) → KeyUnwrapFailedError.
   */
  private refused(res: TransitResponse, tenantId: TenantId, kekId: string): void {
    if (res.status !== 400) return;
    const text = res.errors.join('; ');
    if (/key not found|version is too new|too old|no such key version|invalid key version/i.test(text)) throw new KmsUnknownKeyError(kekId);
    throw new KeyUnwrapFailedError(tenantId);
  }

  /** The answer's data; anything but 2xx is an error naming the server, the operation and its words. */
  private ok(res: TransitResponse, what: string): Record<string, unknown> {
    if (res.status >= 200 && res.status < 300 && res.data) return res.data;
    const said = res.errors.length ? `: ${res.errors.join('; ').replace(/\s+/g, ' ').trim().slice(0, 300)}` : '';
    if (res.status === 401 || res.status === 403)
      throw new KmsConfigError(`${this.where()} refused to ${what} with the key ${JSON.stringify(this.options.key)} (${res.status}${said}): check HOTDASH_KMS_TRANSIT_TOKEN and its policy`);
    if (res.status === 503) throw new KmsUnavailableError(`${this.where()} is sealed or not ready (503${said})`);
    if (res.status >= 500 || res.status === 429) throw new KmsUnavailableError(`${this.where()} failed to ${what} (${res.status}${said})`);
    throw new KmsUnavailableError(`${this.where()} refused to ${what} (${res.status}${said})`);
  }

  private where(): string {
    return `the transit KMS at ${this.base}`;
  }

  private call(method: 'GET' | 'POST', path: string, body?: Record<string, unknown>): Promise<TransitResponse> {
    const payload = body ? Buffer.from(JSON.stringify(body)) : undefined;
    const headers: Record<string, string | number> = { 'X-Vault-Token': this.options.token };
    if (payload) Object.assign(headers, { 'Content-Type': 'application/json', 'Content-Length': payload.length });
    // node:http with a keep-alive agent rather than fetch: fetch (undici) spent several times the CPU per call.
    return new Promise<TransitResponse>((resolve, reject) => {
      const req = this.client.request(`${this.base}/v1/${this.mount}/${path}`, { method, headers, agent: this.agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (err) => reject(new KmsUnavailableError(`${this.where()} broke off its answer (${causeOf(err)})`)));
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          let json: { data?: unknown; errors?: unknown } = {};
          try {
            const text = Buffer.concat(chunks).toString('utf8');
            if (text) json = JSON.parse(text) as typeof json;
          } catch (err) {
            if (status >= 200 && status < 300) return reject(new KmsUnavailableError(`${this.where()} answered ${status} with a body that is not JSON (${causeOf(err)})`));
          }
          const errors = Array.isArray(json.errors) ? json.errors.map(String) : [];
          const data = json.data && typeof json.data === 'object' ? (json.data as Record<string, unknown>) : undefined;
          resolve({ status, data, errors });
        });
      });
      req.setTimeout(this.timeoutMs, () => req.destroy(Object.assign(new Error('timed out'), { name: 'TimeoutError' })));
      req.on('error', (err) => reject(new KmsUnavailableError(`${this.where()} could not be reached (${causeOf(err)})`)));
      req.end(payload);
    });
  }

}

/** The derivation context binding a wrapped key to its tenant (the same words as LocalKms's additional data). */
function context(tenantId: TenantId): string {
  return Buffer.from(`tenant:${tenantId}`, 'utf8').toString('base64');
}

function ciphertext(version: number, wrapped: Buffer): string {
  return `vault:v${version}:${wrapped.toString('base64')}`;
}

/** Why a request failed, in a word where there is one (`ECONNREFUSED`, `timed out`). Duck-typed: errors may come from another realm (Jest). */
function causeOf(err: unknown): string {
  type Failure = { name?: string; message?: string; code?: string; errors?: Failure[] };
  const e = (err ?? {}) as Failure;
  if (e.name === 'TimeoutError') return 'timed out';
  return e.code ?? e.errors?.find((x) => x.code)?.code ?? e.message ?? String(err);
}
