import type { PilotCredentials, TenantId } from '@hotdash/contracts';
import type { KmsPort } from '@hotdash/platform-crypto';
import type { Json } from '@hotdash/platform-jobs';

/**
 * The pilot's import role as a pilot import's saga keeps it while it runs: the JSON of the role's
 * user, password and the import's id, wrapped by the platform's KMS under its current key-encryption
 * key and bound to the tenant (the same sealing as a sign-up's secrets, `sealInput`). Never the
 * password in clear: the saga's input is jsonb in the control plane, read by GET /ops/imports/{id}
 * (which shows none of it). The saga forgets it when it ends (succeeded, rolled back or failed:
 * `forgetOnEnd`), so what is left of an import holds no way into the pilot.
 */
export interface SealedPilotCredentials {
  [key: string]: Json;
  kekId: string;
  /** base64 of the KMS's wrapped bytes. */
  wrapped: string;
}

interface Sealed {
  import: string;
  user: string;
  password: string;
}

export async function sealPilotCredentials(kms: KmsPort, tenantId: TenantId, importId: string, credentials: PilotCredentials): Promise<SealedPilotCredentials> {
  const plain: Sealed = { import: importId, user: credentials.user, password: credentials.password };
  const buffer = Buffer.from(JSON.stringify(plain), 'utf8');
  try {
    const w = await kms.wrap(tenantId, buffer);
    return { kekId: w.kekId, wrapped: w.wrapped.toString('base64') };
  } finally {
    buffer.fill(0);
  }
}

/** The import role sealed for this import (KmsPort errors when the KEK is gone or the bytes were tampered with); an Error when they belong to another import. */
export async function openPilotCredentials(kms: KmsPort, tenantId: TenantId, importId: string, sealed: SealedPilotCredentials): Promise<PilotCredentials> {
  const raw = await kms.unwrap(tenantId, { kekId: sealed.kekId, wrapped: Buffer.from(sealed.wrapped, 'base64') });
  try {
    const plain = JSON.parse(raw.toString('utf8')) as Partial<Sealed>;
    if (plain.import !== importId || typeof plain.user !== 'string' || typeof plain.password !== 'string') throw new Error(`the sealed pilot credentials of import ${importId} belong to another import`);
    return { user: plain.user, password: plain.password };
  } finally {
    raw.fill(0);
  }
}
