// One schema for every HOTDASH_* variable: a name used anywhere in the repository (code, specs,
// scripts, deploy files, CI, docs) that the settings schema does not declare fails here, as does a
// declared setting nothing uses, and docs/configuration.md's tables when they are not generated from
// the current schema (`npm run config:doc`).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { withSettingsTables } from './configuration-doc';
import { SETTINGS } from './settings';

const ROOT = join(__dirname, '..', '..', '..', '..');
const DIRS = ['apps', 'libs', 'e2e', 'bench', 'scripts', 'deploy', '.ci', 'k8s', 'docs'];
const FILES = ['README.md', 'docker-compose.yml', 'package.json', 'jest.config.js', 'jest.setup.ts', 'eslint.config.mjs'];
const SKIP = new Set(['node_modules', 'dist', '.local', '.git', 'generated']);
/** The specs of the schema itself spell unknown names on purpose. */
const SKIP_FILES = new Set(['libs/platform/config/src/settings.spec.ts', 'libs/platform/config/src/settings-coverage.spec.ts', 'e2e/service-config.e2e-spec.ts']);
/** Unknown names the documents use as examples of what a service refuses. */
const EXAMPLES_OF_UNKNOWN = new Set(['HOTDASH_DEADLETTER']);
/** A whole name: not a prefix in prose such as `HOTDASH_DB_{OWNER,APP}_USER` or `HOTDASH_REDIS_*`. */
const NAME = /HOTDASH_[A-Z0-9_]*[A-Z0-9](?![A-Za-z0-9_])/g;

function* files(dir: string): Generator<string> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (SKIP.has(entry.name)) continue;
    const path = join(dir, entry.name);
    if (SKIP_FILES.has(relative(ROOT, path))) continue;
    if (entry.isDirectory()) yield* files(path);
    else if (entry.isFile() && statSync(path).size < 2_000_000) yield path;
  }
}

/** Every HOTDASH_* name and the files that use it. */
function namesInRepository(): Map<string, Set<string>> {
  const found = new Map<string, Set<string>>();
  const paths = [...DIRS.flatMap((d) => [...files(join(ROOT, d))]), ...FILES.map((f) => join(ROOT, f))];
  for (const path of paths) {
    const buf = readFileSync(path);
    if (buf.subarray(0, 4096).includes(0)) continue; // binary
    for (const name of buf.toString('utf8').match(NAME) ?? []) {
      if (!found.has(name)) found.set(name, new Set());
      found.get(name)!.add(relative(ROOT, path));
    }
  }
  return found;
}

const found = namesInRepository();
const declared = new Set(Object.keys(SETTINGS));

it('finds the names it checks (the scan works)', () => {
  expect(found.get('HOTDASH_CONSUMER_MAX_ATTEMPTS')).toContain('libs/platform/messaging/src/service-consumer.ts');
  expect(found.get('HOTDASH_PG_PORT')).toContain('deploy/local/ports.env');
  expect(found.has('HOTDASH_DB')).toBe(false); // `HOTDASH_DB_{OWNER,…}` in prose is a prefix, not a name
});

it('declares every HOTDASH_* variable the repository uses', () => {
  const undeclared = [...found].filter(([name]) => !declared.has(name) && !EXAMPLES_OF_UNKNOWN.has(name)).map(([name, where]) => `${name} (${[...where].slice(0, 3).join(', ')})`);
  // Declare it in libs/platform/config/src/settings.ts, then run `npm run config:doc`.
  expect(undeclared).toEqual([]);
});

it('uses every declared setting somewhere outside the schema and its document', () => {
  const own = new Set(['libs/platform/config/src/settings.ts', 'docs/configuration.md']);
  // The consumer-group overrides are read by a computed name (service-consumer.ts: HOTDASH_<GROUP>_CONSUMER).
  const unused = [...declared].filter((name) => !/_CONSUMER$/.test(name) && ![...(found.get(name) ?? [])].some((f) => !own.has(f)));
  expect(unused).toEqual([]);
});

it('has the defaults the shell scripts and deploy/local/ports.env use', () => {
  const defaults: [string, string, string][] = [];
  for (const file of ['deploy/local/infra.sh', 'scripts/node24.sh']) {
    // `${HOTDASH_X:-literal}`; a computed default ($HOME, $(ls …)) is the script's own.
    for (const m of readFileSync(join(ROOT, file), 'utf8').matchAll(/\$\{(HOTDASH_[A-Z0-9_]+):-([^}$]*)\}/g)) defaults.push([file, m[1]!, m[2]!]);
  }
  for (const m of readFileSync(join(ROOT, 'deploy/local/ports.env'), 'utf8').matchAll(/^(HOTDASH_[A-Z0-9_]+)=(\S+)$/gm)) defaults.push(['deploy/local/ports.env', m[1]!, m[2]!]);
  expect(defaults.length).toBeGreaterThan(10);
  const differing = defaults.filter(([, name, value]) => {
    const def = (SETTINGS as Record<string, { default?: unknown }>)[name]?.default;
    return def === undefined || String(def) !== value;
  });
  expect(differing).toEqual([]);
});

it('documents every setting in docs/configuration.md, generated from the schema', () => {
  const doc = readFileSync(join(ROOT, 'docs', 'configuration.md'), 'utf8');
  // When this fails: npm run config:doc
  expect(withSettingsTables(doc) === doc).toBe(true);
  for (const name of declared) expect(doc).toContain(`| \`${name}\` |`);
});
