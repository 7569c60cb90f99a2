// Writes the settings tables of docs/configuration.md from the settings schema (settings.ts).
//   npm run config:doc            rewrite the generated block
//   npm run config:doc -- --check  exit 1 when the document is not current
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { withSettingsTables } from './configuration-doc';

const DOC = join(__dirname, '..', '..', '..', '..', 'docs', 'configuration.md');
const current = readFileSync(DOC, 'utf8');
const next = withSettingsTables(current);
if (process.argv.includes('--check')) {
  if (next !== current) {
    console.error('docs/configuration.md is not current: run npm run config:doc');
    process.exit(1);
  }
  console.log('docs/configuration.md is current');
} else if (next !== current) {
  writeFileSync(DOC, next);
  console.log('docs/configuration.md written');
} else console.log('docs/configuration.md is current');
