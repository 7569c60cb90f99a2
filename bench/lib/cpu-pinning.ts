import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import Redis from 'ioredis';
import type { TestWorld } from '@hotdash/testing';

/**
 * CPU affinity for a bench that measures one service's CPU per request: the measured processes on
 * the machine's last CPU, and what serves or loads them (this process, PostgreSQL's server and its
 * backends, Redis) on the others. Unpinned, the scheduler runs a database backend or the load
 * client on the service's CPU between its requests, and the service pays for the cache they
 * evicted: on the 2-core machine the gateway's CPU per request measured ~330 µs unpinned and ~270
 * µs pinned, and three identical gateways differed by up to ±4% unpinned, ±2% pinned
 * (docs/benchmarks.md). Needs `taskset` (util-linux) and two CPUs; otherwise it does nothing.
 * Every process it pins gets all CPUs back from `release` (backends started meanwhile included).
 */
export class CpuPinning {
  private readonly pinned = new Set<number>();
  private readonly all: string;
  private readonly last: string;
  private readonly rest: string;
  readonly enabled: boolean;

  private constructor(private readonly servers: number[]) {
    const cpus = availableParallelism();
    this.enabled = cpus >= 2 && hasTaskset();
    this.all = `0-${cpus - 1}`;
    this.last = String(cpus - 1);
    this.rest = cpus > 2 ? `0-${cpus - 2}` : '0';
  }

  /** The servers of `world`: PostgreSQL's postmaster (from its data directory's postmaster.pid) and Redis's process. */
  static async forWorld(world: TestWorld): Promise<CpuPinning> {
    const servers: number[] = [];
    const su = await world.connectSuperuser('postgres');
    try {
      const dir = (await su.query<{ data_directory: string }>('show data_directory')).rows[0]!.data_directory;
      const pidFile = `${dir}/postmaster.pid`;
      if (existsSync(pidFile)) servers.push(Number(readFileSync(pidFile, 'utf8').split('\n')[0]));
    } finally {
      await su.end();
    }
    const redis = new Redis({ host: world.config.redis.host, port: world.config.redis.port, lazyConnect: true });
    try {
      await redis.connect();
      const pid = /process_id:(\d+)/.exec(await redis.info('server'))?.[1];
      if (pid) servers.push(Number(pid));
    } finally {
      redis.disconnect();
    }
    return new CpuPinning(servers);
  }

  /** The measured processes on the last CPU; this process and the servers (with their children) on the others. */
  pin(measured: number[]): void {
    if (!this.enabled) return;
    for (const pid of measured) this.set(pid, this.last);
    for (const pid of [process.pid, ...this.servers.flatMap(withChildren)]) this.set(pid, this.rest);
  }

  /** Every pinned process (and the servers' children started since) back on all CPUs. */
  release(): void {
    if (!this.enabled) return;
    for (const pid of new Set([...this.pinned, ...this.servers.flatMap(withChildren)])) this.set(pid, this.all, false);
    this.pinned.clear();
  }

  describe(): string {
    return this.enabled ? `measured processes on CPU ${this.last}, this process, PostgreSQL and Redis on CPU ${this.rest}` : 'not pinned (needs taskset and two CPUs)';
  }

  private set(pid: number, cpus: string, remember = true): void {
    try {
      execFileSync('taskset', ['-a', '-c', '-p', cpus, String(pid)], { stdio: 'ignore' });
      if (remember) this.pinned.add(pid);
    } catch {
      // The process ended meanwhile (a backend that closed): nothing to pin.
    }
  }
}

function hasTaskset(): boolean {
  try {
    execFileSync('taskset', ['-p', String(process.pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** A process and its descendants (/proc/<pid>/task/<tid>/children). */
function withChildren(pid: number): number[] {
  const out = [pid];
  for (let i = 0; i < out.length; i++) {
    const p = out[i]!;
    try {
      for (const tid of readdirSync(`/proc/${p}/task`)) {
        const kids = readFileSync(`/proc/${p}/task/${tid}/children`, 'utf8').trim();
        if (kids) out.push(...kids.split(' ').map(Number));
      }
    } catch {
      // Gone meanwhile.
    }
  }
  return out;
}
