/** The provisioning service's Redis connection (published tenant limits). */
export const PROVISIONING_REDIS = Symbol('PROVISIONING_REDIS');
