// Which errors mean "a store is unreachable right now" (PostgreSQL restarting, the Kafka broker or
// Redis down, Weaviate not answering), as opposed to a failure of the work itself. Work that meets
// one waits for the store and tries again without using up its attempts: an outage must not turn
// events into dead letters or drafts into failures. It lives in the lowest platform library because
// the event transport, the job workers and the HTTP edge (503 instead of 500) all ask it.

/** Thrown by adapters that know their store is unreachable (e.g. the vector store's connection errors). */
export class StoreUnavailableError extends Error {
  constructor(
    readonly store: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${store} unavailable: ${message}`, options);
    this.name = 'StoreUnavailableError';
  }
}

/** Socket-level failures of Node, undici (fetch) and the drivers. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_CLOSED',
]);

/**
 * PostgreSQL's SQLSTATEs of a server going away or not taking connections yet: class 08
 * (connection exception), 57P01-57P03 (shut down by the administrator, crashed, starting up) and
 * 53300 (too many connections, a server restarting under its clients).
 */
function isPostgresUnavailable(code: string): boolean {
  return code.startsWith('08') || code === '57P01' || code === '57P02' || code === '57P03' || code === '53300';
}

/** What the drivers say without a code: pg's pool and client, ioredis, the gRPC client of Weaviate. */
const MESSAGES = [
  /^Connection terminated/, // pg: the server closed the socket under a query or a connect
  /timeout exceeded when trying to connect/, // pg-pool: no connection within connectionTimeoutMillis
  /Client has encountered a connection error and is not queryable/, // pg
  /^Connection is closed\.?$/, // ioredis
  /Stream isn't writeable and enableOfflineQueue options is false/, // ioredis
  /Reached the max retries per request limit/, // ioredis MaxRetriesPerRequestError
  /Failed to refresh slots cache/, // ioredis Cluster
  /\bUNAVAILABLE\b.*(No connection established|connect|Connection dropped)/, // gRPC status 14
];
/** Errors of our adapters and the clients that mean an outage (a vector store that does not answer in time is down or overloaded). */
const NAMES = new Set(['MaxRetriesPerRequestError', 'ClusterAllFailedError', 'StoreUnavailableError', 'VectorStoreUnavailableError', 'VectorStoreTimeoutError', 'KafkaJSConnectionError', 'KafkaJSNumberOfRetriesExceeded']);

/**
 * True when `err` (or an error it wraps: `cause`, an AggregateError's `errors`) says a store could
 * not be reached or went away mid-call; false for everything else, which the caller treats as a
 * failure of the work.
 */
export function isStoreUnavailable(err: unknown): boolean {
  const seen = new Set<unknown>();
  const walk = (e: unknown, depth: number): boolean => {
    if (!e || typeof e !== 'object' || depth > 6 || seen.has(e)) return false;
    seen.add(e);
    const { code, name, message, cause, errors } = e as { code?: unknown; name?: unknown; message?: unknown; cause?: unknown; errors?: unknown };
    if (typeof code === 'string' && (NETWORK_CODES.has(code) || (/^[0-9A-Z]{5}$/.test(code) && isPostgresUnavailable(code)))) return true;
    if (code === 14 && typeof message === 'string') return true; // gRPC UNAVAILABLE
    if (typeof name === 'string' && NAMES.has(name)) return true;
    // An error with a code of its own (a model endpoint's ModelError, a constraint violation) has
    // said what it is: neither its message nor what it wraps is looked into (a model endpoint that
    // refuses connections is not a store of the platform).
    if (typeof code === 'string') return false;
    if (typeof message === 'string' && MESSAGES.some((m) => m.test(message))) return true;
    if (Array.isArray(errors) && errors.some((x) => walk(x, depth + 1))) return true;
    return walk(cause, depth + 1);
  };
  return walk(err, 0);
}

/**
 * PostgreSQL's SQLSTATEs of a transaction refused for want of a lock or of its turn, not for what
 * it asked: 55P03 (a lock not obtained in time: lock_timeout, or the embedded database's wait for
 * another connection's transaction), 40001 (serialization failure), 40P01 (deadlock). It was rolled
 * back; the same work a moment later may go through.
 */
const CONTENTION_SQLSTATES = new Set(['55P03', '40001', '40P01']);

/** True when `err` (or an error it wraps, through `cause`) is a transaction refused for contention: {@link CONTENTION_SQLSTATES}. */
export function isDatabaseContention(err: unknown): boolean {
  for (let x = err, depth = 0; x && typeof x === 'object' && depth < 4; x = (x as { cause?: unknown }).cause, depth++) {
    const code = (x as { code?: unknown }).code;
    if (typeof code === 'string') return CONTENTION_SQLSTATES.has(code);
  }
  return false;
}
