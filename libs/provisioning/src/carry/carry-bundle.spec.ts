import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { canonicalJson, carryData, CarryError, CarryProblems, headerLines, openHeaderKey, readCarryHeader, sealHeader, type UnsignedCarryHeader } from './carry-bundle';

const dir = mkdtempSync(join(tmpdir(), 'hotdash-carry-bundle-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const TENANT = '0193a000-0000-7000-8000-000000000001';
const unsigned = (): UnsignedCarryHeader => ({
  format: 'hotdash-tenant-carry',
  formatVersion: 1,
  createdAt: '2026-12-06T06:00:00.000Z',
  createdBy: 'ops-carry:spec',
  source: { mode: 'embedded', embedder: { model: 'local-hash-384', dimensions: 384 } },
  tenant: { id: TENANT, slug: 'acme', name: 'Acme', plan: 'basic', status: 'active', region: 'local', createdAt: '2026-12-01T00:00:00.000Z' },
  manifest: { id: `${TENANT}_20261206T060000000Z`, tables: [] },
  key: { check: 'a'.repeat(64) },
  subjectKeys: [{ id: '0193a000-0000-7000-8000-000000000002', subjectRef: 'ref', wrappedKey: Buffer.from('wrapped').toString('base64'), createdAt: '2026-12-01T00:00:00.000Z', destroyedAt: null }],
});

const refusal = (f: () => unknown): string => {
  try {
    f();
  } catch (err) {
    if (err instanceof CarryError) return err.code;
    throw err;
  }
  throw new Error('not refused');
};

it('seals the data key under the passphrase and opens it with that passphrase alone', () => {
  const key = randomBytes(32);
  const h = sealHeader(unsigned(), key, 'correct horse battery');
  expect(JSON.stringify(h)).not.toContain(key.toString('base64'));
  expect(openHeaderKey(h, 'correct horse battery').equals(key)).toBe(true);
  expect(refusal(() => openHeaderKey(h, 'correct horse battery!'))).toBe(CarryProblems.PASSPHRASE_WRONG);
  expect(refusal(() => sealHeader(unsigned(), key, 'short'))).toBe(CarryProblems.PASSPHRASE_MISSING);
});

it('refuses a header changed after it was sealed (the slug, a subject key, the key check value)', () => {
  const key = randomBytes(32);
  const h = sealHeader(unsigned(), key, 'correct horse battery');
  expect(refusal(() => openHeaderKey({ ...h, tenant: { ...h.tenant, slug: 'other' } }, 'correct horse battery'))).toBe(CarryProblems.BUNDLE_CORRUPT);
  expect(refusal(() => openHeaderKey({ ...h, subjectKeys: [] }, 'correct horse battery'))).toBe(CarryProblems.BUNDLE_CORRUPT);
  // The check value is additional data of the sealed key: changing it fails the opening itself.
  expect(refusal(() => openHeaderKey({ ...h, key: { ...h.key, check: 'b'.repeat(64) } }, 'correct horse battery'))).toBe(CarryProblems.PASSPHRASE_WRONG);
});

it('reads a bundle back: the header whatever order its keys come in, and the data after it byte for byte', async () => {
  const key = randomBytes(32);
  const h = sealHeader(unsigned(), key, 'correct horse battery');
  const data = randomBytes(3000);
  const file = join(dir, 'a.carry');
  // Keys in another order than written: the MAC covers canonical JSON.
  const reordered = Object.fromEntries(Object.entries(h).reverse()) as typeof h;
  writeFileSync(file, Buffer.concat([Buffer.from(headerLines(reordered)), data]));
  const read = await readCarryHeader(file);
  expect(read.fileBytes - read.dataOffset).toBe(data.length);
  expect(openHeaderKey(read.header, 'correct horse battery').equals(key)).toBe(true);
  const chunks: Buffer[] = [];
  for await (const c of carryData(file, read.dataOffset)) chunks.push(c as Buffer);
  expect(Buffer.concat(chunks).equals(data)).toBe(true);
  expect(canonicalJson({ b: 1, a: [{ d: 2, c: 3 }] })).toBe('{"a":[{"c":3,"d":2}],"b":1}');
});

it('refuses a file that is no bundle, a truncated header and one of another format version', async () => {
  const no = join(dir, 'no.carry');
  writeFileSync(no, 'hello\nworld\n');
  await expect(readCarryHeader(no)).rejects.toMatchObject({ code: CarryProblems.BUNDLE_CORRUPT });
  const h = sealHeader(unsigned(), randomBytes(32), 'correct horse battery');
  const cut = join(dir, 'cut.carry');
  writeFileSync(cut, headerLines(h).slice(0, 200));
  await expect(readCarryHeader(cut)).rejects.toMatchObject({ code: CarryProblems.BUNDLE_CORRUPT });
  const other = join(dir, 'other.carry');
  writeFileSync(other, headerLines({ ...h, formatVersion: 2 } as unknown as typeof h));
  await expect(readCarryHeader(other)).rejects.toMatchObject({ code: CarryProblems.BUNDLE_CORRUPT });
  await expect(readCarryHeader(join(dir, 'missing.carry'))).rejects.toMatchObject({ code: CarryProblems.BUNDLE_CORRUPT, status: 404 });
  expect(readFileSync(other, 'utf8')).toMatch(/^HOTDASH-TENANT-CARRY 1\n/);
});
