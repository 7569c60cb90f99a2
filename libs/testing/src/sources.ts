import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './processes';

/**
 * The production sources of every lib, by lib name (`drafts`, `platform/db`): the `.ts` files under
 * its src, without specs and generated code. For the specs that read the code for rules the
 * compiler cannot see (table ownership, events a lib handles).
 */
export function libSources(root = REPO_ROOT): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const walk = (dir: string, files: string[]): string[] => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (name === 'generated' || name === 'node_modules') continue;
      if (statSync(path).isDirectory()) walk(path, files);
      else if (name.endsWith('.ts') && !/\.(spec|int-spec|e2e-spec)\.ts$/.test(name)) files.push(path);
    }
    return files;
  };
  for (const name of readdirSync(join(root, 'libs'))) {
    if (name === 'platform') {
      for (const part of readdirSync(join(root, 'libs', 'platform'))) out.set(`platform/${part}`, walk(join(root, 'libs', 'platform', part, 'src'), []));
    } else out.set(name, walk(join(root, 'libs', name, 'src'), []));
  }
  return out;
}
