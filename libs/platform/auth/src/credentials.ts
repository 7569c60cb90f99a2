import { createHash, randomBytes } from 'node:crypto';
import { parseTenantId, TenantId } from '@hotdash/contracts';

/** Finds a user by address without decrypting: sha256 of the tenant id and the lower-cased address. */
export function emailHash(tenantId: string, email: string): string {
  return createHash('sha256').update(`${tenantId}\n${email.trim().toLowerCase()}`).digest('hex');
}

/** What is stored of a bearer secret (invitation, refresh token, reset token, API key): never the secret itself. */
export function tokenHash(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/**
 * A bearer secret that names its tenant: `<tenant id>.<256 random bits>` (the tenant tells which
 * shard to look in; the random part is the secret). API keys add a recognisable prefix.
 */
export function newTenantSecret(tenantId: string, prefix = ''): string {
  return `${prefix}${tenantId}.${randomBytes(32).toString('base64url')}`;
}

/** The tenant a secret of newTenantSecret() names, or undefined when it is not one. */
export function tenantOfSecret(secret: string, prefix = ''): TenantId | undefined {
  if (!secret.startsWith(prefix)) return undefined;
  const rest = secret.slice(prefix.length);
  const dot = rest.indexOf('.');
  if (dot !== 36 || rest.length < 37 + 40) return undefined;
  try {
    return parseTenantId(rest.slice(0, dot));
  } catch {
    return undefined;
  }
}
