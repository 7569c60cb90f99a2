// Carries a tenant from one deployment to another with the tenant backup format (issue 18 item 3;
// docs/operations.md, "From embedded mode to the stack"): at the source (embedded mode by default),
// `export` writes a carry bundle of one of the tenant's archives, with its control record, its data
// subject keys and its data key sealed under a passphrase; at the target stack, `import` checks the
// bundle and the stack, puts the archive into the stack's archive store and writes the tenant's
// control records (its data key wrapped by the stack's KMS); `hotdash-ops tenants restore` then
// restores its rows and vectors. Runs as a tool next to the databases (like `npm run ops:operator`):
//
//   npm run ops:carry -- export (--tenant <id or slug> | --archive <archive id>) --out <file> [--json]
//   npm run ops:carry -- import <file> --shard <name> [--dry-run] [--json]
//
// The passphrase: HOTDASH_CARRY_PASSPHRASE, or asked for (not echoed). Exit 0 done, 1 refused or
// failed (with the refusal's code), 2 usage.
import { hostname, userInfo } from 'node:os';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline/promises';
import { Writable } from 'node:stream';
import { applyRunMode, loadConfig, readSetting, type PlatformConfig } from '@hotdash/platform-config';
import { Databases, embeddedDatabaseSettings, startEmbeddedDatabases } from '@hotdash/platform-db';
import { CarryError, exportCarry, importCarry, type CarryImportResult } from '@hotdash/provisioning';

interface Args {
  command: string | undefined;
  positional: string[];
  options: Map<string, string | true>;
}

function parseArgs(argv: string[]): Args {
  const [command, ...rest] = argv;
  const positional: string[] = [];
  const options = new Map<string, string | true>();
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i]!;
    if (a === '--json' || a === '--dry-run') options.set(a.slice(2), true);
    else if (a.startsWith('--')) {
      const v = rest[i + 1];
      if (v === undefined || v.startsWith('--')) throw new UsageError(`${a} needs a value`);
      options.set(a.slice(2), v);
      i++;
    } else positional.push(a);
  }
  return { command, positional, options };
}

class UsageError extends Error {}

const USAGE = `usage:
  npm run ops:carry -- export (--tenant <id or slug> | --archive <archive id>) --out <file> [--json]
      at the source (HOTDASH_MODE, default embedded: the folder HOTDASH_EMBEDDED_DIR); the archive
      is one made by \`hotdash-ops tenants backup\` (the tenant's newest with --tenant)
  npm run ops:carry -- import <file> --shard <name> [--dry-run] [--json]
      at the target stack (HOTDASH_MODE=stack), next to its provisioning service's HOTDASH_BACKUP_DIR
  The passphrase sealing the tenant's data key: HOTDASH_CARRY_PASSPHRASE, or asked for.`;

async function passphrase(confirm: boolean): Promise<string> {
  const fromEnv = readSetting('HOTDASH_CARRY_PASSPHRASE');
  if (fromEnv) return fromEnv;
  if (!process.stdin.isTTY) throw new CarryError(422, 'carry-passphrase-missing', 'Passphrase missing', 'set HOTDASH_CARRY_PASSPHRASE (no terminal to ask on)');
  let muted = false;
  const output = new Writable({
    write(chunk: Buffer, _enc, done) {
      if (!muted) process.stderr.write(chunk);
      done();
    },
  });
  const rl = createInterface({ input: process.stdin, output, terminal: true });
  try {
    const ask = async (q: string) => {
      process.stderr.write(q);
      muted = true;
      const a = await rl.question('');
      muted = false;
      process.stderr.write('\n');
      return a;
    };
    const first = await ask('passphrase (12 characters or more; the target needs it): ');
    if (confirm && (await ask('the same passphrase again: ')) !== first) throw new CarryError(422, 'carry-passphrase-missing', 'Passphrases differ', 'the two passphrases typed differ');
    return first;
  } finally {
    rl.close();
  }
}

const actor = () => `ops-carry:${userInfo().username}@${hostname()}`.slice(0, 200);

/** The source's configuration in embedded mode: its control database on the running process's port, or opened from its folder when no process serves it. */
async function embeddedSource(): Promise<{ config: PlatformConfig; stop: () => Promise<void> }> {
  const base = loadConfig();
  const { dir, port } = embeddedDatabaseSettings();
  const atPort: PlatformConfig = { ...base, db: { ...base.db, controlHost: '127.0.0.1', controlPort: port } };
  const probe = new Databases(atPort, { max: 1, connectionTimeoutMillis: 2_000 });
  const running = await probe
    .controlDb()
    .selectFrom('tenants')
    .select('id')
    .limit(1)
    .execute()
    .then(
      () => true,
      () => false,
    );
  await probe.close().catch(() => undefined);
  if (running) return { config: atPort, stop: async () => undefined };
  const dbs = await startEmbeddedDatabases({ dir, config: base, port: 0 });
  return { config: dbs.config, stop: () => dbs.stop() };
}

function printImport(r: CarryImportResult): string {
  const rows = r.tables.reduce((n, t) => n + t.rows, 0);
  const head = `${r.dryRun ? 'Dry run: would take in' : 'Took in'} tenant ${r.slug} (${r.tenantId}, plan ${r.plan}, ${r.sourceStatus} at the source) onto shard ${r.shard} (${r.region}): archive ${r.archive.id}, ${rows} rows in ${r.tables.length} tables, ${r.vectors} knowledge vectors, ${r.subjectKeys} data subject key(s).`;
  if (r.dryRun) return `${head}\nNothing was changed.\n`;
  return `${head}\nThe tenant is suspended on ${r.shard} with its data key; its rows and vectors come next:\n${r.next.map((c) => `  ${c}`).join('\n')}\n`;
}

async function main(): Promise<number> {
  let json = false;
  try {
    const args = parseArgs(process.argv.slice(2));
    json = args.options.get('json') === true;
    const progress = (step: string, state: string, detail?: string) => process.stderr.write(`progress: ${step} ${state}${detail ? ` (${detail})` : ''}\n`);
    if (args.command === 'export') {
      const out = args.options.get('out');
      const tenant = args.options.get('tenant');
      const archive = args.options.get('archive');
      if (typeof out !== 'string' || (typeof tenant !== 'string' && typeof archive !== 'string') || args.positional.length) throw new UsageError('export needs --out and --tenant or --archive');
      const mode = applyRunMode(process.env, 'embedded').mode;
      const source = mode === 'embedded' ? await embeddedSource() : { config: loadConfig(), stop: async () => undefined };
      try {
        const r = await exportCarry({
          config: source.config,
          mode,
          out: resolve(out),
          ...(typeof tenant === 'string' ? { tenant } : {}),
          ...(typeof archive === 'string' ? { archive } : {}),
          passphrase: await passphrase(true),
          actor: actor(),
          progress,
        });
        process.stdout.write(
          json
            ? `${JSON.stringify(r)}\n`
            : `Carry bundle ${r.bundle} written (${r.bytes} bytes): tenant ${r.tenant.slug} (${r.tenant.id}), archive ${r.archive.id}, ${r.archive.rows} rows, ${r.archive.vectors} knowledge vectors (${r.embedder.model}), ${r.subjectKeys} data subject key(s); its data key is sealed under the passphrase.\nAt the target stack: npm run ops:carry -- import ${r.bundle} --shard <name> --dry-run\n`,
        );
      } finally {
        await source.stop();
      }
      return 0;
    }
    if (args.command === 'import') {
      const shard = args.options.get('shard');
      if (args.positional.length !== 1 || typeof shard !== 'string') throw new UsageError('import needs the bundle file and --shard');
      applyRunMode(process.env, 'stack');
      const r = await importCarry({ config: loadConfig(), bundle: resolve(args.positional[0]!), shard, dryRun: args.options.get('dry-run') === true, passphrase: await passphrase(false), actor: actor(), progress });
      process.stdout.write(json ? `${JSON.stringify(r)}\n` : printImport(r));
      return 0;
    }
    throw new UsageError(args.command ? `unknown command ${args.command}` : 'no command');
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`${err.message}\n${USAGE}\n`);
      return 2;
    }
    const e =
      err instanceof CarryError
        ? { status: err.status, code: err.code, title: err.title, detail: err.detail }
        : err instanceof Error && 'code' in err && 'status' in err && typeof (err as { code: unknown }).code === 'string'
          ? { status: Number((err as { status: unknown }).status), code: (err as unknown as { code: string }).code, title: err.name, detail: err.message }
          : { status: 500, code: 'carry-failed', title: 'Carry failed', detail: (err as Error)?.message ?? String(err) };
    if (json) process.stdout.write(`${JSON.stringify({ error: e })}\n`);
    process.stderr.write(`error ${e.code}: ${e.detail}\n`);
    return 1;
  }
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`ops:carry failed: ${err.message}\n`);
    process.exit(1);
  },
);
