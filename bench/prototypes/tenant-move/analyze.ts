/**
 * Aligns a load run with its mover's log (epoch times): the longest write wait around the cut-over,
 * and the other tenants' read latency during the move against before/after it.
 *   scripts/run node -r @swc-node/register bench/prototypes/tenant-move/analyze.ts /tmp/tmove-load-X.json /tmp/tmove-move-X.log
 */
import { readFileSync } from 'node:fs';

const load = JSON.parse(readFileSync(process.argv[2]!, 'utf8'));
const steps = readFileSync(process.argv[3]!, 'utf8').split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
const rel = (epoch: number) => epoch - load.epochStart;
const start = rel(steps.find((s) => s.step === 'start').epoch);
const cut = steps.find((s) => s.step === 'cutover');
const end = rel((steps.find((s) => s.step === 'done') ?? steps[steps.length - 1]).epoch);
const cutEnd = rel(cut.epoch);
const cutStart = cutEnd - cut.ms;
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? Math.round(s[Math.min(s.length - 1, Math.floor(s.length * p))]! * 10) / 10 : undefined;
};
const waits = load.allWaits as [number, number, string][];
// An operation waited on the pause if it was scheduled before the pause ended and finished after it began.
const hit = waits.filter(([at, ms]) => at <= cutEnd + 50 && at + ms >= cutStart);
const out: Record<string, unknown> = {
  moveMs: Math.round(end - start),
  cutoverStepMs: cut.ms,
  pauseMs: cut.pauseMs,
  opsAroundCutover: hit.length,
  maxWriteWaitAroundCutoverMs: Math.max(...hit.map((w) => w[1])),
  writeWaitP99: { before: pct(waits.filter((w) => w[0] < start).map((w) => w[1]), 0.99), duringMove: pct(waits.filter((w) => w[0] >= start && w[0] <= end).map((w) => w[1]), 0.99), after: pct(waits.filter((w) => w[0] > end + 500).map((w) => w[1]), 0.99) },
};
for (const [shard, list] of Object.entries(load.others as Record<string, [number, number][]>)) {
  const ok = list.filter((x) => x[1] >= 0);
  out[`otherTenantsRead.${shard}`] = {
    failed: list.length - ok.length,
    p99Before: pct(ok.filter((x) => x[0] < start).map((x) => x[1]), 0.99),
    p99DuringMove: pct(ok.filter((x) => x[0] >= start && x[0] <= end).map((x) => x[1]), 0.99),
    p99After: pct(ok.filter((x) => x[0] > end).map((x) => x[1]), 0.99),
    nDuring: ok.filter((x) => x[0] >= start && x[0] <= end).length,
  };
}
console.log(JSON.stringify(out));
