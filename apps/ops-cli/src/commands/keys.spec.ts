// What `hotdash-ops keys` prints, without a gateway: the live keys per KEK and what to do about the
// ones not under the current KEK; a dry run's counts; a rotation's counts per KEK and, when it
// stopped, its code and what to do. The commands against the platform: e2e/ops-keys.e2e-spec.ts.
import type { KeyRotationRun, KeysStatus } from '@hotdash/contracts';
import { keyRotationDryRunText, keyRotationText, keysStatusText } from './keys';

const RUN = '01900000-0000-7000-8000-0000000000cc';

const status: KeysStatus = {
  currentKekId: 'kek-2026-12',
  keks: [
    { kekId: 'kek-2026-12', keys: 4, current: true },
    { kekId: 'kek-2026-06', keys: 120, current: false },
  ],
  notCurrent: 120,
  destroyed: 3,
  runningRotation: null,
};

const running: KeyRotationRun = {
  id: RUN,
  status: 'running',
  actor: 'ops:ada',
  fromKekId: 'kek-2026-06',
  toKekId: 'kek-2026-12',
  total: 120,
  rewrapped: 50,
  remaining: 70,
  keks: [{ kekId: 'kek-2026-06', total: 120, rewrapped: 50 }],
  code: null,
  error: null,
  startedAt: '2026-12-17T10:00:00.000Z',
  updatedAt: '2026-12-17T10:00:01.000Z',
  finishedAt: null,
};

it('prints the live keys per KEK, the current one marked, and says to rotate when keys are under an old one', () => {
  const text = keysStatusText(status);
  expect(text).toMatch(/^Current key-encryption key: kek-2026-12\n/);
  expect(text).toMatch(/kek-2026-12 +4 +current\n/);
  expect(text).toMatch(/kek-2026-06 +120\n/);
  expect(text).toContain('Destroyed keys: 3.');
  expect(text).toContain('120 live key(s) are not under the current KEK');
  expect(keysStatusText({ ...status, keks: [status.keks[0]!], notCurrent: 0 })).toContain('Every live key is under the current KEK.');
  expect(keysStatusText({ ...status, runningRotation: RUN })).toContain(`hotdash-ops keys rotation ${RUN}`);
});

it('prints a dry run’s keys per KEK', () => {
  const text = keyRotationDryRunText({ dryRun: true, toKekId: 'kek-2026-12', fromKekId: null, total: 120, keks: [{ kekId: 'kek-2026-06', keys: 120 }] });
  expect(text).toMatch(/^Dry run: 120 live key\(s\) would be re-wrapped under kek-2026-12\.\n/);
  expect(text).toMatch(/kek-2026-06 +120\n/);
});

it('prints a rotation’s counts, how to follow it, and why it stopped', () => {
  expect(keyRotationText(running)).toMatch(new RegExp(`^Key rotation ${RUN} to kek-2026-12 \\(from kek-2026-06\\): running, 50/120 re-wrapped, 70 remaining\\n`));
  expect(keyRotationText(running)).toMatch(/kek-2026-06 +120 +50\n/);
  expect(keyRotationText(running)).toContain(`Follow it: hotdash-ops keys rotation ${RUN}`);
  const failed = keyRotationText({ ...running, status: 'failed', code: 'kek-not-configured', error: 'key-encryption key "kek-2026-01" … put that master key back' });
  expect(failed).toContain('Stopped (kek-not-configured): key-encryption key "kek-2026-01" … put that master key back');
  expect(failed).not.toContain('Follow it');
  expect(keyRotationText({ ...running, status: 'succeeded', rewrapped: 120, remaining: 0 })).toContain('the old master key may be removed');
});
