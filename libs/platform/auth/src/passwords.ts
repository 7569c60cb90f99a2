import { randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';

/**
 * Password hashing: scrypt at OWASP's parameters (N = 2^17, r = 8, p = 1: 128 MiB and a few hundred
 * milliseconds per hash), computed on libuv's thread pool (never on the event loop), stored as a
 * PHC string that names the algorithm and its parameters:
 *
 *   $scrypt$ln=17,r=8,p=1$<salt, base64 without padding>$<hash, base64 without padding>
 *
 * so the parameters can change later: verification reads them from the stored hash, and a hash
 * that is not at the current parameters (or in the first format, `scrypt$N$r$p$salt$hash` in
 * base64url, N = 2^14) is re-hashed at the next successful sign-in (`passwordNeedsRehash`,
 * `verifyPasswordForUpgrade`).
 */
export const PASSWORD_HASH_PARAMS = { ln: 17, r: 8, p: 1 } as const;

const SALT_BYTES = 16;
const HASH_BYTES = 32;
/**
 * Hashes computed at once per process: each holds 128 MiB while it runs and a thread of libuv's
 * pool (4 by default, shared with file and DNS work), so a burst of sign-ins queues here instead.
 */
const MAX_CONCURRENT_HASHES = 2;
/**
 * Refused when read from a stored hash: a form or a cost no platform hash has (a corrupted or hostile
 * row must not take the process's memory: at most 512 MiB, 4× the current parameters').
 */
const LIMITS = { lnMin: 10, lnMax: 22, rMax: 32, pMax: 16, memoryMax: 512 * 1024 * 1024, saltMin: 8, saltMax: 64, hashMin: 16, hashMax: 64 };

interface ScryptParams {
  ln: number;
  r: number;
  p: number;
}

interface ParsedHash extends ScryptParams {
  format: 'phc' | 'legacy';
  salt: Buffer;
  hash: Buffer;
}

let running = 0;
const waiting: Array<() => void> = [];

/** A slot of MAX_CONCURRENT_HASHES; a finished hash hands its slot straight to the next one waiting. */
async function acquire(): Promise<void> {
  if (running < MAX_CONCURRENT_HASHES) {
    running++;
    return;
  }
  await new Promise<void>((resolve) => waiting.push(resolve));
}

function release(): void {
  const next = waiting.shift();
  if (next) next();
  else running--;
}

async function scrypt(password: string, salt: Buffer, keylen: number, { ln, r, p }: ScryptParams): Promise<Buffer> {
  await acquire();
  try {
    const N = 2 ** ln;
    // Node's default maxmem (32 MiB) is below what N = 2^17, r = 8 needs (128 * N * r bytes).
    const options: ScryptOptions = { N, r, p, maxmem: 2 * 128 * N * r * p };
    return await new Promise<Buffer>((resolve, reject) => scryptCb(password, salt, keylen, options, (err, key) => (err ? reject(err) : resolve(key))));
  } finally {
    release();
  }
}

const B64 = /^[A-Za-z0-9+/]+$/;
const B64URL = /^[A-Za-z0-9_-]+$/;
const INT = /^[1-9][0-9]{0,9}$/;

/** A stored hash read into its parts, or undefined when it is not one this code wrote (never throws). */
function parse(stored: string): ParsedHash | undefined {
  if (stored.startsWith('$scrypt$')) {
    const m = /^\$scrypt\$ln=([0-9]{1,2}),r=([0-9]{1,3}),p=([0-9]{1,3})\$([^$]+)\$([^$]+)$/.exec(stored);
    if (!m || !B64.test(m[4]!) || !B64.test(m[5]!)) return undefined;
    return checked({ format: 'phc', ln: Number(m[1]), r: Number(m[2]), p: Number(m[3]), salt: Buffer.from(m[4]!, 'base64'), hash: Buffer.from(m[5]!, 'base64') });
  }
  // The first format (until issue 15): `scrypt$16384$8$1$<salt>$<hash>`, base64url.
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return undefined;
  const [, n, r, p, salt, hash] = parts as [string, string, string, string, string, string];
  if (!INT.test(n) || !INT.test(r) || !INT.test(p) || !B64URL.test(salt) || !B64URL.test(hash)) return undefined;
  const ln = Math.log2(Number(n));
  if (!Number.isInteger(ln)) return undefined;
  return checked({ format: 'legacy', ln, r: Number(r), p: Number(p), salt: Buffer.from(salt, 'base64url'), hash: Buffer.from(hash, 'base64url') });
}

function checked(h: ParsedHash): ParsedHash | undefined {
  const ok =
    h.ln >= LIMITS.lnMin && h.ln <= LIMITS.lnMax && h.r >= 1 && h.r <= LIMITS.rMax && h.p >= 1 && h.p <= LIMITS.pMax && 128 * 2 ** h.ln * h.r * h.p <= LIMITS.memoryMax &&
    h.salt.length >= LIMITS.saltMin && h.salt.length <= LIMITS.saltMax && h.hash.length >= LIMITS.hashMin && h.hash.length <= LIMITS.hashMax;
  return ok ? h : undefined;
}

/** A new hash of the password at the current parameters (PHC string, random salt). */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const hash = await scrypt(password, salt, HASH_BYTES, PASSWORD_HASH_PARAMS);
  const { ln, r, p } = PASSWORD_HASH_PARAMS;
  return `$scrypt$ln=${ln},r=${r},p=${p}$${salt.toString('base64').replace(/=+$/, '')}$${hash.toString('base64').replace(/=+$/, '')}`;
}

/**
 * Whether the password is the one of the stored hash (either format), compared in constant time.
 * A stored value that is no hash this code wrote verifies nothing (false; never throws).
 */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const h = parse(stored);
  if (!h) return false;
  const actual = await scrypt(password, h.salt, h.hash.length, h);
  return timingSafeEqual(actual, h.hash);
}

/** True when the stored hash is not at the current format and parameters: re-hash it at the next successful sign-in. */
export function passwordNeedsRehash(stored: string): boolean {
  const h = parse(stored);
  if (!h) return true;
  return h.format !== 'phc' || h.ln !== PASSWORD_HASH_PARAMS.ln || h.r !== PASSWORD_HASH_PARAMS.r || h.p !== PASSWORD_HASH_PARAMS.p || h.hash.length !== HASH_BYTES;
}

/**
 * A sign-in's check: whether the password matches, and when it does and the stored hash is of an
 * older format or weaker parameters, a new hash at the current ones (`upgraded`) for the caller to
 * store in place of `stored` (compare-and-set on the old value, so a password changed meanwhile wins).
 */
export async function verifyPasswordForUpgrade(password: string, stored: string): Promise<{ ok: boolean; upgraded?: string }> {
  const ok = await verifyPassword(password, stored);
  if (!ok || !passwordNeedsRehash(stored)) return { ok };
  return { ok, upgraded: await hashPassword(password) };
}

/**
 * A hash of a password nobody has, at the current parameters: verified against when the account is
 * unknown, so a wrong address takes as long as a wrong password.
 */
export const DECOY_PASSWORD_HASH = `$scrypt$ln=${PASSWORD_HASH_PARAMS.ln},r=${PASSWORD_HASH_PARAMS.r},p=${PASSWORD_HASH_PARAMS.p}$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA`;
