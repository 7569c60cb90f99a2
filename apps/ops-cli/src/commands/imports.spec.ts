// The pilot's env file as `hotdash-ops imports start --pilot-env` reads it: the settings a pilot runs
// with (docs/pilot.md, deploy/pilot/pilot.env.example), as a shell would read them.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CliError } from '../errors';
import { readEnvFile } from './imports';

const dir = mkdtempSync(join(tmpdir(), 'hotdash-ops-env-spec-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it('reads HOTDASH_* settings: comments, export, quotes and blanks as a shell would; other variables ignored', () => {
  const file = join(dir, 'pilot.env');
  writeFileSync(
    file,
    [
      '# a pilot',
      '',
      'HOTDASH_PG_HOST=10.20.0.5',
      'export HOTDASH_PG_PORT = 5432',
      'HOTDASH_KMS_MASTER_KEYS="acme-k1:AAAA+/==,old:BBBB="',
      "HOTDASH_WEAVIATE_URL='http://10.20.0.6:8080'",
      'NODE_ENV=production',
      '  # indented comment',
      'HOTDASH_CONTROL_DATABASE=hotdash_acme_control\r',
    ].join('\n'),
  );
  expect(readEnvFile(file)).toEqual({
    HOTDASH_PG_HOST: '10.20.0.5',
    HOTDASH_PG_PORT: '5432',
    HOTDASH_KMS_MASTER_KEYS: 'acme-k1:AAAA+/==,old:BBBB=',
    HOTDASH_WEAVIATE_URL: 'http://10.20.0.6:8080',
    HOTDASH_CONTROL_DATABASE: 'hotdash_acme_control',
  });
});

it('refuses a file it cannot read as a usage error (exit 2), naming it', () => {
  const missing = join(dir, 'missing.env');
  let err: unknown;
  try {
    readEnvFile(missing);
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(CliError);
  expect(err).toMatchObject({ exitCode: 2, detail: expect.stringContaining(missing) });
});
