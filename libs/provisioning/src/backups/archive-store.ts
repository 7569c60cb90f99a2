import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { link, mkdir, open, readdir, readFile, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough, type Readable, type Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { ARCHIVE_ID, tenantOfArchive } from '@hotdash/contracts';

/** What was written as an archive's data: its file name in the store, size and sha256. */
export interface ArchiveDataInfo {
  file: string;
  bytes: number;
  sha256: string;
}

/** An archive being written: its data goes to `data`; `commit` makes it an archive, `abort` leaves nothing. */
export interface ArchiveDraft {
  readonly data: Writable;
  /**
   * Ends the data, then stores the manifest `manifestOf(data)` returns: the archive exists from the
   * moment its manifest does (both written to a temporary file and then linked into place, so a
   * reader never sees half of either, and an existing archive is never overwritten).
   */
  commit(manifestOf: (data: ArchiveDataInfo) => unknown): Promise<ArchiveDataInfo>;
  abort(): Promise<void>;
}

export class ArchiveNotFoundError extends Error {
  constructor(readonly id: string) {
    super(`no archive ${id}`);
    this.name = 'ArchiveNotFoundError';
  }
}

/**
 * Where tenant archives are kept (the archive store port): an archive is a data file and a
 * manifest, under an id that names the tenant and the time (contracts' ARCHIVE_ID). Adapters: the
 * local directory ({@link LocalArchiveStore}); an object store would be another. Ids are checked
 * here, so no caller's string ever becomes a path.
 */
export abstract class ArchiveStore {
  /** Starts writing the archive `id` (it must not exist yet). */
  abstract create(id: string): Promise<ArchiveDraft>;
  /** The manifest as stored (parsed JSON, not validated), or undefined when there is no such archive. */
  abstract manifest(id: string): Promise<unknown>;
  /** The archive's data as a stream (ArchiveNotFoundError when there is none). */
  abstract data(id: string): Promise<Readable>;
  /** Every archive (of one tenant) with its manifest as stored, by id (oldest first within a tenant). */
  abstract list(tenantId?: string): Promise<{ id: string; manifest: unknown }[]>;
  /** Removes the archive (data and manifest); a no-op when there is none. */
  abstract delete(id: string): Promise<void>;
}

function checkedId(id: string): { id: string; tenant: string } {
  const tenant = tenantOfArchive(id);
  if (!tenant || !ARCHIVE_ID.test(id)) throw new TypeError(`not an archive id: ${JSON.stringify(id.slice(0, 80))}`);
  return { id, tenant };
}

/**
 * The archive store on a local directory (HOTDASH_BACKUP_DIR; default `.local/backups`): one folder
 * per tenant, `<id>.data.jsonl.gz.enc` and `<id>.manifest.json` in it. Writes go to a temporary file in
 * the same folder, are flushed to disk, and are then linked to their final name (atomic; refused if
 * the name exists) before the temporary name is removed; the data first, the manifest last. A
 * process that dies midway leaves only temporary files (`.tmp-*`), never an archive; they are
 * removed by `sweep()` (a later backup of the same tenant).
 */
export class LocalArchiveStore extends ArchiveStore {
  constructor(readonly directory: string) {
    super();
  }

  private folder(tenant: string): string {
    return join(this.directory, tenant);
  }

  private paths(id: string): { folder: string; data: string; dataFile: string; manifest: string } {
    const { tenant } = checkedId(id);
    const folder = this.folder(tenant);
    return { folder, dataFile: `${id}.data.jsonl.gz.enc`, data: join(folder, `${id}.data.jsonl.gz.enc`), manifest: join(folder, `${id}.manifest.json`) };
  }

  async create(id: string): Promise<ArchiveDraft> {
    const p = this.paths(id);
    await mkdir(p.folder, { recursive: true, mode: 0o700 });
    await this.sweep(p.folder);
    if (await exists(p.manifest)) throw new Error(`archive ${id} exists already`);
    const suffix = `${process.pid}-${Date.now().toString(36)}`;
    const tmpData = join(p.folder, `.tmp-${id}.data-${suffix}`);
    const tmpManifest = join(p.folder, `.tmp-${id}.manifest-${suffix}`);
    const file = createWriteStream(tmpData, { mode: 0o600, flags: 'wx' });
    const hash = createHash('sha256');
    let bytes = 0;
    // What the caller writes is hashed and counted on its way to the file.
    const data = new PassThrough();
    data.on('data', (chunk: Buffer) => {
      hash.update(chunk);
      bytes += chunk.length;
    });
    data.pipe(file);
    let settled = false;
    const cleanUp = async () => {
      await Promise.all([unlink(tmpData).catch(() => undefined), unlink(tmpManifest).catch(() => undefined)]);
    };
    return {
      data,
      commit: async (manifestOf) => {
        if (settled) throw new Error('archive draft already settled');
        settled = true;
        try {
          if (!data.writableEnded) data.end();
          await finished(file);
          await fsync(tmpData);
          const info: ArchiveDataInfo = { file: p.dataFile, bytes, sha256: hash.digest('hex') };
          await link(tmpData, p.data);
          await writeFile(tmpManifest, `${JSON.stringify(manifestOf(info), null, 2)}\n`, { mode: 0o600, flag: 'wx' });
          await fsync(tmpManifest);
          await link(tmpManifest, p.manifest);
          await fsync(p.folder);
          await cleanUp();
          return info;
        } catch (err) {
          await cleanUp();
          // The data may have been linked before the manifest failed: without a manifest it is no archive.
          if (!(await exists(p.manifest))) await unlink(p.data).catch(() => undefined);
          throw err;
        }
      },
      abort: async () => {
        if (settled) return;
        settled = true;
        data.destroy();
        file.destroy();
        // The file may be opened only now: it is removed once the stream has closed it.
        if (!file.closed) await new Promise<void>((resolve) => file.once('close', () => resolve()));
        await cleanUp();
      },
    };
  }

  async manifest(id: string): Promise<unknown> {
    const p = this.paths(id);
    try {
      return JSON.parse(await readFile(p.manifest, 'utf8')) as unknown;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  async data(id: string): Promise<Readable> {
    const p = this.paths(id);
    if (!(await exists(p.manifest)) || !(await exists(p.data))) throw new ArchiveNotFoundError(id);
    return createReadStream(p.data);
  }

  async list(tenantId?: string): Promise<{ id: string; manifest: unknown }[]> {
    const folders = tenantId ? [tenantId.toLowerCase()] : await readdir(this.directory).catch(() => [] as string[]);
    const out: { id: string; manifest: unknown }[] = [];
    for (const folder of folders) {
      const names = await readdir(this.folder(folder)).catch(() => [] as string[]);
      for (const name of names) {
        const id = name.endsWith('.manifest.json') ? name.slice(0, -'.manifest.json'.length) : undefined;
        if (!id || !ARCHIVE_ID.test(id) || tenantOfArchive(id) !== folder) continue;
        const manifest = await this.manifest(id).catch(() => undefined);
        if (manifest !== undefined) out.push({ id, manifest });
      }
    }
    return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  async delete(id: string): Promise<void> {
    const p = this.paths(id);
    // The manifest first: without it the data is no archive any more.
    await rm(p.manifest, { force: true });
    await rm(p.data, { force: true });
  }

  /** Removes temporary files older than an hour (left by a process that died while writing). */
  private async sweep(folder: string): Promise<void> {
    const names = await readdir(folder).catch(() => [] as string[]);
    const before = Date.now() - 3_600_000;
    for (const name of names.filter((n) => n.startsWith('.tmp-'))) {
      const s = await stat(join(folder, name)).catch(() => undefined);
      if (s && s.mtimeMs < before) await unlink(join(folder, name)).catch(() => undefined);
    }
  }
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

async function fsync(path: string): Promise<void> {
  const h = await open(path, 'r');
  try {
    await h.sync();
  } finally {
    await h.close();
  }
}
