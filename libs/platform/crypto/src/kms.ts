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
 * configuration); a cloud KMS adapter implements the same two calls.
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
}
