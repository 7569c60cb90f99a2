import { isDatabaseContention, isStoreUnavailable, StoreUnavailableError } from './store-unavailable';

const withCode = (message: string, code: string | number): Error => Object.assign(new Error(message), { code });
const named = (message: string, name: string): Error => Object.assign(new Error(message), { name });

describe('isStoreUnavailable', () => {
  it.each([
    ['a refused connection', withCode('connect ECONNREFUSED 127.0.0.1:54329', 'ECONNREFUSED')],
    ['a reset socket', withCode('read ECONNRESET', 'ECONNRESET')],
    ['PostgreSQL shut down by its administrator', withCode('terminating connection due to administrator command', '57P01')],
    ['PostgreSQL starting up', withCode('the database system is starting up', '57P03')],
    ['a PostgreSQL connection exception', withCode('connection failure', '08006')],
    ['pg: the socket closed under a query', new Error('Connection terminated unexpectedly')],
    ['pg-pool: no connection in time', new Error('timeout exceeded when trying to connect')],
    ['ioredis: the connection closed', new Error('Connection is closed.')],
    ['ioredis: retries per request used up', named('Reached the max retries per request limit (which is 20). Refer to "maxRetriesPerRequest" option for details.', 'MaxRetriesPerRequestError')],
    ['the vector store unreachable', named('Weaviate at http://127.0.0.1:18080 is unreachable (ECONNREFUSED)', 'VectorStoreUnavailableError')],
    ['the vector store not answering in time', named('Weaviate request search timed out after 10000 ms', 'VectorStoreTimeoutError')],
    ['gRPC UNAVAILABLE', withCode('14 UNAVAILABLE: No connection established', 14)],
    ['our own marker', new StoreUnavailableError('kafka', 'no broker answered')],
    ['fetch failing on a refused connection (the cause)', new TypeError('fetch failed', { cause: withCode('connect ECONNREFUSED 127.0.0.1:18080', 'ECONNREFUSED') })],
    ['an AggregateError of refused addresses', Object.assign(new AggregateError([withCode('connect ECONNREFUSED ::1:6379', 'ECONNREFUSED'), withCode('connect ECONNREFUSED 127.0.0.1:6379', 'ECONNREFUSED')], ''), {})],
  ])('%s is a store outage', (_what, err) => {
    expect(isStoreUnavailable(err)).toBe(true);
  });

  it.each([
    ['a constraint violation', withCode('duplicate key value violates unique constraint', '23505')],
    ['a serialization failure', withCode('could not serialize access', '40001')],
    ['a plain error', new Error('drafting failed')],
    ['a type error', new TypeError("Cannot read properties of undefined (reading 'id')")],
    // A model endpoint is not a store: its own error (with a code) is final, whatever it wraps.
    ['a model endpoint refusing connections', Object.assign(new Error('https://models.example/v1 is unreachable (ECONNREFUSED)', { cause: withCode('connect ECONNREFUSED', 'ECONNREFUSED') }), { code: 'model-unavailable' })],
    ['nothing', undefined],
    ['a string', 'ECONNREFUSED'],
  ])('%s is not', (_what, err) => {
    expect(isStoreUnavailable(err)).toBe(false);
  });

  it('follows a chain of causes without looping on a cycle', () => {
    const a = new Error('outer') as Error & { cause?: unknown };
    const b = new Error('inner', { cause: a });
    a.cause = b;
    expect(isStoreUnavailable(a)).toBe(false);
    expect(isStoreUnavailable(new Error('wrapper', { cause: new Error('middle', { cause: withCode('x', 'ECONNREFUSED') }) }))).toBe(true);
  });
});

describe('isDatabaseContention', () => {
  it('knows a transaction refused for a lock or its turn (55P03, 40001, 40P01), bare or wrapped', () => {
    for (const code of ['55P03', '40001', '40P01']) {
      const err = Object.assign(new Error('refused'), { code });
      expect(isDatabaseContention(err)).toBe(true);
      expect(isDatabaseContention(new Error('in a transaction', { cause: err }))).toBe(true);
      expect(isStoreUnavailable(err)).toBe(false); // contention is not an outage
    }
  });

  it('is false for the work’s own failures and for an outage', () => {
    expect(isDatabaseContention(Object.assign(new Error('duplicate key'), { code: '23505' }))).toBe(false);
    expect(isDatabaseContention(Object.assign(new Error('statement timeout'), { code: '57014' }))).toBe(false);
    expect(isDatabaseContention(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }))).toBe(false);
    expect(isDatabaseContention(new Error('no code'))).toBe(false);
    expect(isDatabaseContention(undefined)).toBe(false);
  });
});
