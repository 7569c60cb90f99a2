// `hotdash-ops certificate verify <file>` and the documented jq + openssl check, offline: a
// certificate signed like the platform signs it verifies with its public key; one changed after
// signing, one signed by another key, or a file that is not a certificate does not (exit code 1).
import { execFile, execFileSync } from 'node:child_process';
import { generateKeyPairSync, sign } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { canonicalJson, ERASURE_CERTIFICATE_TYPE, type SignedErasureCertificate } from '@hotdash/contracts';

jest.setTimeout(30_000);
const BIN = join(__dirname, '..', '..', 'bin', 'hotdash-ops.js');

const platform = generateKeyPairSync('ed25519');
const other = generateKeyPairSync('ed25519');
const spki = (k: typeof platform.publicKey) => k.export({ format: 'der', type: 'spki' }).toString('base64');
const KEY = `cert-1:${spki(platform.publicKey)}`;
const dir = mkdtempSync(join(tmpdir(), 'hotdash-cert-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function signed(key = platform.privateKey, keyId = 'cert-1'): SignedErasureCertificate {
  const certificate: SignedErasureCertificate['certificate'] = {
    type: ERASURE_CERTIFICATE_TYPE,
    version: 1,
    erasureId: '01900000-0000-7000-8000-0000000000e1',
    tenantId: '01900000-0000-7000-8000-0000000000a1',
    subjectRef: 'ab'.repeat(32),
    requestedBy: 'user:01900000-0000-7000-8000-0000000000b1',
    requestedAt: '2026-12-19T10:00:00.000Z',
    completedAt: '2026-12-19T10:00:02.000Z',
    subjectKeys: ['01900000-0000-7000-8000-0000000000c1'],
    stores: [
      { store: 'subject-keys', method: 'deleted', items: 'subject_keys', count: 1, detail: 'destroyed' },
      { store: 'postgresql', method: 'deleted', items: 'tickets', count: 2, detail: "the subject's tickets" },
      { store: 'vector-store', method: 'none-held', items: 'knowledge passages', count: 0, detail: 'none held' },
    ],
  };
  return { certificate, signature: { alg: 'Ed25519', keyId, value: sign(null, Buffer.from(canonicalJson(certificate)), key).toString('base64') } };
}

function file(name: string, doc: unknown): string {
  const path = join(dir, name);
  writeFileSync(path, JSON.stringify(doc, null, 2));
  return path;
}

/** The bin as an ops engineer runs it (no login, no gateway: the check is offline). */
function verify(path: string, ...extra: string[]): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(BIN, ['certificate', 'verify', path, '--key', KEY, ...extra], { env: { PATH: process.env.PATH, HOME: dir, XDG_CONFIG_HOME: dir, NO_COLOR: '1' }, timeout: 20_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? -1) : 0, out: stdout, err: stderr });
    });
  });
}

it('verifies a certificate the platform signed, and prints what was erased where', async () => {
  const r = await verify(file('good.json', signed()));
  expect(r.code).toBe(0);
  expect(r.out).toMatch(/^Certificate valid: signed by cert-1\./);
  expect(r.out).toMatch(/postgresql +deleted +tickets +2/);
  // The erasure as GET /privacy/erasures/{id} answers it is taken too; --json prints one document.
  const j = await verify(file('erasure.json', { id: 'x', status: 'succeeded', certificate: signed() }), '--json');
  expect(j.code).toBe(0);
  expect(JSON.parse(j.out)).toMatchObject({ valid: true, keyId: 'cert-1' });
});

it('refuses a certificate changed after signing, signed by another key, or not a certificate (exit code 1)', async () => {
  const changed = signed();
  changed.certificate.stores[1]!.count = 1;
  expect(await verify(file('changed.json', changed))).toMatchObject({ code: 1, err: expect.stringContaining('certificate-bad-signature') });
  expect(await verify(file('forged.json', signed(other.privateKey)))).toMatchObject({ code: 1, err: expect.stringContaining('certificate-bad-signature') });
  expect(await verify(file('unknown.json', signed(other.privateKey, 'cert-9')))).toMatchObject({ code: 1, err: expect.stringContaining('certificate-unknown-key') });
  expect(await verify(file('junk.json', { hello: 'world' }))).toMatchObject({ code: 1, err: expect.stringContaining('certificate-malformed') });
  expect((await verify(join(dir, 'missing.json'))).code).toBe(2);
});

it('is checked by the documented jq + openssl commands alone (docs/operations.md "Erasure certificates")', () => {
  const pem = join(dir, 'platform.pub.pem');
  writeFileSync(pem, platform.publicKey.export({ format: 'pem', type: 'spki' }));
  const check = (path: string): boolean => {
    const script = `jq -cjS .certificate "$1" > "$1.payload" && jq -r .signature.value "$1" | base64 -d > "$1.sig" && openssl pkeyutl -verify -pubin -inkey "$2" -rawin -in "$1.payload" -sigfile "$1.sig"`;
    try {
      execFileSync('sh', ['-c', script, 'verify', path, pem], { stdio: 'pipe' });
      return true;
    } catch {
      return false;
    }
  };
  expect(check(file('good2.json', signed()))).toBe(true);
  const changed = signed();
  changed.certificate.requestedBy = 'user:someone-else';
  expect(check(file('changed2.json', changed))).toBe(false);
});
