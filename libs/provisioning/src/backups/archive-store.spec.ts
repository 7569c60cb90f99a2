// The local-directory archive store: an archive exists from the moment its manifest does, both
// written to temporary files and linked into place; an existing archive is never overwritten; an
// aborted draft leaves nothing; ids are checked before they become paths; the listing reads
// manifests only.
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { text } from 'node:stream/consumers';
import { archiveIdOf } from '@hotdash/contracts';
import { ArchiveNotFoundError, LocalArchiveStore } from './archive-store';

const dir = mkdtempSync(join(tmpdir(), 'hotdash-archive-store-spec-'));
const store = new LocalArchiveStore(dir);
const tenant = '01a24643-ec7a-70b7-9c17-baa33f423302';
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it('commits data then manifest (with the data’s size and sha256), reads both back, lists and deletes', async () => {
  const id = archiveIdOf(tenant, new Date('2026-12-13T10:15:30.123Z'));
  expect(id).toBe(`${tenant}_20261213T101530123Z`);
  const draft = await store.create(id);
  draft.data.write('hello ');
  draft.data.write('archive');
  expect(await store.manifest(id)).toBeUndefined();
  await expect(store.data(id)).rejects.toThrow(ArchiveNotFoundError);
  const info = await draft.commit((data) => ({ id, data }));
  expect(info).toEqual({ file: `${id}.data.jsonl.gz.enc`, bytes: 13, sha256: createHash('sha256').update('hello archive').digest('hex') });
  expect(await store.manifest(id)).toEqual({ id, data: info });
  expect(await text(await store.data(id))).toBe('hello archive');
  expect((await store.list(tenant)).map((a) => a.id)).toEqual([id]);
  expect((await store.list()).map((a) => a.id)).toEqual([id]);
  expect(readdirSync(join(dir, tenant)).filter((n) => n.startsWith('.tmp-'))).toEqual([]);
  // Never overwritten.
  await expect(store.create(id)).rejects.toThrow(/exists already/);
  await store.delete(id);
  expect(await store.manifest(id)).toBeUndefined();
  expect(readdirSync(join(dir, tenant))).toEqual([]);
});

it('leaves nothing of an aborted draft', async () => {
  const id = archiveIdOf(tenant, new Date('2026-12-13T11:00:00.000Z'));
  const draft = await store.create(id);
  draft.data.write('half');
  await draft.abort();
  expect(readdirSync(join(dir, tenant))).toEqual([]);
  expect(await store.list(tenant)).toEqual([]);
});

it('refuses what is not an archive id before it becomes a path', async () => {
  for (const bad of ['../../etc/passwd', `${tenant}_x`, `${tenant}_20261213T101530123Z/../x`, ''])
    await expect(store.manifest(bad)).rejects.toThrow(TypeError);
});
