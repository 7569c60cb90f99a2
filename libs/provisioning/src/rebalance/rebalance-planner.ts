import type { PinReason, PlannedMove, RebalanceShard, RebalanceSpread, ShardLoad } from '@hotdash/contracts';

/** A tenant of a shared shard as the planner sees it: its size, and why it must stay where it is, if it must. */
export interface PlannerTenant {
  id: string;
  slug: string;
  /** Its share of the shard's tenant tables on disk (measureTenantSizes). */
  bytes: number;
  /** Set: the tenant is not moved (its load still counts where it is). */
  pinned?: PinReason;
}

/** A shared shard of the region: active shards take tenants, draining ones are emptied. */
export interface PlannerShard {
  name: string;
  status: 'active' | 'draining';
  tenants: PlannerTenant[];
}

export interface PlanOptions {
  /** At most this many moves (the drain's first); the plan says when it was cut short. */
  maxMoves?: number;
  /** Bytes are even when the largest and smallest active shard differ by at most this share of the mean (default 0.1). */
  sizeTolerance?: number;
  /** A balancing move is made only when it lowers the imbalance by at least this much (default 0.001, see `imbalance`). */
  minGain?: number;
}

export interface RebalancePlanOutcome {
  moves: PlannedMove[];
  shards: RebalanceShard[];
  pinned: { tenantId: string; slug: string; shard: string; reason: PinReason }[];
  before: RebalanceSpread;
  after: RebalanceSpread;
  truncated: boolean;
}

export const DEFAULT_SIZE_TOLERANCE = 0.1;
const DEFAULT_MIN_GAIN = 0.001;
/** Below this a difference of two imbalances is rounding, not a better plan. */
const EPSILON = 1e-12;

const byName = <T extends { name: string }>(a: T, b: T) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
const byId = <T extends { id: string }>(a: T, b: T) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/**
 * Plans the tenant moves that even out a region's active shared shards, in tenant count and in
 * bytes, with as few moves as it can. A pure function of its input: the same shards and tenants give
 * the same plan (shards in name order, tenants in id order, ties to the first).
 *
 * 1. Drain: every tenant of a draining shard that is not pinned goes to an active shard, largest
 *    first, each to the shard it evens out most (a drain that moves its tenants is what ops expect).
 * 2. Balance: while the active shards are not even (counts within one of each other, bytes within
 *    `sizeTolerance` of their mean), the one move that lowers the imbalance most, as long as it
 *    lowers it by `minGain` at least. The imbalance is the sum over active shards of the squared
 *    relative deviations from the mean, of the count and of the bytes alike (both matter equally),
 *    and a move changes only its two shards' terms, so each candidate is weighed in constant time.
 *
 * A tenant moves at most once in a plan, never from or to a dedicated shard (they are not in the
 * input), never onto a draining shard; pinned tenants (moving, suspended, not active, …) stay and
 * count where they are. The greedy choice is not proven minimal (the minimal plan is a bin-packing
 * problem), but it never makes a move that does not even things out, and stops once even.
 */
export function planRebalance(input: readonly PlannerShard[], options: PlanOptions = {}): RebalancePlanOutcome {
  const maxMoves = options.maxMoves ?? Number.POSITIVE_INFINITY;
  const tolerance = options.sizeTolerance ?? DEFAULT_SIZE_TOLERANCE;
  const minGain = options.minGain ?? DEFAULT_MIN_GAIN;
  const shards = [...input].sort(byName).map((s) => ({ ...s, tenants: [...s.tenants].sort(byId) }));
  const active = shards.filter((s) => s.status === 'active');
  if (!active.length) throw new Error('a rebalance needs an active shard to move tenants to');

  const load = new Map<string, ShardLoad>(shards.map((s) => [s.name, { tenants: s.tenants.length, bytes: s.tenants.reduce((sum, t) => sum + t.bytes, 0) }]));
  const before = new Map([...load].map(([name, l]) => [name, { ...l }]));
  const draining = shards
    .filter((s) => s.status === 'draining')
    .flatMap((s) => s.tenants.filter((t) => !t.pinned).map((t) => ({ t, from: s.name })))
    .sort((a, b) => b.t.bytes - a.t.bytes || byId(a.t, b.t));

  // The means the active shards end at: what they hold, plus what the drain brings them.
  const k = active.length;
  const meanTenants = (active.reduce((sum, s) => sum + load.get(s.name)!.tenants, 0) + draining.length) / k;
  const meanBytes = (active.reduce((sum, s) => sum + load.get(s.name)!.bytes, 0) + draining.reduce((sum, d) => sum + d.t.bytes, 0)) / k;
  const term = (tenants: number, bytes: number) => ((tenants - meanTenants) / Math.max(meanTenants, 1)) ** 2 + ((bytes - meanBytes) / Math.max(meanBytes, 1)) ** 2;

  const moves: PlannedMove[] = [];
  let truncated = false;
  const apply = (t: PlannerTenant, from: string, to: string, reason: PlannedMove['reason']) => {
    const a = load.get(from)!;
    const b = load.get(to)!;
    load.set(from, { tenants: a.tenants - 1, bytes: a.bytes - t.bytes });
    load.set(to, { tenants: b.tenants + 1, bytes: b.bytes + t.bytes });
    moves.push({ tenantId: t.id, slug: t.slug, from, to, bytes: t.bytes, reason });
  };

  // 1. Drain.
  for (const { t, from } of draining) {
    if (moves.length >= maxMoves) {
      truncated = true;
      break;
    }
    let best: { to: string; delta: number } | undefined;
    for (const s of active) {
      const l = load.get(s.name)!;
      const delta = term(l.tenants + 1, l.bytes + t.bytes) - term(l.tenants, l.bytes);
      if (!best || delta < best.delta - EPSILON) best = { to: s.name, delta };
    }
    apply(t, from, best!.to, 'drain');
  }

  // 2. Balance.
  const moved = new Set(moves.map((m) => m.tenantId));
  const even = () => {
    const loads = active.map((s) => load.get(s.name)!);
    const counts = loads.map((l) => l.tenants);
    const bytes = loads.map((l) => l.bytes);
    return Math.max(...counts) - Math.min(...counts) <= 1 && Math.max(...bytes) - Math.min(...bytes) <= tolerance * meanBytes;
  };
  while (!truncated && !even()) {
    let best: { t: PlannerTenant; from: string; to: string; delta: number } | undefined;
    for (const a of active) {
      const la = load.get(a.name)!;
      for (const t of a.tenants) {
        if (t.pinned || moved.has(t.id)) continue;
        const leave = term(la.tenants - 1, la.bytes - t.bytes) - term(la.tenants, la.bytes);
        for (const b of active) {
          if (b === a) continue;
          const lb = load.get(b.name)!;
          const delta = leave + term(lb.tenants + 1, lb.bytes + t.bytes) - term(lb.tenants, lb.bytes);
          if (!best || delta < best.delta - EPSILON) best = { t, from: a.name, to: b.name, delta };
        }
      }
    }
    if (!best || best.delta > -minGain) break;
    if (moves.length >= maxMoves) {
      truncated = true;
      break;
    }
    apply(best.t, best.from, best.to, 'balance');
    moved.add(best.t.id);
  }

  const spread = (of: Map<string, ShardLoad>): RebalanceSpread => {
    const loads = active.map((s) => of.get(s.name)!);
    const bytes = loads.map((l) => l.bytes);
    return {
      tenants: { min: Math.min(...loads.map((l) => l.tenants)), max: Math.max(...loads.map((l) => l.tenants)) },
      bytes: { min: Math.min(...bytes), max: Math.max(...bytes), mean: Math.round(bytes.reduce((a, b) => a + b, 0) / loads.length) },
    };
  };
  return {
    moves,
    shards: shards.map((s) => ({ name: s.name, status: s.status, before: before.get(s.name)!, after: load.get(s.name)! })),
    pinned: shards.flatMap((s) => s.tenants.filter((t) => t.pinned).map((t) => ({ tenantId: t.id, slug: t.slug, shard: s.name, reason: t.pinned! }))),
    before: spread(before),
    after: spread(load),
    truncated,
  };
}
