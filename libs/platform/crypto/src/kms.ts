import type { TenantId } from '@hotdash/contracts';

/** A data key wrapped by a key-encryption key (KEK); `kekId` says which KEK, so KEKs can rotate. */
export interface WrappedKey {
  kekId: string;
  wrapped: Buffer;
}

/**
 * The key-management port: wraps and unwraps tenant data keys with a key-encryption key the
 * platform never stores next to the data. The tenant id is bound to the wrapped key, so a wrapped
 * key copied to another tenant's row does not unwrap. Adapters: {@link LocalKms} (master keys from
 * configuration) and {@link TransitKms} (the transit engine of a Vault or OpenBao server); the
 * configuration picks one (`kmsFromEnv`).
 *
 * An abstract class rather than an interface so that it can also serve as a Nest injection token.
 */
export abstract class KmsPort {
  /** The KEK new keys are wrapped with. */
  abstract readonly currentKekId: string;

  /** Wraps `dataKey` for `tenantId` with the current KEK. */
  abstract wrap(tenantId: TenantId, dataKey: Buffer): Promise<WrappedKey>;

  /**
   * Unwraps a key wrapped for `tenantId` by any KEK this KMS still holds (current or older).
   * Throws KmsUnknownKeyError for a KEK it does not hold, KeyUnwrapFailedError when authentication fails.
   */
  abstract unwrap(tenantId: TenantId, key: WrappedKey): Promise<Buffer>;

  /**
   * The same data key wrapped again under the current KEK (a KEK rotation), with the errors of
   * unwrap. This default unwraps and wraps in this process and zeroes the data key afterwards; a
   * KMS that can re-wrap on its side (transit's `rewrap`) overrides it so the key never leaves it.
   */
  async rewrap(tenantId: TenantId, key: WrappedKey): Promise<WrappedKey> {
    const dataKey = await this.unwrap(tenantId, key);
    try {
      return await this.wrap(tenantId, dataKey);
    } finally {
      dataKey.fill(0);
    }
  }

  /**
   * Asks the KMS which KEK is current now (a remote KMS's key may have been rotated since this
   * process last looked); `currentKekId` says it afterwards. A no-op for a KMS whose keys come from
   * this process's configuration. Call it before reading `currentKekId` where a fresh answer
   * matters (starting a KEK rotation).
   */
  async refresh(): Promise<void> {}
}
