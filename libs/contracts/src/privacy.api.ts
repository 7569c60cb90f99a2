// The privacy API (issue 16, item 5): erasure of one data subject (GDPR art. 17) — a tenant's
// customer known by e-mail — across every store, and the certificate the platform signs for it.
import { z } from 'zod';

/** Largest body POST /privacy/erasures takes. */
export const ERASURE_BODY_LIMIT = 4 * 1024;

/**
 * Body of POST /privacy/erasures: the data subject (the customer) by e-mail, matched trimmed and
 * case-insensitively. The address is never stored: only its blind index (subject_ref).
 */
export const subjectErasureBody = z
  .object({
    email: z.string().trim().max(320, 'email must be at most 320 characters').pipe(z.email({ message: 'email must be an e-mail address' })),
  })
  .strict();
export type SubjectErasureBody = z.infer<typeof subjectErasureBody>;

/** Stable codes of the privacy API's refusals (RFC 9457 `code`). */
export const PrivacyProblems = {
  /** 400: the e-mail is missing or not an address. */
  INVALID_EMAIL: 'invalid-subject-email',
  /** 404: no such erasure in this tenant (another tenant's answers the same). */
  NOT_FOUND: 'erasure-not-found',
  /** 423: the tenant is suspended. */
  SUSPENDED: 'tenant-suspended',
} as const;

/** The privacy API's problem code of a failing body field. */
export function privacyProblemCodeOf(path: string): string | undefined {
  return path.split('.', 1)[0] === 'email' ? PrivacyProblems.INVALID_EMAIL : undefined;
}

/** The stores an erasure reaches, in the order it reaches them. */
export const ErasureStores = ['subject-keys', 'postgresql', 'kafka', 'outbox', 'backups', 'redis', 'mail', 'vector-store'] as const;
export type ErasureStore = (typeof ErasureStores)[number];

/**
 * What an erasure did in one store: `deleted` (rows, keys or files removed, counted), `shredded`
 * (copies left in place sealed under the destroyed subject key: unreadable for good), `none-held`
 * (the store holds nothing of the subject, and why).
 */
export const erasureStoreResult = z
  .object({
    store: z.enum(ErasureStores),
    method: z.enum(['deleted', 'shredded', 'none-held']),
    /** What was erased: `tickets`, `drafts`, `mail_outbox`, `subject_keys`, `idempotency replies`, `.eml files`… */
    items: z.string().max(200),
    count: z.number().int().min(0),
    detail: z.string().max(1000),
  })
  .strict();
export type ErasureStoreResult = z.infer<typeof erasureStoreResult>;

/** The certificate's type, so a verifier knows what it holds. */
export const ERASURE_CERTIFICATE_TYPE = 'hotdash.subject-erasure-certificate';

/** What an erasure certificate states (signed as its canonical JSON, {@link canonicalJson}). */
export const erasureCertificate = z
  .object({
    type: z.literal(ERASURE_CERTIFICATE_TYPE),
    version: z.literal(1),
    erasureId: z.uuid(),
    tenantId: z.uuid(),
    /** The subject's blind index in the tenant (never the address). */
    subjectRef: z.string().regex(/^[0-9a-f]{64}$/),
    requestedBy: z.string().max(200),
    requestedAt: z.iso.datetime({ offset: true }),
    completedAt: z.iso.datetime({ offset: true }),
    /** The subject keys destroyed (their ids, as named in `s1.` tokens). */
    subjectKeys: z.array(z.uuid()),
    stores: z.array(erasureStoreResult),
  })
  .strict();
export type ErasureCertificate = z.infer<typeof erasureCertificate>;

/** A certificate with the platform's Ed25519 signature over its canonical JSON. */
export const signedErasureCertificate = z
  .object({
    certificate: erasureCertificate,
    signature: z.object({ alg: z.literal('Ed25519'), keyId: z.string().min(1).max(64), value: z.base64() }).strict(),
  })
  .strict();
export type SignedErasureCertificate = z.infer<typeof signedErasureCertificate>;

/** A tenant's offboarding certificate: what the platform erased of the whole tenant, where. */
export const TENANT_ERASURE_CERTIFICATE_TYPE = 'hotdash.tenant-erasure-certificate';

/** The stores a tenant's offboarding reaches, in the order it reaches them. */
export const TenantErasureStores = ['vector-store', 'jobs', 'redis', 'postgresql', 'data-key', 'subject-keys', 'kafka', 'backups', 'mail', 'control-plane'] as const;

export const tenantErasureCertificate = z
  .object({
    type: z.literal(TENANT_ERASURE_CERTIFICATE_TYPE),
    version: z.literal(1),
    tenantId: z.uuid(),
    /** The offboarding saga. */
    offboardingId: z.uuid(),
    requestedBy: z.string().max(200),
    reason: z.string().max(1000),
    requestedAt: z.iso.datetime({ offset: true }),
    completedAt: z.iso.datetime({ offset: true }),
    /** The erased audit log: how many entries, and its chain's head hash before the erasure (so an archived copy can be matched). */
    auditChain: z.object({ entries: z.number().int().min(0), headHash: z.string().regex(/^[0-9a-f]{64}$/).nullable() }).strict(),
    stores: z.array(erasureStoreResult.extend({ store: z.enum(TenantErasureStores) })),
  })
  .strict();
export type TenantErasureCertificate = z.infer<typeof tenantErasureCertificate>;

export const signedTenantErasureCertificate = z
  .object({
    certificate: tenantErasureCertificate,
    signature: z.object({ alg: z.literal('Ed25519'), keyId: z.string().min(1).max(64), value: z.base64() }).strict(),
  })
  .strict();
export type SignedTenantErasureCertificate = z.infer<typeof signedTenantErasureCertificate>;

/** Any certificate the platform signs (what `hotdash-ops certificate verify` checks). */
export const signedCertificate = z.union([signedErasureCertificate, signedTenantErasureCertificate]);
export type SignedCertificate = z.infer<typeof signedCertificate>;

export const ErasureStatuses = ['running', 'succeeded', 'failed'] as const;

/** An erasure as GET /privacy/erasures/{id} answers it: its steps as they go, then the certificate. */
export const subjectErasureView = z.object({
  id: z.uuid(),
  status: z.enum(ErasureStatuses),
  subjectRef: z.string(),
  requestedBy: z.string(),
  steps: z.array(z.object({ store: z.enum(ErasureStores), status: z.enum(['pending', 'done']), count: z.number().int().nullable() })),
  /** Steps done of all steps. */
  progress: z.object({ done: z.number().int(), total: z.number().int() }),
  error: z.string().nullable(),
  startedAt: z.string(),
  finishedAt: z.string().nullable(),
  certificate: signedErasureCertificate.nullable(),
});
export type SubjectErasureView = z.infer<typeof subjectErasureView>;

export const erasureIdParams = z.object({ id: z.uuid() });

/**
 * The canonical JSON of a value, as certificates are signed: object keys sorted (by UTF-16 code
 * units, as JavaScript sorts them), no whitespace, strings and numbers as JSON.stringify writes them.
 * For a certificate (ASCII strings, integers) it is byte for byte what `jq -cjS .certificate` prints,
 * so it can be checked with jq and openssl alone (docs/operations.md "Erasure certificates").
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v === undefined ? null : v)).join(',')}]`;
  const entries = Object.keys(value)
    .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`);
  return `{${entries.join(',')}}`;
}

/**
 * The public half of the development certificate key (platform/crypto certificate.ts signs with its
 * private half when HOTDASH_CERTIFICATE_SIGNING_KEY is unset outside production). Public, so a
 * certificate under it proves nothing in production: verifiers accept it only when NODE_ENV is not
 * `production` and HOTDASH_CERTIFICATE_VERIFY_KEYS is unset.
 */
export const DEV_CERTIFICATE_VERIFY_KEY = { keyId: 'cert-dev-1', spki: 'MCowBQYDK2VwAyEAocaGtVgPxcXcsi4IISEJ00Jc7jw4c8iTmbxDzXSdCSg=' } as const;
