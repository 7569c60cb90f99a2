/**
 * Thrown by a handler for a failure that retrying cannot fix (the event is wrong, not the moment):
 * the transport dead-letters the event at once instead of after the remaining attempts.
 */
export class NonRetryableError extends Error {
  constructor(
    message: string,
    readonly code = 'non-retryable',
  ) {
    super(message);
    this.name = 'NonRetryableError';
  }
}
