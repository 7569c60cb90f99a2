// A service refuses to start on a bad environment (issue 15, item 7): started as its own process
// with a HOTDASH_* variable that is not a setting (a misspelt dead-lettering setting, which would
// otherwise leave dead-lettering at its default without a word), with a malformed value (once: no
// event ever dead-lettered), or in production without the keys it requires, it exits with 78
// (EX_CONFIG) before it listens, naming each variable and what it must be.
import { ServiceProcess, startProcess, waitFor } from '@hotdash/testing';

jest.setTimeout(60_000);

const PORT = 3271;
const started: ServiceProcess[] = [];

async function refusedStart(entry: string, env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  const p = startProcess(entry, { HOTDASH_QUOTA_PORT: String(PORT), HOTDASH_AUDIT_PORT: String(PORT), ...env });
  started.push(p);
  const code = await waitFor(`${entry} to exit`, async () => (p.child.exitCode !== null || p.child.signalCode !== null ? { code: p.child.exitCode } : undefined), 45_000, 50);
  return { code: code.code, output: p.output() };
}

afterAll(async () => {
  for (const p of started) await p.kill();
});

it('exits 78 naming an unknown HOTDASH_* variable and the setting it probably meant, before listening', async () => {
  const r = await refusedStart('apps/quota/src/main.ts', { HOTDASH_DEADLETTER: '3', HOTDASH_CONSUMER_MAX_ATEMPTS: '3' });
  expect(r.code).toBe(78);
  expect(r.output).toContain('quota: configuration refused (2 problems):');
  expect(r.output).toMatch(/HOTDASH_CONSUMER_MAX_ATEMPTS is not a HotDash setting; did you mean HOTDASH_CONSUMER_MAX_ATTEMPTS \(/);
  expect(r.output).toMatch(/HOTDASH_DEADLETTER is not a HotDash setting; did you mean HOTDASH_CONSUMER_MAX_ATTEMPTS \(/);
  expect(r.output).toContain('quota: not started: fix the environment');
  expect(r.output).not.toMatch(/listening on/);
  expect(await fetch(`http://127.0.0.1:${PORT}/health`).then(() => 'answered', () => 'refused')).toBe('refused');
});

it('exits 78 naming a malformed value and what it must be; a secret is not echoed', async () => {
  const secret = 'k1:c2VjcmV0LW1hdGVyaWFs';
  const r = await refusedStart('apps/audit/src/main.ts', { HOTDASH_CONSUMER_MAX_ATTEMPTS: '5x', HOTDASH_KMS_MASTER_KEYS: secret });
  expect(r.code).toBe(78);
  expect(r.output).toContain('HOTDASH_CONSUMER_MAX_ATTEMPTS must be an integer from 1 to 1000 (attempts before an event is dead-lettered), got "5x"');
  expect(r.output).toMatch(/HOTDASH_KMS_MASTER_KEYS must be id:base64\(32 bytes\) entries, comma separated, current first, got a value not shown here \(a secret\)/);
  expect(r.output).not.toContain('c2VjcmV0');
});

it('exits 78 in production without the keys production requires', async () => {
  const r = await refusedStart('apps/quota/src/main.ts', { NODE_ENV: 'production', HOTDASH_KMS_MASTER_KEYS: '', HOTDASH_AUTH_VERIFY_KEYS: '', HOTDASH_AUTH_SIGNING_KEY: '' });
  expect(r.code).toBe(78);
  expect(r.output).toMatch(/HOTDASH_AUTH_VERIFY_KEYS is not set; it is required in production/);
  expect(r.output).toMatch(/HOTDASH_KMS_MASTER_KEYS is not set; it is required in production/);
});
