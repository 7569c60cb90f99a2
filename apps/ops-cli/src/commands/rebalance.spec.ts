// What `hotdash-ops rebalance` prints of a plan and of a run, without a gateway: the shards before
// and after, the moves, who stays and why, a cut plan; a run's moves with their states and what to
// do when it stopped. The arguments' checks run through the bin: e2e/ops-cli.e2e-spec.ts.
import type { RebalancePlan, RebalanceRun } from '@hotdash/contracts';
import { rebalancePlanText, rebalanceRunText } from './rebalance';

const T1 = '01900000-0000-7000-8000-0000000000a1';
const T2 = '01900000-0000-7000-8000-0000000000a2';
const T3 = '01900000-0000-7000-8000-0000000000a3';
const RUN = '01900000-0000-7000-8000-0000000000bb';

const plan: RebalancePlan = {
  region: 'eu-west-1',
  measuredAt: '2026-12-15T10:00:00.000Z',
  shards: [
    { name: 'eu-1', status: 'active', before: { tenants: 3, bytes: 3 * 1024 ** 2 }, after: { tenants: 2, bytes: 2 * 1024 ** 2 } },
    { name: 'eu-2', status: 'active', before: { tenants: 0, bytes: 0 }, after: { tenants: 2, bytes: 1536 * 1024 } },
    { name: 'eu-3', status: 'draining', before: { tenants: 2, bytes: 600 * 1024 }, after: { tenants: 1, bytes: 100 * 1024 } },
  ],
  moves: [
    { tenantId: T1, slug: 'acme', from: 'eu-3', to: 'eu-2', bytes: 500 * 1024, reason: 'drain' },
    { tenantId: T2, slug: 'globex', from: 'eu-1', to: 'eu-2', bytes: 1024 ** 2, reason: 'balance' },
  ],
  pinned: [{ tenantId: T3, slug: 'initech', shard: 'eu-3', reason: 'suspended' }],
  before: { tenants: { min: 0, max: 3 }, bytes: { min: 0, max: 3 * 1024 ** 2, mean: 1536 * 1024 } },
  after: { tenants: { min: 2, max: 2 }, bytes: { min: 1536 * 1024, max: 2 * 1024 ** 2, mean: 1792 * 1024 } },
  truncated: true,
};

it('prints a plan: shards before and after, the moves in order, who stays and why, the spreads, a cut plan', () => {
  const text = rebalancePlanText(plan, 'Dry run: the plan for');
  expect(text).toMatch(/^Dry run: the plan for region eu-west-1, measured 2026-12-15T10:00:00.000Z:\n/);
  expect(text).toMatch(/eu-1 +active +3 +3\.0 MiB +2 +2\.0 MiB\n/);
  expect(text).toMatch(/eu-3 +draining +2 +600 KiB +1 +100 KiB\n/);
  expect(text).toMatch(new RegExp(`1 +${T1} +acme +eu-3 +eu-2 +500 KiB +drain\\n2 +${T2} +globex +eu-1 +eu-2 +1\\.0 MiB +balance\\n`));
  expect(text).toContain(`stays: tenant ${T3} (initech) on eu-3: suspended`);
  expect(text).toContain('Before: tenants 0–3 per shard, 0 B–3.0 MiB (mean 1.5 MiB).');
  expect(text).toContain('After:  tenants 2–2 per shard, 1.5 MiB–2.0 MiB (mean 1.8 MiB).');
  expect(text).toContain('cut at --max-moves');
  expect(rebalancePlanText({ ...plan, moves: [], pinned: [], truncated: false }, 'Dry run: the plan for')).toContain('No move: the active shards are even');
});

it('prints a run: each move’s state, and what to do when it stopped or was interrupted', () => {
  const progress = (over: Partial<RebalanceRun['moves'][number]>) => ({ ...plan.moves[0]!, state: 'succeeded' as const, runId: null, code: null, error: null, startedAt: null, finishedAt: null, ...over });
  const run: RebalanceRun = {
    id: RUN,
    region: 'eu-west-1',
    status: 'failed',
    actor: 'ops:carol',
    concurrency: 1,
    plan,
    moves: [progress({ state: 'skipped', code: 'tenant-move-in-progress' }), progress({ tenantId: T2, slug: 'globex', state: 'failed', code: 'rolled-back' })],
    error: 'the move of tenant … rolled back: verification-failed',
    startedAt: '2026-12-15T10:00:00.000Z',
    updatedAt: '2026-12-15T10:01:00.000Z',
    finishedAt: '2026-12-15T10:01:00.000Z',
  };
  const text = rebalanceRunText(run);
  expect(text).toMatch(new RegExp(`^Rebalance ${RUN} of region eu-west-1: failed\\n`));
  expect(text).toMatch(/acme +eu-3 → eu-2 +500 KiB +skipped +tenant-move-in-progress/);
  expect(text).toContain('1 move(s) skipped');
  expect(text).toContain('Stopped: the move of tenant … rolled back: verification-failed.');
  expect(rebalanceRunText({ ...run, status: 'interrupted', error: null })).toContain('hotdash-ops rebalance --region eu-west-1 --dry-run');
  expect(rebalanceRunText({ ...run, status: 'running', error: null })).toContain(`Follow it: hotdash-ops rebalance watch ${RUN}`);
});
