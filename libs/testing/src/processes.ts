import { ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';

export const REPO_ROOT = join(__dirname, '..', '..', '..');

export interface ServiceProcess {
  child: ChildProcess;
  output(): string;
  /** SIGKILL: no shutdown hooks, no final commits. */
  kill(): Promise<void>;
  /** SIGTERM and wait for a clean exit. */
  stop(): Promise<void>;
}

/**
 * Starts a TypeScript entry point (apps/x/src/main.ts, a test child) as a separate Node process.
 * `nodeArgs` go before the entry (e.g. `--cpu-prof`, which NODE_OPTIONS does not accept).
 */
export function startProcess(entry: string, env: Record<string, string> = {}, nodeArgs: string[] = []): ServiceProcess {
  const child = spawn(process.execPath, [...nodeArgs, '-r', '@swc-node/register', join(REPO_ROOT, entry)], {
    cwd: REPO_ROOT,
    // The specs' knowledge services do not sweep: the shared database holds other specs' unindexed
    // documents, whose indexing would load the machine under the spec that happened to start one
    // (the sweep has its own spec; a spec can pass HOTDASH_KNOWLEDGE_SWEEP_MS to turn it on). Nor
    // do their drafts services sweep for SLA breaches: tickets other specs submitted with an arrival
    // long past would be flagged and escalated under them (e2e/approval-sla passes
    // HOTDASH_DRAFTS_SLA_SWEEP_MS).
    env: { HOTDASH_KNOWLEDGE_SWEEP_MS: 'off', HOTDASH_DRAFTS_SLA_SWEEP_MS: 'off', ...process.env, ...env, NODE_NO_WARNINGS: '1', FORCE_COLOR: '0', NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const append = (d: Buffer): void => {
    out += d.toString();
    if (out.length > 200_000) out = out.slice(-100_000);
  };
  child.stdout!.on('data', append);
  child.stderr!.on('data', append);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    child,
    output: () => out,
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(t);
    },
  };
}

export interface ServiceSpec {
  entry: string;
  env?: Record<string, string>;
  /** Base URL whose /health answers 200 once the service is up. */
  url: string;
  /** Extra Node options before the entry (e.g. `--cpu-prof`). */
  nodeArgs?: string[];
}

/**
 * Starts services as separate processes and waits until each answers /health (60 s each). A service
 * that exits first or does not come up fails the start with its output, and every process this call
 * started is stopped first (none is left running behind a failed spec or benchmark: an orphaned relay
 * would go on taking other runs' outbox rows). Stop them with `stop()` in afterAll.
 */
export async function startServices(specs: ServiceSpec[]): Promise<ServiceProcess[]> {
  const processes = specs.map((s) => startProcess(s.entry, s.env, s.nodeArgs));
  try {
    for (const [i, s] of specs.entries()) {
      const { child } = processes[i]!;
      const deadline = Date.now() + 60_000;
      for (;;) {
        if (await fetch(`${s.url}/health`).then((r) => r.ok, () => false)) break;
        if (child.exitCode !== null || child.signalCode !== null)
          throw new Error(`${s.entry} exited (${child.exitCode ?? child.signalCode}) before it answered ${s.url}/health\n${processes[i]!.output()}`);
        if (Date.now() > deadline) throw new Error(`${s.entry} did not answer ${s.url}/health within 60 s\n${processes[i]!.output()}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  } catch (err) {
    await Promise.all(processes.map((p) => p.kill()));
    throw err;
  }
  return processes;
}
