import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { loadConfig } from '@hotdash/platform-config';
import { type EmbeddedDatabases, startEmbeddedDatabases } from '@hotdash/platform-db';
import { PRISMA_DIR } from '@hotdash/platform-db/src/migrate/migrate-all';
import { TestWorld } from './world';

/** Where a spec's world runs: the local stack's PostgreSQL, or the embedded databases (PGlite) started in the spec's process. */
export type DbMode = 'stack' | 'embedded';
export const DB_MODES: readonly DbMode[] = ['stack', 'embedded'];

export interface ModeWorld {
  world: TestWorld;
  /** The embedded databases (embedded mode only). */
  embedded?: EmbeddedDatabases;
  close(): Promise<void>;
}

/**
 * A beforeAll that starts embedded databases: the first start on a machine makes the template (PGlite's
 * initdb and every migration, about half a minute on a busy 2-core machine); later ones copy it (seconds).
 */
export const EMBEDDED_START_MS = 180_000;

/**
 * Seconds of `pg_sleep` for a statement a spec cuts off with a time limit: 5 on the stack; 1 on the
 * embedded databases, where PGlite runs the statement on the process's own thread, so the limit
 * can only act once it has returned (the spec waits the whole sleep).
 */
export const longSleep = (mode: DbMode): number => (mode === 'embedded' ? 1 : 5);

const ROOT = join(__dirname, '..', '..', '..');

/** What a set of embedded databases is made from: PGlite's version, the roles' SQL, the setup code, every migration. */
function templateKey(shards: string[]): string {
  const hash = createHash('sha256');
  hash.update(readFileSync(join(dirname(require.resolve('@electric-sql/pglite')), '..', 'package.json')));
  hash.update(shards.join(','));
  for (const f of ['deploy/local/pg-roles.sql', 'deploy/local/pg-database.sql', 'libs/platform/db/src/embedded/embedded-databases.ts']) hash.update(readFileSync(join(ROOT, f)));
  for (const plane of ['control', 'tenant']) {
    const dir = join(PRISMA_DIR, plane, 'migrations');
    for (const m of readdirSync(dir).sort()) if (existsSync(join(dir, m, 'migration.sql'))) hash.update(m).update(readFileSync(join(dir, m, 'migration.sql')));
  }
  return hash.digest('hex').slice(0, 16);
}

/**
 * A folder of initialised and migrated embedded databases, made once per machine (PGlite's initdb and
 * the migrations take seconds of WebAssembly) under the system's temporary directory and copied for
 * every spec; remade when PGlite, the roles' SQL, the setup code or a migration changes.
 */
async function template(shards: string[]): Promise<string> {
  const dir = join(tmpdir(), `hotdash-embedded-template-${templateKey(shards)}`);
  if (existsSync(join(dir, '.complete'))) return dir;
  const build = mkdtempSync(join(tmpdir(), 'hotdash-embedded-build-'));
  try {
    const made = await startEmbeddedDatabases({ dir: build, config: loadConfig(), shards });
    await made.stop();
    writeFileSync(join(build, '.complete'), '');
    renameSync(build, dir);
    // Templates of earlier migrations or PGlite versions (~100 MB each) are not used again.
    for (const old of readdirSync(tmpdir())) if (old.startsWith('hotdash-embedded-template-') && join(tmpdir(), old) !== dir) rmSync(join(tmpdir(), old), { recursive: true, force: true });
  } catch (err) {
    // Another spec process made it meanwhile (the rename found the folder there): theirs is as good.
    rmSync(build, { recursive: true, force: true });
    if (!existsSync(join(dir, '.complete'))) throw err;
  }
  return dir;
}

/**
 * Embedded databases of a spec's own: a fresh folder (a copy of the template) under the system's
 * temporary directory, the control database and `shards` (default shard-1) migrated and registered
 * as `npm start` would, served on a free loopback port; close() stops them and removes the folder.
 */
export async function embeddedDatabasesForSpec(options: { shards?: string[]; waitTimeoutMs?: number; maintenanceEveryMs?: number } = {}): Promise<{ embedded: EmbeddedDatabases; dir: string; close(): Promise<void> }> {
  const shards = options.shards ?? ['shard-1'];
  const source = await template(shards);
  const dir = mkdtempSync(join(tmpdir(), 'hotdash-embedded-'));
  try {
    cpSync(source, dir, { recursive: true });
    const embedded = await startEmbeddedDatabases({ dir, config: loadConfig(), shards, waitTimeoutMs: options.waitTimeoutMs, maintenanceEveryMs: options.maintenanceEveryMs });
    return {
      embedded,
      dir,
      async close() {
        await embedded.stop();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

/** A TestWorld on the stack, or on embedded databases of its own (embeddedDatabasesForSpec). */
export async function worldFor(mode: DbMode, options: { poolSize?: number; shards?: string[] } = {}): Promise<ModeWorld> {
  if (mode === 'stack') {
    const world = new TestWorld({ poolSize: options.poolSize });
    return { world, close: () => world.close() };
  }
  const { embedded, close } = await embeddedDatabasesForSpec({ shards: options.shards });
  const world = new TestWorld({ poolSize: options.poolSize, config: embedded.config });
  return {
    world,
    embedded,
    async close() {
      await world.close();
      await close();
    },
  };
}
