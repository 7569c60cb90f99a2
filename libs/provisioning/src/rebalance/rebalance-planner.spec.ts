// The rebalance planner (a pure function): already even → no move; uneven counts evened with the
// fewest moves; a draining shard emptied first, largest tenant first; pinned tenants never moved;
// uneven sizes evened by trading tenants; a tenant bigger than a shard's share left whole; maxMoves
// cuts the plan; the same input in any order gives the same plan.
import type { PinReason } from '@hotdash/contracts';
import { planRebalance, type PlannerShard, type PlannerTenant } from './rebalance-planner';

/** Tenant ids that sort in the order given: `t(2)` < `t(10)`. */
const id = (n: number) => `00000000-0000-7000-8000-${String(n).padStart(12, '0')}`;
const t = (n: number, bytes = 100, pinned?: PinReason): PlannerTenant => ({ id: id(n), slug: `t${n}`, bytes, ...(pinned ? { pinned } : {}) });
const shard = (name: string, tenants: PlannerTenant[], status: PlannerShard['status'] = 'active'): PlannerShard => ({ name, status, tenants });
/** The shards' tenant counts after the plan, by name. */
const countsAfter = (plan: ReturnType<typeof planRebalance>): Record<string, number> => Object.fromEntries(plan.shards.map((s) => [s.name, s.after.tenants]));
const bytesAfter = (plan: ReturnType<typeof planRebalance>) => Object.fromEntries(plan.shards.map((s) => [s.name, s.after.bytes]));

it('plans nothing for shards that are even already (counts within one, bytes within the tolerance)', () => {
  const plan = planRebalance([shard('a', [t(1), t(2), t(3)]), shard('b', [t(4, 104), t(5, 96)])]);
  expect(plan.moves).toEqual([]);
  expect(plan.truncated).toBe(false);
  expect(plan.before).toEqual(plan.after);
  expect(plan.shards).toEqual([
    { name: 'a', status: 'active', before: { tenants: 3, bytes: 300 }, after: { tenants: 3, bytes: 300 } },
    { name: 'b', status: 'active', before: { tenants: 2, bytes: 200 }, after: { tenants: 2, bytes: 200 } },
  ]);
});

it('evens out tenant counts with as few moves as there are tenants too many, the first tenants by id', () => {
  const plan = planRebalance([shard('a', [1, 2, 3, 4, 5, 6].map((n) => t(n))), shard('b', [])]);
  expect(plan.moves).toEqual([
    { tenantId: id(1), slug: 't1', from: 'a', to: 'b', bytes: 100, reason: 'balance' },
    { tenantId: id(2), slug: 't2', from: 'a', to: 'b', bytes: 100, reason: 'balance' },
    { tenantId: id(3), slug: 't3', from: 'a', to: 'b', bytes: 100, reason: 'balance' },
  ]);
  expect(plan.before).toEqual({ tenants: { min: 0, max: 6 }, bytes: { min: 0, max: 600, mean: 300 } });
  expect(plan.after).toEqual({ tenants: { min: 3, max: 3 }, bytes: { min: 300, max: 300, mean: 300 } });

  // Three shards, 7 / 1 / 1: four moves, every one from the full shard.
  const three = planRebalance([shard('a', [1, 2, 3, 4, 5, 6, 7].map((n) => t(n))), shard('b', [t(8)]), shard('c', [t(9)])]);
  expect(three.moves).toHaveLength(4);
  expect(three.moves.every((m) => m.from === 'a')).toBe(true);
  expect(countsAfter(three)).toEqual({ a: 3, b: 3, c: 3 });
});

it('empties a draining shard first, largest tenant first, onto the active shards only, and then evens them', () => {
  const plan = planRebalance([shard('a', [t(1), t(2)]), shard('b', [t(3), t(4)]), shard('c', [t(5, 50), t(6, 300), t(7, 100)], 'draining')]);
  expect(plan.moves.map((m) => [m.tenantId, m.from, m.reason])).toEqual([
    [id(6), 'c', 'drain'],
    [id(7), 'c', 'drain'],
    [id(5), 'c', 'drain'],
  ]);
  expect(plan.moves.every((m) => m.to !== 'c')).toBe(true);
  expect(countsAfter(plan)).toMatchObject({ c: 0 });
  const { a, b } = countsAfter(plan);
  expect(Math.abs(a! - b!)).toBeLessThanOrEqual(1);
  expect(plan.shards.find((s) => s.name === 'c')).toEqual({ name: 'c', status: 'draining', before: { tenants: 3, bytes: 450 }, after: { tenants: 0, bytes: 0 } });
  // The spread is the active shards': the draining one is left out of it.
  expect(plan.before.tenants).toEqual({ min: 2, max: 2 });
});

it('never moves a pinned tenant (moving, suspended, …), which still counts where it is, and never one tenant twice', () => {
  const plan = planRebalance([
    shard('a', [t(1, 100, 'moving'), t(2, 100, 'suspended'), t(3), t(4), t(5)]),
    shard('b', []),
    shard('c', [t(6, 100, 'suspended'), t(7)], 'draining'),
  ]);
  const moved = plan.moves.map((m) => m.tenantId);
  expect(moved).not.toContain(id(1));
  expect(moved).not.toContain(id(2));
  expect(moved).not.toContain(id(6));
  expect(new Set(moved).size).toBe(moved.length);
  expect(plan.moves[0]).toMatchObject({ tenantId: id(7), reason: 'drain' });
  expect(countsAfter(plan)).toEqual({ a: 3, b: 3, c: 1 });
  expect(plan.pinned).toEqual([
    { tenantId: id(1), slug: 't1', shard: 'a', reason: 'moving' },
    { tenantId: id(2), slug: 't2', shard: 'a', reason: 'suspended' },
    { tenantId: id(6), slug: 't6', shard: 'c', reason: 'suspended' },
  ]);
});

it('evens out uneven sizes at even counts by trading a large tenant for a small one', () => {
  const plan = planRebalance([shard('a', [t(1, 1_000), t(2, 1_000)]), shard('b', [t(3, 10), t(4, 10)])]);
  expect(plan.moves.map((m) => [m.tenantId, m.from, m.to])).toEqual([
    [id(1), 'a', 'b'],
    [id(3), 'b', 'a'],
  ]);
  expect(countsAfter(plan)).toEqual({ a: 2, b: 2 });
  expect(bytesAfter(plan)).toEqual({ a: 1_010, b: 1_010 });
});

it('leaves a tenant larger than a shard’s share whole: counts even, and no move that does not help', () => {
  const plan = planRebalance([shard('a', [t(1, 10_000), t(2, 1), t(3, 1), t(4, 1)]), shard('b', [])]);
  expect(countsAfter(plan)).toEqual({ a: 2, b: 2 });
  expect(plan.after.bytes.max).toBe(10_001);
  expect(plan.moves.length).toBeLessThanOrEqual(2);
  // Planning the outcome again finds nothing left to do.
  const again = planRebalance(
    plan.shards.map((s) => shard(s.name, [...[t(1, 10_000), t(2, 1), t(3, 1), t(4, 1)]].filter((x) => (plan.moves.find((m) => m.tenantId === x.id)?.to ?? 'a') === s.name))),
  );
  expect(again.moves).toEqual([]);
});

it('cuts the plan at maxMoves (the drain first) and says so', () => {
  const plan = planRebalance([shard('a', [1, 2, 3, 4, 5, 6].map((n) => t(n))), shard('b', []), shard('c', [t(7), t(8)], 'draining')], { maxMoves: 3 });
  expect(plan.moves.map((m) => m.reason)).toEqual(['drain', 'drain', 'balance']);
  expect(plan.truncated).toBe(true);
  expect(planRebalance([shard('a', [t(1), t(2), t(3)]), shard('b', [])], { maxMoves: 1 }).truncated).toBe(false);
});

it('gives the same plan for the same shards and tenants in any order', () => {
  const shards = [shard('b', [t(9, 10), t(3, 500), t(5, 70)]), shard('a', [t(8, 300), t(1, 20), t(4, 900), t(2, 40), t(6, 5)]), shard('c', [t(7, 80)], 'draining')];
  const plan = planRebalance(shards);
  const reversed = planRebalance([...shards].reverse().map((s) => ({ ...s, tenants: [...s.tenants].reverse() })));
  expect(reversed).toEqual(plan);
  expect(plan.moves.length).toBeGreaterThan(0);
});

it('needs an active shard to move tenants to', () => {
  expect(() => planRebalance([shard('c', [t(1)], 'draining')])).toThrow(/active shard/);
});
