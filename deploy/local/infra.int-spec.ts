// deploy/local/infra.sh against the running stack: idempotent `up`, `status` naming each service,
// and a clear message naming a missing prerequisite.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const script = join(__dirname, 'infra.sh');
const run = (args: string[], env: Record<string, string> = {}) => spawnSync('bash', [script, ...args], { encoding: 'utf8', env: { ...process.env, ...env } });

it('`up` on a running stack starts nothing and reports every service up', () => {
  const r = run(['up']);
  expect(r.status).toBe(0);
  for (const s of ['postgres', 'redis', 'kafka', 'weaviate']) expect(r.stdout).toMatch(new RegExp(`\\[infra\\] ${s}\\s+up \\(127\\.0\\.0\\.1:\\d+\\)`));
  expect(r.stdout).toMatch(/\[infra\] redis-cluster up \(127\.0\.0\.1:7001-7003\)/);
  expect(r.stdout).not.toMatch(/starting|initialising|formatting|building/);
});

it('`status` names each healthy service and its loopback port', () => {
  const r = run(['status']);
  expect(r.status).toBe(0);
  expect(r.stdout).toMatch(/postgres\s+healthy 127\.0\.0\.1:54329/);
  expect(r.stdout).toMatch(/redis\s+healthy 127\.0\.0\.1:63790/);
  expect(r.stdout).toMatch(/redis-cluster healthy 127\.0\.0\.1:7001-7003/);
  expect(r.stdout).toMatch(/kafka\s+healthy 127\.0\.0\.1:19092/);
  expect(r.stdout).toMatch(/weaviate\s+healthy 127\.0\.0\.1:18080/);
  expect(r.stdout).toMatch(/mailpit\s+healthy smtp 127\.0\.0\.1:1025, web http:\/\/127\.0\.0\.1:8025/);
});

it('names a missing prerequisite and how to install it', () => {
  const state = mkdtempSync(join(tmpdir(), 'hotdash-infra-'));
  try {
    const r = run(['up'], { HOTDASH_PG_BIN: '/nonexistent/bin', HOTDASH_STATE: state });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('missing prerequisite PostgreSQL server: apt-get install -y postgresql');
  } finally {
    rmSync(state, { recursive: true, force: true });
  }
});

it('refuses an unknown command with its usage', () => {
  const r = run(['sideways']);
  expect(r.status).toBe(2);
  expect(r.stderr).toMatch(/usage: .*up\|down \[postgres\|redis\|redis-cluster\|kafka\|weaviate\|vault\|mailpit\|jaeger\]\.\.\. \| status/);
});

it('refuses an unknown store by name, listing the stores', () => {
  const r = run(['down', 'mongodb']);
  expect(r.status).not.toBe(0);
  expect(r.stderr).toContain("unknown store 'mongodb' (postgres, redis, redis-cluster, kafka, weaviate, vault, mailpit, jaeger)");
});
