import { createPublicKey, KeyObject, verify } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { canonicalJson, DEV_CERTIFICATE_VERIFY_KEY, signedCertificate, type SignedCertificate } from '@hotdash/contracts';
import { CliError, ExitCode, usageError } from '../errors';
import { emit, table } from '../output';
import type { Context } from '../context';

/** The verdict on a certificate file. */
export type CertificateCheck = { valid: true; keyId: string; certificate: SignedCertificate['certificate'] } | { valid: false; reason: 'malformed' | 'unknown-key' | 'bad-signature'; keyId?: string };

/**
 * The platform's certificate verification keys: `--key kid:base64` entries, else
 * HOTDASH_CERTIFICATE_VERIFY_KEYS (`kid:base64 SPKI DER`, comma separated), else — outside
 * production — the development key.
 */
export function verifyKeysOf(env: NodeJS.ProcessEnv, given: string[] = []): Map<string, KeyObject> {
  const entries = given.length ? given : (env.HOTDASH_CERTIFICATE_VERIFY_KEYS ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  const keys = new Map<string, KeyObject>();
  if (entries.length === 0) {
    if (env.NODE_ENV === 'production') throw usageError('No certificate verification key: set HOTDASH_CERTIFICATE_VERIFY_KEYS or give --key kid:base64.', 'docs/operations.md, "Erasure certificates"');
    keys.set(DEV_CERTIFICATE_VERIFY_KEY.keyId, createPublicKey({ key: Buffer.from(DEV_CERTIFICATE_VERIFY_KEY.spki, 'base64'), format: 'der', type: 'spki' }));
    return keys;
  }
  for (const entry of entries) {
    const i = entry.indexOf(':');
    if (i <= 0) throw usageError(`"${entry.slice(0, 40)}" is not kid:base64 (an Ed25519 public key, SPKI DER in base64).`);
    try {
      const key = createPublicKey({ key: Buffer.from(entry.slice(i + 1), 'base64'), format: 'der', type: 'spki' });
      if (key.asymmetricKeyType !== 'ed25519') throw new Error('not Ed25519');
      keys.set(entry.slice(0, i), key);
    } catch {
      throw usageError(`The key ${entry.slice(0, i)} is not an Ed25519 public key (SPKI DER in base64).`);
    }
  }
  return keys;
}

/** Checks a signed certificate as parsed from its file: its shape, its key id, the Ed25519 signature over the canonical JSON of `certificate`. */
export function checkCertificate(doc: unknown, keys: ReadonlyMap<string, KeyObject>): CertificateCheck {
  const parsed = signedCertificate.safeParse(doc);
  if (!parsed.success) return { valid: false, reason: 'malformed' };
  const { keyId, value } = parsed.data.signature;
  const key = keys.get(keyId);
  if (!key) return { valid: false, reason: 'unknown-key', keyId };
  const ok = verify(null, Buffer.from(canonicalJson((doc as { certificate: unknown }).certificate), 'utf8'), key, Buffer.from(value, 'base64'));
  return ok ? { valid: true, keyId, certificate: parsed.data.certificate } : { valid: false, reason: 'bad-signature', keyId };
}

const WHY: Record<string, string> = {
  malformed: 'the file is not a signed erasure certificate (JSON with certificate and signature as the platform writes them)',
  'unknown-key': 'it names a signing key that is not among the verification keys',
  'bad-signature': 'the signature does not match the certificate: it was changed after signing, or signed by another key',
};

export function certificateCommands(program: Command, ctx: () => Context): void {
  const cert = program.command('certificate').description('erasure certificates the platform signed (GDPR erasure of a data subject, a tenant\u2019s offboarding)');
  cert
    .command('verify')
    .description('check a certificate file offline against the platform’s public keys (no login, nothing sent); exit code 0 when valid, 1 when not')
    .argument('<file>', 'the certificate as GET /privacy/erasures/{id} answers its `certificate`, or as `hotdash-ops tenants certificate <id>` writes it ({certificate, signature})')
    .option('--key <kid:base64>', 'a verification key (Ed25519 SPKI DER in base64); repeatable; default HOTDASH_CERTIFICATE_VERIFY_KEYS', (v: string, all: string[]) => [...all, v], [] as string[])
    .action(async (file: string, o: { key: string[] }) => {
      const c = ctx();
      const keys = verifyKeysOf(c.env, o.key);
      let doc: unknown;
      try {
        doc = JSON.parse(await readFile(file, 'utf8'));
      } catch (err) {
        throw usageError(`Cannot read ${file} as JSON: ${(err as Error).message}`);
      }
      // The erasure as GET /privacy/erasures/{id} answers it is accepted too (its certificate is checked).
      if (doc && typeof doc === 'object' && 'certificate' in doc && (doc as { certificate: unknown }).certificate && typeof (doc as { certificate: object }).certificate === 'object' && 'signature' in (doc as { certificate: object }).certificate)
        doc = (doc as { certificate: unknown }).certificate;
      const check = checkCertificate(doc, keys);
      if (!check.valid) throw new CliError(ExitCode.REFUSED, `certificate-${check.reason}`, 'Certificate NOT valid', WHY[check.reason]);
      const cf = check.certificate;
      emit(c.out, { valid: true, keyId: check.keyId, certificate: cf }, () =>
        [
          `Certificate valid: signed by ${check.keyId}.`,
          'subjectRef' in cf
            ? `Erasure ${cf.erasureId} of tenant ${cf.tenantId}, subject ${cf.subjectRef}, asked by ${cf.requestedBy} at ${cf.requestedAt}, completed ${cf.completedAt}.`
            : `Offboarding ${cf.offboardingId} of tenant ${cf.tenantId} (${cf.auditChain.entries} audit entries, chain head ${cf.auditChain.headHash ?? 'none'}), asked by ${cf.requestedBy} at ${cf.requestedAt}, completed ${cf.completedAt}.`,
          table(['STORE', 'METHOD', 'WHAT', 'COUNT'], cf.stores.map((s) => [s.store, s.method, s.items, s.count])).trimEnd(),
          '',
        ].join('\n'),
      );
    });
}
