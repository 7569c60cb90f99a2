// What `hotdash-ops tenants dedicate|share` and `dedicated watch` print of a run, without a gateway:
// its progress row (with its move's phase) and what a finished run left. The arguments' checks run
// through the bin: e2e/ops-dedicated.e2e-spec.ts.
import type { DedicatedRun } from '@hotdash/contracts';
import { dedicatedPhaseText, dedicatedRunText } from './dedicated';

const TENANT = '01900000-0000-7000-8000-0000000000aa';

const step = (id: string, status: string, detail: unknown = null) => ({ id, description: id, status, attempts: 1, lastError: null, startedAt: null, completedAt: null, compensatedAt: null, detail });
const dedicateRun = (over: Partial<DedicatedRun> = {}): DedicatedRun => ({
  id: '01900000-0000-7000-8000-0000000000bb',
  kind: 'dedicate',
  tenantId: TENANT,
  status: 'running',
  phase: 'await-move',
  actor: 'ops:carol',
  source: 'shard-1',
  target: { shard: 'dedicated-x', host: '127.0.0.1', port: 54329, database: 'hotdash_dedicated_x', region: 'local', kind: 'dedicated', mode: 'create' },
  keep: null,
  move: { id: '01900000-0000-7000-8000-0000000000cc', status: 'running', phase: 'initial-copy', decided: false, progress: { tablesReady: 3, tables: 30 } },
  steps: [step('create-database', 'completed'), step('register', 'completed'), step('move', 'completed'), step('await-move', 'running'), step('finish', 'pending')],
  error: null,
  startedAt: '2026-12-15T00:00:00.000Z',
  finishedAt: null,
  ...over,
});

it('shows a run’s phase with its move’s, and what a finished run left', () => {
  expect(dedicatedPhaseText(dedicateRun())).toBe('await-move (initial-copy 3/30 tables)');
  expect(dedicatedRunText(dedicateRun())).toMatch(/Follow it: hotdash-ops dedicated watch/);
  expect(dedicatedRunText(dedicateRun({ status: 'succeeded', phase: null }))).toMatch(/served by its dedicated shard dedicated-x \(database hotdash_dedicated_x, created\)/);
  const shared = dedicateRun({
    kind: 'share',
    status: 'succeeded',
    phase: null,
    source: 'dedicated-x',
    keep: false,
    target: { shard: 'shard-2', host: '127.0.0.1', port: 54329, database: 'hotdash_shard_2', region: 'local', kind: 'shared', mode: null },
    steps: [step('reserve-shard', 'completed'), step('move', 'completed'), step('await-move', 'completed'), step('free-shard', 'completed', { status: 'retired', kept: false }), step('finish', 'completed')],
  });
  expect(dedicatedRunText(shared)).toMatch(/dedicated-x is retired \(its database is kept: drop it by hand/);
});
