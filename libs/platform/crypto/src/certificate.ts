import { createPrivateKey, createPublicKey, KeyObject, sign, verify } from 'node:crypto';
import { canonicalJson, DEV_CERTIFICATE_VERIFY_KEY, ErasureCertificate, signedCertificate, TenantErasureCertificate } from '@hotdash/contracts';
import { readSetting } from '@hotdash/platform-config';
import { KmsConfigError } from './errors';

export const CERTIFICATE_SIGNING_KEY_ENV = 'HOTDASH_CERTIFICATE_SIGNING_KEY';
export const CERTIFICATE_VERIFY_KEYS_ENV = 'HOTDASH_CERTIFICATE_VERIFY_KEYS';

/**
 * The development certificate key pair, so the local stack and the specs sign with no setup. Public,
 * so a certificate it signed proves nothing: refused when NODE_ENV=production.
 */
const DEV_KID = DEV_CERTIFICATE_VERIFY_KEY.keyId;
const DEV_PRIVATE_PKCS8 = 'MC4CAQAwBQYDK2VwBCIEIMPKYI6pXak5usn++HX2VLRBm/+4jjx8toY+Mll1AXYp';

/**
 * Signs erasure certificates with the platform's Ed25519 key (HOTDASH_CERTIFICATE_SIGNING_KEY,
 * `kid:base64 of the PKCS#8 DER private key`). The signature covers the certificate's canonical JSON
 * (contracts' `canonicalJson`), so anyone holding the public key checks it with
 * `hotdash-ops certificate verify <file>` or with jq and openssl (docs/operations.md
 * "Erasure certificates"). A key of its own, not the token signing key: certificates outlive token
 * keys' rotations, and a leaked token key must not forge them.
 */
export class CertificateSigner {
  constructor(
    readonly keyId: string,
    private readonly key: KeyObject,
    /** True for the public development key. */
    readonly development = false,
  ) {
    if (key.asymmetricKeyType !== 'ed25519' || key.type !== 'private') throw new KmsConfigError(`${CERTIFICATE_SIGNING_KEY_ENV}: the key must be an Ed25519 private key`);
  }

  static fromEnv(env: NodeJS.ProcessEnv = process.env): CertificateSigner {
    const raw = readSetting('HOTDASH_CERTIFICATE_SIGNING_KEY', env)?.trim();
    if (!raw) {
      if (env.NODE_ENV === 'production') throw new KmsConfigError(`${CERTIFICATE_SIGNING_KEY_ENV} is not set; it is required in production`);
      return new CertificateSigner(DEV_KID, createPrivateKey({ key: Buffer.from(DEV_PRIVATE_PKCS8, 'base64'), format: 'der', type: 'pkcs8' }), true);
    }
    const [kid, der] = splitKid(raw, CERTIFICATE_SIGNING_KEY_ENV);
    return new CertificateSigner(kid, createPrivateKey({ key: Buffer.from(der, 'base64'), format: 'der', type: 'pkcs8' }));
  }

  /** The public key, SPKI DER in base64 (what HOTDASH_CERTIFICATE_VERIFY_KEYS lists after `kid:`). */
  publicKeySpki(): string {
    return createPublicKey(this.key).export({ format: 'der', type: 'spki' }).toString('base64');
  }

  /** Signs a data subject's erasure certificate or a tenant's offboarding certificate. */
  sign<C extends ErasureCertificate | TenantErasureCertificate>(certificate: C): { certificate: C; signature: { alg: 'Ed25519'; keyId: string; value: string } } {
    const value = sign(null, Buffer.from(canonicalJson(certificate), 'utf8'), this.key).toString('base64');
    return { certificate, signature: { alg: 'Ed25519', keyId: this.keyId, value } };
  }
}

/** Why a certificate does not verify. */
export type CertificateVerdict = { valid: true; keyId: string } | { valid: false; reason: 'malformed' | 'unknown-key' | 'bad-signature' };

/**
 * Checks a signed certificate (as parsed JSON) against the platform's public keys by key id: its
 * shape, then the Ed25519 signature over the canonical JSON of `certificate`. Any change to the
 * certificate, the signature or the key id answers invalid.
 */
export function verifyCertificate(signed: unknown, publicKeys: ReadonlyMap<string, KeyObject>): CertificateVerdict {
  const parsed = signedCertificate.safeParse(signed);
  if (!parsed.success) return { valid: false, reason: 'malformed' };
  const key = publicKeys.get(parsed.data.signature.keyId);
  if (!key) return { valid: false, reason: 'unknown-key' };
  // The certificate as it was given (parsed.data drops nothing of a valid one; strict schemas).
  const payload = Buffer.from(canonicalJson((signed as { certificate: unknown }).certificate), 'utf8');
  const ok = verify(null, payload, key, Buffer.from(parsed.data.signature.value, 'base64'));
  return ok ? { valid: true, keyId: parsed.data.signature.keyId } : { valid: false, reason: 'bad-signature' };
}

/** The verification keys of HOTDASH_CERTIFICATE_VERIFY_KEYS (`kid:base64 SPKI DER`, comma separated); the development key when unset outside production. */
export function certificateVerifyKeysFromEnv(env: NodeJS.ProcessEnv = process.env): Map<string, KeyObject> {
  const raw = readSetting('HOTDASH_CERTIFICATE_VERIFY_KEYS', env)?.trim();
  if (!raw) {
    if (env.NODE_ENV === 'production') throw new KmsConfigError(`${CERTIFICATE_VERIFY_KEYS_ENV} is not set; it is required in production`);
    return new Map([[DEV_KID, createPublicKey({ key: Buffer.from(DEV_CERTIFICATE_VERIFY_KEY.spki, 'base64'), format: 'der', type: 'spki' })]]);
  }
  const keys = new Map<string, KeyObject>();
  for (const entry of raw.split(',').map((s) => s.trim()).filter(Boolean)) {
    const [kid, der] = splitKid(entry, CERTIFICATE_VERIFY_KEYS_ENV);
    keys.set(kid, createPublicKey({ key: Buffer.from(der, 'base64'), format: 'der', type: 'spki' }));
  }
  return keys;
}

function splitKid(entry: string, env: string): [string, string] {
  const i = entry.indexOf(':');
  if (i <= 0) throw new KmsConfigError(`${env}: expected kid:base64`);
  return [entry.slice(0, i), entry.slice(i + 1)];
}
