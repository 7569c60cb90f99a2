import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes, scryptSync, timingSafeEqual } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { z } from 'zod';

/*
 * A carry bundle: one tenant carried from one deployment to another (embedded mode → the stack; or
 * one stack to another), as one file:
 *
 *   HOTDASH-TENANT-CARRY 1\n
 *   {header JSON}\n
 *   <the tenant archive's data file, byte for byte (the backup format of the ops workflows)>
 *
 * The header holds what a tenant archive deliberately lacks and a restore onto another deployment
 * needs: the tenant's control-plane record (id, slug, name, plan, status, region, creation time), its
 * data subject keys (control-plane rows, wrapped under the tenant's data key: carried as they are),
 * the archive's manifest (as stored), the embedder its vectors were made with, and its data key,
 * SEALED under a passphrase the operator chooses (scrypt, then AES-256-GCM, the tenant, the archive
 * and the key's check value as additional data). The rest of the header is authenticated by an HMAC
 * under a key derived from the data key: whoever cannot open the key can neither read the archive nor
 * change the header unnoticed. The passphrase is never stored, logged or put in the header.
 */

export const CARRY_MAGIC = 'HOTDASH-TENANT-CARRY 1';
export const CARRY_FORMAT = 'hotdash-tenant-carry';
export const CARRY_FORMAT_VERSION = 1;
/** Shortest passphrase accepted when a bundle is sealed. */
export const CARRY_PASSPHRASE_MIN = 12;
/** Largest header read (subject keys of a large tenant included). */
const MAX_HEADER_BYTES = 64 * 1024 * 1024;
/** scrypt's cost (N = 2^17, r = 8, p = 1: 128 MiB, about half a second; OWASP's minimum is 2^17). */
const SCRYPT = { N: 2 ** 17, r: 8, p: 1 } as const;

/** The stable codes of the carry's refusals (the tool prints them, and `--json` puts them in `error.code`). */
export const CarryProblems = {
  /** 422: the file is not a carry bundle of a version this build reads, or its header was changed. */
  BUNDLE_CORRUPT: 'carry-bundle-corrupt',
  /** 422: the passphrase does not open the bundle's data key. */
  PASSPHRASE_WRONG: 'carry-passphrase-wrong',
  /** 422: no passphrase given, or one shorter than CARRY_PASSPHRASE_MIN when sealing. */
  PASSPHRASE_MISSING: 'carry-passphrase-missing',
  /** 409: a tenant with the bundle's id exists on the target (or had one: its key row is there). */
  TENANT_EXISTS: 'carry-tenant-exists',
  /** 409: another tenant of the target has the bundle's slug. */
  SLUG_TAKEN: 'carry-slug-taken',
  /** 422: the target has no plan of the tenant's plan code. */
  PLAN_UNKNOWN: 'carry-plan-unknown',
  /** 409: the tenant is not active or suspended at the source. */
  TENANT_NOT_CARRIABLE: 'carry-tenant-not-carriable',
  /** 404: no tenant of that id or slug at the source. */
  TENANT_NOT_FOUND: 'carry-tenant-not-found',
  /** 422: the archive's vectors come from another embedder (model or dimensions) than the target's. */
  EMBEDDER_MISMATCH: 'carry-embedder-mismatch',
  /** 409: the output file exists already. */
  OUTPUT_EXISTS: 'carry-output-exists',
} as const;

export class CarryError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly title: string,
    readonly detail: string,
  ) {
    super(detail);
    this.name = 'CarryError';
  }
}

const b64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/);

export const carryHeader = z
  .object({
    format: z.literal(CARRY_FORMAT),
    formatVersion: z.literal(CARRY_FORMAT_VERSION),
    createdAt: z.string(),
    createdBy: z.string().max(200),
    source: z.object({ mode: z.enum(['embedded', 'stack']), embedder: z.object({ model: z.string().max(200), dimensions: z.number().int().positive() }) }),
    tenant: z.object({
      id: z.string().uuid(),
      slug: z.string().min(1).max(100),
      name: z.string().min(1).max(500),
      plan: z.string().min(1).max(100),
      status: z.enum(['active', 'suspended']),
      region: z.string().max(100),
      createdAt: z.string(),
    }),
    /** The archive's manifest as stored (validated by the archive format's parseManifest). */
    manifest: z.record(z.string(), z.unknown()),
    key: z.object({
      check: z.string().regex(/^[0-9a-f]{64}$/),
      sealed: z.object({ kdf: z.literal('scrypt'), N: z.number().int(), r: z.number().int(), p: z.number().int(), salt: b64, cipher: z.literal('aes-256-gcm'), iv: b64, tag: b64, ciphertext: b64 }),
    }),
    subjectKeys: z.array(z.object({ id: z.string().uuid(), subjectRef: z.string().nullable(), wrappedKey: b64.nullable(), createdAt: z.string(), destroyedAt: z.string().nullable() })),
    /** HMAC-SHA256 (hex) of the header without this field, under a key derived from the data key. */
    mac: z.string().regex(/^[0-9a-f]{64}$/),
  })
  .strict();

export type CarryHeader = z.infer<typeof carryHeader>;
export type UnsignedCarryHeader = Omit<CarryHeader, 'mac' | 'key'> & { key: { check: string } };

const keyAad = (tenantId: string, archiveId: string, check: string) => Buffer.from(`hotdash tenant carry v1\n${tenantId}\n${archiveId}\n${check}`, 'utf8');

function passphraseKey(passphrase: string, salt: Buffer, p: { N: number; r: number; p: number }): Buffer {
  // Bounded: a header cannot make this process spend more than twice the default's memory.
  if (p.N > 2 ** 18 || p.r > 16 || p.p > 4) throw new CarryError(422, CarryProblems.BUNDLE_CORRUPT, 'Carry bundle unreadable', 'the bundle asks for scrypt parameters beyond what this build accepts');
  return scryptSync(passphrase.normalize('NFC'), salt, 32, { N: p.N, r: p.r, p: p.p, maxmem: 512 * 1024 * 1024 });
}

/** JSON with every object's keys sorted (what the MAC covers: independent of the order a parser gives the keys). */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map((x) => canonicalJson(x === undefined ? null : x)).join(',')}]`;
  if (v !== null && typeof v === 'object')
    return `{${Object.keys(v)
      .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  return JSON.stringify(v);
}

function macOf(dataKey: Buffer, header: Omit<CarryHeader, 'mac'>): string {
  const macKey = Buffer.from(hkdfSync('sha256', dataKey, Buffer.alloc(0), Buffer.from('hotdash tenant carry header v1', 'utf8'), 32));
  try {
    return createHmac('sha256', macKey).update(canonicalJson(header)).digest('hex');
  } finally {
    macKey.fill(0);
  }
}

/** The header with the data key sealed under `passphrase` and the whole header authenticated. */
export function sealHeader(h: UnsignedCarryHeader, dataKey: Buffer, passphrase: string): CarryHeader {
  if (passphrase.length < CARRY_PASSPHRASE_MIN)
    throw new CarryError(422, CarryProblems.PASSPHRASE_MISSING, 'Passphrase too short', `the passphrase that seals the tenant's data key must have ${CARRY_PASSPHRASE_MIN} characters or more`);
  const salt = randomBytes(16);
  const iv = randomBytes(12);
  const archiveId = String(h.manifest.id);
  const k = passphraseKey(passphrase, salt, SCRYPT);
  try {
    const cipher = createCipheriv('aes-256-gcm', k, iv);
    cipher.setAAD(keyAad(h.tenant.id, archiveId, h.key.check));
    const ciphertext = Buffer.concat([cipher.update(dataKey), cipher.final()]);
    const sealed = { kdf: 'scrypt' as const, ...SCRYPT, salt: salt.toString('base64'), cipher: 'aes-256-gcm' as const, iv: iv.toString('base64'), tag: cipher.getAuthTag().toString('base64'), ciphertext: ciphertext.toString('base64') };
    const unsigned: Omit<CarryHeader, 'mac'> = { ...h, key: { check: h.key.check, sealed } };
    return { ...unsigned, mac: macOf(dataKey, unsigned) };
  } finally {
    k.fill(0);
  }
}

/** The data key the header seals, opened with `passphrase` (carry-passphrase-wrong), and the header's MAC checked (carry-bundle-corrupt). Zero it after use. */
export function openHeaderKey(h: CarryHeader, passphrase: string): Buffer {
  const s = h.key.sealed;
  const k = passphraseKey(passphrase, Buffer.from(s.salt, 'base64'), s);
  let dataKey: Buffer;
  try {
    const decipher = createDecipheriv('aes-256-gcm', k, Buffer.from(s.iv, 'base64'));
    decipher.setAAD(keyAad(h.tenant.id, String(h.manifest.id), h.key.check));
    decipher.setAuthTag(Buffer.from(s.tag, 'base64'));
    dataKey = Buffer.concat([decipher.update(Buffer.from(s.ciphertext, 'base64')), decipher.final()]);
  } catch {
    throw new CarryError(422, CarryProblems.PASSPHRASE_WRONG, 'Wrong passphrase', "the passphrase given does not open the tenant's data key sealed in the bundle (or the sealed key was changed)");
  } finally {
    k.fill(0);
  }
  const { mac, ...unsigned } = h;
  const expected = Buffer.from(macOf(dataKey, unsigned), 'hex');
  if (!timingSafeEqual(expected, Buffer.from(mac, 'hex'))) {
    dataKey.fill(0);
    throw new CarryError(422, CarryProblems.BUNDLE_CORRUPT, 'Carry bundle changed', "the bundle's header does not match its authentication code: it was changed after it was written");
  }
  return dataKey;
}

/** The first line of a bundle and its header line; where the archive's data starts. */
export async function readCarryHeader(path: string): Promise<{ header: CarryHeader; dataOffset: number; fileBytes: number }> {
  const corrupt = (detail: string) => new CarryError(422, CarryProblems.BUNDLE_CORRUPT, 'Carry bundle unreadable', detail);
  const fh = await open(path, 'r').catch((err: NodeJS.ErrnoException) => {
    throw new CarryError(err.code === 'ENOENT' ? 404 : 422, CarryProblems.BUNDLE_CORRUPT, 'Carry bundle unreadable', `${path}: ${err.code === 'ENOENT' ? 'no such file' : err.message}`);
  });
  try {
    const size = (await fh.stat()).size;
    const chunks: Buffer[] = [];
    let read = 0;
    let lines = 0;
    let end = -1;
    const buf = Buffer.alloc(1024 * 1024);
    while (read < Math.min(size, MAX_HEADER_BYTES + CARRY_MAGIC.length + 2)) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, read);
      if (!bytesRead) break;
      const part = Buffer.from(buf.subarray(0, bytesRead));
      chunks.push(part);
      for (let i = 0; i < part.length; i++)
        if (part[i] === 0x0a && ++lines === 2) {
          end = read + i;
          break;
        }
      read += bytesRead;
      if (end >= 0) break;
    }
    if (end < 0) throw corrupt('no carry header found (not a carry bundle, or it is truncated)');
    const text = Buffer.concat(chunks).subarray(0, end).toString('utf8');
    const nl = text.indexOf('\n');
    if (text.slice(0, nl) !== CARRY_MAGIC) throw corrupt(`not a carry bundle of a version this build reads (it starts ${JSON.stringify(text.slice(0, Math.min(nl, 40)))})`);
    let raw: unknown;
    try {
      raw = JSON.parse(text.slice(nl + 1));
    } catch {
      throw corrupt('its header is not JSON');
    }
    const r = carryHeader.safeParse(raw);
    if (!r.success) throw corrupt(`its header is not a ${CARRY_FORMAT} v${CARRY_FORMAT_VERSION} header: ${r.error.issues[0]?.path.join('.')}: ${r.error.issues[0]?.message}`);
    return { header: r.data, dataOffset: end + 1, fileBytes: size };
  } finally {
    await fh.close();
  }
}

/** The archive's data inside a bundle, as a stream. */
export function carryData(path: string, dataOffset: number): Readable {
  return createReadStream(path, { start: dataOffset });
}

/** The two header lines of a bundle, as written before its data. */
export function headerLines(h: CarryHeader): string {
  return `${CARRY_MAGIC}\n${JSON.stringify(h)}\n`;
}
