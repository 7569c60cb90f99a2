/**
 * Errors of the vector library. Each carries a stable machine-readable `code` (the HTTP layer maps
 * codes to RFC 9457 problems). Messages name the collection, the tenant, object ids and what the
 * vector store answered: never chunk text or vectors.
 */
export abstract class VectorStoreError extends Error {
  abstract readonly code: string;
}

/** The configuration is unusable (bad collection name, or an existing collection that is not multi-tenant). */
export class VectorStoreConfigError extends VectorStoreError {
  readonly code = 'vector-store-config-invalid';
  constructor(message: string) {
    super(message);
    this.name = 'VectorStoreConfigError';
  }
}

/** The vector store could not be reached at all (connection refused, unknown host, reset). */
export class VectorStoreUnavailableError extends VectorStoreError {
  readonly code = 'vector-store-unavailable';
  constructor(
    readonly url: string,
    reason: string,
    options?: { cause?: unknown },
  ) {
    super(`Weaviate at ${url} is unreachable (${reason}): is Weaviate running (HTTP and gRPC ports)? npm run infra:up`, options);
    this.name = 'VectorStoreUnavailableError';
  }
}

/** A request got no complete answer within its time limit. */
export class VectorStoreTimeoutError extends VectorStoreError {
  readonly code = 'vector-store-timeout';
  constructor(
    readonly operation: string,
    readonly timeoutMs: number,
  ) {
    super(`Weaviate request ${operation} timed out after ${timeoutMs} ms`);
    this.name = 'VectorStoreTimeoutError';
  }
}

/**
 * The store refused a request. `status` is the HTTP status when it answered over HTTP (undefined
 * over gRPC or for the embedded store), `weaviateMessage` what the store said.
 */
export class VectorStoreRequestError extends VectorStoreError {
  readonly code: string = 'vector-store-request-failed';
  constructor(
    readonly operation: string,
    readonly status: number | undefined,
    readonly weaviateMessage: string,
  ) {
    super(`the vector store refused ${operation}${status === undefined ? '' : ` (HTTP ${status})`}: ${weaviateMessage}`);
    this.name = 'VectorStoreRequestError';
  }
}

/** The tenant has no namespace in the collection (never created, or deleted at offboarding). */
export class VectorTenantNotFoundError extends VectorStoreRequestError {
  override readonly code = 'vector-tenant-not-found';
  constructor(
    readonly tenantId: string,
    operation: string,
    status: number | undefined,
    weaviateMessage: string,
  ) {
    super(operation, status, weaviateMessage);
    this.message = `tenant ${tenantId} has no vector namespace (${operation}${status === undefined ? '' : `, HTTP ${status}`}): ${weaviateMessage}`;
    this.name = 'VectorTenantNotFoundError';
  }
}

/** Some objects of a batch were not written; `failures` names each one and why. */
export class VectorBatchError extends VectorStoreError {
  readonly code = 'vector-batch-failed';
  constructor(
    readonly tenantId: string,
    readonly failures: readonly { id: string; message: string }[],
    readonly attempted: number,
  ) {
    const shown = failures
      .slice(0, 5)
      .map((f) => `${f.id}: ${f.message}`)
      .join('; ');
    const more = failures.length > 5 ? `; and ${failures.length - 5} more` : '';
    super(`${failures.length} of ${attempted} chunks of tenant ${tenantId} were not written: ${shown}${more}`);
    this.name = 'VectorBatchError';
  }
}
