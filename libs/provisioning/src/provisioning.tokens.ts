/** The provisioning service's Redis connection (revocation markers, published tenant limits). */
export const PROVISIONING_REDIS = Symbol('PROVISIONING_REDIS');
