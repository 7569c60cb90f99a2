// Password hashes: scrypt at OWASP's parameters in a self-describing PHC string; the first format
// (`scrypt$16384$8$1$salt$hash`, base64url) still verifies and is marked for re-hashing, as is a PHC
// hash at weaker parameters; malformed or hostile stored values verify nothing and never throw.
import { randomBytes, scryptSync } from 'node:crypto';
import { DECOY_PASSWORD_HASH, hashPassword, PASSWORD_HASH_PARAMS, passwordNeedsRehash, verifyPassword, verifyPasswordForUpgrade } from './passwords';

jest.setTimeout(30_000);

const PASSWORD = 'correct horse battery staple';

/** A hash as the platform stored them before issue 15. */
function legacyHash(password: string): string {
  const salt = randomBytes(16);
  const hash = scryptSync(password, salt, 32, { N: 16384, r: 8, p: 1 });
  return `scrypt$16384$8$1$${salt.toString('base64url')}$${hash.toString('base64url')}`;
}

/** A PHC hash at other parameters (a weaker ln). */
function phcHash(password: string, ln: number): string {
  const salt = randomBytes(16);
  const hash = scryptSync(password, salt, 32, { N: 2 ** ln, r: 8, p: 1 });
  return `$scrypt$ln=${ln},r=8,p=1$${salt.toString('base64').replace(/=+$/, '')}$${hash.toString('base64').replace(/=+$/, '')}`;
}

it('hashes at N = 2^17, r = 8, p = 1 in a PHC string with a random salt, and verifies it', async () => {
  expect(PASSWORD_HASH_PARAMS).toEqual({ ln: 17, r: 8, p: 1 });
  const [a, b] = await Promise.all([hashPassword(PASSWORD), hashPassword(PASSWORD)]);
  expect(a).toMatch(/^\$scrypt\$ln=17,r=8,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
  expect(a).not.toBe(b);
  expect(await verifyPassword(PASSWORD, a)).toBe(true);
  expect(await verifyPassword(`${PASSWORD} `, a)).toBe(false);
  expect(passwordNeedsRehash(a)).toBe(false);
  expect(await verifyPasswordForUpgrade(PASSWORD, a)).toEqual({ ok: true });
});

it('still verifies the first format, and upgrades it (and a PHC hash at weaker parameters) after a correct password only', async () => {
  const old = legacyHash(PASSWORD);
  expect(await verifyPassword(PASSWORD, old)).toBe(true);
  expect(await verifyPassword('wrong password!!', old)).toBe(false);
  expect(passwordNeedsRehash(old)).toBe(true);
  expect(await verifyPasswordForUpgrade('wrong password!!', old)).toEqual({ ok: false });
  const up = await verifyPasswordForUpgrade(PASSWORD, old);
  expect(up.ok).toBe(true);
  expect(up.upgraded).toMatch(/^\$scrypt\$ln=17,r=8,p=1\$/);
  expect(await verifyPassword(PASSWORD, up.upgraded!)).toBe(true);

  const weak = phcHash(PASSWORD, 14);
  expect(await verifyPassword(PASSWORD, weak)).toBe(true);
  expect(passwordNeedsRehash(weak)).toBe(true);
  expect((await verifyPasswordForUpgrade(PASSWORD, weak)).upgraded).toMatch(/^\$scrypt\$ln=17,/);
});

it('verifies nothing against a malformed or hostile stored value, without throwing', async () => {
  const good = await hashPassword(PASSWORD);
  const [, , params, salt, hash] = good.split('$') as [string, string, string, string, string];
  const bad = [
    '',
    'plain text',
    'scrypt$',
    'scrypt$16384$8$1$$',
    'scrypt$16385$8$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', // N not a power of two
    `$argon2id$v=19$m=19456,t=2,p=1$${salt}$${hash}`,
    `$scrypt$${params}$${salt}`,
    `$scrypt$ln=30,r=8,p=1$${salt}$${hash}`, // 2^30: more memory than any platform hash; refused, not computed
    `$scrypt$ln=17,r=800,p=1$${salt}$${hash}`,
    `$scrypt$ln=20,r=8,p=1$${salt}$${hash}`, // 1 GiB
    `$scrypt$ln=17,r=8,p=16$${salt}$${hash}`, // 2 GiB
    `$scrypt$ln=17,r=8,p=1$${salt}$${hash}$extra`,
    `$scrypt$ln=17,r=8,p=1$${salt}$not*base64`,
    `$scrypt$ln=17,r=8,p=1$AA$${hash}`, // a salt too short
  ];
  for (const stored of bad) {
    await expect(verifyPassword(PASSWORD, stored)).resolves.toBe(false);
    expect(passwordNeedsRehash(stored)).toBe(true);
  }
});

it('has a decoy at the current parameters that no password matches', async () => {
  expect(DECOY_PASSWORD_HASH.startsWith('$scrypt$ln=17,r=8,p=1$')).toBe(true);
  expect(passwordNeedsRehash(DECOY_PASSWORD_HASH)).toBe(false);
  expect(await verifyPassword(PASSWORD, DECOY_PASSWORD_HASH)).toBe(false);
});

it('hashes off the event loop: timers keep firing while hashes run', async () => {
  let ticks = 0;
  const timer = setInterval(() => ticks++, 5);
  try {
    await Promise.all([hashPassword(PASSWORD), hashPassword(PASSWORD), hashPassword(PASSWORD)]);
  } finally {
    clearInterval(timer);
  }
  // Three hashes take several hundred milliseconds; a hash on the event loop would let no timer fire meanwhile.
  expect(ticks).toBeGreaterThanOrEqual(3);
});
