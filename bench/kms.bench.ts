/**
 * What a data key's wrap + unwrap costs through the transit KMS (TransitKms on the local Vault,
 * deploy/local/vault.sh up) against LocalKms (AES-256-GCM in this process), interleaved in one run:
 * per wrap+unwrap, this process's CPU (process.cpuUsage), the Vault server's CPU (/proc of the pid
 * deploy/local recorded) and the wall time, BENCH_CONCURRENCY pairs in flight.
 *
 *   scripts/run node -r @swc-node/register bench/kms.bench.ts
 *
 * Uses the services' token and key deploy/local made (nothing is created, nothing to clean up).
 * A tenant's data key is unwrapped once per TenantKeyring cache TTL (60 s) per process, and wrapped
 * at provisioning and rotation, so this is a cold-cache and rotation cost, not a per-request one.
 *
 * Env: BENCH_PAIRS (per path per round, 2000), BENCH_ROUNDS (3), BENCH_CONCURRENCY (8).
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseTenantId } from '@hotdash/contracts';
import { readSetting } from '@hotdash/platform-config';
import { KmsPort, LocalKms, TransitKms } from '@hotdash/platform-crypto';

const PAIRS = Number(process.env.BENCH_PAIRS ?? 2000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 8);
const VAULT_DIR = join(process.env.HOTDASH_STATE || join(__dirname, '..', '.local'), 'vault');
const TICK_MS = 10; // USER_HZ = 100 on Linux
const tenant = parseTenantId('0194f5a8-7c1e-7d2a-8b3c-4d5e6f708192');

function vaultCpuMs(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) * TICK_MS;
}

interface Round {
  nodeUs: number;
  vaultUs: number;
  wallUs: number;
}

async function round(kms: KmsPort, vaultPid: number): Promise<Round> {
  const dataKey = randomBytes(32);
  const cpu0 = process.cpuUsage();
  const v0 = vaultCpuMs(vaultPid);
  const t0 = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next++ < PAIRS) {
        const w = await kms.wrap(tenant, dataKey);
        (await kms.unwrap(tenant, w)).fill(0);
      }
    }),
  );
  const wallUs = ((performance.now() - t0) * 1000) / PAIRS;
  const cpu = process.cpuUsage(cpu0);
  return { nodeUs: (cpu.user + cpu.system) / PAIRS, vaultUs: ((vaultCpuMs(vaultPid) - v0) * 1000) / PAIRS, wallUs };
}

async function main(): Promise<void> {
  const vaultPid = Number(readFileSync(join(VAULT_DIR, 'vault.pid'), 'utf8'));
  const paths: Record<string, KmsPort> = {
    local: new LocalKms([{ id: 'bench', key: randomBytes(32) }]),
    transit: await TransitKms.connect({ url: readSetting('HOTDASH_KMS_TRANSIT_URL'), token: readFileSync(join(VAULT_DIR, 'platform-token'), 'utf8').trim(), key: readSetting('HOTDASH_KMS_TRANSIT_KEY') }),
  };
  const names = Object.keys(paths);
  for (const n of names) await round(paths[n]!, vaultPid); // warm-up
  const res: Record<string, Round[]> = Object.fromEntries(names.map((n) => [n, []]));
  for (let r = 0; r < ROUNDS; r++) {
    for (const n of r % 2 ? [...names].reverse() : names) {
      const x = await round(paths[n]!, vaultPid);
      res[n]!.push(x);
      console.log(`round ${r + 1} ${n}: ${x.nodeUs.toFixed(1)} µs Node CPU, ${x.vaultUs.toFixed(1)} µs Vault CPU, ${x.wallUs.toFixed(1)} µs wall per wrap+unwrap`);
    }
  }
  const med = (n: string, k: keyof Round) => res[n]!.map((x) => x[k]).sort((a, b) => a - b)[Math.floor(ROUNDS / 2)]!;
  console.log(`\n${PAIRS} wrap+unwrap pairs per path per round, ${ROUNDS} rounds, ${CONCURRENCY} in flight; medians of rounds`);
  console.log('| path | Node CPU (µs) | Vault CPU (µs) | wall (µs) |');
  console.log('|---|---:|---:|---:|');
  for (const n of names) console.log(`| ${n} | ${med(n, 'nodeUs').toFixed(1)} | ${med(n, 'vaultUs').toFixed(1)} | ${med(n, 'wallUs').toFixed(1)} |`);
  const ratio = (k: keyof Round) => (med('transit', k) / med('local', k)).toFixed(1);
  console.log(`\ntransit/local: Node CPU ${ratio('nodeUs')}×, wall ${ratio('wallUs')}×; transit's total CPU (Node + Vault) ${((med('transit', 'nodeUs') + med('transit', 'vaultUs')) / med('local', 'nodeUs')).toFixed(1)}× local's`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
