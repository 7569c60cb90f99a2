import { createHash, randomBytes, scrypt as scryptCb, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import { parseTenantId, TenantId } from '@hotdash/contracts';

const scrypt = promisify(scryptCb) as (password: string, salt: Buffer, keylen: number, options: { N: number; r: number; p: number }) => Promise<Buffer>;
const SCRYPT = { N: 16384, r: 8, p: 1 };

/** scrypt with a random salt, stored as `scrypt$N$r$p$salt$hash` (base64url). */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const hash = await scrypt(password, salt, 32, SCRYPT);
  return `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${salt.toString('base64url')}$${hash.toString('base64url')}`;
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [scheme, n, r, p, salt, hash] = stored.split('$');
  if (scheme !== 'scrypt' || !salt || !hash) return false;
  const expected = Buffer.from(hash, 'base64url');
  const actual = await scrypt(password, Buffer.from(salt, 'base64url'), expected.length, { N: Number(n), r: Number(r), p: Number(p) });
  return timingSafeEqual(actual, expected);
}

/** A hash of a password nobody has: verified against when the user is unknown, so both cases take as long. */
export const DECOY_PASSWORD_HASH = 'scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';

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
