/** The provisioning service's Redis connection (published tenant limits). */
export const PROVISIONING_REDIS = Symbol('PROVISIONING_REDIS');
/**
 * Optional: the BullMQ queue of the provisioning service's saga engine (default: the platform's
 * saga queue). A spec that runs the service in process provides its own, so that another process
 * working the default queue at the same time never takes its sagas' steps.
 */
export const PROVISIONING_SAGA_QUEUE = Symbol('PROVISIONING_SAGA_QUEUE');
