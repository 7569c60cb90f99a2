/**
 * Errors of the model adapters, each with a stable `code`. Messages name the provider's URL, the
 * operation and what it answered: never the prompt, the texts or the API key.
 */
export class ModelError extends Error {
  constructor(
    readonly code:
      | 'model-unavailable'
      | 'model-timeout'
      | 'model-auth-failed'
      | 'model-rate-limited'
      | 'model-refused'
      | 'model-bad-answer'
      /** The endpoint itself is not allowed (a tenant's URL to a private, loopback or platform address, or plain http): never retried. */
      | 'model-endpoint-refused',
    message: string,
    /** Whether trying again later may succeed (the job's retries decide). */
    readonly retryable: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ModelError';
  }
}
