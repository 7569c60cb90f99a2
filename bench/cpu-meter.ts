// CPU apportioning for benchmarks: how many CPU milliseconds each process (all its threads) spent
// during a measured window, read from /proc/<pid>/stat (utime + stime) on Linux.
//
// Groups of processes:
//   - named Node processes (the bench itself, the service children it started), by pid;
//   - PostgreSQL of one cluster (the postmaster's pid is the first line of <data>/postmaster.pid;
//     other clusters on the machine are left out): its backends serving the bench's own connections
//     (a backend's title names its client's port, matched with the sockets the bench's processes
//     hold), its background processes (WAL writer, checkpointer, autovacuum, …), and the backends
//     of everyone else (other processes on the machine using the same cluster; shown, not summed);
//   - the shared stores, by command line: Kafka (java … kafka.Kafka), Redis (redis-server on its
//     port), Weaviate (weaviate-server).
//
// Processes are sampled every second so that a backend that ends inside the window is counted up
// to its last sample; one that starts inside it is counted from zero. What the sampling itself
// costs the process running the meter (CPU, /proc reads) is measured and taken off its figures.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';

export interface CpuMeterOptions {
  /** Node processes by name (the bench: process.pid; each service child: its pid). */
  nodes: { name: string; pid: number }[];
  /** The PostgreSQL data directory whose postmaster.pid names the cluster to count. */
  pgData: string;
  /** The PostgreSQL port (the bench's connections go to it). */
  pgPort: number;
  redisPort: number;
}

export interface CpuReport {
  /**
   * CPU ms per group, in display order, and the read- and write-family system calls its processes
   * made (/proc/<pid>/io syscr, syscw: read/readv/write/writev, which Node, Redis and Kafka use on
   * sockets; PostgreSQL's send/recv are not among them).
   */
  groups: { name: string; ms: number; reads: number; writes: number; counted: boolean }[];
  wallMs: number;
  loadAvg: number[];
}

const TICK_MS = 1000 / Number(execFileSync('getconf', ['CLK_TCK']).toString().trim() || 100);

/** utime + stime of a whole process (every thread), in ms; undefined when it is gone. */
function cpuMs(pid: number): number | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    // After the command: state(3) ppid(4) … utime(14) stime(15), counted from 1 with pid as field 1.
    return (Number(f[11]) + Number(f[12])) * TICK_MS;
  } catch {
    return undefined;
  }
}

/** Read- and write-family system calls of a whole process so far. */
function ioCalls(pid: number): [number, number] {
  try {
    const s = readFileSync(`/proc/${pid}/io`, 'utf8');
    return [Number(/syscr: (\d+)/.exec(s)?.[1] ?? 0), Number(/syscw: (\d+)/.exec(s)?.[1] ?? 0)];
  } catch {
    return [0, 0];
  }
}

function ppidOf(pid: number): number | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(s.slice(s.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
  } catch {
    return '';
  }
}

function allPids(): number[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map(Number);
}

/** Socket inodes a process holds. */
function socketInodes(pid: number): Set<string> {
  const out = new Set<string>();
  let fds: string[] = [];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return out;
  }
  for (const fd of fds) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) out.add(m[1]!);
    } catch {
      // closed meanwhile
    }
  }
  return out;
}

/** Local ports of the TCP connections to `remotePort` whose socket is one of `inodes`. */
function clientPorts(inodes: Set<string>, remotePort: number): Set<number> {
  const ports = new Set<number>();
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10) continue;
      const local = parseInt(f[1]!.split(':')[1]!, 16);
      const remote = parseInt(f[2]!.split(':')[1]!, 16);
      if (remote === remotePort && inodes.has(f[9]!)) ports.add(local);
    }
  }
  return ports;
}

type Group = string;

export class CpuMeter {
  private readonly postmaster: number;
  private readonly kafka: number[];
  private readonly redis: number[];
  private readonly weaviate: number[];
  /** Per pid: its group, CPU at the window's start (0 when it appeared later) and at the last sample. */
  private readonly seen = new Map<number, { group: Group; first: number[]; last: number[] }>();
  private timer?: NodeJS.Timeout;
  private startedAt = 0;
  private ports = new Set<number>();
  /** Pids seen not to be the postmaster's children (not looked at again). */
  private readonly others = new Set<number>();
  /** What sampling cost this process: CPU ms, read and write calls. */
  private readonly own: [number, number, number] = [0, 0, 0];

  constructor(private readonly options: CpuMeterOptions) {
    this.postmaster = Number(readFileSync(join(options.pgData, 'postmaster.pid'), 'utf8').split('\n')[0]);
    const procs = allPids().map((pid) => ({ pid, cmd: cmdline(pid) }));
    this.kafka = procs.filter((p) => p.cmd.startsWith('java') && / kafka\.Kafka\b/.test(p.cmd)).map((p) => p.pid);
    this.redis = procs.filter((p) => p.cmd.startsWith('redis-server') && p.cmd.includes(`:${options.redisPort}`)).map((p) => p.pid);
    this.weaviate = procs.filter((p) => /(^|\/)weaviate-server\b/.test(p.cmd.split(' ')[0] ?? '')).map((p) => p.pid);
  }

  static groupNames(nodes: string[]): { name: string; counted: boolean }[] {
    return [
      ...nodes.map((name) => ({ name, counted: true })),
      { name: 'postgres backends (bench connections)', counted: true },
      { name: 'postgres background (WAL, checkpoints, vacuum)', counted: true },
      { name: 'kafka', counted: true },
      { name: 'redis', counted: true },
      { name: 'weaviate', counted: true },
      { name: 'postgres backends of other clients (not summed)', counted: false },
    ];
  }

  start(): void {
    this.seen.clear();
    this.startedAt = Date.now();
    this.own.fill(0);
    this.sample(true);
    this.timer = setInterval(() => this.sample(false), 1_000);
    this.timer.unref();
  }

  stop(): CpuReport {
    clearInterval(this.timer);
    this.sample(false);
    const totals = new Map<Group, number[]>();
    for (const [pid, s] of this.seen) {
      const t = totals.get(s.group) ?? [0, 0, 0];
      totals.set(s.group, t.map((x, i) => x + s.last[i]! - s.first[i]! - (pid === process.pid ? this.own[i]! : 0)));
    }
    return {
      groups: CpuMeter.groupNames(this.options.nodes.map((n) => n.name)).map((g) => {
        const [ms, reads, writes] = totals.get(g.name) ?? [0, 0, 0];
        return { ...g, ms: ms!, reads: reads!, writes: writes! };
      }),
      wallMs: Date.now() - this.startedAt,
      loadAvg: loadavg(),
    };
  }

  private sample(initial: boolean): void {
    const cpu0 = process.cpuUsage();
    const [r0, w0] = ioCalls(process.pid);
    this.sampleAll(initial);
    const cpu = process.cpuUsage(cpu0);
    const [r1, w1] = ioCalls(process.pid);
    this.own[0] += (cpu.user + cpu.system) / 1000;
    this.own[1] += r1 - r0 + 1; // and the read of /proc/self/io before the sampling
    this.own[2] += w1 - w0;
  }

  private sampleAll(initial: boolean): void {
    const fixed: [number, Group][] = [
      ...this.options.nodes.map((n) => [n.pid, n.name] as [number, Group]),
      ...this.kafka.map((p) => [p, 'kafka'] as [number, Group]),
      ...this.redis.map((p) => [p, 'redis'] as [number, Group]),
      ...this.weaviate.map((p) => [p, 'weaviate'] as [number, Group]),
    ];
    for (const [pid, group] of fixed) this.record(pid, group, initial);
    for (const pid of allPids()) {
      if (this.seen.has(pid)) {
        if (!fixed.some(([p]) => p === pid)) this.record(pid, this.seen.get(pid)!.group, initial);
        continue;
      }
      if (this.others.has(pid)) continue;
      if (ppidOf(pid) !== this.postmaster) {
        this.others.add(pid);
        continue;
      }
      this.record(pid, this.classify(pid), initial);
    }
  }

  private record(pid: number, group: Group, initial: boolean): void {
    const ms = cpuMs(pid);
    if (ms === undefined) return;
    const now = [ms, ...ioCalls(pid)];
    const s = this.seen.get(pid);
    if (s) s.last = now;
    else this.seen.set(pid, { group, first: initial ? now : [0, 0, 0], last: now });
  }

  private classify(pid: number): Group {
    const m = /\((\d+)\)/.exec(cmdline(pid));
    if (!m && !cmdline(pid).includes('[local]')) return 'postgres background (WAL, checkpoints, vacuum)';
    const port = m ? Number(m[1]) : -1;
    if (!this.ports.has(port)) this.refreshPorts();
    return this.ports.has(port) ? 'postgres backends (bench connections)' : 'postgres backends of other clients (not summed)';
  }

  private refreshPorts(): void {
    const inodes = new Set<string>();
    for (const n of this.options.nodes) for (const i of socketInodes(n.pid)) inodes.add(i);
    this.ports = clientPorts(inodes, this.options.pgPort);
  }
}

/**
 * The table printed after a round: CPU ms per drafted ticket per group, their sum and the CPU-bound
 * ceiling it implies on this machine's cores. `notUsed`: groups the measured path does not use
 * (their idle CPU is shown, not summed).
 */
export function formatCpuReport(label: string, report: CpuReport, tickets: number, notUsed: string[] = []): string {
  const cores = cpus().length;
  const lines = [`[cpu] ${label}: ${tickets} tickets in ${(report.wallMs / 1000).toFixed(1)} s, load average ${report.loadAvg.map((x) => x.toFixed(2)).join(' ')}`];
  lines.push('[cpu]   process                                              CPU ms   ms/ticket   reads/ticket  writes/ticket');
  let sum = 0;
  for (const g of report.groups) {
    const counted = g.counted && !notUsed.includes(g.name);
    if (counted) sum += g.ms;
    const calls = (n: number) => (n / tickets).toFixed(1).padStart(14);
    lines.push(`[cpu]   ${(counted ? g.name : `(${g.name.replace(' (not summed)', '')}, not summed)`).padEnd(52)} ${g.ms.toFixed(0).padStart(7)} ${(g.ms / tickets).toFixed(2).padStart(11)} ${calls(g.reads)} ${calls(g.writes)}`);
  }
  const perTicket = sum / tickets;
  lines.push(`[cpu]   ${'sum'.padEnd(52)} ${sum.toFixed(0).padStart(7)} ${perTicket.toFixed(2).padStart(11)}   → CPU-bound ceiling at ${cores} cores: ${((cores * 1000) / perTicket).toFixed(0)} tickets/s`);
  return lines.join('\n');
}
