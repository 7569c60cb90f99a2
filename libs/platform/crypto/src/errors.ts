/**
 * Errors of the crypto library. Each carries a stable machine-readable `code` (the HTTP layer maps
 * codes to RFC 9457 problems). Messages name the tenant and the field at most: never plaintext,
 * ciphertext or key material.
 */
export abstract class CryptoError extends Error {
  abstract readonly code: string;
}

/** The KMS configuration is missing or malformed (the process must not start). */
export class KmsConfigError extends CryptoError {
  readonly code = 'kms-config-invalid';
  constructor(message: string) {
    super(message);
    this.name = 'KmsConfigError';
  }
}

/**
 * A remote KMS could not be asked: unreachable, timed out, sealed, or failing (5xx). Nothing was
 * wrapped or unwrapped; the call may succeed later (the message names the address and the cause).
 */
export class KmsUnavailableError extends CryptoError {
  readonly code = 'kms-unavailable';
  constructor(message: string) {
    super(message);
    this.name = 'KmsUnavailableError';
  }
}

/** A wrapped key names a key-encryption key this KMS does not hold (retired too early, or wrong environment). */
export class KmsUnknownKeyError extends CryptoError {
  readonly code = 'kms-unknown-key';
  constructor(readonly kekId: string) {
    super(`key-encryption key ${JSON.stringify(kekId)} is not configured`);
    this.name = 'KmsUnknownKeyError';
  }
}

/** A wrapped data key failed authentication: corrupted, or wrapped for another tenant. */
export class KeyUnwrapFailedError extends CryptoError {
  readonly code = 'key-unwrap-failed';
  constructor(readonly tenantId: string) {
    super(`the data key of tenant ${tenantId} could not be unwrapped (corrupted, or bound to another tenant)`);
    this.name = 'KeyUnwrapFailedError';
  }
}

/** The tenant has no data key (never provisioned): nothing can be encrypted or decrypted for it. */
export class TenantKeyMissingError extends CryptoError {
  readonly code = 'tenant-key-missing';
  constructor(readonly tenantId: string) {
    super(`tenant ${tenantId} has no data key`);
    this.name = 'TenantKeyMissingError';
  }
}

/** The tenant's data key was destroyed (crypto-shredding): its data is gone for good. */
export class TenantKeyDestroyedError extends CryptoError {
  readonly code = 'tenant-key-destroyed';
  constructor(readonly tenantId: string) {
    super(`the data key of tenant ${tenantId} was destroyed`);
    this.name = 'TenantKeyDestroyedError';
  }
}

/**
 * A token did not decrypt: malformed, tampered with, or bound to another tenant or field. The
 * causes are deliberately not told apart.
 */
export class DecryptionFailedError extends CryptoError {
  readonly code = 'decryption-failed';
  constructor(
    readonly tenantId: string,
    readonly field: string,
    /** The token names a data subject key this platform does not hold (yet: an import carries its pilot's last keys after the cut-over). */
    readonly keyMissing = false,
  ) {
    super(`field ${JSON.stringify(field)} of tenant ${tenantId} could not be decrypted`);
    this.name = 'DecryptionFailedError';
  }
}
