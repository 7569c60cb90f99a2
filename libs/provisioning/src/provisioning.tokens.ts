/** The provisioning service's Redis connection (published tenant limits). */
export const PROVISIONING_REDIS = Symbol('PROVISIONING_REDIS');
/**
 * Optional: the BullMQ queue of the provisioning service's saga engine (default: the platform's
 * saga queue). A spec that runs the service in process provides its own, so that another process
 * working the default queue at the same time never takes its sagas' steps.
 */
export const PROVISIONING_SAGA_QUEUE = Symbol('PROVISIONING_SAGA_QUEUE');
/**
 * Optional: how many saga jobs the provisioning service's engine works at once in this process
 * (default: the engine's, 10). Specs set it low to show that runs waiting for other runs never
 * starve them.
 */
export const PROVISIONING_SAGA_CONCURRENCY = Symbol('PROVISIONING_SAGA_CONCURRENCY');
/**
 * The check of a tenant's own model endpoint when its settings name one (`(url) => Promise<URL>`,
 * throwing the egress guard's EgressError): createEgressUrlCheck() of platform/models on
 * HOTDASH_EGRESS_ALLOW by default; a spec passes its own allow-list.
 */
export const SETTINGS_ENDPOINT_CHECK = Symbol('SETTINGS_ENDPOINT_CHECK');
