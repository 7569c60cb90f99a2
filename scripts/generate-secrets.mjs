#!/usr/bin/env node
// Generates every secret the services need in production, as env files docker-compose.yml
// (`env_file`) and the Kustomize overlays (`secretGenerator`) read. docs/deployment.md, "Secrets".
//
//   node scripts/generate-secrets.mjs --out .secrets                       # docker compose
//   node scripts/generate-secrets.mjs --out k8s/overlays/production/secrets # one overlay
//
// Options: --out <dir> (default .secrets); --force overwrites files already there (a rotation of
// everything at once: the databases' role passwords and the data keys' master key must change with
// them, so it is refused by default); --smtp-url <url>, --openai-api-key <key>, --kms-transit-token
// <token> add those (they are given, not generated); --without-move-roles leaves out the tenant-move
// roles' passwords (a single-tenant deployment moves no tenant).
//
// Files (mode 0600, in a directory of mode 0700 that also gets a .gitignore of `*`):
//   hotdash-db.env          the services' role passwords (hotdash_app, hotdash_relay): every service
//   hotdash-db-admin.env    the owner's (migrations) and the tenant-move roles': the migrate Job, provisioning
//   hotdash-keys.env        the KMS master key, the token verification keys (and what was given): every service
//   hotdash-auth-signing.env        the gateway's token signing key (Ed25519): the gateway only
//   hotdash-certificate-signing.env the erasure certificate signing key (Ed25519): drafts, provisioning
//   postgres.env            the PostgreSQL superuser's password (compose and the dev overlay's PostgreSQL)
//   public.env              not secret: the public keys (HOTDASH_CERTIFICATE_VERIFY_KEYS for hotdash-ops)
// Node built-ins only: it runs before `npm ci` on an operator's machine.
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';

export const SECRET_FILES = {
  'hotdash-db': ['HOTDASH_DB_APP_PASSWORD', 'HOTDASH_DB_RELAY_PASSWORD'],
  'hotdash-db-admin': ['HOTDASH_DB_OWNER_PASSWORD', 'HOTDASH_DB_MOVER_PASSWORD', 'HOTDASH_DB_SUBSCRIBER_PASSWORD'],
  'hotdash-keys': ['HOTDASH_KMS_MASTER_KEYS', 'HOTDASH_AUTH_VERIFY_KEYS'],
  'hotdash-auth-signing': ['HOTDASH_AUTH_SIGNING_KEY'],
  'hotdash-certificate-signing': ['HOTDASH_CERTIFICATE_SIGNING_KEY'],
  postgres: ['POSTGRES_PASSWORD'],
};

/** A password safe in a libpq connection string, an env file and an SQL string literal: base64url of 24 random bytes. */
const password = () => randomBytes(24).toString('base64url');

function ed25519(kid) {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    signing: `${kid}:${privateKey.export({ format: 'der', type: 'pkcs8' }).toString('base64')}`,
    verify: `${kid}:${publicKey.export({ format: 'der', type: 'spki' }).toString('base64')}`,
  };
}

/** Every generated value, by file; `stamp` makes the key ids (e.g. `auth-20261206`), so a later rotation's ids differ. */
export function generateSecrets({ stamp = new Date().toISOString().slice(0, 10).replace(/-/g, ''), smtpUrl, openaiApiKey, kmsTransitToken, withoutMoveRoles = false } = {}) {
  const auth = ed25519(`auth-${stamp}`);
  const certificate = ed25519(`cert-${stamp}`);
  const admin = { HOTDASH_DB_OWNER_PASSWORD: password() };
  if (!withoutMoveRoles) Object.assign(admin, { HOTDASH_DB_MOVER_PASSWORD: password(), HOTDASH_DB_SUBSCRIBER_PASSWORD: password() });
  const keys = { HOTDASH_KMS_MASTER_KEYS: `kek-${stamp}:${randomBytes(32).toString('base64')}`, HOTDASH_AUTH_VERIFY_KEYS: auth.verify };
  if (kmsTransitToken) keys.HOTDASH_KMS_TRANSIT_TOKEN = kmsTransitToken;
  if (openaiApiKey) keys.HOTDASH_OPENAI_API_KEY = openaiApiKey;
  if (smtpUrl) keys.HOTDASH_SMTP_URL = smtpUrl;
  return {
    'hotdash-db': { HOTDASH_DB_APP_PASSWORD: password(), HOTDASH_DB_RELAY_PASSWORD: password() },
    'hotdash-db-admin': admin,
    'hotdash-keys': keys,
    'hotdash-auth-signing': { HOTDASH_AUTH_SIGNING_KEY: auth.signing },
    'hotdash-certificate-signing': { HOTDASH_CERTIFICATE_SIGNING_KEY: certificate.signing },
    postgres: { POSTGRES_PASSWORD: password() },
    public: { HOTDASH_AUTH_VERIFY_KEYS: auth.verify, HOTDASH_CERTIFICATE_VERIFY_KEYS: certificate.verify },
  };
}

const oneLine = (name, value) => {
  if (/[\r\n\0]/.test(value)) throw new Error(`${name} must be one line`);
  return `${name}=${value}\n`;
};

/** Writes the files into `dir`; refuses to overwrite one unless `force`. Returns the paths written. */
export function writeSecrets(dir, secrets, { force = false } = {}) {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  const paths = Object.keys(secrets).map((name) => resolve(dir, `${name}.env`));
  const existing = paths.filter((p) => existsSync(p));
  if (existing.length && !force) throw new Error(`refusing to overwrite ${existing.join(', ')} (--force rotates every secret at once; docs/deployment.md, "Rotating")`);
  writeFileSync(resolve(dir, '.gitignore'), '# generated secrets (scripts/generate-secrets.mjs): never committed\n*\n', { mode: 0o600 });
  for (const [name, values] of Object.entries(secrets)) {
    const header = name === 'public' ? '# Public keys: not secret (hotdash-ops certificate verify reads HOTDASH_CERTIFICATE_VERIFY_KEYS).\n' : '';
    const path = resolve(dir, `${name}.env`);
    writeFileSync(path, header + Object.entries(values).map(([k, v]) => oneLine(k, v)).join(''), { mode: 0o600 });
    chmodSync(path, 0o600);
  }
  return paths;
}

const isMain = process.argv[1] && resolve(process.argv[1]) === resolve(new URL(import.meta.url).pathname);
if (isMain) {
  let args;
  try {
    args = parseArgs({
      options: {
        out: { type: 'string', default: '.secrets' },
        force: { type: 'boolean', default: false },
        'smtp-url': { type: 'string' },
        'openai-api-key': { type: 'string' },
        'kms-transit-token': { type: 'string' },
        'without-move-roles': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }).values;
  } catch (e) {
    console.error(`generate-secrets: ${e.message}`);
    process.exit(64);
  }
  if (args.help) {
    console.log('usage: node scripts/generate-secrets.mjs [--out <dir>] [--force] [--smtp-url <url>] [--openai-api-key <key>] [--kms-transit-token <token>] [--without-move-roles]');
    process.exit(0);
  }
  try {
    const secrets = generateSecrets({
      smtpUrl: args['smtp-url'],
      openaiApiKey: args['openai-api-key'],
      kmsTransitToken: args['kms-transit-token'],
      withoutMoveRoles: args['without-move-roles'],
    });
    const paths = writeSecrets(args.out, secrets, { force: args.force });
    for (const p of paths) console.log(`wrote ${p}`);
    console.log(`public keys (for hotdash-ops): ${resolve(args.out, 'public.env')}`);
  } catch (e) {
    console.error(`generate-secrets: ${e.message}`);
    process.exit(1);
  }
}
