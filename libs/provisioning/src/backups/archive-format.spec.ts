// The archive's data format: what the writer writes (gzip, then AES-256-GCM under the archive's key)
// the reader reads back item for item (long lines across many chunks, bytes and NULLs as written),
// and verification names the first difference from the manifest: a changed row, a truncated file,
// another file, a changed byte or another key.
import { createHash, createSecretKey, randomBytes } from 'node:crypto';
import { PassThrough, Readable } from 'node:stream';
import { gunzipSync, gzipSync } from 'node:zlib';
import type { ArchiveManifest } from '@hotdash/contracts';
import { archiveKey, openingDecipher, sealingCipher } from './archive-crypto';
import { ArchiveCorruptError, ArchiveWriter, readArchiveData, verifyArchiveData } from './archive-format';

const id = '01a24643-ec7a-70b7-9c17-baa33f423302_20261213T101530123Z';
const key = archiveKey(createSecretKey(randomBytes(32)), id);
const long = 'x'.repeat(300_000);
const chunk = { id: '01a24643-ec7a-70b7-9c17-baa33f423302', vector: [0.5, -0.25, 1e-7], documentId: 'doc', chunkIndex: 0, title: 'T', text: 'passage', sourceVersion: 2 };
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function written(): Promise<{ data: Buffer; manifest: ArchiveManifest }> {
  const out = new PassThrough();
  const parts: Buffer[] = [];
  out.on('data', (c: Buffer) => parts.push(c));
  const w = new ArchiveWriter(out, key, id);
  await w.beginTable('users', ['id', 'name', 'photo'], ['id']);
  await w.rows([
    ['1', 'Ada', null],
    ['2', long, Buffer.from([0, 255]).toString('base64')],
  ]);
  await w.beginTable('tickets', ['id'], ['id']);
  await w.beginVectors();
  await w.chunks([chunk]);
  const { tables, vectors, sealing } = await w.end();
  const data = Buffer.concat(parts);
  const manifest = { id, tables, vectors, sealing, data: { file: 'f', bytes: data.length, sha256: sha(data) } } as unknown as ArchiveManifest;
  return { data, manifest };
}

/** The plain JSON lines of sealed data, and sealing changed plain lines again (a forger holding the key). */
const open = (data: Buffer, m: ArchiveManifest) => {
  const d = openingDecipher(key, id, m.sealing);
  return gunzipSync(Buffer.concat([d.update(data), d.final()])).toString('utf8');
};
const reseal = (plain: string, m: ArchiveManifest): { data: Buffer; manifest: ArchiveManifest } => {
  const { cipher, iv } = sealingCipher(key, id);
  const data = Buffer.concat([cipher.update(gzipSync(plain)), cipher.final()]);
  return { data, manifest: { ...m, sealing: { ...m.sealing, iv: iv.toString('base64'), tag: cipher.getAuthTag().toString('base64') }, data: { ...m.data, bytes: data.length, sha256: sha(data) } } };
};

it('reads back what was written, item for item, with counts and checksums in the manifest; nothing of it is readable without the key', async () => {
  const { data, manifest } = await written();
  const items = [];
  for await (const item of readArchiveData(Readable.from([data.subarray(0, 10), data.subarray(10, 2_000), data.subarray(2_000)]), { key, archiveId: id, sealing: manifest.sealing })) items.push(item);
  expect(items).toEqual([
    { kind: 'table', name: 'users', columns: ['id', 'name', 'photo'] },
    { kind: 'row', values: ['1', 'Ada', null] },
    { kind: 'row', values: ['2', long, 'AP8='] },
    { kind: 'table', name: 'tickets', columns: ['id'] },
    { kind: 'vectors' },
    { kind: 'chunk', chunk },
    { kind: 'end' },
  ]);
  expect(manifest.tables.map((t) => [t.name, t.rows])).toEqual([
    ['users', 2],
    ['tickets', 0],
  ]);
  expect(manifest.vectors).toMatchObject({ objects: 1, dimensions: 3 });
  await expect(verifyArchiveData(Readable.from([data]), manifest, key)).resolves.toBeUndefined();
  expect(() => gunzipSync(data)).toThrow();
  expect(data.includes(Buffer.from('Ada'))).toBe(false);
  // Another key (another tenant's, or the tenant's after it was destroyed and made again) reads nothing.
  await expect(verifyArchiveData(Readable.from([data]), manifest, archiveKey(createSecretKey(randomBytes(32)), id))).rejects.toThrow(ArchiveCorruptError);
});

it('names a changed row, a truncated file, another file and a changed byte', async () => {
  const { data, manifest } = await written();
  const lines = open(data, manifest).split('\n');
  const changed = reseal(lines.map((l) => (l === '["1","Ada",null]' ? '["1","Eve",null]' : l)).join('\n'), manifest);
  await expect(verifyArchiveData(Readable.from([changed.data]), changed.manifest, key)).rejects.toThrow(/table users: 2 rows with checksum/);
  const truncated = reseal(lines.slice(0, -2).join('\n'), manifest);
  await expect(verifyArchiveData(Readable.from([truncated.data]), truncated.manifest, key)).rejects.toThrow(/without its end marker/);
  await expect(verifyArchiveData(Readable.from([data.subarray(0, data.length - 5)]), manifest, key)).rejects.toThrow(ArchiveCorruptError);
  await expect(verifyArchiveData(Readable.from([data]), { ...manifest, data: { ...manifest.data, sha256: '0'.repeat(64) } }, key)).rejects.toThrow(/not the one the manifest names/);
  const flipped = Buffer.from(data);
  flipped[20] = flipped[20]! ^ 1;
  await expect(verifyArchiveData(Readable.from([flipped]), manifest, key)).rejects.toThrow(ArchiveCorruptError);
  const garbage = reseal('{"section":"table","name":"users","columns":["id"]}\n["1","2"]\n', manifest);
  await expect(verifyArchiveData(Readable.from([garbage.data]), garbage.manifest, key)).rejects.toThrow(/a row must be 1 values/);
});
