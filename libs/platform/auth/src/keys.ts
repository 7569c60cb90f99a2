import { createPrivateKey, createPublicKey, KeyObject } from 'node:crypto';

export const AUTH_SIGNING_KEY_ENV = 'HOTDASH_AUTH_SIGNING_KEY';
export const AUTH_VERIFY_KEYS_ENV = 'HOTDASH_AUTH_VERIFY_KEYS';

/**
 * A development-only Ed25519 key pair, so the local stack and the tests work with no setup. Never
 * used in production: fromEnv() refuses to start without real keys when NODE_ENV=production.
 */
const DEV_KID = 'dev-1';
const DEV_PRIVATE_PKCS8 = 'MC4CAQAwBQYDK2VwBCIEIKmz1Z0VDy4GKTIEMmoKQWq/HQSMnPavVZNVV1aaqBqS';
const DEV_PUBLIC_SPKI = 'MCowBQYDK2VwAyEAeBrXvSp5qKJwUH5AieEklmZjzF5eAWBjA2KIjS+9PsA=';

export class AuthConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AuthConfigError';
  }
}

/**
 * The keys tokens are signed and verified with (EdDSA, Ed25519). The gateway holds the signing key;
 * services hold only the verification keys, by key id, so keys can be rotated: publish the new
 * public key everywhere first, then switch the gateway's signing key.
 */
export class AuthKeys {
  constructor(
    readonly signing: { kid: string; key: KeyObject } | undefined,
    readonly verifying: ReadonlyMap<string, KeyObject>,
    /** True for the public development pair: anyone can mint tokens it accepts. */
    readonly development = false,
  ) {}

  /**
   * HOTDASH_AUTH_SIGNING_KEY: `kid:base64 of the PKCS#8 DER private key` (gateway only).
   * HOTDASH_AUTH_VERIFY_KEYS: comma-separated `kid:base64 of the SPKI DER public key`.
   * Generate a pair with `node -e "…generateKeyPairSync('ed25519')…"` (see docs/operations.md).
   */
  static fromEnv(env: NodeJS.ProcessEnv = process.env): AuthKeys {
    const signingRaw = env[AUTH_SIGNING_KEY_ENV]?.trim();
    const verifyRaw = env[AUTH_VERIFY_KEYS_ENV]?.trim();
    if (!signingRaw && !verifyRaw) {
      if (env.NODE_ENV === 'production')
        throw new AuthConfigError(`${AUTH_VERIFY_KEYS_ENV} is not set; it is required in production (and ${AUTH_SIGNING_KEY_ENV} on the gateway)`);
      return AuthKeys.development();
    }
    const verifying = new Map<string, KeyObject>();
    for (const entry of (verifyRaw ?? '').split(',').map((s) => s.trim()).filter(Boolean)) {
      const [kid, der] = splitKid(entry, AUTH_VERIFY_KEYS_ENV);
      verifying.set(kid, ed25519(createPublicKey({ key: Buffer.from(der, 'base64'), format: 'der', type: 'spki' }), AUTH_VERIFY_KEYS_ENV));
    }
    let signing: AuthKeys['signing'];
    if (signingRaw) {
      const [kid, der] = splitKid(signingRaw, AUTH_SIGNING_KEY_ENV);
      const key = ed25519(createPrivateKey({ key: Buffer.from(der, 'base64'), format: 'der', type: 'pkcs8' }), AUTH_SIGNING_KEY_ENV);
      signing = { kid, key };
      if (!verifying.has(kid)) verifying.set(kid, createPublicKey(key));
    }
    return new AuthKeys(signing, verifying);
  }

  static development(): AuthKeys {
    const key = createPrivateKey({ key: Buffer.from(DEV_PRIVATE_PKCS8, 'base64'), format: 'der', type: 'pkcs8' });
    return new AuthKeys({ kid: DEV_KID, key }, new Map([[DEV_KID, createPublicKey({ key: Buffer.from(DEV_PUBLIC_SPKI, 'base64'), format: 'der', type: 'spki' })]]), true);
  }
}

function splitKid(entry: string, env: string): [string, string] {
  const i = entry.indexOf(':');
  if (i <= 0) throw new AuthConfigError(`${env}: expected kid:base64, got an entry without a key id`);
  return [entry.slice(0, i), entry.slice(i + 1)];
}

function ed25519(key: KeyObject, env: string): KeyObject {
  if (key.asymmetricKeyType !== 'ed25519') throw new AuthConfigError(`${env}: the key must be Ed25519, got ${key.asymmetricKeyType}`);
  return key;
}
