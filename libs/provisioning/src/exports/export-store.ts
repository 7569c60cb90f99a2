import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { finished } from 'node:stream/promises';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** `<export id>.<expiry, ms since the epoch>.jsonl.gz.enc`: the sweep needs no database to know a file expired. */
const FILE = /^([0-9a-f-]{36})\.(\d{1,15})\.jsonl\.gz\.enc$/;
/** Temporary files of a writer that died are removed after this long. */
const STALE_TMP_MS = 3_600_000;

/** An export file being written: `commit` puts it in place with its expiry, `abort` leaves nothing. */
export interface ExportDraft {
  readonly out: Writable;
  /** Ends the file, flushes it to disk and links it into place; its size in bytes. */
  commit(expiresAt: Date): Promise<number>;
  abort(): Promise<void>;
}

export class ExportFileMissingError extends Error {
  constructor(readonly exportId: string) {
    super(`no export file ${exportId}`);
    this.name = 'ExportFileMissingError';
  }
}

function checked(tenantId: string, exportId: string): void {
  if (!UUID.test(tenantId) || !UUID.test(exportId)) throw new TypeError('export files are named by a tenant id and an export id (UUIDs)');
}

/**
 * Where finished export files are kept until they expire: HOTDASH_EXPORT_DIR, one folder per tenant
 * (mode 0700, files 0600). A file is written under a temporary name and renamed into place once
 * complete and flushed, its expiry in its name. The files hold only ciphertext (export-format.ts).
 * `sweep` deletes expired files and a dead writer's temporary ones.
 */
export class ExportStore {
  constructor(readonly directory: string) {}

  private folder(tenantId: string): string {
    return join(this.directory, tenantId);
  }

  private path(tenantId: string, exportId: string, expiresAt: Date): string {
    checked(tenantId, exportId);
    return join(this.folder(tenantId), `${exportId}.${expiresAt.getTime()}.jsonl.gz.enc`);
  }

  async create(tenantId: string, exportId: string): Promise<ExportDraft> {
    checked(tenantId, exportId);
    const folder = this.folder(tenantId);
    await mkdir(folder, { recursive: true, mode: 0o700 });
    const tmp = join(folder, `.tmp-${exportId}-${process.pid}-${Date.now().toString(36)}`);
    const out = createWriteStream(tmp, { mode: 0o600, flags: 'wx' });
    let settled = false;
    return {
      out,
      commit: async (expiresAt) => {
        if (settled) throw new Error('export draft already settled');
        settled = true;
        try {
          if (!out.writableEnded) out.end();
          await finished(out);
          const h = await open(tmp, 'r');
          try {
            await h.sync();
          } finally {
            await h.close();
          }
          const final = this.path(tenantId, exportId, expiresAt);
          await rename(tmp, final);
          return (await stat(final)).size;
        } catch (err) {
          await unlink(tmp).catch(() => undefined);
          throw err;
        }
      },
      abort: async () => {
        if (settled) return;
        settled = true;
        out.destroy();
        if (!out.closed) await new Promise<void>((resolve) => out.once('close', () => resolve()));
        await unlink(tmp).catch(() => undefined);
      },
    };
  }

  /** The stored file (ciphertext) of a finished export; ExportFileMissingError when it is gone. */
  async read(tenantId: string, exportId: string, expiresAt: Date): Promise<Readable> {
    const p = this.path(tenantId, exportId, expiresAt);
    const exists = await stat(p).then(
      () => true,
      () => false,
    );
    if (!exists) throw new ExportFileMissingError(exportId);
    return createReadStream(p);
  }

  async delete(tenantId: string, exportId: string, expiresAt: Date): Promise<void> {
    await rm(this.path(tenantId, exportId, expiresAt), { force: true });
  }

  /** Deletes every file whose expiry is at or before `now`, and temporary files older than an hour; the export ids deleted. */
  async sweep(now: Date): Promise<string[]> {
    const deleted: string[] = [];
    const tenants = (await readdir(this.directory).catch(() => [] as string[])).filter((t) => UUID.test(t));
    for (const tenant of tenants) {
      const folder = this.folder(tenant);
      for (const name of await readdir(folder).catch(() => [] as string[])) {
        const m = FILE.exec(name);
        if (m && Number(m[2]) <= now.getTime()) {
          await rm(join(folder, name), { force: true });
          deleted.push(m[1]!);
        } else if (name.startsWith('.tmp-')) {
          const s = await stat(join(folder, name)).catch(() => undefined);
          if (s && s.mtimeMs < Date.now() - STALE_TMP_MS) await unlink(join(folder, name)).catch(() => undefined);
        }
      }
    }
    return deleted;
  }

  /** Export ids with a file of the tenant (for specs and the sweep's checks). */
  async files(tenantId: string): Promise<string[]> {
    return (await readdir(this.folder(tenantId)).catch(() => [] as string[])).filter((n) => FILE.test(n) || n.startsWith('.tmp-'));
  }
}
