import { EventEmitter } from 'node:events';
import { PgInstrumentation } from '@opentelemetry/instrumentation-pg';
import { withoutPoolMetrics } from './sdk';

/** A pg-pool as the instrumentation sees it: its options and its events. */
const pool = () => Object.assign(new EventEmitter(), { options: { host: '127.0.0.1', port: 5432, database: 'd', max: 10 }, totalCount: 0, idleCount: 0, waitingCount: 0 });
const listeners = (p: EventEmitter) => ['connect', 'acquire', 'remove', 'release'].map((e) => p.listenerCount(e));

describe('the pg instrumentation without its pool metrics', () => {
  it('still has the internal it relies on: the instrumentation listens to a pool’s checkouts to count them', () => {
    // If an upgrade renames it, this fails and withoutPoolMetrics must follow.
    const p = pool();
    (new PgInstrumentation({ enabled: false }) as unknown as { _setPoolConnectEventListeners(pool: unknown): void })._setPoolConnectEventListeners(p);
    expect(listeners(p)).toEqual([1, 1, 1, 1]);
  });

  it('adds no listener to a pool: its checkouts and releases cost nothing more, sampled or not', () => {
    const p = pool();
    (withoutPoolMetrics(new PgInstrumentation({ enabled: false })) as unknown as { _setPoolConnectEventListeners(pool: unknown): void })._setPoolConnectEventListeners(p);
    expect(listeners(p)).toEqual([0, 0, 0, 0]);
  });
});
