import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';

/** A Weaviate server a spec started (its own data folder and loopback ports); stop() ends it by its pid and removes its data. */
export interface WeaviateProcess {
  url: string;
  grpcPort: number;
  pid: number;
  /** Its data folder (removed by stop()). */
  dataDir: string;
  /** What it printed (the last 100 kB). */
  output(): string;
  stop(): Promise<void>;
}

/** The weaviate-server binary deploy/local/infra.sh built ($HOTDASH_CACHE, default ~/.cache/hotdash; version HOTDASH_WEAVIATE_VERSION, default as infra.sh). */
export function weaviateBinary(env: NodeJS.ProcessEnv = process.env): string {
  const cache = env.HOTDASH_CACHE ?? join(homedir(), '.cache', 'hotdash');
  return join(cache, `weaviate-${env.HOTDASH_WEAVIATE_VERSION ?? 'v1.35.2'}`, 'weaviate-server');
}

/** A loopback port free at this moment. */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/**
 * Starts a second Weaviate (e.g. a pilot deployment's own) from the binary deploy/local built, with
 * deploy/local's settings (anonymous access, no vectorizer module) on free loopback ports and a data
 * folder of its own, and waits until it is ready (polling /v1/.well-known/ready, at most
 * `readyTimeoutMs`). The cluster's other ports (gossip, data, raft) are free ports too, so it never
 * meets the local stack's node.
 */
export async function startWeaviate(options: { readyTimeoutMs?: number; name?: string; env?: Record<string, string> } = {}): Promise<WeaviateProcess> {
  const bin = weaviateBinary();
  if (!existsSync(bin)) throw new Error(`no Weaviate binary at ${bin}: deploy/local/infra.sh up builds it (go install), or set HOTDASH_CACHE`);
  const [http, grpc, gossip, data, raft, raftRpc] = await Promise.all(Array.from({ length: 6 }, freePort));
  const node = options.name ?? `spec-${process.pid}`;
  const dir = mkdtempSync(join(tmpdir(), 'hotdash-weaviate-'));
  const child = spawn(bin, ['--host', '127.0.0.1', '--port', String(http), '--scheme', 'http'], {
    env: {
      PATH: process.env.PATH ?? '',
      AUTHENTICATION_ANONYMOUS_ACCESS_ENABLED: 'true',
      DEFAULT_VECTORIZER_MODULE: 'none',
      ENABLE_MODULES: '',
      PERSISTENCE_DATA_PATH: join(dir, 'data'),
      QUERY_DEFAULTS_LIMIT: '25',
      DISABLE_TELEMETRY: 'true',
      GRPC_PORT: String(grpc),
      CLUSTER_HOSTNAME: node,
      CLUSTER_ADVERTISE_ADDR: '127.0.0.1',
      CLUSTER_GOSSIP_BIND_PORT: String(gossip),
      CLUSTER_DATA_BIND_PORT: String(data),
      RAFT_PORT: String(raft),
      RAFT_INTERNAL_RPC_PORT: String(raftRpc),
      RAFT_BOOTSTRAP_EXPECT: '1',
      RAFT_JOIN: `${node}:${raft}`,
      PROMETHEUS_MONITORING_ENABLED: 'false',
      LIMIT_RESOURCES: 'true',
      GOMAXPROCS: '1',
      // Overrides (a benchmark runs it as deploy/local does: GOMAXPROCS=2).
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const append = (d: Buffer) => {
    out += d.toString();
    if (out.length > 200_000) out = out.slice(-100_000);
  };
  child.stdout!.on('data', append);
  child.stderr!.on('data', append);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(t);
    rmSync(dir, { recursive: true, force: true });
  };
  const url = `http://127.0.0.1:${http}`;
  const deadline = Date.now() + (options.readyTimeoutMs ?? 60_000);
  for (;;) {
    if (child.exitCode !== null) {
      await stop();
      throw new Error(`Weaviate exited (${child.exitCode}) before it was ready:\n${out.slice(-3_000)}`);
    }
    if (await fetch(`${url}/v1/.well-known/ready`).then((r) => r.ok, () => false)) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`Weaviate on ${url} was not ready within ${options.readyTimeoutMs ?? 60_000} ms:\n${out.slice(-3_000)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url, grpcPort: grpc!, pid: child.pid!, dataDir: join(dir, 'data'), output: () => out, stop };
}
